//! The tower-sessions layer over real TCP with a real axum server: axum-login
//! signs a user in and out, axum-messages shows a flash message once, and
//! the sealed cookie carries all of it (a second server with the same key
//! ring serves the same session, one with another key sees none).

#![cfg(feature = "tower-sessions")]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_login::{login_required, AuthManager, AuthSession, AuthUser, AuthnBackend};
use axum_messages::{Messages, MessagesManagerLayer};
use sealed_session::{Codec, DomainRule, Key, KeyRing, SealedSessionManagerLayer};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "common/raw_http.rs"]
mod raw_http;
use raw_http::{parse_reply, request_bytes, Reply};

const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone)]
struct User {
    id: u64,
    name: String,
    /// Stands in for a password hash: a new password ends the sessions.
    auth_hash: Vec<u8>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.id).finish()
    }
}

impl AuthUser for User {
    type Id = u64;

    fn id(&self) -> u64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.auth_hash
    }
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

/// One user, in memory.
#[derive(Clone)]
struct Users(HashMap<u64, (User, String)>);

impl Users {
    fn new() -> Self {
        let ada = User {
            id: 1,
            name: "ada".into(),
            auth_hash: b"hash-1".to_vec(),
        };
        Users(HashMap::from([(1, (ada, PASSWORD.to_owned()))]))
    }
}

impl AuthnBackend for Users {
    type User = User;
    type Credentials = Credentials;
    type Error = Infallible;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, Infallible> {
        Ok(self
            .0
            .values()
            .find(|(user, password)| user.name == creds.name && *password == creds.password)
            .map(|(user, _)| user.clone()))
    }

    async fn get_user(&self, id: &u64) -> Result<Option<User>, Infallible> {
        Ok(self.0.get(id).map(|(user, _)| user.clone()))
    }
}

async fn login(mut auth: AuthSession<Users>, Form(creds): Form<Credentials>) -> StatusCode {
    match auth.authenticate(creds).await {
        Ok(Some(user)) => match auth.login(&user).await {
            Ok(()) => StatusCode::OK,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn logout(mut auth: AuthSession<Users>) -> StatusCode {
    match auth.logout().await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn protected(auth: AuthSession<Users>) -> String {
    match auth.user {
        Some(user) => format!("hello {}", user.name),
        None => "login_required let an anonymous request through".into(),
    }
}

/// The record id, as the handler sees it.
async fn id(auth: AuthSession<Users>) -> String {
    auth.session
        .id()
        .map_or_else(|| "none".to_owned(), |id| id.to_string())
}

async fn flash(messages: Messages) -> &'static str {
    messages.info("saved");
    "flashed"
}

async fn show(messages: Messages) -> String {
    messages
        .map(|m| format!("{}: {}", m.level, m.message))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn fail(auth: AuthSession<Users>) -> StatusCode {
    auth.session.insert("half-done", true).await.ok();
    StatusCode::INTERNAL_SERVER_ERROR
}

/// Incompressible text: a xorshift stream in hex.
fn noise(len: usize) -> String {
    let mut text = String::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while text.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("{x:016x}"));
    }
    text
}

async fn big(auth: AuthSession<Users>) -> &'static str {
    // Far above the cookie budget.
    auth.session.insert("note", noise(12_000)).await.ok();
    "big"
}

async fn note(auth: AuthSession<Users>) -> &'static str {
    // More than one cookie holds, less than the chunks' total.
    auth.session.insert("note", noise(4_000)).await.ok();
    "noted"
}

fn codec(key_byte: u8) -> Codec {
    let ring = KeyRing::from_keys([Key::from_bytes([key_byte; 32])]).unwrap();
    Codec::builder("sid").key_ring(ring).build().unwrap()
}

fn app(codec: Codec) -> Router {
    let users = Users::new();
    Router::new()
        .route("/protected", get(protected))
        .route_layer(login_required!(Users))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/id", get(id))
        .route("/flash", post(flash))
        .route("/messages", get(show))
        .route("/fail", post(fail))
        .route("/big", post(big))
        .route("/note", post(note))
        .route("/static", get(|| async { "no session here" }))
        .layer(MessagesManagerLayer)
        .layer(tower_layer::layer_fn(move |inner| {
            AuthManager::new(inner, users.clone(), "axum-login.data")
        }))
        .layer(SealedSessionManagerLayer::new(codec))
}

