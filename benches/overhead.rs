//! Per-request cost of the crate against the floor (`parts`: the unavoidable
//! steps called directly) and against what a user would build from the
//! `cookie` crate (`naive`), measured in one run.
//!
//! `cargo bench --bench overhead` runs two groups, `encode` and `decode`,
//! each with the functions `sealed-session`, `parts`, `naive` and `dynamic`,
//! plus `json-only` (serde_json alone on the typed session: the share of
//! every path that no cookie code can remove), parameterised by corpus tier; results land in
//! `target/criterion/<group>/<function>/<tier>/`. Every iteration takes the
//! next line of the tier (tests/data/corpus), so compression and the JSON
//! work see real, varied sessions rather than one repeated line.
//!
//! Before measuring, the bench checks that the typed session re-serializes
//! every corpus line byte for byte, that `parts` writes values the crate
//! opens, and prints the median sealed value size against the raw JSON and
//! the paired ratios (see `paired`) that the targets are judged on when the
//! machine is shared.

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, CookieJar, SameSite};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::RngCore as _;
use sealed_session::{Codec, Compression, DynamicSession, Key, KeyRing};
use serde::de::DeserializeOwned;
use serde::Serialize;
use xaes_256_gcm::aead::{AeadInOut, KeyInit};
use xaes_256_gcm::Xaes256Gcm;
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, FrameFormat};

/// The floor compresses at the crate's default level, so both do the same
/// compression work.
const DEFAULT_LEVEL: i32 = match Compression::DEFAULT {
    Compression::Zstd { level } => level,
    _ => 1,
};

const NAME: &str = "session";
const KEY: [u8; 32] = [0x42; 32];
const MAX_AGE: u64 = 24 * 60 * 60;
const TIERS: [&str; 3] = ["small", "typical", "large"];

#[path = "../tests/common/corpus_session.rs"]
mod corpus_session;
use corpus_session::Session;

