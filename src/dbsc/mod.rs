//! Device-bound sessions (DBSC, W3C draft, Chrome 145+), without any
//! server-side store.
//!
//! The browser keeps a private key that cannot leave the device. Once a
//! session is bound to it, the session cookie alone opens nothing: every
//! request must also carry a short-lived *bound cookie* (minutes), and only
//! the holder of the device key can get a fresh one. A copied cookie pair
//! stops working when its bound cookie expires.
//!
//! Everything the server must remember travels sealed, like the session:
//!
//! | value | cookie | what it holds | lifetime |
//! |---|---|---|---|
//! | session | `NAME` | the session, its identity marked *bound* | `max_age` |
//! | bound cookie | `NAME-bound` | the session's identity | `bound_lifetime` |
//! | refresh cookie | `NAME-refresh`, `Path=` the refresh path | identity and device public key | rest of `max_lifetime` |
//! | challenge | none (headers) | session id, registration or refresh | `challenge_lifetime` |
//!
//! Each is sealed under the key ring with its own name in the authenticated
//! data, so none can stand in for another, and each carries the session's
//! identity, so the absolute lifetime and revocations end a bound session at
//! its next refresh. Any server of the cluster can answer a registration or a
//! refresh. The protocol, as Chromium speaks it:
//!
//! 1. A response (the sign-in response, via
//!    [`SessionHandle::bind_device`](crate::SessionHandle::bind_device))
//!    carries `Secure-Session-Registration: (ES256);path="...";challenge="..."`.
//! 2. The browser POSTs to that path with `Secure-Session-Response: <JWT>`
//!    signed by a new device key and carrying it (`jwk`):
//!    [`Codec::dbsc_register`] checks the proof and the challenge, marks the
//!    session bound, and sets the three cookies.
//! 3. Before the bound cookie expires the browser POSTs to the refresh path
//!    with `Sec-Secure-Session-Id`; [`Codec::dbsc_refresh`] answers 403 with a
//!    new challenge, then, given a proof signed by the registered key, 200
//!    with a fresh bound cookie.
//!
//! Requires the `dbsc` feature (RustCrypto's `p256` for ES256).

mod jwt;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{now_unix, random_nonce, Codec, CodecBuilder, Opened};
use crate::core::compression::Compression;
use crate::core::format::NONCE_LEN;
use crate::core::identity::{Identity, Lineage, SessionId};
use crate::error::{Error, ProofRefused, Result};
use crate::http::cookie_options::{CookieOptions, DomainSetting};
use crate::http::request::cookie_values;
use crate::http::set_cookie::SetCookies;
use crate::keys::ring::KeyRing;
use crate::revocation::set::RevocationSet;

use jwt::{DeviceKey, Proof, ALG};

/// Default lifetime of a bound cookie: ten minutes. Chromium refreshes once
/// less than two minutes of it remain, and signs at most six refreshes per
/// nine minutes per site by default, so a lifetime under about 210 s would
/// exhaust that quota on a busy page.
pub const DEFAULT_BOUND_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Default lifetime of a challenge: two minutes, the replay window of a
/// stateless challenge (SECURITY.md).
pub const DEFAULT_CHALLENGE_LIFETIME: Duration = Duration::from_secs(2 * 60);
/// The shortest bound lifetime or challenge lifetime accepted.
pub const MIN_LIFETIME: Duration = Duration::from_secs(10);

/// The response header that starts a registration.
pub const REGISTRATION_HEADER: &str = "Secure-Session-Registration";
/// The request header that carries a proof (a JWT).
pub const RESPONSE_HEADER: &str = "Secure-Session-Response";
/// The request header that names the session being refreshed.
pub const SESSION_ID_HEADER: &str = "Sec-Secure-Session-Id";
/// The response header that carries a refresh challenge.
pub const CHALLENGE_HEADER: &str = "Secure-Session-Challenge";

/// How sessions are bound to devices: lifetimes and endpoint paths. Give it
/// to [`CodecBuilder::device_binding`].
///
/// ```
/// use std::time::Duration;
/// use sealed_session::{Codec, DeviceBinding};
/// let codec = Codec::builder("session")
///     .development_key()
///     .device_binding(DeviceBinding::new().bound_lifetime(Duration::from_secs(300)))
///     .build()?;
/// assert!(codec.device_binding().is_some());
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceBinding {
    bound_lifetime: Duration,
    challenge_lifetime: Duration,
    registration_path: String,
    refresh_path: String,
    /// `Some(grace)`: an unbound session opens on a request only within
    /// `grace` of its creation ([`DeviceBinding::required_after`]).
    required_after: Option<Duration>,
}

