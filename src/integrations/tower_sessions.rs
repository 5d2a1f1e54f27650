//! tower-sessions 0.14: a layer that backs [`tower_sessions_core::Session`]
//! by the sealed cookie, so that crates built on it (axum-login for
//! sign-in, axum-messages for flash messages) keep the whole session in the
//! browser, sealed with the codec's key ring, compressed and size-checked.
//!
//! Usage and the differences from a server-side store are documented on
//! [`SealedSessionManagerLayer`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::header::COOKIE;
use http::{HeaderMap, Request, StatusCode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use tower_layer::Layer;
use tower_service::Service;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store;
use tower_sessions_core::{Expiry, Session, SessionStore};

use crate::codec::{now_unix, Codec, Opened};
use crate::error::{Error, Result};
use crate::integrations::axum::request_host;
use crate::integrations::response_policy::{self, Failure, UNSEALABLE_BODY};
use crate::integrations::session::{ResealPolicy, SessionHandle, SessionSettings};

/// What the layer answers when the session cannot be sealed: it receives
/// the handler's response and the error.
type OnUnsealable = Arc<dyn Fn(Response, &Error) -> Response + Send + Sync>;

/// The tower layer that backs each request's `tower_sessions::Session`
/// (tower-sessions 0.14) by the sealed cookie. Build it once; cloning is
/// cheap.
///
/// The session record (its id, its data map and its expiry date) is what
/// travels in the cookie. Per request, the layer:
///
/// 1. opens the request's cookie into a store that lives for this request
///    only, and puts a `Session` backed by it into the request extensions
///    (where axum-login, axum-messages and the `Session` extractor find it);
/// 2. after the handler, saves the session if it was changed, as
///    tower-sessions' own manager does, into that store;
/// 3. writes the `Set-Cookie` values with the response policy of every
///    adapter of the crate (as [`SealedSessionLayer`](crate::SealedSessionLayer)):
///    a seal when the record changed (a new id after `cycle_id` is a
///    change), the removal of the cookie and every chunk after `delete` or
///    `flush`, one `Set-Cookie` field per value, `Vary: Cookie` when the
///    session was read, `Cache-Control: private, no-store` on a response that
///    sets the cookie, and nothing on a 5xx response except a removal.
///
/// The cookie is opened before the handler runs (when the request carries
/// one): `Session` takes the record id up front, and its synchronous
/// `Session::id` must return the id that is in the cookie. A request without
/// the cookie costs a scan of the `Cookie` header. Everything else is the
/// crate's [`SessionHandle`](crate::SessionHandle): writes only when the
/// record's JSON changed, re-seal per [`ResealPolicy`], clearing of invalid
/// cookies per [`SessionSettings::clear_invalid_cookies`], a 500 (or
/// [`SealedSessionManagerLayer::on_unsealable`]) for a session larger than the
/// cookie budget.
///
/// ```
/// use axum::{routing::get, Router};
/// use axum_messages::{Messages, MessagesManagerLayer};
/// use sealed_session::{Codec, SealedSessionManagerLayer};
/// use tower_sessions_core::Session; // `tower_sessions::Session` is the same type
///
/// async fn visit(session: Session, messages: Messages) -> String {
///     let visits: u64 = session.get("visits").await.ok().flatten().unwrap_or(0);
///     session.insert("visits", visits + 1).await.ok();
///     messages.info("counted");
///     format!("visit {}", visits + 1)
/// }
///
/// let codec = Codec::builder("session").development_key().build()?;
/// let app: Router = Router::new()
///     .route("/", get(visit))
///     .layer(MessagesManagerLayer)
///     // Outermost: every layer that uses `Session` sits inside it.
///     .layer(SealedSessionManagerLayer::new(codec));
/// # Ok::<(), sealed_session::Error>(())
/// ```
///
/// # With axum-login
///
/// axum-login's `AuthManagerLayer` brings its own tower-sessions manager and
/// server-side store. With the sealed cookie, wrap the routes in its
/// `AuthManager` instead, inside this layer:
///
/// ```
/// use axum::Router;
/// use axum_login::{AuthManager, AuthnBackend};
/// use sealed_session::{Codec, SealedSessionManagerLayer};
///
/// fn with_sign_in<B: AuthnBackend + 'static>(app: Router, backend: B, codec: Codec) -> Router {
///     app.layer(tower_layer::layer_fn(move |routes| {
///         AuthManager::new(routes, backend.clone(), "axum-login.data")
///     }))
///     .layer(SealedSessionManagerLayer::new(codec))
/// }
/// ```
///
/// # What differs from a server-side store
///
/// - **One session cannot be revoked.** `Session::delete`, `flush` and
///   `cycle_id` remove or replace the cookie in this browser only; a copy of
///   the cookie taken earlier still opens until it expires. Signing out
///   everywhere means rotating the key ring (every session ends), or keeping
///   a server-side deny list of ids.
/// - **The record id is only an identifier inside the cookie.** No server
///   looks a session up by it; two cookies may even carry the same id (a
///   copy and a later change of it). Do not use it as a key to server-side
///   state that must be consistent with the session.
/// - **Parallel requests: the last response wins.** Each response carries the
///   complete record; when two requests change the session at once, the
///   browser keeps the `Set-Cookie` it receives last and the other change is
///   lost (a flash message, or a sign-in racing a sign-out).
/// - **The cookie's lifetime is the codec's.** The cookie's `Max-Age` is the
///   codec's `max_age`, whatever the session's `Expiry` says; the record's
///   expiry date (`Session::expiry_date`, two weeks by default) is checked in
///   addition when the cookie is opened, so the shorter of the two ends the
///   session. `Expiry::OnSessionEnd` does not make a browser-session cookie.
/// - **Size.** The whole record must fit in the cookie budget (see
///   [`Codec`](crate::Codec)); a session that outgrows it is not written, and
///   the response is a 500 unless
///   [`on_unsealable`](SealedSessionManagerLayer::on_unsealable) says
///   otherwise.
///
/// # Configuration
///
/// ```
/// use sealed_session::{Codec, ResealPolicy, SealedSessionManagerLayer};
/// use tower_sessions_core::Expiry;
/// let layer = SealedSessionManagerLayer::new(Codec::builder("session").development_key().build()?)
///     .reseal_policy(ResealPolicy::NavigationsOnly)
///     .expiry(Expiry::OnInactivity(time::Duration::hours(8)));
/// assert_eq!(layer.settings().codec().name(), "session");
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct SealedSessionManagerLayer {
    settings: SessionSettings,
    expiry: Option<Expiry>,
    on_unsealable: OnUnsealable,
}

impl fmt::Debug for SealedSessionManagerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionManagerLayer")
            .field("settings", &self.settings)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl SealedSessionManagerLayer {
    /// A layer for sessions sealed by `codec`, with default
    /// [`SessionSettings`] and tower-sessions' default expiry (two weeks
    /// after the last change, within the codec's `max_age`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sealed_session::{Codec, SealedSessionManagerLayer};
    /// let codec = Arc::new(Codec::builder("session").development_key().build()?);
    /// let layer = SealedSessionManagerLayer::new(Arc::clone(&codec));
    /// assert_eq!(layer.settings().codec().name(), codec.name());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn new(codec: impl Into<Arc<Codec>>) -> Self {
        Self::with_settings(SessionSettings::new(codec))
    }

    /// A layer with the given settings (re-seal policy, clearing of invalid
    /// cookies, warning interval).
    ///
    /// ```
    /// use sealed_session::{Codec, SealedSessionManagerLayer, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("session").development_key().build()?)
    ///     .clear_invalid_cookies(true);
    /// let layer = SealedSessionManagerLayer::with_settings(settings);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn with_settings(settings: SessionSettings) -> Self {
        SealedSessionManagerLayer {
            settings,
            expiry: None,
            on_unsealable: Arc::new(|_, _| unsealable_response()),
        }
    }

    /// Shorthand for [`SessionSettings::reseal_policy`].
    ///
    /// ```
    /// use sealed_session::{Codec, ResealPolicy, SealedSessionManagerLayer};
    /// let layer = SealedSessionManagerLayer::new(Codec::builder("session").development_key().build()?)
    ///     .reseal_policy(ResealPolicy::NavigationsOnly);
    /// assert_eq!(layer.settings().policy(), ResealPolicy::NavigationsOnly);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn reseal_policy(mut self, policy: ResealPolicy) -> Self {
        self.settings = self.settings.reseal_policy(policy);
        self
    }

    /// The expiry each request's `Session` starts with (what
    /// `SessionManagerLayer::with_expiry` sets in tower-sessions). It sets
    /// the record's expiry date, which is checked when the cookie is opened;
    /// the cookie itself lives for the codec's `max_age` at most, so an
    /// expiry beyond it is cut short, and `Expiry::OnSessionEnd` means the
    /// default two weeks.
    ///
    /// ```
    /// use sealed_session::{Codec, SealedSessionManagerLayer};
    /// use tower_sessions_core::Expiry;
    /// let layer = SealedSessionManagerLayer::new(Codec::builder("session").development_key().build()?)
    ///     .expiry(Expiry::OnInactivity(time::Duration::minutes(30)));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// What to answer when the session cannot be sealed (it exceeds the
    /// cookie budget, or the request's host is outside the cookie domain).
    /// `f` gets the handler's response and the error (which never holds
    /// session content); the default answers 500. The error is logged
    /// either way.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::response::IntoResponse;
    /// use sealed_session::{Codec, SealedSessionManagerLayer};
    /// let layer = SealedSessionManagerLayer::new(Codec::builder("session").development_key().build()?)
    ///     .on_unsealable(|_response, _err| {
    ///         (StatusCode::PAYLOAD_TOO_LARGE, "the session is full\n").into_response()
    ///     });
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn on_unsealable(
        mut self,
        f: impl Fn(Response, &Error) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.on_unsealable = Arc::new(f);
        self
    }

    /// The settings every request's session shares.
    ///
    /// ```
    /// use sealed_session::{Codec, SealedSessionManagerLayer};
    /// let layer = SealedSessionManagerLayer::new(Codec::builder("sid").development_key().build()?);
    /// assert_eq!(layer.settings().codec().name(), "sid");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }
}