fn corpus(tier: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/data/corpus/sessions-{tier}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(str::to_owned).collect()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The crate's full path: typed session to the response's Set-Cookie header
/// value, request Cookie header to typed session.
mod full {
    use super::*;
    use sealed_session::SetCookies;

    pub fn encode<T: Serialize>(codec: &Codec, session: &T) -> SetCookies {
        codec.encode(session).unwrap()
    }

    /// The sealed value inside the (single) Set-Cookie header.
    pub fn value_of(cookies: &SetCookies) -> String {
        let header = cookies.iter().next().unwrap();
        let pair = header.split(';').next().unwrap();
        pair.strip_prefix(NAME)
            .unwrap()
            .strip_prefix('=')
            .unwrap()
            .to_owned()
    }

    /// The request's Cookie header carrying `value` after another cookie.
    pub fn request_header(value: &str) -> String {
        format!("theme=dark; {NAME}={value}")
    }

    pub fn decode<T: DeserializeOwned>(codec: &Codec, header: &str) -> T {
        codec.decode::<T>(header).unwrap().session
    }
}

/// The floor: serde_json, zstd with reused contexts, XAES-256-GCM with a
/// prebuilt cipher, base64url, in sequence, writing the crate's wire format
/// (so the crate can open what this writes, checked in `main`).
struct Parts {
    cipher: Xaes256Gcm,
    key_id: [u8; 4],
    aad: Vec<u8>,
    cctx: CCtx<'static>,
    dctx: DCtx<'static>,
}

impl Parts {
    fn new() -> Parts {
        let key_id = *Key::from_bytes(KEY).id().as_bytes();
        let mut aad = vec![0x01];
        aad.extend_from_slice(&key_id);
        aad.extend_from_slice(NAME.as_bytes());
        let mut cctx = CCtx::create();
        for p in [
            CParameter::Format(FrameFormat::Magicless),
            CParameter::ContentSizeFlag(false),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
            CParameter::CompressionLevel(DEFAULT_LEVEL),
        ] {
            cctx.set_parameter(p).unwrap();
        }
        let mut dctx = DCtx::create();
        dctx.set_parameter(DParameter::Format(FrameFormat::Magicless))
            .unwrap();
        Parts {
            cipher: Xaes256Gcm::new(&KEY.into()),
            key_id,
            aad,
            cctx,
            dctx,
        }
    }

    fn encode<T: Serialize>(&mut self, session: &T) -> String {
        let json = serde_json::to_vec(session).unwrap();
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut buf = Vec::with_capacity(29 + 21 + json.len() + 16 + 64);
        buf.push(0x01);
        buf.extend_from_slice(&self.key_id);
        buf.extend_from_slice(&nonce);
        buf.push(0);
        put_varint(&mut buf, now_unix());
        put_varint(&mut buf, MAX_AGE);
        let start = buf.len();
        let mut compressed = false;
        if json.len() >= 64 {
            put_varint(&mut buf, json.len() as u64);
            let body = buf.len();
            buf.resize(body + zstd_safe::compress_bound(json.len()), 0);
            let n = self.cctx.compress2(&mut buf[body..], &json).unwrap();
            compressed = body - start + n < json.len();
            buf.truncate(if compressed { body + n } else { start });
        }
        if compressed {
            buf[29] = 1;
        } else {
            buf.extend_from_slice(&json);
        }
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce.into(), &self.aad, (&mut buf[29..]).into())
            .unwrap();
        buf.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(&buf)
    }

    fn decode<T: DeserializeOwned>(&mut self, value: &str) -> T {
        let mut raw = URL_SAFE_NO_PAD.decode(value).unwrap();
        assert_eq!(raw[0], 0x01);
        assert_eq!(raw[1..5], self.key_id);
        let (header, rest) = raw.split_at_mut(29);
        let (plaintext, tag) = rest.split_at_mut(rest.len() - 16);
        let nonce: [u8; 24] = header[5..].try_into().unwrap();
        let tag: [u8; 16] = (&*tag).try_into().unwrap();
        self.cipher
            .decrypt_inout_detached(&nonce.into(), &self.aad, plaintext.into(), &tag.into())
            .unwrap();
        let flags = plaintext[0];
        let (issued_at, rest) = take_varint(&plaintext[1..]);
        let (max_age, body) = take_varint(rest);
        assert!(issued_at + max_age > now_unix());
        if flags == 1 {
            let (len, frame) = take_varint(body);
            let mut json = Vec::with_capacity(len as usize);
            self.dctx.decompress(&mut json, frame).unwrap();
            serde_json::from_slice(&json).unwrap()
        } else {
            serde_json::from_slice(body).unwrap()
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &[u8]) -> (u64, &[u8]) {
    let mut value = 0u64;
    for (i, &b) in input.iter().enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, &input[i + 1..]);
        }
    }
    panic!("truncated varint")
}

/// What a user would write with the `cookie` crate's PrivateJar (AES-256-GCM,
/// key schedule built per call), serde_json and deflate.
mod naive {
    use super::*;
    use flate2::read::DeflateDecoder;
    use flate2::write::DeflateEncoder;

    pub fn encode<T: Serialize>(key: &cookie::Key, session: &T) -> String {
        let json = serde_json::to_vec(session).unwrap();
        let mut deflate = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(&json).unwrap();
        let value = URL_SAFE_NO_PAD.encode(deflate.finish().unwrap());
        let mut jar = CookieJar::new();
        jar.private_mut(key).add(
            Cookie::build((NAME, value))
                .path("/")
                .secure(true)
                .http_only(true)
                .same_site(SameSite::Lax)
                .max_age(cookie::time::Duration::seconds(MAX_AGE as i64)),
        );
        let set_cookie = jar.delta().next().unwrap().to_string();
        set_cookie
    }

