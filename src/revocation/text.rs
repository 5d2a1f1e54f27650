//! The text form of a [`Revocation`]: one revocation per message on the
//! Redis channel (feature `redis`), and what an operator can read in it.
//!
//! ```text
//! session <32 hex digits> <at>
//! subject <before> <subject>
//! ```
//!
//! Times are Unix seconds in plain decimal digits, at most
//! [`MAX_REVOCATION_TIME`]. The subject is the rest of the text after the
//! single space that follows the time, byte for byte (it may contain
//! spaces), and is 1 to [`MAX_SUBJECT_LEN`](crate::MAX_SUBJECT_LEN) bytes.
//! Nothing else is accepted: no other whitespace, no sign, no trailing
//! newline.

use std::fmt;
use std::str::FromStr;

use crate::core::identity::{check_subject, SessionId, SESSION_ID_LEN};
use crate::error::{Error, Result};
use crate::revocation::set::Revocation;

/// The latest time a revocation may name (2^53 - 1 Unix seconds): Redis
/// keeps sorted-set scores as doubles, exact for integers up to this.
pub const MAX_REVOCATION_TIME: u64 = (1 << 53) - 1;

/// The longest text form (a subject of the longest length and the longest
/// time), so a reader can refuse an oversized message before looking at it.
pub(crate) const MAX_TEXT_LEN: usize = "subject ".len() + 16 + 1 + crate::MAX_SUBJECT_LEN;

impl fmt::Display for Revocation {
    /// ```
    /// use sealed_session::{Revocation, SessionId};
    /// let r = Revocation::Session { id: SessionId::from_bytes([0xab; 16]), at: 1_700_000_000 };
    /// assert_eq!(r.to_string(), "session abababababababababababababababab 1700000000");
    /// let r = Revocation::Subject { subject: "user 42".into(), before: 5 };
    /// assert_eq!(r.to_string(), "subject 5 user 42");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revocation::Session { id, at } => write!(f, "session {id} {at}"),
            Revocation::Subject { subject, before } => write!(f, "subject {before} {subject}"),
        }
    }
}

impl FromStr for Revocation {
    type Err = Error;

    /// Parses the text form; the error says which part is wrong and never
    /// quotes the input.
    ///
    /// ```
    /// use sealed_session::Revocation;
    /// let r: Revocation = "subject 1700000000 user-42".parse()?;
    /// assert_eq!(r, Revocation::Subject { subject: "user-42".into(), before: 1_700_000_000 });
    /// assert!("session 00 5".parse::<Revocation>().is_err());
    /// assert!("everything".parse::<Revocation>().is_err());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    fn from_str(text: &str) -> Result<Self> {
        if text.len() > MAX_TEXT_LEN {
            return Err(Error::config(format!(
                "a revocation's text form is at most {MAX_TEXT_LEN} bytes ({} given): \
                 `session ID AT` or `subject BEFORE SUBJECT`",
                text.len()
            )));
        }
        if let Some(rest) = text.strip_prefix("session ") {
            let (id, at) = rest.split_once(' ').ok_or_else(|| {
                Error::config("a session revocation reads `session ID AT`: the time is missing")
            })?;
            if id.len() != 2 * SESSION_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::config(
                    "a session revocation reads `session ID AT`: ID is 32 hex digits",
                ));
            }
            let id: SessionId = id.parse()?;
            Ok(Revocation::Session {
                id,
                at: parse_time(at)?,
            })
        } else if let Some(rest) = text.strip_prefix("subject ") {
            let (before, subject) = rest.split_once(' ').ok_or_else(|| {
                Error::config(
                    "a subject revocation reads `subject BEFORE SUBJECT`: the subject is missing",
                )
            })?;
            let before = parse_time(before)?;
            check_subject(subject)?;
            Ok(Revocation::Subject {
                subject: subject.to_owned(),
                before,
            })
        } else {
            Err(Error::config(
                "a revocation reads `session ID AT` or `subject BEFORE SUBJECT`",
            ))
        }
    }
}

/// Unix seconds in plain decimal digits, at most [`MAX_REVOCATION_TIME`].
pub(crate) fn parse_time(text: &str) -> Result<u64> {
    let bad = || {
        Error::config(format!(
            "a revocation time is Unix seconds in decimal digits, at most {MAX_REVOCATION_TIME}"
        ))
    };
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(t) if t <= MAX_REVOCATION_TIME => Ok(t),
        _ => Err(bad()),
    }
}

