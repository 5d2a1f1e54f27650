//! Property tests: round trips of arbitrary JSON sessions under arbitrary
//! settings, and "decoding never panics and never yields a session" for
//! arbitrary values, values behind a valid-looking header, and arbitrary
//! `Cookie` headers.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use sealed_session::{Codec, Compression, DynamicSession, Error, Key, KeyRing, Mode};
use serde_json::Value;

const NOW: u64 = 1_733_500_000;

fn codec(mode: Mode) -> Codec {
    Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap())
        .mode(mode)
        .build()
        .unwrap()
}

/// Any JSON value, nested at most four levels, with bounded collections.
/// Numbers are integers or short binary fractions, which JSON text carries
/// exactly.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|i| Value::from(f64::from(i) / 8.0)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn session() -> impl Strategy<Value = DynamicSession> {
    prop::collection::btree_map(".{0,16}", json_value(), 0..12)
        .prop_map(|m| m.into_iter().collect())
}

#[derive(Debug, Clone)]
struct Settings {
    mode: Mode,
    compression: Compression,
    pad: Option<usize>,
    max_age: u64,
    skew: u64,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        prop_oneof![Just(Mode::Sealed), Just(Mode::SignedOnly)],
        prop_oneof![
            Just(Compression::Off),
            (1..=19i32).prop_map(|level| Compression::Zstd { level })
        ],
        prop::option::of(1..=4096usize),
        1..=34_560_000u64,
        0..=3600u64,
    )
        .prop_map(|(mode, compression, pad, max_age, skew)| Settings {
            mode,
            compression,
            pad,
            // The codec refuses a lifetime at or below the skew.
            max_age: max_age.max(skew + 1),
            skew,
        })
}

fn build(s: &Settings) -> Codec {
    let mut b = Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes([7; 32])]).unwrap())
        .mode(s.mode)
        .compression(s.compression)
        .max_age(Duration::from_secs(s.max_age))
        .clock_skew(Duration::from_secs(s.skew));
    if let Some(bucket) = s.pad {
        b = b.pad_to_multiple_of(bucket);
    }
    b.build().unwrap()
}