impl<S> Layer<S> for SealedSessionManagerLayer {
    type Service = SealedSessionManager<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SealedSessionManager {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`SealedSessionManagerLayer`].
///
/// ```
/// use axum::{routing::get, Router};
/// use sealed_session::{Codec, SealedSessionManagerLayer};
/// use tower_layer::Layer as _;
/// let layer = SealedSessionManagerLayer::new(Codec::builder("sid").development_key().build()?);
/// let service = layer.layer(Router::<()>::new().route("/", get(|| async { "hi" })));
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct SealedSessionManager<S> {
    inner: S,
    layer: SealedSessionManagerLayer,
}

impl<S> fmt::Debug for SealedSessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionManager")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for SealedSessionManager<S>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: IntoResponse,
    ReqBody: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one that is called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let headers = request.headers();
        let navigation = headers
            .get("sec-fetch-mode")
            .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"navigate"));
        let host = if response_policy::needs_host(layer.settings.codec()) {
            request_host(&request)
        } else {
            None
        };
        let opened = open_record(layer.settings.codec(), headers);
        let id = opened.as_ref().ok().map(|opened| opened.session.id);
        // The handle logs why a cookie did not open, and decides about
        // clearing it, only once the session is used.
        let handle = SessionHandle::with_loader(&layer.settings, navigation, move |_codec| opened);
        let store = Arc::new(RequestStore {
            cookie: layer.settings.codec().name().to_owned(),
            handle: handle.clone(),
        });
        let session = Session::new(id, store, layer.expiry);
        request.extensions_mut().insert(session.clone());
        Box::pin(async move {
            let response = inner.call(request).await?.into_response();
            let response = if response.status().is_server_error() {
                // Nothing is saved; `write_back` sends only a removal.
                response
            } else {
                save_if_changed(&session, &layer, response).await
            };
            Ok(write_back(response, &handle, host.as_deref(), &layer))
        })
    }
}

