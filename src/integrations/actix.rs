//! actix-web 4: the [`SealedSessionMiddleware`] gives every request a typed,
//! lazily opened [`SessionHandle`], and the [`SealedSession`] extractor (or
//! [`SealedSessionExt::sealed_session`] on a request) hands it to the
//! handler.
//!
//! ```
//! use actix_web::{test, web, App};
//! use sealed_session::actix::{SealedSession, SealedSessionMiddleware};
//! use sealed_session::Codec;
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
//! let middleware = SealedSessionMiddleware::<Visits>::new(codec);
//! actix_web::rt::System::new().block_on(async {
//!     let app = test::init_service(
//!         App::new().wrap(middleware).route("/", web::get().to(count)),
//!     )
//!     .await;
//!     let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
//!     assert_eq!(response.headers().get_all("set-cookie").count(), 1);
//! });
//! # Ok::<(), sealed_session::Error>(())
//! ```
//!
//! The middleware reads every `Cookie` header field as bytes (HTTP/2
//! clients send one field per cookie; a neighbour cookie that is not ASCII
//! does not hide the session) and decodes only when the handler first
//! touches the session. After the handler it:
//!
//! - appends one `Set-Cookie` header per value, as [`SessionHandle::finish`]
//!   decides (nothing for a request that only read the session);
//! - on a 5xx response writes nothing but a purge, if the handler purged;
//! - adds `Vary: Cookie` when the session was read, and
//!   `Cache-Control: private, no-store` to a response that sets a session
//!   cookie and has no `Cache-Control` of its own, so a shared cache never
//!   stores or serves someone's session;
//! - derives the cookie Domain from the `Host` header (or the URI authority,
//!   under HTTP/2) when the codec has a [`DomainRule`](crate::DomainRule);
//!   `Forwarded` and `X-Forwarded-Host`, which any client can send, are not
//!   consulted.
//!
//! A session that cannot be sealed (larger than the cookie budget) is logged
//! with its size and the limit, never its content, and answered with a 500
//! unless [`SealedSessionMiddleware::on_unsealable`] says otherwise. A
//! handler asking for [`SealedSession`] without the middleware gets a 500
//! naming it ([`MissingSessionMiddleware`]). An error that a service inside
//! the middleware returns as `Err` (rather than as an error response) passes
//! through untouched: no cookie is written for it.
//!
//! Unlike `actix_session::Session`, [`SealedSession`] is `Send` (when the
//! session type is): it can be moved into `web::block` or another thread.
//! What a cookie session cannot do (parallel requests that both change the
//! session; a purge only clears this browser's cookie) is described in
//! [`SessionHandle`], [`crate::SessionSettings`] and [`crate::ResealPolicy`]:
//! the last response wins, so keep state that concurrent requests change out
//! of the session.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::Codec;
use crate::error::Error;
use crate::integrations::response_policy::{
    needs_host, request_handle, vary_if_read, write_back, Failure, Header, ResponseHeaders,
    UNSEALABLE_BODY,
};
use crate::integrations::session::{ResealPolicy, SessionHandle, SessionSettings};

/// What the middleware answers when the session cannot be sealed: it
/// receives the handler's response and the error.
type OnUnsealable = Arc<dyn Fn(HttpResponse, &Error) -> HttpResponse + Send + Sync>;

/// The actix-web middleware that gives each request a [`SessionHandle<T>`]
/// and writes its cookies back. Pass it to `App::wrap` (or a scope's or
/// resource's `wrap`); cloning is cheap.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use sealed_session::actix::{SealedSession, SealedSessionMiddleware};
/// use sealed_session::{Codec, DynamicSession, ResealPolicy};
///
/// async fn sign_out(session: SealedSession<DynamicSession>) -> HttpResponse {
///     session.purge();
///     HttpResponse::NoContent().finish()
/// }
///
/// let middleware = SealedSessionMiddleware::<DynamicSession>::new(
///     Codec::builder("session").development_key().build()?,
/// )
/// .reseal_policy(ResealPolicy::NavigationsOnly);
/// let app = App::new()
///     .wrap(middleware.clone())
///     .route("/sign-out", web::post().to(sign_out));
/// assert_eq!(middleware.settings().codec().name(), "session");
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct SealedSessionMiddleware<T> {
    settings: SessionSettings,
    on_unsealable: OnUnsealable,
    _session: PhantomData<fn() -> T>,
}

