//! The framework-free session handle: what a web framework adapter hands to
//! a request handler, and what it asks at the end of the request for the
//! `Set-Cookie` values to send.
//!
//! A [`SessionHandle`] is opened lazily: a handler that never touches it
//! costs no decoding and writes nothing. At the end of the request,
//! [`SessionHandle::finish`] decides:
//!
//! | what the handler did | what is sent |
//! |---|---|
//! | nothing with the session | nothing |
//! | [`purge`](SessionHandle::purge) | the removal of the cookie and every chunk |
//! | [`renew`](SessionHandle::renew) | a fresh seal |
//! | [`update`](SessionHandle::update) or [`set`](SessionHandle::set), JSON changed | a seal |
//! | `update` or `set`, JSON identical | nothing (unless flagged below) |
//! | only read a session flagged for re-seal (older key or dictionary, sliding refresh) | a seal, per [`ResealPolicy`] |
//! | met an invalid cookie, [`clear_invalid_cookies`](SessionSettings::clear_invalid_cookies) on | the removal, except for an unknown key or dictionary |
//!
//! # What a cookie session cannot do
//!
//! The session lives in the browser, not on the server. Two consequences:
//!
//! - **Parallel requests that both change the session: the last response
//!   wins.** Each response carries a complete session; the browser keeps the
//!   last `Set-Cookie` it receives, and the other request's change is lost.
//!   Writing only on change, and re-sealing only on navigations
//!   ([`ResealPolicy::NavigationsOnly`]), narrows the window, but state that
//!   concurrent requests change (counters, rate limits, a cart edited from
//!   two tabs at once) belongs in a database, not in the session.
//! - **[`purge`](SessionHandle::purge) only clears the cookie in this
//!   browser.** A copy of the cookie taken earlier still opens until it
//!   expires or its absolute lifetime ends
//!   ([`CodecBuilder::max_lifetime`](crate::CodecBuilder::max_lifetime)):
//!   purging revokes nothing. To end the copies too, revoke the session id
//!   ([`identity`](SessionHandle::identity)) in the codec's
//!   [`RevocationSet`](crate::RevocationSet) (shared between servers through
//!   Redis with the `redis` feature) when signing out.
//!
//! ```
//! use std::sync::Arc;
//! use sealed_session::{Codec, SessionHandle, SessionSettings};
//!
//! #[derive(Default, serde::Serialize, serde::Deserialize)]
//! struct Cart { items: Vec<String> }
//!
//! let settings = SessionSettings::new(Codec::builder("cart").development_key().build()?);
//! // A request without a cookie: the handler adds an item.
//! let handle = SessionHandle::<Cart>::from_cookie_header(&settings, "", false);
//! handle.update(|cart| cart.items.push("tea".into()));
//! let cookies = handle.finish(None)?.expect("a changed session is sealed");
//!
//! // The next request carries the cookie; the handler only reads.
//! let pair = cookies.iter().next().unwrap().split(';').next().unwrap().to_owned();
//! let handle = SessionHandle::<Cart>::from_cookie_header(&settings, pair, false);
//! assert_eq!(handle.read(|cart| cart.map(|c| c.items.len())), Some(1));
//! assert!(handle.finish(None)?.is_none(), "a read writes nothing");
//! # Ok::<(), sealed_session::Error>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::codec::{now_unix, random_nonce, Codec, Opened, Reseal};
use crate::core::identity::{Identity, Lineage};
use crate::core::seal::{json_copy, keeping_json, with_json};
use crate::error::{Error, Result};
use crate::http::cookie_options::DomainSetting;
use crate::http::set_cookie::SetCookies;
use crate::keys::key::KeyId;

/// Default for [`SessionSettings::warn_interval`]: one warning per minute
/// and kind at most.
pub const DEFAULT_WARN_INTERVAL: Duration = Duration::from_secs(60);

/// When a session that the handler did not change, but that the codec
/// flagged for re-sealing ([`Reseal`]: opened by an older key or dictionary,
/// or due for a sliding refresh), is sealed again.
///
/// A re-seal overwrites the browser's cookie. If a background request (a
/// `fetch` from the page) re-seals while a parallel request changes the
/// session, the re-seal can arrive last and undo the change.
/// `NavigationsOnly` re-seals only on top-level navigations
/// (`Sec-Fetch-Mode: navigate`), which rarely run in parallel with the
/// page's own requests. A session that is only ever used by background
/// requests then keeps its older key until it is changed or expires.
///
/// ```
/// use sealed_session::ResealPolicy;
/// assert_eq!(ResealPolicy::default(), ResealPolicy::Always);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResealPolicy {
    /// Re-seal on any request that reads the session (the default).
    #[default]
    Always,
    /// Re-seal only on requests the adapter reports as navigations.
    NavigationsOnly,
}

