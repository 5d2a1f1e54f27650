//! HTTP benchmark server: one route, `GET /cart`, that does to a session what
//! a typical request does, with the session kept by one of the stores a user
//! could pick. `benches/http/run.sh` starts it once per variant, checks the
//! answers (`check.py`) and drives it with `wrk` (`cookies.lua`).
//!
//! ```text
//! http-bench --variant NAME [--listen 127.0.0.1:0] [--redis redis://127.0.0.1:PORT]
//! http-bench --micro [--seconds N] [--only sealed|sealed-revocations] [--evict KB]
//! ```
//!
//! Every server also listens on a second port, announced after `stats` on
//! its first line: each connection there gets `SERVED TICKS` (requests
//! answered, the process's CPU time in clock ticks), which run.sh samples
//! every second of a measured run.
//!
//! `GET /cart` reads the session and answers
//! `visitor=V items=N last=SKU new=0|1`. `GET /cart?add=SKU` also adds an
//! item to the cart (the load script sends it on every fourth request of a
//! connection); the cart keeps its last `MAX_CART` items, so a session stays
//! the size of a typical one for the whole run instead of growing until it
//! no longer fits in a cookie. A request without a session (a client's
//! first) creates one from the next line of the typical corpus tier
//! (tests/data/corpus/sessions-typical.jsonl), so payloads are realistic.
//!
//! Variants (`--variant`):
//!
//! - `none`: no session; the answer describes a corpus line in memory (the
//!   ceiling).
//! - `none-cookie`: no session, but the bytes of one on the wire: a
//!   connection's first answer and every changing one set a cookie of a
//!   typical sealed session's size, which the client sends back on every
//!   request; nothing reads it. Over `none`, what carrying the cookie costs
//!   hyper and the kernel.
//! - `codec`: no layer; the handler calls the codec itself, as `--micro`
//!   measures it: `Codec::decode_fields` of the `Cookie` header on every
//!   request, `Codec::encode` when the cart changes (or a session is new),
//!   one `Set-Cookie` header per value. The layer's own cost is `sealed`
//!   minus this. It also times those calls: `GET /codec-time` answers
//!   their number and median and mean wall times, which run.sh compares
//!   with `--micro`.
//! - `sealed`: this crate's axum layer, `SealedSessionLayer<Session>`,
//!   without identity (`write_identity(false)`).
//! - `sealed-revocations`: the same with identity (the default) and a
//!   `RevocationSet` of 100,000 revoked session ids checked on every open.
//! - `tower-memory`: tower-sessions with its `MemoryStore`.
//! - `tower-redis`: tower-sessions with tower-sessions-redis-store (fred
//!   pool of 6 connections, as its documentation shows) on `--redis`.
//! - `private-cookie`: axum-extra's `PrivateCookieJar`, the session as JSON.
//! - `actix-none`: no session, on actix-web (the actix variants' ceiling).
//! - `actix-codec`: `codec` on actix-web.
//! - `actix-sealed`: this crate's actix-web middleware.
//! - `actix-cookie`: actix-session with `CookieSessionStore`.
//! - `actix-redis`: actix-session with `RedisSessionStore` on `--redis`.
//!
//! Every server runs one worker thread: the run script pins it to one core.
//! The axum variants use a current-thread tokio runtime, the actix ones
//! `HttpServer::workers(1)`.
//!
//! `--micro` measures, in this process, what the codec alone costs for the
//! same work with the configurations of `sealed` and `sealed-revocations`:
//! `Codec::decode` of a request's `Cookie` header and `Codec::encode` of the
//! session after an item was added, over every corpus line with its cart
//! full (`MAX_CART` added items), as the sessions are once the load has run
//! a few requests. `--evict KB` writes to every cache line of a KB-sized
//! buffer before each call, untimed, so the calls find cold caches as they
//! do in a server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sealed_session::{
    Codec, Key, KeyRing, RevocationSet, SessionHandle, SessionId, SetCookies, DEFAULT_CLOCK_SKEW,
    DEFAULT_MAX_LIFETIME,
};
use serde::Deserialize;

