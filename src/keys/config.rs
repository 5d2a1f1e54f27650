//! Key ring configuration that operators keep outside the code: a line-based
//! text form (for an environment variable or a file) and a JSON form
//! (serde-loadable, so it can sit inside a larger configuration file).
//!
//! Text form, one grammar for variables and files:
//!
//! ```text
//! # entries are separated by newlines or commas; `#` starts a comment
//! primary  KEY
//! active   KEY
//! retired  KEY until 2027-01-01T00:00:00Z     # or Unix seconds
//! revoked  KEY
//! KEY                                          # bare: primary if first, else active
//! ```
//!
//! So `SEALED_SESSION_KEYS=K1,K2` means K1 seals and both open.
//!
//! Every error names the line or entry and the problem, never the key
//! material: a configuration error may end up in a log.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::derivation::derive_key;
use crate::keys::key::{Key, KeyId};
use crate::keys::ring::{KeyRing, KeyState};

/// The keys of a ring with their states, as an operator configured them,
/// before validation into a [`KeyRing`].
///
/// Load it from text ([`KeyRingConfig::from_text`]), JSON
/// ([`KeyRingConfig::from_json`]), an environment variable or a file, or
/// deserialize it with serde as part of a larger configuration: from the
/// JSON form, or from a string in the text form (`"K1,K2"`). Deserialization
/// errors name the entry and the problem and never quote a value. Each key is
/// checked (32 bytes of base64url) while loading; the ring rules (exactly
/// one primary, no key twice) are checked by [`KeyRingConfig::build`].
/// Its `Debug` output shows key ids and states only; serializing it writes
/// the keys themselves (that is its purpose), so treat serialized output as
/// a secret.
///
/// The JSON form:
///
/// ```
/// use sealed_session::KeyRingConfig;
/// let json = r#"{"keys": [
///     {"key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", "state": "primary"},
///     {"key": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI", "state": "retired",
///      "until": 1767225600}
/// ]}"#;
/// let config: KeyRingConfig = serde_json::from_str(json).expect("valid");
/// let ring = config.build()?;
/// assert_eq!(ring.len(), 2);
///
/// // The text form, as a string value of a larger configuration.
/// let text = r#""AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE,AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI""#;
/// let config: KeyRingConfig = serde_json::from_str(text).expect("valid");
/// assert_eq!(config.build()?.len(), 2);
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct KeyRingConfig {
    entries: Vec<ConfiguredKey>,
}

/// One configured key; `origin` ("line 3", "entry 2") names it in errors.
#[derive(Clone)]
struct ConfiguredKey {
    /// Boxed: a growing list of entries moves the pointer, never the key.
    key: Box<Key>,
    state: KeyState,
    origin: String,
}