/// What is known about the session that was opened from the request's
/// cookie (never its content).
///
/// ```
/// use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
/// let codec = Codec::builder("s").development_key().build()?;
/// let pair = codec.encode(&DynamicSession::new())?.iter().next().unwrap()
///     .split(';').next().unwrap().to_owned();
/// let settings = SessionSettings::new(codec);
/// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, pair, false);
/// let info = handle.info().expect("the cookie opened");
/// assert!(info.expires_at > info.issued_at);
/// assert_eq!(info.reseal, None);
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The key that opened the cookie.
    pub key_id: KeyId,
    /// When it was sealed, Unix seconds.
    pub issued_at: u64,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
    /// Why it should be sealed again, if it should.
    pub reseal: Option<Reseal>,
}

/// Everything the sessions of one cookie share: the codec, the policies and
/// the rate limits of the log warnings. Build it once at start-up; clones
/// are cheap (one shared allocation).
///
/// ```
/// use std::time::Duration;
/// use sealed_session::{Codec, ResealPolicy, SessionSettings};
/// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?)
///     .reseal_policy(ResealPolicy::NavigationsOnly)
///     .clear_invalid_cookies(true)
///     .warn_interval(Duration::from_secs(300));
/// assert_eq!(settings.codec().name(), "s");
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct SessionSettings {
    inner: Arc<Settings>,
}

struct Settings {
    codec: Arc<Codec>,
    reseal: ResealPolicy,
    clear_invalid: bool,
    warn_interval: Duration,
    /// Authenticated values that no longer deserialize (the type changed).
    type_warnings: RateLimit,
    /// Unknown, retired or revoked keys, unknown dictionaries.
    key_warnings: RateLimit,
}

impl Settings {
    /// The same configuration with fresh rate limits.
    fn copy(&self) -> Self {
        Settings {
            codec: Arc::clone(&self.codec),
            reseal: self.reseal,
            clear_invalid: self.clear_invalid,
            warn_interval: self.warn_interval,
            type_warnings: RateLimit::new(),
            key_warnings: RateLimit::new(),
        }
    }
}

impl SessionSettings {
    /// Settings for `codec`: re-seal [`ResealPolicy::Always`], invalid
    /// cookies left alone, warnings at most once per
    /// [`DEFAULT_WARN_INTERVAL`] and kind.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sealed_session::{Codec, SessionSettings};
    /// let codec = Arc::new(Codec::builder("s").development_key().build()?);
    /// let settings = SessionSettings::new(Arc::clone(&codec));
    /// assert_eq!(settings.codec().name(), codec.name());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn new(codec: impl Into<Arc<Codec>>) -> Self {
        SessionSettings {
            inner: Arc::new(Settings {
                codec: codec.into(),
                reseal: ResealPolicy::Always,
                clear_invalid: false,
                warn_interval: DEFAULT_WARN_INTERVAL,
                type_warnings: RateLimit::new(),
                key_warnings: RateLimit::new(),
            }),
        }
    }

    /// When an unchanged session flagged for re-sealing is sealed again
    /// (default [`ResealPolicy::Always`]).
    ///
    /// ```
    /// # use sealed_session::{Codec, ResealPolicy, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?)
    ///     .reseal_policy(ResealPolicy::NavigationsOnly);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn reseal_policy(self, policy: ResealPolicy) -> Self {
        self.edit(|s| s.reseal = policy)
    }

    /// Whether a request whose session cookie is invalid (forged, malformed,
    /// expired, too large, under a revoked or retired key) gets a removal of
    /// it, when its session was accessed (default off). A cookie under an
    /// **unknown** key or dictionary, one issued in the future or one that
    /// does not fit the session type is never cleared: during a rollout it
    /// may be valid on servers that are ahead (or behind) this one, and
    /// clearing it would sign people out.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?)
    ///     .clear_invalid_cookies(true);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "s=forged", false);
    /// assert!(handle.get().is_none());
    /// let removal = handle.finish(None)?.expect("the forged cookie is removed");
    /// assert!(removal.iter().next().unwrap().contains("Max-Age=0"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn clear_invalid_cookies(self, clear: bool) -> Self {
        self.edit(|s| s.clear_invalid = clear)
    }

    /// The shortest time between two warnings of the same kind (a session
    /// type that no longer deserializes; an unknown, retired or revoked key
    /// or unknown dictionary). The next warning reports how many were
    /// suppressed. Default [`DEFAULT_WARN_INTERVAL`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use sealed_session::{Codec, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?)
    ///     .warn_interval(Duration::from_secs(10));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[must_use]
    pub fn warn_interval(self, interval: Duration) -> Self {
        self.edit(|s| s.warn_interval = interval)
    }

    /// The codec.
    ///
    /// ```
    /// # use sealed_session::{Codec, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("sid").development_key().build()?);
    /// assert_eq!(settings.codec().name(), "sid");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn codec(&self) -> &Codec {
        &self.inner.codec
    }

    /// The configured re-seal policy.
    ///
    /// ```
    /// # use sealed_session::{Codec, ResealPolicy, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// assert_eq!(settings.policy(), ResealPolicy::Always);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn policy(&self) -> ResealPolicy {
        self.inner.reseal
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(settings) => f(settings),
            None => {
                let mut copy = self.inner.copy();
                f(&mut copy);
                self.inner = Arc::new(copy);
            }
        }
        self
    }

    /// Logs why the request's cookie did not open: debug for what clients
    /// send by accident or attack, a rate-limited warning for what an
    /// operator must act on. Never the cookie's content.
    fn log_invalid<T>(&self, err: &Error) {
        let settings = &*self.inner;
        let name = settings.codec.name();
        match err {
            Error::NoCookie => {}
            Error::Deserialize { .. } => {
                if let Some(suppressed) = settings.type_warnings.allow(settings.warn_interval) {
                    log::warn!(
                        "session cookie {name:?} authenticated but does not deserialize into {}: \
                         {err}; every such visitor is signed out{}",
                        std::any::type_name::<T>(),
                        Suppressed(suppressed),
                    );
                }
            }
            Error::UnknownKey { .. }
            | Error::RetiredKey { .. }
            | Error::RevokedKey { .. }
            | Error::UnknownDictionary { .. }
            | Error::Decompression => {
                if let Some(suppressed) = settings.key_warnings.allow(settings.warn_interval) {
                    log::warn!(
                        "session cookie {name:?} ignored: {err}{}",
                        Suppressed(suppressed)
                    );
                }
            }
            _ => log::debug!("session cookie {name:?} ignored: {err}"),
        }
    }
}