/// The crate's response policy (cookies, `Vary`, `Cache-Control`, 5xx) on
/// the response; an unsealable session gets the layer's answer.
fn write_back(
    mut response: Response,
    handle: &SessionHandle<CookieRecord>,
    host: Option<&str>,
    layer: &SealedSessionManagerLayer,
) -> Response {
    let status = response.status().as_u16();
    let result = response_policy::write_back(response.headers_mut(), status, handle, host);
    let mut response = match result {
        Ok(()) => return response,
        Err(Failure::Unsealable(err)) => (layer.on_unsealable)(response, &err),
        Err(Failure::InvalidHeader) => unsealable_response(),
    };
    response_policy::vary_if_read(response.headers_mut(), handle);
    response
}

fn unsealable_response() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, UNSEALABLE_BODY).into_response()
}

/// What tower-sessions' own manager does after the handler: a changed
/// session that is not empty is saved (into the request's store). A
/// flushed session was already removed from the store by `delete`.
async fn save_if_changed(
    session: &Session,
    layer: &SealedSessionManagerLayer,
    response: Response,
) -> Response {
    if !session.is_modified() || session.is_empty().await {
        return response;
    }
    match session.save().await {
        Ok(()) => response,
        Err(err) => {
            // The request's store does not fail; a failure here is a bug.
            log::error!(
                "session cookie {:?} not written: the session could not be saved: {err}",
                layer.settings.codec().name()
            );
            unsealable_response()
        }
    }
}

