//! Demo shop (axum): one server for `shop.test`, `account.shop.test` and
//! `cart.shop.test`, picked by the Host header. The whole session (who is
//! signed in, what is in the cart) lives in one sealed cookie with
//! `Domain=shop.test`, so every subdomain and every copy of the server that
//! holds the same keys sees the same session, with no session store.
//!
//! ```text
//! cargo run --example shop -- --insecure --listen 127.0.0.1:8080
//! ```
//!
//! Options (all optional):
//!
//! - `--listen ADDR` (or `SHOP_LISTEN`): address and port, default
//!   `127.0.0.1:8080`; port 0 picks a free one. The chosen address is printed
//!   as `shop listening on http://ADDR`.
//! - `--domain NAME`: the cookie's Domain, default `shop.test`.
//! - `--insecure`: cookie without `Secure`, for plain-HTTP local use and the
//!   browser test only (browsers do not send Secure cookies over plain HTTP).
//! - `--server-id ID`: reported by `GET /api/state`, default `shop`.
//! - `--keys-file PATH`: key ring in the text form of
//!   `KeyRing::from_config_str` (read once at start; rotate keys by
//!   restarting the servers one by one). Otherwise `SEALED_SESSION_KEYS`
//!   when set, otherwise a publicly known development key, announced loudly.
//! - `--no-domain`: leave the Domain attribute out (a host-only cookie), to
//!   see the session stop following the user across subdomains.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use sealed_session::{Codec, Key, KeyRing, Opened};
use serde::{Deserialize, Serialize};

/// Development key: publicly known (it is in this file), so it protects
/// nothing. It is fixed rather than random so that several local copies share
/// sessions and a restart keeps them, which a key generated at start-up
/// would not.
const DEVELOPMENT_KEY: &str = "ZGVtby1zaG9wLWRldmVsb3BtZW50LWtleS0wMDAwMDA";

/// Everything the shop keeps about a visitor, all of it inside the cookie.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSession {
    /// Signed-in user name, if any.
    pub user: Option<String>,
    /// Items in the cart, in the order they were added.
    pub cart: Vec<String>,
}

/// How the server was started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listening address.
    pub listen: SocketAddr,
    /// Cookie Domain; `None` for a host-only cookie.
    pub domain: Option<String>,
    /// The parent domain the pages are served under (even with a host-only
    /// cookie).
    pub site: String,
    /// The Secure attribute.
    pub secure: bool,
    /// Reported by `/api/state`, to see which copy answered.
    pub server_id: String,
}

/// Shared state of the handlers.
pub struct Shop {
    codec: Codec,
    site: String,
    server_id: String,
}

impl Shop {
    /// Builds the codec from the configuration and key ring.
    pub fn new(config: &Config, ring: KeyRing) -> Result<Self, sealed_session::Error> {
        // The `__Secure-` prefix makes browsers refuse the cookie unless it
        // is Secure and set over HTTPS; it cannot be used without Secure.
        let name = if config.secure {
            "__Secure-shop_session"
        } else {
            "shop_session"
        };
        let mut builder = Codec::builder(name).key_ring(ring).secure(config.secure);
        if let Some(domain) = &config.domain {
            builder = builder.domain(domain);
        }
        Ok(Shop {
            codec: builder.build()?,
            site: config.site.clone(),
            server_id: config.server_id.clone(),
        })
    }
}

/// The routes. Every path answers on every host; `/` shows the page of the
/// subdomain the request was sent to.
pub fn router(shop: Arc<Shop>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/cart/add", post(add_to_cart))
        .route("/api/state", get(api_state))
        .route("/api/sign-in", post(api_sign_in))
        .route("/api/cart", post(api_add_to_cart))
        .with_state(shop)
}

/// The session read from one request, and what to write back.
struct Exchange {
    opened: Option<Opened<ShopSession>>,
    session: Option<ShopSession>,
}

impl Exchange {
    fn read(shop: &Shop, headers: &HeaderMap) -> Self {
        // Every Cookie header field (HTTP/2 may send one per cookie), as
        // bytes: another site's non-ASCII cookie is skipped, not a reason
        // to lose the session. An invalid cookie (tampered, expired, unknown
        // key) is simply no session; the codec logs the reason at debug
        // level.
        let opened = shop
            .codec
            .session_fields::<ShopSession>(headers.get_all(header::COOKIE));
        let session = opened.as_ref().map(|o| o.session.clone());
        Exchange { opened, session }
    }

    fn session_mut(&mut self) -> &mut ShopSession {
        self.session.get_or_insert_with(ShopSession::default)
    }