impl KeyRingConfig {
    /// An empty configuration; add keys with [`KeyRingConfig::with_key`].
    ///
    /// ```
    /// let config = sealed_session::KeyRingConfig::new();
    /// assert!(config.build().is_err(), "no primary key");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key with its state.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRingConfig, KeyState};
    /// let ring = KeyRingConfig::new()
    ///     .with_key(Key::generate(), KeyState::Primary)
    ///     .with_key(Key::generate(), KeyState::Retired { until: 1_767_225_600 })
    ///     .build()?;
    /// assert_eq!(ring.len(), 2);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn with_key(mut self, key: Key, state: KeyState) -> Self {
        let origin = format!("entry {}", self.entries.len() + 1);
        self.entries.push(ConfiguredKey {
            key: Box::new(key),
            state,
            origin,
        });
        self
    }

    /// Parses the text form (see the module documentation): entries separated
    /// by newlines or commas, `#` comments, `STATE KEY`, `retired KEY until
    /// TIME`, or a bare key (primary if it is the first entry, else active).
    ///
    /// ```
    /// use sealed_session::{KeyRingConfig, KeyState};
    /// let text = "
    ///     primary AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE   # since 2026-11-01
    ///     retired AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI until 2027-01-01T00:00:00Z
    /// ";
    /// let config = KeyRingConfig::from_text(text)?;
    /// let states: Vec<KeyState> = config.keys().map(|(_, _, s)| s).collect();
    /// assert_eq!(states, [KeyState::Primary, KeyState::Retired { until: 1_798_761_600 }]);
    ///
    /// let err = KeyRingConfig::from_text("primary AQEB\n").unwrap_err();
    /// assert!(err.to_string().contains("line 1"));
    /// assert!(!err.to_string().contains("AQEB"), "never the key material");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_text(text: &str) -> Result<Self> {
        parse_text(text, None)
    }

    /// Parses the JSON form `{"keys": [{"key": "...", "state": "primary"},
    /// {"key": "...", "state": "retired", "until": 1767225600}]}`. `until`
    /// is Unix seconds or `YYYY-MM-DDTHH:MM:SSZ`. Errors give the position,
    /// never the text around it.
    ///
    /// ```
    /// use sealed_session::KeyRingConfig;
    /// let config = KeyRingConfig::from_json(
    ///     r#"{"keys":[{"key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","state":"primary"}]}"#,
    /// )?;
    /// assert_eq!(config.keys().count(), 1);
    /// assert!(KeyRingConfig::from_json(r#"{"keys":[{"key":"AQEB","state":"primary"}]}"#).is_err());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self> {
        parse_json(json, None)
    }

    /// Reads the environment variable `var` (text form, or JSON if it starts
    /// with `{`). Errors name the variable, never its value.
    ///
    /// ```
    /// use sealed_session::KeyRingConfig;
    /// let err = KeyRingConfig::from_env("SEALED_SESSION_DOC_UNSET").unwrap_err();
    /// assert!(err.to_string().contains("SEALED_SESSION_DOC_UNSET"));
    /// ```
    pub fn from_env(var: &str) -> Result<Self> {
        let value = match std::env::var(var) {
            Ok(value) => Zeroizing::new(value),
            Err(std::env::VarError::NotPresent) => {
                return Err(Error::config(format!(
                    "the environment variable {var} is not set: put the keys there, \
                     comma-separated, the sealing key first (generate one with \
                     `sealed-session keygen`)"
                )))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::config(format!(
                    "the environment variable {var} is not valid UTF-8: keys are base64url text"
                )))
            }
        };
        if value.trim().is_empty() {
            return Err(Error::config(format!(
                "the environment variable {var} is empty: put the keys there, comma-separated, \
                 the sealing key first (generate one with `sealed-session keygen`)"
            )));
        }
        parse_any(&value, var)
    }

    /// Reads a file in the text form, or in the JSON form if its first
    /// non-blank character is `{`. Errors name the file and the line.
    ///
    /// ```
    /// use sealed_session::KeyRingConfig;
    /// let path = std::env::temp_dir().join("sealed-session-doc-keys.txt");
    /// std::fs::write(&path, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n").expect("temp file");
    /// let ring = KeyRingConfig::from_file(&path)?.build()?;
    /// assert_eq!(ring.len(), 1);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read the key file {}: {e}; check the path and its permissions",
                path.display()
            ))
        })?;
        let text = Zeroizing::new(text);
        parse_any(&text, &path.display().to_string())
    }

    /// Each configured key's origin ("line 2", "entry 1"), id and state, in
    /// configuration order. Never the key material.
    ///
    /// ```
    /// use sealed_session::{Key, KeyRingConfig, KeyState};
    /// let key = Key::generate();
    /// let config = KeyRingConfig::new().with_key(key.clone(), KeyState::Primary);
    /// let (origin, id, state) = config.keys().next().expect("one key");
    /// assert_eq!((origin, id, state), ("entry 1", key.id(), KeyState::Primary));
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = (&str, KeyId, KeyState)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.origin.as_str(), e.key.id(), e.state))
    }

    /// Validates the configuration (exactly one primary, no key twice) into a
    /// ring, preparing every key's cipher state once.
    ///
    /// ```
    /// use sealed_session::KeyRingConfig;
    /// let err = KeyRingConfig::from_text(
    ///     "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\nprimary AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
    /// )?
    /// .build()
    /// .unwrap_err();
    /// assert!(err.to_string().contains("line 1, line 2"), "{err}");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn build(&self) -> Result<KeyRing> {
        let mut builder = KeyRing::builder();
        for e in &self.entries {
            builder = builder.key_from((*e.key).clone(), e.state, e.origin.clone());
        }
        builder.build()
    }

    /// Treats every configured key as a master secret and builds the ring
    /// from the keys derived for `purpose` with
    /// [`derive_key`](crate::derive_key) (HKDF-SHA256), keeping each key's
    /// state. One secret list can so serve several cookies without reusing a
    /// key; rotating a master secret rotates every purpose. The derivation
    /// runs here, once, never per request.
    ///
    /// ```
    /// use sealed_session::{derive_key, Key, KeyRingConfig};
    /// let config = KeyRingConfig::from_text("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE")?;
    /// let session_ring = config.build_derived("session")?;
    /// let csrf_ring = config.build_derived("csrf")?;
    /// assert_ne!(session_ring.primary_id(), csrf_ring.primary_id());
    /// let master = Key::from_bytes([1; 32]);
    /// assert_eq!(session_ring.primary_id(), derive_key(&master, "session").id());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn build_derived(&self, purpose: &str) -> Result<KeyRing> {
        let mut builder = KeyRing::builder();
        for e in &self.entries {
            builder = builder.key_from(derive_key(&e.key, purpose), e.state, e.origin.clone());
        }
        builder.build()
    }
}

