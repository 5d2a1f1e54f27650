//! Demo shop (axum): one server for `shop.test`, `account.shop.test` and
//! `cart.shop.test`, picked by the Host header. The whole session (who is
//! signed in, what is in the cart) lives in one sealed cookie with
//! `Domain=shop.test`, so every subdomain and every copy of the server that
//! holds the same keys sees the same session, with no session store.
//!
//! The session comes from the crate's axum integration: a
//! `SealedSessionLayer<ShopSession>` around the routes, and handlers that
//! take `SealedSession<ShopSession>`. The layer opens the cookie only when a
//! handler asks, writes it only when the session changed or must be
//! re-sealed (older key, sliding refresh), and answers 413 when the cart no
//! longer fits in the cookie.
//!
//! ```text
//! cargo run --example shop --features axum,dbsc -- --insecure --listen 127.0.0.1:8080
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
//! - `--redis URL` (feature `redis`): take part in revocation. The shop
//!   keeps a `RevocationSet` in memory, synchronized with every other copy
//!   through Redis (`RedisRevocations`; it starts even while Redis is down,
//!   and catches up when it comes back). Signing out then also revokes the
//!   session id, so a copy of the cookie stops working on every server, and
//!   `POST /sign-out-everywhere` revokes every session of the signed-in user.
//!   Without it, signing out only clears the cookie in this browser.
//! - `--dict FILE` (repeatable): a compression dictionary (a file written by
//!   `sealed-session dict train`, or any raw sample of session JSON), read
//!   once at start. Like keys, the first one compresses new sessions and all
//!   of them open; list an older one after it until its sessions have
//!   expired (`CodecBuilder::dictionaries`).
//! - `--open-only-dict FILE` (repeatable): a dictionary that opens sessions
//!   but never compresses, for phase 1 of rolling out the very first
//!   dictionary (`CodecBuilder::open_only_dictionaries`). README.md, "Rolling
//!   out a compression dictionary", has the phases; rolling restarts apply
//!   them, as for keys.
//! - `--tls-cert PATH` and `--tls-key PATH` (together): serve HTTPS with this
//!   PEM certificate chain and PEM private key (rustls), for example a
//!   certificate for `shop.test` and `*.shop.test` made for a test.
//!   Without them the shop speaks plain HTTP. Over HTTPS, sign-in asks the
//!   browser to bind the session to its device (DBSC): the layer serves
//!   `POST /dbsc/start` and `POST /dbsc/refresh`, and `/api/state` reports
//!   `"bound"`.
//! - `--bound-lifetime SECS`: lifetime of the bound cookie of a
//!   device-bound session (default 600 over HTTPS; setting it also enables
//!   binding over plain HTTP, which only non-browser clients can use).
//!
//! `GET /api/state` answers with the user, the cart, the server id, the
//! session id and the key that opened the request's cookie (both null
//! without a valid cookie), whether the session is bound to the device, and
//! the primary key id. `GET /api/account` is a page that, when the shop binds
//! sessions, answers only a device-bound session (403 otherwise).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
#[cfg(feature = "redis")]
use sealed_session::RedisRevocations;
use sealed_session::{
    Codec, DeviceBinding, Dictionary, Error, Key, KeyId, KeyRing, Revocation, RevocationSet,
    SealedSession, SealedSessionLayer, SessionHandle, DEFAULT_BOUND_LIFETIME, DEFAULT_CLOCK_SKEW,
    DEFAULT_MAX_LIFETIME,
};
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

/// The extractor every handler takes.
type Session = SealedSession<ShopSession>;

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
    /// Redis URL for revocations (`--redis`); `None`: no revocation.
    pub redis: Option<String>,
    /// Device binding (DBSC) at sign-in, with this bound-cookie lifetime;
    /// on by default over HTTPS, `None`: ordinary sessions only.
    pub device_binding: Option<Duration>,
}

/// Revocation, when the shop takes part in it: the set every request is
/// checked against, and what keeps it in sync with the other copies.
pub struct Revocations {
    /// Checked by the codec after authentication.
    pub set: Arc<RevocationSet>,
    /// Writes and receives revocations through Redis.
    #[cfg(feature = "redis")]
    pub redis: Option<RedisRevocations>,
}

