//! axum 0.8: a tower [`Layer`] that gives every request a typed, lazily
//! opened [`SessionHandle`], and the [`SealedSession`] extractor that hands
//! it to the handler.
//!
//! ```
//! use axum::{routing::get, Router};
//! use sealed_session::{Codec, SealedSession, SealedSessionLayer};
//!
//! #[derive(Default, serde::Serialize, serde::Deserialize)]
//! struct Visits { count: u64 }
//!
//! async fn count(session: SealedSession<Visits>) -> String {
//!     let count = session.update(|v| { v.count += 1; v.count });
//!     format!("visit {count}")
//! }
//!
//! let codec = Codec::builder("visits").development_key().build()?;
//! let app: Router = Router::new()
//!     .route("/", get(count))
//!     .layer(SealedSessionLayer::<Visits>::new(codec));
//! # Ok::<(), sealed_session::Error>(())
//! ```
//!
//! The layer reads every `Cookie` header field as bytes (HTTP/2 clients
//! send one field per cookie; a neighbour cookie that is not ASCII does not
//! hide the session) and decodes only when the handler first touches the
//! session. After the handler it:
//!
//! - appends one `Set-Cookie` header per value, as [`SessionHandle::finish`]
//!   decides (nothing for a request that only read the session);
//! - on a 5xx response writes nothing but a purge, if the handler purged;
//! - adds `Vary: Cookie` when the session was read, and
//!   `Cache-Control: private, no-store` to a response that sets a session
//!   cookie and has no `Cache-Control` of its own, so a shared cache never
//!   stores or serves someone's session;
//! - derives the cookie Domain from the `Host` header (or the URI authority,
//!   under HTTP/2) when the codec has a [`DomainRule`](crate::DomainRule).
//!
//! A session that cannot be sealed (larger than the cookie budget) is logged
//! with its size and the limit, never its content, and answered with a 500
//! unless [`SealedSessionLayer::on_unsealable`] says otherwise. A handler
//! asking for [`SealedSession`] without the layer gets a 500 naming it.
//!
//! What a cookie session cannot do (parallel requests that both change the
//! session; a purge only clears this browser's cookie) is described in
//! [`SessionHandle`]'s module, [`crate::SessionSettings`] and
//! [`crate::ResealPolicy`]: the last response wins, so keep state that
//! concurrent requests change out of the session.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, COOKIE, HOST, SET_COOKIE, VARY};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

use crate::codec::Codec;
use crate::error::Error;
use crate::integrations::response_policy::{
    self, needs_host, request_handle, vary_if_read, Failure, Header, ResponseHeaders,
    UNSEALABLE_BODY,
};
use crate::integrations::session::{ResealPolicy, SessionHandle, SessionSettings};

/// What the layer answers when the session cannot be sealed: it receives
/// the handler's response and the error.
type OnUnsealable = Arc<dyn Fn(Response, &Error) -> Response + Send + Sync>;

/// The tower layer that gives each request a [`SessionHandle<T>`] and
/// writes its cookies back. Build it once; cloning is cheap.
///
/// ```
/// use sealed_session::{Codec, DynamicSession, ResealPolicy, SealedSessionLayer};
/// let layer = SealedSessionLayer::<DynamicSession>::new(
///     Codec::builder("session").development_key().build()?,
/// )
/// .reseal_policy(ResealPolicy::NavigationsOnly);
/// assert_eq!(layer.settings().codec().name(), "session");
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct SealedSessionLayer<T> {
    settings: SessionSettings,
    on_unsealable: OnUnsealable,
    _session: PhantomData<fn() -> T>,
}

impl<T> Clone for SealedSessionLayer<T> {
    fn clone(&self) -> Self {
        SealedSessionLayer {
            settings: self.settings.clone(),
            on_unsealable: Arc::clone(&self.on_unsealable),
            _session: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SealedSessionLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionLayer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<T> SealedSessionLayer<T> {
    /// A layer for sessions of type `T` sealed by `codec`, with default
    /// [`SessionSettings`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sealed_session::{Codec, DynamicSession, SealedSessionLayer};
    /// let codec = Arc::new(Codec::builder("session").development_key().build()?);
    /// let layer = SealedSessionLayer::<DynamicSession>::new(Arc::clone(&codec));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn new(codec: impl Into<Arc<Codec>>) -> Self {
        Self::with_settings(SessionSettings::new(codec))
    }

    /// A layer with the given settings (re-seal policy, clearing of invalid
    /// cookies, warning interval).
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, SealedSessionLayer, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("session").development_key().build()?)
    ///     .clear_invalid_cookies(true);
    /// let layer = SealedSessionLayer::<DynamicSession>::with_settings(settings);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn with_settings(settings: SessionSettings) -> Self {
        SealedSessionLayer {
            settings,
            on_unsealable: Arc::new(|_, _| unsealable_response()),
            _session: PhantomData,
        }
    }