#[path = "../../../tests/common/corpus_session.rs"]
mod corpus_session;
use corpus_session::{Attr, CartItem, Session};

/// The cart keeps this many items (the oldest goes first).
const MAX_CART: usize = 4;
/// Revoked session ids in the `sealed-revocations` variant.
const REVOKED: usize = 100_000;
/// The key of the session value in the map-shaped stores.
const KEY: &str = "session";
/// The cookie name of the sealed variants and of the private cookie.
const COOKIE: &str = "session";

const VARIANTS: [&str; 13] = [
    "none",
    "none-cookie",
    "actix-none",
    "codec",
    "actix-codec",
    "sealed",
    "sealed-revocations",
    "tower-memory",
    "tower-redis",
    "private-cookie",
    "actix-sealed",
    "actix-cookie",
    "actix-redis",
];

/// The typical corpus tier, handed out one line after the other to new
/// sessions.
struct Corpus {
    sessions: Vec<Session>,
    next: AtomicUsize,
}

impl Corpus {
    fn load() -> Corpus {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/corpus/sessions-typical.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let sessions = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a corpus line"))
            .collect();
        Corpus {
            sessions,
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> &Session {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        &self.sessions[i]
    }

    fn new_session(&self) -> Session {
        self.pick().clone()
    }
}

#[derive(Deserialize)]
struct Add {
    add: Option<u64>,
}

/// Adds a typical cart item and keeps the last `MAX_CART`.
fn add_item(session: &mut Session, sku: u64) {
    let cart = session.cart.get_or_insert_with(Vec::new);
    cart.push(CartItem {
        sku_id: sku,
        spu_id: sku / 10,
        title: "Kindle Paperwhite 16GB".to_owned(),
        category: "readers".to_owned(),
        price: "941.50".to_owned(),
        count: 1,
        image: format!("https://img.shop.example.com/sku/{sku}/bench.jpg"),
        attrs: vec![
            Attr {
                name: "color".to_owned(),
                value: "black".to_owned(),
            },
            Attr {
                name: "storage".to_owned(),
                value: "16GB".to_owned(),
            },
        ],
        checked: true,
    });
    if cart.len() > MAX_CART {
        let extra = cart.len() - MAX_CART;
        cart.drain(..extra);
    }
}

/// The answer: enough of the session to check that it was read.
fn describe(session: &Session, new: bool) -> String {
    let cart = session.cart.as_deref().unwrap_or(&[]);
    let last = cart.last().map_or(0, |item| item.sku_id);
    format!(
        "visitor={} items={} last={last} new={}\n",
        session.visitor,
        cart.len(),
        u8::from(new)
    )
}

/// Requests answered so far, for the stats port (see [`serve_stats`]).
static SERVED: AtomicU64 = AtomicU64::new(0);

/// Called once per request by every handler, never inlined: `callgrind.sh`
/// divides the instructions it counts by the calls to this function, and
/// `run.sh` samples the count through the stats port.
#[inline(never)]
fn request_served() {
    SERVED.fetch_add(1, Ordering::Relaxed);
}

/// The stats port: every connection gets one line, `SERVED TICKS`, the
/// requests answered so far and this process's CPU time (utime + stime from
/// `/proc/self/stat`, in clock ticks), read at the same moment. `run.sh`
/// samples it every second during a measured run, so it can report the CPU
/// time per request of each one-second window (the host's noise comes in
/// bursts of seconds; see BENCHMARKS.md). Runs on its own thread, outside the
/// server's runtime; one short answer per second costs the server nothing
/// measurable.
fn serve_stats() -> SocketAddr {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("stats port");
    let address = listener.local_addr().expect("stats address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let served = SERVED.load(Ordering::Relaxed);
            let ticks = std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|stat| {
                    // Fields after the command name, which is in parentheses.
                    let rest = stat.rsplit_once(')')?.1;
                    let fields: Vec<&str> = rest.split_whitespace().collect();
                    let utime: u64 = fields.get(11)?.parse().ok()?;
                    let stime: u64 = fields.get(12)?.parse().ok()?;
                    Some(utime + stime)
                })
                .unwrap_or(0);
            let _ = writeln!(stream, "{served} {ticks}");
        }
    });
    address
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn key_ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([0x42; 32])]).expect("one key")
}

