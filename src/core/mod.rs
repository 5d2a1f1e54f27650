//! The pure sealing core: the wire format, sealing and opening, the
//! signed-only mode, compression and its dictionaries, and inspection.
//!
//! Nothing in this folder reads a clock, draws randomness, does I/O or knows
//! about HTTP: the time and the nonce come in as arguments (see
//! [`Codec::seal_at`](crate::Codec::seal_at) and
//! [`Codec::open_at`](crate::Codec::open_at)), so every rule here is testable
//! with fixed inputs and the same code runs under every framework.

pub(crate) mod authentic;
pub(crate) mod compression;
pub(crate) mod dictionary;
pub(crate) mod format;
pub(crate) mod identity;
pub(crate) mod inspect;
pub(crate) mod seal;
pub(crate) mod signed;