    /// Shorthand for [`SessionSettings::reseal_policy`].
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, ResealPolicy, SealedSessionLayer};
    /// let layer = SealedSessionLayer::<DynamicSession>::new(
    ///     Codec::builder("session").development_key().build()?,
    /// )
    /// .reseal_policy(ResealPolicy::NavigationsOnly);
    /// assert_eq!(layer.settings().policy(), ResealPolicy::NavigationsOnly);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn reseal_policy(mut self, policy: ResealPolicy) -> Self {
        self.settings = self.settings.reseal_policy(policy);
        self
    }

    /// What to answer when the session cannot be sealed (it exceeds the
    /// cookie budget, does not serialize, or the request's host is outside
    /// the cookie domain). `f` gets the handler's response and the error
    /// (which never holds session content); the default answers 500. The
    /// error is logged either way.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::response::IntoResponse;
    /// use sealed_session::{Codec, DynamicSession, SealedSessionLayer};
    /// let layer = SealedSessionLayer::<DynamicSession>::new(
    ///     Codec::builder("session").development_key().build()?,
    /// )
    /// .on_unsealable(|_response, _err| {
    ///     (StatusCode::PAYLOAD_TOO_LARGE, "the cart is full\n").into_response()
    /// });
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

    /// The settings every request's handle shares.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, SealedSessionLayer};
    /// let layer = SealedSessionLayer::<DynamicSession>::new(
    ///     Codec::builder("sid").development_key().build()?,
    /// );
    /// assert_eq!(layer.settings().codec().name(), "sid");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }
}

impl<S, T> Layer<S> for SealedSessionLayer<T> {
    type Service = SealedSessionService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        SealedSessionService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`SealedSessionLayer`].
///
/// ```
/// use axum::{routing::get, Router};
/// use sealed_session::{Codec, DynamicSession, SealedSessionLayer};
/// use tower_layer::Layer as _;
/// let layer = SealedSessionLayer::<DynamicSession>::new(
///     Codec::builder("sid").development_key().build()?,
/// );
/// let service = layer.layer(Router::<()>::new().route("/", get(|| async { "hi" })));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct SealedSessionService<S, T> {
    inner: S,
    layer: SealedSessionLayer<T>,
}

impl<S: Clone, T> Clone for SealedSessionService<S, T> {
    fn clone(&self) -> Self {
        SealedSessionService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, T> fmt::Debug for SealedSessionService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<S, T, ReqBody> Service<Request<ReqBody>> for SealedSessionService<S, T>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: IntoResponse,
    T: Serialize + DeserializeOwned + Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one that is called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        #[cfg(feature = "dbsc")]
        if let Some(answer) = dbsc_endpoint_answer(&layer, &request) {
            return Box::pin(async move { Ok(answer) });
        }
        let headers = request.headers();
        // Cheap clones (shared bytes), decoded only if the handler asks.
        let fields: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
        let mode = headers.get("sec-fetch-mode").map(HeaderValue::as_bytes);
        let handle = request_handle::<T, _>(&layer.settings, fields, mode);
        let host = if needs_host(layer.settings.codec()) {
            request_host(&request)
        } else {
            None
        };
        request.extensions_mut().insert(handle.clone());
        Box::pin(async move {
            let response = inner.call(request).await?.into_response();
            Ok(write_back(response, &handle, host.as_deref(), &layer))
        })
    }
}

/// The answer to a device binding endpoint (`POST` to the registration or
/// refresh path of a codec with device binding), served by the layer itself.
#[cfg(feature = "dbsc")]
fn dbsc_endpoint_answer<T, B>(
    layer: &SealedSessionLayer<T>,
    request: &Request<B>,
) -> Option<Response> {
    use crate::dbsc::{RESPONSE_HEADER, SESSION_ID_HEADER};
    use crate::integrations::response_policy::{dbsc_answer, dbsc_endpoint};
    let codec = layer.settings.codec();
    let endpoint = dbsc_endpoint(
        codec,
        request.method() == http::Method::POST,
        request.uri().path(),
    )?;
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = request_host(request);
    let answer = dbsc_answer(
        codec,
        endpoint,
        headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes),
        text(RESPONSE_HEADER),
        text(SESSION_ID_HEADER),
        host.as_deref(),
    );
    let mut response = Response::new(axum_core::body::Body::from(answer.body));
    *response.status_mut() =
        http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::BAD_REQUEST);
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    Some(response)
}

/// The request's host: the `Host` header, or the URI authority (HTTP/2).
/// Also used by the tower-sessions adapter (which requires this feature).
pub(super) fn request_host<B>(request: &Request<B>) -> Option<String> {
    request
        .headers()
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .map(str::to_owned)
}

