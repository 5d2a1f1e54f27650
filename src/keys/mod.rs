//! Keys: a single key and its id, the ring that holds keys in their states
//! (primary, accepted, retired) for rotation, its operator configuration
//! (text and serde), and keys derived for a purpose.

pub(crate) mod config;
pub(crate) mod derivation;
pub(crate) mod key;
pub(crate) mod ring;