impl Default for DeviceBinding {
    fn default() -> Self {
        DeviceBinding::new()
    }
}

impl DeviceBinding {
    /// Ten-minute bound cookies, two-minute challenges, endpoints at
    /// `/dbsc/start` and `/dbsc/refresh`.
    ///
    /// ```
    /// let binding = sealed_session::DeviceBinding::new();
    /// assert_eq!(binding.paths(), ("/dbsc/start", "/dbsc/refresh"));
    /// ```
    pub fn new() -> Self {
        DeviceBinding {
            bound_lifetime: DEFAULT_BOUND_LIFETIME,
            challenge_lifetime: DEFAULT_CHALLENGE_LIFETIME,
            registration_path: "/dbsc/start".to_owned(),
            refresh_path: "/dbsc/refresh".to_owned(),
            required_after: None,
        }
    }

    /// How long a bound cookie lives: how long a copied cookie keeps
    /// working. At least 10 s; keep it in minutes in production (Chromium's
    /// refresh quota).
    ///
    /// ```
    /// use std::time::Duration;
    /// let binding = sealed_session::DeviceBinding::new().bound_lifetime(Duration::from_secs(120));
    /// assert_eq!(binding.lifetimes().0, Duration::from_secs(120));
    /// ```
    pub fn bound_lifetime(mut self, lifetime: Duration) -> Self {
        self.bound_lifetime = lifetime;
        self
    }

    /// How long a challenge may be answered. At least 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let binding = sealed_session::DeviceBinding::new().challenge_lifetime(Duration::from_secs(30));
    /// assert_eq!(binding.lifetimes().1, Duration::from_secs(30));
    /// ```
    pub fn challenge_lifetime(mut self, lifetime: Duration) -> Self {
        self.challenge_lifetime = lifetime;
        self
    }

    /// The registration and refresh endpoint paths (absolute, same origin).
    ///
    /// ```
    /// let binding = sealed_session::DeviceBinding::new().endpoints("/auth/bind", "/auth/refresh");
    /// assert_eq!(binding.paths(), ("/auth/bind", "/auth/refresh"));
    /// ```
    pub fn endpoints(mut self, registration: &str, refresh: &str) -> Self {
        registration.clone_into(&mut self.registration_path);
        refresh.clone_into(&mut self.refresh_path);
        self
    }

    /// Makes binding required: a request opens a session that is not bound
    /// to a device only while the session is younger than `grace` (counted
    /// from its creation, the identity's `created_at`, which re-seals keep);
    /// after that it gets no session, with [`Error::BindingRequired`]. A
    /// session sealed without an identity can never be bound and never
    /// opens on a request. Without this call (the default) binding is
    /// progressive: a browser without DBSC keeps an ordinary session.
    ///
    /// This ends the copies of a session taken before its first refresh
    /// marked it bound (the sign-in response's cookie, a copy from disk in
    /// the seconds before): without it they open without a bound cookie
    /// until the absolute lifetime. The cost: every session must be bound
    /// within `grace`, so a browser without DBSC (Firefox, Safari, older
    /// Chrome, any HTTP client) is signed out `grace` after every sign-in,
    /// and an anonymous session is refused too unless the response that
    /// creates it calls [`SessionHandle::bind_device`](crate::SessionHandle::bind_device).
    /// A DBSC browser that registered keeps its session however late its
    /// first refresh comes (the refresh endpoint opens the unbound value).
    ///
    /// `grace` must be at least the challenge lifetime (the registration
    /// window) and at most the session's `max_lifetime`; the codec's build
    /// refuses anything else.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sealed_session::{Codec, DeviceBinding};
    /// let binding = DeviceBinding::new().required_after(Duration::from_secs(300));
    /// assert_eq!(binding.required_grace(), Some(Duration::from_secs(300)));
    /// let codec = Codec::builder("session").development_key().device_binding(binding).build()?;
    /// assert!(codec.device_binding().is_some_and(|b| b.required_grace().is_some()));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn required_after(mut self, grace: Duration) -> Self {
        self.required_after = Some(grace);
        self
    }

    /// The grace of [`DeviceBinding::required_after`]: `None` while binding
    /// is optional (the default).
    ///
    /// ```
    /// assert_eq!(sealed_session::DeviceBinding::new().required_grace(), None);
    /// ```
    pub fn required_grace(&self) -> Option<Duration> {
        self.required_after
    }

    /// The registration and refresh paths.
    ///
    /// ```
    /// assert_eq!(sealed_session::DeviceBinding::new().paths().1, "/dbsc/refresh");
    /// ```
    pub fn paths(&self) -> (&str, &str) {
        (&self.registration_path, &self.refresh_path)
    }

    /// The bound cookie's and the challenge's lifetimes.
    ///
    /// ```
    /// let (bound, challenge) = sealed_session::DeviceBinding::new().lifetimes();
    /// assert!(challenge < bound);
    /// ```
    pub fn lifetimes(&self) -> (Duration, Duration) {
        (self.bound_lifetime, self.challenge_lifetime)
    }
}

