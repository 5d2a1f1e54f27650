//! The `sealed-session` binary, run as an operator would: every command and
//! every failure mode. Needs `--features cli` (the binary is built only
//! then).
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sealed_session::Key;
use serde_json::{json, Value};

#[path = "common/cli_binary.rs"]
mod cli_binary;
use cli_binary::{fails, run, stderr, stdout, BIN, VAR};

/// Asserts success with an empty stderr; returns stdout.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stderr(&out), "", "no noise on success");
    stdout(&out)
}

fn key(byte: u8) -> String {
    Key::from_bytes([byte; 32]).to_base64url()
}

fn id(byte: u8) -> String {
    Key::from_bytes([byte; 32]).id().to_string()
}

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sealed-session-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn session() -> Value {
    json!({"user": 42, "cart": [1, 2, 3], "name": "Zoë"})
}

/// Seals `session()` under `keys` for the cookie `session`.
fn seal(keys: &str) -> String {
    let out = ok(run(
        &["seal", "--name", "session"],
        Some(keys),
        &session().to_string(),
    ));
    assert!(out.ends_with('\n'));
    let value = out.trim_end().to_owned();
    assert!(!value.contains('\n'), "one line");
    value
}

fn parse(out: &str) -> Value {
    serde_json::from_str(out).unwrap()
}

// ---------------------------------------------------------------- keygen

#[test]
fn keygen_prints_one_fresh_key() {
    let a = ok(run(&["keygen"], None, ""));
    let b = ok(run(&["keygen"], None, ""));
    assert_eq!(a.len(), 44, "43 characters and a newline: {a:?}");
    assert!(a.ends_with('\n'));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(a.trim_end()).unwrap().len(),
        32,
        "32 bytes of unpadded base64url"
    );
    assert_ne!(a, b);
    fails(run(&["keygen", "--bits", "128"], None, ""));
}

// ---------------------------------------------------------------- seal / open

