//! Exhaustive tamper tests: every way a client can alter a value must be
//! rejected with the error variant that names the reason.
//!
//! Values are drawn from every corpus tier, in both modes (sealed and
//! signed-only). For each one: every single-bit flip of the decoded bytes,
//! every single-bit flip of the base64 text, every truncation, extensions,
//! another cookie name, swapped headers, withdrawn keys, the time bounds at
//! the clock-skew boundary, oversized and malformed base64, and a
//! decompression bomb under a valid key.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sealed_session::{Codec, DynamicSession, Error, Key, KeyId, KeyRing, KeyState, Mode};

const NOW: u64 = 1_733_500_000;
const NAME: &str = "session";
/// Default single-cookie budget: the codec refuses a longer value before
/// decoding it.
const BROWSER_LIMIT: usize = 4096;

const SMALL: &str = include_str!("data/corpus/sessions-small.jsonl");
const TYPICAL: &str = include_str!("data/corpus/sessions-typical.jsonl");
const LARGE: &str = include_str!("data/corpus/sessions-large.jsonl");

fn key(seed: u8) -> Key {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    Key::from_bytes(bytes)
}

fn codec_for(name: &str, ring: KeyRing, mode: Mode) -> Codec {
    Codec::builder(name)
        .key_ring(ring)
        .mode(mode)
        .build()
        .unwrap()
}

fn codec(mode: Mode) -> Codec {
    codec_for(NAME, KeyRing::from_keys([key(1)]).unwrap(), mode)
}

fn session(line: &str) -> DynamicSession {
    serde_json::from_str(line).unwrap()
}

fn nonce(i: usize) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(&(i as u64).to_le_bytes());
    n[23] = 0xA5;
    n
}

/// A few values per tier (the first lines whose value fits one cookie).
/// Every test below is exhaustive over these values, so the count is kept
/// small: the large tier alone costs tens of thousands of opens.
fn samples(codec: &Codec) -> Vec<(String, DynamicSession)> {
    let mut out = Vec::new();
    for (tier, wanted) in [(SMALL, 2), (TYPICAL, 2), (LARGE, 1)] {
        let mut taken = 0;
        for (i, line) in tier.lines().enumerate() {
            if taken == wanted {
                break;
            }
            let s = session(line);
            match codec.seal_at(&s, NOW, nonce(i)) {
                Ok(value) => {
                    out.push((value, s));
                    taken += 1;
                }
                Err(Error::TooLarge { .. }) => continue,
                Err(e) => panic!("sealing a corpus line failed: {e}"),
            }
        }
        // Signed-only values are never compressed, so some large lines do
        // not fit a cookie; they are skipped above.
        assert_eq!(taken, wanted, "not enough samples in a tier");
    }
    out
}

/// What rejecting a value must report, by category.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Malformed,
    UnknownKey(KeyId),
    Unauthenticated,
    TooLarge,
}

fn category(err: &Error) -> Expect {
    match err {
        Error::Malformed { .. } => Expect::Malformed,
        Error::UnknownKey { key_id } => Expect::UnknownKey(*key_id),
        Error::Unauthenticated => Expect::Unauthenticated,
        Error::TooLarge { .. } => Expect::TooLarge,
        other => panic!("unexpected error variant {other:?}"),
    }
}

fn id_of(bytes: &[u8]) -> KeyId {
    hex::encode(bytes).parse().unwrap()
}

/// Predicts the rejection of altered text `text`, given the decoded bytes
/// `original` of the genuine value, following the documented order of checks
/// (length, base64, version, minimum length, key id, authentication).
fn predict(mode: Mode, original: &[u8], text: &str) -> Expect {
    let (version, min_len) = match mode {
        Mode::Sealed => (1u8, 48usize),
        _ => (2u8, 53usize),
    };
    if text.len() > BROWSER_LIMIT {
        return Expect::TooLarge;
    }
    let Ok(raw) = URL_SAFE_NO_PAD.decode(text) else {
        return Expect::Malformed;
    };
    if raw.first() != Some(&version) || raw.len() < min_len {
        return Expect::Malformed;
    }
    if raw[1..5] != original[1..5] {
        return Expect::UnknownKey(id_of(&raw[1..5]));
    }
    assert_ne!(raw, original, "altered text decoded to the genuine bytes");
    Expect::Unauthenticated
}

