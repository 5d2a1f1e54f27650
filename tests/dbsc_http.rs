//! Device-bound sessions (DBSC) served by the framework adapters over real
//! HTTP on 127.0.0.1: the axum layer and the actix middleware answer the
//! registration and refresh endpoints themselves, and a software P-256
//! device key plays Chromium's part as Chromium 156 behaves
//! (notes of issue 17): the registration `POST` has an empty body and
//! `Secure-Session-Response: <JWT with jwk>`; every refresh `POST` carries
//! `Sec-Secure-Session-Id` and first comes without a proof (answered 403
//! with a challenge), then with a proof whose payload is `{"jti":"<c>"}`
//! and no `jwk`; the browser drops the bound cookie at its `Max-Age`, and
//! holds a request while the bound cookie it craves is missing, refreshing
//! first (so a refresh after expiry does not carry it).
//!
//! The bound lifetime is the shortest allowed, 10 s. The server accepts a
//! bound cookie until 12 s after it was sealed (10 s plus the clock-skew
//! allowance of a quarter of the lifetime, whole seconds), so each scenario
//! waits 12.3 s once; the three scenarios (axum, actix, two axum servers
//! sharing a key ring) wait at the same time, so the test takes about 13 s.
#![cfg(all(feature = "dbsc", feature = "axum", feature = "actix"))]

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use sealed_session::actix::SealedSessionMiddleware;
use sealed_session::{
    Codec, DeviceBinding, DynamicSession, Key, KeyRing, SealedSessionLayer, SessionHandle,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "common/dbsc_device.rs"]
mod dbsc_device;
#[path = "common/raw_http.rs"]
mod raw_http;
use dbsc_device::Device;
use raw_http::{parse_reply, request_bytes, Reply};

/// The bound lifetime configured (the shortest allowed).
const BOUND_LIFETIME: Duration = Duration::from_secs(10);
/// How long after the registration (or refresh) answer the bound cookie is
/// surely past its lifetime on the server: 10 s + 2 s of skew allowance,
/// and a margin.
const PAST_BOUND: Duration = Duration::from_millis(12_300);

/// A codec with device binding, under a key ring made from `key_byte` (two
/// codecs made from the same byte share the keys, not the objects).
fn codec(key_byte: u8) -> Codec {
    Codec::builder("sid")
        .key_ring(KeyRing::from_keys([Key::from_bytes([key_byte; 32])]).unwrap())
        .device_binding(DeviceBinding::new().bound_lifetime(BOUND_LIFETIME))
        .build()
        .unwrap()
}

// The application, written once for both frameworks.

/// Sign-in: a new session for alice, and a request to bind it when `bind`.
fn sign_in(session: &SessionHandle<DynamicSession>, bind: bool) {
    let mut fresh = DynamicSession::new();
    fresh.insert("user".into(), json!("alice"));
    session.set(fresh);
    session.renew_for("alice");
    if bind {
        session.bind_device();
    }
}

/// Binding later (a step-up): a request to bind the session the request
/// carries, which is neither changed nor renewed.
fn bind_later(session: &SessionHandle<DynamicSession>) -> (u16, String) {
    session.bind_device();
    me(session)
}

/// A protected route: who is signed in, the session id and whether the
/// session is bound; 401 without a session.
fn me(session: &SessionHandle<DynamicSession>) -> (u16, String) {
    match (session.get(), session.identity()) {
        (Some(data), Some(identity)) => (
            200,
            json!({
                "user": data.get("user"),
                "session_id": identity.session_id.to_string(),
                "bound": identity.bound,
            })
            .to_string(),
        ),
        _ => (401, "no session".to_owned()),
    }
}