    pub fn decode<T: DeserializeOwned>(key: &cookie::Key, header: &str) -> T {
        let mut jar = CookieJar::new();
        for cookie in Cookie::split_parse(header).flatten() {
            jar.add_original(cookie.into_owned());
        }
        let cookie = jar.private(key).get(NAME).unwrap();
        let compressed = URL_SAFE_NO_PAD.decode(cookie.value()).unwrap();
        let mut json = Vec::new();
        DeflateDecoder::new(&compressed[..])
            .read_to_end(&mut json)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    /// The encrypted value out of a Set-Cookie header.
    pub fn value_of(set_cookie: &str) -> String {
        Cookie::parse(set_cookie).unwrap().value().to_owned()
    }

    pub fn request_header(value: &str) -> String {
        format!("theme=dark; {NAME}={value}")
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

struct Tier {
    name: &'static str,
    typed: Vec<Session>,
    dynamic: Vec<DynamicSession>,
    /// Request headers for the crate's decode, typed and dynamic.
    sealed: Vec<String>,
    sealed_dynamic: Vec<String>,
    parts: Vec<String>,
    naive: Vec<String>,
    /// The raw JSON lines, for `json-only`.
    json: Vec<Vec<u8>>,
}

fn prepare(codec: &Codec, parts: &mut Parts, naive_key: &cookie::Key) -> Vec<Tier> {
    println!("sealed value size / raw JSON size, median over tests/data/corpus:");
    TIERS
        .iter()
        .map(|&name| {
            let lines = corpus(name);
            let typed: Vec<Session> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            for (line, s) in lines.iter().zip(&typed) {
                assert_eq!(&serde_json::to_string(s).unwrap(), line, "typed mirror");
            }
            let dynamic: Vec<DynamicSession> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let values: Vec<String> = typed
                .iter()
                .map(|s| full::value_of(&full::encode(codec, s)))
                .collect();
            let parts_values: Vec<String> = typed.iter().map(|s| parts.encode(s)).collect();
            for v in &parts_values {
                // Same format, so the floor does the same work as the crate.
                full::decode::<Session>(codec, &full::request_header(v));
            }
            let naive_values: Vec<String> = typed
                .iter()
                .map(|s| naive::value_of(&naive::encode(naive_key, s)))
                .collect();
            let ratio = |vs: &[String]| {
                median(
                    vs.iter()
                        .zip(&lines)
                        .map(|(v, l)| v.len() as f64 / l.len() as f64)
                        .collect(),
                )
            };
            println!(
                "  {name:<8} raw {:>6.0} B  sealed-session {:.3}x  naive {:.3}x",
                median(lines.iter().map(|l| l.len() as f64).collect()),
                ratio(&values),
                ratio(&naive_values),
            );
            Tier {
                name,
                sealed: values.iter().map(|v| full::request_header(v)).collect(),
                sealed_dynamic: dynamic
                    .iter()
                    .map(|s| full::request_header(&full::value_of(&full::encode(codec, s))))
                    .collect(),
                parts: parts_values,
                naive: naive_values
                    .iter()
                    .map(|v| naive::request_header(v))
                    .collect(),
                json: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
                typed,
                dynamic,
            }
        })
        .collect()
}

/// Cycles through `items`, one per call.
fn cycle<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T + 'a {
    let mut i = 0;
    move || {
        let item = &items[i % items.len()];
        i += 1;
        item
    }
}

/// Back-to-back rounds for `paired`.
const ROUNDS: usize = 200;

/// The ratio time(a) / time(b), robust to a machine whose load changes from
/// second to second: `a` and `b` run in batches of about a millisecond, back
/// to back, in alternating order, and the result is the quartiles of the
/// per-round ratios. Independent criterion runs of `a` and `b` seconds apart
/// can differ by more than the ratios to be judged when other jobs share
/// the cores.
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
        t.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let ta = time(&mut a);
                ta / time(&mut b)
            } else {
                let tb = time(&mut b);
                time(&mut a) / tb
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    [
        ratios[ROUNDS / 4],
        ratios[ROUNDS / 2],
        ratios[ROUNDS * 3 / 4],
    ]
}

fn print_paired(codec: &Codec, parts: &mut Parts, naive_key: &cookie::Key, tiers: &[Tier]) {
    println!("paired ratios, median of {ROUNDS} back-to-back rounds [first-third quartile]:");
    let show = |what: &str, tier: &str, [q1, q2, q3]: [f64; 3]| {
        println!("  {what:<40} {tier:<8} {q2:.2} [{q1:.2}-{q3:.2}]");
    };
    for t in tiers {
        let (mut x, mut y) = (cycle(&t.typed), cycle(&t.typed));
        let r = paired(
            || drop(black_box(full::encode(codec, black_box(x())))),
            || drop(black_box(parts.encode(black_box(y())))),
        );
        show("encode sealed-session / parts", t.name, r);
        let (mut x, mut y) = (cycle(&t.typed), cycle(&t.typed));
        let r = paired(
            || drop(black_box(naive::encode(naive_key, black_box(x())))),
            || drop(black_box(full::encode(codec, black_box(y())))),
        );
        show("encode naive / sealed-session", t.name, r);
        let (mut x, mut y) = (cycle(&t.sealed), cycle(&t.parts));
        let r = paired(
            || drop(black_box(full::decode::<Session>(codec, black_box(x())))),
            || drop(black_box(parts.decode::<Session>(black_box(y())))),
        );
        show("decode sealed-session / parts", t.name, r);
        let (mut x, mut y) = (cycle(&t.naive), cycle(&t.sealed));
        let r = paired(
            || {
                drop(black_box(naive::decode::<Session>(
                    naive_key,
                    black_box(x()),
                )))
            },
            || drop(black_box(full::decode::<Session>(codec, black_box(y())))),
        );
        show("decode naive / sealed-session", t.name, r);
        // The floor against naive: no code above the floor can do better.
        let (mut x, mut y) = (cycle(&t.typed), cycle(&t.typed));
        let r = paired(
            || drop(black_box(naive::encode(naive_key, black_box(x())))),
            || drop(black_box(parts.encode(black_box(y())))),
        );
        show("encode naive / parts", t.name, r);
        let (mut x, mut y) = (cycle(&t.naive), cycle(&t.parts));
        let r = paired(
            || {
                drop(black_box(naive::decode::<Session>(
                    naive_key,
                    black_box(x()),
                )))
            },
            || drop(black_box(parts.decode::<Session>(black_box(y())))),
        );
        show("decode naive / parts", t.name, r);
    }
}

fn bench(c: &mut Criterion) {
    let codec = Codec::builder(NAME)
        .key_ring(KeyRing::from_keys([Key::from_bytes(KEY)]).unwrap())
        .build()
        .unwrap();
    let mut parts = Parts::new();
    let naive_key = cookie::Key::from(&[0x42; 64]);
    let tiers = prepare(&codec, &mut parts, &naive_key);
    print_paired(&codec, &mut parts, &naive_key, &tiers);

    let mut group = c.benchmark_group("encode");
    for t in &tiers {
        let mut next = cycle(&t.typed);
        group.bench_function(BenchmarkId::new("sealed-session", t.name), |b| {
            b.iter(|| full::encode(&codec, black_box(next())))
        });
        let mut next = cycle(&t.typed);
        group.bench_function(BenchmarkId::new("parts", t.name), |b| {
            b.iter(|| parts.encode(black_box(next())))
        });
        let mut next = cycle(&t.typed);
        group.bench_function(BenchmarkId::new("naive", t.name), |b| {
            b.iter(|| naive::encode(&naive_key, black_box(next())))
        });
        let mut next = cycle(&t.dynamic);
        group.bench_function(BenchmarkId::new("dynamic", t.name), |b| {
            b.iter(|| full::encode(&codec, black_box(next())))
        });
        let mut next = cycle(&t.typed);
        group.bench_function(BenchmarkId::new("json-only", t.name), |b| {
            b.iter(|| serde_json::to_vec(black_box(next())).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decode");
    for t in &tiers {
        let mut next = cycle(&t.sealed);
        group.bench_function(BenchmarkId::new("sealed-session", t.name), |b| {
            b.iter(|| full::decode::<Session>(&codec, black_box(next())))
        });
        let mut next = cycle(&t.parts);
        group.bench_function(BenchmarkId::new("parts", t.name), |b| {
            b.iter(|| parts.decode::<Session>(black_box(next())))
        });
        let mut next = cycle(&t.naive);
        group.bench_function(BenchmarkId::new("naive", t.name), |b| {
            b.iter(|| naive::decode::<Session>(&naive_key, black_box(next())))
        });
        let mut next = cycle(&t.sealed_dynamic);
        group.bench_function(BenchmarkId::new("dynamic", t.name), |b| {
            b.iter(|| full::decode::<DynamicSession>(&codec, black_box(next())))
        });
        let mut next = cycle(&t.json);
        group.bench_function(BenchmarkId::new("json-only", t.name), |b| {
            b.iter(|| serde_json::from_slice::<Session>(black_box(next())).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs so the whole bench takes about two minutes on 2 shared
    // cores; medians of 30 samples are stable to a few percent here.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
