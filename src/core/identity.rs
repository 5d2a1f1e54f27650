//! Session identity: who a sealed value belongs to across re-seals.
//!
//! Every value sealed in sealed mode carries, inside the ciphertext, a
//! random session id, the time the session was created, the id of the key
//! that sealed it when it was created (its origin) and an optional short
//! subject chosen by the application (a user id). Re-seals carry all four
//! unchanged; only a new session (a first seal, or a renewal at sign-in)
//! mints a new identity. This is what makes an absolute lifetime and
//! revocation possible: see FORMAT.md ("Identity") for the bytes. The origin
//! key id is left out (flag bit 5) while it equals the key that seals the
//! value, which is every value of a session until a key rotation.

use std::fmt;

use crate::core::format::{
    put_varint, take_varint, FLAG_BOUND, FLAG_IDENTITY, FLAG_ORIGIN_IS_SEALER, FLAG_SUBJECT,
    KEY_ID_LEN,
};
use crate::error::{Error, Result};
use crate::keys::key::KeyId;

/// Length of a session id in bytes (128 bits).
pub const SESSION_ID_LEN: usize = 16;

/// The longest subject, in bytes of UTF-8. A subject names a user for "sign
/// out everywhere", not a profile: keep it an id.
pub const MAX_SUBJECT_LEN: usize = 64;

/// A session's random id, minted on the first seal and on renewal. It
/// travels only inside the ciphertext; it prints as 32 lowercase hex digits.
///
/// ```
/// use sealed_session::SessionId;
/// let id: SessionId = "000102030405060708090a0b0c0d0e0f".parse()?;
/// assert_eq!(id.as_bytes()[15], 0x0f);
/// assert_eq!(id.to_string(), "000102030405060708090a0b0c0d0e0f");
/// assert!("not hex".parse::<SessionId>().is_err());
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(crate) [u8; SESSION_ID_LEN]);

impl SessionId {
    /// A session id from its 16 bytes.
    ///
    /// ```
    /// let id = sealed_session::SessionId::from_bytes([7; 16]);
    /// assert_eq!(id.as_bytes(), &[7; 16]);
    /// ```
    pub fn from_bytes(bytes: [u8; SESSION_ID_LEN]) -> Self {
        SessionId(bytes)
    }

    /// The 16 bytes of the id.
    ///
    /// ```
    /// let id = sealed_session::SessionId::from_bytes([1; 16]);
    /// assert_eq!(id.as_bytes().len(), 16);
    /// ```
    pub fn as_bytes(&self) -> &[u8; SESSION_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl std::str::FromStr for SessionId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                "a session id is 32 hex digits (as `sealed-session inspect` and \
                 `Identity::session_id` print it)",
            )
        };
        let text = text.trim();
        if text.len() != 2 * SESSION_ID_LEN || !text.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; SESSION_ID_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| bad())?;
        }
        Ok(SessionId(bytes))
    }
}

/// The identity of an opened session ([`Opened::identity`](crate::Opened)).
/// Its `Debug` output shows the subject's length, not the subject.
///
/// ```
/// use sealed_session::{Codec, DynamicSession, Key, KeyRing};
/// let codec = Codec::builder("sid")
///     .key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?)
///     .build()?;
/// let value = codec.seal_at(&DynamicSession::new(), 1_700_000_000, [2; 24])?;
/// let opened = codec.open_at::<DynamicSession>(&value, 1_700_000_000)?;
/// let identity = opened.identity.expect("sealed values carry an identity");
/// assert_eq!(identity.created_at, 1_700_000_000);
/// assert_eq!(identity.origin_key, codec.key_ring().primary_id());
/// assert_eq!(identity.subject, None);
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The random id of the session.
    pub session_id: SessionId,
    /// When the session was created (its first seal or its last renewal),
    /// Unix seconds; carried unchanged through every re-seal.
    pub created_at: u64,
    /// The key that sealed the session when it was created; carried
    /// unchanged through re-seals, so revoking that key ends the session
    /// even after it was re-sealed under another key.
    pub origin_key: KeyId,
    /// The application's short name for the session's owner (a user id),
    /// for revoking all of that owner's sessions.
    pub subject: Option<String>,
    /// The session is bound to a device key (DBSC): it opens on a request
    /// only together with a valid bound cookie. Set by the registration
    /// endpoint, carried through re-seals, cleared by renewal.
    pub bound: bool,
}

