//! `sealed-session`: the operator's command-line tool. Generates keys, seals
//! and opens session cookie values, inspects them, checks key rings,
//! trains and measures compression dictionaries, and revokes sessions
//! through Redis.
//!
//! Every command prints its result on stdout only when it succeeds; on any
//! failure stdout stays empty, stderr gets exactly one line starting with
//! `error:`, and the exit status is 1. Keys come from `--keys-file PATH` or
//! the environment variable `SEALED_SESSION_KEYS` (the file wins when both
//! are given).

#![forbid(unsafe_code)]

mod args;
mod dict;
mod help;
mod revoke;
mod time;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use sealed_session::{
    inspect, Codec, Error, Identity, Key, KeyRing, KeyRingConfig, KeyState, Mode, Reseal, SameSite,
    MAX_CHUNKS,
};

use args::{Kind, Parsed, Spec};

/// Environment variable holding the key ring (text form: comma-separated
/// keys, the sealing key first).
const KEYS_VAR: &str = "SEALED_SESSION_KEYS";

/// Largest stdin accepted: a session is far below this; the bound keeps a
/// mistaken pipe (a log file, a disk image) from filling memory.
const MAX_INPUT: u64 = 1024 * 1024;

fn main() -> ExitCode {
    let mut argv = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => argv.push(arg),
            Err(_) => return fail("arguments must be valid UTF-8"),
        }
    }
    match run(&argv) {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(output.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return fail("cannot write to stdout");
            }
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message),
    }
}

/// Prints the one `error:` line: scripts rely on a single line.
fn fail(message: &str) -> ExitCode {
    let line = message.replace(['\n', '\r'], " ");
    eprintln!("error: {line}");
    ExitCode::FAILURE
}

/// Runs a command and returns what it prints on success.
fn run(argv: &[String]) -> Result<String, String> {
    let wants_help = argv.iter().any(|a| a == "--help" || a == "-h");
    let (command, rest) = match argv.split_first() {
        None => return Ok(help::TOP.to_owned()),
        Some((command, rest)) => (command.as_str(), rest),
    };
    match command {
        "help" | "--help" | "-h" => Ok(help::for_command(rest.first().map(String::as_str))),
        "--version" | "-V" => Ok(format!("sealed-session {}\n", env!("CARGO_PKG_VERSION"))),
        _ if wants_help => Ok(help::for_command(Some(command))),
        "keygen" => keygen(rest),
        "seal" => seal(rest),
        "open" => open(rest),
        "inspect" => inspect_command(rest),
        "revoke" => revoke::revoke(rest),
        "keys" => match rest.split_first() {
            Some((sub, rest)) if sub == "check" => keys_check(rest),
            _ => Err("`keys` needs a subcommand: `sealed-session keys check`".to_owned()),
        },
        "dict" => match rest.split_first() {
            Some((sub, rest)) if sub == "train" => dict::train(rest),
            Some((sub, rest)) if sub == "stats" => dict::stats(rest),
            _ => Err(
                "`dict` needs a subcommand: `sealed-session dict train` or `sealed-session dict stats`"
                    .to_owned(),
            ),
        },
        other => Err(format!(
            "unknown command {other:?}; the commands are keygen, seal, open, inspect, \
             `keys check`, `dict train`, `dict stats` and revoke (see `sealed-session --help`)"
        )),
    }
}

fn keygen(args: &[String]) -> Result<String, String> {
    Spec {
        command: "keygen",
        options: &[],
    }
    .parse(args)?;
    Ok(format!("{}\n", Key::generate().to_base64url()))
}

const SEAL: Spec = Spec {
    command: "seal",
    options: &[
        ("name", Kind::Value),
        ("max-age", Kind::Value),
        ("signed", Kind::Flag),
        ("keys-file", Kind::Value),
        ("set-cookie", Kind::Flag),
        ("domain", Kind::Value),
        ("path", Kind::Value),
        ("same-site", Kind::Value),
        ("chunks", Kind::Value),
        ("dict", Kind::Repeated),
    ],
};