async fn serve(codec: Codec) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(codec);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One HTTP/1.1 request over a fresh connection; `cookie` is the Cookie
/// header ("" for none), `form` a urlencoded body.
async fn request(addr: SocketAddr, method: &str, path: &str, cookie: &str, form: &str) -> Reply {
    request_to(addr, "localhost", method, path, cookie, form).await
}

/// [`request`] with the given Host header.
async fn request_to(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> Reply {
    let host_line = format!("Host: {host}").into_bytes();
    let cookie_line = format!("Cookie: {cookie}").into_bytes();
    let mut headers: Vec<&[u8]> = vec![&host_line];
    if !cookie.is_empty() {
        headers.push(&cookie_line);
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&request_bytes(method, path, &headers, form))
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_reply(raw)
}

fn credentials(password: &str) -> String {
    format!("name=ada&password={}", password.replace(' ', "+"))
}

/// Exactly one Set-Cookie, for the session cookie, that sets (not removes)
/// it, with the caching headers of a response that sets a session cookie.
fn assert_one_seal(reply: &Reply) {
    let set = reply.set_cookies();
    assert_eq!(set.len(), 1, "one Set-Cookie: {set:?}");
    assert!(set[0].starts_with("sid="), "{set:?}");
    assert!(!set[0].contains("Max-Age=0"), "{set:?}");
    assert_eq!(reply.all("cache-control"), ["private, no-store"]);
    assert!(reply.all("vary").iter().any(|v| v.contains("Cookie")));
}

#[tokio::test]
async fn sign_in_protected_route_and_sign_out_live_in_the_sealed_cookie() {
    let a = serve(codec(1)).await;
    let b = serve(codec(1)).await;
    let other_key = serve(codec(2)).await;
    assert_ne!(a.port(), b.port());

    // Not signed in: refused, and nothing is written.
    let reply = request(a, "GET", "/protected", "", "").await;
    assert_eq!(reply.status, 401);
    assert!(reply.set_cookies().is_empty());

    // A wrong password: refused, no session.
    let reply = request(a, "POST", "/login", "", &credentials("guess")).await;
    assert_eq!(reply.status, 401);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());

    // Sign in: one sealed cookie that does not show what it holds.
    let reply = request(a, "POST", "/login", "", &credentials(PASSWORD)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_one_seal(&reply);
    let signed_in = reply.cookie();
    assert!(!signed_in.contains("axum-login") && !signed_in.contains("hash-1"));

    // The protected route, on this server and on another one with the same
    // key ring: no server-side state. A read writes nothing.
    for server in [a, b] {
        let reply = request(server, "GET", "/protected", &signed_in, "").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "hello ada"));
        assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
        assert!(reply.all("vary").iter().any(|v| v.contains("Cookie")));
    }
    // A server with another key sees no session.
    let reply = request(other_key, "GET", "/protected", &signed_in, "").await;
    assert_eq!(reply.status, 401);

    // Sign out (on the second server): the cookie is removed.
    let reply = request(b, "POST", "/logout", &signed_in, "").await;
    assert_eq!(reply.status, 200);
    let set = reply.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(
        set[0].starts_with("sid=") && set[0].contains("Max-Age=0"),
        "{set:?}"
    );
    assert_eq!(reply.cookie(), "");

    // The browser no longer sends it: refused again.
    let reply = request(a, "GET", "/protected", &reply.cookie(), "").await;
    assert_eq!(reply.status, 401);

    // What a cookie session cannot do: a copy of the cookie taken before
    // the sign-out still opens (documented; revoke by rotating the key).
    let reply = request(a, "GET", "/protected", &signed_in, "").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn sign_in_cycles_the_record_id_and_keeps_the_data() {
    let a = serve(codec(1)).await;
    // An anonymous session (a flash message) gets a record id.
    let flashed = request(a, "POST", "/flash", "", "").await;
    assert_one_seal(&flashed);
    let before = request(a, "GET", "/id", &flashed.cookie(), "").await;
    assert_eq!(before.body.len(), 22, "{}", before.body);

    let login = request(
        a,
        "POST",
        "/login",
        &flashed.cookie(),
        &credentials(PASSWORD),
    )
    .await;
    assert_eq!(login.status, 200);
    assert_one_seal(&login);
    let after = request(a, "GET", "/id", &login.cookie(), "").await;
    assert_eq!(after.body.len(), 22, "{}", after.body);
    assert_ne!(before.body, after.body, "sign-in must change the record id");

    // The flash message survived the new id.
    let shown = request(a, "GET", "/messages", &login.cookie(), "").await;
    assert_eq!(shown.body, "Info: saved");
}