async fn serve_axum(codec: Codec) -> SocketAddr {
    use sealed_session::SealedSession;
    let app = Router::new()
        .route(
            "/sign-in",
            post(|session: SealedSession<DynamicSession>| async move {
                sign_in(&session, true);
                "signed in"
            }),
        )
        .route(
            "/sign-in-unbound",
            post(|session: SealedSession<DynamicSession>| async move {
                sign_in(&session, false);
                "signed in"
            }),
        )
        .route(
            "/bind",
            post(|session: SealedSession<DynamicSession>| async move {
                let (status, body) = bind_later(&session);
                (StatusCode::from_u16(status).unwrap(), body)
            }),
        )
        .route(
            "/me",
            get(|session: SealedSession<DynamicSession>| async move {
                let (status, body) = me(&session);
                (StatusCode::from_u16(status).unwrap(), body)
            }),
        )
        .layer(SealedSessionLayer::<DynamicSession>::new(codec));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The actix server runs in its own thread and system for the rest of the
/// test process; the listener is bound before this returns.
fn serve_actix(codec: Codec) -> SocketAddr {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use sealed_session::actix::SealedSession;
    let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let middleware = SealedSessionMiddleware::<DynamicSession>::new(codec);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .wrap(middleware.clone())
                    .route(
                        "/sign-in",
                        web::post().to(|session: SealedSession<DynamicSession>| async move {
                            sign_in(&session, true);
                            "signed in"
                        }),
                    )
                    .route(
                        "/sign-in-unbound",
                        web::post().to(|session: SealedSession<DynamicSession>| async move {
                            sign_in(&session, false);
                            "signed in"
                        }),
                    )
                    .route(
                        "/bind",
                        web::post().to(|session: SealedSession<DynamicSession>| async move {
                            let (status, body) = bind_later(&session);
                            HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(status).unwrap(),
                            )
                            .body(body)
                        }),
                    )
                    .route(
                        "/me",
                        web::get().to(|session: SealedSession<DynamicSession>| async move {
                            let (status, body) = me(&session);
                            HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(status).unwrap(),
                            )
                            .body(body)
                        }),
                    )
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap()
        })
    });
    addr
}

// The browser: a device key, a cookie jar, and Chromium's requests.

#[derive(Clone, Debug)]
struct StoredCookie {
    name: String,
    value: String,
    path: String,
    expires: Option<Instant>,
    received: Instant,
}

/// A browser's cookie jar for one host (cookies ignore the port, so the
/// servers of the cluster share it): cookies keyed by name and path, sent
/// only on matching paths and until their `Max-Age` runs out.
#[derive(Default, Clone, Debug)]
struct Jar(Vec<StoredCookie>);