impl fmt::Debug for SessionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSettings")
            .field("codec", &self.inner.codec)
            .field("reseal", &self.inner.reseal)
            .field("clear_invalid", &self.inner.clear_invalid)
            .field("warn_interval", &self.inner.warn_interval)
            .finish()
    }
}

/// ", N similar warnings suppressed" when N > 0.
struct Suppressed(u64);

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} similar warnings suppressed since the last one)"),
        }
    }
}

/// At most one event per interval, counting the ones it refuses.
struct RateLimit {
    start: Instant,
    /// 1 + milliseconds after `start` of the last allowed event; 0: none
    /// yet.
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    fn new() -> Self {
        RateLimit {
            start: Instant::now(),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed since the last allowed event)` when this event may
    /// be logged.
    fn allow(&self, interval: Duration) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let interval = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let last = self.last.load(Ordering::Relaxed);
        let too_soon = last != 0 && now < last.saturating_add(interval);
        if too_soon
            || self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

/// Opens the request's session when it is first needed.
type Loader<T> = Box<dyn FnOnce(&Codec) -> Result<Opened<T>> + Send>;

/// The session's JSON when the handler first changed it: what the final
/// JSON is compared with.
enum Start {
    /// There was no session.
    Absent,
    /// The session as JSON, wiped when dropped.
    Json(Zeroizing<Vec<u8>>),
    /// It could not be serialized: assume every change is one.
    Unknown,
}

struct State<T> {
    /// `Some` until the session is first accessed.
    loader: Option<Loader<T>>,
    /// True once the cookie was decoded (the response depends on it).
    decoded: bool,
    session: Option<T>,
    info: Option<SessionInfo>,
    /// The cookie was invalid in a way every server agrees on.
    clearable: bool,
    /// `Some` once the handler changed the session (since it was opened or
    /// purged).
    start: Option<Start>,
    /// The JSON the cookie opened to, kept when the first access was a
    /// change ([`SessionHandle::update`] and the like): the session before
    /// that change, without serializing it.
    opened_json: Option<Zeroizing<Vec<u8>>>,
    purged: bool,
    renewed: bool,
    /// The opened session's identity.
    identity: Option<Identity>,
    /// How the opened session is sealed again ([`Opened::lineage`]).
    lineage: Option<Lineage>,
    /// The subject a renewal gives the new session (`None`: keep the
    /// current one).
    renew_subject: Option<String>,
    /// `bind_device` was called: ask the browser to bind the session.
    #[cfg(feature = "dbsc")]
    bind: bool,
    /// The `Secure-Session-Registration` value `finish` produced.
    registration: Option<String>,
}

struct Shared<T> {
    settings: SessionSettings,
    navigation: bool,
    state: Mutex<State<T>>,
}

/// The session of one request, typed `T`: opened lazily from the request's
/// cookie, changed by the handler, and turned into the `Set-Cookie` values
/// of the response by [`SessionHandle::finish`].
///
/// Clones share the same session (one `Arc`). It is `Send + Sync` when `T`
/// is `Send`; its lock is taken only inside its own methods, never across
/// an `.await`. Do not call the handle from inside a closure passed to
/// [`read`](Self::read) or [`update`](Self::update): the lock is held there.
///
/// An invalid cookie is "no session": [`read`](Self::read) sees `None`,
/// [`update`](Self::update) starts from `T::default()`. Its `Debug` output
/// never shows the session.
///
/// ```
/// use sealed_session::{Codec, SessionHandle, SessionSettings};
/// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
/// struct Visits { count: u32 }
///
/// let settings = SessionSettings::new(Codec::builder("v").development_key().build()?);
/// let handle = SessionHandle::<Visits>::from_cookie_header(&settings, "v=forged", false);
/// assert!(handle.get().is_none(), "an invalid cookie is no session");
/// let count = handle.update(|v| { v.count += 1; v.count });
/// assert_eq!(count, 1);
/// assert_eq!(handle.finish(None)?.map(|c| c.len()), Some(1));
/// assert!(!format!("{handle:?}").contains("count"));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct SessionHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for SessionHandle<T> {
    fn clone(&self) -> Self {
        SessionHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for SessionHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("SessionHandle")
            .field("cookie", &self.shared.settings.codec().name())
            .field("decoded", &state.decoded)
            .field("session", &state.session.as_ref().map(|_| "<redacted>"))
            .field("info", &state.info)
            .field("changed", &state.start.is_some())
            .field("purged", &state.purged)
            .field("renewed", &state.renewed)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> SessionHandle<T> {
    /// A handle for a request with this `Cookie` header (`""` for none),
    /// decoded on first access. `navigation` tells whether the request is a
    /// top-level navigation (`Sec-Fetch-Mode: navigate`), for
    /// [`ResealPolicy::NavigationsOnly`].
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "theme=dark", true);
    /// assert!(handle.get().is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_cookie_header(
        settings: &SessionSettings,
        cookie_header: impl Into<String>,
        navigation: bool,
    ) -> Self
    where
        T: Send + 'static,
    {
        let header = Zeroizing::new(cookie_header.into());
        Self::with_loader(settings, navigation, move |codec| codec.decode(&header))
    }

    /// A handle whose session is opened by `load` on first access: adapters
    /// pass a closure that owns (cheap clones of) the request's `Cookie`
    /// header fields and calls [`Codec::decode_fields`]. `load` is never
    /// called when the handler does not touch the session.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let fields = vec![b"theme=dark".to_vec(), b"lang=en".to_vec()];
    /// let handle = SessionHandle::<DynamicSession>::with_loader(&settings, false, move |codec| {
    ///     codec.decode_fields(fields.iter())
    /// });
    /// assert!(handle.get().is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn with_loader(
        settings: &SessionSettings,
        navigation: bool,
        load: impl FnOnce(&Codec) -> Result<Opened<T>> + Send + 'static,
    ) -> Self {
        SessionHandle {
            shared: Arc::new(Shared {
                settings: settings.clone(),
                navigation,
                state: Mutex::new(State {
                    loader: Some(Box::new(load)),
                    decoded: false,
                    session: None,
                    info: None,
                    clearable: false,
                    start: None,
                    opened_json: None,
                    purged: false,
                    renewed: false,
                    identity: None,
                    lineage: None,
                    renew_subject: None,
                    #[cfg(feature = "dbsc")]
                    bind: false,
                    registration: None,
                }),
            }),
        }
    }

