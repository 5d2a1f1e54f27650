//! The `sealed-session` binary run as an operator would, for the CLI tests:
//! exactly the given key variable (or none), stdin written and closed, and
//! the failure contract every command keeps. Needs `--features cli` (the
//! binary is built only then).

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_sealed-session");
/// The key variable of the binary.
pub const VAR: &str = "SEALED_SESSION_KEYS";

/// Runs the binary with exactly the given key variable (or none).
pub fn run(args: &[&str], keys: Option<&str>, stdin: &str) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove(VAR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(keys) = keys {
        command.env(VAR, keys);
    }
    let mut child = command.spawn().expect("binary runs");
    let mut input = child.stdin.take().unwrap();
    // The binary may exit before reading (usage errors): ignore EPIPE.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Asserts the failure contract: status 1, nothing on stdout, exactly one
/// stderr line starting with `error:`; returns that line.
pub fn fails(out: Output) -> String {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr {err}");
    assert_eq!(stdout(&out), "", "nothing on stdout on failure");
    assert!(err.starts_with("error: "), "{err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    assert_eq!(err.lines().count(), 1, "exactly one line: {err:?}");
    err
}
