//! The codec: configuration, and the thin shell (clock and randomness) around
//! the pure sealing core in `core/seal.rs`. The core and the HTTP layer
//! (`http/`) add their own `impl Codec` blocks; this file holds the types and
//! the builder.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::Mac;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::compression::Compression;
use crate::core::dictionary::Dictionary;
use crate::core::format::{KEY_ID_LEN, NONCE_LEN, VERSION_SEALED};
use crate::core::identity::{Identity, Lineage};
use crate::error::{Error, Result};
use crate::http::cookie_options::CookieOptions;
use crate::keys::key::KeyId;
use crate::keys::ring::{KeyRing, SigningMac};
use crate::revocation::set::RevocationSet;

/// Default sealed lifetime: one day.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest `max_age` a codec accepts: 400 days, the cap browsers put on
/// a cookie's lifetime (RFC 6265bis; Chrome and Firefox enforce it). A
/// longer sealed lifetime would outlive every cookie that carries it.
pub const MAX_LIFETIME: Duration = Duration::from_secs(400 * 24 * 60 * 60);
/// Default absolute lifetime of a session, from its creation (sign-in)
/// whatever re-seals happen: seven days.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default allowance for clocks that disagree between servers.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Default bound on a decompressed session body.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 * 1024;
/// Default share of the lifetime after which a session should be re-sealed.
pub const DEFAULT_REFRESH_AFTER: f64 = 0.5;

/// How values are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Encrypted and authenticated with XAES-256-GCM (format version 1).
    Sealed,
    /// Readable by the page's script, authenticated with HMAC-SHA256 (format
    /// version 2). For CSRF tokens or display preferences, never secrets.
    SignedOnly,
}

/// Why an opened session should be sealed again in this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reseal {
    /// It was opened by a key that is not the primary one (rotation).
    NotPrimaryKey,
    /// It was compressed with a dictionary that is no longer the current
    /// one (dictionary rotation).
    OldDictionary,
    /// It has lived past the configured share of its lifetime (sliding
    /// refresh).
    Refresh,
    /// It was sealed without an identity (by a server that did not write
    /// one yet) and this codec writes identities: sealing it again gives
    /// it one, so the absolute lifetime and revocation apply from now on.
    AddIdentity,
    /// It is a device-bound session that was sealed without its bound mark
    /// (a request re-sealed it while the device registration was under
    /// way) and the request carried its valid bound cookie: sealing it
    /// again restores the mark.
    Bound,
}

/// A session that opened successfully, with what the server should know
/// about it. Its `Debug` output never shows the session itself.
#[non_exhaustive]
pub struct Opened<T> {
    /// The session data.
    pub session: T,
    /// The key that opened it.
    pub key_id: KeyId,
    /// When it was sealed, Unix seconds.
    pub issued_at: u64,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
    /// Set when the caller should re-seal the session in this response.
    pub reseal: Option<Reseal>,
    /// The session's identity: `None` for signed-only values and for values
    /// sealed without one.
    pub identity: Option<Identity>,
    /// The JSON the value opened to, when the session handle asked for it
    /// (a load before a change): what the handle compares the changed
    /// session with. Wiped when dropped.
    pub(crate) json: Option<zeroize::Zeroizing<Vec<u8>>>,
}