impl<T> Clone for SealedSessionMiddleware<T> {
    fn clone(&self) -> Self {
        SealedSessionMiddleware {
            settings: self.settings.clone(),
            on_unsealable: Arc::clone(&self.on_unsealable),
            _session: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SealedSessionMiddleware<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionMiddleware")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<T> SealedSessionMiddleware<T> {
    /// A middleware for sessions of type `T` sealed by `codec`, with default
    /// [`SessionSettings`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use actix_web::{web, App};
    /// use sealed_session::actix::SealedSessionMiddleware;
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Arc::new(Codec::builder("session").development_key().build()?);
    /// let app = App::new()
    ///     .wrap(SealedSessionMiddleware::<DynamicSession>::new(Arc::clone(&codec)))
    ///     .route("/", web::get().to(|| async { "hi" }));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn new(codec: impl Into<Arc<Codec>>) -> Self {
        Self::with_settings(SessionSettings::new(codec))
    }

    /// A middleware with the given settings (re-seal policy, clearing of
    /// invalid cookies, warning interval).
    ///
    /// ```
    /// use actix_web::{web, App};
    /// use sealed_session::actix::SealedSessionMiddleware;
    /// use sealed_session::{Codec, DynamicSession, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("session").development_key().build()?)
    ///     .clear_invalid_cookies(true);
    /// let app = App::new()
    ///     .wrap(SealedSessionMiddleware::<DynamicSession>::with_settings(settings))
    ///     .route("/", web::get().to(|| async { "hi" }));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn with_settings(settings: SessionSettings) -> Self {
        SealedSessionMiddleware {
            settings,
            on_unsealable: Arc::new(|_, _| unsealable_response()),
            _session: PhantomData,
        }
    }

    /// Shorthand for [`SessionSettings::reseal_policy`].
    ///
    /// ```
    /// use actix_web::{web, App};
    /// use sealed_session::actix::SealedSessionMiddleware;
    /// use sealed_session::{Codec, DynamicSession, ResealPolicy};
    /// let middleware = SealedSessionMiddleware::<DynamicSession>::new(
    ///     Codec::builder("session").development_key().build()?,
    /// )
    /// .reseal_policy(ResealPolicy::NavigationsOnly);
    /// assert_eq!(middleware.settings().policy(), ResealPolicy::NavigationsOnly);
    /// let app = App::new().wrap(middleware).route("/", web::get().to(|| async { "hi" }));
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
    /// use actix_web::{web, App, HttpResponse};
    /// use sealed_session::actix::SealedSessionMiddleware;
    /// use sealed_session::{Codec, DynamicSession};
    /// let middleware = SealedSessionMiddleware::<DynamicSession>::new(
    ///     Codec::builder("session").development_key().build()?,
    /// )
    /// .on_unsealable(|_response, _err| {
    ///     HttpResponse::PayloadTooLarge().body("the cart is full\n")
    /// });
    /// let app = App::new().wrap(middleware).route("/", web::get().to(|| async { "hi" }));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn on_unsealable(
        mut self,
        f: impl Fn(HttpResponse, &Error) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_unsealable = Arc::new(f);
        self
    }

    /// The settings every request's handle shares.
    ///
    /// ```
    /// use sealed_session::actix::SealedSessionMiddleware;
    /// use sealed_session::{Codec, DynamicSession};
    /// let middleware = SealedSessionMiddleware::<DynamicSession>::new(
    ///     Codec::builder("sid").development_key().build()?,
    /// );
    /// assert_eq!(middleware.settings().codec().name(), "sid");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }
}

impl<S, B, T> Transform<S, ServiceRequest> for SealedSessionMiddleware<T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SealedSessionService<S, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SealedSessionService {
            inner: Rc::new(service),
            middleware: self.clone(),
        }))
    }
}

/// The service made by [`SealedSessionMiddleware`] around the app's (or a
/// scope's) service; actix-web builds it, applications only name it in
/// types.
///
/// ```
/// use actix_web::{web, App};
/// use sealed_session::actix::{SealedSessionMiddleware, SealedSessionService};
/// use sealed_session::{Codec, DynamicSession};
/// let app = App::new()
///     .wrap(SealedSessionMiddleware::<DynamicSession>::new(
///         Codec::builder("sid").development_key().build()?,
///     ))
///     .route("/", web::get().to(|| async { "hi" }));
/// let name = std::any::type_name::<SealedSessionService<(), DynamicSession>>();
/// assert!(name.contains("SealedSessionService"));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct SealedSessionService<S, T> {
    inner: Rc<S>,
    middleware: SealedSessionMiddleware<T>,
}