    /// Set-Cookie headers: only when the session changed or must be
    /// re-sealed (opened by a non-primary key, or due for a sliding refresh).
    /// `None` when the session could not be sealed (too large).
    fn set_cookies(&self, shop: &Shop) -> Option<Vec<String>> {
        let before = self.opened.as_ref().map(|o| &o.session);
        let reseal = self.opened.as_ref().is_some_and(|o| o.needs_reseal());
        match &self.session {
            None if before.is_some() => Some(shop.codec.removal().into_iter().collect()),
            Some(session) if reseal || Some(session) != before => {
                match shop.codec.encode(session) {
                    Ok(cookies) => Some(cookies.into_iter().collect()),
                    Err(err) => {
                        log::warn!("session not saved: {err}");
                        None
                    }
                }
            }
            _ => Some(Vec::new()),
        }
    }

    fn finish(&self, shop: &Shop, response: impl IntoResponse) -> Response {
        let Some(cookies) = self.set_cookies(shop) else {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the cart is full: remove something first\n",
            )
                .into_response();
        };
        let mut response = response.into_response();
        for cookie in cookies {
            match HeaderValue::from_str(&cookie) {
                Ok(value) => {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        response
    }
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
}

#[derive(Deserialize)]
struct ItemForm {
    item: String,
}

fn back_to_page() -> impl IntoResponse {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/")])
}

fn clean(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text.len() <= 64).then(|| text.to_owned())
}

async fn sign_in(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let mut exchange = Exchange::read(&shop, &headers);
    let Some(user) = clean(&form.username) else {
        return (
            StatusCode::BAD_REQUEST,
            "a user name has 1 to 64 characters\n",
        )
            .into_response();
    };
    exchange.session_mut().user = Some(user);
    exchange.finish(&shop, back_to_page())
}

async fn sign_out(State(shop): State<Arc<Shop>>) -> Response {
    // Always expire the cookie, even one this server cannot open: the
    // removal repeats Domain and Path, or the browser would keep it.
    let mut response = back_to_page().into_response();
    for cookie in shop.codec.removal() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

async fn add_to_cart(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Form(form): Form<ItemForm>,
) -> Response {
    let mut exchange = Exchange::read(&shop, &headers);
    let Some(item) = clean(&form.item) else {
        return (StatusCode::BAD_REQUEST, "an item has 1 to 64 characters\n").into_response();
    };
    exchange.session_mut().cart.push(item);
    exchange.finish(&shop, back_to_page())
}

fn state_json(shop: &Shop, exchange: &Exchange) -> Json<serde_json::Value> {
    let session = exchange.session.clone().unwrap_or_default();
    Json(serde_json::json!({
        "user": session.user,
        "cart": session.cart,
        "server_id": shop.server_id,
        // The key that opened the request's cookie (null: no valid cookie).
        "key_id": exchange.opened.as_ref().map(|o| o.key_id.to_string()),
        "primary_key_id": shop.codec.key_ring().primary_id().to_string(),
    }))
}

async fn api_state(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Response {
    let exchange = Exchange::read(&shop, &headers);
    exchange.finish(&shop, state_json(&shop, &exchange))
}

async fn api_sign_in(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let mut exchange = Exchange::read(&shop, &headers);
    let Some(user) = clean(&form.username) else {
        return (
            StatusCode::BAD_REQUEST,
            "a user name has 1 to 64 characters\n",
        )
            .into_response();
    };
    exchange.session_mut().user = Some(user);
    exchange.finish(&shop, state_json(&shop, &exchange))
}

async fn api_add_to_cart(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Form(form): Form<ItemForm>,
) -> Response {
    let mut exchange = Exchange::read(&shop, &headers);
    let Some(item) = clean(&form.item) else {
        return (StatusCode::BAD_REQUEST, "an item has 1 to 64 characters\n").into_response();
    };
    exchange.session_mut().cart.push(item);
    exchange.finish(&shop, state_json(&shop, &exchange))
}

/// Which of the three sites a Host header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Shop,
    Account,
    Cart,
}

fn site_of(shop: &Shop, headers: &HeaderMap) -> (Site, String) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            (name, format!(":{port}"))
        }
        _ => (host, String::new()),
    };
    let name = name.to_ascii_lowercase();
    let site = match name.strip_suffix(&shop.site) {
        Some("account.") => Site::Account,
        Some("cart.") => Site::Cart,
        _ => Site::Shop,
    };
    (site, port)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn page(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Response {
    let exchange = Exchange::read(&shop, &headers);
    let (site, port) = site_of(&shop, &headers);
    let session = exchange.session.clone().unwrap_or_default();
    let scheme = if shop.codec_is_secure() {
        "https"
    } else {
        "http"
    };
    let base = &shop.site;
    let user = match &session.user {
        Some(user) => format!(
            "<p id=\"user\">Signed in as <b>{}</b></p>\
             <form method=\"post\" action=\"/sign-out\"><button id=\"sign-out\">Sign out</button></form>",
            escape(user)
        ),
        None => "<p id=\"user\">Not signed in</p>".to_owned(),
    };
    let cart = if session.cart.is_empty() {
        "<p id=\"cart\">The cart is empty</p>".to_owned()
    } else {
        let items: String = session
            .cart
            .iter()
            .map(|item| format!("<li>{}</li>", escape(item)))
            .collect();
        format!("<ul id=\"cart\">{items}</ul>")
    };
    let (title, body) = match site {
        Site::Shop => ("Shop", String::new()),
        Site::Account => (
            "Account",
            "<form method=\"post\" action=\"/sign-in\">\
             <input name=\"username\" id=\"username\" placeholder=\"user name\">\
             <button id=\"sign-in\">Sign in</button></form>"
                .to_owned(),
        ),
        Site::Cart => (
            "Cart",
            "<form method=\"post\" action=\"/cart/add\">\
             <input name=\"item\" id=\"item\" placeholder=\"item\">\
             <button id=\"add\">Add to cart</button></form>"
                .to_owned(),
        ),
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1>\
         <nav><a href=\"{scheme}://{base}{port}/\">shop</a> | \
         <a href=\"{scheme}://account.{base}{port}/\">account</a> | \
         <a href=\"{scheme}://cart.{base}{port}/\">cart</a></nav>\
         {user}{cart}{body}\
         <p><small>served by {server}</small></p></body></html>",
        server = escape(&shop.server_id),
    );
    exchange.finish(&shop, Html(html))
}

impl Shop {
    fn codec_is_secure(&self) -> bool {
        self.codec.name().starts_with("__Secure-")
    }
}

/// Where the keys come from, in order: `--keys-file`, `SEALED_SESSION_KEYS`,
/// the development key.
pub fn load_keys(keys_file: Option<&str>) -> Result<KeyRing, sealed_session::Error> {
    if let Some(path) = keys_file {
        return KeyRing::from_file(path);
    }
    if std::env::var_os("SEALED_SESSION_KEYS").is_some() {
        return KeyRing::from_env("SEALED_SESSION_KEYS");
    }
    eprintln!(
        "!!! DEVELOPMENT KEY: no SEALED_SESSION_KEYS or --keys-file given, sealing with a \
         publicly known demo key. Anyone can forge these sessions: never deploy this. !!!"
    );
    KeyRing::from_keys([Key::from_base64url(DEVELOPMENT_KEY)?])
}

/// Parses the command line (see the module documentation).
fn parse_args() -> Result<(Config, Option<String>), String> {
    let mut listen = std::env::var("SHOP_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let mut domain = "shop.test".to_owned();
    let mut secure = true;
    let mut host_only = false;
    let mut server_id = "shop".to_owned();
    let mut keys_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value("--listen")?,
            "--domain" => domain = value("--domain")?,
            "--server-id" => server_id = value("--server-id")?,
            "--keys-file" => keys_file = Some(value("--keys-file")?),
            "--insecure" => secure = false,
            "--no-domain" => host_only = true,
            other => return Err(format!("unknown argument {other:?}; see examples/shop.rs")),
        }
    }
    let listen = listen
        .parse()
        .map_err(|_| format!("--listen {listen:?} is not an address such as 127.0.0.1:8080"))?;
    let config = Config {
        listen,
        domain: (!host_only).then(|| domain.clone()),
        site: domain,
        secure,
        server_id,
    };
    Ok((config, keys_file))
}

