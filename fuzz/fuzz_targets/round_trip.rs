//! Structure-aware round trips: an arbitrary session (a map of strings,
//! numbers, booleans and lists) and arbitrary codec settings (mode,
//! compression, padding, lifetime, time, nonce). Whatever seals must open to
//! the same session, at the sealing time and at the last valid second.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sealed_session::{Codec, Compression, DynamicSession, Error, Key, KeyRing, Mode};
use serde_json::Value;

#[derive(Arbitrary, Debug)]
enum Scalar {
    Str(String),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Null,
    List(Vec<String>),
    Numbers(Vec<i32>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    entries: Vec<(String, Scalar)>,
    signed_only: bool,
    /// None: compression off; Some(l): zstd at level 1 + l % 19.
    zstd_level: Option<u8>,
    /// Some(b): pad to a multiple of 1 + b % 4096 bytes.
    pad: Option<u16>,
    max_age: u32,
    skew: u16,
    now: u32,
    nonce: [u8; 24],
    key: [u8; 32],
    chunked: bool,
}

fn to_value(s: Scalar) -> Value {
    match s {
        Scalar::Str(s) => Value::String(s),
        Scalar::Int(i) => Value::from(i),
        Scalar::UInt(u) => Value::from(u),
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Null => Value::Null,
        Scalar::List(l) => Value::from(l),
        Scalar::Numbers(n) => Value::from(n),
    }
}

fuzz_target!(|input: Input| {
    let session: DynamicSession = input
        .entries
        .into_iter()
        .map(|(k, v)| (k, to_value(v)))
        .collect();
    // Settings the codec accepts: skew at most one hour, a lifetime above the
    // skew and at most 400 days.
    let skew = u64::from(input.skew % 3601);
    let max_age =
        skew + 1 + u64::from(input.max_age) % (sealed_session::MAX_LIFETIME.as_secs() - skew);
    let mut builder = Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes(input.key)]).expect("ring"))
        .mode(if input.signed_only {
            Mode::SignedOnly
        } else {
            Mode::Sealed
        })
        .compression(match input.zstd_level {
            None => Compression::Off,
            Some(l) => Compression::Zstd {
                level: 1 + i32::from(l % 19),
            },
        })
        .max_age(Duration::from_secs(max_age))
        .clock_skew(Duration::from_secs(skew));
    if let Some(bucket) = input.pad {
        builder = builder.pad_to_multiple_of(1 + usize::from(bucket % 4096));
    }
    if input.chunked {
        builder = builder.max_chunks(8).max_total_cookie_size(32 * 1024);
    }
    let codec = builder.build().expect("valid settings");
    let now = u64::from(input.now);
    let last_valid = now + max_age + skew - 1;

    if input.chunked {
        let cookies = match codec.encode_at(&session, now, input.nonce) {
            Ok(cookies) => cookies,
            Err(Error::TooLarge { .. }) => return,
            Err(e) => panic!("encode failed: {e}"),
        };
        let header = cookies
            .iter()
            .filter(|h| !h.contains("Max-Age=0"))
            .filter_map(|h| h.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        for at in [now, last_valid] {
            let opened = codec
                .decode_at::<DynamicSession>(&header, at)
                .expect("decode");
            assert_eq!(opened.session, session);
        }
        return;
    }

    let value = match codec.seal_at(&session, now, input.nonce) {
        Ok(value) => value,
        Err(Error::TooLarge { .. }) => return,
        Err(e) => panic!("seal failed: {e}"),
    };
    for at in [now, last_valid] {
        let opened = codec.open_at::<DynamicSession>(&value, at).expect("open");
        assert_eq!(opened.session, session);
        assert_eq!(opened.issued_at, now);
    }
    assert!(matches!(
        codec.open_at::<DynamicSession>(&value, last_valid + 1),
        Err(Error::Expired { .. })
    ));
});
