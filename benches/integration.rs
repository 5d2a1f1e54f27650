//! What the session handle adds per request on top of the codec calls a
//! hand-written integration would make, on the typical corpus tier
//! (tests/data/corpus/sessions-typical.jsonl). Target: at most 1 µs or 10 %,
//! whichever is larger.
//!
//! `cargo bench --all-features --bench integration` first prints paired
//! measurements (the two paths run in alternating batches of about 1 ms,
//! 200 rounds; median [first-third quartile] of the per-call difference
//! and of the ratio), then runs criterion group `integration` with:
//!
//! - `read/codec`: `Codec::decode`; `read/handle`: a handle opened by the
//!   same decode, read, then `finish` (which writes nothing);
//! - `update/codec`: `Codec::decode`, a change, `Codec::encode`;
//!   `update/handle`: a handle, `update_existing` with the same change,
//!   `finish`;
//! - `unchanged/handle`: `update_existing` that leaves the JSON as it was (the
//!   handle serializes twice to find that out, and seals nothing), to
//!   compare with `read/codec`.
//!
//! Every iteration takes the next corpus line.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sealed_session::{Codec, Key, KeyRing, SessionHandle, SessionSettings};

#[path = "../tests/common/corpus_session.rs"]
mod corpus_session;
use corpus_session::Session;

const ROUNDS: usize = 200;

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

struct Fixture {
    settings: SessionSettings,
    /// One `Cookie` header per corpus line.
    headers: Vec<Arc<str>>,
}

fn fixture() -> Fixture {
    let codec = Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap())
        .build()
        .unwrap();
    let headers = corpus()
        .iter()
        .map(|session| {
            let cookies = codec.encode(session).unwrap();
            let pair = cookies.iter().next().unwrap().split(';').next().unwrap();
            Arc::from(pair)
        })
        .collect();
    Fixture {
        settings: SessionSettings::new(codec),
        headers,
    }
}

fn change(session: &mut Session) {
    session.created_at = session.created_at.wrapping_add(1);
}

impl Fixture {
    fn codec(&self) -> &Codec {
        self.settings.codec()
    }

    fn handle(&self, header: &Arc<str>) -> SessionHandle<Session> {
        let header = Arc::clone(header);
        SessionHandle::with_loader(&self.settings, false, move |codec| codec.decode(&header))
    }

    fn read_codec(&self, header: &str) -> u64 {
        self.codec()
            .decode::<Session>(header)
            .unwrap()
            .session
            .created_at
    }

    fn read_handle(&self, header: &Arc<str>) -> u64 {
        let handle = self.handle(header);
        let created = handle.read(|s| s.map_or(0, |s| s.created_at));
        assert!(handle.finish(None).unwrap().is_none());
        created
    }

    fn update_codec(&self, header: &str) -> usize {
        let mut session = self.codec().decode::<Session>(header).unwrap().session;
        change(&mut session);
        self.codec().encode(&session).unwrap().len()
    }

    fn update_handle(&self, header: &Arc<str>) -> usize {
        let handle = self.handle(header);
        handle.update_existing(change);
        handle.finish(None).unwrap().map_or(0, |c| c.len())
    }

    fn unchanged_handle(&self, header: &Arc<str>) -> usize {
        let handle = self.handle(header);
        handle.update_existing(|s| {
            change(s);
            s.created_at = s.created_at.wrapping_sub(1);
        });
        handle.finish(None).unwrap().map_or(0, |c| c.len())
    }
}

/// Cycles through the headers.
fn cycle<'a>(headers: &'a [Arc<str>]) -> impl FnMut() -> &'a Arc<str> + 'a {
    let mut i = 0;
    move || {
        i = (i + 1) % headers.len();
        &headers[i]
    }
}

/// Median [quartiles] of (a - b) per call in ns, and of a / b, over
/// alternating batches.
fn paired(mut a: impl FnMut(), mut b: impl FnMut()) -> ([f64; 3], [f64; 3]) {
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
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (ta, tb) = if round % 2 == 0 {
            let ta = time(&mut a);
            (ta, time(&mut b))
        } else {
            let tb = time(&mut b);
            (time(&mut a), tb)
        };
        diffs.push(ta - tb);
        ratios.push(ta / tb);
    }
    let quartiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        [v[ROUNDS / 4], v[ROUNDS / 2], v[ROUNDS * 3 / 4]]
    };
    (quartiles(diffs), quartiles(ratios))
}

fn print_paired(f: &Fixture) {
    println!("paired, typical tier, median of {ROUNDS} rounds [first-third quartile]:");
    let show = |what: &str, ([d1, d2, d3], [r1, r2, r3]): ([f64; 3], [f64; 3])| {
        println!(
            "  {what:<34} {d2:>7.0} ns [{d1:.0} to {d3:.0}]   ratio {r2:.3} [{r1:.3}-{r3:.3}]"
        );
    };
    let (mut x, mut y) = (cycle(&f.headers), cycle(&f.headers));
    show(
        "read: handle - codec",
        paired(
            || {
                black_box(f.read_handle(black_box(x())));
            },
            || {
                black_box(f.read_codec(black_box(y())));
            },
        ),
    );
    let (mut x, mut y) = (cycle(&f.headers), cycle(&f.headers));
    show(
        "update: handle - codec",
        paired(
            || {
                black_box(f.update_handle(black_box(x())));
            },
            || {
                black_box(f.update_codec(black_box(y())));
            },
        ),
    );
    let (mut x, mut y) = (cycle(&f.headers), cycle(&f.headers));
    show(
        "unchanged update: handle - decode",
        paired(
            || {
                black_box(f.unchanged_handle(black_box(x())));
            },
            || {
                black_box(f.read_codec(black_box(y())));
            },
        ),
    );
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    // The handle agrees with the codec before anything is measured.
    let header = &f.headers[0];
    assert_eq!(f.read_handle(header), f.read_codec(header));
    assert_eq!(f.update_handle(header), f.update_codec(header));
    assert_eq!(f.unchanged_handle(header), 0);
    print_paired(&f);

    let mut group = c.benchmark_group("integration");
    let mut next = cycle(&f.headers);
    group.bench_function("read/codec", |b| b.iter(|| f.read_codec(black_box(next()))));
    group.bench_function("read/handle", |b| {
        b.iter(|| f.read_handle(black_box(next())))
    });
    group.bench_function("update/codec", |b| {
        b.iter(|| f.update_codec(black_box(next())))
    });
    group.bench_function("update/handle", |b| {
        b.iter(|| f.update_handle(black_box(next())))
    });
    group.bench_function("unchanged/handle", |b| {
        b.iter(|| f.unchanged_handle(black_box(next())))
    });
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
