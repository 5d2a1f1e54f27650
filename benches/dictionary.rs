//! Trained compression dictionaries: size and speed with and without one, per
//! corpus tier, trained on one part of the corpus and measured on another.
//!
//! `cargo bench --features dict-train --bench dictionary` trains a 16 KiB
//! dictionary on the first half of every tier (small, typical and large
//! together, as one application's sessions would be), then works on the
//! second halves only: it prints the median sealed value size against the raw
//! JSON with and without the dictionary (and, for comparison, with a
//! dictionary trained on the tier alone), checks that every held-out line
//! round-trips, and times `seal` and `open` per tier in the groups
//! `dictionary-encode` and `dictionary-decode`, functions `plain` and
//! `dict`. Results land in `target/criterion/dictionary-*/<function>/<tier>/`.
//! The groups `dictionary-zstd-compress` and `dictionary-zstd-decompress`
//! time zstd alone with the crate's frame settings, so the cost of the codec
//! trying both (dictionary, then plain zstd, keeping the smaller) shows
//! against the cost of the dictionary itself.
//!
//! On a shared machine the load changes between criterion's sequential
//! benchmarks, so the bench first prints a paired measurement: `plain` and
//! `dict` timed in alternating batches, the median per batch of each and
//! their ratio, which the load affects alike.
//!
//! Sessions are `DynamicSession` maps, and the dictionary is trained on their
//! serialization, the bytes the codec compresses: an application trains on
//! what its own serializer writes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sealed_session::{Codec, Dictionary, DynamicSession, Key, KeyRing};
use zstd::zstd_safe::{self, CCtx, CDict, CParameter, DCtx, DDict, DParameter, FrameFormat};

const TIERS: [&str; 3] = ["small", "typical", "large"];
const DICTIONARY_SIZE: usize = 16 * 1024;
/// The level the crate compresses plain (dictionary-less) bodies at: its
/// default.
const PLAIN_LEVEL: i32 = match sealed_session::Compression::DEFAULT {
    sealed_session::Compression::Zstd { level } => level,
    _ => 1,
};
/// The level the crate prepares every dictionary at (src/core/dictionary.rs).
const DICTIONARY_LEVEL: i32 = 3;

/// One tier's held-out half: the sessions and their serialized JSON.
struct Tier {
    name: &'static str,
    sessions: Vec<DynamicSession>,
    json: Vec<Vec<u8>>,
}

/// A tier split into its training half (serialized JSON) and held-out half.
fn split(name: &'static str) -> (Vec<Vec<u8>>, Tier) {
    let path = format!(
        "{}/tests/data/corpus/sessions-{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let sessions: Vec<DynamicSession> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let json: Vec<Vec<u8>> = sessions
        .iter()
        .map(|s| serde_json::to_vec(s).unwrap())
        .collect();
    let half = sessions.len() / 2;
    let training = json[..half].to_vec();
    let held_out = Tier {
        name,
        sessions: sessions[half..].to_vec(),
        json: json[half..].to_vec(),
    };
    (training, held_out)
}

fn codec(dictionary: Option<&[u8]>) -> Codec {
    let ring = KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap();
    let builder = Codec::builder("session").key_ring(ring);
    match dictionary {
        Some(bytes) => builder.dictionaries([Dictionary::from_bytes(bytes).unwrap()]),
        None => builder,
    }
    .build()
    .unwrap()
}

/// zstd alone, with the crate's frame settings (magicless, no checksum, no
/// content size, no dictionary id), optionally against a dictionary.
struct Zstd {
    cctx: CCtx<'static>,
    dctx: DCtx<'static>,
}

impl Zstd {
    fn new(dictionary: Option<&[u8]>) -> Zstd {
        // Each side at the level the codec uses for it.
        let level = if dictionary.is_some() {
            DICTIONARY_LEVEL
        } else {
            PLAIN_LEVEL
        };
        let mut cctx = CCtx::create();
        for p in [
            CParameter::Format(FrameFormat::Magicless),
            CParameter::ContentSizeFlag(false),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
            CParameter::CompressionLevel(level),
        ] {
            cctx.set_parameter(p).unwrap();
        }
        let mut dctx = DCtx::create();
        dctx.set_parameter(DParameter::Format(FrameFormat::Magicless))
            .unwrap();
        if let Some(bytes) = dictionary {
            // Leaked once per run: the contexts keep referring to them.
            let cdict: &'static CDict<'static> = Box::leak(Box::new(CDict::create(bytes, level)));
            let ddict: &'static DDict<'static> = Box::leak(Box::new(DDict::create(bytes)));
            cctx.ref_cdict(cdict).unwrap();
            dctx.ref_ddict(ddict).unwrap();
        }
        Zstd { cctx, dctx }
    }

    fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.resize(zstd_safe::compress_bound(src.len()), 0);
        let n = self.cctx.compress2(&mut out[..], src).unwrap();
        out.truncate(n);
    }

    fn decompress(&mut self, src: &[u8], raw_len: usize, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(raw_len);
        self.dctx.decompress(out, src).unwrap();
    }
}

