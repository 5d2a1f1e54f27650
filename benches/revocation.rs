//! What the revocation check costs per request, and whether it grows with
//! the number of revocations. Target: at most about 100 ns, independent of
//! the set's size.
//!
//! `cargo bench --all-features --bench revocation` builds sets of 0, 10,000
//! and 1,000,000 entries (half revoked session ids, half revoked subjects,
//! loaded with `RevocationSet::replace_all`), prints the heap bytes each
//! kind of entry takes (a counting allocator around the system one), then
//! paired measurements (two paths in alternating batches of about 1 ms, 200
//! rounds; median [first-third quartile] of the per-call difference):
//!
//! - `check - make identity`: `RevocationSet::check` of an identity that is
//!   not revoked (a random session id and a random 9-digit subject, made
//!   fresh for every call so that the lookups land anywhere in the table, as
//!   requests do), against making the identity alone;
//! - `open with set - open without`: `Codec::open` of a typical sealed
//!   value (tests/data/corpus/sessions-typical.jsonl, each with a 9-digit
//!   subject) by a codec with the set, against the same codec without one.
//!
//! Before those, a floor for this machine: the latency of one random
//! 64-byte read (each address depending on the previous read) in arrays of
//! the sizes the check reads from: the set's Bloom filter at 10,000 and
//! 1,000,000 entries (10 bits each) and its hash tables at a million
//! (about 60 MB). No structure that holds a million entries with few false
//! positives can answer in less than one such read of its size.
//!
//! Then criterion group `revocation`: `make-identity`, `check-miss/<n>`
//! (as above), `check-hit/<n>` (a revoked session id, cycling through 4,096
//! of them), `open/none` and `open/<n>`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sealed_session::{
    Codec, Identity, Key, KeyRing, Lineage, Revocation, RevocationSet, SessionId,
};

#[path = "../tests/common/corpus_session.rs"]
mod corpus_session;
use corpus_session::Session;

/// Counts the bytes in use on the heap, to measure what an entry costs.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only
// counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        IN_USE.fetch_add(new_size, Ordering::Relaxed);
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SIZES: [usize; 3] = [0, 10_000, 1_000_000];
const ROUNDS: usize = 200;
/// Longer than any sealed value's lifetime here: nothing is swept.
const RETENTION: Duration = Duration::from_secs(8 * 86_400);

/// splitmix64: a fixed, fast stream of random-looking numbers.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn session_id(&mut self) -> SessionId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next().to_le_bytes());
        id[8..].copy_from_slice(&self.next().to_le_bytes());
        SessionId::from_bytes(id)
    }

    /// A 9-digit user id, as text.
    fn subject(&mut self) -> u64 {
        100_000_000 + self.next() % 900_000_000
    }
}

/// `n` entries: `n / 2` revoked session ids and `n / 2` revoked subjects
/// (sessions created before the revocation time). Revoked subjects are
/// even 9-digit user ids, all different; the probes use odd ones.
fn revocations(n: usize, seed: u64) -> Vec<Revocation> {
    let mut mix = Mix(seed);
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                Revocation::Session {
                    id: mix.session_id(),
                    at: 1_000,
                }
            } else {
                Revocation::Subject {
                    subject: format!("{}", 100_000_000 + 2 * i),
                    before: 1_000,
                }
            }
        })
        .collect()
}

fn set_of(entries: Vec<Revocation>) -> Arc<RevocationSet> {
    let set = RevocationSet::new(RETENTION);
    set.replace_all(entries, 0);
    Arc::new(set)
}

/// Heap bytes per entry of one kind, measured over `n` entries.
fn bytes_per_entry(n: usize, kind: fn(&mut Mix, u64) -> Revocation) -> f64 {
    let mut mix = Mix(7);
    let mut i = 0u64;
    // Counted from before the entries exist: a subject's text allocated
    // here ends up (as a boxed str) in the set; the Vec is freed by
    // `replace_all`.
    let before = IN_USE.load(Ordering::Relaxed);
    let entries: Vec<Revocation> = (0..n)
        .map(|_| {
            i += 1;
            kind(&mut mix, i)
        })
        .collect();
    let set = RevocationSet::new(RETENTION);
    set.replace_all(entries, 0);
    let after = IN_USE.load(Ordering::Relaxed);
    assert_eq!(set.len(), n);
    let bytes = after.saturating_sub(before) as f64 / n as f64;
    drop(set);
    bytes
}