/// The codecs and settings a codec with device binding holds.
pub(crate) struct Binding {
    pub(crate) config: DeviceBinding,
    pub(crate) bound: Codec,
    refresh: Codec,
    challenge: Codec,
}

/// What the parent codec's builder passes down.
pub(crate) struct Parent<'a> {
    pub(crate) name: &'a str,
    pub(crate) ring: &'a Arc<KeyRing>,
    pub(crate) max_lifetime: Duration,
    pub(crate) clock_skew: Duration,
    pub(crate) revocations: Option<&'a Arc<RevocationSet>>,
    pub(crate) cookie: &'a CookieOptions,
}

impl Binding {
    pub(crate) fn build(config: DeviceBinding, parent: &Parent<'_>) -> Result<Binding> {
        for (what, lifetime) in [
            ("bound_lifetime", config.bound_lifetime),
            ("challenge_lifetime", config.challenge_lifetime),
        ] {
            if lifetime < MIN_LIFETIME || lifetime > parent.max_lifetime {
                return Err(Error::config(format!(
                    "device binding {what} ({} s) must be between {} s and the session's \
                     max_lifetime ({} s)",
                    lifetime.as_secs(),
                    MIN_LIFETIME.as_secs(),
                    parent.max_lifetime.as_secs()
                )));
            }
        }
        if let Some(grace) = config.required_after {
            // Shorter than the registration window, a browser could answer
            // its challenge and still find its session refused; longer than
            // the absolute lifetime, binding would never be required.
            if grace < config.challenge_lifetime || grace > parent.max_lifetime {
                return Err(Error::config(format!(
                    "device binding required_after grace ({} s) must be between the \
                     challenge_lifetime ({} s) and the session's max_lifetime ({} s): set \
                     DeviceBinding::required_after to a grace in that range",
                    grace.as_secs(),
                    config.challenge_lifetime.as_secs(),
                    parent.max_lifetime.as_secs()
                )));
            }
        }
        if config.registration_path == config.refresh_path {
            return Err(Error::config(
                "device binding registration and refresh endpoints must be two different paths",
            ));
        }
        for path in [&config.registration_path, &config.refresh_path] {
            if !path.starts_with('/') || path.bytes().any(|b| !b.is_ascii_graphic() || b == b'"') {
                return Err(Error::config(format!(
                    "device binding endpoint {path:?} must be an absolute path without spaces or \
                     quotes, such as /dbsc/start"
                )));
            }
        }
        // Registration opens the session cookie and the first refresh marks
        // it bound: a cookie Path that does not cover an endpoint would
        // leave every session unbound, without any error.
        let cookie_path = &parent.cookie.path;
        for path in [&config.registration_path, &config.refresh_path] {
            if !path_matches(path, cookie_path) {
                return Err(Error::config(format!(
                    "device binding endpoint {path:?} is outside the session cookie's path \
                     {cookie_path:?}, so the browser would not send the session to it: put the \
                     endpoints under {cookie_path:?}"
                )));
            }
        }
        let sub = |suffix: &str, lifetime: Duration, path: &str, identity: bool| {
            // The skew allowance is kept well below the lifetime, so that a
            // 10 s bound cookie still lives most of its 10 s.
            let skew = parent.clock_skew.min(lifetime / 4);
            let mut cookie = parent.cookie.clone();
            path.clone_into(&mut cookie.path);
            cookie.max_chunks = 1;
            let mut builder: CodecBuilder = Codec::builder(sub_name(parent.name, suffix, path))
                .key_ring(Arc::clone(parent.ring))
                .max_age(lifetime)
                .max_lifetime(parent.max_lifetime)
                .clock_skew(skew)
                .write_identity(identity)
                .compression(Compression::Off);
            builder.cookie = cookie;
            if let Some(set) = parent.revocations {
                builder = builder.revocations(Arc::clone(set));
            }
            builder.build()
        };
        let bound = sub("-bound", config.bound_lifetime, "/", true)?;
        let refresh = sub("-refresh", parent.max_lifetime, &config.refresh_path, true)?;
        let challenge = sub("-challenge", config.challenge_lifetime, "/", false)?;
        Ok(Binding {
            config,
            bound,
            refresh,
            challenge,
        })
    }
}