impl Revocations {
    /// A set that keeps entries as long as a session can live (the codec's
    /// default absolute lifetime plus the clock skew).
    pub fn in_memory() -> Self {
        Revocations {
            set: Arc::new(RevocationSet::new(
                DEFAULT_MAX_LIFETIME + DEFAULT_CLOCK_SKEW,
            )),
            #[cfg(feature = "redis")]
            redis: None,
        }
    }

    /// Applies `revocation` here and, with Redis, on every other copy. A
    /// Redis outage is logged: the revocation holds here and is sent once
    /// Redis is back.
    async fn revoke(&self, revocation: Revocation) {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            if let Err(err) = redis.revoke(&revocation).await {
                log::warn!("revocation not yet shared with the other servers: {err}");
            }
            return;
        }
        if let Err(err) = self.set.apply(&revocation) {
            log::warn!("revocation refused: {err}");
        }
    }
}

/// Compression dictionaries (`--dict`, `--open-only-dict`).
#[derive(Debug, Default)]
pub struct Dictionaries {
    /// The first one compresses new sessions; all of them open.
    pub compress: Vec<Dictionary>,
    /// Open only, never compress.
    pub open_only: Vec<Dictionary>,
}

impl Dictionaries {
    /// Reads every file once.
    pub fn load(compress: &[String], open_only: &[String]) -> Result<Self, String> {
        let read = |path: &String| {
            std::fs::read(path)
                .map_err(|err| format!("cannot read dictionary {path}: {err}"))
                .and_then(|bytes| {
                    Dictionary::from_bytes(bytes).map_err(|err| format!("dictionary {path}: {err}"))
                })
        };
        Ok(Dictionaries {
            compress: compress.iter().map(read).collect::<Result<_, _>>()?,
            open_only: open_only.iter().map(read).collect::<Result<_, _>>()?,
        })
    }
}

/// Shared state of the handlers, and the session layer.
pub struct Shop {
    sessions: SealedSessionLayer<ShopSession>,
    revocations: Option<Revocations>,
    primary_key_id: KeyId,
    site: String,
    secure: bool,
    server_id: String,
    bind_devices: bool,
}

impl Shop {
    /// Builds the codec and the session layer from the configuration and
    /// key ring.
    pub fn new(config: &Config, ring: KeyRing) -> Result<Self, Error> {
        Self::with_revocations(config, ring, None)
    }

    /// [`Shop::new`], checking (and, on sign-out, writing) revocations.
    pub fn with_revocations(
        config: &Config,
        ring: KeyRing,
        revocations: Option<Revocations>,
    ) -> Result<Self, Error> {
        Self::with_dictionaries(config, ring, revocations, Dictionaries::default())
    }

    /// [`Shop::with_revocations`], compressing with `dictionaries`.
    pub fn with_dictionaries(
        config: &Config,
        ring: KeyRing,
        revocations: Option<Revocations>,
        dictionaries: Dictionaries,
    ) -> Result<Self, Error> {
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
        if let Some(revocations) = &revocations {
            builder = builder.revocations(revocations.set.clone());
        }
        if let Some(lifetime) = config.device_binding {
            builder = builder.device_binding(DeviceBinding::new().bound_lifetime(lifetime));
        }
        if !dictionaries.compress.is_empty() {
            builder = builder.dictionaries(dictionaries.compress);
        }
        if !dictionaries.open_only.is_empty() {
            builder = builder.open_only_dictionaries(dictionaries.open_only);
        }
        let codec = builder.build()?;
        let primary_key_id = codec.key_ring().primary_id();
        let sessions = SealedSessionLayer::new(codec).on_unsealable(|_, err| match err {
            Error::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the cart is full: remove something first\n",
            )
                .into_response(),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the session could not be saved\n",
            )
                .into_response(),
        });
        Ok(Shop {
            sessions,
            revocations,
            primary_key_id,
            site: config.site.clone(),
            secure: config.secure,
            server_id: config.server_id.clone(),
            bind_devices: config.device_binding.is_some(),
        })
    }
}