/// The codec of `sealed` (no identity) or `sealed-revocations` (identity
/// and 100,000 revoked session ids).
fn codec(revocations: bool) -> Codec {
    let builder = Codec::builder(COOKIE).key_ring(key_ring());
    if !revocations {
        return builder.write_identity(false).build().expect("codec");
    }
    let set = Arc::new(RevocationSet::new(
        DEFAULT_MAX_LIFETIME + DEFAULT_CLOCK_SKEW,
    ));
    let now = now_unix();
    let mut bytes = [0u8; 16];
    for _ in 0..REVOKED {
        rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
        set.revoke_session(SessionId::from_bytes(bytes), now);
    }
    assert_eq!(set.len(), REVOKED);
    builder.revocations(set).build().expect("codec")
}

/// What the sealed variants (axum and actix) do with the handle.
fn sealed_request(session: &SessionHandle<Session>, corpus: &Corpus, add: Option<u64>) -> String {
    let existing = match add {
        Some(sku) => session.update_existing(|s| {
            add_item(s, sku);
            describe(s, false)
        }),
        None => session.read(|s| s.map(|s| describe(s, false))),
    };
    existing.unwrap_or_else(|| {
        let fresh = corpus.new_session();
        let body = describe(&fresh, true);
        session.set(fresh);
        body
    })
}

/// The wall time of each `Codec::decode_fields` and `Codec::encode` call
/// of the `codec` variants, in ns: `GET /codec-time` answers their medians
/// and means since the previous `GET /codec-time` (run.sh asks before and
/// after the measured run and compares with `--micro`, the same calls in a
/// loop). Medians, because a call that the scheduler interrupts is timed
/// with the interruption.
static DECODE_NS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static ENCODE_NS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Runs `f`, recording its wall time in `times`.
fn timed<R>(times: &Mutex<Vec<u64>>, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let result = f();
    let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    times
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(elapsed);
    result
}

/// The answer of `GET /codec-time`; starts the next interval.
fn codec_time() -> String {
    let mut answer = String::new();
    for (name, times) in [("decode", &DECODE_NS), ("encode", &ENCODE_NS)] {
        let mut times = std::mem::take(&mut *times.lock().unwrap_or_else(PoisonError::into_inner));
        times.sort_unstable();
        let calls = times.len();
        let median = times.get(calls / 2).copied().unwrap_or(0);
        let mean = times.iter().sum::<u64>() / (calls as u64).max(1);
        answer.push_str(&format!(
            "codec_{name}s={calls} codec_{name}_median_ns={median} codec_{name}_mean_ns={mean} "
        ));
    }
    answer.push('\n');
    answer
}

/// `Codec::decode_fields`, never inlined, so that callgrind.sh finds its
/// instructions under this name.
#[inline(never)]
fn decode_session<'h, H: AsRef<[u8]> + 'h>(
    codec: &Codec,
    cookie_fields: impl IntoIterator<Item = &'h H>,
) -> sealed_session::Result<sealed_session::Opened<Session>> {
    codec.decode_fields(cookie_fields)
}

/// `Codec::encode`, never inlined (see `decode_session`).
#[inline(never)]
fn encode_session(codec: &Codec, session: &Session) -> sealed_session::Result<SetCookies> {
    codec.encode(session)
}

/// What the `codec` variants (axum and actix) do without the layer: the
/// codec's work as `--micro` measures it, in the server. Returns the answer
/// and the `Set-Cookie` values to send, if any.
fn codec_request<'h, H: AsRef<[u8]> + 'h>(
    codec: &Codec,
    corpus: &Corpus,
    cookie_fields: impl IntoIterator<Item = &'h H>,
    add: Option<u64>,
) -> Result<(String, Option<SetCookies>), sealed_session::Error> {
    let encode = |session: &Session| timed(&ENCODE_NS, || encode_session(codec, session));
    let decoded = timed(&DECODE_NS, || decode_session(codec, cookie_fields));
    match decoded {
        Ok(opened) => {
            let mut session = opened.session;
            let Some(sku) = add else {
                return Ok((describe(&session, false), None));
            };
            add_item(&mut session, sku);
            Ok((describe(&session, false), Some(encode(&session)?)))
        }
        Err(_) => {
            let fresh = corpus.new_session();
            Ok((describe(&fresh, true), Some(encode(&fresh)?)))
        }
    }
}