impl Jar {
    fn take(&mut self, reply: &Reply) {
        for line in reply.set_cookies() {
            let mut parts = line.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let mut path = "/".to_owned();
            let mut max_age = None;
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                if key.eq_ignore_ascii_case("path") {
                    val.clone_into(&mut path);
                } else if key.eq_ignore_ascii_case("max-age") {
                    max_age = Some(val.parse::<i64>().unwrap());
                }
            }
            self.0.retain(|c| !(c.name == name && c.path == path));
            if max_age.is_some_and(|age| age <= 0) {
                continue;
            }
            let received = Instant::now();
            self.0.push(StoredCookie {
                name: name.to_owned(),
                value: value.to_owned(),
                path,
                expires: max_age.map(|age| received + Duration::from_secs(age as u64)),
                received,
            });
        }
    }

    /// The `Cookie` header for a request to `path`, as a browser sends it.
    fn header_for(&self, path: &str) -> String {
        let now = Instant::now();
        self.0
            .iter()
            .filter(|c| c.expires.is_none_or(|at| now < at))
            .filter(|c| {
                path == c.path
                    || (path.starts_with(&c.path)
                        && (c.path.ends_with('/') || path[c.path.len()..].starts_with('/')))
            })
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// True when a request to `path` carries the cookie `name`.
    fn sends(&self, path: &str, name: &str) -> bool {
        self.header_for(path)
            .split("; ")
            .any(|pair| pair.starts_with(&format!("{name}=")))
    }

    /// The values of `names`, whatever their path or expiry: what a thief
    /// copies off the disk.
    fn copied(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| {
                let c = self.cookie(name);
                format!("{}={}", c.name, c.value)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn cookie(&self, name: &str) -> &StoredCookie {
        self.0
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no cookie {name} in {self:?}"))
    }
}

/// One request on a fresh connection; `cookie` is the whole `Cookie`
/// header value (none when empty).
async fn send(addr: SocketAddr, method: &str, path: &str, cookie: &str, extra: &[String]) -> Reply {
    let mut lines: Vec<Vec<u8>> = vec![format!("Host: {addr}").into_bytes()];
    if !cookie.is_empty() {
        lines.push(format!("Cookie: {cookie}").into_bytes());
    }
    lines.extend(extra.iter().map(|h| h.clone().into_bytes()));
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&request_bytes(method, path, &lines, ""))
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers within 10 s")
        .unwrap();
    parse_reply(raw)
}

/// The headers Chromium puts on its DBSC `POST`s (empty body, no content
/// type), with `extra` after them.
fn chromium_headers(addr: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut headers = vec![
        "Sec-Fetch-Mode: no-cors".to_owned(),
        "Sec-Fetch-Dest: empty".to_owned(),
        "Sec-Fetch-Site: same-origin".to_owned(),
        format!("Origin: http://{addr}"),
    ];
    headers.extend_from_slice(extra);
    headers
}

/// A refresh `POST` with the given cookies, with or without a proof.
async fn refresh_post(addr: SocketAddr, cookie: &str, id: &str, proof: Option<&str>) -> Reply {
    let mut extra = vec![format!("Sec-Secure-Session-Id: {id}")];
    if let Some(proof) = proof {
        extra.push(format!("Secure-Session-Response: {proof}"));
    }
    let headers = chromium_headers(addr, &extra);
    send(addr, "POST", "/dbsc/refresh", cookie, &headers).await
}

/// The challenge of a 403 answer to a refresh without proof, checking the
/// header is exactly `"<c>";id="<id>"` and nothing is set.
fn challenge_of(reply: &Reply, id: &str, what: &str) -> String {
    assert_eq!(
        reply.status, 403,
        "{what}: {:?} {}",
        reply.headers, reply.body
    );
    let values = reply.all("secure-session-challenge");
    assert_eq!(values.len(), 1, "{what}: {:?}", reply.headers);
    let (challenge, rest) = values[0]
        .strip_prefix('"')
        .and_then(|v| v.split_once('"'))
        .unwrap_or_else(|| panic!("{what}: challenge header {:?}", values[0]));
    assert_eq!(rest, format!(";id=\"{id}\""), "{what}: {:?}", values[0]);
    assert!(!challenge.is_empty(), "{what}");
    assert!(
        reply.set_cookies().is_empty(),
        "{what}: {:?}",
        reply.headers
    );
    challenge.to_owned()
}

/// The registration challenge of a `Secure-Session-Registration` header
/// for the registration path on the same origin.
fn registration_challenge(reply: &Reply, what: &str) -> String {
    let registration = reply.all("secure-session-registration");
    assert_eq!(registration.len(), 1, "{what}: {:?}", reply.headers);
    let challenge = registration[0]
        .strip_prefix("(ES256);path=\"/dbsc/start\";challenge=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{what}: registration header {:?}", registration[0]));
    assert!(
        !challenge.is_empty() && !challenge.contains('"'),
        "{what}: {challenge}"
    );
    challenge.to_owned()
}

/// `(user, session id, bound)` from the protected route's answer, or
/// `None` when it answered 401 (no session).
fn identity_of(reply: &Reply) -> Option<(String, String, bool)> {
    match reply.status {
        401 => {
            assert_eq!(reply.body, "no session");
            None
        }
        200 => {
            let body: Value = serde_json::from_str(&reply.body).unwrap();
            Some((
                body["user"].as_str().unwrap().to_owned(),
                body["session_id"].as_str().unwrap().to_owned(),
                body["bound"].as_bool().unwrap(),
            ))
        }
        other => panic!("/me answered {other}: {}", reply.body),
    }
}

/// The protected route with exactly `cookie` (a copied cookie, no browser).
async fn whoami(addr: SocketAddr, cookie: &str) -> Option<(String, String, bool)> {
    identity_of(&send(addr, "GET", "/me", cookie, &[]).await)
}

fn names_of(reply: &Reply) -> Vec<String> {
    let mut names: Vec<String> = reply
        .set_cookies()
        .iter()
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect();
    names.sort_unstable();
    names
}

