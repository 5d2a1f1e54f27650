//! Revocation of sessions before they expire, checked in memory on every
//! open (`set.rs`), written as one line of text (`text.rs`), and distributed
//! between servers through Redis (`redis.rs`, feature `redis`).

#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod set;
pub(crate) mod text;