impl Identity {
    /// An identity from its parts, as [`Opened::identity`](crate::Opened)
    /// reports them (for tests, and for an application that stores
    /// identities and carries one into [`Lineage::Continue`]).
    ///
    /// ```
    /// use sealed_session::{Identity, Key, SessionId};
    /// let id = Identity::new(SessionId::from_bytes([1; 16]), 1_000, Key::from_bytes([2; 32]).id(), None);
    /// assert_eq!(id.created_at, 1_000);
    /// ```
    pub fn new(
        session_id: SessionId,
        created_at: u64,
        origin_key: KeyId,
        subject: Option<String>,
    ) -> Self {
        Identity {
            session_id,
            created_at,
            origin_key,
            subject,
            bound: false,
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("session_id", &self.session_id)
            .field("created_at", &self.created_at)
            .field("origin_key", &self.origin_key)
            .field("bound", &self.bound)
            .field(
                "subject",
                &self
                    .subject
                    .as_ref()
                    .map(|s| format!("<{} bytes>", s.len())),
            )
            .finish()
    }
}

/// Where the identity of a value being sealed comes from.
///
/// ```
/// use sealed_session::{Codec, DynamicSession, Key, KeyRing, Lineage};
/// let codec = Codec::builder("sid")
///     .key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?)
///     .build()?;
/// // Sign-in: a new session that belongs to user 42.
/// let value = codec.seal_with_at(&DynamicSession::new(), &Lineage::new_for("42"), 1_000, [3; 24])?;
/// let opened = codec.open_at::<DynamicSession>(&value, 1_100)?;
/// // Any later change: the same session, sealed again.
/// let again = codec.seal_with_at(&opened.session, &opened.lineage(), 1_100, [4; 24])?;
/// let reopened = codec.open_at::<DynamicSession>(&again, 1_200)?;
/// assert_eq!(reopened.identity, opened.identity);
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lineage {
    /// A new session: a fresh session id, created now, originating from the
    /// primary key (or from `origin`), with an optional subject. Build it
    /// with [`Lineage::new`] or [`Lineage::new_for`].
    #[non_exhaustive]
    New {
        /// The owner's short name (at most [`MAX_SUBJECT_LEN`] bytes).
        subject: Option<String>,
        /// The key that vouched for the session, when it is not the primary:
        /// a value without identity that opened under an older key gets that
        /// key as its origin ([`Opened::lineage`](crate::Opened::lineage)),
        /// so revoking the key ends it.
        origin: Option<KeyId>,
    },
    /// The same session as before: its identity is carried unchanged.
    Continue(Identity),
}

impl Lineage {
    /// A new session without a subject.
    ///
    /// ```
    /// assert!(matches!(sealed_session::Lineage::new(),
    ///                  sealed_session::Lineage::New { subject: None, .. }));
    /// ```
    pub fn new() -> Self {
        Lineage::New {
            subject: None,
            origin: None,
        }
    }

    /// A new session that belongs to `subject` (call at sign-in).
    ///
    /// ```
    /// let lineage = sealed_session::Lineage::new_for("user-42");
    /// assert!(matches!(lineage, sealed_session::Lineage::New { subject: Some(_), .. }));
    /// ```
    pub fn new_for(subject: impl Into<String>) -> Self {
        Lineage::New {
            subject: Some(subject.into()),
            origin: None,
        }
    }
}

/// Shows the subject's length only, as [`Identity`]'s `Debug` does.
///
/// ```
/// let printed = format!("{:?}", sealed_session::Lineage::new_for("alice@example.com"));
/// assert!(!printed.contains("alice"), "{printed}");
/// ```
impl fmt::Debug for Lineage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lineage::New { subject, origin } => f
                .debug_struct("New")
                .field(
                    "subject",
                    &subject.as_ref().map(|s| format!("<{} bytes>", s.len())),
                )
                .field("origin", origin)
                .finish(),
            Lineage::Continue(identity) => f.debug_tuple("Continue").field(identity).finish(),
        }
    }
}