    /// Runs `f` with the session (`None`: the request has none, or its
    /// cookie was invalid) and returns its result.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// assert_eq!(handle.read(|s| s.map_or(0, |s| s.len())), 0);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn read<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let state = self.loaded();
        f(state.session.as_ref())
    }

    /// A copy of the session, if there is one.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// handle.set(DynamicSession::new());
    /// assert_eq!(handle.get(), Some(DynamicSession::new()));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.read(|session| session.cloned())
    }

    /// Runs `f` on the session (starting from `T::default()` when there is
    /// none) and returns its result. The response carries a new seal only if
    /// the session's JSON differs from what it was before the first change
    /// in this request. When that first change is also the first access,
    /// "before" is the JSON the cookie carried (no second serialization):
    /// a session whose JSON is not deterministic (a `HashMap` field) or a
    /// cookie written by another serializer is then sealed again even when
    /// unchanged.
    ///
    /// ```
    /// # use sealed_session::{Codec, SessionHandle, SessionSettings};
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Prefs { dark: bool }
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<Prefs>::from_cookie_header(&settings, "", false);
    /// handle.update(|p| p.dark = false);
    /// assert!(handle.finish(None)?.is_none(), "still the default: nothing to write");
    /// handle.update(|p| p.dark = true);
    /// assert!(handle.finish(None)?.is_some());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R
    where
        T: Default,
    {
        let mut state = self.loaded_to_change();
        let state = &mut *state;
        let session = state.session.get_or_insert_with(T::default);
        if state.start.is_none() {
            // A default session left as it is writes nothing either.
            state.start = Some(start_of(state.opened_json.take(), Some(&*session)));
        }
        f(session)
    }

    /// Runs `f` on the session if there is one (for session types without
    /// a `Default`), and returns its result; `None` without a session. The
    /// same rule as [`update`](Self::update): a seal only if the JSON
    /// changed.
    ///
    /// ```
    /// # use sealed_session::{Codec, SessionHandle, SessionSettings};
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Login { user: u64 }
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<Login>::from_cookie_header(&settings, "", false);
    /// assert_eq!(handle.update_existing(|l| l.user), None);
    /// handle.set(Login { user: 7 });
    /// assert_eq!(handle.update_existing(|l| { l.user += 1; l.user }), Some(8));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn update_existing<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut state = self.loaded_to_change();
        let state = &mut *state;
        let session = state.session.as_mut()?;
        if state.start.is_none() {
            state.start = Some(start_of(state.opened_json.take(), Some(&*session)));
        }
        Some(f(session))
    }

    /// Replaces the session. As with [`update`](Self::update), an identical
    /// session writes nothing.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// handle.set(DynamicSession::new());
    /// assert_eq!(handle.finish(None)?.map(|c| c.len()), Some(1));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn set(&self, session: T) {
        let mut state = self.loaded_to_change();
        if state.start.is_none() {
            let opened = state.opened_json.take();
            state.start = Some(start_of(opened, state.session.as_ref()));
        }
        state.session = Some(session);
    }

    /// Ends the session: the response removes the cookie and every chunk,
    /// with the codec's Domain and Path, whether or not this server could
    /// open it (the cookie is not even decoded). A later
    /// [`set`](Self::set) or [`update`](Self::update) in the same request
    /// starts a new session. Only this browser's cookie is removed: a copy
    /// taken earlier still opens until it expires.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "s=unreadable", false);
    /// handle.purge();
    /// assert!(handle.is_purged());
    /// let removal = handle.finish(None)?.expect("a removal");
    /// assert!(removal.iter().all(|c| c.contains("Max-Age=0")));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn purge(&self) {
        let mut state = self.state();
        state.loader = None;
        state.session = None;
        state.opened_json = None;
        state.info = None;
        state.start = None;
        state.renewed = false;
        state.identity = None;
        state.lineage = None;
        state.renew_subject = None;
        state.purged = true;
    }

    /// Seals the session afresh in this response as a **new session**: a new
    /// session id, created now, originating from the current primary key
    /// (same subject as before), changed or not; nothing when there is no
    /// session. Call it when the user signs in and when their privileges
    /// change, so a session id planted before sign-in (session fixation)
    /// never becomes an authenticated one. See also
    /// [`renew_for`](Self::renew_for).
    ///
    /// A device-bound session (feature `dbsc`) keeps its session id,
    /// creation time and binding instead: a new id would be an unbound
    /// session, a plain bearer cookie for whoever holds a copy of the
    /// session and bound cookies. `renew_for` with another subject still
    /// starts a new, unbound session.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let pair = codec.encode(&DynamicSession::new())?.iter().next().unwrap()
    ///     .split(';').next().unwrap().to_owned();
    /// let settings = SessionSettings::new(codec);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, pair, false);
    /// handle.renew();
    /// assert!(handle.finish(None)?.is_some());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn renew(&self) {
        self.loaded().renewed = true;
    }

    /// [`renew`](Self::renew), and the new session belongs to `subject` (a
    /// user id, at most [`MAX_SUBJECT_LEN`](crate::MAX_SUBJECT_LEN) bytes):
    /// call it at sign-in, so that revoking the subject ("sign out
    /// everywhere") ends this session too.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// handle.set(DynamicSession::new());
    /// handle.renew_for("user-42");
    /// let cookies = handle.finish(None)?.expect("a seal");
    /// let pair = cookies.iter().next().unwrap().split(';').next().unwrap().to_owned();
    /// let next = SessionHandle::<DynamicSession>::from_cookie_header(&settings, pair, false);
    /// assert_eq!(next.identity().unwrap().subject.as_deref(), Some("user-42"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn renew_for(&self, subject: impl Into<String>) {
        let mut state = self.loaded();
        state.renewed = true;
        state.renew_subject = Some(subject.into());
    }

    /// Asks the browser to bind this session to a device key (DBSC) in
    /// this response: call it at sign-in, after [`SessionHandle::renew_for`].
    /// A browser with DBSC registers a key and from then on the session
    /// opens only with a short-lived bound cookie that only that device can
    /// refresh; a browser without DBSC ignores the request and keeps an
    /// ordinary session. Needs a codec with
    /// [`CodecBuilder::device_binding`](crate::CodecBuilder::device_binding);
    /// an already bound session is left as it is.
    ///
    /// ```
    /// use sealed_session::{Codec, DeviceBinding, DynamicSession, SessionHandle, SessionSettings};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// let settings = SessionSettings::new(codec);
    /// let session = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", true);
    /// session.set(DynamicSession::new());
    /// session.renew_for("user-42");
    /// session.bind_device();
    /// let cookies = session.finish(None)?.expect("a new session is set");
    /// assert_eq!(cookies.len(), 1);
    /// let header = session.registration_header().expect("binding is requested");
    /// assert!(header.starts_with("(ES256);path=\"/dbsc/start\""));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[cfg(feature = "dbsc")]
    pub fn bind_device(&self) {
        self.loaded().bind = true;
    }

    /// The `Secure-Session-Registration` header value to send with this
    /// response, once [`SessionHandle::finish`] ran after `bind_device`
    /// (the integrations send it).
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let session = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", true);
    /// assert!(session.registration_header().is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn registration_header(&self) -> Option<String> {
        self.state().registration.clone()
    }

    /// The identity of the session opened from the cookie: its id, creation
    /// time, origin key and subject (`None` without a valid cookie, for a
    /// value sealed without identity, or after [`purge`](Self::purge)).
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// assert!(handle.identity().is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn identity(&self) -> Option<Identity> {
        self.loaded().identity.clone()
    }

    /// What is known about the session opened from the cookie (`None`
    /// without a valid cookie, or after [`purge`](Self::purge)).
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// assert!(handle.info().is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn info(&self) -> Option<SessionInfo> {
        self.loaded().info
    }

    /// The `Set-Cookie` values for the end of the request (see the table in
    /// the module documentation), or `None` when nothing is to be sent.
    /// `host` is the request's host (`Host` header or URI authority, port
    /// allowed); it is needed only when the codec derives the cookie Domain
    /// from it with a [`DomainRule`](crate::DomainRule).
    ///
    /// Fails when the session cannot be sealed: [`Error::TooLarge`] (store
    /// less), [`Error::Serialize`], or [`Error::Config`] for a missing or
    /// foreign host under a domain rule. Changes made after this call are
    /// not sent.
    ///
    /// ```
    /// use sealed_session::{Codec, DomainRule, DynamicSession, SessionHandle, SessionSettings};
    /// let codec = Codec::builder("s").development_key()
    ///     .domain_rule(DomainRule::RegistrableDomain).build()?;
    /// let settings = SessionSettings::new(codec);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// handle.set(DynamicSession::new());
    /// assert!(handle.finish(None).is_err(), "the Domain needs the host");
    /// let cookies = handle.finish(Some("www.example.com:8443"))?.expect("a seal");
    /// assert!(cookies.iter().next().unwrap().contains("; Domain=example.com"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn finish(&self, host: Option<&str>) -> Result<Option<SetCookies>> {
        let output = self.finish_cookies(host)?;
        #[cfg(feature = "dbsc")]
        self.request_binding(output.as_ref(), host)?;
        Ok(output.map(Output::into_cookies))
    }

    /// After `bind_device`: the registration header for the identity just
    /// sealed (as the seal reports it) or, when nothing was sealed, the
    /// opened one.
    #[cfg(feature = "dbsc")]
    fn request_binding(&self, output: Option<&Output>, host: Option<&str>) -> Result<()> {
        let mut state = self.state();
        if !state.bind || state.purged {
            return Ok(());
        }
        let codec = self.shared.settings.codec();
        let identity = match output {
            Some(Output::Sealed(_, identity)) => identity.clone(),
            Some(Output::Removal(_)) => None,
            None => state.identity.clone(),
        };
        match identity {
            Some(identity) if !identity.bound => {
                state.registration = Some(codec.dbsc_registration_header(&identity, host)?);
            }
            _ => log::debug!(
                "session cookie {:?}: device binding requested without an unbound session",
                codec.name()
            ),
        }
        Ok(())
    }

    fn finish_cookies(&self, host: Option<&str>) -> Result<Option<Output>> {
        let state = self.state();
        let codec = self.shared.settings.codec();
        if state.loader.is_some() {
            // Never accessed (a purge drops the loader).
            return Ok(None);
        }
        if let Some(session) = &state.session {
            let reseal = state.info.is_some_and(|info| info.reseal.is_some())
                && match self.shared.settings.inner.reseal {
                    ResealPolicy::Always => true,
                    ResealPolicy::NavigationsOnly => self.shared.navigation,
                };
            // A renewal or a re-seal writes the session even unchanged,
            // unless it was purged (and then left as the default).
            let anyway = !state.purged && (state.renewed || reseal);
            if anyway || state.start.is_some() {
                let unchanged = |json: &[u8]| {
                    !anyway
                        && match &state.start {
                            Some(Start::Json(before)) => before.as_slice() == json,
                            Some(Start::Absent | Start::Unknown) | None => false,
                        }
                };
                let sealed = seal_changed(codec, session, unchanged, &lineage(&state), host)?;
                if sealed.is_some() {
                    return Ok(sealed);
                }
            }
        }
        if state.purged || (state.clearable && self.shared.settings.inner.clear_invalid) {
            return removal(codec, host).map(|c| Some(Output::Removal(c)));
        }
        Ok(None)
    }

    /// The state, decoded.
    fn loaded(&self) -> MutexGuard<'_, State<T>> {
        self.load(false)
    }

    /// [`loaded`](Self::loaded) for an access that changes the session:
    /// a load keeps the JSON the cookie opened to, the session before the
    /// change.
    fn loaded_to_change(&self) -> MutexGuard<'_, State<T>> {
        self.load(true)
    }

    fn load(&self, to_change: bool) -> MutexGuard<'_, State<T>> {
        let mut state = self.state();
        if let Some(load) = state.loader.take() {
            let settings = &self.shared.settings;
            state.decoded = true;
            let loaded = if to_change {
                keeping_json(|| load(settings.codec()))
            } else {
                load(settings.codec())
            };
            match loaded {
                Ok(mut opened) => {
                    state.opened_json = opened.json.take();
                    state.info = Some(SessionInfo {
                        key_id: opened.key_id,
                        issued_at: opened.issued_at,
                        expires_at: opened.expires_at,
                        reseal: opened.reseal,
                    });
                    state.lineage = Some(opened.lineage());
                    state.identity = opened.identity;
                    state.session = Some(opened.session);
                }
                Err(err) => {
                    settings.log_invalid::<T>(&err);
                    state.clearable = clearable(&err);
                }
            }
        }
        state
    }
}

