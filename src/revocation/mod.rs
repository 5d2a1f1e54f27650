//! Revocation of sessions before they expire, checked in memory on every
//! open and distributed between servers.

pub(crate) mod set;