/// RFC 6265 path-match: a cookie with Path `cookie_path` is sent to
/// `request_path`.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    match request_path.strip_prefix(cookie_path) {
        Some(rest) => rest.is_empty() || cookie_path.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// `NAME-bound`, `NAME-refresh`: a `__Host-` name (which requires `Path=/`)
/// becomes `__Secure-` for the path-scoped refresh cookie.
fn sub_name(name: &str, suffix: &str, path: &str) -> String {
    match name.strip_prefix("__Host-") {
        Some(rest) if path != "/" => format!("__Secure-{rest}{suffix}"),
        _ => format!("{name}{suffix}"),
    }
}

#[derive(Serialize, Deserialize)]
struct Challenge {
    /// The session id, hex.
    s: String,
    /// True for a refresh challenge, false for a registration one.
    r: bool,
}

#[derive(Serialize, Deserialize)]
struct DeviceKeyClaim {
    /// The device public key, `x || y`, base64url.
    k: String,
}

/// A registration or refresh request, as the framework hands it over.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbscRequest<'a> {
    /// The `Cookie` header fields, joined or as one field.
    pub cookie_header: &'a [u8],
    /// `Secure-Session-Response`, the proof, when present.
    pub proof: Option<&'a str>,
    /// `Sec-Secure-Session-Id`, on refresh.
    pub session_id: Option<&'a str>,
    /// The request's host (required with a [`DomainRule`](crate::DomainRule)).
    pub host: Option<&'a str>,
}

/// What to answer a registration or refresh request: status, headers (each
/// `Set-Cookie` separately) and a JSON body. Its `Debug` output hides the
/// header values (they hold sealed cookies).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbscResponse {
    /// HTTP status: 200, 403 with a challenge, or 400/401 when refused.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
    /// Why the request was refused, when it was (for logs).
    pub refused: Option<Error>,
}

impl std::fmt::Debug for DbscResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbscResponse")
            .field("status", &self.status)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .field("refused", &self.refused)
            .finish()
    }
}

impl DbscResponse {
    fn json(status: u16, body: String) -> Self {
        DbscResponse {
            status,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
            body,
            refused: None,
        }
    }