impl<T> Opened<T> {
    /// True when the session should be sealed again in this response.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, KeyRing};
    /// let codec = Codec::builder("s").key_ring(KeyRing::ephemeral_for_development()).build()?;
    /// let value = codec.seal(&DynamicSession::new())?;
    /// assert!(!codec.open::<DynamicSession>(&value)?.needs_reseal());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn needs_reseal(&self) -> bool {
        self.reseal.is_some()
    }

    /// How to seal this session again: carrying its identity (same session
    /// id, creation time and subject), or, for a value without one, as a new
    /// session. Pass it to [`Codec::encode_with`] (or [`Codec::seal_with`])
    /// for every re-seal.
    ///
    /// The origin key is carried too, except when the value opened under a
    /// key that is not the primary: then that key becomes the origin. The
    /// identity is written by whoever holds the key, so a value forged under
    /// a leaked older key could otherwise claim the primary as its origin and,
    /// once re-sealed, survive the leaked key's revocation. (A session
    /// created under a key two rotations back thus ends with the key that
    /// last vouched for it rather than with the first one.)
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Key, KeyRing, Lineage};
    /// let codec = Codec::builder("s").key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?).build()?;
    /// let value = codec.seal_at(&DynamicSession::new(), 1_000, [1; 24])?;
    /// let opened = codec.open_at::<DynamicSession>(&value, 1_000)?;
    /// assert!(matches!(opened.lineage(), Lineage::Continue(_)));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn lineage(&self) -> Lineage {
        // Set for every value that opened under a key other than the primary
        // (reseal_reason reports that before any other reason).
        let older_key = (self.reseal == Some(Reseal::NotPrimaryKey)).then_some(self.key_id);
        match &self.identity {
            Some(identity) => {
                let mut identity = identity.clone();
                if let Some(key) = older_key {
                    identity.origin_key = key;
                }
                Lineage::Continue(identity)
            }
            None => Lineage::New {
                subject: None,
                origin: older_key,
            },
        }
    }
}

impl<T> fmt::Debug for Opened<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("session", &"<redacted>")
            .field("key_id", &self.key_id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("reseal", &self.reseal)
            .field("identity", &self.identity)
            .finish()
    }
}

/// Precomputed per key of the ring (same order as the ring's entries), so
/// the per-request path only looks things up.
pub(crate) struct PerKey {
    /// version || key id || cookie name: the AEAD associated data.
    pub(crate) aad: Vec<u8>,
    /// HMAC state that has absorbed u16be(name length) || name; overwritten
    /// when dropped.
    pub(crate) mac: SigningMac,
}

/// Seals sessions into cookie values and opens them again, for one cookie
/// name. Build it once at start-up and share it (it is `Send + Sync`).
///
/// ```
/// use sealed_session::{Codec, DynamicSession, KeyRing};
/// use serde_json::json;
///
/// let codec = Codec::builder("session")
///     .key_ring(KeyRing::ephemeral_for_development())
///     .build()?;
/// let session: DynamicSession = serde_json::from_value(json!({"user": 42}))
///     .expect("an object");
/// let value = codec.seal(&session)?;
/// let opened = codec.open::<DynamicSession>(&value)?;
/// assert_eq!(opened.session, session);
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct Codec {
    pub(crate) name: String,
    pub(crate) ring: Arc<KeyRing>,
    pub(crate) per_key: Vec<PerKey>,
    pub(crate) mode: Mode,
    pub(crate) max_age: u64,
    pub(crate) max_lifetime: u64,
    pub(crate) write_identity: bool,
    pub(crate) compact_identity: bool,
    pub(crate) revocations: Option<Arc<RevocationSet>>,
    pub(crate) clock_skew: u64,
    pub(crate) compression: Compression,
    pub(crate) max_decompressed: usize,
    pub(crate) pad_to: Option<usize>,
    pub(crate) refresh_after: f64,
    /// Every dictionary that opens values; the first one also compresses
    /// new values unless `open_only_dictionaries` alone were configured.
    pub(crate) dictionaries: Vec<Arc<Dictionary>>,
    pub(crate) compresses_with_dictionary: bool,
    pub(crate) cookie: CookieOptions,
    /// Device binding (DBSC): the codecs of the bound and refresh cookies
    /// and of challenges.
    #[cfg(feature = "dbsc")]
    pub(crate) binding: Option<Box<crate::dbsc::Binding>>,
}

impl Codec {
    /// Starts configuring a codec for the cookie called `name`.
    ///
    /// ```
    /// let builder = sealed_session::Codec::builder("__Secure-session");
    /// assert!(builder.build().is_err(), "no keys configured");
    /// ```
    pub fn builder(name: impl Into<String>) -> CodecBuilder {
        CodecBuilder {
            name: name.into(),
            ring: None,
            mode: Mode::Sealed,
            max_age: DEFAULT_MAX_AGE,
            max_lifetime: None,
            write_identity: true,
            compact_identity: true,
            revocations: None,
            clock_skew: DEFAULT_CLOCK_SKEW,
            compression: Compression::default(),
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            pad_to: None,
            refresh_after: DEFAULT_REFRESH_AFTER,
            dictionaries: Vec::new(),
            open_only_dictionaries: Vec::new(),
            cookie: CookieOptions::default(),
            #[cfg(feature = "dbsc")]
            binding: None,
        }
    }