/// Median nanoseconds per call of `a` and `b`, timed in alternating batches
/// of `batch` calls, `rounds` times each.
fn interleaved(
    rounds: usize,
    batch: usize,
    mut a: impl FnMut(usize),
    mut b: impl FnMut(usize),
) -> (f64, f64) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let mut i = 0;
    for _ in 0..rounds {
        for (f, times) in [
            (&mut a as &mut dyn FnMut(usize), &mut ta),
            (&mut b as &mut dyn FnMut(usize), &mut tb),
        ] {
            let start = Instant::now();
            for k in 0..batch {
                f(i + k);
            }
            times.push(start.elapsed().as_nanos() as f64 / batch as f64);
        }
        i += batch;
    }
    (median(ta), median(tb))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Seals every held-out line, checks it opens to the same session, and
/// returns the sealed values and the median sealed/raw ratio and size.
fn measure(codec: &Codec, tier: &Tier) -> (Vec<String>, f64, f64) {
    let mut values = Vec::new();
    let mut ratios = Vec::new();
    for (session, json) in tier.sessions.iter().zip(&tier.json) {
        let value = codec.seal(session).unwrap();
        let opened = codec.open::<DynamicSession>(&value).unwrap();
        assert_eq!(&opened.session, session, "tier {}", tier.name);
        ratios.push(value.len() as f64 / json.len() as f64);
        values.push(value);
    }
    let sizes = median(values.iter().map(|v| v.len() as f64).collect());
    (values, median(ratios), sizes)
}