/// The routes. Every path answers on every host; `/` shows the page of the
/// subdomain the request was sent to.
pub fn router(shop: Arc<Shop>) -> Router {
    let sessions = shop.sessions.clone();
    Router::new()
        .route("/", get(page))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/sign-out-everywhere", post(sign_out_everywhere))
        .route("/cart/add", post(add_to_cart))
        .route("/api/state", get(api_state))
        .route("/api/sign-in", post(api_sign_in))
        .route("/api/cart", post(api_add_to_cart))
        .route("/api/account", get(api_account))
        .with_state(shop)
        .layer(sessions)
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
}

#[derive(Deserialize)]
struct ItemForm {
    item: String,
}

/// The answer to a form field that is not 1 to 64 characters long (once
/// trimmed).
type BadRequest = (StatusCode, &'static str);

fn back_to_page() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
}

fn field(text: &str, error: &'static str) -> Result<String, BadRequest> {
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return Err((StatusCode::BAD_REQUEST, error));
    }
    Ok(text.to_owned())
}

/// Signs the user in: a new session (a new id, so an id planted before
/// sign-in never becomes a signed-in one) owned by the user.
/// Over HTTPS, it also asks a browser with device-bound sessions (DBSC) to
/// bind the new session to a key that never leaves the device.
fn sign_in_as(shop: &Shop, session: &Session, form: &SignInForm) -> Result<(), BadRequest> {
    let user = field(&form.username, "a user name has 1 to 64 characters\n")?;
    session.renew_for(user.clone());
    session.update(|s| s.user = Some(user));
    if shop.bind_devices {
        session.bind_device();
    }
    Ok(())
}

fn add_item(session: &Session, form: &ItemForm) -> Result<(), BadRequest> {
    let item = field(&form.item, "an item has 1 to 64 characters\n")?;
    session.update(|s| s.cart.push(item));
    Ok(())
}