fn reject(codec: &Codec, text: &str) -> Expect {
    match codec.open_at::<DynamicSession>(text, NOW) {
        Ok(_) => panic!("an altered value opened"),
        Err(e) => category(&e),
    }
}

fn both_modes() -> [Mode; 2] {
    [Mode::Sealed, Mode::SignedOnly]
}

#[test]
fn samples_open_unaltered() {
    for mode in both_modes() {
        let codec = codec(mode);
        for (value, s) in samples(&codec) {
            assert_eq!(
                codec
                    .open_at::<DynamicSession>(&value, NOW)
                    .unwrap()
                    .session,
                s
            );
        }
    }
}

#[test]
fn every_bit_flip_of_the_decoded_bytes_is_rejected() {
    for mode in both_modes() {
        let codec = codec(mode);
        for (value, _) in samples(&codec) {
            let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
            for bit in 0..raw.len() * 8 {
                let mut bad = raw.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                let expected = match bit / 8 {
                    0 => Expect::Malformed,
                    1..=4 => Expect::UnknownKey(id_of(&bad[1..5])),
                    _ => Expect::Unauthenticated,
                };
                let text = URL_SAFE_NO_PAD.encode(&bad);
                assert_eq!(reject(&codec, &text), expected, "{mode:?}, bit {bit}");
            }
        }
    }
}