impl fmt::Debug for KeyRingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (e.key.id(), e.state)))
            .finish()
    }
}

impl KeyRing {
    /// Builds a ring from the text form of [`KeyRingConfig::from_text`].
    ///
    /// ```
    /// use sealed_session::KeyRing;
    /// let ring = KeyRing::from_config_str(
    ///     "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE,AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI",
    /// )?;
    /// assert_eq!(ring.len(), 2);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_config_str(text: &str) -> Result<Self> {
        KeyRingConfig::from_text(text)?.build()
    }

    /// Builds a ring from an environment variable, for example
    /// `SEALED_SESSION_KEYS=K1,K2` (K1 seals, both open). See
    /// [`KeyRingConfig::from_env`].
    ///
    /// ```
    /// let err = sealed_session::KeyRing::from_env("SEALED_SESSION_DOC_UNSET").unwrap_err();
    /// assert!(err.to_string().contains("not set"));
    /// ```
    pub fn from_env(var: &str) -> Result<Self> {
        KeyRingConfig::from_env(var)?.build()
    }

    /// Builds a ring from a key file (text or JSON form). See
    /// [`KeyRingConfig::from_file`].
    ///
    /// ```
    /// let err = sealed_session::KeyRing::from_file("/nonexistent/keys").unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent/keys"));
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        KeyRingConfig::from_file(path)?.build()
    }

    /// Builds a ring from the JSON form. See [`KeyRingConfig::from_json`].
    ///
    /// ```
    /// let ring = sealed_session::KeyRing::from_json(
    ///     r#"{"keys":[{"key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","state":"primary"}]}"#,
    /// )?;
    /// assert_eq!(ring.len(), 1);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self> {
        KeyRingConfig::from_json(json)?.build()
    }
}

/// Text or JSON, by the first non-blank character.
fn parse_any(text: &str, source: &str) -> Result<KeyRingConfig> {
    if text.trim_start().starts_with('{') {
        parse_json(text, Some(source))
    } else {
        parse_text(text, Some(source))
    }
}

fn with_source(source: Option<&str>, location: String) -> String {
    match source {
        Some(source) => format!("{source} {location}"),
        None => location,
    }
}

/// Prefixes an error from a key or time parser with where it happened.
fn located(origin: &str, err: Error) -> Error {
    match err {
        Error::Config { message } => Error::config(format!("{origin}: {message}")),
        other => other,
    }
}

fn parse_text(text: &str, source: Option<&str>) -> Result<KeyRingConfig> {
    let mut entries = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let single_line = lines.len() == 1;
    for (line_no, line) in lines.iter().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        let items: Vec<&str> = content
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        let several = items.len() > 1;
        for (item_no, item) in items.iter().enumerate() {
            let location = match (single_line, several) {
                (true, true) => format!("entry {}", item_no + 1),
                (false, true) => format!("line {}, entry {}", line_no + 1, item_no + 1),
                (_, false) => format!("line {}", line_no + 1),
            };
            let origin = with_source(source, location);
            let first = entries.is_empty();
            let (key, state) = parse_entry(item, first).map_err(|e| located(&origin, e))?;
            entries.push(ConfiguredKey {
                key: Box::new(key),
                state,
                origin,
            });
        }
    }
    if entries.is_empty() {
        return Err(Error::config(format!(
            "{}: no keys configured; list one key per line, the sealing key first \
             (generate one with `sealed-session keygen`)",
            source.unwrap_or("key ring configuration")
        )));
    }
    Ok(KeyRingConfig { entries })
}

