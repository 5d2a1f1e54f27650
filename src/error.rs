//! The one error type of the crate.
//!
//! Every variant says what happened and what to do about it. No variant ever
//! carries key material or session content: a deserialization error keeps only
//! its category and position, never the offending value.

use std::fmt;

use crate::core::dictionary::DictionaryId;
use crate::keys::key::KeyId;

/// Everything that can go wrong while building a codec, sealing or opening a
/// session.
///
/// For a web request, any error from decoding means "no session"; use
/// [`Error::is_invalid_cookie`] to tell a bad cookie (client's fault, log at
/// debug level) from a server problem (configuration, serialization).
///
/// ```
/// use sealed_session::{Codec, DynamicSession, KeyRing};
/// # fn main() -> Result<(), sealed_session::Error> {
/// let codec = Codec::builder("session").key_ring(KeyRing::ephemeral_for_development()).build()?;
/// let err = codec.open::<DynamicSession>("not a sealed value").unwrap_err();
/// assert!(err.is_invalid_cookie());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The value is not a well-formed sealed value: bad base64, too short,
    /// unknown format version, or a layout error after authentication.
    Malformed {
        /// Which check failed (a fixed description, never input data).
        reason: &'static str,
    },
    /// Authentication failed: the value was altered, sealed for another cookie
    /// name, or sealed under a different key with the same id.
    Unauthenticated,
    /// The value names a key id that is not in the key ring.
    UnknownKey {
        /// The id read from the value's header.
        key_id: KeyId,
    },
    /// The value was sealed under a key that has been revoked.
    RevokedKey {
        /// The revoked key's id.
        key_id: KeyId,
    },
    /// The value was sealed under a retired key whose deadline has passed.
    RetiredKey {
        /// The retired key's id.
        key_id: KeyId,
        /// The deadline, Unix seconds.
        deadline: u64,
    },
    /// The sealed lifetime is over.
    Expired {
        /// When the session expired, Unix seconds.
        expired_at: u64,
        /// The time of the check, Unix seconds.
        now: u64,
    },
    /// The value claims to be issued in the future (beyond the clock-skew
    /// allowance).
    NotYetValid {
        /// The sealed issued-at time, Unix seconds.
        issued_at: u64,
        /// The time of the check, Unix seconds.
        now: u64,
    },
    /// Something is larger than its limit.
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The value was compressed with a dictionary this codec does not have.
    UnknownDictionary {
        /// The id read from the authenticated body.
        dictionary_id: DictionaryId,
    },
    /// The compressed body is corrupt (after authentication: only a holder of
    /// the key can produce this).
    Decompression,
    /// The session could not be turned into JSON.
    Serialize {
        /// The serde_json error category.
        category: &'static str,
    },
    /// The opened JSON does not fit the requested session type.
    Deserialize {
        /// The serde_json error category.
        category: &'static str,
        /// Line of the error inside the JSON document.
        line: usize,
        /// Column of the error inside the JSON document.
        column: usize,
    },
    /// The request carries no cookie with the session's name: it has no
    /// session (not an attack, not worth logging).
    NoCookie,
    /// The session has outlived its absolute lifetime
    /// ([`CodecBuilder::max_lifetime`](crate::CodecBuilder::max_lifetime)),
    /// counted from its creation whatever re-seals happened since.
    LifetimeEnded {
        /// When the session was created, Unix seconds.
        created_at: u64,
        /// The current time used for the check, Unix seconds.
        now: u64,
    },
    /// The session authenticated but is revoked: the request has no session.
    Revoked {
        /// What revoked it.
        reason: crate::revocation::set::Revoked,
    },
    /// The session is bound to a device (DBSC) and the request does not
    /// carry a valid, unexpired bound cookie for it: the browser must refresh
    /// with a proof from the device key first. The request has no session.
    Unbound,
    /// Device binding is required
    /// ([`DeviceBinding::required_after`](crate::DeviceBinding::required_after))
    /// and the session is not bound to a device: it is older than the grace
    /// after its creation, or it has no identity and can never be bound. A
    /// copy taken before the binding, or a browser without DBSC. The request
    /// has no session; the user must sign in again.
    BindingRequired {
        /// When the session was created, Unix seconds; `None` for a session
        /// sealed without an identity.
        created_at: Option<u64>,
        /// The configured grace, seconds.
        grace_secs: u64,
        /// The time of the check, Unix seconds.
        now: u64,
    },
    /// A device-bound session request (registration or refresh) was refused:
    /// the proof, its challenge or the registered key did not check out.
    DeviceProof {
        /// What was wrong.
        reason: ProofRefused,
    },
    /// The operating system's random number generator failed, so no nonce
    /// could be drawn and nothing was sealed (a server problem, never the
    /// client's).
    RandomUnavailable,
    /// The codec, key ring or cookie settings are invalid.
    Config {
        /// What is wrong and how to fix it (never key material).
        message: String,
    },
}

