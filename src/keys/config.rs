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

use serde::{Deserialize, Serialize};
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
/// deserialize it with serde as part of a larger configuration. Each key is
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
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "RawConfig", into = "RawConfig")]
pub struct KeyRingConfig {
    entries: Vec<ConfiguredKey>,
}

/// One configured key; `origin` ("line 3", "entry 2") names it in errors.
#[derive(Clone)]
struct ConfiguredKey {
    key: Key,
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
        self.entries.push(ConfiguredKey { key, state, origin });
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
        serde_json::from_str::<RawConfig>(json)
            .map_err(|e| json_error(&e, None))
            .and_then(|raw| from_raw(raw, None))
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
            builder = builder.key_from(e.key.clone(), e.state, e.origin.clone());
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
        serde_json::from_str::<RawConfig>(text)
            .map_err(|e| json_error(&e, Some(source)))
            .and_then(|raw| from_raw(raw, Some(source)))
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
            entries.push(ConfiguredKey { key, state, origin });
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

/// The serde shape of the JSON form. Deserializing it cannot fail on a
/// key's content, so serde never quotes key material in an error; the keys
/// are decoded afterwards by `from_raw`, with entry numbers.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    keys: Vec<RawKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    key: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<RawTime>,
}

impl Drop for RawKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawTime {
    Seconds(u64),
    Text(String),
}

fn from_raw(raw: RawConfig, source: Option<&str>) -> Result<KeyRingConfig> {
    let mut entries = Vec::with_capacity(raw.keys.len());
    for (i, k) in raw.keys.iter().enumerate() {
        let origin = with_source(source, format!("entry {}", i + 1));
        let state = match (k.state.as_str(), &k.until) {
            ("primary", None) => KeyState::Primary,
            ("active", None) => KeyState::Active,
            ("revoked", None) => KeyState::Revoked,
            ("retired", Some(RawTime::Seconds(until))) => KeyState::Retired { until: *until },
            ("retired", Some(RawTime::Text(text))) => KeyState::Retired {
                until: parse_time(text).map_err(|e| located(&origin, e))?,
            },
            ("retired", None) => {
                return Err(Error::config(format!(
                    "{origin}: a retired key needs \"until\" (Unix seconds or \
                     \"2027-01-01T00:00:00Z\")"
                )))
            }
            ("primary" | "active" | "revoked", Some(_)) => {
                return Err(Error::config(format!(
                    "{origin}: \"until\" applies only to a retired key; remove it or set \
                     \"state\": \"retired\""
                )))
            }
            _ => {
                return Err(Error::config(format!(
                    "{origin}: \"state\" must be \"primary\", \"active\", \"retired\" or \
                     \"revoked\""
                )))
            }
        };
        let key = Key::from_base64url(&k.key).map_err(|e| located(&origin, e))?;
        entries.push(ConfiguredKey { key, state, origin });
    }
    Ok(KeyRingConfig { entries })
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

impl TryFrom<RawConfig> for KeyRingConfig {
    type Error = Error;

    fn try_from(raw: RawConfig) -> Result<Self> {
        from_raw(raw, None)
    }
}

impl From<KeyRingConfig> for RawConfig {
    fn from(config: KeyRingConfig) -> Self {
        let keys = config
            .entries
            .iter()
            .map(|e| {
                let (state, until) = match e.state {
                    KeyState::Primary => ("primary", None),
                    KeyState::Active => ("active", None),
                    KeyState::Retired { until } => ("retired", Some(RawTime::Seconds(until))),
                    KeyState::Revoked => ("revoked", None),
                };
                RawKey {
                    key: e.key.to_base64url(),
                    state: state.to_owned(),
                    until,
                }
            })
            .collect();
        RawConfig { keys }
    }
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
