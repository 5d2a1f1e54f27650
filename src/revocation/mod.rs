//! Revocation of sessions before they expire, checked in memory on every
//! open (`set.rs`, with a Bloom filter in front of its maps in `filter.rs`),
//! written as one line of text (`text.rs`), and distributed between servers
//! through Redis (`redis.rs`, feature `redis`).

mod filter;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod set;
pub(crate) mod text;
