//! Heap allocations of encode and decode per corpus tier, beyond the ones
//! serde_json itself makes for the same session.
//!
//! A counting global allocator wraps the system allocator and counts, per
//! thread, every `alloc`, `alloc_zeroed` and `realloc` (a realloc may move
//! the block, so it costs like an allocation). Per-thread counters keep the
//! tests of this file, which libtest runs in parallel, out of each other's
//! counts. zstd allocates through C's malloc, which this allocator does not
//! see; its contexts are built once per thread and reused, so after the
//! warm-up call it does not allocate per value.
//!
//! `cargo test --test allocations -- --nocapture` prints the table.
//!
//! The `unsafe impl GlobalAlloc` below is the only way to install an
//! allocator; the library itself stays `#![forbid(unsafe_code)]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sealed_session::{Codec, DynamicSession, Key, KeyRing, SetCookies};
use serde::de::DeserializeOwned;
use serde::Serialize;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the allocator can run while the thread's locals are being
    // torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches only a const-initialised
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread; its result is dropped afterwards,
/// outside the count.
fn allocations<R>(f: impl FnOnce() -> R) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    let after = ALLOCATIONS.with(Cell::get);
    drop(result);
    after - before
}

mod common {
    pub mod corpus_session;
}
use common::corpus_session::Session;

const NAME: &str = "session";

/// The decode target: allocations per decode beyond serde_json's own.
const MAX_EXTRA_PER_DECODE: u64 = 2;

fn corpus(tier: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/data/corpus/sessions-{tier}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(str::to_owned).collect()
}

fn codec() -> Codec {
    Codec::builder(NAME)
        .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap())
        .build()
        .unwrap()
}

/// The crate's full path: session to response header, request header to
/// session.
mod full {
    use super::*;

    pub fn encode<T: Serialize>(codec: &Codec, session: &T) -> SetCookies {
        codec.encode(session).unwrap()
    }

    /// The request's Cookie header carrying the cookie that `encoded` set.
    pub fn request_header(encoded: &SetCookies) -> String {
        let header = encoded.iter().next().unwrap();
        let pair = header.split(';').next().unwrap();
        format!("theme=dark; {pair}")
    }

    pub fn decode<T: DeserializeOwned>(codec: &Codec, header: &str) -> T {
        codec.decode::<T>(header).unwrap().session
    }
}

/// Extra allocations of encode and decode per line, beyond serde_json.
struct Extra {
    encode: Vec<i64>,
    decode: Vec<i64>,
}

fn measure<T: Serialize + DeserializeOwned>(tier: &str) -> Extra {
    let codec = codec();
    let lines = corpus(tier);
    let sessions: Vec<T> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Warm-up: the thread's RNG and zstd contexts are created on first use.
    for s in sessions.iter().take(3) {
        let header = full::request_header(&full::encode(&codec, s));
        full::decode::<T>(&codec, &header);
    }
    let mut extra = Extra {
        encode: Vec::new(),
        decode: Vec::new(),
    };
    for (line, s) in lines.iter().zip(&sessions) {
        let serde_encode = allocations(|| serde_json::to_vec(s).unwrap());
        let crate_encode = allocations(|| full::encode(&codec, s));
        let header = full::request_header(&full::encode(&codec, s));
        let serde_decode = allocations(|| serde_json::from_slice::<T>(line.as_bytes()).unwrap());
        let crate_decode = allocations(|| full::decode::<T>(&codec, &header));
        extra.encode.push(crate_encode as i64 - serde_encode as i64);
        extra.decode.push(crate_decode as i64 - serde_decode as i64);
    }
    extra
}

fn median(xs: &[i64]) -> i64 {
    let mut xs = xs.to_vec();
    xs.sort_unstable();
    xs[xs.len() / 2]
}

fn report(tier: &str, kind: &str, extra: &Extra) {
    let max = |xs: &[i64]| xs.iter().copied().max().unwrap_or(0);
    let min = |xs: &[i64]| xs.iter().copied().min().unwrap_or(0);
    println!(
        "{tier:<8} {kind:<8} extra allocations per encode: median {} (min {}, max {}); \
         per decode: median {} (min {}, max {})",
        median(&extra.encode),
        min(&extra.encode),
        max(&extra.encode),
        median(&extra.decode),
        min(&extra.decode),
        max(&extra.decode),
    );
}

fn assert_decode_target(tier: &str, kind: &str, extra: &Extra) {
    report(tier, kind, extra);
    let worst = extra.decode.iter().copied().max().unwrap_or(0);
    assert!(
        worst <= MAX_EXTRA_PER_DECODE as i64,
        "{tier}/{kind}: a decode made {worst} allocations beyond serde_json's own, \
         the target is at most {MAX_EXTRA_PER_DECODE}"
    );
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(allocations(|| Box::new(7u64)), 1);
    assert_eq!(allocations(|| 7u64), 0);
    assert_eq!(
        allocations(|| {
            let mut v = Vec::with_capacity(1);
            v.extend_from_slice(&[1u8, 2, 3, 4, 5]);
            v
        }),
        2,
        "allocation plus a growing realloc"
    );
}

#[test]
fn decode_small_typed() {
    assert_decode_target("small", "typed", &measure::<Session>("small"));
}

#[test]
fn decode_typical_typed() {
    assert_decode_target("typical", "typed", &measure::<Session>("typical"));
}

#[test]
fn decode_large_typed() {
    assert_decode_target("large", "typed", &measure::<Session>("large"));
}

#[test]
fn decode_typical_dynamic() {
    assert_decode_target("typical", "dynamic", &measure::<DynamicSession>("typical"));
}

#[test]
fn decode_large_dynamic() {
    assert_decode_target("large", "dynamic", &measure::<DynamicSession>("large"));
}