#[test]
fn every_bit_flip_of_the_text_is_rejected() {
    for mode in both_modes() {
        let codec = codec(mode);
        for (value, _) in samples(&codec) {
            let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
            let text = value.as_bytes();
            for i in 0..text.len() {
                // Bit 7 would make the text invalid UTF-8, which no `&str`
                // (and so no caller) can hold.
                for bit in 0..7 {
                    let mut bad = text.to_vec();
                    bad[i] ^= 1 << bit;
                    let bad = String::from_utf8(bad).unwrap();
                    assert_eq!(
                        reject(&codec, &bad),
                        predict(mode, &raw, &bad),
                        "{mode:?}, char {i}, bit {bit}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    for mode in both_modes() {
        let codec = codec(mode);
        for (value, _) in samples(&codec) {
            let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
            for len in 0..value.len() {
                let cut = &value[..len];
                assert_eq!(
                    reject(&codec, cut),
                    predict(mode, &raw, cut),
                    "{mode:?}, kept {len} of {}",
                    value.len()
                );
            }
            // Truncating the decoded bytes (then re-encoding) too.
            for len in 0..raw.len() {
                let cut = URL_SAFE_NO_PAD.encode(&raw[..len]);
                assert_eq!(reject(&codec, &cut), predict(mode, &raw, &cut));
            }
        }
    }
}

#[test]
fn every_extension_is_rejected() {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for mode in both_modes() {
        let codec = codec(mode);
        for (value, _) in samples(&codec) {
            let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
            let mut extensions: Vec<String> = Vec::new();
            for a in ALPHABET.chars() {
                extensions.push(a.to_string());
                for b in ALPHABET.chars().step_by(7) {
                    extensions.push(format!("{a}{b}"));
                }
            }
            for tail in ["AAA", "AAAA", "AAAAA", "=", "==", ".", " ", ";", "\0"] {
                extensions.push(tail.to_owned());
            }
            extensions.push(value.clone());
            for tail in extensions {
                let long = format!("{value}{tail}");
                assert_eq!(
                    reject(&codec, &long),
                    predict(mode, &raw, &long),
                    "{mode:?}, appended {tail:?}"
                );
            }
            // Extending the decoded bytes (then re-encoding) too.
            for extra in [&[0u8][..], &[0x80], &[0; 16], &[0xff; 3]] {
                let mut longer = raw.clone();
                longer.extend_from_slice(extra);
                let text = URL_SAFE_NO_PAD.encode(&longer);
                assert_eq!(reject(&codec, &text), predict(mode, &raw, &text));
            }
        }
    }
}

#[test]
fn a_value_never_opens_under_another_cookie_name() {
    for mode in both_modes() {
        let ring = || KeyRing::from_keys([key(1)]).unwrap();
        let codec = codec_for(NAME, ring(), mode);
        for other in ["session2", "Session", "sessio", "__Secure-session", "x"] {
            let other = codec_for(other, ring(), mode);
            for (value, _) in samples(&codec) {
                assert_eq!(
                    other.open_at::<DynamicSession>(&value, NOW).unwrap_err(),
                    Error::Unauthenticated,
                    "{mode:?}, {}",
                    other.name()
                );
            }
        }
    }
}

#[test]
fn the_header_of_one_value_with_the_body_of_another_is_rejected() {
    for mode in both_modes() {
        let codec = codec(mode);
        // Sealed at different times too, so that no two headers are equal.
        let values: Vec<Vec<u8>> = samples(&codec)
            .iter()
            .enumerate()
            .map(|(i, (_, s))| {
                let value = codec.seal_at(s, NOW - i as u64, nonce(100 + i)).unwrap();
                URL_SAFE_NO_PAD.decode(value).unwrap()
            })
            .collect();
        // Sealed: version, key id and nonce. Signed-only: the 21-byte header
        // (version, key id, times) and the header with its MAC (53 bytes).
        let splits: &[usize] = match mode {
            Mode::Sealed => &[29],
            _ => &[21, 53],
        };
        for a in &values {
            for b in &values {
                if a == b {
                    continue;
                }
                for &at in splits {
                    let mut mixed = a[..at].to_vec();
                    mixed.extend_from_slice(&b[at..]);
                    let text = URL_SAFE_NO_PAD.encode(&mixed);
                    assert_eq!(
                        codec.open_at::<DynamicSession>(&text, NOW).unwrap_err(),
                        Error::Unauthenticated,
                        "{mode:?}, split at {at}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_same_body_under_another_nonce_is_rejected() {
    let codec = codec(Mode::Sealed);
    for (value, _) in samples(&codec) {
        let mut raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
        raw[5..29].copy_from_slice(&[0x42; 24]);
        assert_eq!(
            codec
                .open_at::<DynamicSession>(&URL_SAFE_NO_PAD.encode(&raw), NOW)
                .unwrap_err(),
            Error::Unauthenticated
        );
    }
}

#[test]
fn withdrawn_keys_are_reported_by_state() {
    let old = key(1);
    let new = key(2);
    let old_id = old.id();
    for mode in both_modes() {
        let sealed_by_old = codec(mode)
            .seal_at(&session(SMALL.lines().next().unwrap()), NOW, [7; 24])
            .unwrap();
        let with = |state: Option<KeyState>| {
            let mut builder = KeyRing::builder().key(new.clone(), KeyState::Primary);
            if let Some(state) = state {
                builder = builder.key(old.clone(), state);
            }
            codec_for(NAME, builder.build().unwrap(), mode)
        };
        let open = |codec: &Codec, now| codec.open_at::<DynamicSession>(&sealed_by_old, now);

        // Still listed (active, or retired before its deadline): opens, and
        // asks for a re-seal under the primary key.
        let opened = open(&with(Some(KeyState::Active)), NOW).unwrap();
        assert_eq!(opened.key_id, old_id);
        assert!(opened.needs_reseal());
        assert!(open(&with(Some(KeyState::Retired { until: NOW + 1 })), NOW).is_ok());

        assert_eq!(
            open(&with(None), NOW).unwrap_err(),
            Error::UnknownKey { key_id: old_id },
            "{mode:?}: removed key"
        );
        assert_eq!(
            open(&with(Some(KeyState::Retired { until: NOW })), NOW).unwrap_err(),
            Error::RetiredKey {
                key_id: old_id,
                deadline: NOW
            },
            "{mode:?}: retired key, deadline reached"
        );
        assert_eq!(
            open(&with(Some(KeyState::Retired { until: NOW - 100 })), NOW).unwrap_err(),
            Error::RetiredKey {
                key_id: old_id,
                deadline: NOW - 100
            },
            "{mode:?}: retired key, deadline passed"
        );
        assert_eq!(
            open(&with(Some(KeyState::Revoked)), NOW).unwrap_err(),
            Error::RevokedKey { key_id: old_id },
            "{mode:?}: revoked key"
        );
    }
}

#[test]
fn a_different_key_with_a_forged_key_id_is_unauthenticated() {
    // An attacker who copies the key id of the real key into a value sealed
    // under their own key gets past the lookup, but not the tag or MAC.
    for mode in both_modes() {
        let real = codec(mode);
        let attacker = codec_for(NAME, KeyRing::from_keys([key(9)]).unwrap(), mode);
        let forged = attacker
            .seal_at(&session(r#"{"admin":true}"#), NOW, [1; 24])
            .unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(forged).unwrap();
        raw[1..5].copy_from_slice(key(1).id().as_bytes());
        assert_eq!(
            real.open_at::<DynamicSession>(&URL_SAFE_NO_PAD.encode(&raw), NOW)
                .unwrap_err(),
            Error::Unauthenticated,
            "{mode:?}"
        );
    }
}

#[test]
fn expiry_and_not_yet_valid_at_the_skew_boundary() {
    const MAX_AGE: u64 = 3600;
    for mode in both_modes() {
        for skew in [0u64, 60, 300] {
            let codec = Codec::builder(NAME)
                .key_ring(KeyRing::from_keys([key(1)]).unwrap())
                .mode(mode)
                .max_age(Duration::from_secs(MAX_AGE))
                .clock_skew(Duration::from_secs(skew))
                .build()
                .unwrap();
            let value = codec.seal_at(&DynamicSession::new(), NOW, [3; 24]).unwrap();
            let open = |now| codec.open_at::<DynamicSession>(&value, now);
            let expires = NOW + MAX_AGE;

            // One second inside the allowance opens; the boundary itself is out.
            let opened = open(expires + skew - 1).unwrap();
            assert_eq!((opened.issued_at, opened.expires_at), (NOW, expires));
            assert_eq!(
                open(expires + skew).unwrap_err(),
                Error::Expired {
                    expired_at: expires,
                    now: expires + skew
                },
                "{mode:?}, skew {skew}"
            );
            assert_eq!(
                open(expires + skew + 1).unwrap_err(),
                Error::Expired {
                    expired_at: expires,
                    now: expires + skew + 1
                }
            );

            // Issued in the future: allowed up to the skew, not one second more.
            assert!(open(NOW - skew).is_ok(), "{mode:?}, skew {skew}");
            assert_eq!(
                open(NOW - skew - 1).unwrap_err(),
                Error::NotYetValid {
                    issued_at: NOW,
                    now: NOW - skew - 1
                },
                "{mode:?}, skew {skew}"
            );
        }
    }
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    for mode in both_modes() {
        let codec = codec(mode);
        let (value, _) = samples(&codec).remove(0);
        for len in [BROWSER_LIMIT + 1, 10_000, 1 << 20] {
            // Valid-looking base64 of a genuine value, padded with more
            // base64: only the length can reject it this early.
            let mut long = value.clone();
            while long.len() < len {
                long.push('A');
            }
            match codec.open_at::<DynamicSession>(&long, NOW).unwrap_err() {
                Error::TooLarge { size, limit, .. } => {
                    assert_eq!(size, len);
                    assert!(limit <= BROWSER_LIMIT);
                }
                other => panic!("{mode:?}: expected TooLarge, got {other:?}"),
            }
        }
    }
}

#[test]
fn malformed_base64_is_rejected() {
    for mode in both_modes() {
        let codec = codec(mode);
        for (value, _) in samples(&codec) {
            let mut variants = vec![
                String::new(),
                format!(" {value}"),
                format!("{value} "),
                format!("{value}\n"),
                format!("\t{value}"),
                format!("{}\n{}", &value[..10], &value[10..]),
                format!("{} {}", &value[..10], &value[10..]),
                format!("\"{value}\""),
                value.replace('A', "+"),
                value.replace('A', "/"),
                format!("+{}", &value[1..]),
                format!("/{}", &value[1..]),
                format!("{}%3D", value),
            ];
            // Padded base64 (the standard encoder's output).
            let padding = (4 - value.len() % 4) % 4;
            if padding > 0 {
                variants.push(format!("{value}{}", "=".repeat(padding)));
            }
            variants.push(format!("{value}===="));
            // The standard alphabet instead of the URL-safe one.
            if value.contains(['-', '_']) {
                variants.push(value.replace('-', "+").replace('_', "/"));
            }
            // Non-canonical: non-zero trailing bits in the last character.
            if value.len() % 4 != 0 {
                let last = value.chars().last().unwrap();
                for c in ['B', 'C', 'D', 'F', 'P', 'f', '_'] {
                    if c != last {
                        let mut v = value.clone();
                        v.pop();
                        v.push(c);
                        if URL_SAFE_NO_PAD.decode(&v).is_err() {
                            variants.push(v);
                        }
                    }
                }
            }
            for bad in variants {
                if bad.len() > BROWSER_LIMIT {
                    continue;
                }
                assert!(
                    matches!(
                        codec.open_at::<DynamicSession>(&bad, NOW),
                        Err(Error::Malformed { .. })
                    ),
                    "{mode:?}: {bad:?} was not reported as malformed"
                );
            }
        }
    }
}

#[test]
fn a_value_of_the_other_mode_is_malformed() {
    let sealed = codec(Mode::Sealed);
    let signed = codec(Mode::SignedOnly);
    let s = DynamicSession::new();
    let a = sealed.seal_at(&s, NOW, [0; 24]).unwrap();
    let b = signed.seal_at(&s, NOW, [0; 24]).unwrap();
    assert!(matches!(
        signed.open_at::<DynamicSession>(&a, NOW),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        sealed.open_at::<DynamicSession>(&b, NOW),
        Err(Error::Malformed { .. })
    ));
}

/// 100 KB of repetitive JSON compresses to a few hundred bytes: a value that
/// fits a cookie easily but would expand far past the default bound.
fn bomb_json() -> DynamicSession {
    let item = serde_json::json!({"sku": 1234567, "title": "the same product title", "count": 1});
    let items: Vec<_> = std::iter::repeat_n(item, 1_700).collect();
    let json = serde_json::json!({ "cart": items });
    let s: DynamicSession = serde_json::from_value(json).unwrap();
    assert!(serde_json::to_vec(&s).unwrap().len() > 100_000);
    s
}

#[test]
fn a_compressed_body_past_the_bound_is_too_large_even_under_a_valid_key() {
    let ring = || KeyRing::from_keys([key(1)]).unwrap();
    let generous = Codec::builder(NAME)
        .key_ring(ring())
        .max_decompressed_size(1 << 20)
        .build()
        .unwrap();
    let s = bomb_json();
    let json_len = serde_json::to_vec(&s).unwrap().len();
    let value = generous.seal_at(&s, NOW, [5; 24]).unwrap();
    assert!(value.len() < 4096, "the bomb fits in one cookie");
    // The generous codec opens it: the value itself is genuine.
    assert_eq!(
        generous
            .open_at::<DynamicSession>(&value, NOW)
            .unwrap()
            .session,
        s
    );
    // The default bound (64 KiB) refuses it before decompressing.
    let default = codec_for(NAME, ring(), Mode::Sealed);
    assert_eq!(
        default.open_at::<DynamicSession>(&value, NOW).unwrap_err(),
        Error::TooLarge {
            what: "decompressed session",
            size: json_len,
            limit: 64 * 1024
        }
    );
    // A bound just below the length refuses it; exactly at it opens.
    let at = |bound| {
        Codec::builder(NAME)
            .key_ring(ring())
            .max_decompressed_size(bound)
            .build()
            .unwrap()
            .open_at::<DynamicSession>(&value, NOW)
    };
    assert!(matches!(at(json_len - 1), Err(Error::TooLarge { .. })));
    assert!(at(json_len).is_ok());
}