#[test]
fn seal_then_open_round_trips() {
    let keys = key(1);
    let value = seal(&keys);
    assert!(value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let out = ok(run(&["open", "--name", "session"], Some(&keys), &value));
    assert!(out.ends_with('\n'));
    assert_eq!(parse(&out), session());
    // A trailing newline (echo) or CRLF is ignored; so is `--name=NAME`.
    let out = ok(run(
        &["open", "--name=session"],
        Some(&keys),
        &format!("{value}\r\n"),
    ));
    assert_eq!(parse(&out), session());
}

#[test]
fn open_with_an_older_key_that_is_not_first() {
    let value = seal(&key(1));
    let rotated = format!("{},{}", key(2), key(1));
    let out = ok(run(&["open", "--name", "session"], Some(&rotated), &value));
    assert_eq!(parse(&out), session());
    // And new values are sealed under the first key.
    let newer = seal(&rotated);
    let info = ok(run(&["inspect"], None, &newer));
    assert!(info.contains(&format!("key id: {}", id(2))), "{info}");
}

#[test]
fn seal_honours_max_age() {
    let keys = key(1);
    let out = ok(run(
        &["seal", "--name", "session", "--max-age", "600"],
        Some(&keys),
        "{}",
    ));
    let info = ok(run(
        &["inspect", "--name", "session"],
        Some(&keys),
        out.trim_end(),
    ));
    let issued: u64 = field(&info, "issued at: ");
    let expires: u64 = field(&info, "expires at: ");
    assert_eq!(expires - issued, 600, "{info}");
    for bad in ["0", "-5", "ten", ""] {
        let err = fails(run(
            &["seal", "--name", "session", "--max-age", bad],
            Some(&keys),
            "{}",
        ));
        assert!(err.contains("max-age"), "{err}");
    }
}

/// The number at the start of the line beginning with `prefix`.
fn field(report: &str, prefix: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {prefix:?} in {report}"))
        .parse()
        .unwrap()
}

#[test]
fn open_failures_follow_the_contract() {
    let keys = key(1);
    let value = seal(&keys);
    let mut tampered = value.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases: Vec<(Vec<&str>, Option<String>, String, &str)> = vec![
        (
            vec!["--name", "session"],
            Some(keys.clone()),
            tampered,
            "failed authentication",
        ),
        (
            vec!["--name", "other"],
            Some(keys.clone()),
            value.clone(),
            "failed authentication",
        ),
        (
            vec!["--name", "session"],
            Some(key(2)),
            value.clone(),
            "not in the key ring",
        ),
        (
            vec!["--name", "session"],
            Some(keys.clone()),
            "!!!".into(),
            "malformed",
        ),
        (
            vec!["--name", "session"],
            Some(keys.clone()),
            "AAAA".into(),
            "malformed",
        ),
        (
            vec!["--name", "session"],
            Some(keys.clone()),
            format!("{value}x"),
            "malformed",
        ),
        (
            vec!["--name", "session"],
            Some(keys.clone()),
            String::new(),
            "stdin is empty",
        ),
        (vec!["--name", "session"], None, value.clone(), "no keys"),
        (
            vec!["--name", "session"],
            Some(String::new()),
            value.clone(),
            "no keys",
        ),
        (vec![], Some(keys.clone()), value.clone(), "--name"),
        (
            vec!["--name"],
            Some(keys.clone()),
            value.clone(),
            "--name needs a value",
        ),
        (
            vec!["--name", "session", "--verbose"],
            Some(keys.clone()),
            value.clone(),
            "unknown option --verbose",
        ),
        (
            vec!["--name", "session", "extra"],
            Some(keys.clone()),
            value.clone(),
            "unexpected argument",
        ),
        (
            vec!["--name", "bad name"],
            Some(keys.clone()),
            value.clone(),
            "cookie name",
        ),
        (
            vec!["--name", "session", "--signed"],
            Some(keys.clone()),
            value.clone(),
            "malformed",
        ),
    ];
    for (args, keys, stdin, reason) in cases {
        let mut argv = vec!["open"];
        argv.extend(args.iter().copied());
        let err = fails(run(&argv, keys.as_deref(), &stdin));
        assert!(err.contains(reason), "{argv:?}: {err}");
    }
}

#[test]
fn open_reports_revoked_and_retired_keys() {
    let value = seal(&key(1));
    let revoked = temp_file(
        "revoked.txt",
        &format!("primary {}\nrevoked {}\n", key(2), key(1)),
    );
    let err = fails(run(
        &[
            "open",
            "--name",
            "session",
            "--keys-file",
            revoked.to_str().unwrap(),
        ],
        None,
        &value,
    ));
    assert!(err.contains("revoked"), "{err}");
    let retired = temp_file(
        "retired.txt",
        &format!(
            "primary {}\nretired {} until 2001-01-01T00:00:00Z\n",
            key(2),
            key(1)
        ),
    );
    let err = fails(run(
        &[
            "open",
            "--name",
            "session",
            "--keys-file",
            retired.to_str().unwrap(),
        ],
        None,
        &value,
    ));
    assert!(err.contains("retired since 978307200"), "{err}");
    let still = temp_file(
        "still.txt",
        &format!("primary {}\nretired {} until 4102444800\n", key(2), key(1)),
    );
    let out = ok(run(
        &[
            "open",
            "--name",
            "session",
            "--keys-file",
            still.to_str().unwrap(),
        ],
        None,
        &value,
    ));
    assert_eq!(parse(&out), session());
}

#[test]
fn seal_failures_follow_the_contract() {
    let keys = key(1);
    let oversize = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus/sessions-oversize.jsonl"
    ))
    .unwrap();
    let big = oversize.lines().next().unwrap().to_owned();
    let cases: Vec<(Vec<&str>, Option<String>, String, &str)> = vec![
        (
            vec!["--name", "s"],
            Some(keys.clone()),
            "{\"a\":".into(),
            "not one JSON document",
        ),
        (
            vec!["--name", "s"],
            Some(keys.clone()),
            "{} {}".into(),
            "not one JSON document",
        ),
        (
            vec!["--name", "s"],
            Some(keys.clone()),
            String::new(),
            "stdin is empty",
        ),
        (vec!["--name", "s"], None, "{}".into(), "no keys"),
        (vec![], Some(keys.clone()), "{}".into(), "--name"),
        (
            vec!["--name", "s"],
            Some(keys.clone()),
            big,
            "the limit is 4096",
        ),
        (
            vec!["--name", "s", "--domain", "example.com"],
            Some(keys.clone()),
            "{}".into(),
            "--set-cookie",
        ),
        (
            vec!["--name", "s", "--set-cookie"],
            Some(keys.clone()),
            "{}".into(),
            "--domain",
        ),
    ];
    for (args, keys, stdin, reason) in cases {
        let mut argv = vec!["seal"];
        argv.extend(args.iter().copied());
        let err = fails(run(&argv, keys.as_deref(), &stdin));
        assert!(err.contains(reason), "{argv:?}: {err}");
    }
    // The size error states the size too.
    let err = fails(run(
        &["seal", "--name", "s"],
        Some(&keys),
        oversize.lines().next().unwrap(),
    ));
    assert!(err.contains(" bytes, the limit is 4096"), "{err}");
}