/// Checks what a revocation names before it is written to a store: its
/// time fits a sorted-set score and its subject is a valid subject.
#[cfg(any(feature = "redis", test))]
pub(crate) fn check_revocation(revocation: &Revocation) -> Result<()> {
    let time = match revocation {
        Revocation::Session { at, .. } => *at,
        Revocation::Subject { subject, before } => {
            check_subject(subject)?;
            *before
        }
    };
    if time > MAX_REVOCATION_TIME {
        return Err(Error::config(format!(
            "a revocation time is at most {MAX_REVOCATION_TIME} Unix seconds ({time} given): \
             pass seconds, not milliseconds"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_SUBJECT_LEN;

    fn session(byte: u8, at: u64) -> Revocation {
        Revocation::Session {
            id: SessionId::from_bytes([byte; SESSION_ID_LEN]),
            at,
        }
    }

    #[test]
    fn round_trips() {
        let cases = [
            session(0, 0),
            session(0xff, MAX_REVOCATION_TIME),
            Revocation::Subject {
                subject: "u".into(),
                before: 0,
            },
            Revocation::Subject {
                subject: "a b  c\té".into(),
                before: 1_700_000_000,
            },
            Revocation::Subject {
                subject: "x".repeat(MAX_SUBJECT_LEN),
                before: MAX_REVOCATION_TIME,
            },
        ];
        for case in cases {
            let text = case.to_string();
            assert!(text.len() <= MAX_TEXT_LEN, "{text}");
            assert_eq!(text.parse::<Revocation>().ok(), Some(case));
        }
    }

    #[test]
    fn refuses_malformed_text() {
        let id = "0123456789abcdef0123456789ABCDEF";
        let long = "x".repeat(MAX_SUBJECT_LEN + 1);
        let bad = [
            "".to_owned(),
            "session".to_owned(),
            "session ".to_owned(),
            format!("session {id}"),
            format!("session {id} "),
            format!("session {id}  5"),
            format!("session {id} 5 "),
            format!("session {id} 5\n"),
            format!("session {id} +5"),
            format!("session {id} -5"),
            format!("session {id} 0x5"),
            format!("session {id} 9007199254740992"),
            format!("session {id} 18446744073709551616"),
            format!("session  {id} 5"),
            format!("session {}0 5", &id[..30]),
            format!("session {id}0 5"),
            format!("session {}g 5", &id[..31]),
            "session +123456789abcdef0123456789abcdef 5".to_owned(),
            format!("Session {id} 5"),
            format!("sessions {id} 5"),
            "subject 5".to_owned(),
            "subject 5 ".to_owned(),
            "subject  5 u".to_owned(),
            "subject u 5".to_owned(),
            format!("subject 5 {long}"),
            "subject 99999999999999999 u".to_owned(),
            "revoke everything".to_owned(),
            "*".to_owned(),
        ];
        for text in bad {
            assert!(text.parse::<Revocation>().is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn errors_never_quote_the_input() {
        for text in [
            "subject 5 secret-subject-text-that-is-far-too-long-to-be-a-subject-at-all-really",
            "session secret-session-text 5",
            "secret",
        ] {
            let err = text.parse::<Revocation>().unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn accepts_mixed_case_hex_and_prints_lowercase() {
        let r: Revocation = "session 0123456789ABCDEF0123456789abcdef 7"
            .parse()
            .unwrap();
        assert_eq!(r.to_string(), "session 0123456789abcdef0123456789abcdef 7");
    }

    /// Every text of up to four pieces over an alphabet that reaches every
    /// branch of the parser, then every prefix of valid texts: no panic,
    /// and whatever parses prints back as itself.
    #[test]
    fn exhaustive_small_inputs_never_panic() {
        let alphabet: &[&str] = &["session ", "subject ", " ", "0", "9", "a", "é", "\n", "-"];
        let mut texts = vec![String::new()];
        let mut last = texts.clone();
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &last {
                for a in alphabet {
                    next.push(format!("{t}{a}"));
                }
            }
            texts.extend(next.iter().cloned());
            last = next;
        }
        let mut valid = 0;
        for text in &texts {
            if let Ok(r) = text.parse::<Revocation>() {
                valid += 1;
                assert_eq!(&r.to_string(), text);
            }
        }
        // "subject 0 a", "subject 9 é", "subject 0 -"... parse.
        assert!(valid >= 4, "{valid}");
        // Every prefix up to the time is refused; with any digits of it, it parses.
        let full = "session 0123456789abcdef0123456789abcdef 1700000000";
        let time_starts = full.len() - "1700000000".len();
        for end in 0..full.len() {
            assert_eq!(
                full[..end].parse::<Revocation>().is_ok(),
                end > time_starts,
                "{end}"
            );
        }
        assert!(full.parse::<Revocation>().is_ok());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_and_round_trips(text in "\\PC{0,100}") {
            if let Ok(r) = text.parse::<Revocation>() {
                // Uppercase hex and leading zeros parse; the printed form is canonical.
                proptest::prop_assert_eq!(r.to_string().parse::<Revocation>().ok(), Some(r));
            }
        }

        #[test]
        fn every_valid_subject_round_trips(subject in "\\PC{1,16}", before in 0..=MAX_REVOCATION_TIME) {
            let r = Revocation::Subject { subject, before };
            if check_revocation(&r).is_ok() {
                proptest::prop_assert_eq!(r.to_string().parse::<Revocation>().ok(), Some(r));
            }
        }
    }

    #[test]
    fn check_revocation_bounds_time_and_subject() {
        assert!(check_revocation(&session(1, MAX_REVOCATION_TIME)).is_ok());
        assert!(check_revocation(&session(1, MAX_REVOCATION_TIME + 1)).is_err());
        assert!(check_revocation(&Revocation::Subject {
            subject: String::new(),
            before: 1
        })
        .is_err());
    }
}