async fn sign_in(
    State(shop): State<Arc<Shop>>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Result<Response, BadRequest> {
    sign_in_as(&shop, &session, &form)?;
    Ok(back_to_page())
}

async fn sign_out(State(shop): State<Arc<Shop>>, session: Session) -> Response {
    // With revocation, a copy of this cookie stops working everywhere too.
    if let (Some(revocations), Some(identity)) = (&shop.revocations, session.identity()) {
        let at = now_unix();
        let revocation = Revocation::Session {
            id: identity.session_id,
            at,
        };
        revocations.revoke(revocation).await;
    }
    // Expires the cookie and any chunks, with the same Domain and Path,
    // even one this server cannot open.
    session.purge();
    back_to_page()
}

/// Ends every session of the signed-in user, on every server (only with
/// `--redis`; 404 otherwise).
async fn sign_out_everywhere(State(shop): State<Arc<Shop>>, session: Session) -> Response {
    let Some(revocations) = &shop.revocations else {
        return (
            StatusCode::NOT_FOUND,
            "revocation is off: start with --redis\n",
        )
            .into_response();
    };
    if let Some(subject) = session.identity().and_then(|i| i.subject) {
        // Every session created up to this second, this one included (a
        // sign-in in the same second is ended too: safer than letting one
        // started just before the click survive).
        let revocation = Revocation::Subject {
            subject,
            before: now_unix().saturating_add(1),
        };
        revocations.revoke(revocation).await;
    }
    session.purge();
    back_to_page()
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn add_to_cart(session: Session, Form(form): Form<ItemForm>) -> Result<Response, BadRequest> {
    add_item(&session, &form)?;
    Ok(back_to_page())
}

/// The state as JSON. `key_id` and `session_id` describe the cookie the
/// request carried (null: no valid cookie), not the one the response sets.
fn state_json(shop: &Shop, session: &SessionHandle<ShopSession>) -> Response {
    let ShopSession { user, cart } = session.get().unwrap_or_default();
    Json(serde_json::json!({
        "user": user,
        "cart": cart,
        "server_id": shop.server_id,
        "session_id": session.identity().map(|i| i.session_id.to_string()),
        "bound": session.identity().is_some_and(|i| i.bound),
        "key_id": session.info().map(|i| i.key_id.to_string()),
        "primary_key_id": shop.primary_key_id.to_string(),
    }))
    .into_response()
}

/// A sensitive page: when the shop binds sessions to devices, it answers
/// only a device-bound session (a copied cookie, or a browser without DBSC,
/// gets 403); otherwise any signed-in session.
async fn api_account(State(shop): State<Arc<Shop>>, session: Session) -> Response {
    let Some(user) = session.get().and_then(|s| s.user) else {
        return (StatusCode::UNAUTHORIZED, "sign in first\n").into_response();
    };
    let bound = session.identity().is_some_and(|i| i.bound);
    if shop.bind_devices && !bound {
        return (
            StatusCode::FORBIDDEN,
            "this page needs a session bound to this device (a browser with DBSC)\n",
        )
            .into_response();
    }
    Json(serde_json::json!({ "user": user, "bound": bound })).into_response()
}

async fn api_state(State(shop): State<Arc<Shop>>, session: Session) -> Response {
    state_json(&shop, &session)
}

async fn api_sign_in(
    State(shop): State<Arc<Shop>>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Result<Response, BadRequest> {
    sign_in_as(&shop, &session, &form)?;
    Ok(state_json(&shop, &session))
}

async fn api_add_to_cart(
    State(shop): State<Arc<Shop>>,
    session: Session,
    Form(form): Form<ItemForm>,
) -> Result<Response, BadRequest> {
    add_item(&session, &form)?;
    Ok(state_json(&shop, &session))
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

async fn page(State(shop): State<Arc<Shop>>, session: Session, headers: HeaderMap) -> Html<String> {
    let (site, port) = site_of(&shop, &headers);
    let session = session.get().unwrap_or_default();
    let scheme = if shop.secure { "https" } else { "http" };
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
    Html(html)
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

/// What the command line names besides the [`Config`]: the key file and
/// the dictionary files.
struct Files {
    keys: Option<String>,
    dictionaries: Vec<String>,
    open_only_dictionaries: Vec<String>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS.
    tls: Option<TlsFiles>,
}

/// Parses the command line (see the module documentation).
fn parse_args() -> Result<(Config, Files), String> {
    let mut listen = std::env::var("SHOP_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let mut domain = "shop.test".to_owned();
    let mut secure = true;
    let mut host_only = false;
    let mut server_id = "shop".to_owned();
    let mut keys_file = None;
    let mut redis = None;
    let mut dictionaries = Vec::new();
    let mut open_only_dictionaries = Vec::new();
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut bound_lifetime = None;
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
            "--redis" => redis = Some(value("--redis")?),
            "--dict" => dictionaries.push(value("--dict")?),
            "--open-only-dict" => open_only_dictionaries.push(value("--open-only-dict")?),
            "--tls-cert" => tls_cert = Some(value("--tls-cert")?),
            "--tls-key" => tls_key = Some(value("--tls-key")?),
            "--bound-lifetime" => {
                let text = value("--bound-lifetime")?;
                let secs: u64 = text
                    .parse()
                    .map_err(|_| format!("--bound-lifetime {text:?} is not a number of seconds"))?;
                bound_lifetime = Some(Duration::from_secs(secs));
            }
            other => return Err(format!("unknown argument {other:?}; see examples/shop.rs")),
        }
    }
    let listen = listen
        .parse()
        .map_err(|_| format!("--listen {listen:?} is not an address such as 127.0.0.1:8080"))?;
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    // Chromium binds sessions over HTTPS only: on by default there.
    let device_binding = match (bound_lifetime, &tls) {
        (Some(lifetime), _) => Some(lifetime),
        (None, Some(_)) => Some(DEFAULT_BOUND_LIFETIME),
        (None, None) => None,
    };
    let config = Config {
        listen,
        domain: (!host_only).then(|| domain.clone()),
        site: domain,
        secure,
        server_id,
        redis,
        device_binding,
    };
    if config.redis.is_some() && cfg!(not(feature = "redis")) {
        return Err(
            "--redis needs the redis feature: cargo run --example shop --features axum,dbsc,redis"
                .into(),
        );
    }
    let files = Files {
        keys: keys_file,
        dictionaries,
        open_only_dictionaries,
        tls,
    };
    Ok((config, files))
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

/// The revocation set and its Redis synchronization, with `--redis`.
#[cfg(feature = "redis")]
async fn connect_revocations(config: &Config) -> Option<Revocations> {
    use sealed_session::{RedisOptions, StartupPolicy};
    let url = config.redis.as_deref()?;
    let mut revocations = Revocations::in_memory();
    // A shop that cannot reach Redis still serves (with what it has loaded,
    // nothing at first) and catches up once Redis answers.
    let options = RedisOptions::new().startup(StartupPolicy::StartAndRetry);
    match RedisRevocations::connect(url, revocations.set.clone(), options).await {
        Ok(redis) => revocations.redis = Some(redis),
        Err(err) => {
            eprintln!("shop: --redis: {err}");
            std::process::exit(2);
        }
    }
    Some(revocations)
}

#[cfg(not(feature = "redis"))]
async fn connect_revocations(_config: &Config) -> Option<Revocations> {
    None
}

/// The certificate chain and private key files of `--tls-cert` and
/// `--tls-key` (PEM).
struct TlsFiles {
    cert: String,
    key: String,
}

/// A TLS handshake that has not finished by then is dropped, so a client
/// that connects and says nothing holds no resources for long.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls server configuration for `files`: TLS 1.2 and 1.3 from the
/// `ring` provider, HTTP/1.1 (the only protocol the shop serves) announced
/// over ALPN.
fn tls_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("--tls-cert {}: {err}", files.cert))?;
    if certs.is_empty() {
        return Err(format!("--tls-cert {}: no certificate in it", files.cert));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|err| format!("--tls-key {}: {err}", files.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|err| {
            format!(
                "--tls-cert {} with --tls-key {}: {err}",
                files.cert, files.key
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener for `axum::serve` that hands over connections once their TLS
/// handshake has finished. Handshakes run side by side, so a slow or silent
/// client does not hold up the others.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes: tokio::task::JoinSet<(
        Result<std::io::Result<TlsStream>, tokio::time::error::Elapsed>,
        SocketAddr,
    )>,
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

impl TlsListener {
    fn new(tcp: tokio::net::TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshakes: tokio::task::JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            let handshake = acceptor.accept(stream);
                            (tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await, peer)
                        });
                    }
                    // Out of file descriptors and the like: wait instead of
                    // spinning, as axum's own TCP listener does.
                    Err(err) => {
                        log::warn!("accept: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    match done {
                        Ok((Ok(Ok(stream)), peer)) => return (stream, peer),
                        Ok((Ok(Err(err)), peer)) => log::info!("TLS handshake with {peer}: {err}"),
                        Ok((Err(_), peer)) => log::info!("TLS handshake with {peer} timed out"),
                        Err(err) => log::warn!("TLS handshake task: {err}"),
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Resolves on SIGTERM (a rolling restart) or Ctrl-C: the server then
/// finishes the requests in flight and accepts no more.
async fn shutdown_signal() {
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
}

#[tokio::main]
async fn main() {
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Debug));
    let (config, files) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("shop: {message}");
            std::process::exit(2);
        }
    };
    let dictionaries = match Dictionaries::load(&files.dictionaries, &files.open_only_dictionaries)
    {
        Ok(dictionaries) => dictionaries,
        Err(message) => {
            eprintln!("shop: {message}");
            std::process::exit(2);
        }
    };
    let revocations = connect_revocations(&config).await;
    let shop = match load_keys(files.keys.as_deref())
        .and_then(|ring| Shop::with_dictionaries(&config, ring, revocations, dictionaries))
    {
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
    let tls = match files.tls.as_ref().map(tls_config).transpose() {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("shop: {message}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("shop: cannot listen on {}: {err}", config.listen);
            std::process::exit(1);
        }
    };
    let address = listener.local_addr().unwrap_or(config.listen);
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "shop listening on {scheme}://{address} (server id {}, primary key {}); \
         open {scheme}://{}:{}/",
        config.server_id,
        shop.primary_key_id,
        config.site,
        address.port()
    );
    let app = router(shop);
    let served = match tls {
        Some(tls) => {
            axum::serve(TlsListener::new(listener, tls), app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
    };
    if let Err(err) = served {
        eprintln!("shop: server error: {err}");
        std::process::exit(1);
    }
}