/// Prints warnings and the codec's reasons for refusing a cookie (debug
/// level) to stderr; no logging crate needed for a demo.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info || metadata.target().starts_with("sealed_session")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

#[tokio::main]
async fn main() {
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Debug));
    let (config, keys_file) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("shop: {message}");
            std::process::exit(2);
        }
    };
    let shop = match load_keys(keys_file.as_deref()).and_then(|ring| Shop::new(&config, ring)) {
        Ok(shop) => Arc::new(shop),
        Err(err) => {
            eprintln!("shop: {err}");
            std::process::exit(2);
        }
    };
    if !config.secure {
        eprintln!(
            "shop: --insecure: the cookie is sent without Secure (plain HTTP, local use only)"
        );
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("shop: cannot listen on {}: {err}", config.listen);
            std::process::exit(1);
        }
    };
    let address = listener.local_addr().unwrap_or(config.listen);
    println!(
        "shop listening on http://{address} (server id {}, primary key {}); open http://{}:{}/",
        config.server_id,
        shop.codec.key_ring().primary_id(),
        config.site,
        address.port()
    );
    let served = axum::serve(listener, router(shop))
        .with_graceful_shutdown(async {
            // SIGTERM (a rolling restart) or Ctrl-C: finish the requests in
            // flight, accept no more.
            #[cfg(unix)]
            {
                if let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                    return;
                }
            }
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    if let Err(err) = served {
        eprintln!("shop: server error: {err}");
        std::process::exit(1);
    }
}