fn seal(args: &[String]) -> Result<String, String> {
    let opts = SEAL.parse(args)?;
    let name = opts.required("name")?;
    let input = read_stdin()?;
    let session: serde_json::Value = serde_json::from_str(&input).map_err(|e| {
        format!(
            "stdin is not one JSON document (error at line {}, column {}); pipe the session \
             JSON in, for example: echo '{{\"user\":42}}' | sealed-session seal --name {name}",
            e.line(),
            e.column()
        )
    })?;
    let set_cookie = opts.flag("set-cookie");
    for cookie_only in ["domain", "path", "same-site", "chunks"] {
        if !set_cookie && opts.value(cookie_only).is_some() {
            return Err(format!(
                "--{cookie_only} applies to Set-Cookie output: add --set-cookie --domain DOMAIN"
            ));
        }
    }
    let dictionaries = dictionaries(&opts)?;
    let ring = load_ring(&opts)?.ok_or_else(no_keys)?;
    let mut builder = Codec::builder(name)
        .key_ring(ring)
        .mode(mode(&opts))
        .dictionaries(dictionaries);
    if let Some(seconds) = opts.positive("max-age")? {
        builder = builder.max_age(Duration::from_secs(seconds));
    }
    if !set_cookie {
        let codec = builder.build().map_err(|e| e.to_string())?;
        let value = codec.seal(&session).map_err(|e| e.to_string())?;
        return Ok(format!("{value}\n"));
    }
    let domain = opts.value("domain").ok_or_else(|| {
        "--set-cookie needs --domain DOMAIN, the parent domain that shares the cookie \
         (for example shop.example.com)"
            .to_owned()
    })?;
    builder = builder.domain(domain);
    if let Some(path) = opts.value("path") {
        builder = builder.path(path);
    }
    if let Some(same_site) = opts.value("same-site") {
        builder = builder.same_site(parse_same_site(same_site)?);
    }
    if let Some(chunks) = opts.positive("chunks")? {
        builder = builder.max_chunks(usize::try_from(chunks).unwrap_or(usize::MAX));
    }
    let codec = builder.build().map_err(|e| e.to_string())?;
    let cookies = codec.encode(&session).map_err(|e| e.to_string())?;
    let mut out = String::new();
    for header in &cookies {
        out.push_str(header);
        out.push('\n');
    }
    Ok(out)
}

fn parse_same_site(text: &str) -> Result<SameSite, String> {
    match text.to_ascii_lowercase().as_str() {
        "lax" => Ok(SameSite::Lax),
        "strict" => Ok(SameSite::Strict),
        "none" => Ok(SameSite::None),
        _ => Err(format!("--same-site is lax, strict or none, got {text:?}")),
    }
}

const OPEN: Spec = Spec {
    command: "open",
    options: &[
        ("name", Kind::Value),
        ("signed", Kind::Flag),
        ("keys-file", Kind::Value),
        ("cookie-header", Kind::Flag),
        ("chunks", Kind::Value),
        ("dict", Kind::Repeated),
    ],
};

fn open(args: &[String]) -> Result<String, String> {
    let opts = OPEN.parse(args)?;
    let name = opts.required("name")?;
    let cookie_header = opts.flag("cookie-header");
    if !cookie_header && opts.value("chunks").is_some() {
        return Err("--chunks applies to --cookie-header input".to_owned());
    }
    let dictionaries = dictionaries(&opts)?;
    let ring = load_ring(&opts)?.ok_or_else(no_keys)?;
    let mut builder = Codec::builder(name)
        .key_ring(ring)
        .mode(mode(&opts))
        .dictionaries(dictionaries);
    if cookie_header {
        // A header may carry a chunked session: accept as many chunks as the
        // sealing side may write unless told otherwise.
        let chunks = opts
            .positive("chunks")?
            .map_or(MAX_CHUNKS, |n| usize::try_from(n).unwrap_or(usize::MAX));
        builder = builder.max_chunks(chunks);
    }
    let codec = builder.build().map_err(|e| e.to_string())?;
    let input = read_stdin()?;
    let input = input.trim_end();
    let opened = if cookie_header {
        codec.decode::<serde_json::Value>(input)
    } else {
        codec.open::<serde_json::Value>(input)
    }
    .map_err(|e| e.to_string())?;
    let json = serde_json::to_string(&opened.session).map_err(|e| e.to_string())?;
    Ok(format!("{json}\n"))
}

