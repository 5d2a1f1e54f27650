//! What drawing every nonce from the operating system costs per seal.
//!
//! `Codec::seal` draws each 24-byte nonce with `getrandom(2)` (fork-safe; see
//! SECURITY.md, "Nonces and fork()"). The earlier source was rand's
//! `thread_rng`, a ChaCha generator buffered per thread, which repeats its
//! output in forked children. Both are measured here in one run, alone and
//! inside a seal of the typical corpus tier through `Codec::seal_at` (the
//! same sealing work, only the nonce source differs), plus `Codec::seal`
//! itself (clock and OS nonce, as shipped).
//!
//! `cargo bench --bench nonce` prints the medians and the paired ratio
//! `os / thread_rng` of the whole seal.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::RngCore as _;
use sealed_session::{Codec, Key, KeyRing, NONCE_LEN};

#[path = "../tests/common/corpus_session.rs"]
mod corpus_session;
use corpus_session::Session;

fn typical() -> Vec<Session> {
    let path = format!(
        "{}/tests/data/corpus/sessions-typical.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn os_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

fn thread_rng_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

fn codec() -> Codec {
    let ring = KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap();
    Codec::builder("session").key_ring(ring).build().unwrap()
}

/// Paired, interleaved timing of a seal with each nonce source, so that
/// machine noise hits both sides alike: returns (thread_rng ns, os ns).
fn paired(codec: &Codec, sessions: &[Session], rounds: usize) -> (f64, f64) {
    let now = now_unix();
    let (mut t_thread, mut t_os) = (Duration::ZERO, Duration::ZERO);
    let mut n = 0usize;
    for _ in 0..rounds {
        for s in sessions {
            let start = Instant::now();
            black_box(
                codec
                    .seal_at(black_box(s), now, thread_rng_nonce())
                    .unwrap(),
            );
            t_thread += start.elapsed();
            let start = Instant::now();
            black_box(codec.seal_at(black_box(s), now, os_nonce()).unwrap());
            t_os += start.elapsed();
            n += 1;
        }
    }
    (
        t_thread.as_nanos() as f64 / n as f64,
        t_os.as_nanos() as f64 / n as f64,
    )
}

fn bench(c: &mut Criterion) {
    let codec = codec();
    let sessions = typical();
    let now = now_unix();

    let mut group = c.benchmark_group("nonce");
    group.bench_function("draw/thread_rng", |b| b.iter(thread_rng_nonce));
    group.bench_function("draw/os", |b| b.iter(os_nonce));
    let mut i = 0;
    group.bench_function("seal_at/thread_rng", |b| {
        b.iter(|| {
            i = (i + 1) % sessions.len();
            codec
                .seal_at(&sessions[i], now, thread_rng_nonce())
                .unwrap()
        })
    });
    group.bench_function("seal_at/os", |b| {
        b.iter(|| {
            i = (i + 1) % sessions.len();
            codec.seal_at(&sessions[i], now, os_nonce()).unwrap()
        })
    });
    group.bench_function("seal (shipped)", |b| {
        b.iter(|| {
            i = (i + 1) % sessions.len();
            codec.seal(&sessions[i]).unwrap()
        })
    });
    group.finish();

    let (thread, os) = paired(&codec, &sessions, 20);
    println!(
        "paired seal of the typical tier: thread_rng {thread:.0} ns, os {os:.0} ns, \
         os/thread_rng {:.3}",
        os / thread
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
