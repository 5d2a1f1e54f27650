//! Trained compression dictionaries: round trips per tier, rotation of
//! dictionaries, the unknown-dictionary error and the fallback to plain zstd.
#![cfg(feature = "dict-train")]

use sealed_session::{Codec, Dictionary, DynamicSession, Error, Key, KeyRing, Reseal};

const NOW: u64 = 1_750_000_000;

fn tier(name: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/data/corpus/sessions-{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .expect("corpus tier")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Trains on the first half of the typical and large tiers; tests use the
/// other half, so no test session was seen in training.
fn trained() -> Vec<u8> {
    let mut samples = Vec::new();
    for name in ["small", "typical", "large"] {
        let lines = tier(name);
        samples.extend(
            lines[..lines.len() / 2]
                .iter()
                .map(|l| l.as_bytes().to_vec()),
        );
    }
    Dictionary::train(&samples, 16 * 1024).expect("training succeeds on the corpus")
}

fn ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([9; 32])]).unwrap()
}

fn codec(dicts: Vec<Dictionary>) -> Codec {
    Codec::builder("session")
        .key_ring(ring())
        .dictionaries(dicts)
        .build()
        .unwrap()
}

fn nonce(i: usize) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(&(i as u64).to_le_bytes());
    n
}

#[test]
fn round_trips_every_held_out_line_with_and_without_dictionary() {
    let bytes = trained();
    let with = codec(vec![Dictionary::from_bytes(&bytes).unwrap()]);
    let without = codec(Vec::new());
    for name in ["small", "typical", "large"] {
        let lines = tier(name);
        let (mut total_with, mut total_without) = (0usize, 0usize);
        for (i, line) in lines[lines.len() / 2..].iter().enumerate() {
            let session: DynamicSession = serde_json::from_str(line).unwrap();
            for (codec, total) in [(&with, &mut total_with), (&without, &mut total_without)] {
                let value = codec.seal_at(&session, NOW, nonce(i)).unwrap();
                *total += value.len();
                let opened = codec.open_at::<DynamicSession>(&value, NOW).unwrap();
                assert_eq!(opened.session, session, "tier {name} line {i}");
            }
        }
        // The dictionary never makes a tier larger (the fallback guarantees it).
        assert!(
            total_with <= total_without,
            "tier {name}: {total_with} > {total_without}"
        );
        if name == "typical" || name == "large" {
            assert!(
                total_with * 10 < total_without * 8,
                "tier {name}: the trained dictionary should save at least 20% ({total_with} vs {total_without})"
            );
        }
    }
}

#[test]
fn value_sealed_with_old_dictionary_opens_after_rotation() {
    let bytes = trained();
    let a = || Dictionary::from_bytes(&bytes).unwrap();
    let b = || {
        Dictionary::from_bytes(b"{\"somethingElse\":true,\"other\":[1,2,3]}".repeat(20)).unwrap()
    };
    let old_server = codec(vec![a()]);
    let new_server = codec(vec![b(), a()]);
    let line = &tier("typical")[900];
    let session: DynamicSession = serde_json::from_str(line).unwrap();
    let value = old_server.seal_at(&session, NOW, nonce(1)).unwrap();
    assert_eq!(
        new_server
            .open_at::<DynamicSession>(&value, NOW)
            .unwrap()
            .session,
        session
    );
}

#[test]
fn unknown_dictionary_is_its_own_error() {
    let bytes = trained();
    let dict = Dictionary::from_bytes(&bytes).unwrap();
    let id = dict.id();
    let sealer = codec(vec![dict]);
    let opener = codec(Vec::new());
    let session: DynamicSession = serde_json::from_str(&tier("typical")[950]).unwrap();
    let value = sealer.seal_at(&session, NOW, nonce(2)).unwrap();
    assert_eq!(
        opener.open_at::<DynamicSession>(&value, NOW).unwrap_err(),
        Error::UnknownDictionary { dictionary_id: id }
    );
}

#[test]
fn falls_back_when_the_dictionary_does_not_help() {
    let bytes = trained();
    let with = codec(vec![Dictionary::from_bytes(&bytes).unwrap()]);
    let without = codec(Vec::new());
    // JSON of a shape the dictionary never saw: sensor readings.
    let readings: Vec<String> = (0..60)
        .map(|i| {
            format!(
                r#"{{"sensor":"t{i}","celsius":{}.{},"ok":{}}}"#,
                i * 7 % 40,
                i % 10,
                i % 3 == 0
            )
        })
        .collect();
    let json = format!(r#"{{"readings":[{}]}}"#, readings.join(","));
    let session: DynamicSession = serde_json::from_str(&json).unwrap();
    let plain = without.seal_at(&session, NOW, nonce(3)).unwrap();
    let dict = with.seal_at(&session, NOW, nonce(3)).unwrap();
    assert!(
        dict.len() <= plain.len(),
        "{} > {}",
        dict.len(),
        plain.len()
    );
    assert_eq!(
        with.open_at::<DynamicSession>(&dict, NOW).unwrap().session,
        session
    );
}

#[test]
fn duplicate_dictionaries_are_a_configuration_error() {
    let bytes = b"0123456789abcdef0123456789abcdef";
    let err = Codec::builder("s")
        .key_ring(ring())
        .dictionaries([
            Dictionary::from_bytes(bytes).unwrap(),
            Dictionary::from_bytes(bytes).unwrap(),
        ])
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

#[test]
fn open_only_dictionary_opens_but_never_compresses() {
    // Phase 1 of the very first dictionary: servers learn to open it first.
    let bytes = trained();
    let learning = Codec::builder("session")
        .key_ring(ring())
        .open_only_dictionaries([Dictionary::from_bytes(&bytes).unwrap()])
        .build()
        .unwrap();
    let plain = codec(Vec::new());
    let switched = codec(vec![Dictionary::from_bytes(&bytes).unwrap()]);
    let session: DynamicSession = serde_json::from_str(&tier("typical")[960]).unwrap();
    assert_eq!(
        learning.seal_at(&session, NOW, nonce(4)).unwrap(),
        plain.seal_at(&session, NOW, nonce(4)).unwrap(),
        "an open-only dictionary must not change what is sealed"
    );
    let value = switched.seal_at(&session, NOW, nonce(5)).unwrap();
    let opened = learning.open_at::<DynamicSession>(&value, NOW).unwrap();
    assert_eq!(opened.session, session);
    assert_eq!(opened.reseal, Some(Reseal::OldDictionary));
}

#[test]
fn old_dictionary_asks_for_a_reseal_and_current_does_not() {
    let bytes = trained();
    let a = || Dictionary::from_bytes(&bytes).unwrap();
    let b = || {
        Dictionary::from_bytes(
            b"{\"csrf\":\"\",\"locale\":\"en-US\",\"user\":{\"id\":1}}".repeat(40),
        )
        .unwrap()
    };
    let old_server = codec(vec![a()]);
    let new_server = codec(vec![b(), a()]);
    let session: DynamicSession = serde_json::from_str(&tier("typical")[970]).unwrap();
    let old_value = old_server.seal_at(&session, NOW, nonce(6)).unwrap();
    assert_eq!(
        new_server
            .open_at::<DynamicSession>(&old_value, NOW)
            .unwrap()
            .reseal,
        Some(Reseal::OldDictionary)
    );
    assert_eq!(
        old_server
            .open_at::<DynamicSession>(&old_value, NOW)
            .unwrap()
            .reseal,
        None
    );
}
