//! Nothing secret is left in heap memory the crate frees: key bytes, key
//! text, the HMAC state of the signed-only mode and session plaintext are
//! wiped before their block goes back to the allocator (SECURITY.md, "What
//! is wiped").
//!
//! A scanning global allocator wraps the system allocator and, on every
//! deallocation while scanning is on, searches the freed block for marker
//! byte patterns and counts the hits. `realloc` is left to the default of
//! `GlobalAlloc` (allocate, copy, deallocate), so every block a growing
//! buffer leaves behind passes through `dealloc` and is scanned too. zstd
//! allocates through C's malloc, which this allocator does not see; its
//! contexts are documented as not wiped, like the copies that serde_json
//! and the application make, and are not asserted here.
//!
//! The test code itself wipes every string it builds from a marker, and
//! builds each with its final capacity, so that a hit is the crate's.
//!
//! The `unsafe impl GlobalAlloc` below is the only way to install an
//! allocator; the library itself stays `#![forbid(unsafe_code)]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use hkdf::Hkdf;
use sealed_session::{
    Codec, Key, KeyRing, KeyRingConfig, KeyState, Mode, SessionHandle, SessionSettings,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroize;

/// Length of every marker: long enough never to occur by chance.
const MARK: usize = 16;
const MAX_MARKERS: usize = 8;

struct Markers {
    patterns: [[u8; MARK]; MAX_MARKERS],
    count: usize,
}

// A `RwLock`, not a `Mutex`: blocks freed at the same moment on two threads
// are both scanned (`try_read` fails only while `watch` writes, which it does
// before scanning is switched on); with a `Mutex` the second scan was skipped
// and a marker could go unseen.
static MARKERS: RwLock<Markers> = RwLock::new(Markers {
    patterns: [[0; MARK]; MAX_MARKERS],
    count: 0,
});
static HITS: [AtomicUsize; MAX_MARKERS] = [const { AtomicUsize::new(0) }; MAX_MARKERS];
static SCANNING: AtomicBool = AtomicBool::new(false);

struct Scanning;

fn scan(block: &[u8]) {
    // `try_read`: never wait inside the allocator; registering markers
    // happens before scanning is switched on.
    let Ok(markers) = MARKERS.try_read() else {
        return;
    };
    for (i, pattern) in markers.patterns.iter().take(markers.count).enumerate() {
        if block.windows(MARK).any(|w| w == pattern) {
            HITS[i].fetch_add(1, Ordering::SeqCst);
        }
    }
}

// SAFETY: allocation is forwarded unchanged to `System`. `dealloc` reads
// the block it is given (valid for `layout.size()` bytes until it is
// deallocated) before forwarding it; scanning allocates nothing.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if SCANNING.load(Ordering::SeqCst) && layout.size() >= MARK {
            // SAFETY: `ptr` is a live allocation of `layout.size()` bytes
            // (the caller's contract), initialised or not: reading bytes
            // as `u8` is what a scan needs, and a freed block's content is
            // what this test inspects.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            scan(block);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Scanning = Scanning;

/// Registers markers (replacing earlier ones) and clears the hit counts.
fn watch(patterns: &[[u8; MARK]]) {
    let mut markers = MARKERS.write().unwrap();
    assert!(patterns.len() <= MAX_MARKERS);
    for (slot, pattern) in markers.patterns.iter_mut().zip(patterns) {
        *slot = *pattern;
    }
    markers.count = patterns.len();
    for hit in &HITS {
        hit.store(0, Ordering::SeqCst);
    }
}

/// Runs `f` with scanning on and returns the hits per marker.
fn freed_while<R>(f: impl FnOnce() -> R) -> Vec<usize> {
    SCANNING.store(true, Ordering::SeqCst);
    let result = f();
    drop(result);
    SCANNING.store(false, Ordering::SeqCst);
    let count = MARKERS.read().unwrap().count;
    HITS.iter()
        .take(count)
        .map(|h| h.load(Ordering::SeqCst))
        .collect()
}

/// Every test key starts with these 16 bytes.
const KEY_PREFIX: [u8; MARK] = *b"wipe-on-free key";
/// And every test key's text with these 16 characters (base64url of the
/// first 12 bytes, which all keys share).
const KEY_TEXT_PREFIX: [u8; MARK] = *b"d2lwZS1vbi1mcmVl";
/// The session secret.
const SECRET: &str = "session secret: 5f0c7e1b9a4d2c38";

fn key_bytes(i: u8) -> [u8; 32] {
    let mut bytes = [i; 32];
    bytes[..MARK].copy_from_slice(&KEY_PREFIX);
    bytes
}

fn key(i: u8) -> Key {
    Key::from_bytes(key_bytes(i))
}

fn state(i: u8) -> KeyState {
    if i == 0 {
        KeyState::Primary
    } else {
        KeyState::Active
    }
}

/// The first 16 bytes of the two HMAC-SHA256 midstates (inner and outer
/// pad absorbed) of the signed-only mode for key `i`, as the hmac crate
/// keeps them: eight native-endian u32 words. Recomputed here from FORMAT.md
/// (HKDF-SHA256 signing key, then one SHA-256 block each).
fn mac_midstates(i: u8) -> [[u8; MARK]; 2] {
    let mut signing = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"sealed-session/v1"), &key_bytes(i))
        .expand(b"sealed-session/v1/signed-cookie-mac", &mut signing)
        .unwrap();
    [0x36u8, 0x5c].map(|pad| {
        let mut block = [pad; 64];
        for (b, k) in block.iter_mut().zip(signing) {
            *b ^= k;
        }
        let mut state = SHA256_IV;
        compress(&mut state, &block);
        let mut out = [0u8; MARK];
        for (chunk, word) in out.chunks_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        out
    })
}