#[test]
fn invalid_key_ring_names_the_entry_never_the_key() {
    let k1 = key(1);
    let short = URL_SAFE_NO_PAD.encode([5u8; 31]);
    for (keys, must) in [
        (format!("{k1},{k1}"), "entry 2"),
        (format!("{k1},{short}"), "entry 2"),
        (format!("{k1},active"), "entry 2"),
    ] {
        for cmd in [
            &["open", "--name", "s"][..],
            &["seal", "--name", "s"],
            &["keys", "check"],
        ] {
            let err = fails(run(cmd, Some(&keys), "{}"));
            assert!(err.contains(must) && err.contains(VAR), "{cmd:?}: {err}");
            assert!(
                !err.contains(&k1[..10]) && !err.contains(&short[..10]),
                "{err}"
            );
        }
    }
}

// ---------------------------------------------------------------- key files

#[test]
fn keys_file_in_text_and_json_forms_wins_over_the_variable() {
    let value = seal(&key(1));
    let text = temp_file(
        "keys.txt",
        &format!("# rotated\nprimary {}\nactive {}  # old\n", key(2), key(1)),
    );
    let json = temp_file(
        "keys.json",
        &format!(
            r#"{{"keys": [{{"key": "{}", "state": "primary"}}, {{"key": "{}", "state": "retired", "until": 4102444800}}]}}"#,
            key(3),
            key(1)
        ),
    );
    for file in [&text, &json] {
        let path = file.to_str().unwrap();
        // The variable holds an unrelated key: the file must win.
        let out = ok(run(
            &["open", "--name", "session", "--keys-file", path],
            Some(&key(9)),
            &value,
        ));
        assert_eq!(parse(&out), session());
    }
    let err = fails(run(
        &[
            "open",
            "--name",
            "session",
            "--keys-file",
            "/nonexistent/keys.txt",
        ],
        Some(&key(1)),
        &value,
    ));
    assert!(err.contains("/nonexistent/keys.txt"), "{err}");
}