impl<T> SessionHandle<T> {
    /// True once the request's cookie was decoded, so the response depends
    /// on it (adapters send `Vary: Cookie`).
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// assert!(!handle.is_decoded());
    /// handle.get();
    /// assert!(handle.is_decoded());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn is_decoded(&self) -> bool {
        self.state().decoded
    }

    /// True when [`purge`](Self::purge) was called.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// assert!(!handle.is_purged());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn is_purged(&self) -> bool {
        self.state().purged
    }

    /// The settings the handle was made with.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// assert_eq!(handle.settings().codec().name(), "s");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn settings(&self) -> &SessionSettings {
        &self.shared.settings
    }

    /// [`finish`](Self::finish) for a response that failed (a 5xx status):
    /// nothing but the removal, if the handler purged the session. A
    /// handler that failed half-way must not leave a half-changed session.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, SessionHandle, SessionSettings};
    /// # let settings = SessionSettings::new(Codec::builder("s").development_key().build()?);
    /// let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    /// handle.set(DynamicSession::new());
    /// assert!(handle.finish_failed(None)?.is_none());
    /// handle.purge();
    /// assert!(handle.finish_failed(None)?.is_some());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn finish_failed(&self, host: Option<&str>) -> Result<Option<SetCookies>> {
        if self.state().purged {
            removal(self.shared.settings.codec(), host).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The state; a poisoned lock (a closure panicked) is still usable: the
    /// adapter writes nothing for a failed response anyway.
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The JSON of the session before its first change, in a buffer that
/// leaves no unwiped copy behind: the JSON the cookie opened to when the
/// load kept it (`opened`), else the session serialized.
fn start_of<T: Serialize>(opened: Option<Zeroizing<Vec<u8>>>, session: Option<&T>) -> Start {
    match (session, opened) {
        (None, _) => Start::Absent,
        (Some(_), Some(json)) => Start::Json(json),
        (Some(session), None) => match json_copy(session) {
            Ok(json) => Start::Json(json),
            Err(_) => Start::Unknown,
        },
    }
}

/// True for cookies that no server of the deployment can open, now or
/// later: safe to remove. An unknown key or dictionary may be ahead of this
/// server, a future issued-at a clock behind it, a type mismatch a deploy in
/// progress; a corrupt body means another configuration. A session refused
/// for [`Error::BindingRequired`] is kept too: a DBSC browser whose first
/// refresh comes after the grace still presents it to the refresh endpoint,
/// which binds it.
fn clearable(err: &Error) -> bool {
    matches!(
        err,
        Error::Malformed { .. }
            | Error::Unauthenticated
            | Error::RevokedKey { .. }
            | Error::RetiredKey { .. }
            | Error::Expired { .. }
            | Error::LifetimeEnded { .. }
            | Error::Revoked { .. }
            | Error::TooLarge { .. }
    )
}

/// Where the identity of the next seal comes from: a renewal starts a new
/// session (keeping the subject unless a new one was given), an opened
/// session carries its identity, anything else is a new session.
fn lineage<T>(state: &State<T>) -> Lineage {
    let current_subject = || state.identity.as_ref().and_then(|i| i.subject.clone());
    match (&state.identity, state.renewed) {
        // A device-bound session renewed for the same user keeps its id and
        // its binding: a new id would be an unbound session, which a copy of
        // the session and bound cookies could then carry away as a plain
        // bearer cookie for the rest of the absolute lifetime.
        (Some(identity), true)
            if identity.bound
                && state
                    .renew_subject
                    .as_ref()
                    .is_none_or(|subject| identity.subject.as_ref() == Some(subject)) =>
        {
            state.lineage.clone().unwrap_or_default()
        }
        (_, true) => match state.renew_subject.clone().or_else(current_subject) {
            Some(subject) => Lineage::new_for(subject),
            None => Lineage::new(),
        },
        (_, false) => state.lineage.clone().unwrap_or_default(),
    }
}

/// What `finish` sends, before it becomes plain `Set-Cookie` values.
enum Output {
    /// A seal, and the identity it wrote (`None` when the codec writes none):
    /// what device binding registers.
    Sealed(
        SetCookies,
        #[cfg_attr(not(feature = "dbsc"), allow(dead_code))] Option<Identity>,
    ),
    /// The removal of the cookie.
    Removal(SetCookies),
}

impl Output {
    fn into_cookies(self) -> SetCookies {
        match self {
            Output::Sealed(cookies, _) | Output::Removal(cookies) => cookies,
        }
    }
}

/// Serializes the session into the thread's sealing buffer and, unless
/// `unchanged` finds that JSON to be what the client already has, seals it
/// from there: one serialization, and no copy of the JSON outside the
/// wiped buffers. The nonce is drawn only for a seal.
fn seal_changed<T: Serialize>(
    codec: &Codec,
    session: &T,
    unchanged: impl FnOnce(&[u8]) -> bool,
    lineage: &Lineage,
    host: Option<&str>,
) -> Result<Option<Output>> {
    let now = now_unix();
    let sealed = with_json(session, |json, buf| {
        if unchanged(json) {
            return Ok(None);
        }
        codec
            .seal_json_into(json, lineage, now, random_nonce()?, buf)
            .map(Some)
    })?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let host = match &codec.cookie.domain {
        DomainSetting::Rule(_) => Some(require_host(host)?),
        DomainSetting::HostOnly | DomainSetting::Fixed(_) => None,
    };
    let (cookies, identity) = codec.sealed_cookies(sealed, host, now)?;
    Ok(Some(Output::Sealed(cookies, identity)))
}

fn removal(codec: &Codec, host: Option<&str>) -> Result<SetCookies> {
    match &codec.cookie.domain {
        DomainSetting::Rule(_) => codec.removal_for_host(require_host(host)?),
        DomainSetting::HostOnly | DomainSetting::Fixed(_) => Ok(codec.removal()),
    }
}

fn require_host(host: Option<&str>) -> Result<&str> {
    host.ok_or_else(|| {
        Error::config(
            "the cookie Domain is derived from the request's host (a DomainRule), but the \
             request names no host: pass the Host header or the URI authority to finish()",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_one_per_interval_and_counts_the_rest() {
        let limit = RateLimit::new();
        assert_eq!(limit.allow(Duration::from_secs(3600)), Some(0));
        assert_eq!(limit.allow(Duration::from_secs(3600)), None);
        assert_eq!(limit.allow(Duration::from_secs(3600)), None);
        assert_eq!(limit.allow(Duration::ZERO), Some(2));
        assert_eq!(limit.allow(Duration::ZERO), Some(0));
    }

    #[test]
    fn only_cookies_no_server_opens_are_clearable() {
        let id = KeyId([1; crate::core::format::KEY_ID_LEN]);
        assert!(clearable(&Error::Unauthenticated));
        assert!(clearable(&Error::Expired {
            expired_at: 1,
            now: 2
        }));
        assert!(!clearable(&Error::UnknownKey { key_id: id }));
        assert!(!clearable(&Error::UnknownDictionary {
            dictionary_id: crate::core::dictionary::DictionaryId(
                [0; crate::core::dictionary::DICTIONARY_ID_LEN]
            )
        }));
        assert!(!clearable(&Error::NoCookie));
        assert!(!clearable(&Error::BindingRequired {
            created_at: Some(0),
            grace_secs: 60,
            now: 120,
        }));
        assert!(!clearable(&Error::NotYetValid {
            issued_at: 2,
            now: 1
        }));
    }
}
