//! `dict train` and `dict stats`: compression dictionaries trained on the
//! deployment's own sessions, and the gain they bring, measured before
//! deploying them. Also loads the `--dict` files of `seal` and `open`.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

use sealed_session::{Codec, Dictionary, Error, Key, KeyRing, MAX_DICTIONARY_SIZE};
use serde_json::value::RawValue;

use crate::args::{Kind, Parsed, Spec};

/// Largest stdin of sample sessions: zstd's trainer wants about a hundred
/// times the dictionary size in samples; the bound keeps a wrong pipe from
/// filling memory.
pub const MAX_SAMPLES_INPUT: u64 = 256 * 1024 * 1024;

/// Dictionary size when `--size` is not given: large enough for the shared
/// structure of typical sessions, small enough to cost little memory per
/// codec.
const DEFAULT_SIZE: u64 = 16 * 1024;

/// Smallest `--size` accepted: below this zstd's trainer has no room for
/// its tables.
const MIN_SIZE: u64 = 256;

/// Cookie name `dict stats` measures with unless `--name` is given. Only its
/// length matters (the one-cookie limit counts name and value).
const STATS_NAME: &str = "session";

/// The `--dict FILE` options of `seal` and `open`, loaded in order: the first
/// one seals, all of them open.
pub fn load(opts: &Parsed) -> Result<Vec<Dictionary>, String> {
    opts.values("dict").into_iter().map(load_file).collect()
}

fn load_file(path: &str) -> Result<Dictionary, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read dictionary file {path}: {e}"))?;
    let mut bytes = Vec::new();
    // One byte over the maximum is enough for from_bytes to refuse the file
    // with its own message, without reading a huge file whole.
    file.take(MAX_DICTIONARY_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read dictionary file {path}: {e}"))?;
    Dictionary::from_bytes(&bytes).map_err(|e| format!("dictionary file {path}: {e}"))
}

/// The non-blank lines of JSON Lines input with their 1-based line numbers;
/// each must be one JSON document. Error messages name the line, never its
/// content (it is session data).
fn json_lines(input: &str) -> Result<Vec<(usize, &RawValue)>, String> {
    let mut sessions = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let number = index + 1;
        let raw: &RawValue = serde_json::from_str(line).map_err(|e| {
            format!(
                "stdin line {number} is not one JSON document (error at column {}): give one \
                 session per line (JSON Lines), as the application serializes it",
                e.column()
            )
        })?;
        sessions.push((number, raw));
    }
    if sessions.is_empty() {
        return Err("stdin has no sessions: pipe in JSON Lines, one session per line".to_owned());
    }
    Ok(sessions)
}

const TRAIN: Spec = Spec {
    command: "dict train",
    options: &[("out", Kind::Value), ("size", Kind::Value)],
};

/// `dict train`: reads JSON Lines on stdin, writes the dictionary to `--out`.
pub fn train(args: &[String]) -> Result<String, String> {
    let opts = TRAIN.parse(args)?;
    let out = opts.required("out")?;
    let size = opts.positive("size")?.unwrap_or(DEFAULT_SIZE);
    if !(MIN_SIZE..=MAX_DICTIONARY_SIZE as u64).contains(&size) {
        return Err(format!(
            "--size must be between {MIN_SIZE} and {MAX_DICTIONARY_SIZE} bytes, got {size}"
        ));
    }
    let input = crate::read_stdin_up_to(MAX_SAMPLES_INPUT)?;
    let sessions = json_lines(&input)?;
    // Train on the bytes exactly as given: key order and spacing are what
    // the application's own serializer writes, and what the codec compresses.
    let samples: Vec<&[u8]> = sessions.iter().map(|(_, s)| s.get().as_bytes()).collect();
    let sample_bytes: usize = samples.iter().map(|s| s.len()).sum();
    let bytes = Dictionary::train(&samples, usize::try_from(size).unwrap_or(usize::MAX))
        .map_err(|e| format!("training on {} samples failed: {e}", samples.len()))?;
    let dictionary = Dictionary::from_bytes(&bytes).map_err(|e| e.to_string())?;
    write_new(out, &bytes)?;
    // The summary goes to stderr so stdout stays empty (the dictionary is
    // in the file). Writing the file was the last step that can fail, so a
    // failure still leaves exactly one `error:` line on stderr.
    eprintln!(
        "trained dictionary {} ({} bytes) on {} samples ({sample_bytes} bytes of JSON), \
         written to {out}",
        dictionary.id(),
        bytes.len(),
        samples.len()
    );
    Ok(String::new())
}

/// Writes a new file; an existing one is never replaced, because a
/// dictionary in use must not change: its id would, and every session
/// naming the old one would stop opening.
fn write_new(path: &str, bytes: &[u8]) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => format!(
                "{path} exists and is not replaced: a dictionary in use must never change \
                 (sessions naming it would stop opening); give --out a new file name"
            ),
            _ => format!("cannot create {path}: {e}"),
        })?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        // Leave no truncated dictionary behind for someone to deploy.
        let _ = std::fs::remove_file(path);
        return Err(format!("cannot write {path}: {e}"));
    }
    Ok(())
}

