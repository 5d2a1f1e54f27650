//! What anyone can read from a cookie value without a key: the public
//! header. Operators use it (through `sealed-session inspect`) to see which
//! key sealed a value before deciding whether a key can be removed.

use base64::Engine as _;

use crate::codec::Mode;
use crate::core::format::{B64, KEY_ID_LEN, MIN_SEALED_LEN, VERSION_SEALED, VERSION_SIGNED};
use crate::core::signed::SIGNED_JSON_OFFSET;
use crate::error::{Error, Result};
use crate::keys::key::KeyId;

/// The public part of a cookie value.
///
/// ```
/// use sealed_session::{inspect, Codec, DynamicSession, Key, KeyRing, Mode};
/// let key = Key::from_bytes([1; 32]);
/// let codec = Codec::builder("sid").key_ring(KeyRing::from_keys([key.clone()])?).build()?;
/// let value = codec.seal(&DynamicSession::new())?;
/// let info = inspect(&value)?;
/// assert_eq!((info.version, info.mode, info.key_id), (1, Mode::Sealed, key.id()));
/// assert_eq!(info.issued_at, None, "encrypted: times are inside the ciphertext");
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The format version byte (1 sealed, 2 signed-only).
    pub version: u8,
    /// The protection the version stands for.
    pub mode: Mode,
    /// The id of the key the value names (not yet verified).
    pub key_id: KeyId,
    /// Length of the value as text (base64url characters).
    pub text_len: usize,
    /// Length of the decoded bytes.
    pub sealed_len: usize,
    /// Issued-at as written in the clear (signed-only values), unverified.
    pub issued_at: Option<u64>,
    /// Expires-at as written in the clear (signed-only values), unverified.
    pub expires_at: Option<u64>,
}

/// Reads the public header of a cookie value without any key. Nothing it
/// returns is authenticated: open the value with a [`Codec`](crate::Codec)
/// before trusting any of it.
///
/// ```
/// use sealed_session::{inspect, Codec, DynamicSession, Error, KeyRing, Mode};
/// let codec = Codec::builder("prefs")
///     .key_ring(KeyRing::ephemeral_for_development())
///     .mode(Mode::SignedOnly)
///     .build()?;
/// let value = codec.seal_at(&DynamicSession::new(), 1_000, [0; 24])?;
/// let info = inspect(&value)?;
/// assert_eq!(info.mode, Mode::SignedOnly);
/// assert_eq!((info.issued_at, info.expires_at), (Some(1_000), Some(1_000 + 86_400)));
/// assert!(matches!(inspect("AAAA"), Err(Error::Malformed { .. })));
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub fn inspect(value: &str) -> Result<Inspection> {
    let raw = B64
        .decode(value)
        .map_err(|_| Error::malformed("not unpadded base64url"))?;
    let (&version, rest) = raw
        .split_first()
        .ok_or_else(|| Error::malformed("empty value"))?;
    let (key_id, rest) = rest
        .split_first_chunk::<KEY_ID_LEN>()
        .ok_or_else(|| Error::malformed("too short to be a sealed value"))?;
    let key_id = KeyId(*key_id);
    let mut info = Inspection {
        version,
        mode: Mode::Sealed,
        key_id,
        text_len: value.len(),
        sealed_len: raw.len(),
        issued_at: None,
        expires_at: None,
    };
    match version {
        VERSION_SEALED if raw.len() >= MIN_SEALED_LEN => Ok(info),
        VERSION_SIGNED if raw.len() >= SIGNED_JSON_OFFSET => {
            let (issued, rest) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| Error::malformed("truncated header"))?;
            let (expires, _) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| Error::malformed("truncated header"))?;
            info.mode = Mode::SignedOnly;
            info.issued_at = Some(u64::from_be_bytes(*issued));
            info.expires_at = Some(u64::from_be_bytes(*expires));
            Ok(info)
        }
        VERSION_SEALED | VERSION_SIGNED => Err(Error::malformed("too short to be a sealed value")),
        _ => Err(Error::malformed("unknown format version")),
    }
}