mod axum_server {
    use super::*;
    use axum::extract::{FromRef, Query, Request, State};
    use axum::http::header;
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::Router;
    use axum_extra::extract::cookie::{Cookie, Key as CookieKey, PrivateCookieJar, SameSite};
    use sealed_session::{SealedSession, SealedSessionLayer};
    use tower_sessions::{MemoryStore, SessionManagerLayer, SessionStore};

    type Shared = State<Arc<Corpus>>;

    async fn none(State(corpus): Shared, Query(_add): Query<Add>) -> String {
        request_served();
        describe(corpus.pick(), false)
    }

    #[derive(Clone)]
    struct CarriedCookie {
        corpus: Arc<Corpus>,
        set_cookie: HeaderValue,
    }

    /// `none-cookie`: no session, but the same bytes on the wire as
    /// `codec`: a connection's first answer and every fourth one set a
    /// cookie of a typical sealed session's size (a real one, sealed once
    /// at start), which the client sends back on every request; nothing
    /// reads it. What carrying the cookie costs hyper and the kernel.
    async fn none_cookie(
        State(state): State<CarriedCookie>,
        Query(q): Query<Add>,
        request: Request,
    ) -> Response {
        request_served();
        let first = !request.headers().contains_key(header::COOKIE);
        let mut response = describe(state.corpus.pick(), first).into_response();
        if first || q.add.is_some() {
            response
                .headers_mut()
                .append(header::SET_COOKIE, state.set_cookie.clone());
        }
        response
    }

    async fn sealed(
        State(corpus): Shared,
        session: SealedSession<Session>,
        Query(q): Query<Add>,
    ) -> String {
        request_served();
        sealed_request(&session, &corpus, q.add)
    }

    #[derive(Clone)]
    struct CodecState {
        corpus: Arc<Corpus>,
        codec: Arc<Codec>,
    }

    async fn codec_only(
        State(state): State<CodecState>,
        Query(q): Query<Add>,
        request: Request,
    ) -> Response {
        request_served();
        let fields = request.headers().get_all(header::COOKIE);
        let Ok((body, cookies)) = codec_request(&state.codec, &state.corpus, fields, q.add) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut response = body.into_response();
        for value in cookies.iter().flatten() {
            let Ok(value) = HeaderValue::from_str(value) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    }

    async fn tower(
        State(corpus): Shared,
        session: tower_sessions::Session,
        Query(q): Query<Add>,
    ) -> Result<String, StatusCode> {
        request_served();
        let failed = |_| StatusCode::INTERNAL_SERVER_ERROR;
        match session.get::<Session>(KEY).await.map_err(failed)? {
            Some(mut s) => {
                if let Some(sku) = q.add {
                    add_item(&mut s, sku);
                    session.insert(KEY, &s).await.map_err(failed)?;
                }
                Ok(describe(&s, false))
            }
            None => {
                let fresh = corpus.new_session();
                session.insert(KEY, &fresh).await.map_err(failed)?;
                Ok(describe(&fresh, true))
            }
        }
    }

    #[derive(Clone)]
    struct PrivateState {
        corpus: Arc<Corpus>,
        key: CookieKey,
    }

    impl FromRef<PrivateState> for CookieKey {
        fn from_ref(state: &PrivateState) -> CookieKey {
            state.key.clone()
        }
    }

    fn private_cookie(json: String) -> Cookie<'static> {
        Cookie::build((COOKIE, json))
            .path("/")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .build()
    }