impl<S, T> fmt::Debug for SealedSessionService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionService")
            .field("middleware", &self.middleware)
            .finish_non_exhaustive()
    }
}

impl<S, B, T> Service<ServiceRequest> for SealedSessionService<S, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(inner);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let settings = &self.middleware.settings;
        #[cfg(feature = "dbsc")]
        if let Some(answer) = dbsc_endpoint_answer(settings.codec(), &request) {
            let (request, _) = request.into_parts();
            let response = ServiceResponse::new(request, answer).map_into_right_body();
            return Box::pin(async move { Ok(response) });
        }
        let headers = request.headers();
        // Cheap clones (shared bytes), decoded only if the handler asks.
        let fields: Vec<HeaderValue> = headers.get_all(header::COOKIE).cloned().collect();
        let mode = headers.get("sec-fetch-mode").map(HeaderValue::as_bytes);
        let handle = request_handle::<T, _>(settings, fields, mode);
        let host = if needs_host(settings.codec()) {
            request_host(&request)
        } else {
            None
        };
        request.extensions_mut().insert(handle.clone());
        let on_unsealable = Arc::clone(&self.middleware.on_unsealable);
        // The request must not be cloned before the call: routing needs it
        // unshared.
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?.map_into_left_body();
            let status = response.status().as_u16();
            match write_back(response.headers_mut(), status, &handle, host.as_deref()) {
                Ok(()) => Ok(response),
                Err(Failure::Unsealable(err)) => {
                    let (request, handler_response) = response.into_parts();
                    let replacement = on_unsealable(handler_response.map_into_boxed_body(), &err);
                    let mut response =
                        ServiceResponse::new(request, replacement).map_into_right_body();
                    vary_if_read(response.headers_mut(), &handle);
                    Ok(response)
                }
                Err(Failure::InvalidHeader) => {
                    let (request, _) = response.into_parts();
                    Ok(ServiceResponse::new(request, unsealable_response()).map_into_right_body())
                }
            }
        })
    }
}

/// The answer to a device binding endpoint (`POST` to the registration or
/// refresh path of a codec with device binding), served by the middleware.
#[cfg(feature = "dbsc")]
fn dbsc_endpoint_answer(codec: &Codec, request: &ServiceRequest) -> Option<HttpResponse> {
    use crate::dbsc::{RESPONSE_HEADER, SESSION_ID_HEADER};
    use crate::integrations::response_policy::{dbsc_answer, dbsc_endpoint};
    let endpoint = dbsc_endpoint(
        codec,
        request.method() == actix_web::http::Method::POST,
        request.path(),
    )?;
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = request_host(request);
    let answer = dbsc_answer(
        codec,
        endpoint,
        headers.get_all(header::COOKIE).map(HeaderValue::as_bytes),
        text(RESPONSE_HEADER),
        text(SESSION_ID_HEADER),
        host.as_deref(),
    );
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers {
        response.append_header((name, value));
    }
    Some(response.body(answer.body))
}

/// The request's host: the `Host` header, or the URI authority (HTTP/2).
fn request_host(request: &ServiceRequest) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .map(str::to_owned)
}

impl ResponseHeaders for HeaderMap {
    fn any_value(&self, name: Header, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get_all(header_name(name))
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
        Header::SetCookie => header::SET_COOKIE,
        Header::Vary => header::VARY,
        Header::CacheControl => header::CACHE_CONTROL,
        Header::SessionRegistration => {
            header::HeaderName::from_static("secure-session-registration")
        }
    }
}

fn unsealable_response() -> HttpResponse {
    HttpResponse::InternalServerError()
        .content_type("text/plain; charset=utf-8")
        .body(UNSEALABLE_BODY)
}

/// The extractor: the request's [`SessionHandle<T>`], put there by
/// [`SealedSessionMiddleware<T>`]. It dereferences to the handle, and is
/// `Send` when `T` is.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use sealed_session::actix::{SealedSession, SealedSessionMiddleware};
/// use sealed_session::Codec;
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Account { user: Option<String> }
///
/// async fn sign_in(session: SealedSession<Account>) -> HttpResponse {
///     session.renew();
///     session.update(|a| a.user = Some("ada".into()));
///     HttpResponse::Ok().body("signed in")
/// }
///
/// async fn who(session: SealedSession<Account>) -> actix_web::Result<String> {
///     // The handle may cross threads.
///     let user = web::block(move || session.read(|a| a.and_then(|a| a.user.clone()))).await?;
///     Ok(user.unwrap_or_default())
/// }
///
/// let codec = Codec::builder("account").development_key().build()?;
/// let app = App::new()
///     .wrap(SealedSessionMiddleware::<Account>::new(codec))
///     .route("/sign-in", web::post().to(sign_in))
///     .route("/who", web::get().to(who));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct SealedSession<T>(pub SessionHandle<T>);

