//! The key ring: every key a server knows, each with a state, and the cipher
//! state built once per key.

use std::fmt;
use std::ops::Deref;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use xaes_256_gcm::aead::KeyInit;
use xaes_256_gcm::Xaes256Gcm;

use crate::error::{Error, Result};
use crate::keys::derivation;
use crate::keys::key::{Key, KeyId};

/// What a key in the ring may do.
///
/// ```
/// use sealed_session::KeyState;
/// assert!(KeyState::Primary.opens_at(0));
/// assert!(KeyState::Retired { until: 100 }.opens_at(99));
/// assert!(!KeyState::Retired { until: 100 }.opens_at(100));
/// assert!(!KeyState::Revoked.opens_at(0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "state")]
#[non_exhaustive]
pub enum KeyState {
    /// Seals new values and opens old ones. Exactly one per ring.
    Primary,
    /// Opens values; values it opens should be re-sealed under the primary.
    Active,
    /// Opens values until `until` (Unix seconds, exclusive), then is ignored.
    Retired {
        /// Deadline in Unix seconds.
        until: u64,
    },
    /// Never opens; values sealed under it are reported as revoked.
    Revoked,
}

impl KeyState {
    /// Whether a key in this state opens values at time `now` (Unix seconds).
    ///
    /// ```
    /// assert!(sealed_session::KeyState::Active.opens_at(u64::MAX));
    /// ```
    pub fn opens_at(self, now: u64) -> bool {
        match self {
            KeyState::Primary | KeyState::Active => true,
            KeyState::Retired { until } => now < until,
            KeyState::Revoked => false,
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyState::Primary => f.write_str("primary"),
            KeyState::Active => f.write_str("active"),
            KeyState::Retired { until } => write!(f, "retired until {until}"),
            KeyState::Revoked => f.write_str("revoked"),
        }
    }
}

/// One key of the ring with everything derived from it, computed once.
pub(crate) struct Entry {
    pub(crate) id: KeyId,
    pub(crate) state: KeyState,
    /// AES-256 key schedule and XAES K1 for sealing and opening.
    pub(crate) cipher: Xaes256Gcm,
    /// HMAC-SHA256 state keyed with the derived signing key (signed mode).
    pub(crate) mac: SigningMac,
}

/// An HMAC-SHA256 state keyed with a signing key: as good as the key for
/// forging signed-only values. The hmac and sha2 crates offer no zeroize
/// and keep their state private, so dropping overwrites the whole state
/// with the state of a fixed, public key instead; `black_box` keeps the
/// compiler from skipping the writes to memory about to be freed. This
/// costs two SHA-256 blocks per drop and nothing per request. Copies made
/// per request (`clone()` through `Deref`) live on the stack.
pub(crate) struct SigningMac(Hmac<Sha256>);

impl SigningMac {
    pub(crate) fn new(mac: Hmac<Sha256>) -> Self {
        SigningMac(mac)
    }

    fn public() -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&[0; 32])
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

impl Deref for SigningMac {
    type Target = Hmac<Sha256>;

    fn deref(&self) -> &Hmac<Sha256> {
        &self.0
    }
}

impl Drop for SigningMac {
    fn drop(&mut self) {
        self.0 = Self::public();
        std::hint::black_box(&mut self.0);
    }
}

/// A set of keys, exactly one of them primary, looked up by key id.
///
/// Build it once at start-up: every key's cipher state is prepared here, so
/// opening a value costs the same whatever the number of keys.
///
/// ```
/// use sealed_session::{Key, KeyRing, KeyState};
/// let old = Key::generate();
/// let new = Key::generate();
/// let ring = KeyRing::builder()
///     .key(new.clone(), KeyState::Primary)
///     .key(old.clone(), KeyState::Active)
///     .build()?;
/// assert_eq!(ring.primary_id(), new.id());
/// assert_eq!(ring.state_of(old.id()), Some(KeyState::Active));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct KeyRing {
    /// Sorted by key id for binary search.
    entries: Vec<Entry>,
    primary: usize,
}