#[test]
fn keys_check_lists_ids_and_states_never_material() {
    let keys = format!("{},{}", key(1), key(2));
    let out = ok(run(&["keys", "check"], Some(&keys), ""));
    assert!(out.contains("2 keys, valid"), "{out}");
    assert!(out.contains(&format!("{}  primary", id(1))), "{out}");
    assert!(out.contains(&format!("{}  active", id(2))), "{out}");
    assert!(!out.contains(&key(1)[..10]) && !out.contains(&key(2)[..10]));

    let file = temp_file(
        "check.txt",
        &format!(
            "primary {}\nactive {}\nretired {} until 2001-01-01T00:00:00Z\nretired {} until 4102444800\nrevoked {}\n",
            key(1),
            key(2),
            key(3),
            key(4),
            key(5)
        ),
    );
    let out = ok(run(
        &["keys", "check", "--keys-file", file.to_str().unwrap()],
        None,
        "",
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(
        lines[1].contains("line 1") && lines[1].contains(&id(1)) && lines[1].contains("primary")
    );
    assert!(
        lines[2].contains("line 2") && lines[2].contains(&id(2)) && lines[2].contains("active")
    );
    assert!(
        lines[3].contains(&id(3)) && lines[3].contains("has passed"),
        "{out}"
    );
    assert!(
        lines[4].contains(&id(4)) && lines[4].contains("2100-01-01T00:00:00Z"),
        "{out}"
    );
    assert!(
        lines[5].contains(&id(5)) && lines[5].contains("revoked"),
        "{out}"
    );
    for byte in 1..=5 {
        assert!(!out.contains(&key(byte)[..10]), "{out}");
    }

    let bad = temp_file(
        "bad.txt",
        &format!("primary {}\nprimary {}\n", key(1), key(2)),
    );
    let err = fails(run(
        &["keys", "check", "--keys-file", bad.to_str().unwrap()],
        None,
        "",
    ));
    assert!(
        err.contains("line 1") && err.contains("line 2") && err.contains("primary"),
        "{err}"
    );
    assert!(!err.contains(&key(1)[..10]));
    let err = fails(run(&["keys", "check"], None, ""));
    assert!(err.contains("no keys"), "{err}");
    fails(run(&["keys"], Some(&key(1)), ""));
    fails(run(&["keys", "list"], Some(&key(1)), ""));
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_without_and_with_keys() {
    let keys = format!("{},{}", key(2), key(1));
    let value = seal(&key(1));
    let public = ok(run(&["inspect"], None, &format!("{value}\n")));
    assert!(public.contains("version: 1 (sealed"), "{public}");
    assert!(public.contains(&format!("key id: {}", id(1))), "{public}");
    assert!(
        public.contains(&format!("length: {} characters", value.len())),
        "{public}"
    );
    assert!(public.contains("keys: none given"), "{public}");
    assert!(!public.contains("42"), "never the session: {public}");

    let no_name = ok(run(&["inspect"], Some(&keys), &value));
    assert!(no_name.contains("key state: active"), "{no_name}");
    assert!(no_name.contains("opens: not checked"), "{no_name}");

    let full = ok(run(&["inspect", "--name", "session"], Some(&keys), &value));
    assert!(
        full.contains(&format!("opens: yes, with key {}", id(1))),
        "{full}"
    );
    let issued = field(&full, "issued at: ");
    assert_eq!(field(&full, "expires at: "), issued + 86_400);
    assert!(
        full.contains("reseal: yes (sealed under a key that is not primary)"),
        "{full}"
    );
    assert!(!full.contains("cart"), "never the session: {full}");

    let wrong_name = ok(run(&["inspect", "--name", "other"], Some(&keys), &value));
    assert!(
        wrong_name.contains("opens: no (session cookie failed authentication"),
        "{wrong_name}"
    );
    let unknown = ok(run(
        &["inspect", "--name", "session"],
        Some(&key(7)),
        &value,
    ));
    assert!(
        unknown.contains("key state: not in the key ring"),
        "{unknown}"
    );

    let err = fails(run(&["inspect"], None, "not a value"));
    assert!(err.contains("malformed"), "{err}");
    fails(run(&["inspect"], None, ""));
}

/// The line of `report` that starts with `prefix`, without the prefix.
fn line<'a>(report: &'a str, prefix: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {report}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A codec for the cookie `session` over the keys (first one primary).
fn library_codec(
    bytes: &[u8],
    configure: fn(sealed_session::CodecBuilder) -> sealed_session::CodecBuilder,
) -> sealed_session::Codec {
    let keys = bytes.iter().map(|&b| Key::from_bytes([b; 32]));
    let ring = sealed_session::KeyRing::from_keys(keys).unwrap();
    configure(sealed_session::Codec::builder("session").key_ring(ring))
        .build()
        .unwrap()
}

#[test]
fn inspect_shows_the_session_identity() {
    use sealed_session::Lineage;
    let codec = library_codec(&[1], |b| b);
    let value = codec
        .seal_with(&session(), &Lineage::new_for("842753582"))
        .unwrap();
    let identity = codec
        .open::<Value>(&value)
        .unwrap()
        .identity
        .expect("an identity");
    let report = ok(run(
        &["inspect", "--name", "session"],
        Some(&key(1)),
        &value,
    ));
    assert_eq!(
        line(&report, "session id: "),
        identity.session_id.to_string()
    );
    assert_eq!(field(&report, "created at: "), identity.created_at);
    assert!(
        line(&report, "created at: ").ends_with("Z)"),
        "the date too: {report}"
    );
    assert_eq!(line(&report, "origin key: "), id(1));
    assert_eq!(line(&report, "subject: "), "842753582");
    assert_eq!(line(&report, "bound to a device: "), "no");
    assert!(report.contains("reseal: no\n"), "{report}");
    // Without --name it does not open, so nothing of the identity shows.
    let no_name = ok(run(&["inspect"], Some(&key(1)), &value));
    assert!(!no_name.contains("session id"), "{no_name}");

    // A device-bound session says so.
    let codec = library_codec(&[1], |b| b);
    let mut bound = codec.open::<Value>(&value).unwrap().identity.unwrap();
    bound.bound = true;
    let bound_value = codec
        .seal_with(
            &serde_json::json!({}),
            &sealed_session::Lineage::Continue(bound),
        )
        .unwrap();
    let report = ok(run(
        &["inspect", "--name", "session"],
        Some(&key(1)),
        &bound_value,
    ));
    assert!(
        line(&report, "bound to a device: ").starts_with("yes"),
        "{report}"
    );

    // Re-sealed under a new primary: the origin stays the old key.
    let rotated = library_codec(&[2, 1], |b| b);
    let opened = rotated.open::<Value>(&value).unwrap();
    let resealed = rotated
        .seal_with(&opened.session, &opened.lineage())
        .unwrap();
    let keys = format!("{},{}", key(2), key(1));
    let report = ok(run(
        &["inspect", "--name", "session"],
        Some(&keys),
        &resealed,
    ));
    assert!(
        report.contains(&format!("opens: yes, with key {}", id(2))),
        "{report}"
    );
    assert_eq!(line(&report, "origin key: "), id(1));
    assert_eq!(
        line(&report, "session id: "),
        identity.session_id.to_string()
    );
    // With the old key revoked, it no longer opens, and says why.
    let file = temp_file(
        "revoked-origin",
        &format!("primary {}\nrevoked {}\n", key(2), key(1)),
    );
    let report = ok(run(
        &[
            "inspect",
            "--name",
            "session",
            "--keys-file",
            file.to_str().unwrap(),
        ],
        None,
        &resealed,
    ));
    assert!(
        report.contains("opens: no (session is revoked (the key it was created under is revoked)"),
        "{report}"
    );
    assert!(!report.contains("session id"), "{report}");

    // No subject.
    let anonymous = codec.seal(&session()).unwrap();
    let report = ok(run(
        &["inspect", "--name", "session"],
        Some(&key(1)),
        &anonymous,
    ));
    assert_eq!(line(&report, "subject: "), "none");
    // A subject with a line break stays on its line.
    let odd = codec
        .seal_with(&session(), &Lineage::new_for("a\nreseal: no"))
        .unwrap();
    let report = ok(run(&["inspect", "--name", "session"], Some(&key(1)), &odd));
    assert_eq!(line(&report, "subject: "), "a\\nreseal: no");
    let reseal_lines = report.lines().filter(|l| l.starts_with("reseal: "));
    assert_eq!(reseal_lines.count(), 1, "{report}");
}

#[test]
fn inspect_reports_values_without_identity_and_ended_lifetimes() {
    use sealed_session::Lineage;
    use std::time::Duration;
    // Sealed before identities were written.
    let phase_one = library_codec(&[1], |b| b.write_identity(false));
    let value = phase_one.seal(&session()).unwrap();
    let report = ok(run(
        &["inspect", "--name", "session"],
        Some(&key(1)),
        &value,
    ));
    assert!(
        report.contains("session id: none (sealed before identities were written"),
        "{report}"
    );
    assert!(
        report.contains("reseal: yes (sealed without a session identity)"),
        "{report}"
    );
    assert!(!report.contains("subject:"), "{report}");

    // Signed-only values carry none.
    let prefs = ok(run(
        &["seal", "--name", "session", "--signed"],
        Some(&key(1)),
        "{\"theme\":\"dark\"}",
    ));
    let report = ok(run(
        &["inspect", "--name", "session"],
        Some(&key(1)),
        prefs.trim_end(),
    ));
    assert!(
        report.contains("session id: none (signed-only values carry no identity)"),
        "{report}"
    );

    // Created eight days ago and sealed with a 30-day lifetime: not
    // expired, but past the seven days the CLI's codec allows.
    let lenient = library_codec(&[1], |b| b.max_age(Duration::from_secs(30 * 86_400)));
    let created = now() - 8 * 86_400;
    let old = lenient
        .seal_with_at(&session(), &Lineage::new(), created, [5; 24])
        .unwrap();
    let report = ok(run(&["inspect", "--name", "session"], Some(&key(1)), &old));
    assert_eq!(
        field(
            &report,
            "opens: no (its absolute lifetime has ended: created at "
        ),
        created
    );
}

// ---------------------------------------------------------------- signed-only

#[test]
fn signed_only_mode_round_trips_and_is_readable() {
    let keys = key(1);
    let prefs = json!({"theme": "dark", "lang": "fr"});
    let value = ok(run(
        &["seal", "--name", "prefs", "--signed"],
        Some(&keys),
        &prefs.to_string(),
    ));
    let value = value.trim_end();
    let raw = URL_SAFE_NO_PAD.decode(value).unwrap();
    assert_eq!(raw[0], 2, "signed-only version byte");
    assert_eq!(serde_json::from_slice::<Value>(&raw[53..]).unwrap(), prefs);
    let out = ok(run(
        &["open", "--name", "prefs", "--signed"],
        Some(&keys),
        value,
    ));
    assert_eq!(parse(&out), prefs);
    let err = fails(run(&["open", "--name", "prefs"], Some(&keys), value));
    assert!(err.contains("malformed"), "{err}");
    // Tampering with the readable JSON fails authentication.
    let mut forged = raw.clone();
    let last = forged.len() - 2;
    forged[last] ^= 0x01;
    let err = fails(run(
        &["open", "--name", "prefs", "--signed"],
        Some(&keys),
        &URL_SAFE_NO_PAD.encode(&forged),
    ));
    assert!(err.contains("failed authentication"), "{err}");
    let info = ok(run(&["inspect"], None, value));
    assert!(info.contains("version: 2 (signed-only"), "{info}");
    assert!(info.contains("issued at (unverified): "), "{info}");
}

// ---------------------------------------------------------------- cookies

#[test]
fn set_cookie_output_and_cookie_header_input() {
    let keys = key(1);
    let out = ok(run(
        &[
            "seal",
            "--name",
            "__Secure-session",
            "--set-cookie",
            "--domain",
            "Shop.Example.com",
            "--path",
            "/app",
            "--same-site",
            "strict",
            "--max-age",
            "3600",
        ],
        Some(&keys),
        &session().to_string(),
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let header = lines[0];
    assert!(header.starts_with("__Secure-session="), "{header}");
    for attribute in [
        "; Domain=shop.example.com",
        "; Path=/app",
        "; SameSite=Strict",
        "; Secure",
        "; HttpOnly",
        "; Max-Age=",
    ] {
        assert!(header.contains(attribute), "{header} lacks {attribute}");
    }
    let pair = header.split(';').next().unwrap();
    let cookie_header = format!("theme=dark; {pair}; junk");
    let out = ok(run(
        &["open", "--name", "__Secure-session", "--cookie-header"],
        Some(&keys),
        &cookie_header,
    ));
    assert_eq!(parse(&out), session());
    let err = fails(run(
        &["open", "--name", "__Secure-session", "--cookie-header"],
        Some(&keys),
        "theme=dark",
    ));
    assert!(err.starts_with("error: "), "{err}");

    for (args, reason) in [
        (vec!["--domain", "github.io"], "suffix"),
        (
            vec!["--domain", "example.com", "--same-site", "sideways"],
            "--same-site",
        ),
        (vec!["--domain", "example.com", "--chunks", "0"], "--chunks"),
    ] {
        let mut argv = vec!["seal", "--name", "s", "--set-cookie"];
        argv.extend(args);
        let err = fails(run(&argv, Some(&keys), "{}"));
        assert!(err.contains(reason), "{argv:?}: {err}");
    }
}

#[test]
fn oversized_session_needs_chunks_and_round_trips_with_them() {
    let keys = key(1);
    let oversize = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus/sessions-oversize.jsonl"
    ))
    .unwrap();
    let big = oversize.lines().next().unwrap();
    let base = [
        "seal",
        "--name",
        "session",
        "--set-cookie",
        "--domain",
        "example.com",
    ];
    let err = fails(run(&base, Some(&keys), big));
    assert!(err.contains("bytes, the limit is 4096"), "{err}");

    let mut chunked = base.to_vec();
    chunked.extend(["--chunks", "4"]);
    let out = ok(run(&chunked, Some(&keys), big));
    // Pieces that carry data, in the order written, as the browser returns them.
    let pairs: Vec<&str> = out
        .lines()
        .map(|l| l.split(';').next().unwrap())
        .filter(|p| !p.ends_with('='))
        .collect();
    assert!(pairs.len() >= 2, "{out}");
    for line in out.lines() {
        let pair = line.split(';').next().unwrap();
        // Browsers count name plus value, without the `=`.
        assert!(pair.len() - 1 <= 4096, "each cookie within the limit");
    }
    let header = pairs.join("; ");
    let out = ok(run(
        &["open", "--name", "session", "--cookie-header"],
        Some(&keys),
        &header,
    ));
    assert_eq!(parse(&out), parse(big));
    // Dropping a chunk fails.
    let dropped = pairs[..pairs.len() - 1].join("; ");
    fails(run(
        &["open", "--name", "session", "--cookie-header"],
        Some(&keys),
        &dropped,
    ));
}

// ---------------------------------------------------------------- help

#[test]
fn help_for_every_command() {
    let top = ok(run(&[], None, ""));
    assert!(
        top.contains("USAGE") && top.contains("SEALED_SESSION_KEYS"),
        "{top}"
    );
    assert_eq!(ok(run(&["--help"], None, "")), top);
    assert_eq!(ok(run(&["help"], None, "")), top);
    for (command, mentions) in [
        (vec!["keygen"], "base64url"),
        (vec!["seal"], "--max-age"),
        (vec!["open"], "--cookie-header"),
        (vec!["inspect"], "key id"),
        (vec!["keys", "check"], "never prints key material"),
    ] {
        let mut argv = command.clone();
        argv.push("--help");
        let out = ok(run(&argv, None, ""));
        assert!(out.contains("USAGE"), "{argv:?}: {out}");
        assert!(
            out.to_lowercase().contains(&mentions.to_lowercase()),
            "{argv:?}: {out}"
        );
        assert_ne!(out, top, "{argv:?} has its own help");
        let mut argv = vec!["help"];
        argv.push(command[0]);
        assert_eq!(ok(run(&argv, None, "")), out);
    }
    let err = fails(run(&["frobnicate"], None, ""));
    assert!(err.contains("unknown command"), "{err}");
}

/// Runs `sealed-session revoke` with the given Redis variable (or none).
fn revoke(args: &[&str], redis_var: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("revoke")
        .args(args)
        .env_remove(VAR)
        .env_remove("SEALED_SESSION_REDIS")
        .stdin(Stdio::null());
    if let Some(url) = redis_var {
        command.env("SEALED_SESSION_REDIS", url);
    }
    command.output().unwrap()
}

/// A local URL where nothing listens: the port was free a moment ago.
fn dead_redis() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("redis://127.0.0.1:{port}/")
}

#[test]
fn revoke_checks_its_arguments_before_contacting_redis() {
    let url = dead_redis();
    let id = "000102030405060708090a0b0c0d0e0f";
    let long_subject = "s".repeat(65);
    let cases: [(Vec<&str>, &str); 12] = [
        (vec!["--redis", &url], "needs --session ID"),
        (
            vec!["--redis", &url, "--session", id, "--subject", "u"],
            "not both",
        ),
        (vec!["--redis", &url, "--session", "nope"], "32 hex digits"),
        (
            vec!["--redis", &url, "--session", &id[1..]],
            "32 hex digits",
        ),
        (
            vec!["--redis", &url, "--session", id, "--before", "5"],
            "--before goes with --subject",
        ),
        (
            vec!["--redis", &url, "--subject", "u", "--at", "5"],
            "--at goes with --session",
        ),
        (
            vec!["--redis", &url, "--session", id, "--at", "soon"],
            "--at is a time in Unix seconds",
        ),
        (
            vec!["--redis", &url, "--session", id, "--at", "-5"],
            "--at is a time in Unix seconds",
        ),
        (
            vec![
                "--redis",
                &url,
                "--subject",
                "u",
                "--before",
                "9007199254740992",
            ],
            "Unix seconds",
        ),
        (
            vec!["--redis", &url, "--subject", &long_subject],
            "1 to 64 bytes",
        ),
        (vec!["--session", id], "needs --redis URL"),
        (
            vec!["--redis", "http://example.com/", "--session", id],
            "not a Redis URL",
        ),
    ];
    for (args, expected) in cases {
        let err = fails(revoke(&args, None));
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            !err.contains("sssssss"),
            "the subject is never echoed: {err}"
        );
    }
    let err = fails(revoke(
        &["--redis", &url, "--session", id, "--prefix", "a b"],
        None,
    ));
    assert!(err.contains("key prefix"), "{err}");
}

#[test]
fn revoke_reports_an_unreachable_redis() {
    let url = dead_redis();
    let id = "000102030405060708090a0b0c0d0e0f";
    let err = fails(revoke(&["--redis", &url, "--session", id], None));
    assert!(
        err.contains("Redis is unreachable") && err.contains("nothing was written"),
        "{err}"
    );
    // The URL may carry a password: it is never repeated.
    let with_password = url.replace("redis://", "redis://:hunter2@");
    let err = fails(revoke(&["--redis", &with_password, "--subject", "u"], None));
    assert!(!err.contains("hunter2"), "{err}");
    // The variable stands in for --redis.
    let err = fails(revoke(&["--subject", "u"], Some(&url)));
    assert!(err.contains("Redis is unreachable"), "{err}");
}

#[test]
fn revoke_has_help() {
    let out = ok(run(&["revoke", "--help"], None, ""));
    for mention in [
        "--session ID",
        "--subject SUBJECT",
        "--before TIME",
        "SEALED_SESSION_REDIS",
    ] {
        assert!(out.contains(mention), "{out}");
    }
    assert_eq!(ok(run(&["help", "revoke"], None, "")), out);
    let top = ok(run(&[], None, ""));
    assert!(top.contains("sealed-session revoke --redis URL"), "{top}");
}