    async fn private(
        State(state): State<PrivateState>,
        jar: PrivateCookieJar,
        Query(q): Query<Add>,
    ) -> Result<(PrivateCookieJar, String), StatusCode> {
        request_served();
        let opened = jar
            .get(COOKIE)
            .and_then(|c| serde_json::from_str::<Session>(c.value()).ok());
        let (session, new, changed) = match opened {
            Some(mut s) => {
                let changed = q.add.is_some();
                if let Some(sku) = q.add {
                    add_item(&mut s, sku);
                }
                (s, false, changed)
            }
            None => (state.corpus.new_session(), true, true),
        };
        let body = describe(&session, new);
        if !changed {
            return Ok((jar, body));
        }
        let json =
            serde_json::to_string(&session).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok((jar.add(private_cookie(json)), body))
    }

    fn tower_router<S: SessionStore + Clone>(corpus: Arc<Corpus>, store: S) -> Router {
        Router::new()
            .route("/cart", get(tower))
            .with_state(corpus)
            .layer(SessionManagerLayer::new(store))
    }

    pub async fn router(variant: &str, corpus: Arc<Corpus>, redis: Option<&str>) -> Router {
        match variant {
            "none" => Router::new().route("/cart", get(none)).with_state(corpus),
            "none-cookie" => {
                let mut session = corpus.new_session();
                for k in 0..MAX_CART as u64 {
                    add_item(&mut session, 4 * k + 1);
                }
                let sealed = codec(false).encode(&session).expect("encode");
                let value = sealed.iter().next().expect("one Set-Cookie value");
                let set_cookie = HeaderValue::from_str(value).expect("header value");
                Router::new()
                    .route("/cart", get(none_cookie))
                    .with_state(CarriedCookie { corpus, set_cookie })
            }
            "codec" => Router::new()
                .route("/cart", get(codec_only))
                .route("/codec-time", get(|| async { codec_time() }))
                .with_state(CodecState {
                    corpus,
                    codec: Arc::new(codec(false)),
                }),
            "sealed" | "sealed-revocations" => Router::new()
                .route("/cart", get(sealed))
                .with_state(corpus)
                .layer(SealedSessionLayer::<Session>::new(codec(
                    variant == "sealed-revocations",
                ))),
            "tower-memory" => tower_router(corpus, MemoryStore::default()),
            "tower-redis" => {
                use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
                let url = redis.expect("--redis URL");
                let config = Config::from_url(url).expect("redis URL");
                let pool = Pool::new(config, None, None, None, 6).expect("fred pool");
                let _connection = pool.connect();
                pool.wait_for_connect().await.expect("redis connection");
                tower_router(corpus, tower_sessions_redis_store::RedisStore::new(pool))
            }
            "private-cookie" => {
                Router::new()
                    .route("/cart", get(private))
                    .with_state(PrivateState {
                        corpus,
                        key: CookieKey::generate(),
                    })
            }
            other => unreachable!("not an axum variant: {other}"),
        }
    }

    pub fn serve(variant: &str, listen: SocketAddr, redis: Option<&str>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async {
            let app = router(variant, Arc::new(Corpus::load()), redis).await;
            let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
            announce(variant, listener.local_addr().expect("address"));
            axum::serve(listener, app).await.expect("server");
        });
    }
}

mod actix_server {
    use super::*;
    use actix_session::config::CookieContentSecurity;
    use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
    use actix_session::SessionMiddleware;
    use actix_web::cookie::Key as CookieKey;
    use actix_web::http::header;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use sealed_session::actix::{SealedSession, SealedSessionMiddleware};

    async fn none(corpus: web::Data<Corpus>, _add: web::Query<Add>) -> String {
        request_served();
        describe(corpus.pick(), false)
    }

    async fn sealed(
        corpus: web::Data<Corpus>,
        session: SealedSession<Session>,
        q: web::Query<Add>,
    ) -> String {
        request_served();
        sealed_request(&session, &corpus, q.add)
    }

    async fn codec_only(
        corpus: web::Data<Corpus>,
        codec: web::Data<Codec>,
        q: web::Query<Add>,
        request: HttpRequest,
    ) -> HttpResponse {
        request_served();
        let fields = request.headers().get_all(header::COOKIE);
        let Ok((body, cookies)) = codec_request(&codec, &corpus, fields, q.add) else {
            return HttpResponse::InternalServerError().finish();
        };
        let mut response = HttpResponse::Ok();
        for value in cookies.iter().flatten() {
            response.append_header((header::SET_COOKIE, value));
        }
        response.body(body)
    }