/// Why a device-bound session (DBSC) registration or refresh was refused.
/// Never carries the proof, the challenge or the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofRefused {
    /// No proof (`Secure-Session-Response`) where one is required.
    Missing,
    /// Not a compact JWS with JSON header and payload.
    Malformed,
    /// An algorithm this server did not offer (only ES256 is), `none`
    /// included.
    Algorithm,
    /// The token type is not `dbsc+jwt`.
    Type,
    /// The key is not a P-256 point, or a registration proof carries none.
    BadKey,
    /// The signature does not verify with the device key.
    BadSignature,
    /// The challenge (`jti`) is not one this cluster issued, or it expired.
    Challenge,
    /// The challenge or the refresh cookie belongs to another session.
    OtherSession,
    /// Registration for a session that is already bound to a device.
    AlreadyBound,
    /// A refresh without the refresh cookie that holds the device key, or
    /// for a session that is not bound.
    NotRegistered,
}

impl fmt::Display for ProofRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProofRefused::Missing => "no proof",
            ProofRefused::Malformed => "malformed proof",
            ProofRefused::Algorithm => "algorithm not offered: only ES256 is accepted",
            ProofRefused::Type => "token type is not dbsc+jwt",
            ProofRefused::BadKey => "not a P-256 device key",
            ProofRefused::BadSignature => "signature does not verify with the device key",
            ProofRefused::Challenge => "unknown or expired challenge",
            ProofRefused::OtherSession => "challenge or key of another session",
            ProofRefused::AlreadyBound => "session already bound to a device",
            ProofRefused::NotRegistered => "no device key registered for this session",
        })
    }
}