impl KeyRing {
    /// Starts an empty ring; add keys with [`KeyRingBuilder::key`].
    ///
    /// ```
    /// let err = sealed_session::KeyRing::builder().build().unwrap_err();
    /// assert!(err.to_string().contains("primary"));
    /// ```
    pub fn builder() -> KeyRingBuilder {
        KeyRingBuilder::default()
    }

    /// A ring whose first key is primary and the others active: the shape of
    /// `SEALED_SESSION_KEYS`.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRing};
    /// let ring = KeyRing::from_keys([Key::generate(), Key::generate()])?;
    /// assert_eq!(ring.len(), 2);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Result<Self> {
        let mut builder = Self::builder();
        for (i, key) in keys.into_iter().enumerate() {
            let state = if i == 0 {
                KeyState::Primary
            } else {
                KeyState::Active
            };
            builder = builder.key(key, state);
        }
        builder.build()
    }

    /// A ring with one fresh random key, for development only. Every cookie
    /// sealed under it dies with the process, and every server of a cluster
    /// would have its own. Logs a warning.
    ///
    /// ```
    /// let ring = sealed_session::KeyRing::ephemeral_for_development();
    /// assert_eq!(ring.len(), 1);
    /// ```
    pub fn ephemeral_for_development() -> Self {
        log::warn!(
            "sealed-session: using an ephemeral development key; every session cookie dies \
             with this process and no other server can open them. Configure keys for production."
        );
        let key = Key::generate();
        let id = key.id();
        KeyRing {
            entries: vec![Entry::new(&key, id, KeyState::Primary)],
            primary: 0,
        }
    }

    /// Number of keys, in every state.
    ///
    /// ```
    /// assert!(!sealed_session::KeyRing::ephemeral_for_development().is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the ring has no keys (never the case for a built ring).
    ///
    /// ```
    /// assert!(!sealed_session::KeyRing::ephemeral_for_development().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The id of the key that seals.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRing};
    /// let key = Key::generate();
    /// assert_eq!(KeyRing::from_keys([key.clone()])?.primary_id(), key.id());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn primary_id(&self) -> KeyId {
        self.primary_entry().id
    }

    /// The state of the key with this id, if the ring has it.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRing};
    /// let ring = KeyRing::from_keys([Key::generate()])?;
    /// assert_eq!(ring.state_of(Key::generate().id()), None);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn state_of(&self, id: KeyId) -> Option<KeyState> {
        self.find(id).map(|e| e.state)
    }

    /// Every key id with its state, sorted by id. Never key material.
    ///
    /// ```
    /// let ring = sealed_session::KeyRing::ephemeral_for_development();
    /// assert_eq!(ring.keys().count(), 1);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = (KeyId, KeyState)> + '_ {
        self.entries.iter().map(|e| (e.id, e.state))
    }

    pub(crate) fn primary_entry(&self) -> &Entry {
        // `primary` is an index validated in `build`; `entries` is never empty.
        &self.entries[self.primary]
    }

    pub(crate) fn primary_index(&self) -> usize {
        self.primary
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn position(&self, id: KeyId) -> Option<usize> {
        self.entries.binary_search_by(|e| e.id.cmp(&id)).ok()
    }

    fn find(&self, id: KeyId) -> Option<&Entry> {
        self.position(id).and_then(|i| self.entries.get(i))
    }

    /// The entry that may open a value naming `id` at `now`, or why none may.
    /// One binary search: the cost does not grow with the ring.
    /// Returns the entry's index too, for per-key state kept by a codec.
    pub(crate) fn opener(&self, id: KeyId, now: u64) -> Result<(usize, &Entry)> {
        let index = self.position(id).ok_or(Error::UnknownKey { key_id: id })?;
        let entry = self
            .entries
            .get(index)
            .ok_or(Error::UnknownKey { key_id: id })?;
        match entry.state {
            KeyState::Revoked => Err(Error::RevokedKey { key_id: id }),
            KeyState::Retired { until } if now >= until => Err(Error::RetiredKey {
                key_id: id,
                deadline: until,
            }),
            _ => Ok((index, entry)),
        }
    }
}

