//! The session and keys of the adapter tests (`integration_axum.rs`,
//! `integration_actix.rs`): a counter sealed under one-byte keys, so the
//! two frameworks are tested against the same values.

#![allow(dead_code)]

use sealed_session::{Codec, Key, KeyRing, KeyState};
use serde::{Deserialize, Serialize};

/// The session the test handlers read and change.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub count: u64,
    #[serde(default)]
    pub note: String,
}

pub fn counter(count: u64) -> Counter {
    Counter {
        count,
        note: String::new(),
    }
}

/// The key whose 32 bytes are all `byte`.
pub fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

/// A ring of the one key `key(byte)`.
pub fn ring(byte: u8) -> KeyRing {
    KeyRing::from_keys([key(byte)]).unwrap()
}

/// A rotation in progress: `key(2)` seals, `key(1)` still opens.
pub fn rotated() -> KeyRing {
    KeyRing::builder()
        .key(key(2), KeyState::Primary)
        .key(key(1), KeyState::Active)
        .build()
        .unwrap()
}

/// A codec for the cookie `sid`, otherwise the defaults.
pub fn codec(ring: KeyRing) -> Codec {
    Codec::builder("sid").key_ring(ring).build().unwrap()
}

/// The cookies (name=value, one per chunk) of `counter` sealed by `codec`.
pub fn sealed_pairs(codec: &Codec, counter: &Counter) -> Vec<String> {
    codec
        .encode(counter)
        .unwrap()
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect()
}

/// A session cookie (name=value) sealed by `codec`, its chunks joined as
/// one `Cookie` header sends them.
pub fn sealed(codec: &Codec, counter: &Counter) -> String {
    sealed_pairs(codec, counter).join("; ")
}