fn bench(c: &mut Criterion) {
    let mut training = Vec::new();
    let mut tiers = Vec::new();
    let mut own = Vec::new();
    for name in TIERS {
        let (samples, held_out) = split(name);
        own.push(Dictionary::train(&samples, DICTIONARY_SIZE).unwrap());
        training.extend(samples);
        tiers.push(held_out);
    }
    let shared = Dictionary::train(&training, DICTIONARY_SIZE).unwrap();
    let plain = codec(None);
    let with = codec(Some(&shared));
    println!(
        "dictionary {} ({} bytes) trained on {} sessions (first half of each tier)",
        Dictionary::from_bytes(&shared).unwrap().id(),
        shared.len(),
        training.len()
    );
    println!("sealed value / raw JSON, median over the second half of each tier:");
    println!(
        "{:<8} {:>9} {:>10} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "tier",
        "sessions",
        "raw bytes",
        "plain",
        "dict",
        "dict (tier)",
        "plain bytes",
        "dict bytes"
    );
    let mut values = Vec::new();
    for (tier, own) in tiers.iter().zip(&own) {
        let (plain_values, plain_ratio, plain_bytes) = measure(&plain, tier);
        let (dict_values, dict_ratio, dict_bytes) = measure(&with, tier);
        let (_, own_ratio, _) = measure(&codec(Some(own)), tier);
        for (p, d) in plain_values.iter().zip(&dict_values) {
            assert!(d.len() <= p.len(), "the fallback bounds the size");
        }
        println!(
            "{:<8} {:>9} {:>10} {:>10.3} {:>10.3} {:>12.3} {:>12} {:>10}",
            tier.name,
            tier.sessions.len(),
            median(tier.json.iter().map(|j| j.len() as f64).collect()),
            plain_ratio,
            dict_ratio,
            own_ratio,
            plain_bytes,
            dict_bytes
        );
        values.push((plain_values, dict_values));
    }

    println!("paired timing, median ns per call (alternating batches of 20, 300 rounds):");
    for (tier, (plain_values, dict_values)) in tiers.iter().zip(&values) {
        let n = tier.sessions.len();
        let (p, d) = interleaved(
            300,
            20,
            |i| {
                black_box(plain.seal(&tier.sessions[i % n]).unwrap());
            },
            |i| {
                black_box(with.seal(&tier.sessions[i % n]).unwrap());
            },
        );
        println!(
            "{:<8} encode plain {p:>9.0}  dict {d:>9.0}  dict/plain {:.2}",
            tier.name,
            d / p
        );
        let (p, d) = interleaved(
            300,
            20,
            |i| {
                black_box(plain.open::<DynamicSession>(&plain_values[i % n]).unwrap());
            },
            |i| {
                black_box(with.open::<DynamicSession>(&dict_values[i % n]).unwrap());
            },
        );
        println!(
            "{:<8} decode plain {p:>9.0}  dict {d:>9.0}  dict/plain {:.2}",
            tier.name,
            d / p
        );
    }

    let mut group = c.benchmark_group("dictionary-encode");
    for (function, codec) in [("plain", &plain), ("dict", &with)] {
        for tier in &tiers {
            let mut i = 0;
            group.bench_function(BenchmarkId::new(function, tier.name), |b| {
                b.iter(|| {
                    let session = &tier.sessions[i % tier.sessions.len()];
                    i += 1;
                    codec.seal(black_box(session)).unwrap()
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("dictionary-decode");
    for (index, (function, codec)) in [("plain", &plain), ("dict", &with)].into_iter().enumerate() {
        for (tier, (plain_values, dict_values)) in tiers.iter().zip(&values) {
            let sealed = if index == 0 {
                plain_values
            } else {
                dict_values
            };
            let mut i = 0;
            group.bench_function(BenchmarkId::new(function, tier.name), |b| {
                b.iter(|| {
                    let value = &sealed[i % sealed.len()];
                    i += 1;
                    codec
                        .open::<DynamicSession>(black_box(value))
                        .unwrap()
                        .session
                })
            });
        }
    }
    group.finish();

    let mut zstd = [
        ("plain", Zstd::new(None)),
        ("dict", Zstd::new(Some(&shared))),
    ];
    let mut out = Vec::with_capacity(64 * 1024);
    println!(
        "zstd alone (plain at level {PLAIN_LEVEL}, dictionary at level {DICTIONARY_LEVEL}), compressed / raw JSON, median over the same halves:"
    );
    for tier in &tiers {
        let mut cells = Vec::new();
        for (function, z) in &mut zstd {
            let ratios = tier
                .json
                .iter()
                .map(|j| {
                    z.compress(j, &mut out);
                    out.len() as f64 / j.len() as f64
                })
                .collect();
            cells.push(format!("{function} {:.3}", median(ratios)));
        }
        println!("{:<8} {}", tier.name, cells.join("  "));
    }
    {
        let [(_, zp), (_, zd)] = &mut zstd;
        let (mut op, mut od) = (Vec::with_capacity(64 * 1024), Vec::with_capacity(64 * 1024));
        for tier in &tiers {
            let n = tier.json.len();
            let (p, d) = interleaved(
                300,
                20,
                |i| zp.compress(&tier.json[i % n], &mut op),
                |i| zd.compress(&tier.json[i % n], &mut od),
            );
            println!(
                "{:<8} zstd compress plain {p:>9.0}  dict {d:>9.0}  dict/plain {:.2}",
                tier.name,
                d / p
            );
        }
    }
    let mut group = c.benchmark_group("dictionary-zstd-compress");
    for (function, z) in &mut zstd {
        for tier in &tiers {
            let mut i = 0;
            group.bench_function(BenchmarkId::new(*function, tier.name), |b| {
                b.iter(|| {
                    let json = &tier.json[i % tier.json.len()];
                    i += 1;
                    z.compress(black_box(json), &mut out);
                    out.len()
                })
            });
        }
    }
    group.finish();
    let mut group = c.benchmark_group("dictionary-zstd-decompress");
    for (function, z) in &mut zstd {
        for tier in &tiers {
            let frames: Vec<(Vec<u8>, usize)> = tier
                .json
                .iter()
                .map(|j| {
                    z.compress(j, &mut out);
                    (out.clone(), j.len())
                })
                .collect();
            let mut i = 0;
            group.bench_function(BenchmarkId::new(*function, tier.name), |b| {
                b.iter(|| {
                    let (frame, raw_len) = &frames[i % frames.len()];
                    i += 1;
                    z.decompress(black_box(frame), *raw_len, &mut out);
                    out.len()
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: 2 shared cores; 24 benchmarks in about a minute.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2000))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