/// Opens the record in the request's cookie at the codec's clock; a record
/// past its own expiry date is [`Error::Expired`].
fn open_record(codec: &Codec, headers: &HeaderMap) -> Result<Opened<CookieRecord>> {
    let now = now_unix();
    let opened = codec.decode_fields_at::<CookieRecord>(headers.get_all(COOKIE).iter(), now)?;
    let expires = opened.session.expires.unix_timestamp();
    let now_signed = i64::try_from(now).unwrap_or(i64::MAX);
    if expires <= now_signed {
        return Err(Error::Expired {
            expired_at: u64::try_from(expires).unwrap_or(0),
            now,
        });
    }
    Ok(opened)
}

/// The tower-sessions record as it is sealed: the data in a sorted map, so
/// that the same record always has the same JSON (the handle writes only
/// when the JSON changed), the id in its text form, the expiry date in Unix
/// seconds.
#[derive(Serialize, Deserialize)]
struct CookieRecord {
    #[serde(serialize_with = "id_text", deserialize_with = "id_from_text")]
    id: Id,
    data: BTreeMap<String, serde_json::Value>,
    #[serde(
        rename = "exp",
        serialize_with = "unix_seconds",
        deserialize_with = "from_unix_seconds"
    )]
    expires: OffsetDateTime,
}

impl From<&Record> for CookieRecord {
    fn from(record: &Record) -> Self {
        CookieRecord {
            id: record.id,
            data: record
                .data
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            expires: record.expiry_date,
        }
    }
}

impl CookieRecord {
    fn to_record(&self) -> Record {
        Record {
            id: self.id,
            data: self
                .data
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<HashMap<_, _>>(),
            expiry_date: self.expires,
        }
    }
}

fn id_text<S: Serializer>(id: &Id, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

fn id_from_text<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Id, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom("the session record id is not 22 base64url characters")
    })
}

fn unix_seconds<S: Serializer>(
    date: &OffsetDateTime,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_i64(date.unix_timestamp())
}

fn from_unix_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<OffsetDateTime, D::Error> {
    let seconds = i64::deserialize(deserializer)?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| serde::de::Error::custom("the session record's expiry date is out of range"))
}

/// The store behind one request's `Session`: the record lives in the
/// request's [`SessionHandle`], which turns it into `Set-Cookie` values after
/// the handler. It does no I/O, so every operation is ready at once.
struct RequestStore {
    cookie: String,
    handle: SessionHandle<CookieRecord>,
}

impl fmt::Debug for RequestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the record: its data is the session.
        f.debug_struct("RequestStore")
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl RequestStore {
    fn holds(&self, id: &Id) -> bool {
        self.handle
            .read(|record| record.is_some_and(|record| record.id == *id))
    }
}

