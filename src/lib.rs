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
//! # Architecture
//!
//! The folders are the layers. `core/` is the pure sealing core: the wire
//! format (`format.rs`, described in FORMAT.md), sealing and opening with the
//! time and nonce passed in (`seal.rs`), the signed-only mode (`signed.rs`),
//! compression and dictionaries, and `inspect.rs`; nothing there reads a
//! clock, draws randomness or does I/O. `keys/` holds the keys, the rotating
//! ring, its configuration and derived keys. `codec.rs` is the configuration
//! and the thin shell that supplies the clock and the nonces. `http/` is the
//! only place that reads or writes HTTP header text: cookie attributes and
//! domains, `Set-Cookie` values and the `Cookie` header. `integrations/`
//! holds the framework adapters and `revocation/` the revocation of sessions,
//! each behind a cargo feature. `error.rs` is the one error type.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod core;
#[cfg(feature = "dbsc")]
mod dbsc;
mod error;
mod http;
mod integrations;
mod keys;
mod revocation;

pub use crate::core::compression::Compression;
pub use crate::core::dictionary::{Dictionary, DictionaryId, MAX_DICTIONARY_SIZE};
pub use crate::core::format::{KEY_LEN, NONCE_LEN};
pub use crate::core::identity::{Identity, Lineage, SessionId, MAX_SUBJECT_LEN, SESSION_ID_LEN};
pub use crate::core::inspect::{inspect, Inspection};
pub use codec::{
    Codec, CodecBuilder, Mode, Opened, Reseal, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_AGE,
    DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_LIFETIME, DEFAULT_REFRESH_AFTER, MAX_LIFETIME,
};
pub use cookie::SameSite;
#[cfg(feature = "dbsc")]
pub use dbsc::{
    DbscRequest, DbscResponse, DeviceBinding, CHALLENGE_HEADER, DEFAULT_BOUND_LIFETIME,
    DEFAULT_CHALLENGE_LIFETIME, MIN_LIFETIME, REGISTRATION_HEADER, RESPONSE_HEADER,
    SESSION_ID_HEADER,
};
pub use error::{Error, ProofRefused, Result};
pub use http::cookie_options::{
    BROWSER_ATTRIBUTE_LIMIT, BROWSER_COOKIE_LIMIT, DEFAULT_MAX_TOTAL_COOKIE_SIZE, MAX_CHUNKS,
};
pub use http::domain::DomainRule;
pub use http::request::MAX_CANDIDATES;
pub use http::set_cookie::SetCookies;
#[cfg(feature = "actix")]
pub use integrations::actix;
#[cfg(feature = "axum")]
pub use integrations::axum::{
    MissingSessionLayer, SealedSession, SealedSessionLayer, SealedSessionService,
};
pub use integrations::session::{
    ResealPolicy, SessionHandle, SessionInfo, SessionSettings, DEFAULT_WARN_INTERVAL,
};
#[cfg(feature = "tower-sessions")]
pub use integrations::tower_sessions::{SealedSessionManager, SealedSessionManagerLayer};
pub use keys::config::KeyRingConfig;
pub use keys::derivation::derive_key;
pub use keys::key::{Key, KeyId};
pub use keys::ring::{KeyRing, KeyRingBuilder, KeyState};
#[cfg(feature = "redis")]
pub use revocation::redis::{
    RedisOptions, RedisRevocations, RedisSyncError, StartupPolicy, DEFAULT_KEY_PREFIX,
};
pub use revocation::set::{Revocation, RevocationSet, Revoked};
pub use revocation::text::MAX_REVOCATION_TIME;

/// A session without a fixed type: a JSON object.
pub type DynamicSession = serde_json::Map<String, serde_json::Value>;

/// The README's Rust examples, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