    /// A refused registration: 400, nothing set. A refused refresh: the
    /// session ends in the browser (`{"continue":false}`) and its bound and
    /// refresh cookies are not renewed.
    fn refused(err: Error, refresh: bool) -> Self {
        let mut response = if refresh {
            DbscResponse::json(401, r#"{"continue":false}"#.to_owned())
        } else {
            DbscResponse::json(400, r#"{"error":"registration refused"}"#.to_owned())
        };
        response.refused = Some(err);
        response
    }
}

fn refused(reason: ProofRefused) -> Error {
    Error::DeviceProof { reason }
}

impl Codec {
    /// The device binding settings, when configured.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key().build()?;
    /// assert!(codec.device_binding().is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn device_binding(&self) -> Option<&DeviceBinding> {
        self.binding.as_deref().map(|b| &b.config)
    }

    fn binding(&self) -> Result<&Binding> {
        self.binding.as_deref().ok_or_else(|| {
            Error::config(
                "device binding is not configured: call CodecBuilder::device_binding \
                 (feature `dbsc`)",
            )
        })
    }

    /// The `Secure-Session-Registration` header value that asks the browser
    /// to bind the session with this identity to a device key (send it on
    /// the response that sets the session, for example at sign-in). `host`
    /// is the request's `Host`: from a subdomain of the cookie's Domain the
    /// endpoint is named on the Domain's own origin, the only one Chromium
    /// accepts a site-wide binding from.
    ///
    /// ```
    /// use sealed_session::{Codec, DeviceBinding, DynamicSession};
    /// let codec = Codec::builder("s").development_key().domain("shop.example")
    ///     .device_binding(DeviceBinding::new()).build()?;
    /// let value = codec.seal(&DynamicSession::new())?;
    /// let identity = codec.open::<DynamicSession>(&value)?.identity.unwrap();
    /// let header = codec.dbsc_registration_header(&identity, Some("shop.example"))?;
    /// assert!(header.starts_with(r#"(ES256);path="/dbsc/start";challenge=""#));
    /// let header = codec.dbsc_registration_header(&identity, Some("account.shop.example:8443"))?;
    /// assert!(header.starts_with(r#"(ES256);path="https://shop.example:8443/dbsc/start";"#));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dbsc_registration_header(
        &self,
        identity: &Identity,
        host: Option<&str>,
    ) -> Result<String> {
        self.dbsc_registration_header_at(identity, host, now_unix(), random_nonce()?)
    }

    /// [`Codec::dbsc_registration_header`] at time `now` with a given nonce.
    ///
    /// ```
    /// use sealed_session::{Codec, DeviceBinding, DynamicSession};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// let value = codec.seal_at(&DynamicSession::new(), 1_000, [1; 24])?;
    /// let identity = codec.open_at::<DynamicSession>(&value, 1_000)?.identity.unwrap();
    /// let a = codec.dbsc_registration_header_at(&identity, None, 1_000, [2; 24])?;
    /// assert_eq!(a, codec.dbsc_registration_header_at(&identity, None, 1_000, [2; 24])?);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dbsc_registration_header_at(
        &self,
        identity: &Identity,
        host: Option<&str>,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String> {
        let binding = self.binding()?;
        let challenge = seal_challenge(binding, identity.session_id, false, now, nonce)?;
        let endpoint = self.registration_endpoint(binding, host)?;
        Ok(format!(
            "({ALG});path=\"{endpoint}\";challenge=\"{challenge}\""
        ))
    }

    /// The registration path, or, when the session cookie has a Domain
    /// other than the request's host, the absolute URL of the path on that
    /// domain's origin (with the request's port): Chromium accepts a
    /// session that covers the whole site (`include_site`) only when it is
    /// registered by the site's own origin.
    fn registration_endpoint(&self, binding: &Binding, host: Option<&str>) -> Result<String> {
        let path = &binding.config.registration_path;
        let Some(host) = host else {
            return Ok(path.clone());
        };
        let (name, port) = split_port(host);
        match self.domain_for(host)? {
            Some(domain) if !domain.eq_ignore_ascii_case(name) => {
                Ok(format!("https://{domain}{port}{path}"))
            }
            _ => Ok(path.clone()),
        }
    }