/// One entry: `KEY`, `STATE KEY`, or `retired KEY until TIME`. Messages never
/// repeat any word of the entry: a misplaced key would end up in a log.
fn parse_entry(item: &str, first: bool) -> Result<(Key, KeyState)> {
    const SHAPE: &str = "expected `KEY`, `primary KEY`, `active KEY`, `revoked KEY` or \
                         `retired KEY until TIME` (TIME in Unix seconds or YYYY-MM-DDTHH:MM:SSZ)";
    let words: Vec<&str> = item.split_whitespace().collect();
    match words.as_slice() {
        [key] => {
            let state = if first {
                KeyState::Primary
            } else {
                KeyState::Active
            };
            Ok((Key::from_base64url(key)?, state))
        }
        [state, key] => {
            let state = match *state {
                "primary" => KeyState::Primary,
                "active" => KeyState::Active,
                "revoked" => KeyState::Revoked,
                "retired" => {
                    return Err(Error::config(
                        "a retired key needs a deadline: `retired KEY until \
                         2027-01-01T00:00:00Z` (or Unix seconds)",
                    ))
                }
                _ => return Err(Error::config(format!("unknown key state; {SHAPE}"))),
            };
            Ok((Key::from_base64url(key)?, state))
        }
        ["retired", key, "until", time] => {
            let until = parse_time(time)?;
            Ok((Key::from_base64url(key)?, KeyState::Retired { until }))
        }
        _ => Err(Error::config(format!(
            "{} words do not form an entry; {SHAPE}",
            words.len()
        ))),
    }
}

/// Unix seconds, or `YYYY-MM-DDTHH:MM:SSZ` (UTC only, so that every server
/// reads the same deadline whatever its time zone).
fn parse_time(text: &str) -> Result<u64> {
    const BAD: &str = "a deadline is Unix seconds or a UTC time like 2027-01-01T00:00:00Z";
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map_err(|_| Error::config(format!("the deadline is out of range; {BAD}")));
    }
    let b = text.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(Error::config(BAD));
    }
    let num = |range: std::ops::Range<usize>| -> Result<u64> {
        text.get(range)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| Error::config(BAD))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(Error::config(format!(
            "the deadline is not a valid UTC date and time; {BAD}"
        )));
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second)
}

fn is_leap(year: u64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let leap_days = |y: u64| y / 4 - y / 100 + y / 400;
    let years = year - 1970;
    // Leap days in the whole years 1970..year.
    let leaps = leap_days(year - 1) - leap_days(1969);
    let mut days = years * 365 + leaps;
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days + day - 1
}

/// A key decoded while deserializing, or why it did not decode (reported
/// later, with the entry's origin). Boxed, so that moving entries around
/// (a growing `Vec`) moves a pointer, never the key bytes.
type DecodedKey = Result<Box<Key>>;

/// The JSON form after deserialization, before the ring rules: what serde
/// read, with each key already decoded so that no copy of its text is kept.
struct RawConfig {
    keys: Vec<RawKey>,
}

