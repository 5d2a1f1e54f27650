//! Nonces stay unique across `fork()`.
//!
//! A pre-fork server (or a Python or Ruby worker that embeds the crate and is
//! forked after loading it) seals in several processes that started as one.
//! If the nonce source kept buffered state in the process, parent and
//! children would hand out the same bytes, and under one key a repeated
//! nonce repeats the XAES subkey and the GCM nonce (the ciphertexts then XOR
//! to the plaintexts, and forgery follows).
//!
//! The parent seals once (so any per-thread generator is initialised and
//! buffered), then forks two children; each child seals values through the
//! public `Codec::seal` and writes their nonces to a file. Every nonce of the
//! parent and both children must differ.
//!
//! This file runs without the test harness (`harness = false`): `fork()` in
//! a process with other threads running is unsafe to use, and libtest starts
//! threads. `unsafe` is needed for `fork`, `waitpid` and `_exit`; the library
//! itself stays `#![forbid(unsafe_code)]`.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sealed_session::{Codec, DynamicSession, Key, KeyRing, NONCE_LEN};

/// Values each process seals: more than a ChaCha block buffer (64 words)
/// holds, so a shared buffer and a shared reseed would both show.
const VALUES_PER_PROCESS: usize = 200;

/// Bytes 5..29 of a decoded sealed value: version (1), key id (4), nonce.
fn nonce_of(value: &str) -> [u8; NONCE_LEN] {
    let raw = URL_SAFE_NO_PAD
        .decode(value)
        .unwrap_or_else(|e| panic!("sealed values are base64url: {e}"));
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&raw[5..5 + NONCE_LEN]);
    nonce
}

fn seal_nonces(codec: &Codec, count: usize) -> Vec<[u8; NONCE_LEN]> {
    (0..count)
        .map(|_| match codec.seal(&DynamicSession::new()) {
            Ok(value) => nonce_of(&value),
            Err(e) => panic!("sealing an empty session failed: {e}"),
        })
        .collect()
}

fn write_nonces(path: &Path, nonces: &[[u8; NONCE_LEN]]) -> std::io::Result<()> {
    fs::write(path, nonces.concat())
}

fn read_nonces(path: &Path) -> Vec<[u8; NONCE_LEN]> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("child output {path:?}: {e}"));
    assert_eq!(
        bytes.len(),
        VALUES_PER_PROCESS * NONCE_LEN,
        "child wrote all its nonces"
    );
    bytes
        .chunks_exact(NONCE_LEN)
        .map(|c| {
            let mut n = [0u8; NONCE_LEN];
            n.copy_from_slice(c);
            n
        })
        .collect()
}

/// Forks a child that seals `VALUES_PER_PROCESS` values and writes their
/// nonces to `out`; returns the child's pid.
fn fork_child(codec: &Codec, out: &Path) -> libc::pid_t {
    // SAFETY: this process has a single thread (no test harness), so the
    // child inherits no lock held by another thread.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_nonces(out, &seal_nonces(codec, VALUES_PER_PROCESS))
        })) {
            Ok(Ok(())) => 0,
            _ => 1,
        };
        // SAFETY: leave the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

fn wait_ok(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child {pid} failed (status {status})"
    );
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sealed-session-fork-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
    dir
}

fn main() {
    let ring = KeyRing::from_keys([Key::from_bytes([7; 32])]).expect("one key is a ring");
    let codec = Codec::builder("session")
        .key_ring(ring)
        .build()
        .expect("valid codec");

    // Warm-up in the parent: initialises any per-thread generator.
    let parent_before = seal_nonces(&codec, 1);

    let dir = temp_dir();
    let (a, b) = (dir.join("child-a"), dir.join("child-b"));
    let pid_a = fork_child(&codec, &a);
    let pid_b = fork_child(&codec, &b);
    wait_ok(pid_a);
    wait_ok(pid_b);
    let parent_after = seal_nonces(&codec, VALUES_PER_PROCESS);

    let child_a = read_nonces(&a);
    let child_b = read_nonces(&b);
    let _ = fs::remove_dir_all(&dir);

    let all: Vec<_> = [parent_before, parent_after, child_a, child_b].concat();
    let distinct: HashSet<_> = all.iter().collect();
    let repeated = all.len() - distinct.len();
    assert_eq!(
        repeated,
        0,
        "{repeated} of {} nonces repeated across fork()",
        all.len()
    );
    println!(
        "fork_nonces: {} nonces from a parent and two forked children, all distinct",
        all.len()
    );
}