    /// Answers a registration request (`POST` to the registration path):
    /// checks the proof (ES256, `dbsc+jwt`, signed by the key it carries),
    /// its challenge (issued by this cluster for this session, unexpired),
    /// and that the session is not bound yet; then re-seals the session as
    /// bound and sets the bound and refresh cookies. Never fails: a refusal
    /// is a 400 response with [`refused`](DbscResponse#structfield.refused) set.
    ///
    /// ```
    /// use sealed_session::{Codec, DbscRequest, DeviceBinding};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// let response = codec.dbsc_register(&DbscRequest::default());
    /// assert_eq!(response.status, 400);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dbsc_register(&self, request: &DbscRequest<'_>) -> DbscResponse {
        self.dbsc_register_at(request, now_unix(), &mut random_nonce)
    }

    /// [`Codec::dbsc_register`] at time `now`, drawing nonces from `nonces`.
    ///
    /// ```
    /// use sealed_session::{Codec, DbscRequest, DeviceBinding};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// let response = codec.dbsc_register_at(&DbscRequest::default(), 1_000, &mut || Ok([0; 24]));
    /// assert!(response.refused.is_some());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dbsc_register_at(
        &self,
        request: &DbscRequest<'_>,
        now: u64,
        nonces: &mut dyn FnMut() -> Result<[u8; NONCE_LEN]>,
    ) -> DbscResponse {
        self.register(request, now, nonces)
            .unwrap_or_else(|err| DbscResponse::refused(err, false))
    }

    fn register(
        &self,
        request: &DbscRequest<'_>,
        now: u64,
        nonces: &mut dyn FnMut() -> Result<[u8; NONCE_LEN]>,
    ) -> Result<DbscResponse> {
        let binding = self.binding()?;
        let proof =
            Proof::parse(request.proof.ok_or(refused(ProofRefused::Missing))?).map_err(refused)?;
        let key = proof.jwk.clone().ok_or(refused(ProofRefused::BadKey))?;
        // The cheap checks (symmetric opens) before the signature, so a
        // flood of junk proofs costs little.
        let opened: Opened<Box<RawValue>> = self.decode_unbound_at(request.cookie_header, now)?;
        let Lineage::Continue(identity) = opened.lineage() else {
            // Sealed without an identity: nothing to bind.
            return Err(refused(ProofRefused::OtherSession));
        };
        if identity.bound {
            return Err(refused(ProofRefused::AlreadyBound));
        }
        check_challenge(binding, &proof.jti, identity.session_id, false, now)?;
        proof.verify(&key).map_err(refused)?;
        // Only the refresh cookie, holding the device key: the browser may
        // still refuse the session it is offered (and tells no one), so the
        // session is marked bound, and a bound cookie issued, at the first
        // refresh, which only a browser that keeps the binding sends.
        let claim = DeviceKeyClaim {
            k: B64.encode(key.0),
        };
        let cookies = binding.refresh.encode_for(
            &claim,
            &Lineage::Continue(identity.clone()),
            request.host,
            now,
            nonces()?,
        )?;
        self.described(binding, &identity, cookies, request.host)
    }

    /// Answers a refresh request (`POST` to the refresh path). Without a
    /// proof: 403 with a fresh challenge in `Secure-Session-Challenge`. With
    /// one: checks it against the device key sealed in the refresh cookie
    /// (a `jwk` in the proof is never used; a malformed one is refused),
    /// the challenge, the session's
    /// absolute lifetime and the revocations, then sets a fresh bound cookie.
    /// A refusal answers `{"continue":false}`, which ends the binding in the
    /// browser. Never fails.
    ///
    /// ```
    /// use sealed_session::{Codec, DbscRequest, DeviceBinding};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// let response = codec.dbsc_refresh(&DbscRequest { session_id: Some("00"), ..Default::default() });
    /// assert_eq!(response.body, r#"{"continue":false}"#);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dbsc_refresh(&self, request: &DbscRequest<'_>) -> DbscResponse {
        self.dbsc_refresh_at(request, now_unix(), &mut random_nonce)
    }

    /// [`Codec::dbsc_refresh`] at time `now`, drawing nonces from `nonces`.
    ///
    /// ```
    /// use sealed_session::{Codec, DbscRequest, DeviceBinding};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// let response = codec.dbsc_refresh_at(&DbscRequest::default(), 1_000, &mut || Ok([0; 24]));
    /// assert_eq!(response.status, 401);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dbsc_refresh_at(
        &self,
        request: &DbscRequest<'_>,
        now: u64,
        nonces: &mut dyn FnMut() -> Result<[u8; NONCE_LEN]>,
    ) -> DbscResponse {
        self.refresh(request, now, nonces)
            .unwrap_or_else(|err| DbscResponse::refused(err, true))
    }

    fn refresh(
        &self,
        request: &DbscRequest<'_>,
        now: u64,
        nonces: &mut dyn FnMut() -> Result<[u8; NONCE_LEN]>,
    ) -> Result<DbscResponse> {
        let binding = self.binding()?;
        let named: SessionId = request
            .session_id
            .ok_or(refused(ProofRefused::NotRegistered))?
            .trim_matches('"')
            .parse()
            .map_err(|_| refused(ProofRefused::NotRegistered))?;
        // Opening checks the absolute lifetime and the revocations. A
        // sibling subdomain may toss a refresh cookie of its own under the
        // same name and path: the one used is the one of the session the
        // browser names, whatever the others. When none opens for it, the
        // usual decode gives the reason (an unknown or retired key, a
        // forgery, another session), for the logs.
        let mut candidates = cookie_values(request.cookie_header, binding.refresh.name());
        let named_one = candidates.find_map(|value| {
            binding
                .refresh
                .open_at::<DeviceKeyClaim>(value, now)
                .ok()
                .filter(|o| o.identity.as_ref().is_some_and(|i| i.session_id == named))
        });
        let registered: Opened<DeviceKeyClaim> = match named_one {
            Some(opened) => opened,
            None => binding
                .refresh
                .decode_bytes_at(request.cookie_header, now)
                .map_err(|err| match err {
                    Error::NoCookie => refused(ProofRefused::NotRegistered),
                    _ => err,
                })?,
        };
        // Carried like a session: a refresh cookie opened under an older key
        // names that key as its origin.
        let Lineage::Continue(identity) = registered.lineage() else {
            return Err(refused(ProofRefused::NotRegistered));
        };
        if identity.session_id != named {
            return Err(refused(ProofRefused::OtherSession));
        }
        let Some(proof) = request.proof else {
            let challenge = seal_challenge(binding, named, true, now, nonces()?)?;
            let mut response = DbscResponse::json(403, "{}".to_owned());
            response.headers.push((
                "secure-session-challenge",
                format!("\"{challenge}\";id=\"{named}\""),
            ));
            return Ok(response);
        };
        let proof = Proof::parse(proof).map_err(refused)?;
        let key = B64
            .decode(&registered.session.k)
            .ok()
            .and_then(|k| <[u8; 64]>::try_from(k).ok())
            .map(DeviceKey)
            .ok_or(refused(ProofRefused::NotRegistered))?;
        check_challenge(binding, &proof.jti, named, true, now)?;
        proof.verify(&key).map_err(refused)?;
        let lineage = Lineage::Continue(identity.clone());
        let mut cookies = binding
            .bound
            .encode_for(&(), &lineage, request.host, now, nonces()?)?;
        // The refresh cookie lives the whole session: sealed again when it
        // opened under a key that is no longer the primary (or past its
        // refresh share), so a key rotation that retires that key later
        // does not end the binding.
        if registered.needs_reseal() {
            let again = binding.refresh.encode_for(
                &registered.session,
                &lineage,
                request.host,
                now,
                nonces()?,
            )?;
            cookies.extend(again);
        }
        // The first refresh proves that the browser keeps the binding: from
        // now on the session needs its bound cookie.
        if let Ok(opened) = self.decode_unbound_at::<Box<RawValue>>(request.cookie_header, now) {
            if let Lineage::Continue(mut current) = opened.lineage() {
                if current.session_id == identity.session_id && !current.bound {
                    current.bound = true;
                    let marked = Lineage::Continue(current);
                    let session =
                        self.encode_for(&*opened.session, &marked, request.host, now, nonces()?)?;
                    cookies.extend(session);
                }
            }
        }
        self.described(binding, &identity, cookies, request.host)
    }

    /// 200 with `cookies` and the session description Chromium expects.
    fn described(
        &self,
        binding: &Binding,
        identity: &Identity,
        cookies: SetCookies,
        host: Option<&str>,
    ) -> Result<DbscResponse> {
        // The bound cookie's attributes as it is set, without its lifetime
        // (Chromium matches them exactly: without the Domain it never
        // refreshes).
        let domain = match host {
            Some(host) => binding.bound.domain_for(host)?,
            None => match &binding.bound.cookie.domain {
                DomainSetting::Fixed(domain) => Some(domain.clone()),
                _ => None,
            },
        };
        let attributes = binding
            .bound
            .removal_with_domain(domain.as_deref())
            .iter()
            .next()
            .map(credential_attributes)
            .unwrap_or_default();
        let body = serde_json::json!({
            "session_identifier": identity.session_id.to_string(),
            "refresh_url": binding.config.refresh_path,
            "scope": { "include_site": !matches!(self.cookie.domain, DomainSetting::HostOnly) },
            "credentials": [{
                "type": "cookie",
                "name": binding.bound.name(),
                "attributes": attributes,
            }],
        });
        let mut response = DbscResponse::json(200, body.to_string());
        response
            .headers
            .extend(cookies.iter().map(|c| ("set-cookie", c.to_owned())));
        Ok(response)
    }

    /// Encodes with the host when the domain depends on it.
    fn encode_for<T: Serialize + ?Sized>(
        &self,
        value: &T,
        lineage: &Lineage,
        host: Option<&str>,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<SetCookies> {
        let host = match self.cookie.domain {
            DomainSetting::Rule(_) => Some(host.ok_or_else(|| {
                Error::config("the cookie domain depends on the host: pass the request's host")
            })?),
            _ => None,
        };
        self.encode_with_at(value, lineage, host, now, nonce)
    }

    /// The codecs of the bound and refresh cookies, when device binding is
    /// configured (their removal goes with the session's).
    pub(crate) fn binding_cookie_codecs(&self) -> impl Iterator<Item = &Codec> {
        self.binding
            .as_deref()
            .into_iter()
            .flat_map(|b| [&b.bound, &b.refresh])
    }

    /// Checks a bound session's bound cookie among the request's values of
    /// `NAME-bound`: one must open and carry the same session id.
    pub(crate) fn check_bound(
        &self,
        identity: &Identity,
        candidates: &[&str],
        now: u64,
    ) -> Result<()> {
        let binding = self.binding.as_deref().ok_or(Error::Unbound)?;
        let matches = candidates.iter().any(|value| {
            binding
                .bound
                .open_at::<serde::de::IgnoredAny>(value, now)
                .is_ok_and(|o| {
                    o.identity
                        .is_some_and(|i| i.session_id == identity.session_id)
                })
        });
        if matches {
            Ok(())
        } else {
            Err(Error::Unbound)
        }
    }

    /// With [`DeviceBinding::required_after`], a session that is not bound
    /// (and has no valid bound cookie) opens on a request only within the
    /// grace after its creation; a session without identity never does.
    pub(crate) fn check_unbound(&self, identity: Option<&Identity>, now: u64) -> Result<()> {
        let Some(grace) = self
            .binding
            .as_deref()
            .and_then(|b| b.config.required_after)
        else {
            return Ok(());
        };
        match identity {
            Some(identity) if now < identity.created_at.saturating_add(grace.as_secs()) => Ok(()),
            _ => Err(Error::BindingRequired {
                created_at: identity.map(|i| i.created_at),
                grace_secs: grace.as_secs(),
                now,
            }),
        }
    }
}

