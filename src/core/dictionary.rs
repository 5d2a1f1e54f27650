//! Trained zstd dictionaries: an application's own sessions compressed
//! against a dictionary trained on them, identified in the sealed data so a
//! value always names the dictionary it needs.

use std::fmt;

use sha2::{Digest, Sha256};
use zstd::zstd_safe::{CDict, DDict};

use crate::error::{Error, Result};

/// Domain separation for dictionary ids (FORMAT.md).
const DICTIONARY_ID_CONTEXT: &[u8] = b"sealed-session dictionary id v1\0";
/// Length of a dictionary id on the wire.
pub(crate) const DICTIONARY_ID_LEN: usize = 4;
/// Dictionaries larger than this are refused: they cost memory per codec and
/// bring no further gain on cookie-sized data.
pub const MAX_DICTIONARY_SIZE: usize = 1 << 20;
/// The compression level prepared into every dictionary.
const DICTIONARY_LEVEL: i32 = 3;

/// The public 4-byte fingerprint of a dictionary, written inside the sealed
/// (authenticated) data. Displayed as 8 lowercase hex digits.
///
/// ```
/// let dict = sealed_session::Dictionary::from_bytes(b"{\"user\":{\"id\":1}}".repeat(8))?;
/// assert_eq!(dict.id().to_string().len(), 8);
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DictionaryId(pub(crate) [u8; DICTIONARY_ID_LEN]);

impl fmt::Display for DictionaryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DictionaryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DictionaryId({self})")
    }
}

/// A zstd dictionary prepared once for compression and decompression.
///
/// Train it on the deployment's own sessions (`sealed-session dict train`, or
/// [`Dictionary::train`] with the `dict-train` feature): a dictionary trained
/// on another application's sessions makes values larger, and the codec then
/// falls back to plain compression.
///
/// ```
/// use sealed_session::{Codec, Dictionary, DynamicSession};
/// let samples: Vec<String> = (0..200)
///     .map(|i| format!(r#"{{"user":{{"id":{i},"name":"user{i}","roles":["buyer"]}},"cart":[]}}"#))
///     .collect();
/// let dict = Dictionary::from_bytes(samples.concat().into_bytes())?;
/// let codec = Codec::builder("sid").development_key().dictionaries([dict]).build()?;
/// let session: DynamicSession = serde_json::from_str(&samples[7]).expect("json");
/// let value = codec.seal(&session)?;
/// assert_eq!(codec.open::<DynamicSession>(&value)?.session, session);
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct Dictionary {
    id: DictionaryId,
    len: usize,
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

impl Dictionary {
    /// Prepares a dictionary from its bytes: a trained zstd dictionary, or any
    /// raw content (typical session JSON). At most 1 MiB.
    ///
    /// ```
    /// assert!(sealed_session::Dictionary::from_bytes(Vec::new()).is_err());
    /// ```
    pub fn from_bytes(bytes: impl AsRef<[u8]>) -> Result<Self> {
        let bytes = bytes.as_ref();
        if bytes.len() < 8 {
            return Err(Error::config(
                "a compression dictionary must be at least 8 bytes: train one with \
                 `sealed-session dict train`",
            ));
        }
        if bytes.len() > MAX_DICTIONARY_SIZE {
            return Err(Error::config(format!(
                "a compression dictionary is at most {MAX_DICTIONARY_SIZE} bytes, this one is {}: \
                 train a smaller one (`--size`)",
                bytes.len()
            )));
        }
        let digest = Sha256::new()
            .chain_update(DICTIONARY_ID_CONTEXT)
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; DICTIONARY_ID_LEN];
        id.copy_from_slice(&digest[..DICTIONARY_ID_LEN]);
        let cdict = CDict::try_create(bytes, DICTIONARY_LEVEL)
            .ok_or_else(|| Error::config("zstd could not load the compression dictionary"))?;
        let ddict = DDict::try_create(bytes)
            .ok_or_else(|| Error::config("zstd could not load the compression dictionary"))?;
        Ok(Dictionary {
            id: DictionaryId(id),
            len: bytes.len(),
            cdict,
            ddict,
        })
    }

    /// Trains a dictionary of at most `max_size` bytes on sample sessions
    /// (their JSON, as the application serializes them) and returns its
    /// bytes. Needs a few hundred samples to be useful.
    ///
    /// ```
    /// # #[cfg(feature = "dict-train")] {
    /// let samples: Vec<Vec<u8>> = (0..500)
    ///     .map(|i| format!(r#"{{"user":{{"id":{i},"name":"user{}"}},"locale":"en-US"}}"#, i * 7).into_bytes())
    ///     .collect();
    /// let bytes = sealed_session::Dictionary::train(&samples, 4096)?;
    /// assert!(bytes.len() <= 4096);
    /// # }
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    #[cfg(feature = "dict-train")]
    pub fn train<S: AsRef<[u8]>>(samples: &[S], max_size: usize) -> Result<Vec<u8>> {
        let max_size = max_size.clamp(256, MAX_DICTIONARY_SIZE);
        let sizes: Vec<usize> = samples.iter().map(|s| s.as_ref().len()).collect();
        let joined: Vec<u8> = samples
            .iter()
            .flat_map(|s| s.as_ref().iter().copied())
            .collect();
        let mut out = Vec::with_capacity(max_size);
        zstd::zstd_safe::train_from_buffer(&mut out, &joined, &sizes).map_err(|code| {
            Error::config(format!(
                "zstd could not train a dictionary ({}): give it more and more varied samples \
                 (a few hundred sessions)",
                zstd::zstd_safe::get_error_name(code)
            ))
        })?;
        Ok(out)
    }

    /// The dictionary's id.
    ///
    /// ```
    /// let a = sealed_session::Dictionary::from_bytes(b"0123456789abcdef")?;
    /// let b = sealed_session::Dictionary::from_bytes(b"0123456789abcdef")?;
    /// assert_eq!(a.id(), b.id());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn id(&self) -> DictionaryId {
        self.id
    }

    /// The dictionary's size in bytes.
    ///
    /// ```
    /// let d = sealed_session::Dictionary::from_bytes(b"0123456789abcdef")?;
    /// assert_eq!(d.len(), 16);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an empty dictionary is refused.
    ///
    /// ```
    /// let d = sealed_session::Dictionary::from_bytes(b"0123456789abcdef")?;
    /// assert!(!d.is_empty());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn cdict(&self) -> &CDict<'static> {
        &self.cdict
    }

    pub(crate) fn ddict(&self) -> &DDict<'static> {
        &self.ddict
    }
}

impl fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dictionary")
            .field("id", &self.id)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