const INSPECT: Spec = Spec {
    command: "inspect",
    options: &[
        ("name", Kind::Value),
        ("keys-file", Kind::Value),
        ("dict", Kind::Repeated),
    ],
};

fn inspect_command(args: &[String]) -> Result<String, String> {
    let opts = INSPECT.parse(args)?;
    let dictionaries = dict::load(&opts)?;
    let input = read_stdin()?;
    let value = input.trim_end();
    let info = inspect(value).map_err(|e| e.to_string())?;
    let mode_name = match info.mode {
        Mode::SignedOnly => "signed-only, HMAC-SHA256, readable",
        _ => "sealed, XAES-256-GCM",
    };
    let mut out = format!(
        "version: {} ({mode_name})\nkey id: {}\nlength: {} characters, {} bytes decoded\n",
        info.version, info.key_id, info.text_len, info.sealed_len
    );
    if let (Some(issued), Some(expires)) = (info.issued_at, info.expires_at) {
        out.push_str(&format!(
            "issued at (unverified): {}\nexpires at (unverified): {}\n",
            time::describe(issued),
            time::describe(expires)
        ));
    }
    let Some(ring) = load_ring(&opts)? else {
        out.push_str(&format!(
            "keys: none given (set {KEYS_VAR} or --keys-file to see which key opens it)\n"
        ));
        return Ok(out);
    };
    let now = time::now();
    match ring.state_of(info.key_id) {
        None => out.push_str("key state: not in the key ring (opens: no)\n"),
        Some(state) => out.push_str(&format!("key state: {}\n", describe_state(state, now))),
    }
    let Some(name) = opts.value("name") else {
        out.push_str("opens: not checked (give --name NAME: the cookie name is authenticated)\n");
        return Ok(out);
    };
    if ring.state_of(info.key_id).is_none() {
        return Ok(out);
    }
    let codec = Codec::builder(name)
        .key_ring(ring)
        .mode(info.mode)
        .dictionaries(dictionaries)
        .build()
        .map_err(|e| e.to_string())?;
    match codec.open::<serde_json::Value>(value) {
        Ok(opened) => {
            let reseal = match opened.reseal {
                None => "no",
                Some(Reseal::NotPrimaryKey) => "yes (sealed under a key that is not primary)",
                Some(Reseal::Refresh) => "yes (past the refresh share of its lifetime)",
                Some(Reseal::AddIdentity) => "yes (sealed without a session identity)",
                Some(_) => "yes",
            };
            out.push_str(&format!(
                "opens: yes, with key {}\nissued at: {}\nexpires at: {}\nreseal: {reseal}\n",
                opened.key_id,
                time::describe(opened.issued_at),
                time::describe(opened.expires_at)
            ));
            out.push_str(&describe_identity(opened.identity.as_ref(), info.mode));
        }
        Err(err) => out.push_str(&format!("opens: no ({})\n", open_failure(&err))),
    }
    Ok(out)
}

/// The identity lines of the inspect report: what an operator needs to
/// revoke the session (its id, its subject) or to see which key it
/// depends on (its origin).
fn describe_identity(identity: Option<&Identity>, mode: Mode) -> String {
    let Some(identity) = identity else {
        return match mode {
            Mode::SignedOnly => "session id: none (signed-only values carry no identity)\n",
            _ => "session id: none (sealed before identities were written; a re-seal adds one)\n",
        }
        .to_owned();
    };
    // Any UTF-8 the application chose: escaped, so it stays on its line.
    let subject = identity
        .subject
        .as_deref()
        .map_or_else(|| "none".to_owned(), |s| s.escape_debug().to_string());
    let bound = if identity.bound {
        "yes (opens on a request only with its bound cookie)"
    } else {
        "no"
    };
    format!(
        "session id: {}\ncreated at: {}\norigin key: {}\nsubject: {subject}\n\
         bound to a device: {bound}\n",
        identity.session_id,
        time::describe(identity.created_at),
        identity.origin_key
    )
}

/// Why a value does not open, shortened for the inspect report.
fn open_failure(err: &Error) -> String {
    match err {
        Error::Expired { expired_at, .. } => format!("expired at {}", time::describe(*expired_at)),
        Error::LifetimeEnded { created_at, .. } => format!(
            "its absolute lifetime has ended: created at {}",
            time::describe(*created_at)
        ),
        other => other.to_string(),
    }
}