/// `("shop.test", ":8443")` from `"shop.test:8443"`; an IPv6 literal or a
/// host without a port keeps everything in the name.
fn split_port(host: &str) -> (&str, &str) {
    let at = host.rfind(':').filter(|_| !host.starts_with('['));
    match at.and_then(|at| host.split_at_checked(at)) {
        Some((name, port))
            if port.len() > 1 && port.bytes().skip(1).all(|b| b.is_ascii_digit()) =>
        {
            (name, port)
        }
        _ => (host, ""),
    }
}

/// The attributes of a `Set-Cookie` line as DBSC's `credentials` names them:
/// everything after the value except the lifetime.
fn credential_attributes(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .skip(1)
        .map(str::trim)
        .filter(|a| {
            let lower = a.to_ascii_lowercase();
            !lower.starts_with("max-age=") && !lower.starts_with("expires=")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn seal_challenge(
    binding: &Binding,
    session: SessionId,
    refresh: bool,
    now: u64,
    nonce: [u8; NONCE_LEN],
) -> Result<String> {
    let claim = Challenge {
        s: session.to_string(),
        r: refresh,
    };
    binding
        .challenge
        .seal_with_at(&claim, &Lineage::new(), now, nonce)
}

fn check_challenge(
    binding: &Binding,
    jti: &str,
    session: SessionId,
    refresh: bool,
    now: u64,
) -> Result<()> {
    let opened = binding
        .challenge
        .open_at::<Challenge>(jti, now)
        .map_err(|_| refused(ProofRefused::Challenge))?;
    if opened.session.r != refresh {
        return Err(refused(ProofRefused::Challenge));
    }
    if opened.session.s != session.to_string() {
        return Err(refused(ProofRefused::OtherSession));
    }
    Ok(())
}
