//! One 32-byte key and its public fingerprint, the key id.

use std::fmt;

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::core::format::{B64, KEY_ID_LEN, KEY_LEN};
use crate::error::{Error, Result};

/// Domain separation for key ids: changing it changes every key id (FORMAT.md).
const KEY_ID_CONTEXT: &[u8] = b"sealed-session key id v1\0";

/// A 32-byte secret key. Zeroized on drop; its `Debug` shows only the key id.
///
/// ```
/// use sealed_session::Key;
/// let key = Key::generate();
/// let text = key.to_base64url();
/// assert_eq!(text.len(), 43);
/// let again = Key::from_base64url(&text)?;
/// assert_eq!(key.id(), again.id());
/// assert!(!format!("{key:?}").contains(&text));
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A new random key from the operating system's CSPRNG.
    ///
    /// ```
    /// let a = sealed_session::Key::generate();
    /// let b = sealed_session::Key::generate();
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Key(bytes)
    }

    /// Wraps 32 raw bytes.
    ///
    /// ```
    /// let key = sealed_session::Key::from_bytes([7u8; 32]);
    /// assert_eq!(key.id().to_string().len(), 8);
    /// ```
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key(bytes)
    }

    /// Parses a key written as unpadded base64url (43 characters, 32 bytes).
    /// The error never repeats the input.
    ///
    /// ```
    /// use sealed_session::Key;
    /// assert!(Key::from_base64url("too-short").is_err());
    /// ```
    pub fn from_base64url(text: &str) -> Result<Self> {
        let text = text.trim();
        let mut bytes = [0u8; KEY_LEN];
        match B64.decode_slice(text, &mut bytes) {
            Ok(KEY_LEN) => Ok(Key(bytes)),
            Ok(n) => {
                bytes.zeroize();
                Err(Error::config(format!(
                    "a key must be 32 bytes of unpadded base64url (43 characters), this one \
                     decodes to {n} bytes; generate one with `sealed-session keygen`"
                )))
            }
            Err(_) => {
                bytes.zeroize();
                Err(Error::config(format!(
                    "a key must be 32 bytes of unpadded base64url (43 characters of A-Z a-z 0-9 \
                     - _); this one is {} characters and does not decode; generate one with \
                     `sealed-session keygen`",
                    text.len()
                )))
            }
        }
    }

    /// The key written as unpadded base64url. Handle the result as a secret.
    ///
    /// ```
    /// let key = sealed_session::Key::from_bytes([0u8; 32]);
    /// assert_eq!(key.to_base64url(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    /// ```
    pub fn to_base64url(&self) -> String {
        B64.encode(self.0)
    }

    /// The key's public fingerprint: the first 4 bytes of
    /// SHA-256("sealed-session key id v1\0" || key).
    ///
    /// ```
    /// let key = sealed_session::Key::from_bytes([0u8; 32]);
    /// assert_eq!(key.id(), key.clone().id());
    /// ```
    pub fn id(&self) -> KeyId {
        let digest = Sha256::new()
            .chain_update(KEY_ID_CONTEXT)
            .chain_update(self.0)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}, <redacted>)", self.id())
    }
}

/// The public 4-byte fingerprint of a key, carried in every sealed value's
/// header so that decoding goes straight to the right key. Displayed as 8
/// lowercase hex digits.
///
/// ```
/// use sealed_session::KeyId;
/// let id: KeyId = "0a1b2c3d".parse()?;
/// assert_eq!(id.to_string(), "0a1b2c3d");
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub(crate) [u8; KEY_ID_LEN]);

impl KeyId {
    /// The id's bytes as they appear on the wire.
    ///
    /// ```
    /// let id: sealed_session::KeyId = "00000001".parse()?;
    /// assert_eq!(id.as_bytes(), &[0, 0, 0, 1]);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::config("a key id is 8 hexadecimal digits, e.g. 0a1b2c3d");
        if s.len() != KEY_ID_LEN * 2 || !s.is_ascii() {
            return Err(bad());
        }
        let mut id = [0u8; KEY_ID_LEN];
        for (i, out) in id.iter_mut().enumerate() {
            let pair = s.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
            *out = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(KeyId(id))
    }
}