fn print_memory() {
    println!("heap bytes per entry (counting allocator, requested sizes):");
    for n in [10_000, 1_000_000] {
        let session = bytes_per_entry(n, |mix, _| Revocation::Session {
            id: mix.session_id(),
            at: 1_000,
        });
        let subject = bytes_per_entry(n, |_, i| Revocation::Subject {
            subject: format!("{}", 100_000_000 + i),
            before: 1_000,
        });
        println!("  {n:>9} entries: session id {session:.1} B, 9-digit subject {subject:.1} B");
    }
}

/// An identity that is not revoked, rewritten in place for every call:
/// a fresh random session id and an odd 9-digit subject.
struct Probe {
    mix: Mix,
    identity: Identity,
}

impl Probe {
    fn new() -> Self {
        Probe {
            mix: Mix(0xfeed),
            identity: Identity::new(
                SessionId::from_bytes([0; 16]),
                2_000,
                Key::from_bytes([1; 32]).id(),
                Some(String::with_capacity(16)),
            ),
        }
    }

    fn next(&mut self) -> &Identity {
        self.identity.session_id = self.mix.session_id();
        let subject = self.mix.subject() | 1;
        if let Some(text) = self.identity.subject.as_mut() {
            text.clear();
            let _ = write!(text, "{subject}");
        }
        &self.identity
    }
}

fn corpus() -> Vec<Session> {
    let path = format!(
        "{}/tests/data/corpus/sessions-typical.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap()
}

fn codec(set: Option<&Arc<RevocationSet>>) -> Codec {
    let builder = Codec::builder("session").key_ring(ring());
    match set {
        Some(set) => builder.revocations(Arc::clone(set)),
        None => builder,
    }
    .build()
    .unwrap()
}

/// The typical tier sealed now, each a new session of an odd 9-digit user.
fn values(codec: &Codec) -> Vec<String> {
    let mut mix = Mix(99);
    corpus()
        .iter()
        .map(|session| {
            let subject = format!("{}", mix.subject() | 1);
            codec
                .seal_with(session, &Lineage::new_for(subject))
                .unwrap()
        })
        .collect()
}

fn cycle<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T + 'a {
    let mut i = 0;
    move || {
        i = (i + 1) % items.len();
        &items[i]
    }
}

/// Median [quartiles] of (a - b) per call in ns over alternating batches.
fn paired(mut a: impl FnMut(), mut b: impl FnMut()) -> [f64; 3] {
    let start = Instant::now();
    let mut batch = 0u32;
    while start.elapsed() < Duration::from_millis(1) {
        a();
        b();
        batch += 1;
    }
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(batch)
    };
    let mut diffs = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (ta, tb) = if round % 2 == 0 {
            let ta = time(&mut a);
            (ta, time(&mut b))
        } else {
            let tb = time(&mut b);
            (time(&mut a), tb)
        };
        diffs.push(ta - tb);
    }
    diffs.sort_by(f64::total_cmp);
    [diffs[ROUNDS / 4], diffs[ROUNDS / 2], diffs[ROUNDS * 3 / 4]]
}

fn show(what: &str, [d1, d2, d3]: [f64; 3]) {
    println!("  {what:<44} {d2:>6.1} ns [{d1:.1} to {d3:.1}]");
}

struct Fixture {
    size: usize,
    set: Arc<RevocationSet>,
    /// Session ids revoked in `set` (up to 4,096).
    revoked: Vec<Identity>,
    codec: Codec,
}

fn fixture(size: usize) -> Fixture {
    let entries = revocations(size, 1);
    let revoked = entries
        .iter()
        .filter_map(|r| match r {
            Revocation::Session { id, .. } => {
                Some(Identity::new(*id, 500, Key::from_bytes([1; 32]).id(), None))
            }
            _ => None,
        })
        .take(4096)
        .collect();
    let set = set_of(entries);
    assert_eq!(set.len(), size);
    let codec = codec(Some(&set));
    Fixture {
        size,
        set,
        revoked,
        codec,
    }
}