    /// The cookie name this codec seals for.
    ///
    /// ```
    /// # let codec = sealed_session::Codec::builder("sid")
    /// #     .key_ring(sealed_session::KeyRing::ephemeral_for_development()).build()?;
    /// assert_eq!(codec.name(), "sid");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ring.
    ///
    /// ```
    /// # let codec = sealed_session::Codec::builder("sid")
    /// #     .key_ring(sealed_session::KeyRing::ephemeral_for_development()).build()?;
    /// assert_eq!(codec.key_ring().len(), 1);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The sealed lifetime in seconds.
    ///
    /// ```
    /// # let codec = sealed_session::Codec::builder("sid")
    /// #     .key_ring(sealed_session::KeyRing::ephemeral_for_development()).build()?;
    /// assert_eq!(codec.max_age(), 86_400);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn max_age(&self) -> u64 {
        self.max_age
    }

    /// Seals `session` into a cookie value, with the current time and a fresh
    /// random nonce. Fails with [`Error::TooLarge`] if cookie name and value
    /// together exceed the cookie size limit.
    ///
    /// ```
    /// # use sealed_session::{Codec, KeyRing};
    /// # let codec = Codec::builder("sid").key_ring(KeyRing::ephemeral_for_development()).build()?;
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Session { user: u64 }
    /// let value = codec.seal(&Session { user: 7 })?;
    /// assert_eq!(codec.open::<Session>(&value)?.session, Session { user: 7 });
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn seal<T: Serialize + ?Sized>(&self, session: &T) -> Result<String> {
        self.seal_at(session, now_unix(), random_nonce()?)
    }

    /// [`Codec::seal`] with the session's identity taken from `lineage`
    /// (see [`Codec::seal_with_at`]).
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, KeyRing, Lineage};
    /// # let codec = Codec::builder("sid").key_ring(KeyRing::ephemeral_for_development()).build()?;
    /// let value = codec.seal_with(&DynamicSession::new(), &Lineage::new_for("user-1"))?;
    /// let opened = codec.open::<DynamicSession>(&value)?;
    /// assert_eq!(opened.identity.unwrap().subject.as_deref(), Some("user-1"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn seal_with<T: Serialize + ?Sized>(
        &self,
        session: &T,
        lineage: &Lineage,
    ) -> Result<String> {
        self.seal_with_at(session, lineage, now_unix(), random_nonce()?)
    }

    /// Opens a cookie value at the current time.
    ///
    /// This opens one value. A device-bound session (`identity.bound`) needs
    /// its bound cookie too, which only the request-level methods see: for a
    /// request, use [`Codec::decode`] or [`Codec::session`] (and their byte
    /// and field forms), which refuse a bound session without a valid bound
    /// cookie as [`Error::Unbound`].
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, Error, KeyRing};
    /// # let codec = Codec::builder("sid").key_ring(KeyRing::ephemeral_for_development()).build()?;
    /// assert_eq!(codec.open::<DynamicSession>("AAAA").unwrap_err(),
    ///            Error::Malformed { reason: "unknown format version" });
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn open<T: DeserializeOwned>(&self, value: &str) -> Result<Opened<T>> {
        self.open_at(value, now_unix())
    }
}

impl Codec {
    #[cfg(feature = "dbsc")]
    fn device_binding_config(&self) -> Option<&crate::dbsc::DeviceBinding> {
        self.device_binding()
    }

