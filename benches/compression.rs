//! Which compressor for session bodies: ratio and speed of each candidate on
//! the corpus tiers (tests/data/corpus), measured in one run.
//!
//! `cargo bench --bench compression` prints the median compressed/raw ratio
//! per tier and candidate first, then criterion times `compress` and
//! `decompress` per candidate and tier (one corpus line per iteration,
//! cycling through the tier). Every candidate gets the treatment the crate
//! would give it: contexts are built once and reused where the library allows
//! it, and sizes count what the wire format would store (zstd and lz4 carry
//! the varint length prefix that lets a decoder refuse a bomb before
//! decompressing; deflate and brotli are raw streams).

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress};
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, FrameFormat};

const TIERS: [&str; 3] = ["small", "typical", "large"];

fn corpus(tier: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/data/corpus/sessions-{tier}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(|l| l.as_bytes().to_vec()).collect()
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &[u8]) -> (usize, &[u8]) {
    let mut value = 0usize;
    for (i, &b) in input.iter().enumerate() {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, &input[i + 1..]);
        }
    }
    panic!("truncated varint")
}

/// One candidate with its reusable state.
enum Candidate {
    None,
    Zstd {
        level: i32,
        cctx: CCtx<'static>,
        dctx: DCtx<'static>,
    },
    Deflate {
        level: u32,
        c: Compress,
        d: Decompress,
    },
    Brotli {
        quality: u32,
    },
    Lz4,
}

impl Candidate {
    fn all() -> Vec<Candidate> {
        let mut v = vec![Candidate::None];
        for level in [1, 3, 6] {
            // The crate's settings: magicless frame, no checksum, no content
            // size, no dictionary id (the AEAD tag already covers integrity).
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
            v.push(Candidate::Zstd { level, cctx, dctx });
        }
        for level in [1, 6] {
            v.push(Candidate::Deflate {
                level,
                c: Compress::new(flate2::Compression::new(level), false),
                d: Decompress::new(false),
            });
        }
        v.push(Candidate::Brotli { quality: 5 });
        v.push(Candidate::Lz4);
        v
    }

    fn name(&self) -> String {
        match self {
            Candidate::None => "none".into(),
            Candidate::Zstd { level, .. } => format!("zstd-{level}"),
            Candidate::Deflate { level, .. } => format!("deflate-{level}"),
            Candidate::Brotli { quality } => format!("brotli-{quality}"),
            Candidate::Lz4 => "lz4".into(),
        }
    }

    fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match self {
            Candidate::None => out.extend_from_slice(src),
            Candidate::Zstd { cctx, .. } => {
                put_varint(out, src.len() as u64);
                let body = out.len();
                out.resize(body + zstd_safe::compress_bound(src.len()), 0);
                let n = cctx.compress2(&mut out[body..], src).unwrap();
                out.truncate(body + n);
            }
            Candidate::Deflate { c, .. } => {
                c.reset();
                out.reserve(src.len() + 64);
                let status = c.compress_vec(src, out, FlushCompress::Finish).unwrap();
                assert_eq!(status, flate2::Status::StreamEnd);
            }
            Candidate::Brotli { quality } => {
                // lgwin 16 (64 KiB) covers any session; the brotli crate has no
                // reusable encoder state, so each call builds one.
                let mut w = brotli::CompressorWriter::new(out, 4096, *quality, 16);
                w.write_all(src).unwrap();
                w.flush().unwrap();
            }
            Candidate::Lz4 => {
                put_varint(out, src.len() as u64);
                let body = out.len();
                out.resize(
                    body + lz4_flex::block::get_maximum_output_size(src.len()),
                    0,
                );
                let n = lz4_flex::block::compress_into(src, &mut out[body..]).unwrap();
                out.truncate(body + n);
            }
        }
    }

    fn decompress(&mut self, src: &[u8], raw_len: usize) -> Vec<u8> {
        match self {
            Candidate::None => src.to_vec(),
            Candidate::Zstd { dctx, .. } => {
                let (len, frame) = take_varint(src);
                let mut out = Vec::with_capacity(len);
                dctx.decompress(&mut out, frame).unwrap();
                out
            }
            Candidate::Deflate { d, .. } => {
                d.reset(false);
                let mut out = Vec::with_capacity(raw_len);
                d.decompress_vec(src, &mut out, FlushDecompress::Finish)
                    .unwrap();
                out
            }
            Candidate::Brotli { .. } => {
                let mut out = Vec::with_capacity(raw_len);
                brotli::Decompressor::new(src, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Candidate::Lz4 => {
                let (len, block) = take_varint(src);
                let mut out = vec![0; len];
                let n = lz4_flex::block::decompress_into(block, &mut out).unwrap();
                out.truncate(n);
                out
            }
        }
    }
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

/// Prints the size table and checks every candidate round-trips every line.
fn ratios() {
    println!("compressed/raw size per corpus line (median, p90), tests/data/corpus:");
    println!(
        "{:<10} {:>8} {:>16} {:>16} {:>16}",
        "candidate", "", "small", "typical", "large"
    );
    let tiers: Vec<Vec<Vec<u8>>> = TIERS.iter().map(|t| corpus(t)).collect();
    let raw: Vec<f64> = tiers
        .iter()
        .map(|lines| median(lines.iter().map(|l| l.len() as f64).collect()))
        .collect();
    println!(
        "{:<10} {:>8} {:>16} {:>16} {:>16}",
        "raw bytes", "median", raw[0], raw[1], raw[2]
    );
    for mut c in Candidate::all() {
        let mut cells = Vec::new();
        for lines in &tiers {
            let mut out = Vec::new();
            let mut r = Vec::new();
            for line in lines {
                c.compress(line, &mut out);
                assert_eq!(&c.decompress(&out, line.len()), line, "{}", c.name());
                r.push(out.len() as f64 / line.len() as f64);
            }
            r.sort_by(f64::total_cmp);
            let p90 = r[r.len() * 9 / 10];
            cells.push(format!("{:.3} / {:.3}", median(r), p90));
        }
        println!(
            "{:<10} {:>8} {:>16} {:>16} {:>16}",
            c.name(),
            "",
            cells[0],
            cells[1],
            cells[2]
        );
    }
}

fn bench(c: &mut Criterion) {
    ratios();
    let tiers: Vec<(&str, Vec<Vec<u8>>)> = TIERS.iter().map(|t| (*t, corpus(t))).collect();

    let mut group = c.benchmark_group("compress");
    for mut cand in Candidate::all() {
        for (tier, lines) in &tiers {
            let mut out = Vec::with_capacity(8192);
            let mut i = 0;
            group.bench_function(BenchmarkId::new(cand.name(), tier), |b| {
                b.iter(|| {
                    let line = &lines[i % lines.len()];
                    i += 1;
                    cand.compress(black_box(line), &mut out);
                    black_box(out.len())
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("decompress");
    for mut cand in Candidate::all() {
        for (tier, lines) in &tiers {
            let packed: Vec<(Vec<u8>, usize)> = lines
                .iter()
                .map(|l| {
                    let mut out = Vec::new();
                    cand.compress(l, &mut out);
                    (out, l.len())
                })
                .collect();
            let mut i = 0;
            group.bench_function(BenchmarkId::new(cand.name(), tier), |b| {
                b.iter(|| {
                    let (packed, raw_len) = &packed[i % packed.len()];
                    i += 1;
                    cand.decompress(black_box(packed), *raw_len)
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: 2 shared cores, 48 measurements; medians settle well
    // within this.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