/// The attributes of a `Set-Cookie` line without its value and lifetime,
/// as DBSC's `credentials` must repeat them.
fn attributes_without_lifetime(line: &str) -> String {
    line.split(';')
        .skip(1)
        .map(str::trim)
        .filter(|a| {
            let lower = a.to_ascii_lowercase();
            !lower.starts_with("max-age=") && !lower.starts_with("expires=")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks the JSON of a registration or refresh answer: the session, the
/// refresh URL, a host-only scope and the bound cookie as credential.
fn check_description(reply: &Reply, id: &str, what: &str) {
    assert_eq!(reply.all("content-type"), ["application/json"], "{what}");
    assert_eq!(reply.all("cache-control"), ["no-store"], "{what}");
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["session_identifier"], json!(id), "{what}: {body}");
    assert_eq!(
        body["refresh_url"],
        json!("/dbsc/refresh"),
        "{what}: {body}"
    );
    assert_eq!(
        body["scope"]["include_site"],
        json!(false),
        "{what}: {body}"
    );
    assert_eq!(
        body["credentials"],
        json!([{
            "type": "cookie",
            "name": "sid-bound",
            "attributes": "HttpOnly; SameSite=Lax; Secure; Path=/",
        }]),
        "{what}"
    );
}

/// Checks a fresh bound cookie: `Path=/`, a `Max-Age` within the bound
/// lifetime, and the attributes the credentials announce.
fn check_bound_cookie(reply: &Reply, what: &str) {
    let line = reply
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("sid-bound="))
        .unwrap_or_else(|| panic!("{what}: no bound cookie in {:?}", reply.headers));
    assert_eq!(
        attributes_without_lifetime(line),
        "HttpOnly; SameSite=Lax; Secure; Path=/",
        "{what}"
    );
    let max_age: u64 = line
        .split(';')
        .map(str::trim)
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap_or_else(|| panic!("{what}: {line}"))
        .parse()
        .unwrap();
    assert!(
        (1..=BOUND_LIFETIME.as_secs()).contains(&max_age),
        "{what}: {line}"
    );
}

/// Chromium, as far as DBSC goes: a cookie jar, a device key, and the
/// device-bound session it registered. Before any request in scope it
/// refreshes when the bound cookie it craves is missing (never set, or
/// expired), holding the request until the refresh answered.
struct Browser {
    jar: Jar,
    device: Device,
    /// The session identifier the registration answered.
    session: Option<String>,
    /// Refreshes made so far.
    refreshes: usize,
}

impl Browser {
    fn new(device: Device) -> Self {
        Browser {
            jar: Jar::default(),
            device,
            session: None,
            refreshes: 0,
        }
    }

    /// A request as the page makes it, after a refresh if one is due.
    async fn fetch(&mut self, addr: SocketAddr, method: &str, path: &str) -> Reply {
        if self.session.is_some() && !self.jar.sends(path, "sid-bound") {
            self.refresh(addr, addr).await;
        }
        let reply = send(addr, method, path, &self.jar.header_for(path), &[]).await;
        self.jar.take(&reply);
        reply
    }

    /// The protected route.
    async fn whoami(&mut self, addr: SocketAddr) -> Option<(String, String, bool)> {
        identity_of(&self.fetch(addr, "GET", "/me").await)
    }

    /// Signs in on `addr` and registers the device key as the sign-in
    /// answer asks; returns the session id.
    async fn sign_in_and_register(&mut self, addr: SocketAddr, what: &str) -> String {
        let signed_in = self.fetch(addr, "POST", "/sign-in").await;
        assert_eq!(
            (signed_in.status, signed_in.body.as_str()),
            (200, "signed in"),
            "{what}"
        );
        assert_eq!(names_of(&signed_in), ["sid"], "{what}");
        let challenge = registration_challenge(&signed_in, what);
        // Signed in, not bound yet: the session cookie alone is the session.
        let (user, id, bound) = self
            .whoami(addr)
            .await
            .unwrap_or_else(|| panic!("{what}: no session after sign-in"));
        assert_eq!((user.as_str(), bound), ("alice", false), "{what}");
        assert_eq!(id.len(), 32, "{what}: session id {id}");

        let path = "/dbsc/start";
        let proof = self.device.registration_proof(&challenge);
        let headers = chromium_headers(addr, &[format!("Secure-Session-Response: {proof}")]);
        let reply = send(addr, "POST", path, &self.jar.header_for(path), &headers).await;
        assert_eq!(
            reply.status, 200,
            "{what}: {:?} {}",
            reply.headers, reply.body
        );
        check_description(&reply, &id, what);
        let refresh = reply
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("sid-refresh="))
            .unwrap_or_else(|| panic!("{what}: no refresh cookie in {:?}", reply.headers));
        assert!(
            refresh.contains("; Path=/dbsc/refresh"),
            "{what}: {refresh}"
        );
        // Registration sets only the refresh cookie: binding takes effect
        // at the first refresh (which the browser makes at its next
        // request, as the bound cookie is missing), and the session stays
        // an ordinary one until then (for a browser that drops the
        // registration).
        assert_eq!(names_of(&reply), ["sid-refresh"], "{what}");
        self.jar.take(&reply);
        let alone = whoami(addr, &self.jar.copied(&["sid"])).await;
        let unbound = Some(("alice".to_owned(), id.clone(), false));
        assert_eq!(alone, unbound, "{what}: the session cookie alone");
        self.session = Some(id.clone());
        id
    }

    /// A refresh as Chromium makes it: no proof and a challenge from
    /// `challenge_from`, then the proof to `proof_to` (the same server, or
    /// two servers of a cluster); checks both answers and keeps the fresh
    /// bound cookie.
    async fn refresh(&mut self, challenge_from: SocketAddr, proof_to: SocketAddr) {
        let id = self.session.clone().expect("a registered session");
        let what = format!("refresh {} of {id}", self.refreshes + 1);
        let cookie = self.jar.header_for("/dbsc/refresh");
        assert!(cookie.contains("sid-refresh="), "{what}: {cookie}");
        let first = refresh_post(challenge_from, &cookie, &id, None).await;
        let challenge = challenge_of(&first, &id, &what);
        let proof = self.device.refresh_proof(&challenge);
        let reply = refresh_post(proof_to, &cookie, &id, Some(&proof)).await;
        assert_eq!(
            reply.status, 200,
            "{what}: {:?} {}",
            reply.headers, reply.body
        );
        check_description(&reply, &id, &what);
        check_bound_cookie(&reply, &what);
        // The bound cookie, and at the first refresh the session re-sealed
        // with its bound mark.
        let names = names_of(&reply);
        if self.refreshes == 0 {
            assert_eq!(names, ["sid", "sid-bound"], "{what}");
        } else {
            assert_eq!(names, ["sid-bound"], "{what}");
        }
        self.jar.take(&reply);
        self.refreshes += 1;
    }

    /// When the bound cookie the browser holds was set.
    fn bound_since(&self) -> Instant {
        self.jar.cookie("sid-bound").received
    }
}