impl Default for Lineage {
    fn default() -> Self {
        Lineage::new()
    }
}

/// Checks a subject before it is sealed.
pub(crate) fn check_subject(subject: &str) -> Result<()> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
        return Err(Error::config(format!(
            "a session subject is 1 to {MAX_SUBJECT_LEN} bytes ({} given): use a user id, \
             not a name or a profile",
            subject.len()
        )));
    }
    Ok(())
}

/// Writes the identity block (FORMAT.md, "Identity"): session id, varint
/// (issued_at - created_at), the origin key id unless it is `sealer` (the key
/// id in this value's header, given when the origin may be left out), then,
/// when there is a subject, its length byte and bytes. Returns the flag bits
/// that describe what was written.
pub(crate) fn put_identity(
    out: &mut Vec<u8>,
    identity: &Identity,
    issued_at: u64,
    sealer: Option<KeyId>,
) -> Result<u8> {
    let age = issued_at
        .checked_sub(identity.created_at)
        .ok_or_else(|| Error::config("a session cannot be created after it is sealed"))?;
    let mut flags = FLAG_IDENTITY;
    out.extend_from_slice(&identity.session_id.0);
    put_varint(out, age);
    if sealer == Some(identity.origin_key) {
        flags |= FLAG_ORIGIN_IS_SEALER;
    } else {
        out.extend_from_slice(identity.origin_key.as_bytes());
    }
    if let Some(subject) = &identity.subject {
        check_subject(subject)?;
        // check_subject bounds the length to MAX_SUBJECT_LEN (< 256).
        out.push(u8::try_from(subject.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(subject.as_bytes());
        flags |= FLAG_SUBJECT;
    }
    if identity.bound {
        flags |= FLAG_BOUND;
    }
    Ok(flags)
}

/// Reads the identity block described by `flags` from authenticated bytes
/// sealed under `sealer`; returns the identity (`None` without
/// `FLAG_IDENTITY`) and the rest.
pub(crate) fn take_identity(
    input: &[u8],
    issued_at: u64,
    flags: u8,
    sealer: KeyId,
) -> Result<(Option<Identity>, &[u8])> {
    if flags & FLAG_IDENTITY == 0 {
        return if flags & FLAG_SUBJECT != 0 {
            Err(Error::malformed("subject without identity"))
        } else if flags & FLAG_ORIGIN_IS_SEALER != 0 {
            Err(Error::malformed("origin flag without identity"))
        } else if flags & FLAG_BOUND != 0 {
            Err(Error::malformed("bound flag without identity"))
        } else {
            Ok((None, input))
        };
    }
    let (id, rest) = input
        .split_first_chunk::<SESSION_ID_LEN>()
        .ok_or_else(|| Error::malformed("truncated identity"))?;
    let (age, rest) = take_varint(rest)?;
    let created_at = issued_at
        .checked_sub(age)
        .ok_or_else(|| Error::malformed("session created before the epoch"))?;
    let (origin_key, mut rest) = if flags & FLAG_ORIGIN_IS_SEALER != 0 {
        (sealer, rest)
    } else {
        let (origin, rest) = rest
            .split_first_chunk::<KEY_ID_LEN>()
            .ok_or_else(|| Error::malformed("truncated identity"))?;
        (KeyId(*origin), rest)
    };
    let subject = if flags & FLAG_SUBJECT != 0 {
        let (&len, after) = rest
            .split_first()
            .ok_or_else(|| Error::malformed("truncated identity"))?;
        let len = usize::from(len);
        if len == 0 || len > MAX_SUBJECT_LEN {
            return Err(Error::malformed("bad subject length"));
        }
        let (bytes, after) = after
            .split_at_checked(len)
            .ok_or_else(|| Error::malformed("truncated identity"))?;
        let subject =
            std::str::from_utf8(bytes).map_err(|_| Error::malformed("subject is not UTF-8"))?;
        rest = after;
        Some(subject.to_owned())
    } else {
        None
    };
    Ok((
        Some(Identity {
            session_id: SessionId(*id),
            created_at,
            origin_key,
            subject,
            bound: flags & FLAG_BOUND != 0,
        }),
        rest,
    ))
}