impl Error {
    /// True when the error is the client's cookie being unusable (malformed,
    /// forged, expired, under an unknown or withdrawn key, too large): the
    /// request simply has no session. False for server-side problems.
    ///
    /// ```
    /// use sealed_session::Error;
    /// assert!(Error::Unauthenticated.is_invalid_cookie());
    /// assert!(!Error::Config { message: "x".into() }.is_invalid_cookie());
    /// ```
    pub fn is_invalid_cookie(&self) -> bool {
        !matches!(
            self,
            Error::Config { .. } | Error::Serialize { .. } | Error::RandomUnavailable
        )
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    pub(crate) fn malformed(reason: &'static str) -> Self {
        Error::Malformed { reason }
    }

    pub(crate) fn serialize(err: &serde_json::Error) -> Self {
        Error::Serialize {
            category: category(err),
        }
    }

    pub(crate) fn deserialize(err: &serde_json::Error) -> Self {
        Error::Deserialize {
            category: category(err),
            line: err.line(),
            column: err.column(),
        }
    }
}

fn category(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed { reason } => write!(
                f,
                "malformed session cookie ({reason}): treat the request as having no session"
            ),
            Error::Unauthenticated => f.write_str(
                "session cookie failed authentication (altered, sealed for another cookie name, \
                 or sealed under a different key): treat the request as having no session",
            ),
            Error::UnknownKey { key_id } => write!(
                f,
                "session cookie was sealed under key {key_id}, which is not in the key ring: \
                 add that key as active if it is yours, otherwise ignore the cookie"
            ),
            Error::RevokedKey { key_id } => write!(
                f,
                "session cookie was sealed under revoked key {key_id}: the user must sign in again"
            ),
            Error::RetiredKey { key_id, deadline } => write!(
                f,
                "session cookie was sealed under key {key_id}, retired since {deadline} \
                 (Unix seconds): the user must sign in again"
            ),
            Error::Expired { expired_at, now } => write!(
                f,
                "session expired at {expired_at}, now is {now} (Unix seconds): start a new session"
            ),
            Error::NotYetValid { issued_at, now } => write!(
                f,
                "session claims to be issued at {issued_at}, after now {now} plus the clock-skew \
                 allowance: check the servers' clocks or raise the allowance"
            ),
            Error::TooLarge { what, size, limit } => write!(
                f,
                "{what} is {size} bytes, the limit is {limit}: store less in the session, \
                 enable compression or chunking, or raise the limit"
            ),
            Error::UnknownDictionary { dictionary_id } => write!(
                f,
                "session was compressed with dictionary {dictionary_id}, which this server does \
                 not have: add it to the codec's dictionaries (after the current one) until the \
                 longest session lifetime has passed"
            ),
            Error::Decompression => f.write_str(
                "sealed session body failed to decompress: the sealing server has a different \
                 configuration or a bug; treat the request as having no session",
            ),
            Error::Serialize { category } => write!(
                f,
                "session could not be serialized to JSON ({category} error): check the \
                 session type's Serialize implementation (maps need string keys)"
            ),
            Error::Deserialize {
                category,
                line,
                column,
            } => write!(
                f,
                "session JSON does not match the requested type ({category} error at line \
                 {line}, column {column}): the session type changed; add #[serde(default)] \
                 to new fields or treat the request as having no session"
            ),
            Error::NoCookie => {
                f.write_str("the request carries no session cookie: treat it as having no session")
            }
            Error::LifetimeEnded { created_at, now } => write!(
                f,
                "session was created at {created_at} and has outlived its absolute lifetime \
                 (now is {now}, Unix seconds): the user must sign in again"
            ),
            Error::Revoked { reason } => write!(
                f,
                "session is revoked ({reason}): treat the request as having no session"
            ),
            Error::Unbound => f.write_str(
                "the session is bound to a device and its bound cookie is missing or expired: \
                 the browser refreshes it with a proof from the device key; until then the \
                 request has no session",
            ),
            Error::BindingRequired {
                created_at: Some(created_at),
                grace_secs,
                now,
            } => write!(
                f,
                "device binding is required and the session, created at {created_at} (now is \
                 {now}, Unix seconds), was not bound to a device within its {grace_secs} s \
                 grace: the request has no session; the user must sign in again in a browser \
                 with device-bound sessions, or make binding optional"
            ),
            Error::BindingRequired {
                created_at: None, ..
            } => f.write_str(
                "device binding is required and the session was sealed without an identity, \
                 so it can never be bound: the request has no session; the user must sign in \
                 again (a codec with required device binding must write identities: sealed \
                 mode with write_identity on)",
            ),
            Error::DeviceProof { reason } => write!(
                f,
                "device-bound session request refused ({reason}): answer 403 and let the \
                 browser start over"
            ),
            Error::RandomUnavailable => f.write_str(
                "the operating system's random number generator failed, so nothing was sealed: \
                 check that getrandom(2) or /dev/urandom is available to the process (seccomp \
                 or container policies can block it)",
            ),
            Error::Config { message } => write!(f, "invalid configuration: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