    #[cfg(not(feature = "dbsc"))]
    fn device_binding_config(&self) -> Option<()> {
        None
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("name", &self.name)
            .field("ring", &self.ring)
            .field("mode", &self.mode)
            .field("max_age", &self.max_age)
            .field("max_lifetime", &self.max_lifetime)
            .field("write_identity", &self.write_identity)
            .field("compact_identity", &self.compact_identity)
            .field("revocations", &self.revocations)
            .field("clock_skew", &self.clock_skew)
            .field("compression", &self.compression)
            .field("max_decompressed", &self.max_decompressed)
            .field("pad_to", &self.pad_to)
            .field(
                "dictionaries",
                &self.dictionaries.iter().map(|d| d.id()).collect::<Vec<_>>(),
            )
            .field("cookie", &self.cookie)
            .field("device_binding", &self.device_binding_config())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Codec`]; [`CodecBuilder::build`] validates everything at
/// once, so a misconfiguration stops the server at start-up.
///
/// ```
/// use std::time::Duration;
/// use sealed_session::{Codec, Compression, KeyRing};
/// let codec = Codec::builder("session")
///     .key_ring(KeyRing::ephemeral_for_development())
///     .max_age(Duration::from_secs(3600))
///     .compression(Compression::Off)
///     .build()?;
/// assert_eq!(codec.max_age(), 3600);
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct CodecBuilder {
    pub(crate) name: String,
    pub(crate) ring: Option<Arc<KeyRing>>,
    pub(crate) mode: Mode,
    pub(crate) max_age: Duration,
    /// `None`: [`DEFAULT_MAX_LIFETIME`], or `max_age` when that is longer.
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) write_identity: bool,
    pub(crate) compact_identity: bool,
    pub(crate) revocations: Option<Arc<RevocationSet>>,
    pub(crate) clock_skew: Duration,
    pub(crate) compression: Compression,
    pub(crate) max_decompressed: usize,
    pub(crate) pad_to: Option<usize>,
    pub(crate) refresh_after: f64,
    pub(crate) dictionaries: Vec<Arc<Dictionary>>,
    pub(crate) open_only_dictionaries: Vec<Arc<Dictionary>>,
    pub(crate) cookie: CookieOptions,
    #[cfg(feature = "dbsc")]
    pub(crate) binding: Option<crate::dbsc::DeviceBinding>,
}

impl CodecBuilder {
    /// The keys to seal and open with. Required, unless
    /// [`CodecBuilder::development_key`] is called explicitly.
    ///
    /// ```
    /// # use sealed_session::{Codec, Key, KeyRing};
    /// let ring = KeyRing::from_keys([Key::generate()])?;
    /// let codec = Codec::builder("sid").key_ring(ring).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn key_ring(mut self, ring: impl Into<Arc<KeyRing>>) -> Self {
        self.ring = Some(ring.into());
        self
    }