/// One cache line, as the filter's blocks.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line([u64; 8]);

/// Median ns per dependent random read of one line in an array of `bytes`.
fn read_latency(bytes: usize) -> f64 {
    let lines = black_box(vec![Line([0; 8]); bytes.div_ceil(64)]);
    let reads = 200_000u64;
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let mut mix = Mix(3);
            let mut carry = 0u64;
            let start = Instant::now();
            for _ in 0..reads {
                // The next address depends on the value read (always 0).
                let h = mix.next() ^ carry;
                let index = ((u128::from(h) * lines.len() as u128) >> 64) as usize;
                carry = lines[index].0[(h & 7) as usize];
            }
            black_box(carry);
            start.elapsed().as_secs_f64() * 1e9 / reads as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn print_read_latency() {
    println!("random read of one 64-byte line, dependent reads (median of 15 runs):");
    for (what, bytes) in [
        ("filter of 10,000 entries", 12_500),
        ("filter of 1,000,000 entries", 1_250_000),
        ("filter of 1,000,000 entries, just grown", 2_500_000),
        ("hash tables of 1,000,000 entries", 60_000_000),
    ] {
        let ns = read_latency(bytes);
        println!("  {what:<42} {:>6.2} MB {ns:>6.1} ns", bytes as f64 / 1e6);
    }
}

fn benches(c: &mut Criterion) {
    print_memory();
    print_read_latency();
    let fixtures: Vec<Fixture> = SIZES.iter().map(|&n| fixture(n)).collect();
    let plain = codec(None);
    let values = values(&plain);
    // Every path agrees before anything is measured: nothing the probes or
    // the values carry is revoked, every revoked id is.
    for f in &fixtures {
        let mut probe = Probe::new();
        for _ in 0..10_000 {
            assert_eq!(f.set.check(probe.next()), None);
        }
        assert!(f.revoked.iter().all(|i| f.set.check(i).is_some()));
        for value in values.iter().take(50) {
            let opened = f.codec.open::<Session>(value).unwrap();
            assert!(opened.identity.unwrap().subject.is_some());
        }
    }

    println!("paired, median of {ROUNDS} rounds [first-third quartile]:");
    for f in &fixtures {
        let (mut a, mut b) = (Probe::new(), Probe::new());
        show(
            &format!("check - make identity, {} entries", f.size),
            paired(
                || {
                    black_box(f.set.check(black_box(a.next())));
                },
                || {
                    black_box(b.next());
                },
            ),
        );
    }
    for f in &fixtures {
        let (mut x, mut y) = (cycle(&values), cycle(&values));
        show(
            &format!("open with set - open without, {} entries", f.size),
            paired(
                || {
                    black_box(f.codec.open::<Session>(black_box(x())).unwrap());
                },
                || {
                    black_box(plain.open::<Session>(black_box(y())).unwrap());
                },
            ),
        );
    }

    let mut group = c.benchmark_group("revocation");
    let mut probe = Probe::new();
    group.bench_function("make-identity", |b| {
        b.iter(|| black_box(probe.next().created_at))
    });
    for f in &fixtures {
        let mut probe = Probe::new();
        group.bench_with_input(BenchmarkId::new("check-miss", f.size), &f.set, |b, set| {
            b.iter(|| set.check(black_box(probe.next())))
        });
    }
    for f in fixtures.iter().filter(|f| f.size > 0) {
        let mut next = cycle(&f.revoked);
        group.bench_with_input(BenchmarkId::new("check-hit", f.size), &f.set, |b, set| {
            b.iter(|| set.check(black_box(next())))
        });
    }
    let mut next = cycle(&values);
    group.bench_function("open/none", |b| {
        b.iter(|| plain.open::<Session>(black_box(next())).unwrap())
    });
    for f in &fixtures {
        let mut next = cycle(&values);
        group.bench_with_input(BenchmarkId::new("open", f.size), &f.codec, |b, codec| {
            b.iter(|| codec.open::<Session>(black_box(next())).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(group);
