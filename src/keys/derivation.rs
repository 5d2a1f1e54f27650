//! HKDF-SHA256 derivations (RFC 5869, extract then expand), all done once
//! when a key ring is built, never per request. FORMAT.md lists the salt and
//! info strings; changing any of them changes every derived key.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::keys::key::Key;

/// Salt for every derivation of this crate.
pub(crate) const HKDF_SALT: &[u8] = b"sealed-session/v1";
/// Info prefix of the signed-mode MAC key derived from each ring key.
pub(crate) const INFO_SIGNING: &[u8] = b"sealed-session/v1/signed-cookie-mac";
/// Info prefix of a purpose key derived from a master secret; the purpose
/// string follows it.
pub(crate) const INFO_PURPOSE_PREFIX: &[u8] = b"sealed-session/v1/purpose/";

fn expand(ikm: &[u8], info: &[&[u8]]) -> Key {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm);
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32 bytes.
    if hk.expand_multi_info(info, &mut okm).is_err() {
        unreachable!("HKDF-SHA256 can always expand 32 bytes");
    }
    Key::from_bytes(okm)
}

/// The HMAC-SHA256 key of signed-only mode, derived from a ring key so one
/// ring serves and rotates both modes without ever using a key for two
/// algorithms.
pub(crate) fn signing_key(key: &Key) -> Key {
    expand(key.as_bytes(), &[INFO_SIGNING])
}

/// Derives the key for one purpose (for example one cookie name) from a
/// master secret, so one secret can serve several cookies without reusing a
/// key.
///
/// ```
/// use sealed_session::{derive_key, Key};
/// let master = Key::from_bytes([1u8; 32]);
/// let a = derive_key(&master, "session");
/// let b = derive_key(&master, "csrf");
/// assert_ne!(a.id(), b.id());
/// assert_eq!(a.id(), derive_key(&master, "session").id());
/// ```
pub fn derive_key(master: &Key, purpose: &str) -> Key {
    expand(
        master.as_bytes(),
        &[INFO_PURPOSE_PREFIX, purpose.as_bytes()],
    )
}