#[tokio::test]
async fn a_flash_message_is_shown_exactly_once() {
    let a = serve(codec(1)).await;
    let b = serve(codec(1)).await;
    let other_key = serve(codec(2)).await;

    let reply = request(a, "POST", "/flash", "", "").await;
    assert_eq!(reply.body, "flashed");
    assert_one_seal(&reply);
    let pending = reply.cookie();

    // Another key: no message.
    let reply = request(other_key, "GET", "/messages", &pending, "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));

    // Shown on the next request (on the other server), which seals the
    // session without it.
    let reply = request(b, "GET", "/messages", &pending, "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "Info: saved"));
    assert_one_seal(&reply);
    let shown = reply.cookie();

    // Gone after: nothing shown, nothing written.
    let reply = request(a, "GET", "/messages", &shown, "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
}

#[tokio::test]
async fn server_errors_write_nothing_and_oversized_sessions_are_refused() {
    let a = serve(codec(1)).await;
    let login = request(a, "POST", "/login", "", &credentials(PASSWORD)).await;
    let cookie = login.cookie();

    // A handler that changed the session and failed: no Set-Cookie.
    let reply = request(a, "POST", "/fail", &cookie, "").await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());

    // A session larger than the cookie budget is not written: a 500.
    let reply = request(a, "POST", "/big", &cookie, "").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "the session could not be saved\n");
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());

    // The session is intact.
    let reply = request(a, "GET", "/protected", &cookie, "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello ada"));

    // A route that never touches the session: no caching headers added.
    let reply = request(a, "GET", "/static", &cookie, "").await;
    assert_eq!(reply.body, "no session here");
    assert!(reply.set_cookies().is_empty());
    assert!(reply.all("cache-control").is_empty());
}

#[tokio::test]
async fn chunks_and_the_parent_domain_are_the_codecs() {
    let ring = KeyRing::from_keys([Key::from_bytes([1; 32])]).unwrap();
    let codec = Codec::builder("sid")
        .key_ring(ring)
        .domain_rule(DomainRule::RegistrableDomain)
        .max_chunks(4)
        .build()
        .unwrap();
    let a = serve(codec).await;
    let host = "www.example.com";
    let login = request_to(a, host, "POST", "/login", "", &credentials(PASSWORD)).await;
    assert_eq!(login.status, 200);
    let reply = request_to(a, host, "POST", "/note", &login.cookie(), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let set = reply.set_cookies();
    assert!(set.len() > 1, "chunked: {set:?}");
    assert!(
        set.iter().all(|c| c.contains("; Domain=example.com")),
        "{set:?}"
    );
    let chunked = reply.cookie();

    // The chunks open together, on another host of the same site.
    let reply = request_to(a, "shop.example.com", "GET", "/protected", &chunked, "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello ada"));

    // Sign-out removes every chunk, with the Domain (and the host-only
    // cookies too).
    let reply = request_to(a, host, "POST", "/logout", &chunked, "").await;
    let removed = reply.set_cookies();
    assert!(
        removed.iter().all(|c| c.contains("Max-Age=0")),
        "{removed:?}"
    );
    for chunk in set.iter().map(|c| c.split('=').next().unwrap()) {
        assert!(
            removed
                .iter()
                .any(|c| c.starts_with(&format!("{chunk}=;")) && c.contains("; Domain=example.com")),
            "{chunk} not removed: {removed:?}"
        );
    }
    assert_eq!(reply.cookie(), "");
}