impl Entry {
    fn new(key: &Key, id: KeyId, state: KeyState) -> Self {
        let cipher = Xaes256Gcm::new(key.as_bytes().into());
        let mac_key = derivation::signing_key(key);
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Entry {
            id,
            state,
            cipher,
            mac: SigningMac::new(mac),
        }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|e| (e.id, e.state)))
            .finish()
    }
}

/// Collects keys and their states, then validates them into a [`KeyRing`].
///
/// ```
/// use sealed_session::{Key, KeyRing, KeyState};
/// let key = Key::generate();
/// let err = KeyRing::builder()
///     .key(key.clone(), KeyState::Primary)
///     .key(key, KeyState::Active)
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("twice"));
/// ```
#[derive(Default)]
pub struct KeyRingBuilder {
    /// Keys boxed: a growing list moves pointers, never key bytes, so no
    /// freed buffer keeps a copy of a key.
    keys: Vec<(Box<Key>, KeyState, String)>,
}

impl KeyRingBuilder {
    /// Adds a key with its state.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRing, KeyState};
    /// let ring = KeyRing::builder().key(Key::generate(), KeyState::Primary).build()?;
    /// assert_eq!(ring.len(), 1);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn key(self, key: Key, state: KeyState) -> Self {
        let n = self.keys.len() + 1;
        self.key_from(key, state, format!("key {n}"))
    }

    /// Adds a key, naming where it came from ("line 3") for error messages.
    pub(crate) fn key_from(mut self, key: Key, state: KeyState, origin: String) -> Self {
        self.keys.push((Box::new(key), state, origin));
        self
    }

    /// Validates: at least one key, exactly one primary, no key twice, no two
    /// keys with the same id. Errors name the key's position, never its
    /// material.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRing, KeyState};
    /// let err = KeyRing::builder().key(Key::generate(), KeyState::Active).build().unwrap_err();
    /// assert!(err.to_string().contains("exactly one primary"));
    /// ```
    pub fn build(self) -> Result<KeyRing> {
        if self.keys.is_empty() {
            return Err(Error::config(
                "the key ring is empty: configure one primary key (generate one with \
                 `sealed-session keygen`), or ask explicitly for an ephemeral development key",
            ));
        }
        let primaries: Vec<&str> = self
            .keys
            .iter()
            .filter(|(_, s, _)| *s == KeyState::Primary)
            .map(|(_, _, o)| o.as_str())
            .collect();
        match primaries.len() {
            1 => {}
            0 => {
                return Err(Error::config(
                    "the key ring needs exactly one primary key, it has none: mark the key \
                     that should seal new sessions as primary",
                ))
            }
            _ => {
                return Err(Error::config(format!(
                    "the key ring needs exactly one primary key, it has {} ({}): keep one \
                     primary and mark the others active",
                    primaries.len(),
                    primaries.join(", ")
                )))
            }
        }
        // Sort ids, not entries: each entry (a cipher state is as secret as
        // its key) is built once in its final place and never moved, since
        // a move or a sort's scratch memory would leave an unwiped copy.
        let mut order: Vec<(KeyId, usize)> = Vec::with_capacity(self.keys.len());
        for (i, (key, _, origin)) in self.keys.iter().enumerate() {
            let id = key.id();
            if let Some(first) = order
                .iter()
                .find(|(seen, _)| *seen == id)
                .and_then(|(_, j)| self.keys.get(*j))
                .map(|(_, _, first)| first)
            {
                return Err(Error::config(format!(
                    "{origin} repeats {first} (key id {id}): the same key is listed twice \
                     (or two keys share an id); remove one of them"
                )));
            }
            order.push((id, i));
        }
        order.sort_unstable();
        let mut entries: Vec<Entry> = Vec::with_capacity(order.len());
        for (id, i) in order {
            if let Some((key, state, _)) = self.keys.get(i) {
                entries.push(Entry::new(key, id, *state));
            }
        }
        let primary = entries
            .iter()
            .position(|e| e.state == KeyState::Primary)
            .ok_or_else(|| Error::config("the key ring has no primary key"))?;
        Ok(KeyRing { entries, primary })
    }
}

impl fmt::Debug for KeyRingBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(k, s, _)| (k.id(), *s)))
            .finish()
    }
}