/// One SHA-256 compression (FIPS 180-4, 6.2.2): sha2 exposes it only
/// behind a feature this crate does not enable.
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut w = [0u32; 64];
    for (i, word) in block.chunks(4).enumerate() {
        w[i] = u32::from_be_bytes(word.try_into().unwrap());
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        (h, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

#[test]
fn the_compression_function_matches_sha256() {
    // SHA-256("abc"): one padded block.
    let mut block = [0u8; 64];
    block[..3].copy_from_slice(b"abc");
    block[3] = 0x80;
    block[63] = 24;
    let mut state = SHA256_IV;
    compress(&mut state, &block);
    let digest: Vec<u8> = state.iter().flat_map(|w| w.to_be_bytes()).collect();
    assert_eq!(
        hex::encode(digest),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A string built from pieces with its final capacity (no growth, so no
/// freed partial copy), to be wiped by the caller.
fn joined(pieces: &[&str]) -> String {
    let mut s = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for piece in pieces {
        s.push_str(piece);
    }
    s
}

#[derive(Serialize, Deserialize)]
struct Session {
    secret: String,
    filler: String,
}

fn session(filler_len: usize) -> Session {
    let mut filler = "cart item ".repeat(filler_len / 10 + 1);
    filler.truncate(filler_len);
    Session {
        secret: joined(&[SECRET]),
        filler,
    }
}

fn burn(mut session: Session) {
    session.secret.zeroize();
}

#[test]
fn the_detector_sees_a_marker_in_a_freed_block() {
    // Serialised with the other test of this file: both use the globals.
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watch(&[KEY_PREFIX]);
    let hits = freed_while(|| {
        let mut block = Vec::with_capacity(64);
        block.extend_from_slice(b"some bytes before ");
        block.extend_from_slice(&KEY_PREFIX);
        std::hint::black_box(block)
    });
    assert_eq!(hits, [1]);
}

static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn keys_and_sessions_are_wiped_before_their_memory_is_freed() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const KEYS: u8 = 24;
    let [inner, outer] = mac_midstates(0);
    watch(&[KEY_PREFIX, KEY_TEXT_PREFIX]);
    let names = ["key bytes", "key text"];
    let mut failures = Vec::new();
    let mut check = |phase: &str, hits: Vec<usize>, names: &[&str]| {
        for (hits, name) in hits.iter().zip(names) {
            if *hits > 0 {
                failures.push(format!("{phase}: {hits} freed block(s) held the {name}"));
            }
        }
    };

    // Key rings grown one key at a time, beyond the point where their lists
    // move, and with enough keys that sorting them needs scratch memory.
    let hits = freed_while(|| {
        let mut builder = KeyRing::builder();
        for i in 0..KEYS {
            builder = builder.key(key(i), state(i));
        }
        builder.build().unwrap()
    });
    check("KeyRingBuilder", hits, &names);
    let hits = freed_while(|| KeyRing::from_keys((0..KEYS).map(key)).unwrap());
    check("KeyRing::from_keys", hits, &names);

    // The text form, parsed, built and derived.
    let mut texts: Vec<String> = Vec::with_capacity(usize::from(KEYS));
    texts.extend((0..KEYS).map(|i| key(i).to_base64url()));
    let mut text_form = {
        let mut pieces = Vec::with_capacity(texts.len() * 2);
        for t in &texts {
            pieces.push(t.as_str());
            pieces.push("\n");
        }
        joined(&pieces)
    };
    let hits = freed_while(|| {
        let config = KeyRingConfig::from_text(&text_form).unwrap();
        let ring = config.build().unwrap();
        let derived = config.build_derived("session").unwrap();
        let ring_again = KeyRing::from_config_str(&text_form).unwrap();
        (config, ring, derived, ring_again)
    });
    check("text form", hits, &names);

    // The JSON form: from_json, serde alone and inside a larger configuration,
    // the text form as a serde string, and serializing into a buffer that
    // does not grow.
    let mut json_form = {
        let mut pieces = vec![r#"{"keys":["#];
        for (i, t) in texts.iter().enumerate() {
            pieces.push(if i == 0 {
                r#"{"key":""#
            } else {
                r#",{"key":""#
            });
            pieces.push(t.as_str());
            pieces.push(if i == 0 {
                r#"","state":"primary"}"#
            } else {
                r#"","state":"active"}"#
            });
        }
        pieces.push("]}");
        joined(&pieces)
    };
    let mut nested = joined(&[r#"{"name":"app","keys":"#, &json_form, "}"]);
    let mut nested_text = {
        let mut pieces = vec![r#"{"name":"app","keys":""#];
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                pieces.push(",");
            }
            pieces.push(t.as_str());
        }
        pieces.push(r#""}"#);
        joined(&pieces)
    };
    #[derive(Deserialize)]
    struct App {
        #[allow(dead_code)]
        name: String,
        keys: KeyRingConfig,
    }
    let mut written = Vec::with_capacity(json_form.len() * 2);
    let hits = freed_while(|| {
        let a = KeyRingConfig::from_json(&json_form).unwrap();
        let b: KeyRingConfig = serde_json::from_str(&json_form).unwrap();
        let c: App = serde_json::from_str(&nested).unwrap();
        let d: App = serde_json::from_str(&nested_text).unwrap();
        serde_json::to_writer(&mut written, &a).unwrap();
        let rings = [&a, &b, &c.keys, &d.keys].map(|c| c.build().unwrap());
        (a, b, c, d, rings)
    });
    check("JSON form", hits, &names);
    assert_eq!(written.len(), json_form.len(), "nothing lost on the way");
    for s in [
        &mut text_form,
        &mut json_form,
        &mut nested,
        &mut nested_text,
    ] {
        s.zeroize();
    }
    written.zeroize();
    texts.iter_mut().for_each(Zeroize::zeroize);

    // The signed-only mode's HMAC states: in the ring, and in a codec.
    watch(&[inner, outer]);
    let mac_names = ["inner HMAC state", "outer HMAC state"];
    let hits = freed_while(|| {
        let ring = KeyRing::from_keys((0..KEYS).map(key)).unwrap();
        let codec = Codec::builder("prefs")
            .key_ring(ring)
            .mode(Mode::SignedOnly)
            .build()
            .unwrap();
        let value = codec.seal(&"dark").unwrap();
        codec.open::<String>(&value).unwrap().session
    });
    check("signed-only codec", hits, &mac_names);

    // Sessions of growing size (past every warm scratch buffer and past the
    // size at which a buffer is released), sealed and opened on a thread
    // that then exits, so that its scratch buffers are freed too.
    watch(&[SECRET.as_bytes()[..MARK].try_into().unwrap()]);
    let hits = freed_while(|| {
        std::thread::spawn(|| {
            let codec = Codec::builder("session")
                .key_ring(KeyRing::from_keys((0..2).map(key)).unwrap())
                .max_decompressed_size(1 << 20)
                .max_age(Duration::from_secs(3_600))
                .build()
                .unwrap();
            for len in [0, 50, 500, 3_000, 20_000, 70_000, 200_000, 1_000] {
                let sealed = session(len);
                let value = codec.seal(&sealed).unwrap();
                burn(sealed);
                let opened = codec.open::<Session>(&value).unwrap().session;
                assert_eq!(opened.secret, SECRET);
                assert_eq!(opened.filler.len(), len);
                burn(opened);
            }
        })
        .join()
        .unwrap();
    });
    check("sealed sessions", hits, &["session secret"]);

    assert!(failures.is_empty(), "{failures:#?}");
}

/// A session that wipes its strings when dropped, as an application that
/// keeps a secret in its session would: a hit is then the crate's.
#[derive(Serialize, Deserialize)]
struct WipedSession(Session);

impl Drop for WipedSession {
    fn drop(&mut self) {
        self.0.secret.zeroize();
        self.0.filler.zeroize();
    }
}

#[test]
fn session_handles_wipe_their_copies_of_the_session_json() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    watch(&[SECRET.as_bytes()[..MARK].try_into().unwrap()]);
    // Through the handle as the framework adapters use it, on a thread that
    // then exits: a new session is set and sealed; the next request changes
    // it (the JSON before the change, the JSON sealed), another leaves it as
    // it was (nothing sealed), another renews it unchanged.
    let hits = freed_while(|| {
        std::thread::spawn(|| {
            let codec = Codec::builder("session")
                .key_ring(KeyRing::from_keys((0..2).map(key)).unwrap())
                .max_decompressed_size(1 << 20)
                .build()
                .unwrap();
            let settings = SessionSettings::new(codec);
            let request = |cookie: &str| {
                SessionHandle::<WipedSession>::from_cookie_header(&settings, cookie, false)
            };
            let pair = |cookies: sealed_session::SetCookies| {
                let header = cookies.iter().next().unwrap();
                header.split(';').next().unwrap().to_owned()
            };
            for len in [0, 50, 500, 3_000, 20_000, 70_000, 1_000] {
                let handle = request("");
                handle.set(WipedSession(session(len)));
                let cookie = pair(handle.finish(None).unwrap().unwrap());
                let handle = request(&cookie);
                handle.update_existing(|s| s.0.filler.push_str(" and tea"));
                let cookie = pair(handle.finish(None).unwrap().unwrap());
                let handle = request(&cookie);
                handle.update_existing(|s| assert_eq!(s.0.secret, SECRET));
                assert!(handle.finish(None).unwrap().is_none(), "unchanged");
                handle.renew();
                assert!(handle.finish(None).unwrap().is_some(), "renewed");
            }
        })
        .join()
        .unwrap();
    });
    assert_eq!(hits, [0], "freed block(s) held the session secret");
}