struct RawKey {
    key: DecodedKey,
    state: StateName,
    /// Unix seconds, or why the text did not parse.
    until: Option<Result<u64>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StateName {
    Primary,
    Active,
    Retired,
    Revoked,
    Unknown,
}

fn from_raw(raw: RawConfig, source: Option<&str>) -> Result<KeyRingConfig> {
    let mut entries = Vec::with_capacity(raw.keys.len());
    for (i, k) in raw.keys.into_iter().enumerate() {
        let origin = with_source(source, format!("entry {}", i + 1));
        let state = match (k.state, k.until) {
            (StateName::Primary, None) => KeyState::Primary,
            (StateName::Active, None) => KeyState::Active,
            (StateName::Revoked, None) => KeyState::Revoked,
            (StateName::Retired, Some(until)) => KeyState::Retired {
                until: until.map_err(|e| located(&origin, e))?,
            },
            (StateName::Retired, None) => {
                return Err(Error::config(format!(
                    "{origin}: a retired key needs \"until\" (Unix seconds or \
                     \"2027-01-01T00:00:00Z\")"
                )))
            }
            (StateName::Primary | StateName::Active | StateName::Revoked, Some(_)) => {
                return Err(Error::config(format!(
                    "{origin}: \"until\" applies only to a retired key; remove it or set \
                     \"state\": \"retired\""
                )))
            }
            (StateName::Unknown, _) => {
                return Err(Error::config(format!(
                    "{origin}: \"state\" must be \"primary\", \"active\", \"retired\" or \
                     \"revoked\""
                )))
            }
        };
        let key = k.key.map_err(|e| located(&origin, e))?;
        entries.push(ConfiguredKey { key, state, origin });
    }
    Ok(KeyRingConfig { entries })
}

/// Refuses JSON with a backslash escape before parsing it. No string of the
/// key ring JSON needs one (keys are base64url, states and times plain
/// ASCII), and serde_json unescapes a string into a buffer of its own that
/// it frees without wiping: a key written with an escape would leave a copy.
fn refuse_escapes(json: &str, source: Option<&str>) -> Result<()> {
    let Some(at) = json.find('\\') else {
        return Ok(());
    };
    let before = json.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    Err(Error::config(format!(
        "{}: a backslash escape at line {line}, column {column}; keys, states and times \
         never need one, write them as plain text",
        source.unwrap_or("key ring JSON")
    )))
}

/// Parses the JSON form with the hand-written deserializer below.
fn parse_json(json: &str, source: Option<&str>) -> Result<KeyRingConfig> {
    refuse_escapes(json, source)?;
    let mut de = serde_json::Deserializer::from_str(json);
    let raw = RawConfig::deserialize(&mut de)
        .and_then(|raw| de.end().map(|()| raw))
        .map_err(|e| json_error(&e, source))?;
    from_raw(raw, source)
}

/// A serde_json error reduced to its category and position: its message
/// could quote the input, which holds keys.
fn json_error(err: &serde_json::Error, source: Option<&str>) -> Error {
    let category = match err.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Data => "unexpected field or value",
        serde_json::error::Category::Io => "read error",
    };
    Error::config(format!(
        "{}: {category} at line {}, column {}; expected {{\"keys\": [{{\"key\": \"...\", \
         \"state\": \"primary\"}}, {{\"key\": \"...\", \"state\": \"retired\", \"until\": \
         1767225600}}]}}",
        source.unwrap_or("key ring JSON"),
        err.line(),
        err.column()
    ))
}

// Serde, written by hand. A derived `Deserialize` lets serde describe a value
// of the wrong type by quoting it ("invalid type: string \"<key>\" ..."), and
// an application logs such errors. Here every value is read through
// `deserialize_any`, and every visitor answers strings and bytes it does not
// expect with a message that names only their type; owned strings it
// receives are wiped.

/// Serializes to the JSON form. The output holds the keys themselves: treat
/// it as a secret.
impl Serialize for KeyRingConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        struct Entries<'a>(&'a [ConfiguredKey]);
        struct Entry<'a>(&'a ConfiguredKey);
        impl Serialize for Entries<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(Entry))
            }
        }
        impl Serialize for Entry<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let (state, until) = match self.0.state {
                    KeyState::Primary => ("primary", None),
                    KeyState::Active => ("active", None),
                    KeyState::Retired { until } => ("retired", Some(until)),
                    KeyState::Revoked => ("revoked", None),
                };
                let key = Zeroizing::new(self.0.key.to_base64url());
                let mut entry =
                    serializer.serialize_struct("Key", 2 + usize::from(until.is_some()))?;
                entry.serialize_field("key", key.as_str())?;
                entry.serialize_field("state", state)?;
                if let Some(until) = until {
                    entry.serialize_field("until", &until)?;
                }
                entry.end()
            }
        }
        let mut config = serializer.serialize_struct("KeyRingConfig", 1)?;
        config.serialize_field("keys", &Entries(&self.entries))?;
        config.end()
    }
}