    async fn session_store(
        corpus: web::Data<Corpus>,
        session: actix_session::Session,
        q: web::Query<Add>,
    ) -> HttpResponse {
        request_served();
        let result = match session.get::<Session>(KEY) {
            Ok(Some(mut s)) => match q.add {
                Some(sku) => {
                    add_item(&mut s, sku);
                    session.insert(KEY, &s).map(|()| describe(&s, false))
                }
                None => Ok(describe(&s, false)),
            },
            Ok(None) => {
                let fresh = corpus.new_session();
                session.insert(KEY, &fresh).map(|()| describe(&fresh, true))
            }
            Err(_) => return HttpResponse::InternalServerError().finish(),
        };
        match result {
            Ok(body) => HttpResponse::Ok().body(body),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }

    fn middleware<S: SessionStore>(store: S) -> SessionMiddleware<S> {
        SessionMiddleware::builder(store, CookieKey::generate())
            .cookie_name(COOKIE.to_owned())
            .cookie_content_security(CookieContentSecurity::Private)
            .build()
    }

    pub fn serve(variant: &str, listen: SocketAddr, redis: Option<&str>) {
        let listener = std::net::TcpListener::bind(listen).expect("bind");
        let address = listener.local_addr().expect("address");
        let corpus = web::Data::new(Corpus::load());
        let variant = variant.to_owned();
        let redis = redis.map(str::to_owned);
        actix_web::rt::System::new().block_on(async move {
            // One `HttpServer` per variant: the apps have different types.
            macro_rules! run {
                ($app:expr) => {{
                    let server = HttpServer::new($app)
                        .workers(1)
                        .shutdown_timeout(1)
                        .listen(listener)
                        .expect("listen");
                    announce(&variant, address);
                    server.run().await.expect("server");
                }};
            }
            match variant.as_str() {
                "actix-none" => run!(move || App::new()
                    .app_data(corpus.clone())
                    .route("/cart", web::get().to(none))),
                "actix-codec" => {
                    let codec = web::Data::new(codec(false));
                    run!(move || App::new()
                        .app_data(corpus.clone())
                        .app_data(codec.clone())
                        .route("/cart", web::get().to(codec_only))
                        .route("/codec-time", web::get().to(|| async { codec_time() })))
                }
                "actix-sealed" => {
                    let sealed_middleware = SealedSessionMiddleware::<Session>::new(codec(false));
                    run!(move || App::new()
                        .app_data(corpus.clone())
                        .wrap(sealed_middleware.clone())
                        .route("/cart", web::get().to(sealed)))
                }
                "actix-cookie" => run!(move || App::new()
                    .app_data(corpus.clone())
                    .wrap(middleware(CookieSessionStore::default()))
                    .route("/cart", web::get().to(session_store))),
                "actix-redis" => {
                    let store = RedisSessionStore::new(redis.expect("--redis URL"))
                        .await
                        .expect("redis connection");
                    run!(move || App::new()
                        .app_data(corpus.clone())
                        .wrap(middleware(store.clone()))
                        .route("/cart", web::get().to(session_store)))
                }
                other => unreachable!("not an actix variant: {other}"),
            }
        });
    }
}

fn announce(variant: &str, address: SocketAddr) {
    let stats = serve_stats();
    println!("http-bench {variant} listening on http://{address} stats {stats}");
}

/// Median of `rounds` timings of `f` over every item, in ns per item. With
/// a non-empty `evict`, every call is preceded by a write to each cache line
/// of it, untimed: the caches a call finds are then about as cold as in a
/// server, where the kernel's network stack and the runtime run on the same
/// core between two requests (`--evict KB`).
fn median_ns<I>(items: &[I], rounds: usize, evict: &mut [u8], mut f: impl FnMut(&I)) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            if evict.is_empty() {
                let start = Instant::now();
                for item in items {
                    f(item);
                }
                return start.elapsed().as_nanos() as f64 / items.len() as f64;
            }
            let mut timed = std::time::Duration::ZERO;
            for item in items {
                for line in evict.chunks_mut(64) {
                    line[0] = line[0].wrapping_add(1);
                }
                std::hint::black_box(&mut *evict);
                let start = Instant::now();
                f(item);
                timed += start.elapsed();
            }
            timed.as_nanos() as f64 / items.len() as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// `--micro`: the codec's cost for one request's session work, for both
/// configurations or only the one named by `only`.
fn micro(seconds: u64, only: Option<&str>, evict_kb: usize) {
    let mut evict = vec![0u8; evict_kb * 1024];
    let corpus = Corpus::load();
    let configurations = [("sealed", false), ("sealed-revocations", true)];
    for (name, revocations) in configurations {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        let codec = codec(revocations);
        // The sessions as the server holds them once the load has run a
        // while: a corpus line whose cart is full of added items. Decode
        // opens those; encode seals one after a further add.
        let full: Vec<Session> = corpus
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut s = s.clone();
                for k in 0..MAX_CART as u64 {
                    add_item(&mut s, (i as u64 % 64 + 1) * 100_000_000 + 4 * k);
                }
                s
            })
            .collect();
        let headers: Vec<String> = full
            .iter()
            .map(|s| {
                let set_cookie = codec.encode(s).expect("encode");
                let pair = set_cookie.iter().next().expect("one value");
                format!("theme=dark; {}", pair.split(';').next().expect("pair"))
            })
            .collect();
        let changed: Vec<Session> = full
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut s = s.clone();
                add_item(
                    &mut s,
                    (i as u64 % 64 + 1) * 100_000_000 + 4 * MAX_CART as u64,
                );
                s
            })
            .collect();
        // Warm up, and size the rounds to the time asked for.
        let start = Instant::now();
        for h in &headers {
            std::hint::black_box(codec.decode::<Session>(h).expect("decode"));
        }
        for s in &changed {
            std::hint::black_box(codec.encode(s).expect("encode"));
        }
        let per_round = start.elapsed().as_secs_f64().max(1e-6);
        let rounds = ((seconds as f64 / per_round) as usize).clamp(5, 1001) | 1;
        let decode = median_ns(&headers, rounds, &mut evict, |h| {
            std::hint::black_box(codec.decode::<Session>(h).expect("decode"));
        });
        let encode = median_ns(&changed, rounds, &mut evict, |s| {
            std::hint::black_box(codec.encode(s).expect("encode"));
        });
        println!(
            "micro {name} decode_ns={decode:.0} encode_ns={encode:.0} per_request_ns={:.0} rounds={rounds}",
            decode + encode / 4.0
        );
    }
}

