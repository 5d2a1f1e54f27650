//! The dictionary commands of the `sealed-session` binary, run as an operator
//! would: `dict train` on one part of the corpus, `dict stats` on another,
//! `seal` and `open` with `--dict`, and every failure mode. Needs
//! `--features cli` (the binary is built only then).
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Output;

use sealed_session::{Dictionary, Key};
use serde_json::Value;

#[path = "common/cli_binary.rs"]
mod cli_binary;
use cli_binary::{fails, run, stderr, stdout};

/// Asserts success; returns stdout and stderr.
fn ok(out: Output) -> (String, String) {
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status,
        stderr(&out)
    );
    (stdout(&out), stderr(&out))
}

fn keys() -> String {
    Key::from_bytes([7; 32]).to_base64url()
}

/// A fresh directory per test: tests run in parallel.
fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sealed-session-cli-dict-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tier(name: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/data/corpus/sessions-{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The first (training) or second (measuring) half of a tier, as JSON Lines.
fn half(name: &str, first: bool) -> String {
    let lines = tier(name);
    let (a, b) = lines.split_at(lines.len() / 2);
    let mut out = (if first { a } else { b }).join("\n");
    out.push('\n');
    out
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Trains a dictionary into `dir/file` on `samples`; returns its path and the
/// one stderr line.
fn train(dir: &Path, file: &str, samples: &str, extra: &[&str]) -> (PathBuf, String) {
    let path = dir.join(file);
    let mut args = vec!["dict", "train", "--out", path_str(&path)];
    args.extend_from_slice(extra);
    let (stdout, stderr) = ok(run(&args, None, samples));
    assert_eq!(stdout, "", "the dictionary goes to the file, not stdout");
    (path, stderr)
}

fn id_of(path: &Path) -> String {
    Dictionary::from_bytes(std::fs::read(path).unwrap())
        .unwrap()
        .id()
        .to_string()
}

// ---------------------------------------------------------------- train

#[test]
fn train_writes_the_file_and_reports_samples_and_id() {
    let dir = dir("train");
    let samples = half("typical", true);
    let (a, stderr) = train(&dir, "a.dict", &samples, &[]);
    let bytes = std::fs::read(&a).unwrap();
    assert!(
        bytes.len() > 1024 && bytes.len() <= 16 * 1024,
        "default size 16 KiB: {}",
        bytes.len()
    );
    let id = id_of(&a);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("dictionary {id}")), "{stderr}");
    assert!(stderr.contains("on 500 samples"), "{stderr}");
    assert!(stderr.contains(path_str(&a)), "{stderr}");

    // The same samples give the same dictionary, so a training run can be
    // repeated and checked.
    let (b, _) = train(&dir, "b.dict", &samples, &[]);
    assert_eq!(std::fs::read(&b).unwrap(), bytes);

    // Blank lines are not samples.
    let spaced = samples.replace('\n', "\n\n");
    let (_, stderr) = train(&dir, "spaced.dict", &spaced, &[]);
    assert!(stderr.contains("on 500 samples"), "{stderr}");

    let (small, _) = train(&dir, "small.dict", &samples, &["--size", "4096"]);
    let small_len = std::fs::metadata(&small).unwrap().len();
    assert!(small_len <= 4096 && small_len > 256, "{small_len}");
    assert_ne!(id_of(&small), id);
}

#[test]
fn train_failures_follow_the_contract() {
    let dir = dir("train-fail");
    let samples = half("typical", true);
    let (existing, _) = train(&dir, "in-use.dict", &samples, &[]);
    let before = std::fs::read(&existing).unwrap();
    let other = half("small", true);
    let err = fails(run(
        &["dict", "train", "--out", path_str(&existing)],
        None,
        &other,
    ));
    assert!(
        err.contains("exists") && err.contains("new file name"),
        "{err}"
    );
    assert_eq!(std::fs::read(&existing).unwrap(), before, "never replaced");

    let out = dir.join("x.dict");
    let out = path_str(&out);
    for size in ["10", "2000000"] {
        let err = fails(run(
            &["dict", "train", "--out", out, "--size", size],
            None,
            &samples,
        ));
        assert!(
            err.contains("--size must be between 256 and 1048576"),
            "{err}"
        );
    }
    let err = fails(run(
        &["dict", "train", "--out", out, "--size", "0"],
        None,
        &samples,
    ));
    assert!(err.contains("positive whole number"), "{err}");
    let err = fails(run(&["dict", "train"], None, &samples));
    assert!(err.contains("--out"), "{err}");
    let err = fails(run(&["dict", "train", "--out", out], None, ""));
    assert!(err.contains("stdin is empty"), "{err}");
    let err = fails(run(
        &["dict", "train", "--out", out, "--level", "3"],
        None,
        &samples,
    ));
    assert!(err.contains("unknown option --level"), "{err}");

    // A line that is not JSON is named by number, never shown.
    let mut lines: Vec<String> = tier("typical").into_iter().take(100).collect();
    lines[2] = r#"{"csrf":"secret-token-value","#.to_owned();
    let err = fails(run(
        &["dict", "train", "--out", out],
        None,
        &lines.join("\n"),
    ));
    assert!(
        err.contains("stdin line 3 is not one JSON document"),
        "{err}"
    );
    assert!(!err.contains("secret-token-value"), "{err}");

    let err = fails(run(
        &["dict", "train", "--out", out],
        None,
        &tier("typical")[..3].join("\n"),
    ));
    assert!(err.contains("training on 3 samples failed"), "{err}");
    assert!(!Path::new(out).exists(), "no file after a failure");

    let err = fails(run(&["dict"], None, ""));
    assert!(
        err.contains("dict train") && err.contains("dict stats"),
        "{err}"
    );
}

// ---------------------------------------------------------------- stats

/// One `name: json A, without B, with C (...)` summary line as (A, B, C).
fn summary(report: &str, prefix: &str) -> (usize, usize, usize) {
    let line = report
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {report}"));
    let number = |label: &str| -> usize {
        let rest = &line[line.find(label).unwrap() + label.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (number("json "), number("without "), number("with "))
}

/// The per-session rows: (line, json, without, with).
fn rows(report: &str) -> Vec<(usize, usize, usize, usize)> {
    report
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with(' '))
        .map(|l| {
            let n: Vec<usize> = l
                .split_whitespace()
                .take(4)
                .map(|w| w.trim_end_matches('*').parse().unwrap())
                .collect();
            (n[0], n[1], n[2], n[3])
        })
        .collect()
}

#[test]
fn stats_reports_the_gain_per_session_and_in_total() {
    let dir = dir("stats");
    let mut samples = half("typical", true);
    samples.push_str(&half("large", true));
    let (dict, _) = train(&dir, "shop.dict", &samples, &[]);
    let id = id_of(&dict);

    let held_out = half("typical", false);
    let (report, stderr) = ok(run(
        &["dict", "stats", "--dict", path_str(&dict)],
        None,
        &held_out,
    ));
    assert_eq!(stderr, "");
    assert!(
        report.starts_with(&format!("dictionary {id} (")),
        "{report}"
    );
    let rows = rows(&report);
    assert_eq!(rows.len(), 500, "one row per session");
    assert_eq!(rows[0].0, 1);
    assert_eq!(rows[499].0, 500);
    let first_json = held_out.lines().next().unwrap().len();
    assert_eq!(rows[0].1, first_json, "json size is the line as given");
    for &(line, _, without, with) in &rows {
        assert!(with <= without, "line {line}: the fallback bounds the size");
    }
    let (json, without, with) = summary(&report, "total:");
    assert_eq!(json, rows.iter().map(|r| r.1).sum::<usize>());
    assert_eq!(without, rows.iter().map(|r| r.2).sum::<usize>());
    assert_eq!(with, rows.iter().map(|r| r.3).sum::<usize>());
    assert!(
        with * 10 < without * 7,
        "a trained dictionary saves well over 30% on typical sessions: {with} vs {without}"
    );
    let (_, m_without, m_with) = summary(&report, "median:");
    assert!(m_with < m_without, "{report}");
    assert!(
        report.contains("sessions: 500, the dictionary makes"),
        "{report}"
    );

    // Oversized sessions: the report counts and marks the values over the
    // one-cookie limit (their size comes from the size error).
    let oversize = tier("oversize").join("\n");
    let (report, _) = ok(run(
        &["dict", "stats", "--dict", path_str(&dict)],
        None,
        &oversize,
    ));
    let over = report
        .lines()
        .find(|l| l.starts_with("over the 4096-byte cookie limit"))
        .unwrap();
    let counts: Vec<usize> = over
        .split(": ")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(counts[0] > 0 && counts[1] < counts[0], "{over}");
    let marked = |column: usize| {
        report
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with(' '))
            .filter(|l| l.split_whitespace().nth(column).unwrap().ends_with('*'))
            .count()
    };
    assert_eq!((marked(2), marked(3)), (counts[0], counts[1]), "{over}");
    for (line, _, without, with) in self::rows(&report) {
        assert!(with <= without, "line {line}");
        assert!(without > 4000, "line {line}: oversized: {without}");
    }
}

#[test]
fn stats_shows_no_gain_on_sessions_of_another_shape() {
    let dir = dir("stats-other");
    let (dict, _) = train(&dir, "shop.dict", &half("typical", true), &[]);
    let other: String = (0..50)
        .map(|i| {
            format!(
                "{{\"tenant\":\"t{i}\",\"scopes\":[\"{}\"],\"nonce\":\"{:016x}\"}}\n",
                "read:".repeat(i % 7 + 20),
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
        })
        .collect();
    let (report, _) = ok(run(
        &["dict", "stats", "--dict", path_str(&dict)],
        None,
        &other,
    ));
    let rows = rows(&report);
    assert_eq!(rows.len(), 50);
    for (line, _, without, with) in rows {
        assert!(with <= without, "line {line}: never larger");
    }
    let (_, without, with) = summary(&report, "total:");
    assert!(
        with * 100 > without * 95,
        "little or no gain: {with} vs {without}"
    );
}

#[test]
fn stats_failures_follow_the_contract() {
    let dir = dir("stats-fail");
    let err = fails(run(&["dict", "stats"], None, "{}\n"));
    assert!(err.contains("--dict"), "{err}");
    let missing = dir.join("missing.dict");
    let err = fails(run(
        &["dict", "stats", "--dict", path_str(&missing)],
        None,
        "{}\n",
    ));
    assert!(
        err.contains("cannot read dictionary file") && err.contains("missing.dict"),
        "{err}"
    );
    let tiny = dir.join("tiny.dict");
    std::fs::write(&tiny, b"{}").unwrap();
    let err = fails(run(
        &["dict", "stats", "--dict", path_str(&tiny)],
        None,
        "{}\n",
    ));
    assert!(
        err.contains("tiny.dict") && err.contains("at least 8 bytes"),
        "{err}"
    );
    let (dict, _) = train(&dir, "d.dict", &half("typical", true), &[]);
    let err = fails(run(
        &["dict", "stats", "--dict", path_str(&dict)],
        None,
        "{}\nnot json\n",
    ));
    assert!(err.contains("stdin line 2"), "{err}");
}

// ---------------------------------------------------------------- seal and open

#[test]
fn seal_with_a_opens_with_b_then_a_and_not_without_a() {
    let dir = dir("rotate");
    let (a, _) = train(&dir, "a.dict", &half("typical", true), &[]);
    let (b, _) = train(&dir, "b.dict", &half("small", true), &[]);
    let (a, b) = (path_str(&a), path_str(&b));
    let (id_a, id_b) = (id_of(Path::new(a)), id_of(Path::new(b)));
    assert_ne!(id_a, id_b);
    let keys = keys();
    let line = &tier("typical")[900];
    let session: Value = serde_json::from_str(line).unwrap();

    let (plain, _) = ok(run(&["seal", "--name", "sid"], Some(&keys), line));
    let (with_a, _) = ok(run(
        &["seal", "--name", "sid", "--dict", a],
        Some(&keys),
        line,
    ));
    assert!(
        with_a.len() * 10 < plain.len() * 8,
        "the dictionary shrinks the value: {} vs {}",
        with_a.len(),
        plain.len()
    );

    // A server that has A as its old dictionary opens it.
    let (opened, _) = ok(run(
        &["open", "--name", "sid", "--dict", b, "--dict", a],
        Some(&keys),
        &with_a,
    ));
    assert_eq!(serde_json::from_str::<Value>(&opened).unwrap(), session);

    // Without A: the error names the dictionary the value needs.
    for dicts in [vec![], vec!["--dict", b]] {
        let mut args = vec!["open", "--name", "sid"];
        args.extend_from_slice(&dicts);
        let err = fails(run(&args, Some(&keys), &with_a));
        assert!(err.contains(&format!("dictionary {id_a}")), "{err}");
        assert!(err.contains("does not have"), "{err}");
    }

    // The first --dict seals: a value sealed with `--dict B --dict A` opens
    // with B alone, and a value sealed without a dictionary opens anywhere.
    let (with_b, _) = ok(run(
        &["seal", "--name", "sid", "--dict", b, "--dict", a],
        Some(&keys),
        line,
    ));
    let (opened, _) = ok(run(
        &["open", "--name", "sid", "--dict", b],
        Some(&keys),
        &with_b,
    ));
    assert_eq!(serde_json::from_str::<Value>(&opened).unwrap(), session);
    let (opened, _) = ok(run(
        &["open", "--name", "sid", "--dict", a],
        Some(&keys),
        &plain,
    ));
    assert_eq!(serde_json::from_str::<Value>(&opened).unwrap(), session);

    // Set-Cookie output and Cookie header input carry the dictionary too.
    let (headers, _) = ok(run(
        &[
            "seal",
            "--name",
            "sid",
            "--dict",
            a,
            "--set-cookie",
            "--domain",
            "shop.test",
        ],
        Some(&keys),
        line,
    ));
    let pair = headers.split(';').next().unwrap();
    let (opened, _) = ok(run(
        &["open", "--name", "sid", "--cookie-header", "--dict", a],
        Some(&keys),
        &format!("theme=dark; {pair}"),
    ));
    assert_eq!(serde_json::from_str::<Value>(&opened).unwrap(), session);
}

#[test]
fn inspect_opens_with_the_dictionary_and_names_a_missing_one() {
    let dir = dir("inspect");
    let (a, _) = train(&dir, "a.dict", &half("typical", true), &[]);
    let a = path_str(&a);
    let id_a = id_of(Path::new(a));
    let keys = keys();
    let (value, _) = ok(run(
        &["seal", "--name", "sid", "--dict", a],
        Some(&keys),
        &tier("typical")[900],
    ));
    let (report, _) = ok(run(
        &["inspect", "--name", "sid", "--dict", a],
        Some(&keys),
        &value,
    ));
    assert!(report.contains("opens: yes"), "{report}");
    let (report, _) = ok(run(&["inspect", "--name", "sid"], Some(&keys), &value));
    let opens = report.lines().find(|l| l.starts_with("opens:")).unwrap();
    assert!(
        opens.starts_with("opens: no") && opens.contains(&format!("dictionary {id_a}")),
        "{report}"
    );
}

#[test]
fn dict_option_failures_follow_the_contract() {
    let dir = dir("dict-fail");
    let (a, _) = train(&dir, "a.dict", &half("typical", true), &[]);
    let a = path_str(&a);
    let keys = keys();
    let line = &tier("typical")[900];
    let err = fails(run(
        &["seal", "--name", "sid", "--dict", a, "--dict", a],
        Some(&keys),
        line,
    ));
    assert!(err.contains("listed twice"), "{err}");
    let err = fails(run(
        &["seal", "--name", "sid", "--signed", "--dict", a],
        Some(&keys),
        line,
    ));
    assert!(
        err.contains("--dict") && err.contains("never compressed"),
        "{err}"
    );
    let missing = dir.join("missing.dict");
    for command in ["seal", "open"] {
        let err = fails(run(
            &[command, "--name", "sid", "--dict", path_str(&missing)],
            Some(&keys),
            line,
        ));
        assert!(err.contains("missing.dict"), "{command}: {err}");
        let err = fails(run(
            &[command, "--name", "sid", "--dict"],
            Some(&keys),
            line,
        ));
        assert!(err.contains("--dict needs a value"), "{command}: {err}");
    }
    // --dict stays single in stats.
    let err = fails(run(
        &["dict", "stats", "--dict", a, "--dict", a],
        None,
        line,
    ));
    assert!(err.contains("given twice"), "{err}");
}

// ---------------------------------------------------------------- help

#[test]
fn help_describes_the_dictionary_commands() {
    let (top, _) = ok(run(&[], None, ""));
    assert!(
        top.contains("dict train") && top.contains("dict stats"),
        "{top}"
    );
    let (dict, _) = ok(run(&["dict", "--help"], None, ""));
    assert!(
        dict.contains("USAGE") && dict.contains("--size BYTES"),
        "{dict}"
    );
    assert_ne!(dict, top);
    assert_eq!(ok(run(&["help", "dict"], None, "")).0, dict);
    assert_eq!(ok(run(&["dict", "train", "--help"], None, "")).0, dict);
    for command in ["seal", "open", "inspect"] {
        let (help, _) = ok(run(&[command, "--help"], None, ""));
        assert!(help.contains("--dict FILE"), "{command}: {help}");
    }
}