/// Deserializes the JSON form (`{"keys": [...]}`), or the text form when
/// the value is a string (`"K1,K2"`, as in `SEALED_SESSION_KEYS`). Errors
/// name the entry and the problem, never a key.
impl<'de> Deserialize<'de> for KeyRingConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(ConfigVisitor)
    }
}

/// The type of a value, for messages that must not show the value.
fn wrong<E: de::Error>(found: &'static str, expected: &dyn de::Expected) -> E {
    E::invalid_type(Unexpected::Other(found), expected)
}

/// The visitor methods for strings and bytes of a visitor that accepts
/// neither: the default ones quote the value.
macro_rules! refuse_text {
    () => {
        fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
            Err(wrong("a string", &self))
        }
        fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
            drop(Zeroizing::new(v));
            Err(wrong("a string", &self))
        }
        refuse_bytes!();
    };
}

macro_rules! refuse_bytes {
    () => {
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> std::result::Result<Self::Value, E> {
            Err(wrong("bytes", &self))
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<Self::Value, E> {
            drop(Zeroizing::new(v));
            Err(wrong("bytes", &self))
        }
    };
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = KeyRingConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a key ring: {\"keys\": [{\"key\": \"...\", \"state\": \"primary\"}]}, or the text \
             form as a string",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<KeyRingConfig, A::Error> {
        let raw = RawConfigVisitor.visit_map(map)?;
        from_raw(raw, None).map_err(de::Error::custom)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<KeyRingConfig, E> {
        parse_text(text, None).map_err(E::custom)
    }

    fn visit_string<E: de::Error>(self, text: String) -> std::result::Result<KeyRingConfig, E> {
        let text = Zeroizing::new(text);
        self.visit_str(&text)
    }

    refuse_bytes!();
}

impl<'de> Deserialize<'de> for RawConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(RawConfigVisitor)
    }
}

struct RawConfigVisitor;

impl<'de> Visitor<'de> for RawConfigVisitor {
    type Value = RawConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key ring: {\"keys\": [{\"key\": \"...\", \"state\": \"primary\"}]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawConfig, A::Error> {
        let mut keys = None;
        while let Some(field) = map.next_key_seed(FieldName(&["keys"]))? {
            match field {
                Some(_) if keys.is_none() => keys = Some(map.next_value_seed(KeysSeed)?),
                Some(_) => return Err(de::Error::custom("the key ring lists \"keys\" twice")),
                None => {
                    return Err(de::Error::custom(
                        "unknown field in the key ring: it has only \"keys\"",
                    ))
                }
            }
        }
        let keys = keys.ok_or_else(|| de::Error::custom("the key ring has no \"keys\""))?;
        Ok(RawConfig { keys })
    }

    refuse_text!();
}

/// A field name: its index in the list, or `None` for any other name (which
/// the caller refuses without repeating it).
struct FieldName(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Option<usize>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> std::result::Result<Option<usize>, E> {
        Ok(self.0.iter().position(|known| *known == name))
    }

    fn visit_string<E: de::Error>(self, name: String) -> std::result::Result<Option<usize>, E> {
        let name = Zeroizing::new(name);
        self.visit_str(&name)
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> std::result::Result<Option<usize>, E> {
        Ok(self.0.iter().position(|known| known.as_bytes() == name))
    }

    fn visit_byte_buf<E: de::Error>(self, name: Vec<u8>) -> std::result::Result<Option<usize>, E> {
        let name = Zeroizing::new(name);
        self.visit_bytes(&name)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Option<usize>, E> {
        Ok(None)
    }
}

/// The list of keys.
struct KeysSeed;

impl<'de> DeserializeSeed<'de> for KeysSeed {
    type Value = Vec<RawKey>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Vec<RawKey>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed {
    type Value = Vec<RawKey>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "\"keys\" as a list of {\"key\": \"...\", \"state\": \"...\"} objects (a string of \
             keys belongs in the text form)",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Vec<RawKey>, A::Error> {
        let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(key) = seq.next_element_seed(EntrySeed(keys.len() + 1))? {
            keys.push(key);
        }
        Ok(keys)
    }

    refuse_text!();
}

/// One entry of "keys"; the number names it in errors.
struct EntrySeed(usize);

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = RawKey;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<RawKey, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = RawKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} as an object {{\"key\": \"...\", \"state\": \"...\"}}",
            self.0
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RawKey, A::Error> {
        let n = self.0;
        let (mut key, mut state, mut until) = (None, None, None);
        while let Some(field) = map.next_key_seed(FieldName(&["key", "state", "until"]))? {
            let twice = || de::Error::custom(format!("entry {n} names a field twice"));
            match field {
                Some(0) if key.is_none() => key = Some(map.next_value_seed(KeySeed(n))?),
                Some(1) if state.is_none() => state = Some(map.next_value_seed(StateSeed(n))?),
                Some(2) if until.is_none() => until = Some(map.next_value_seed(UntilSeed(n))?),
                Some(_) => return Err(twice()),
                None => {
                    return Err(de::Error::custom(format!(
                        "unknown field in entry {n}: an entry has \"key\", \"state\" and, for a \
                         retired key, \"until\""
                    )))
                }
            }
        }
        let key = key.ok_or_else(|| de::Error::custom(format!("entry {n} has no \"key\"")))?;
        let state =
            state.ok_or_else(|| de::Error::custom(format!("entry {n} has no \"state\"")))?;
        Ok(RawKey { key, state, until })
    }

    refuse_text!();
}

/// An entry's "key": decoded on the spot, so no copy of its text is kept.
struct KeySeed(usize);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = DecodedKey;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<DecodedKey, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = DecodedKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {}: \"key\" as a string of 43 base64url characters",
            self.0
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<DecodedKey, E> {
        Ok(Key::from_base64url(text).map(Box::new))
    }

    fn visit_string<E: de::Error>(self, text: String) -> std::result::Result<DecodedKey, E> {
        let text = Zeroizing::new(text);
        self.visit_str(&text)
    }

    refuse_bytes!();
}

/// An entry's "state".
struct StateSeed(usize);

impl<'de> DeserializeSeed<'de> for StateSeed {
    type Value = StateName;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<StateName, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StateSeed {
    type Value = StateName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {}: \"state\" as \"primary\", \"active\", \"retired\" or \"revoked\"",
            self.0
        )
    }

    fn visit_str<E: de::Error>(self, name: &str) -> std::result::Result<StateName, E> {
        Ok(match name {
            "primary" => StateName::Primary,
            "active" => StateName::Active,
            "retired" => StateName::Retired,
            "revoked" => StateName::Revoked,
            _ => StateName::Unknown,
        })
    }

    fn visit_string<E: de::Error>(self, name: String) -> std::result::Result<StateName, E> {
        let name = Zeroizing::new(name);
        self.visit_str(&name)
    }

    refuse_bytes!();
}

/// An entry's "until": Unix seconds, or a UTC time as text.
struct UntilSeed(usize);

impl<'de> DeserializeSeed<'de> for UntilSeed {
    type Value = Result<u64>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Result<u64>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UntilSeed {
    type Value = Result<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {}: \"until\" as Unix seconds or \"2027-01-01T00:00:00Z\"",
            self.0
        )
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> std::result::Result<Result<u64>, E> {
        Ok(Ok(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> std::result::Result<Result<u64>, E> {
        u64::try_from(seconds)
            .map(Ok)
            .map_err(|_| wrong("a negative number", &self))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Result<u64>, E> {
        Err(wrong("a fractional number", &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Result<u64>, E> {
        Ok(parse_time(text))
    }

    fn visit_string<E: de::Error>(self, text: String) -> std::result::Result<Result<u64>, E> {
        let text = Zeroizing::new(text);
        self.visit_str(&text)
    }

    refuse_bytes!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("2000-03-01T00:00:00Z").unwrap(), 951_868_800);
        assert_eq!(parse_time("2024-02-29T12:34:56Z").unwrap(), 1_709_210_096);
        assert_eq!(parse_time("2026-01-01T00:00:00Z").unwrap(), 1_767_225_600);
        assert_eq!(parse_time("1767225600").unwrap(), 1_767_225_600);
        for bad in [
            "",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+01:00",
            "1969-12-31T23:59:59Z",
            "99999999999999999999999",
            "-5",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }
}
