//! Every line of every corpus tier round-trips, typed and dynamic.
//!
//! Small and typical sessions fit one cookie and go through `seal_at` /
//! `open_at`; large ones go through the cookie layer with chunking allowed
//! (some exceed one cookie even compressed); oversize ones need a codec with
//! a raised total budget and many chunks.

use std::collections::BTreeSet;

use sealed_session::{Codec, DynamicSession, Key, KeyRing};

const SMALL: &str = include_str!("data/corpus/sessions-small.jsonl");
const TYPICAL: &str = include_str!("data/corpus/sessions-typical.jsonl");
const LARGE: &str = include_str!("data/corpus/sessions-large.jsonl");
const OVERSIZE: &str = include_str!("data/corpus/sessions-oversize.jsonl");

const NOW: u64 = 1_733_500_000;

mod common {
    pub mod corpus_session;
}
use common::corpus_session::Session;

fn ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([0x5e; 32])]).unwrap()
}

fn nonce(i: usize) -> [u8; 24] {
    let mut n = [0x11u8; 24];
    n[..8].copy_from_slice(&(i as u64).to_be_bytes());
    n
}

fn lines(tier: &str) -> Vec<&str> {
    tier.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// The typed struct mirrors every line exactly: parsing and re-serializing
/// gives the same JSON value (no field dropped, renamed or retyped).
#[test]
fn the_session_struct_mirrors_every_corpus_line() {
    let mut fields = BTreeSet::new();
    for tier in [SMALL, TYPICAL, LARGE, OVERSIZE] {
        for line in lines(tier) {
            let typed: Session = serde_json::from_str(line).unwrap();
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_value(&typed).unwrap(), value);
            fields.extend(value.as_object().unwrap().keys().cloned());
        }
    }
    // Every optional field occurs somewhere, so the struct is exercised.
    assert_eq!(fields.len(), 15, "{fields:?}");
}

#[test]
fn tier_sizes_are_as_expected() {
    assert_eq!(lines(SMALL).len(), 1000);
    assert_eq!(lines(TYPICAL).len(), 1000);
    assert_eq!(lines(LARGE).len(), 300);
    assert_eq!(lines(OVERSIZE).len(), 40);
}

/// Small and typical: one cookie each, through the value API.
fn round_trip_values(tier: &str) {
    let codec = Codec::builder("session").key_ring(ring()).build().unwrap();
    for (i, line) in lines(tier).into_iter().enumerate() {
        let typed: Session = serde_json::from_str(line).unwrap();
        let value = codec.seal_at(&typed, NOW, nonce(i)).unwrap();
        let opened = codec.open_at::<Session>(&value, NOW).unwrap();
        assert_eq!(opened.session, typed, "typed, line {i}");
        assert_eq!(opened.issued_at, NOW);

        let dynamic: DynamicSession = serde_json::from_str(line).unwrap();
        let value = codec.seal_at(&dynamic, NOW, nonce(i)).unwrap();
        let opened = codec.open_at::<DynamicSession>(&value, NOW).unwrap();
        assert_eq!(opened.session, dynamic, "dynamic, line {i}");

        // The same value opens as the other representation too.
        assert_eq!(
            codec.open_at::<Session>(&value, NOW).unwrap().session,
            typed
        );
    }
}

#[test]
fn small_tier_round_trips() {
    round_trip_values(SMALL);
}

#[test]
fn typical_tier_round_trips() {
    round_trip_values(TYPICAL);
}

/// The request's Cookie header a browser would send back for these
/// Set-Cookie headers (skipping expiring ones for stale chunks).
fn cookie_header(set_cookies: impl IntoIterator<Item = String>) -> String {
    set_cookies
        .into_iter()
        .filter(|h| !h.contains("Max-Age=0"))
        .map(|h| h.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Large and oversize: through the cookie layer, chunked where needed.
fn round_trip_cookies(tier: &str, codec: &Codec) -> usize {
    let mut chunked = 0;
    for (i, line) in lines(tier).into_iter().enumerate() {
        let typed: Session = serde_json::from_str(line).unwrap();
        let cookies = codec.encode_at(&typed, NOW, nonce(i)).unwrap();
        let header = cookie_header(cookies);
        if header.contains("session.1=") {
            chunked += 1;
        }
        let opened = codec.decode_at::<Session>(&header, NOW).unwrap();
        assert_eq!(opened.session, typed, "typed, line {i}");

        let dynamic: DynamicSession = serde_json::from_str(line).unwrap();
        let cookies = codec.encode_at(&dynamic, NOW, nonce(i)).unwrap();
        let opened = codec
            .decode_at::<DynamicSession>(&cookie_header(cookies), NOW)
            .unwrap();
        assert_eq!(opened.session, dynamic, "dynamic, line {i}");
    }
    chunked
}

#[test]
fn large_tier_round_trips() {
    let codec = Codec::builder("session")
        .key_ring(ring())
        .max_chunks(2)
        .build()
        .unwrap();
    round_trip_cookies(LARGE, &codec);
}

#[test]
fn oversize_tier_round_trips_with_a_raised_budget() {
    let codec = Codec::builder("session")
        .key_ring(ring())
        .max_chunks(16)
        .max_total_cookie_size(64 * 1024)
        .build()
        .unwrap();
    let chunked = round_trip_cookies(OVERSIZE, &codec);
    assert_eq!(
        chunked,
        lines(OVERSIZE).len(),
        "oversize never fits one cookie"
    );

    // With the default budget, an oversize session is refused at encode time.
    let default = Codec::builder("session").key_ring(ring()).build().unwrap();
    let typed: Session = serde_json::from_str(lines(OVERSIZE)[0]).unwrap();
    assert!(matches!(
        default.seal_at(&typed, NOW, nonce(0)),
        Err(sealed_session::Error::TooLarge { .. })
    ));
}