const STATS: Spec = Spec {
    command: "dict stats",
    options: &[("dict", Kind::Value), ("name", Kind::Value)],
};

/// Sizes of one session, in bytes.
struct Sizes {
    line: usize,
    json: usize,
    without: usize,
    with: usize,
}

/// `dict stats`: the sealed size of every stdin session without and with the
/// dictionary, then totals and medians.
pub fn stats(args: &[String]) -> Result<String, String> {
    let opts = STATS.parse(args)?;
    let path = opts.required("dict")?;
    let name = opts.value("name").unwrap_or(STATS_NAME);
    let dictionary = load_file(path)?;
    let header = format!(
        "dictionary {} ({} bytes): sealed cookie value sizes in bytes, without and with it\n",
        dictionary.id(),
        dictionary.len()
    );
    // Sizes do not depend on the key: a throwaway one spares the operator
    // from handing the real keys to a measurement.
    let ring = Arc::new(KeyRing::from_keys([Key::generate()]).map_err(|e| e.to_string())?);
    let without = Codec::builder(name)
        .key_ring(Arc::clone(&ring))
        .build()
        .map_err(|e| e.to_string())?;
    let with = Codec::builder(name)
        .key_ring(ring)
        .dictionaries([dictionary])
        .build()
        .map_err(|e| e.to_string())?;
    let input = crate::read_stdin_up_to(MAX_SAMPLES_INPUT)?;
    let mut rows = Vec::new();
    for (line, session) in json_lines(&input)? {
        rows.push(Sizes {
            line,
            json: session.get().len(),
            without: sealed_len(&without, session, line)?,
            with: sealed_len(&with, session, line)?,
        });
    }
    Ok(report(&header, &rows, name.len()))
}

/// Length of the sealed value, also when it is over the one-cookie limit
/// (the error states the size of name and value).
fn sealed_len(codec: &Codec, session: &RawValue, line: usize) -> Result<usize, String> {
    match codec.seal(session) {
        Ok(value) => Ok(value.len()),
        Err(Error::TooLarge { size, .. }) => Ok(size.saturating_sub(codec.name().len())),
        Err(e) => Err(format!("stdin line {line}: {e}")),
    }
}

fn report(header: &str, rows: &[Sizes], name_len: usize) -> String {
    // The browser limit counts name and value: 4096 bytes.
    let fits = |value: usize| name_len + value <= 4096;
    let mut out = header.to_owned();
    out.push_str(&format!(
        "{:>6} {:>7} {:>8} {:>8} {:>13}\n",
        "line", "json", "without", "with", "with/without"
    ));
    for r in rows {
        let mark = |v: usize| if fits(v) { ' ' } else { '*' };
        out.push_str(&format!(
            "{:>6} {:>7} {:>8}{} {:>7}{} {:>13.3}\n",
            r.line,
            r.json,
            r.without,
            mark(r.without),
            r.with,
            mark(r.with),
            ratio(r.with, r.without)
        ));
    }
    let total = |f: fn(&Sizes) -> usize| rows.iter().map(f).sum::<usize>();
    let (json, without, with) = (total(|r| r.json), total(|r| r.without), total(|r| r.with));
    let smaller = rows.iter().filter(|r| r.with < r.without).count();
    let over = |f: fn(&Sizes) -> usize| rows.iter().filter(|r| !fits(f(r))).count();
    let median_of = |f: fn(&Sizes) -> usize| median(rows.iter().map(f).collect());
    let (m_json, m_without, m_with) = (
        median_of(|r| r.json),
        median_of(|r| r.without),
        median_of(|r| r.with),
    );
    out.push_str(&format!(
        "sessions: {}, the dictionary makes {smaller} of them smaller\n\
         total: json {json}, without {without}, with {with} ({:.3} of without, {:.3} of json)\n\
         median: json {m_json}, without {m_without}, with {m_with} ({:.3} of without, {:.3} of json)\n\
         over the 4096-byte cookie limit (marked *): {} without, {} with\n",
        rows.len(),
        ratio(with, without),
        ratio(with, json),
        ratio(m_with, m_without),
        ratio(m_with, m_json),
        over(|r| r.without),
        over(|r| r.with),
    ));
    out
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The median, rounded down between the two middle values of an even count.
fn median(mut values: Vec<usize>) -> usize {
    values.sort_unstable();
    let mid = values.len() / 2;
    match (values.len() % 2, values.get(mid), mid.checked_sub(1)) {
        (1, Some(&m), _) => m,
        (_, Some(&high), Some(low)) => values.get(low).map_or(high, |&low| (low + high) / 2),
        _ => 0,
    }
}