/// A boxed future that is already complete, in the shape the
/// `#[async_trait]` methods of [`SessionStore`] return.
type Ready<'a, T> = Pin<Box<dyn Future<Output = session_store::Result<T>> + Send + 'a>>;

fn ready<'a, T: Send + 'a>(value: T) -> Ready<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl SessionStore for RequestStore {
    /// A new session, or a new id after `cycle_id`: there is no other
    /// session to collide with, so the id is kept.
    fn create<'life0, 'life1, 'async_trait>(
        &'life0 self,
        record: &'life1 mut Record,
    ) -> Ready<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.handle.set(CookieRecord::from(&*record));
        ready(())
    }

    fn save<'life0, 'life1, 'async_trait>(
        &'life0 self,
        record: &'life1 Record,
    ) -> Ready<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.handle.set(CookieRecord::from(record));
        ready(())
    }

    fn load<'life0, 'life1, 'async_trait>(
        &'life0 self,
        id: &'life1 Id,
    ) -> Ready<'async_trait, Option<Record>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let record = self.handle.read(|record| {
            record
                .filter(|record| record.id == *id)
                .map(CookieRecord::to_record)
        });
        ready(record)
    }

    /// Removes the cookie (and every chunk) in this response, when `id` is
    /// the request's record; `cycle_id` then saves the record under its new
    /// id, which replaces the removal by a seal.
    fn delete<'life0, 'life1, 'async_trait>(&'life0 self, id: &'life1 Id) -> Ready<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        if self.holds(id) {
            self.handle.purge();
        }
        ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> Codec {
        match Codec::builder("s").development_key().build() {
            Ok(codec) => codec,
            Err(err) => panic!("test codec: {err}"),
        }
    }

    fn record(expires: i64) -> Record {
        let mut data = HashMap::new();
        data.insert("user".to_owned(), serde_json::json!({ "id": 7 }));
        data.insert("a".to_owned(), serde_json::json!(1));
        Record {
            id: Id(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            data,
            expiry_date: OffsetDateTime::from_unix_timestamp(expires)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }

    fn cookie_header(codec: &Codec, record: &Record) -> HeaderMap {
        let cookies = codec.encode(&CookieRecord::from(record)).ok();
        let pair = cookies
            .as_ref()
            .and_then(|c| c.iter().next())
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let mut headers = HeaderMap::new();
        if let Ok(value) = pair.parse() {
            headers.insert(COOKIE, value);
        }
        headers
    }

    #[test]
    fn the_record_round_trips_with_sorted_keys_and_its_id_as_text() {
        let record = record(4_000_000_000);
        let json = serde_json::to_string(&CookieRecord::from(&record)).unwrap_or_default();
        assert!(
            json.starts_with(&format!("{{\"id\":\"{}\"", record.id)),
            "{json}"
        );
        assert!(json.find("\"a\"") < json.find("\"user\""), "sorted: {json}");
        assert!(json.ends_with(",\"exp\":4000000000}"), "{json}");
        let back: Option<CookieRecord> = serde_json::from_str(&json).ok();
        assert_eq!(back.map(|r| r.to_record()), Some(record));
    }

    #[test]
    fn a_record_past_its_expiry_date_does_not_open() {
        let codec = codec();
        let headers = cookie_header(&codec, &record(4_000_000_000));
        assert!(open_record(&codec, &headers).is_ok());
        let headers = cookie_header(&codec, &record(1_000_000_000));
        assert!(matches!(
            open_record(&codec, &headers),
            Err(Error::Expired {
                expired_at: 1_000_000_000,
                ..
            })
        ));
    }

    #[test]
    fn a_bad_id_or_date_is_a_deserialize_error_without_the_value() {
        for json in [
            r#"{"id":"secret-value","data":{},"exp":4000000000}"#,
            r#"{"id":"AAAAAAAAAAAAAAAAAAAAAA","data":{},"exp":99999999999999}"#,
        ] {
            let err = serde_json::from_str::<CookieRecord>(json)
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.contains("session record"), "{err}");
            assert!(!err.contains("secret") && !err.contains("99999"), "{err}");
        }
    }
}