impl<T> SealedSession<T> {
    /// The handle.
    ///
    /// ```
    /// use sealed_session::actix::SealedSession;
    /// use sealed_session::{DynamicSession, SessionHandle};
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

impl<T: 'static> FromRequest for SealedSession<T> {
    type Error = MissingSessionMiddleware;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = request.sealed_session::<T>();
        if let Err(missing) = &session {
            log::error!("{missing}");
        }
        ready(session)
    }
}

/// The request's session outside an extractor (in a guard, another
/// middleware inside [`SealedSessionMiddleware`], or a handler that takes
/// the `HttpRequest`).
///
/// ```
/// use actix_web::{web, App, HttpRequest};
/// use sealed_session::actix::{SealedSessionExt, SealedSessionMiddleware};
/// use sealed_session::{Codec, DynamicSession};
///
/// async fn keys(request: HttpRequest) -> actix_web::Result<String> {
///     let session = request.sealed_session::<DynamicSession>()?;
///     Ok(session.read(|s| s.map_or(0, |s| s.len())).to_string())
/// }
///
/// let app = App::new()
///     .wrap(SealedSessionMiddleware::<DynamicSession>::new(
///         Codec::builder("s").development_key().build()?,
///     ))
///     .route("/keys", web::get().to(keys));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub trait SealedSessionExt {
    /// The session of type `T` that [`SealedSessionMiddleware<T>`] put on
    /// this request, or [`MissingSessionMiddleware`] (a 500 naming the
    /// middleware) when none wraps the route.
    ///
    /// ```
    /// use actix_web::test::TestRequest;
    /// use sealed_session::actix::SealedSessionExt;
    /// use sealed_session::DynamicSession;
    /// let request = TestRequest::default().to_http_request();
    /// assert!(request.sealed_session::<DynamicSession>().is_err());
    /// ```
    fn sealed_session<T: 'static>(&self) -> Result<SealedSession<T>, MissingSessionMiddleware>;
}

impl SealedSessionExt for HttpRequest {
    fn sealed_session<T: 'static>(&self) -> Result<SealedSession<T>, MissingSessionMiddleware> {
        from_extensions(&self.extensions())
    }
}

impl SealedSessionExt for ServiceRequest {
    fn sealed_session<T: 'static>(&self) -> Result<SealedSession<T>, MissingSessionMiddleware> {
        from_extensions(&self.extensions())
    }
}

fn from_extensions<T: 'static>(
    extensions: &actix_web::dev::Extensions,
) -> Result<SealedSession<T>, MissingSessionMiddleware> {
    extensions
        .get::<SessionHandle<T>>()
        .map(|handle| SealedSession(handle.clone()))
        .ok_or_else(MissingSessionMiddleware::of::<T>)
}

/// The error of [`SealedSession<T>`] when no [`SealedSessionMiddleware<T>`]
/// (for this `T`) wraps the route: a 500 naming the missing middleware.
///
/// ```
/// use actix_web::ResponseError;
/// use sealed_session::actix::MissingSessionMiddleware;
/// use sealed_session::DynamicSession;
/// let missing = MissingSessionMiddleware::of::<DynamicSession>();
/// assert!(missing.to_string().contains("SealedSessionMiddleware"));
/// assert_eq!(missing.error_response().status(), 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSessionMiddleware {
    session_type: &'static str,
}

impl MissingSessionMiddleware {
    /// The error for sessions of type `T`.
    ///
    /// ```
    /// use sealed_session::actix::MissingSessionMiddleware;
    /// use sealed_session::DynamicSession;
    /// assert!(MissingSessionMiddleware::of::<DynamicSession>().to_string().contains("Map"));
    /// ```
    pub fn of<T>() -> Self {
        MissingSessionMiddleware {
            session_type: std::any::type_name::<T>(),
        }
    }
}

impl fmt::Display for MissingSessionMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSession<{ty}> needs SealedSessionMiddleware::<{ty}> around the route: add \
             .wrap(SealedSessionMiddleware::<{ty}>::new(codec)) to the App, scope or resource \
             (the session type of the middleware and of the extractor must be the same)",
            ty = self.session_type
        )
    }
}

impl std::error::Error for MissingSessionMiddleware {}

impl ResponseError for MissingSessionMiddleware {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}
