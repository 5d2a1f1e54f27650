//! What opening yields once a value is authenticated, before its JSON is
//! deserialized: shared by the sealed mode (`seal.rs`) and the signed-only
//! mode (`signed.rs`), so that neither depends on the other for it.

use crate::codec::Reseal;
use crate::core::identity::Identity;
use crate::keys::key::KeyId;

/// Where the authenticated JSON is: a range of the decoded buffer (stored
/// uncompressed) or the whole decompression buffer.
pub(crate) enum Json {
    Range(usize, usize),
    Decompressed,
}

/// What an authenticated value yields before deserialization.
pub(crate) struct Authentic {
    pub(crate) json: Json,
    pub(crate) key_id: KeyId,
    pub(crate) issued_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) reseal: Option<Reseal>,
    /// The session's identity (sealed mode; `None` for values sealed without
    /// one and for signed-only values).
    pub(crate) identity: Option<Identity>,
}