fn main() {
    let mut variant = None;
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut redis = None;
    let mut micro_seconds = None;
    let mut only = None;
    let mut evict_kb = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--variant" => variant = Some(value()),
            "--listen" => listen = value().parse().unwrap_or_else(|_| usage("bad --listen")),
            "--redis" => redis = Some(value()),
            "--micro" => micro_seconds = Some(micro_seconds.unwrap_or(4)),
            "--seconds" => {
                micro_seconds = Some(value().parse().unwrap_or_else(|_| usage("bad --seconds")))
            }
            "--only" => only = Some(value()),
            "--evict" => evict_kb = value().parse().unwrap_or_else(|_| usage("bad --evict")),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if let Some(seconds) = micro_seconds {
        return micro(seconds, only.as_deref(), evict_kb);
    }
    let variant = variant.unwrap_or_else(|| usage("--variant is required"));
    match variant.as_str() {
        v if v.starts_with("actix-") && VARIANTS.contains(&v) => {
            actix_server::serve(v, listen, redis.as_deref())
        }
        v if VARIANTS.contains(&v) => axum_server::serve(v, listen, redis.as_deref()),
        _ => usage(&format!("unknown variant {variant:?}")),
    }
}

fn usage(message: &str) -> ! {
    eprintln!(
        "http-bench: {message}\nusage: http-bench --variant {{{}}} [--listen ADDR] [--redis URL]\n       http-bench --micro [--seconds N] [--only sealed|sealed-revocations] [--evict KB]",
        VARIANTS.join("|")
    );
    std::process::exit(2)
}
