//! Signed and encrypted client-side cookie sessions.
//!
//! A session (any `serde` type, or a [`DynamicSession`] JSON map) is
//! serialized to JSON, compressed when that makes it shorter, sealed with
//! XAES-256-GCM under the primary key of a rotating [`KeyRing`], and written
//! as unpadded base64url. Every server holding the ring can open it; nothing
//! is stored server-side.
//!
//! ```
//! use sealed_session::{Codec, KeyRing};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Session { user_id: u64, cart: Vec<u32> }
//!
//! let codec = Codec::builder("session")
//!     .key_ring(KeyRing::ephemeral_for_development())
//!     .build()?;
//! let value = codec.seal(&Session { user_id: 7, cart: vec![1, 2] })?;
//! let opened = codec.open::<Session>(&value)?;
//! assert_eq!(opened.session.user_id, 7);
//! # Ok::<(), sealed_session::Error>(())
//! ```
//!
//! The layout follows the architecture: `seal.rs` is the pure core (time and
//! nonce passed in), `codec.rs` the configuration and the shell that supplies
//! the clock and randomness, `format.rs` the wire layout (FORMAT.md),
//! `key.rs` / `key_ring.rs` / `key_derivation.rs` the keys, `compression.rs`
//! the body compression, `signed.rs` the signed-only mode.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod compression;
mod cookie_options;
mod dictionary;
mod domain;
mod error;
mod format;
mod inspect;
mod key;
mod key_derivation;
mod key_ring;
mod key_ring_config;
mod request;
mod seal;
mod set_cookie;
mod signed;

pub use codec::{
    Codec, CodecBuilder, Mode, Opened, Reseal, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_AGE,
    DEFAULT_MAX_DECOMPRESSED, DEFAULT_REFRESH_AFTER,
};
pub use compression::Compression;
pub use cookie::SameSite;
pub use cookie_options::{
    BROWSER_ATTRIBUTE_LIMIT, BROWSER_COOKIE_LIMIT, DEFAULT_MAX_TOTAL_COOKIE_SIZE, MAX_CHUNKS,
};
pub use dictionary::{Dictionary, DictionaryId, MAX_DICTIONARY_SIZE};
pub use domain::DomainRule;
pub use error::{Error, Result};
pub use format::{KEY_LEN, NONCE_LEN};
pub use inspect::{inspect, Inspection};
pub use key::{Key, KeyId};
pub use key_derivation::derive_key;
pub use key_ring::{KeyRing, KeyRingBuilder, KeyState};
pub use key_ring_config::KeyRingConfig;
pub use request::MAX_CANDIDATES;
pub use set_cookie::SetCookies;

/// A session without a fixed type: a JSON object.
pub type DynamicSession = serde_json::Map<String, serde_json::Value>;

/// The README's Rust examples, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
