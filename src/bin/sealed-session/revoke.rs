//! `sealed-session revoke`: writes one revocation to Redis and publishes it,
//! so every server following the same key prefix refuses the session(s)
//! within moments. The arguments are checked before Redis is contacted.

use sealed_session::{RedisOptions, RedisRevocations, Revocation, SessionId, MAX_REVOCATION_TIME};

use crate::args::{Kind, Parsed, Spec};
use crate::time;

/// Environment variable holding the Redis URL (keeps a password out of the
/// process list); `--redis` wins.
pub const REDIS_VAR: &str = "SEALED_SESSION_REDIS";

const REVOKE: Spec = Spec {
    command: "revoke",
    options: &[
        ("redis", Kind::Value),
        ("session", Kind::Value),
        ("subject", Kind::Value),
        ("at", Kind::Value),
        ("before", Kind::Value),
        ("prefix", Kind::Value),
    ],
};

pub fn revoke(args: &[String]) -> Result<String, String> {
    let opts = REVOKE.parse(args)?;
    let revocation = match (opts.value("session"), opts.value("subject")) {
        (Some(id), None) => {
            if opts.value("before").is_some() {
                return Err(
                    "--before goes with --subject; a session is revoked from --at TIME".to_owned(),
                );
            }
            let id: SessionId = id.parse().map_err(|_| {
                "--session takes a session id: 32 hex digits, as the application logs it".to_owned()
            })?;
            Revocation::Session {
                id,
                at: time_option(&opts, "at")?,
            }
        }
        (None, Some(subject)) => {
            if opts.value("at").is_some() {
                return Err(
                    "--at goes with --session; a subject's sessions are revoked with --before TIME"
                        .to_owned(),
                );
            }
            Revocation::Subject {
                subject: subject.to_owned(),
                before: time_option(&opts, "before")?,
            }
        }
        (Some(_), Some(_)) => {
            return Err(
                "give --session ID or --subject SUBJECT, not both: run `revoke` once for each"
                    .to_owned(),
            )
        }
        (None, None) => {
            return Err(
                "`revoke` needs --session ID (one session) or --subject SUBJECT (every session \
                 of that subject); see `sealed-session revoke --help`"
                    .to_owned(),
            )
        }
    };
    let url = match opts.value("redis") {
        Some(url) => url.to_owned(),
        None => std::env::var(REDIS_VAR)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!(
                    "`revoke` needs --redis URL (or {REDIS_VAR}): the Redis the servers follow, \
                     for example redis://127.0.0.1:6379/"
                )
            })?,
    };
    let mut options = RedisOptions::new();
    if let Some(prefix) = opts.value("prefix") {
        options = options.key_prefix(prefix);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    runtime
        .block_on(RedisRevocations::revoke_once(&url, &options, &revocation))
        .map_err(|e| e.to_string())?;
    Ok(match revocation {
        Revocation::Session { id, at } => {
            format!("revoked session {id} from {}\n", time::describe(at))
        }
        Revocation::Subject { before, .. } => format!(
            "revoked every session of the subject created before {}\n",
            time::describe(before)
        ),
        // Revocation is non-exhaustive; only the two kinds above are built here.
        _ => "revoked\n".to_owned(),
    })
}

/// `--at` or `--before`: Unix seconds, now when not given.
fn time_option(opts: &Parsed, name: &str) -> Result<u64, String> {
    match opts.value(name) {
        None => Ok(time::now()),
        Some(text) => match text.parse::<u64>() {
            Ok(t) if t <= MAX_REVOCATION_TIME && text.bytes().all(|b| b.is_ascii_digit()) => Ok(t),
            _ => Err(format!(
                "--{name} is a time in Unix seconds (for example {}), got {text:?}",
                time::now()
            )),
        },
    }
}