/// The crate's response policy (cookies, `Vary`, `Cache-Control`, 5xx) on
/// the response; an unsealable session gets the layer's answer.
fn write_back<T: Serialize + DeserializeOwned>(
    mut response: Response,
    handle: &SessionHandle<T>,
    host: Option<&str>,
    layer: &SealedSessionLayer<T>,
) -> Response {
    let status = response.status().as_u16();
    let mut response =
        match response_policy::write_back(response.headers_mut(), status, handle, host) {
            Ok(()) => return response,
            Err(Failure::Unsealable(err)) => (layer.on_unsealable)(response, &err),
            Err(Failure::InvalidHeader) => return unsealable_response(),
        };
    vary_if_read(response.headers_mut(), handle);
    response
}

impl ResponseHeaders for HeaderMap {
    fn any_value(&self, name: Header, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get_all(header_name(name))
            .iter()
            .any(|value| f(value.as_bytes()))
    }

    fn append(&mut self, name: Header, value: &str) -> bool {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                HeaderMap::append(self, header_name(name), value);
                true
            }
            Err(_) => false,
        }
    }
}

fn header_name(name: Header) -> HeaderName {
    match name {
        Header::SetCookie => SET_COOKIE,
        Header::Vary => VARY,
        Header::CacheControl => CACHE_CONTROL,
        Header::SessionRegistration => HeaderName::from_static("secure-session-registration"),
    }
}

fn unsealable_response() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, UNSEALABLE_BODY).into_response()
}

/// The extractor: the request's [`SessionHandle<T>`], put there by
/// [`SealedSessionLayer<T>`]. It dereferences to the handle.
///
/// ```
/// use sealed_session::SealedSession;
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Account { user: Option<String> }
///
/// async fn sign_in(session: SealedSession<Account>) -> &'static str {
///     session.renew();
///     session.update(|a| a.user = Some("ada".into()));
///     "signed in"
/// }
///
/// async fn sign_out(session: SealedSession<Account>) -> &'static str {
///     session.purge();
///     "signed out"
/// }
/// ```
pub struct SealedSession<T>(pub SessionHandle<T>);

impl<T> SealedSession<T> {
    /// The handle.
    ///
    /// ```
    /// use sealed_session::{DynamicSession, SealedSession, SessionHandle};
    /// fn keep(session: SealedSession<DynamicSession>) -> SessionHandle<DynamicSession> {
    ///     session.into_inner()
    /// }
    /// ```
    pub fn into_inner(self) -> SessionHandle<T> {
        self.0
    }
}

impl<T> Deref for SealedSession<T> {
    type Target = SessionHandle<T>;

    fn deref(&self) -> &SessionHandle<T> {
        &self.0
    }
}

impl<T> Clone for SealedSession<T> {
    fn clone(&self) -> Self {
        SealedSession(self.0.clone())
    }
}

impl<T> fmt::Debug for SealedSession<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SealedSession").field(&self.0).finish()
    }
}

impl<S, T> FromRequestParts<S> for SealedSession<T>
where
    S: Send + Sync,
    T: Send + 'static,
{
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<SessionHandle<T>>() {
            Some(handle) => Ok(SealedSession(handle.clone())),
            None => {
                let rejection = MissingSessionLayer {
                    session_type: std::any::type_name::<T>(),
                };
                log::error!("{rejection}");
                Err(rejection)
            }
        }
    }
}

/// The rejection of [`SealedSession<T>`] when no [`SealedSessionLayer<T>`]
/// (for this `T`) wraps the route: a 500 naming the missing layer.
///
/// ```
/// use axum::response::IntoResponse;
/// use sealed_session::{DynamicSession, MissingSessionLayer};
/// let rejection = MissingSessionLayer::of::<DynamicSession>();
/// assert!(rejection.to_string().contains("SealedSessionLayer"));
/// assert_eq!(rejection.into_response().status(), 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSessionLayer {
    session_type: &'static str,
}

impl MissingSessionLayer {
    /// The rejection for sessions of type `T`.
    ///
    /// ```
    /// use sealed_session::{DynamicSession, MissingSessionLayer};
    /// assert!(MissingSessionLayer::of::<DynamicSession>().to_string().contains("Map"));
    /// ```
    pub fn of<T>() -> Self {
        MissingSessionLayer {
            session_type: std::any::type_name::<T>(),
        }
    }
}

impl fmt::Display for MissingSessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSession<{ty}> needs SealedSessionLayer::<{ty}> around the route: add \
             .layer(SealedSessionLayer::<{ty}>::new(codec)) to the router (the session type \
             of the layer and of the extractor must be the same)",
            ty = self.session_type
        )
    }
}

impl std::error::Error for MissingSessionLayer {}

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("{self}\n")).into_response()
    }
}