const KEYS_CHECK: Spec = Spec {
    command: "keys check",
    options: &[("keys-file", Kind::Value)],
};

fn keys_check(args: &[String]) -> Result<String, String> {
    let opts = KEYS_CHECK.parse(args)?;
    let (config, source) = load_config(&opts)?.ok_or_else(no_keys)?;
    let ring = config.build().map_err(|e| e.to_string())?;
    let now = time::now();
    let plural = if ring.len() == 1 { "" } else { "s" };
    let mut out = format!("{source}: {} key{plural}, valid\n", ring.len());
    // The header names the source once; each line names the line or entry.
    let local = |origin: &str| -> String {
        origin
            .strip_prefix(source.as_str())
            .unwrap_or(origin)
            .trim_start()
            .to_owned()
    };
    let width = config
        .keys()
        .map(|(o, _, _)| local(o).len())
        .max()
        .unwrap_or(0);
    for (origin, id, state) in config.keys() {
        let origin = local(origin);
        out.push_str(&format!(
            "{origin:<width$}  {id}  {}\n",
            describe_state(state, now)
        ));
    }
    Ok(out)
}

fn describe_state(state: KeyState, now: u64) -> String {
    match state {
        KeyState::Primary => "primary (seals and opens)".to_owned(),
        KeyState::Active => "active (opens)".to_owned(),
        KeyState::Retired { until } if now < until => {
            format!("retired, opens until {}", time::describe(until))
        }
        KeyState::Retired { until } => format!(
            "retired, deadline {} has passed: opens nothing, remove it",
            time::describe(until)
        ),
        KeyState::Revoked => "revoked (opens nothing)".to_owned(),
        other => other.to_string(),
    }
}

/// The `--dict` files of `seal` or `open`. Signed-only values are never
/// compressed, so a dictionary there is a mistake worth reporting.
fn dictionaries(opts: &Parsed) -> Result<Vec<sealed_session::Dictionary>, String> {
    if opts.flag("signed") && !opts.values("dict").is_empty() {
        return Err(
            "--dict applies to sealed values; signed-only values (--signed) are never compressed"
                .to_owned(),
        );
    }
    dict::load(opts)
}

fn mode(opts: &Parsed) -> Mode {
    if opts.flag("signed") {
        Mode::SignedOnly
    } else {
        Mode::Sealed
    }
}

fn no_keys() -> String {
    format!(
        "no keys: set {KEYS_VAR} to comma-separated base64url keys (the first one seals) or \
         give --keys-file PATH; generate a key with `sealed-session keygen`"
    )
}

/// The configured ring and where it came from: `--keys-file` wins over the
/// environment variable; `None` when neither is given.
fn load_config(opts: &Parsed) -> Result<Option<(KeyRingConfig, String)>, String> {
    if let Some(path) = opts.value("keys-file") {
        let config = KeyRingConfig::from_file(path).map_err(|e| e.to_string())?;
        return Ok(Some((config, path.to_owned())));
    }
    match std::env::var_os(KEYS_VAR) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(_) => {
            let config = KeyRingConfig::from_env(KEYS_VAR).map_err(|e| e.to_string())?;
            Ok(Some((config, KEYS_VAR.to_owned())))
        }
    }
}

fn load_ring(opts: &Parsed) -> Result<Option<KeyRing>, String> {
    match load_config(opts)? {
        None => Ok(None),
        Some((config, _)) => config.build().map(Some).map_err(|e| e.to_string()),
    }
}

fn read_stdin() -> Result<String, String> {
    read_stdin_up_to(MAX_INPUT)
}

/// Reads stdin as UTF-8, refusing more than `limit` bytes.
fn read_stdin_up_to(limit: u64) -> Result<String, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(if limit == MAX_INPUT {
            format!("stdin is larger than {limit} bytes: pipe in one session or one cookie value")
        } else {
            format!("stdin is larger than {limit} bytes: pipe in fewer sample sessions")
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| "stdin is not valid UTF-8".to_owned())?;
    if text.trim().is_empty() {
        return Err("stdin is empty: pipe the input in".to_owned());
    }
    Ok(text)
}