/// Only these may come out of opening a value nobody sealed.
fn is_rejection(e: &Error) -> bool {
    matches!(
        e,
        Error::Malformed { .. }
            | Error::Unauthenticated
            | Error::UnknownKey { .. }
            | Error::TooLarge { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_sessions_round_trip(
        s in session(),
        settings in settings(),
        nonce in any::<[u8; 24]>(),
        now in 0..=4_000_000_000u64,
    ) {
        let codec = build(&settings);
        let value = match codec.seal_at(&s, now, nonce) {
            Ok(v) => v,
            Err(Error::TooLarge { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("seal failed: {e}"))),
        };
        let last = now + settings.max_age + settings.skew - 1;
        for at in [now, last] {
            let opened = codec.open_at::<DynamicSession>(&value, at).unwrap();
            prop_assert_eq!(&opened.session, &s);
            prop_assert_eq!(opened.issued_at, now);
            prop_assert_eq!(opened.expires_at, now + settings.max_age);
        }
        let expired = codec.open_at::<DynamicSession>(&value, last + 1).is_err_and(
            |e| matches!(e, Error::Expired { .. })
        );
        prop_assert!(expired);
        if let Some(bucket) = settings.pad {
            if settings.mode == Mode::Sealed {
                // Padding covers the plaintext: flags to end of body.
                let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
                prop_assert_eq!((raw.len() - 29 - 16) % bucket, 0);
            }
        }
    }

    #[test]
    fn opening_arbitrary_text_never_panics(text in ".{0,300}") {
        for mode in [Mode::Sealed, Mode::SignedOnly] {
            let err = codec(mode).open_at::<DynamicSession>(&text, NOW).unwrap_err();
            prop_assert!(is_rejection(&err), "{:?}", err);
        }
    }

    #[test]
    fn opening_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = URL_SAFE_NO_PAD.encode(&bytes);
        for mode in [Mode::Sealed, Mode::SignedOnly] {
            let err = codec(mode).open_at::<DynamicSession>(&text, NOW).unwrap_err();
            prop_assert!(is_rejection(&err), "{:?}", err);
        }
    }

    /// A valid version byte and key id get the bytes past every cheap check,
    /// into authentication, which must fail.
    #[test]
    fn a_valid_header_prefix_still_fails_authentication(
        rest in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let key_id = *Key::from_bytes([0x42; 32]).id().as_bytes();
        for (version, mode, min_len) in [(1u8, Mode::Sealed, 48), (2u8, Mode::SignedOnly, 53)] {
            let mut raw = vec![version];
            raw.extend_from_slice(&key_id);
            raw.extend_from_slice(&rest);
            let text = URL_SAFE_NO_PAD.encode(&raw);
            let err = codec(mode).open_at::<DynamicSession>(&text, NOW).unwrap_err();
            if raw.len() < min_len {
                prop_assert!(matches!(err, Error::Malformed { .. }), "{:?}", err);
            } else {
                prop_assert_eq!(err, Error::Unauthenticated);
            }
        }
    }

    #[test]
    fn decoding_arbitrary_cookie_headers_never_panics(header in ".{0,400}") {
        for chunks in [1, 4] {
            let codec = Codec::builder("session")
                .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap())
                .max_chunks(chunks)
                .build()
                .unwrap();
            prop_assert!(codec.decode_at::<DynamicSession>(&header, NOW).is_err());
            prop_assert!(codec.session::<DynamicSession>(&header).is_none());
        }
    }

    /// The byte-level API over arbitrary bytes (any byte, UTF-8 or not),
    /// whole or cut into several header fields at arbitrary points: never a
    /// panic, never a session, and the text API agrees wherever the bytes
    /// are text.
    #[test]
    fn decoding_arbitrary_header_bytes_never_panics(
        header in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(header.len() + 1)).collect();
        cuts.sort_unstable();
        let mut fields = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([header.len()]) {
            fields.push(&header[start..cut]);
            start = cut;
        }
        for chunks in [1, 4] {
            let codec = Codec::builder("session")
                .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap())
                .max_chunks(chunks)
                .build()
                .unwrap();
            let err = codec.decode_bytes_at::<DynamicSession>(&header, NOW).unwrap_err();
            prop_assert!(codec.session_bytes::<DynamicSession>(&header).is_none());
            prop_assert!(codec.decode_fields_at::<DynamicSession>(&fields, NOW).is_err());
            prop_assert!(codec.session_fields::<DynamicSession>(&fields).is_none());
            if let Ok(text) = std::str::from_utf8(&header) {
                prop_assert_eq!(codec.decode_at::<DynamicSession>(text, NOW).unwrap_err(), err);
            }
        }
    }

    /// Cookies that are not ASCII (any name, the session's own included)
    /// around the genuine cookie, in one header or one field per cookie:
    /// skipped, and the genuine session opens.
    #[test]
    fn non_ascii_cookies_never_hide_the_genuine_one(
        junk in prop::collection::vec(
            (
                prop_oneof![
                    Just(b"session".to_vec()),
                    "[a-z.]{1,8}".prop_map(String::into_bytes),
                    prop::collection::vec(any::<u8>(), 0..8),
                ],
                prop::collection::vec(any::<u8>(), 0..24),
                0x80u8..=0xFF,
                any::<prop::sample::Index>(),
            ),
            0..12,
        ),
        position in any::<prop::sample::Index>(),
    ) {
        let clean = |bytes: Vec<u8>| -> Vec<u8> {
            bytes.into_iter().filter(|&b| b != b';' && b != b'=').collect()
        };
        let mut cookies: Vec<Vec<u8>> = junk
            .into_iter()
            .map(|(name, value, high, at)| {
                let mut value = clean(value);
                value.insert(at.index(value.len() + 1), high);
                [clean(name), b"=".to_vec(), value].concat()
            })
            .collect();
        let genuine = format!("session={}", genuine_value()).into_bytes();
        cookies.insert(position.index(cookies.len() + 1), genuine);
        let codec = codec(Mode::Sealed);
        let header = cookies.join(&b"; "[..]);
        prop_assert_eq!(
            codec.decode_bytes_at::<DynamicSession>(&header, NOW).unwrap().session,
            genuine_session()
        );
        prop_assert_eq!(
            codec.decode_fields_at::<DynamicSession>(&cookies, NOW).unwrap().session,
            genuine_session()
        );
    }

    /// Headers made of the session's own cookie names (and chunk names) with
    /// arbitrary values, mixed with pieces of a genuine value: never a panic,
    /// and whatever opens is the genuine session.
    #[test]
    fn decoding_structured_hostile_headers(
        cookies in prop::collection::vec(
            (
                prop_oneof![
                    Just("session".to_owned()),
                    (1..6usize).prop_map(|i| format!("session.{i}")),
                    Just("other".to_owned()),
                    "[a-z.]{0,10}",
                ],
                prop_oneof![
                    "[A-Za-z0-9_.-]{0,80}",
                    (0..300usize, 0..300usize).prop_map(|(a, b)| (a.min(b), a.max(b))).prop_map(|(a, b)| {
                        genuine_value().get(a..b).unwrap_or("").to_owned()
                    }),
                    (2..6usize, "[A-Za-z0-9_-]{0,60}").prop_map(|(n, s)| format!("{n}.{s}")),
                    Just(genuine_value().to_owned()),
                ],
            ),
            0..12,
        ),
    ) {
        let codec = Codec::builder("session")
            .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap())
            .max_chunks(4)
            .build()
            .unwrap();
        let header = cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if let Ok(opened) = codec.decode_at::<DynamicSession>(&header, NOW) {
            prop_assert_eq!(opened.session, genuine_session());
        }
    }
}

fn genuine_session() -> DynamicSession {
    serde_json::from_str(r#"{"user":42,"roles":["admin"],"note":"a genuine session"}"#).unwrap()
}

/// A genuine value for the `session` cookie under key 0x42..., sealed once.
fn genuine_value() -> &'static str {
    static VALUE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VALUE.get_or_init(|| {
        codec(Mode::Sealed)
            .seal_at(&genuine_session(), NOW, [1; 24])
            .unwrap()
    })
}

#[test]
fn the_genuine_value_opens_inside_a_header() {
    let codec = codec(Mode::Sealed);
    let header = format!("a=b; session={}; c=d", genuine_value());
    assert_eq!(
        codec
            .decode_at::<DynamicSession>(&header, NOW)
            .unwrap()
            .session,
        genuine_session()
    );
}
