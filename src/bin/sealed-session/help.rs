//! The `--help` texts, one per command.

pub const TOP: &str = "\
sealed-session: signed and encrypted cookie sessions, for operators

USAGE:
    sealed-session keygen
    sealed-session seal --name NAME [--max-age SECONDS] [--signed] [--dict FILE]...
                        < session.json
    sealed-session open --name NAME [--signed] [--cookie-header] [--dict FILE]... < value
    sealed-session inspect [--name NAME] < value
    sealed-session keys check [--keys-file PATH]
    sealed-session dict train --out FILE [--size BYTES] < sessions.jsonl
    sealed-session dict stats --dict FILE [--name NAME] < sessions.jsonl
    sealed-session revoke --redis URL --session ID [--at TIME]
    sealed-session revoke --redis URL --subject SUBJECT [--before TIME]

KEYS:
    seal, open, inspect and `keys check` read the key ring from --keys-file PATH,
    or else from the environment variable SEALED_SESSION_KEYS: comma-separated
    base64url keys, the first one seals, all of them open. A key file holds one
    entry per line: `primary KEY`, `active KEY`, `retired KEY until TIME`,
    `revoked KEY`, or a bare KEY (primary if first, active otherwise); `#` starts
    a comment. A file starting with `{` is read as JSON:
    {\"keys\": [{\"key\": \"...\", \"state\": \"primary\"}, ...]}.

DICTIONARIES:
    A zstd dictionary trained on the application's own sessions (`dict train`)
    shrinks sealed values; `dict stats` shows by how much before deploying it.
    Like keys, --dict FILE may be repeated: the first one seals, all of them
    open. A value names its dictionary, so keep an old dictionary until every
    session sealed with it has expired.

REVOCATION:
    `revoke` writes a revocation to the Redis that the servers follow (feature
    `redis` of the library, RedisRevocations) and publishes it: every server
    refuses the session, or every session of the subject, within moments.

EXIT STATUS:
    0 on success. 1 on any failure: nothing on stdout, one `error:` line on stderr.

Run `sealed-session COMMAND --help` for the options of one command.
";

const KEYGEN: &str = "\
sealed-session keygen: print one new random key

USAGE:
    sealed-session keygen

Prints 32 random bytes from the operating system as unpadded base64url (43
characters) and a newline. Treat the output as a secret.
";

const SEAL: &str = "\
sealed-session seal: seal a JSON session into a cookie value

USAGE:
    sealed-session seal --name NAME [--max-age SECONDS] [--signed] [--keys-file PATH]
                        [--dict FILE]...
    sealed-session seal --name NAME --set-cookie --domain DOMAIN [--path PATH]
                        [--same-site lax|strict|none] [--chunks N] ...

Reads one JSON document on stdin and prints the sealed cookie value on one line,
sealed under the primary key (the first key of SEALED_SESSION_KEYS).

OPTIONS:
    --name NAME         cookie name; the value opens only under this name (required)
    --max-age SECONDS   sealed lifetime (default 86400, one day)
    --signed            signed-only value: the page's script can read the JSON
                        (never for secrets)
    --keys-file PATH    key ring file instead of SEALED_SESSION_KEYS
    --set-cookie        print whole Set-Cookie header values, one per line
    --domain DOMAIN     with --set-cookie: the parent domain sharing the cookie
                        (required with --set-cookie)
    --path PATH         with --set-cookie: cookie path (default /)
    --same-site MODE    with --set-cookie: lax (default), strict or none
    --chunks N          with --set-cookie: split a large session over at most N
                        cookies (default 1: no chunking)
    --dict FILE         compression dictionary (from `dict train`); repeatable,
                        the first one compresses. The value names it, and
                        plain compression is used instead when that is smaller

A session too large for one cookie fails with an error stating its size and the
limit, unless --chunks allows enough cookies.
";

const OPEN: &str = "\
sealed-session open: open a sealed cookie value and print its JSON

USAGE:
    sealed-session open --name NAME [--signed] [--keys-file PATH] [--dict FILE]...
    sealed-session open --name NAME --cookie-header [--chunks N] ...

Reads one sealed value on stdin (a trailing newline is ignored) and prints the
JSON document. Any key of the ring that is not revoked or past its deadline
opens it. On failure nothing is printed on stdout, one line starting with
`error:` names the reason on stderr, and the exit status is 1.

OPTIONS:
    --name NAME         cookie name the value was sealed for (required)
    --signed            the value is signed-only (sealed with seal --signed)
    --cookie-header     stdin is a whole Cookie request header
                        (`a=1; NAME=...; NAME.1=...`), not a bare value
    --chunks N          with --cookie-header: the most cookies one session may
                        span (default 16, the crate's maximum)
    --keys-file PATH    key ring file instead of SEALED_SESSION_KEYS
    --dict FILE         compression dictionary; repeatable, any of them opens a
                        value that names it. A value naming a dictionary not
                        given fails with `unknown dictionary` and its id
";

const INSPECT: &str = "\
sealed-session inspect: show what is known about a cookie value

USAGE:
    sealed-session inspect [--name NAME] [--keys-file PATH] [--dict FILE]... < value

Without keys, prints what anyone can read: format version, key id and length
(and, for signed-only values, the unverified times). With keys (SEALED_SESSION_KEYS
or --keys-file), also the state of the key it names; with --name as well, whether
it opens, issued-at, expires-at, whether it should be re-sealed, and its identity:
session id, created-at, origin key (the key it was created under) and subject.
Never prints the session itself.

OPTIONS:
    --name NAME         cookie name, needed to authenticate the value
    --keys-file PATH    key ring file instead of SEALED_SESSION_KEYS
    --dict FILE         compression dictionaries to open it with (repeatable);
                        without the one it names, `opens: no` names its id
";

const KEYS: &str = "\
sealed-session keys check: validate a key ring

USAGE:
    sealed-session keys check [--keys-file PATH]

Validates the key ring from --keys-file PATH or SEALED_SESSION_KEYS (exactly one
primary key, no key twice, every key 32 bytes of base64url) and prints each key's
origin, id and state. Never prints key material. Exit status 1 with an `error:`
line naming the faulty line if the ring is invalid.
";

const DICT: &str = "\
sealed-session dict: train a compression dictionary and measure its gain

USAGE:
    sealed-session dict train --out FILE [--size BYTES] < sessions.jsonl
    sealed-session dict stats --dict FILE [--name NAME] < sessions.jsonl

Both read sample sessions on stdin as JSON Lines: one session per line, exactly
as the application serializes it (a few hundred to a few thousand, taken from
the deployment's own traffic; a dictionary trained on other data makes values
larger, and sealing then falls back to plain compression).

`dict train` writes the dictionary to FILE, which must not exist yet (a
dictionary in use must never change), and prints on stderr the number of
samples and the dictionary id (8 hex digits, written into every value sealed
with it). Nothing goes to stdout.

`dict stats` seals every session without and with the dictionary (under a
throwaway key) and prints, per line, the JSON size and both sealed value sizes,
then the totals, the medians and how many values exceed the 4096-byte cookie
limit. Measure on sessions that were not in the training sample.

OPTIONS:
    --out FILE          train: where to write the dictionary (required)
    --size BYTES        train: the largest dictionary size (default 16384,
                        between 256 and 1048576)
    --dict FILE         stats: the dictionary to measure (required)
    --name NAME         stats: cookie name counted in the cookie limit
                        (default session)

Deploy a new dictionary like a new key: add it after the current one on every
server (`--dict CURRENT --dict NEW`), then make it first, and drop the old one
only after the longest session lifetime has passed.
";

const REVOKE: &str = "\
sealed-session revoke: revoke sessions on every server, through Redis

USAGE:
    sealed-session revoke --redis URL --session ID [--at TIME] [--prefix PREFIX]
    sealed-session revoke --redis URL --subject SUBJECT [--before TIME] [--prefix PREFIX]

Writes the revocation to Redis (sorted sets PREFIX:revoked-sessions and
PREFIX:revoked-subjects) and publishes it on PREFIX:revocations, where every
server running RedisRevocations with the same prefix applies it; a server that
is disconnected loads it when it reconnects. Exit status 0 once it is written
and published. The arguments are checked before Redis is contacted; if Redis
cannot be reached, nothing is written and the exit status is 1.

OPTIONS:
    --redis URL         redis://[:PASSWORD@]HOST[:PORT][/DB]; or set
                        SEALED_SESSION_REDIS, which keeps a password out of the
                        process list (--redis wins)
    --session ID        revoke one session: its id, 32 hex digits
    --at TIME           with --session: revoked from this time, Unix seconds
                        (default now)
    --subject SUBJECT   revoke every session of this subject (the application's
                        user id, 1 to 64 bytes), e.g. after a password change
    --before TIME       with --subject: sessions created before this time, Unix
                        seconds, are revoked (default now); a sign-in after it
                        is not
    --prefix PREFIX     key prefix the servers use (default sealed-session)
";

/// The help for `command`, or the overview.
pub fn for_command(command: Option<&str>) -> String {
    match command {
        Some("keygen") => KEYGEN,
        Some("seal") => SEAL,
        Some("open") => OPEN,
        Some("inspect") => INSPECT,
        Some("keys") => KEYS,
        Some("dict") => DICT,
        Some("revoke") => REVOKE,
        _ => TOP,
    }
    .to_owned()
}
