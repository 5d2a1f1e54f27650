//! Settings and sessions that could only produce values that never open are
//! refused up front: a lifetime at or below the clock-skew allowance, a
//! lifetime beyond what browsers keep, and a session whose JSON exceeds the
//! decompression bound of the same codec.

use std::time::Duration;

use sealed_session::{Codec, DynamicSession, Error, Key, KeyRing, MAX_LIFETIME};
use serde_json::json;

const NOW: u64 = 1_700_000_000;
const NONCE: [u8; 24] = [9; 24];

fn builder() -> sealed_session::CodecBuilder {
    Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes([5; 32])]).expect("ring"))
}

fn config_message(result: Result<Codec, Error>) -> String {
    match result {
        Err(Error::Config { message }) => message,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(_) => panic!("expected a configuration error, the codec was built"),
    }
}

#[test]
fn max_age_at_or_below_the_clock_skew_is_refused() {
    for (max_age, skew) in [(30, 60), (60, 60), (0, 0), (15, 15)] {
        let message = config_message(
            builder()
                .max_age(Duration::from_secs(max_age))
                .clock_skew(Duration::from_secs(skew))
                .build(),
        );
        assert!(
            message.contains("max_age") && message.contains("clock_skew"),
            "{message}"
        );
        assert!(
            message.contains(&format!("{skew} s")),
            "names the skew: {message}"
        );
    }
}

#[test]
fn max_age_just_above_the_clock_skew_gives_a_one_second_cookie() {
    let codec = builder()
        .max_age(Duration::from_secs(61))
        .clock_skew(Duration::from_secs(60))
        .build()
        .expect("61 s against 60 s of skew is valid");
    let cookies = codec
        .encode_at(&DynamicSession::new(), NOW, NONCE)
        .expect("encode");
    let header = cookies.iter().next().expect("one Set-Cookie");
    assert!(header.contains("; Max-Age=1;"), "{header}");
}

#[test]
fn max_age_beyond_what_browsers_keep_is_refused() {
    assert_eq!(MAX_LIFETIME, Duration::from_secs(400 * 24 * 60 * 60));
    for max_age in [
        MAX_LIFETIME + Duration::from_secs(1),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ] {
        let message = config_message(builder().max_age(max_age).build());
        assert!(message.contains("400 days"), "{message}");
    }
}

#[test]
fn the_longest_allowed_max_age_seals_values_that_open() {
    let codec = builder().max_age(MAX_LIFETIME).build().expect("400 days");
    assert_eq!(codec.max_age(), MAX_LIFETIME.as_secs());
    let value = codec
        .seal_at(&DynamicSession::new(), NOW, NONCE)
        .expect("seal");
    let last = NOW + MAX_LIFETIME.as_secs() + 60 - 1;
    assert!(codec.open_at::<DynamicSession>(&value, last).is_ok());
}

/// A session of `len` bytes of JSON that compresses to almost nothing.
fn compressible(len: usize) -> DynamicSession {
    // {"r":"aaaa..."} is 8 bytes plus the string.
    let session: DynamicSession =
        serde_json::from_value(json!({ "r": "a".repeat(len - 8) })).expect("object");
    assert_eq!(serde_json::to_vec(&session).expect("json").len(), len);
    session
}

#[test]
fn a_session_larger_than_the_decompression_bound_is_refused_when_sealing() {
    let codec = builder()
        .max_decompressed_size(4096)
        .build()
        .expect("codec");
    let too_large = compressible(4097);
    let expected = Error::TooLarge {
        what: "session JSON",
        size: 4097,
        limit: 4096,
    };
    assert_eq!(codec.seal_at(&too_large, NOW, NONCE), Err(expected.clone()));
    assert_eq!(
        codec.encode_at(&too_large, NOW, NONCE).map(|_| ()),
        Err(expected.clone())
    );
    assert!(expected.to_string().contains("4097 bytes"));

    let at_limit = compressible(4096);
    let value = codec.seal_at(&at_limit, NOW, NONCE).expect("at the bound");
    let opened = codec
        .open_at::<DynamicSession>(&value, NOW)
        .expect("what seals also opens");
    assert_eq!(opened.session, at_limit);
}
