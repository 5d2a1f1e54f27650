//! Decode cost must not grow with the key ring: opening a value costs the
//! same with 1 key as with 32, whether it was sealed under the primary key
//! or under an older key in the middle of the ring (the key id in the header
//! selects the key with one binary search, never trial decryption).
//!
//! `cargo bench --bench key_ring` measures group `key-ring-decode`, functions
//! `1-key`, `32-keys-primary`, `32-keys-middle` and `32-keys-unknown-id` (a
//! value naming a key the ring does not have: rejected before any AES work),
//! on the typical corpus tier, one line per iteration. The session is read
//! into `serde::de::IgnoredAny`: the JSON is still parsed, but no session is
//! built, so the part that could depend on the ring is a larger share of the
//! time and a difference would show more clearly.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sealed_session::{Codec, DynamicSession, Key, KeyRing, KeyState};
use serde::de::IgnoredAny;

const NAME: &str = "session";

fn typical() -> Vec<DynamicSession> {
    let path = format!(
        "{}/tests/data/corpus/sessions-typical.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The crate's full decode path from what the request carries.
mod full {
    use super::*;

    /// The request's Cookie header carrying the sealed value of `sealer`'s
    /// Set-Cookie header.
    pub fn request_header(sealer: &Codec, session: &DynamicSession) -> String {
        let cookies = sealer.encode(session).unwrap();
        let header = cookies.iter().next().unwrap();
        let pair = header.split(';').next().unwrap();
        format!("theme=dark; {pair}")
    }

    pub fn decode(codec: &Codec, header: &str) -> bool {
        codec.decode::<IgnoredAny>(header).is_ok()
    }
}

fn codec(ring: KeyRing) -> Codec {
    Codec::builder(NAME).key_ring(ring).build().unwrap()
}

fn sealing_with(key: &Key) -> Codec {
    codec(KeyRing::from_keys([key.clone()]).unwrap())
}

fn bench(c: &mut Criterion) {
    let keys: Vec<Key> = (0..32u8).map(|i| Key::from_bytes([i; 32])).collect();
    let primary = &keys[0];
    // The ring keeps its keys sorted by id: take the one in the middle of
    // that order that is not the primary.
    let mut by_id: Vec<&Key> = keys.iter().collect();
    by_id.sort_by_key(|k| k.id());
    let middle = by_id
        .iter()
        .skip(16)
        .find(|k| k.id() != primary.id())
        .copied()
        .unwrap();

    let one = codec(KeyRing::from_keys([primary.clone()]).unwrap());
    let mut builder = KeyRing::builder();
    for k in &keys {
        let state = if k.id() == primary.id() {
            KeyState::Primary
        } else {
            KeyState::Active
        };
        builder = builder.key(k.clone(), state);
    }
    let thirty_two = codec(builder.build().unwrap());
    assert_eq!(thirty_two.key_ring().len(), 32);

    let sessions = typical();
    let seal_all = |sealer: &Codec| -> Vec<String> {
        sessions
            .iter()
            .map(|s| full::request_header(sealer, s))
            .collect()
    };
    let under_primary = seal_all(&one);
    let under_middle = seal_all(&sealing_with(middle));
    let under_unknown = seal_all(&sealing_with(&Key::from_bytes([0xEE; 32])));
    for (opener, values, opens) in [
        (&one, &under_primary, true),
        (&thirty_two, &under_primary, true),
        (&thirty_two, &under_middle, true),
        (&thirty_two, &under_unknown, false),
    ] {
        assert!(values.iter().all(|v| full::decode(opener, v) == opens));
    }

    let mut group = c.benchmark_group("key-ring-decode");
    for (function, opener, values) in [
        ("1-key", &one, &under_primary),
        ("32-keys-primary", &thirty_two, &under_primary),
        ("32-keys-middle", &thirty_two, &under_middle),
        ("32-keys-unknown-id", &thirty_two, &under_unknown),
    ] {
        let mut i = 0;
        group.bench_function(BenchmarkId::new(function, "typical"), |b| {
            b.iter(|| {
                let value = &values[i % values.len()];
                i += 1;
                full::decode(opener, black_box(value))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