    /// Uses a fresh ephemeral key and logs a warning: every cookie dies with
    /// the process. For development only.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("sid").development_key().build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn development_key(self) -> Self {
        self.key_ring(KeyRing::ephemeral_for_development())
    }

    /// Sealed (encrypted, the default) or signed-only.
    ///
    /// ```
    /// # use sealed_session::{Codec, Mode};
    /// let codec = Codec::builder("prefs").development_key().mode(Mode::SignedOnly).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How long a sealed session lives (default one day). It is written
    /// inside the authenticated data; the cookie's Max-Age is this minus the
    /// clock skew. [`CodecBuilder::build`] refuses a lifetime at or below the
    /// clock skew, or above [`MAX_LIFETIME`] (400 days).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sealed_session::Codec::builder("sid").max_age(Duration::from_secs(600));
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The absolute lifetime of a session (default 7 days, or `max_age`
    /// when that is longer): a value whose
    /// session was created longer ago than this is refused as
    /// [`Error::LifetimeEnded`], whatever re-seals happened, so sliding
    /// refresh cannot keep a (stolen) session alive forever. The Set-Cookie
    /// Max-Age never exceeds what remains of it. It must be at least
    /// `max_age` and at most [`MAX_LIFETIME`]. Applies to values with an
    /// identity (sealed mode).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sealed_session::Codec::builder("sid").max_lifetime(Duration::from_secs(12 * 3600));
    /// ```
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// Whether new values carry an identity (default `true`). Servers of a
    /// version without identities refuse such values, so roll out in two
    /// steps: first deploy this version with `write_identity(false)` on every
    /// server (all of them then read both forms), then switch it on. Values
    /// without identity keep opening either way.
    ///
    /// ```
    /// let phase_one = sealed_session::Codec::builder("sid").write_identity(false);
    /// ```
    pub fn write_identity(mut self, write: bool) -> Self {
        self.write_identity = write;
        self
    }

    /// Whether an identity leaves out its origin key id while that is the
    /// key sealing the value (default `true`; FORMAT.md, flags bit 5), which
    /// makes every value 4 bytes shorter until a key rotation. Servers of a
    /// version that writes identities but not this bit refuse such values,
    /// so upgrade from one in two steps: first deploy this version with
    /// `compact_identity(false)` on every server (all of them then read both
    /// forms), then switch it on.
    ///
    /// ```
    /// let phase_one = sealed_session::Codec::builder("sid").compact_identity(false);
    /// ```
    pub fn compact_identity(mut self, compact: bool) -> Self {
        self.compact_identity = compact;
        self
    }

    /// Binds sessions to devices (DBSC) when the browser supports it: see
    /// [`DeviceBinding`](crate::DeviceBinding) and the `dbsc` module docs.
    /// A bound session opens through `decode` only with its bound cookie.
    ///
    /// ```
    /// use sealed_session::{Codec, DeviceBinding};
    /// let codec = Codec::builder("s").development_key().device_binding(DeviceBinding::new()).build()?;
    /// assert_eq!(codec.device_binding(), Some(&DeviceBinding::new()));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[cfg(feature = "dbsc")]
    pub fn device_binding(mut self, binding: crate::dbsc::DeviceBinding) -> Self {
        self.binding = Some(binding);
        self
    }

    /// The revocation set checked after authentication, before a session is
    /// handed out. Its retention must cover the absolute lifetime plus the
    /// clock skew, so no entry is dropped while a value it matches could
    /// still open.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use sealed_session::{Codec, RevocationSet};
    /// let set = Arc::new(RevocationSet::new(Duration::from_secs(7 * 86_400 + 60)));
    /// let codec = Codec::builder("sid").development_key().revocations(set).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn revocations(mut self, set: Arc<RevocationSet>) -> Self {
        self.revocations = Some(set);
        self
    }

    /// How far servers' clocks may disagree (default 60 s, at most 1 hour).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sealed_session::Codec::builder("sid").clock_skew(Duration::from_secs(15));
    /// ```
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// How bodies are compressed (default zstd level 1, only when shorter).
    ///
    /// ```
    /// let b = sealed_session::Codec::builder("sid").compression(sealed_session::Compression::Off);
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Bound on a decompressed body (default 64 KiB). Opening refuses larger
    /// bodies before decompressing anything, even under a valid key.
    ///
    /// ```
    /// let b = sealed_session::Codec::builder("sid").max_decompressed_size(16 * 1024);
    /// ```
    pub fn max_decompressed_size(mut self, bytes: usize) -> Self {
        self.max_decompressed = bytes;
        self
    }

    /// Pads the plaintext to a multiple of `bucket` bytes, so a value's length
    /// reveals only its bucket (against the compression length side channel).
    ///
    /// ```
    /// let b = sealed_session::Codec::builder("sid").pad_to_multiple_of(256);
    /// ```
    pub fn pad_to_multiple_of(mut self, bucket: usize) -> Self {
        self.pad_to = Some(bucket);
        self
    }

    /// Share of the lifetime (0.0 to 1.0, default 0.5) after which an opened
    /// session is flagged [`Reseal::Refresh`] (sliding expiry). 1.0 disables
    /// refreshes.
    ///
    /// ```
    /// let b = sealed_session::Codec::builder("sid").refresh_after(0.75);
    /// ```
    pub fn refresh_after(mut self, share: f64) -> Self {
        self.refresh_after = share;
        self
    }

    /// Compression dictionaries, like keys: the first one compresses new
    /// values, all of them open values that name them. Sealing falls back to
    /// plain zstd (or no compression) whenever that is smaller.
    ///
    /// ```
    /// use sealed_session::{Codec, Dictionary};
    /// let current = Dictionary::from_bytes(br#"{"user":{"id":0,"roles":["buyer"]}}"#)?;
    /// let codec = Codec::builder("sid").development_key().dictionaries([current]).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn dictionaries<D: Into<Arc<Dictionary>>>(
        mut self,
        dictionaries: impl IntoIterator<Item = D>,
    ) -> Self {
        self.dictionaries = dictionaries.into_iter().map(Into::into).collect();
        self
    }

    /// Dictionaries that only open values, never compress: phase 1 of
    /// rolling out the very first dictionary (every server learns to open it
    /// before any server compresses with it). Listed after
    /// [`CodecBuilder::dictionaries`].
    ///
    /// ```
    /// use sealed_session::{Codec, Dictionary, DynamicSession};
    /// let new = Dictionary::from_bytes(br#"{"user":{"id":0,"roles":["buyer"]}}"#)?;
    /// let codec = Codec::builder("sid").development_key().open_only_dictionaries([new]).build()?;
    /// // Compressed without the dictionary, which is only accepted for opening.
    /// let value = codec.seal(&DynamicSession::new())?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn open_only_dictionaries<D: Into<Arc<Dictionary>>>(
        mut self,
        dictionaries: impl IntoIterator<Item = D>,
    ) -> Self {
        self.open_only_dictionaries = dictionaries.into_iter().map(Into::into).collect();
        self
    }

    /// Validates the configuration and prepares every per-key state.
    ///
    /// ```
    /// let err = sealed_session::Codec::builder("bad name").development_key().build().unwrap_err();
    /// assert!(err.to_string().contains("cookie name"));
    /// ```
    pub fn build(self) -> Result<Codec> {
        let ring = self.ring.ok_or_else(|| {
            Error::config(
                "no keys configured: give the codec a key ring (for example from \
                 SEALED_SESSION_KEYS; generate a key with `sealed-session keygen`), or call \
                 .development_key() explicitly for an ephemeral development key",
            )
        })?;
        validate_cookie_name(&self.name)?;
        let max_age = self.max_age.as_secs();
        let clock_skew = self.clock_skew.as_secs();
        if clock_skew > 3600 {
            return Err(Error::config(
                "clock_skew above one hour defeats expiry: synchronize the servers' clocks",
            ));
        }
        if max_age <= clock_skew {
            return Err(Error::config(format!(
                "max_age ({max_age} s) must be longer than clock_skew ({clock_skew} s): the \
                 cookie's Max-Age is the sealed lifetime minus the skew allowance; set max_age \
                 above {clock_skew} s (minutes at least) or lower clock_skew"
            )));
        }
        if self.max_age > MAX_LIFETIME {
            return Err(Error::config(format!(
                "max_age ({max_age} s) is longer than 400 days ({} s), the longest lifetime \
                 browsers keep a cookie: set max_age to at most 400 days",
                MAX_LIFETIME.as_secs()
            )));
        }
        let lifetime = self
            .max_lifetime
            .unwrap_or(DEFAULT_MAX_LIFETIME.max(self.max_age));
        let max_lifetime = lifetime.as_secs();
        if lifetime < self.max_age || lifetime > MAX_LIFETIME {
            return Err(Error::config(format!(
                "max_lifetime ({max_lifetime} s) must be at least max_age ({max_age} s) and at \
                 most 400 days: raise max_lifetime or lower max_age"
            )));
        }
        if let Some(set) = &self.revocations {
            let needed = max_lifetime.saturating_add(clock_skew);
            if set.retention().as_secs() < needed {
                return Err(Error::config(format!(
                    "the revocation set keeps entries for {} s, less than max_lifetime plus \
                     clock_skew ({needed} s): a revoked session could open again once its \
                     entry is dropped; create the set with a retention of at least {needed} s",
                    set.retention().as_secs()
                )));
            }
        }
        if let Compression::Zstd { level } = self.compression {
            if !(1..=19).contains(&level) {
                return Err(Error::config("zstd level must be between 1 and 19"));
            }
        }
        if let Some(bucket) = self.pad_to {
            if !(1..=4096).contains(&bucket) {
                return Err(Error::config(
                    "padding bucket must be between 1 and 4096 bytes",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.refresh_after) {
            return Err(Error::config(
                "refresh_after is a share between 0.0 and 1.0",
            ));
        }
        let compresses_with_dictionary = !self.dictionaries.is_empty();
        let mut dictionaries = self.dictionaries;
        dictionaries.extend(self.open_only_dictionaries);
        for (i, dict) in dictionaries.iter().enumerate() {
            if dictionaries.iter().take(i).any(|d| d.id() == dict.id()) {
                return Err(Error::config(format!(
                    "dictionary {} is listed twice: remove one of them",
                    dict.id()
                )));
            }
        }
        #[cfg(feature = "dbsc")]
        if self.binding.is_some() && !(self.mode == Mode::Sealed && self.write_identity) {
            return Err(Error::config(
                "device binding binds a session by its identity, which only a sealed codec \
                 writing identities has: remove write_identity(false) or Mode::SignedOnly, or \
                 remove device_binding",
            ));
        }
        #[cfg(feature = "dbsc")]
        let binding = match self.binding {
            Some(config) => Some(Box::new(crate::dbsc::Binding::build(
                config,
                &crate::dbsc::Parent {
                    name: &self.name,
                    ring: &ring,
                    max_lifetime: lifetime,
                    clock_skew: self.clock_skew,
                    revocations: self.revocations.as_ref(),
                    cookie: &self.cookie,
                },
            )?)),
            None => None,
        };
        let cookie = self.cookie.validated(&self.name)?;
        let name_len = u16::try_from(self.name.len())
            .map_err(|_| Error::config("cookie name is longer than 65535 bytes"))?;
        let per_key = ring
            .entries()
            .iter()
            .map(|entry| {
                let mut aad = Vec::with_capacity(1 + KEY_ID_LEN + self.name.len());
                aad.push(VERSION_SEALED);
                aad.extend_from_slice(entry.id.as_bytes());
                aad.extend_from_slice(self.name.as_bytes());
                let mut mac = entry.mac.clone();
                mac.update(&name_len.to_be_bytes());
                mac.update(self.name.as_bytes());
                PerKey {
                    aad,
                    mac: SigningMac::new(mac),
                }
            })
            .collect();
        Ok(Codec {
            name: self.name,
            ring,
            per_key,
            mode: self.mode,
            max_age,
            max_lifetime,
            write_identity: self.write_identity,
            compact_identity: self.compact_identity,
            revocations: self.revocations,
            clock_skew,
            compression: self.compression,
            max_decompressed: self.max_decompressed,
            pad_to: self.pad_to,
            refresh_after: self.refresh_after,
            dictionaries,
            compresses_with_dictionary,
            cookie,
            #[cfg(feature = "dbsc")]
            binding,
        })
    }
}

/// RFC 6265 cookie-name: a token, so no controls, spaces or separators.
fn validate_cookie_name(name: &str) -> Result<()> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";
    if name.is_empty() {
        return Err(Error::config("the cookie name must not be empty"));
    }
    if let Some(bad) = name
        .bytes()
        .find(|b| !b.is_ascii_graphic() || SEPARATORS.contains(b))
    {
        return Err(Error::config(format!(
            "the cookie name may not contain {:?}: use letters, digits and - _ . only",
            bad as char
        )));
    }
    Ok(())
}

/// The shell's clock: Unix seconds now.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The shell's randomness: every nonce comes straight from the operating
/// system (`getrandom(2)` on Linux), never from a generator buffered in the
/// process. A buffered generator (rand's `thread_rng`) hands the same bytes to
/// a parent and every child it forks until its buffer runs out, and a
/// repeated nonce under one key repeats the XAES subkey and the GCM nonce.
/// The kernel's generator has no such state in the process, and on Linux
/// it reseeds itself when it learns that a virtual machine was restored from
/// a snapshot (VM generation ID). The system call costs about as much as
/// a small share of a seal (BENCHMARKS.md, "Nonce source").
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN]> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|_| Error::RandomUnavailable)?;
    Ok(nonce)
}