/// Checks that `addr` serves the browser's session as alice's bound session
/// `id` (refreshing first if the browser must), and that its session cookie
/// alone is none.
async fn serves_bound(addr: SocketAddr, browser: &mut Browser, id: &str, what: &str) {
    assert_eq!(
        browser.whoami(addr).await,
        Some(("alice".to_owned(), id.to_owned(), true)),
        "{what}: session and bound cookie"
    );
    assert_eq!(
        whoami(addr, &browser.jar.copied(&["sid"])).await,
        None,
        "{what}: the session cookie alone"
    );
}

/// One server, from sign-in to a refresh after expiry, with a thief who
/// copied every cookie but has no device key.
async fn lifecycle(addr: SocketAddr, what: &str) {
    let mut browser = Browser::new(Device::new(1));
    let id = browser.sign_in_and_register(addr, what).await;
    serves_bound(addr, &mut browser, &id, what).await;
    let refreshes = browser.refreshes;
    // A second registration of the now bound session (a replay, or a thief
    // swapping in their key) is refused and sets nothing.
    let thief = Device::new(9);
    let replay = send(
        addr,
        "POST",
        "/dbsc/start",
        &browser.jar.header_for("/dbsc/start"),
        &chromium_headers(
            addr,
            &[format!(
                "Secure-Session-Response: {}",
                thief.registration_proof("made-up")
            )],
        ),
    )
    .await;
    assert_eq!(replay.status, 400, "{what}: {}", replay.body);
    assert!(replay.set_cookies().is_empty(), "{what}");

    let stolen = browser.jar.clone();
    tokio::time::sleep_until((browser.bound_since() + PAST_BOUND).into()).await;
    // The copied pair is no session once the bound lifetime is over.
    assert_eq!(
        whoami(addr, &stolen.copied(&["sid", "sid-bound"])).await,
        None,
        "{what}: the pair after the bound lifetime"
    );
    // The thief has the refresh cookie, so gets a challenge, but a proof
    // signed by another key (with or without its jwk) ends the binding.
    let copied = stolen.copied(&["sid", "sid-bound", "sid-refresh"]);
    for proof in [Device::refresh_proof, Device::registration_proof] {
        let challenge = challenge_of(&refresh_post(addr, &copied, &id, None).await, &id, what);
        let refused = refresh_post(addr, &copied, &id, Some(&proof(&thief, &challenge))).await;
        assert_eq!(refused.status, 401, "{what}: {}", refused.body);
        assert_eq!(refused.body, r#"{"continue":false}"#, "{what}");
        assert!(
            refused.set_cookies().is_empty(),
            "{what}: {:?}",
            refused.headers
        );
    }
    assert_eq!(whoami(addr, &copied).await, None, "{what}: the thief");

    // The browser no longer sends the bound cookie, so it refreshes before
    // its request, and the same session is served, bound.
    assert!(!browser.jar.sends("/me", "sid-bound"), "{what}");
    serves_bound(addr, &mut browser, &id, what).await;
    assert_eq!(browser.refreshes, refreshes + 1, "{what}");
}

/// Two axum servers with the same keys: registration on A, every refresh
/// on B (the one after expiry included), then both serve the bound
/// session; a challenge issued by A is answered on B.
async fn cluster(a: SocketAddr, b: SocketAddr) {
    let mut browser = Browser::new(Device::new(2));
    let id = browser.sign_in_and_register(a, "cluster A").await;
    serves_bound(b, &mut browser, &id, "cluster B").await;
    serves_bound(a, &mut browser, &id, "cluster A").await;
    let refreshes = browser.refreshes;
    tokio::time::sleep_until((browser.bound_since() + PAST_BOUND).into()).await;
    assert_eq!(
        whoami(a, &browser.jar.copied(&["sid", "sid-bound"])).await,
        None,
        "cluster: the pair after the bound lifetime"
    );
    serves_bound(b, &mut browser, &id, "B after its refresh").await;
    assert_eq!(browser.refreshes, refreshes + 1, "refreshed on B");
    serves_bound(a, &mut browser, &id, "A after a refresh on B").await;
    // A proactive refresh (the bound cookie still valid, so sent along):
    // the challenge from A, the proof to B.
    assert!(browser.jar.sends("/dbsc/refresh", "sid-bound"));
    browser.refresh(a, b).await;
    serves_bound(a, &mut browser, &id, "A after a proactive refresh").await;
    assert_eq!(browser.refreshes, refreshes + 2, "no other refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapters_serve_device_bound_sessions_over_http() {
    let started = Instant::now();
    let axum_addr = serve_axum(codec(1)).await;
    let actix_addr = serve_actix(codec(1));
    let a = serve_axum(codec(3)).await;
    let b = serve_axum(codec(3)).await;
    tokio::join!(
        lifecycle(axum_addr, "axum"),
        lifecycle(actix_addr, "actix"),
        cluster(a, b),
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

/// Binding an existing session later, without renewing it (a step-up):
/// the handle computes the registration header for the opened session
/// (`SessionHandle::registration_header` is `Some` after `finish`), but
/// the adapters send it only with a `Set-Cookie`, and this response sets
/// none (response_policy::write_back returns before appending it).
async fn bind_an_existing_session(addr: SocketAddr, what: &str) {
    let mut browser = Browser::new(Device::new(4));
    let signed_in = browser.fetch(addr, "POST", "/sign-in-unbound").await;
    assert_eq!(signed_in.status, 200, "{what}: {}", signed_in.body);
    assert!(
        signed_in.all("secure-session-registration").is_empty(),
        "{what}: no binding asked at this sign-in"
    );
    let bind = browser.fetch(addr, "POST", "/bind").await;
    assert_eq!(bind.status, 200, "{what}: {}", bind.body);
    assert!(bind.set_cookies().is_empty(), "{what}: nothing to re-seal");
    let (_, id, bound) = identity_of(&bind).unwrap();
    assert!(!bound, "{what}");
    let challenge = registration_challenge(&bind, what);
    let path = "/dbsc/start";
    let proof = browser.device.registration_proof(&challenge);
    let headers = chromium_headers(addr, &[format!("Secure-Session-Response: {proof}")]);
    let reply = send(addr, "POST", path, &browser.jar.header_for(path), &headers).await;
    assert_eq!(reply.status, 200, "{what}: {}", reply.body);
    check_description(&reply, &id, what);
    browser.jar.take(&reply);
    browser.session = Some(id.clone());
    serves_bound(addr, &mut browser, &id, what).await;
}

#[tokio::test]
async fn the_adapters_send_the_registration_header_for_an_unchanged_session() {
    let axum_addr = serve_axum(codec(5)).await;
    let actix_addr = serve_actix(codec(5));
    bind_an_existing_session(axum_addr, "axum").await;
    bind_an_existing_session(actix_addr, "actix").await;
}
