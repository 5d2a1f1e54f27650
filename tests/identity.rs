//! Session identity, absolute lifetime and revocation (FORMAT.md,
//! "Identity"; SECURITY.md, "What the crate cannot protect" and "What a
//! leaked key means"): one test per rule, through `Codec::seal_with_at`,
//! `Codec::encode_with_at`, `Codec::open_at` and `SessionHandle`.
//!
//! Values the encoder never writes (a truncated identity, a subject of
//! length 0, a subject bit alone) are built byte by byte with XAES-256-GCM
//! under a known key, sharing no code with the crate.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sealed_session::{
    Codec, Dictionary, DynamicSession, Error, Identity, Key, KeyId, KeyRing, KeyState, Lineage,
    Mode, Reseal, RevocationSet, Revoked, SessionHandle, SessionId, SessionSettings,
    DEFAULT_MAX_LIFETIME, MAX_SUBJECT_LEN,
};
use serde_json::json;
use xaes_256_gcm::aead::{AeadInOut, KeyInit};
use xaes_256_gcm::Xaes256Gcm;

#[path = "common/corpus_session.rs"]
mod corpus_session;
use corpus_session::Session;

const NAME: &str = "session";
const T0: u64 = 1_700_000_000;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;
const SKEW: u64 = 60;
const LIFETIME: u64 = 7 * DAY;
/// A retention that covers the default lifetime plus the default skew.
const RETENTION: Duration = Duration::from_secs(LIFETIME + SKEW);

// ---------------------------------------------------------------- helpers

fn key_old() -> Key {
    Key::from_bytes([1; 32])
}

fn key_new() -> Key {
    Key::from_bytes([2; 32])
}

fn ring(keys: &[(Key, KeyState)]) -> KeyRing {
    keys.iter()
        .fold(KeyRing::builder(), |b, (k, s)| b.key(k.clone(), *s))
        .build()
        .unwrap()
}

fn codec_with(ring: KeyRing) -> Codec {
    Codec::builder(NAME).key_ring(ring).build().unwrap()
}

/// A codec with one key, `key_old()`, and the defaults (identity on,
/// max_age one day, lifetime seven days, refresh after half).
fn codec() -> Codec {
    codec_with(ring(&[(key_old(), KeyState::Primary)]))
}

fn nonce(n: u64) -> [u8; 24] {
    let mut nonce = [0xa5; 24];
    nonce[..8].copy_from_slice(&n.to_be_bytes());
    nonce
}

fn session() -> DynamicSession {
    serde_json::from_value(json!({"user": 42, "cart": [3, 1]})).unwrap()
}

fn open(
    codec: &Codec,
    value: &str,
    now: u64,
) -> Result<sealed_session::Opened<DynamicSession>, Error> {
    codec.open_at::<DynamicSession>(value, now)
}

fn identity_of(codec: &Codec, value: &str, now: u64) -> Identity {
    open(codec, value, now)
        .unwrap()
        .identity
        .expect("an identity")
}

/// The value of the first `Set-Cookie` header.
fn value_of(header: &str) -> String {
    let pair = header.split(';').next().unwrap();
    let (_, value) = pair.split_once('=').unwrap();
    value.to_owned()
}

/// The Max-Age attribute of a `Set-Cookie` header.
fn max_age_of(header: &str) -> u64 {
    header
        .split("; ")
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap_or_else(|| panic!("no Max-Age in {header}"))
        .parse()
        .unwrap()
}

/// The `name=value` pair of the first header, as a `Cookie` header.
fn cookie_pair(header: &str) -> String {
    header.split(';').next().unwrap().to_owned()
}

/// The flags byte of a value sealed under `key` for NAME (the first byte of
/// the plaintext).
fn flags_of(key: [u8; 32], value: &str) -> u8 {
    let raw = URL_SAFE_NO_PAD.decode(value).unwrap();
    let nonce: [u8; 24] = raw[5..29].try_into().unwrap();
    let tag: [u8; 16] = raw[raw.len() - 16..].try_into().unwrap();
    let mut aad = raw[..5].to_vec();
    aad.extend_from_slice(NAME.as_bytes());
    let mut plaintext = raw[29..raw.len() - 16].to_vec();
    Xaes256Gcm::new(&key.into())
        .decrypt_inout_detached(
            &nonce.into(),
            &aad,
            plaintext.as_mut_slice().into(),
            &tag.into(),
        )
        .unwrap();
    plaintext[0]
}

// ---------------------------------------------------------------- minting and carrying

#[test]
fn identity_is_minted_on_the_first_seal() {
    let codec = codec();
    let value = codec
        .seal_with_at(&session(), &Lineage::new_for("842753582"), T0, nonce(1))
        .unwrap();
    let opened = open(&codec, &value, T0 + 5).unwrap();
    let identity = opened.identity.clone().unwrap();
    assert_eq!(identity.created_at, T0);
    assert_eq!(identity.origin_key, key_old().id());
    assert_eq!(identity.subject.as_deref(), Some("842753582"));
    assert_eq!(opened.reseal, None);

    // A new session per nonce; the same inputs give the same id (sealing is
    // a function of its inputs).
    let other = codec.seal_at(&session(), T0, nonce(2)).unwrap();
    let again = codec.seal_at(&session(), T0, nonce(1)).unwrap();
    let other_id = identity_of(&codec, &other, T0).session_id;
    assert_ne!(other_id, identity.session_id);
    assert_eq!(
        identity_of(&codec, &again, T0).session_id,
        identity.session_id
    );
    assert_eq!(identity_of(&codec, &other, T0).subject, None);
    // `seal_at` and `encode_at` start new sessions too.
    let encoded = codec.encode_at(&session(), T0, nonce(3)).unwrap();
    let encoded = identity_of(&codec, &value_of(encoded.iter().next().unwrap()), T0);
    assert_eq!(encoded.created_at, T0);
    assert_ne!(encoded.session_id, identity.session_id);
}

#[test]
fn identity_is_carried_through_reseals_with_lineage() {
    let codec = codec();
    let mut value = codec
        .seal_with_at(&session(), &Lineage::new_for("u-7"), T0, nonce(0))
        .unwrap();
    let first = identity_of(&codec, &value, T0);
    // Re-seal every 13 hours for six days, alternating seal_with_at and
    // encode_with_at, changing the session each time.
    for step in 1..=11u64 {
        let now = T0 + step * 13 * HOUR;
        let mut opened = open(&codec, &value, now).unwrap();
        assert_eq!(opened.identity.as_ref(), Some(&first), "step {step}");
        opened.session.insert("step".into(), json!(step));
        value = if step % 2 == 0 {
            codec
                .seal_with_at(&opened.session, &opened.lineage(), now, nonce(step))
                .unwrap()
        } else {
            let cookies = codec
                .encode_with_at(&opened.session, &opened.lineage(), None, now, nonce(step))
                .unwrap();
            value_of(cookies.iter().next().unwrap())
        };
        let reopened = open(&codec, &value, now).unwrap();
        assert_eq!(reopened.issued_at, now, "a fresh value");
        assert_eq!(reopened.identity.as_ref(), Some(&first), "step {step}");
        assert_eq!(reopened.session.get("step"), Some(&json!(step)));
    }
}

#[test]
fn encode_with_at_the_current_time_carries_the_identity() {
    let codec = codec();
    let cookies = codec
        .encode_with(&session(), &Lineage::new_for("alice"))
        .unwrap();
    let opened = codec
        .open::<DynamicSession>(&value_of(cookies.iter().next().unwrap()))
        .unwrap();
    let first = opened.identity.clone().unwrap();
    let again = codec
        .encode_with(&opened.session, &opened.lineage())
        .unwrap();
    let reopened = codec
        .open::<DynamicSession>(&value_of(again.iter().next().unwrap()))
        .unwrap();
    assert_eq!(reopened.identity, Some(first.clone()));
    // With a domain derived from the host, too.
    let domain_codec = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .domain("example.com")
        .build()
        .unwrap();
    let cookies = domain_codec
        .encode_with_for_host(&opened.session, &opened.lineage(), "www.example.com")
        .unwrap();
    let header = cookies.iter().next().unwrap();
    assert!(header.contains("; Domain=example.com"), "{header}");
    assert_eq!(
        domain_codec
            .open::<DynamicSession>(&value_of(header))
            .unwrap()
            .identity,
        Some(first)
    );
}

#[test]
fn rotation_reseals_keep_the_origin_key() {
    let before = codec();
    let value = before
        .seal_with_at(&session(), &Lineage::new_for("u-1"), T0, nonce(1))
        .unwrap();
    let first = identity_of(&before, &value, T0);
    // Step 2 of a rotation: the new key is primary, the old one active.
    let rotated = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Active),
    ]));
    let opened = open(&rotated, &value, T0 + HOUR).unwrap();
    assert_eq!(opened.reseal, Some(Reseal::NotPrimaryKey));
    let resealed = rotated
        .seal_with_at(&opened.session, &opened.lineage(), T0 + HOUR, nonce(2))
        .unwrap();
    let reopened = open(&rotated, &resealed, T0 + HOUR).unwrap();
    assert_eq!(reopened.key_id, key_new().id(), "sealed under the primary");
    assert_eq!(reopened.identity, Some(first.clone()));
    assert_eq!(first.origin_key, key_old().id(), "still the origin");
    // Before the rotation the origin was the sealing key, so it was left
    // out (bit 5); now it is another key, so it is written.
    assert_eq!(flags_of([1; 32], &value) & 0x38, 0x38);
    assert_eq!(flags_of([2; 32], &resealed) & 0x38, 0x18);
    // Re-sealed again under the new primary: still written, still the old
    // key (the lineage of a value under the primary keeps its origin).
    let again = rotated
        .seal_with_at(
            &reopened.session,
            &reopened.lineage(),
            T0 + 2 * HOUR,
            nonce(3),
        )
        .unwrap();
    assert_eq!(flags_of([2; 32], &again) & 0x38, 0x18);
    assert_eq!(identity_of(&rotated, &again, T0 + 2 * HOUR), first);
    // A session created after the rotation originates from the new key and
    // leaves it out again.
    let fresh = rotated.seal_at(&session(), T0 + HOUR, nonce(4)).unwrap();
    assert_eq!(flags_of([2; 32], &fresh) & 0x38, 0x28);
    assert_eq!(
        identity_of(&rotated, &fresh, T0 + HOUR).origin_key,
        key_new().id()
    );
}

#[test]
fn the_origin_key_id_is_left_out_while_it_is_the_sealing_key() {
    let codec = codec();
    let explicit = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .compact_identity(false)
        .build()
        .unwrap();
    for lineage in [Lineage::new(), Lineage::new_for("842753582")] {
        let compact = codec
            .seal_with_at(&session(), &lineage, T0, nonce(1))
            .unwrap();
        let written = explicit
            .seal_with_at(&session(), &lineage, T0, nonce(1))
            .unwrap();
        // Same session, same nonce: the only difference is the 4 bytes of
        // the origin key id and bit 5.
        let raw = |v: &str| URL_SAFE_NO_PAD.decode(v).unwrap().len();
        assert_eq!(raw(&written) - raw(&compact), 4);
        assert_eq!(flags_of([1; 32], &compact) & 0x28, 0x28);
        assert_eq!(flags_of([1; 32], &written) & 0x28, 0x08);
        // Both open to the same identity, in either codec.
        let identity = identity_of(&codec, &compact, T0);
        assert_eq!(identity.origin_key, key_old().id());
        for c in [&codec, &explicit] {
            assert_eq!(identity_of(c, &compact, T0), identity);
            assert_eq!(identity_of(c, &written, T0), identity);
        }
    }
    // A carried identity whose origin is another key keeps it written,
    // whether that key is in the ring or not.
    let carried = Identity::new(
        SessionId::from_bytes([4; 16]),
        T0 - DAY,
        key_new().id(),
        None,
    );
    let value = codec
        .seal_with_at(
            &session(),
            &Lineage::Continue(carried.clone()),
            T0,
            nonce(2),
        )
        .unwrap();
    assert_eq!(flags_of([1; 32], &value) & 0x28, 0x08);
    assert_eq!(identity_of(&codec, &value, T0), carried);
}

#[test]
fn a_clock_behind_the_creating_server_clamps_created_at() {
    let codec = codec();
    let value = codec.seal_at(&session(), T0 + 30, nonce(1)).unwrap();
    // A server 30 s behind opens it (within the skew) and re-seals it.
    let opened = open(&codec, &value, T0).unwrap();
    let resealed = codec
        .seal_with_at(&opened.session, &opened.lineage(), T0, nonce(2))
        .unwrap();
    let identity = identity_of(&codec, &resealed, T0);
    assert_eq!(identity.created_at, T0, "never created after it was sealed");
    assert_eq!(
        identity.session_id,
        opened.identity.unwrap().session_id,
        "same session"
    );
}

#[test]
fn lineage_new_mints_a_new_identity() {
    let codec = codec();
    let value = codec
        .seal_with_at(&session(), &Lineage::new_for("u-1"), T0, nonce(1))
        .unwrap();
    let opened = open(&codec, &value, T0 + HOUR).unwrap();
    let old = opened.identity.clone().unwrap();
    let renewed = codec
        .seal_with_at(
            &opened.session,
            &Lineage::new_for("u-2"),
            T0 + HOUR,
            nonce(2),
        )
        .unwrap();
    let new = identity_of(&codec, &renewed, T0 + HOUR);
    assert_ne!(new.session_id, old.session_id);
    assert_eq!(new.created_at, T0 + HOUR);
    assert_eq!(new.subject.as_deref(), Some("u-2"));
    let without = codec
        .seal_with_at(&opened.session, &Lineage::new(), T0 + HOUR, nonce(3))
        .unwrap();
    assert_eq!(identity_of(&codec, &without, T0 + HOUR).subject, None);
}

// ---------------------------------------------------------------- the session handle

/// A handle for a request carrying `header`'s cookie.
fn handle(settings: &SessionSettings, header: &str) -> SessionHandle<DynamicSession> {
    SessionHandle::from_cookie_header(settings, cookie_pair(header), false)
}

#[test]
fn handle_carries_the_identity_and_renew_starts_a_new_session() {
    let codec = codec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Signed in an hour ago as "alice".
    let cookies = codec
        .encode_with_at(
            &session(),
            &Lineage::new_for("alice"),
            None,
            now - HOUR,
            nonce(1),
        )
        .unwrap();
    let header = cookies.iter().next().unwrap().to_owned();
    let settings = SessionSettings::new(codec);
    let original = handle(&settings, &header).identity().unwrap();
    assert_eq!(original.created_at, now - HOUR);
    assert_eq!(original.subject.as_deref(), Some("alice"));

    // An ordinary change keeps the identity.
    let h = handle(&settings, &header);
    h.update(|s| {
        s.insert("theme".into(), json!("dark"));
    });
    let changed = h.finish(None).unwrap().expect("a seal");
    let after_change = handle(&settings, changed.iter().next().unwrap());
    assert_eq!(after_change.identity(), Some(original.clone()));
    assert_eq!(
        after_change.get().unwrap().get("theme"),
        Some(&json!("dark"))
    );

    // renew(): new id, created now, same subject, the session data kept.
    let h = handle(&settings, &header);
    h.renew();
    let renewed = h.finish(None).unwrap().expect("a seal");
    let next = handle(&settings, renewed.iter().next().unwrap());
    let identity = next.identity().unwrap();
    assert_ne!(identity.session_id, original.session_id);
    assert!(identity.created_at >= now, "created now, not an hour ago");
    assert_eq!(identity.subject.as_deref(), Some("alice"));
    assert_eq!(next.get(), Some(session()));

    // renew_for(): a new owner.
    let h = handle(&settings, &header);
    h.renew_for("bob");
    let renewed = h.finish(None).unwrap().expect("a seal");
    let identity = handle(&settings, renewed.iter().next().unwrap())
        .identity()
        .unwrap();
    assert_ne!(identity.session_id, original.session_id);
    assert!(identity.created_at >= now);
    assert_eq!(identity.subject.as_deref(), Some("bob"));

    // A fresh session (no cookie) gets an identity on its first seal.
    let h = SessionHandle::<DynamicSession>::from_cookie_header(&settings, "", false);
    assert_eq!(h.identity(), None);
    h.set(session());
    h.renew_for("carol");
    let first = h.finish(None).unwrap().expect("a seal");
    let identity = handle(&settings, first.iter().next().unwrap())
        .identity()
        .unwrap();
    assert_eq!(identity.subject.as_deref(), Some("carol"));
    assert!(identity.created_at >= now);

    // A subject that cannot be sealed is an error, not a silent drop.
    let h = handle(&settings, &header);
    h.renew_for("x".repeat(MAX_SUBJECT_LEN + 1));
    assert!(matches!(h.finish(None), Err(Error::Config { .. })));
}

// ---------------------------------------------------------------- absolute lifetime

#[test]
fn absolute_lifetime_ends_a_session_refreshed_every_hour() {
    let codec = codec();
    let end = T0 + LIFETIME;
    let mut value = codec.seal_at(&session(), T0, nonce(0)).unwrap();
    let mut last_max_ages = Vec::new();
    let mut hour = 1;
    let ended_at = loop {
        assert!(hour <= 8 * 24, "still re-sealed after eight days");
        let now = T0 + hour * HOUR;
        let opened = open(&codec, &value, now)
            .unwrap_or_else(|e| panic!("hour {hour}: refused before the end: {e}"));
        // Every request re-seals, as a thief's busy client would make it.
        match codec.encode_with_at(&opened.session, &opened.lineage(), None, now, nonce(hour)) {
            Ok(cookies) => {
                let header = cookies.iter().next().unwrap();
                let max_age = max_age_of(header);
                assert!(
                    now + max_age <= end,
                    "hour {hour}: Max-Age {max_age} outlives the lifetime"
                );
                assert_eq!(max_age, (end - now).min(DAY) - SKEW, "hour {hour}");
                last_max_ages.push(max_age);
                value = value_of(header);
            }
            Err(err) => {
                assert_eq!(
                    err,
                    Error::LifetimeEnded {
                        created_at: T0,
                        now
                    }
                );
                break now;
            }
        }
        hour += 1;
    };
    assert_eq!(
        ended_at, end,
        "the encoder refuses once the lifetime is over"
    );
    // The last encodes: a full day until one day is left, then what remains.
    assert_eq!(
        &last_max_ages[last_max_ages.len() - 4..],
        &[
            4 * HOUR - SKEW,
            3 * HOUR - SKEW,
            2 * HOUR - SKEW,
            HOUR - SKEW
        ]
    );
    assert_eq!(last_max_ages[0], DAY - SKEW);
    // The last value was cut to the end of the lifetime: it opens within
    // the skew, never after.
    assert!(open(&codec, &value, end + SKEW - 1).is_ok());
    assert!(open(&codec, &value, end + SKEW).is_err());
}

#[test]
fn a_value_that_outlives_the_lifetime_is_refused_as_lifetime_ended() {
    // Sealed by a server configured for 30 days (or an older value), opened
    // by one with the default seven: the decoder's own check ends it.
    let lenient = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .max_lifetime(Duration::from_secs(30 * DAY))
        .build()
        .unwrap();
    let strict = codec();
    let end = T0 + LIFETIME;
    let mut value = lenient.seal_at(&session(), T0, nonce(0)).unwrap();
    let mut hour = 1;
    let refused_at = loop {
        assert!(hour <= 8 * 24, "still opened after eight days");
        let now = T0 + hour * HOUR;
        match open(&strict, &value, now) {
            Ok(opened) => {
                value = lenient
                    .seal_with_at(&opened.session, &opened.lineage(), now, nonce(hour))
                    .unwrap();
            }
            Err(err) => {
                assert_eq!(
                    err,
                    Error::LifetimeEnded {
                        created_at: T0,
                        now
                    }
                );
                break now;
            }
        }
        hour += 1;
    };
    assert!((end + SKEW..end + SKEW + HOUR).contains(&refused_at));
    // The boundary: the skew allowance, then nothing.
    let value = lenient
        .seal_with_at(
            &session(),
            &Lineage::Continue(identity_of(&lenient, &value, end)),
            end - HOUR,
            nonce(999),
        )
        .unwrap();
    assert!(open(&strict, &value, end + SKEW - 1).is_ok());
    assert_eq!(
        open(&strict, &value, end + SKEW).unwrap_err(),
        Error::LifetimeEnded {
            created_at: T0,
            now: end + SKEW
        }
    );
    assert!(
        open(&lenient, &value, end + SKEW).is_ok(),
        "its own lifetime"
    );
}

#[test]
fn max_lifetime_defaults_to_seven_days_or_max_age() {
    assert_eq!(DEFAULT_MAX_LIFETIME, Duration::from_secs(LIFETIME));
    // max_age of 30 days: the lifetime is 30 days too.
    let long = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .max_age(Duration::from_secs(30 * DAY))
        .build()
        .unwrap();
    let value = long.seal_at(&session(), T0, nonce(1)).unwrap();
    assert!(open(&long, &value, T0 + 20 * DAY).is_ok());
    // A lifetime shorter than max_age is a configuration error.
    let err = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .max_lifetime(Duration::from_secs(HOUR))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_lifetime"), "{err}");
}

// ---------------------------------------------------------------- revocation

fn codec_revoking(set: &Arc<RevocationSet>) -> Codec {
    Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .revocations(Arc::clone(set))
        .build()
        .unwrap()
}

#[test]
fn a_revoked_session_id_is_refused_and_others_open() {
    let set = Arc::new(RevocationSet::new(RETENTION));
    let codec = codec_revoking(&set);
    let victim = codec.seal_at(&session(), T0, nonce(1)).unwrap();
    let other = codec.seal_at(&session(), T0, nonce(2)).unwrap();
    let id = identity_of(&codec, &victim, T0).session_id;
    set.revoke_session(id, T0 + 10);
    assert_eq!(
        open(&codec, &victim, T0 + 20).unwrap_err(),
        Error::Revoked {
            reason: Revoked::Session
        }
    );
    assert!(open(&codec, &other, T0 + 20).is_ok());
    // Re-seals carry the id, so they are revoked too.
    let carrier = codec
        .seal_with_at(
            &session(),
            &Lineage::Continue(Identity::new(id, T0, key_old().id(), None)),
            T0 + 30,
            nonce(3),
        )
        .unwrap();
    assert_eq!(
        open(&codec, &carrier, T0 + 30).unwrap_err(),
        Error::Revoked {
            reason: Revoked::Session
        }
    );
    // A codec without the set opens it: the set is what revokes.
    assert!(open(&self::codec(), &victim, T0 + 20).is_ok());
}

#[test]
fn revocation_is_checked_after_authentication_and_expiry() {
    let set = Arc::new(RevocationSet::new(RETENTION));
    let codec = codec_revoking(&set);
    let value = codec.seal_at(&session(), T0, nonce(1)).unwrap();
    set.revoke_session(identity_of(&codec, &value, T0).session_id, T0);
    let mut raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert_eq!(
        open(&codec, &URL_SAFE_NO_PAD.encode(&raw), T0).unwrap_err(),
        Error::Unauthenticated
    );
    assert!(matches!(
        open(&codec, &value, T0 + DAY + SKEW).unwrap_err(),
        Error::Expired { .. }
    ));
}

#[test]
fn a_revoked_subject_ends_sessions_created_before_the_revocation() {
    let set = Arc::new(RevocationSet::new(RETENTION));
    let codec = codec_revoking(&set);
    let seal = |subject: Option<&str>, at: u64, n: u64| {
        let lineage = subject.map_or_else(Lineage::new, Lineage::new_for);
        codec
            .seal_with_at(&session(), &lineage, at, nonce(n))
            .unwrap()
    };
    let phone = seal(Some("u-42"), T0, 1);
    let laptop = seal(Some("u-42"), T0 + 99, 2);
    let other_user = seal(Some("u-43"), T0, 3);
    let anonymous = seal(None, T0, 4);
    // "Sign out everywhere" at T0 + 100.
    set.revoke_subject("u-42", T0 + 100).unwrap();
    let after_signin = seal(Some("u-42"), T0 + 100, 5);
    let later = seal(Some("u-42"), T0 + 200, 6);
    let now = T0 + 300;
    let subject = Error::Revoked {
        reason: Revoked::Subject,
    };
    assert_eq!(open(&codec, &phone, now).unwrap_err(), subject);
    assert_eq!(open(&codec, &laptop, now).unwrap_err(), subject);
    assert!(
        open(&codec, &after_signin, now).is_ok(),
        "created at the revocation time"
    );
    assert!(open(&codec, &later, now).is_ok(), "a new sign-in");
    assert!(open(&codec, &other_user, now).is_ok());
    assert!(open(&codec, &anonymous, now).is_ok());
    // A re-seal keeps created_at, so it does not escape the revocation.
    let resealed = codec
        .seal_with_at(
            &session(),
            &Lineage::Continue(identity_of(&self::codec(), &phone, T0 + 50)),
            T0 + 150,
            nonce(7),
        )
        .unwrap();
    assert_eq!(open(&codec, &resealed, now).unwrap_err(), subject);
    // A later revocation replaces the earlier one; an earlier one does not.
    set.revoke_subject("u-42", T0 + 250).unwrap();
    assert_eq!(open(&codec, &later, now).unwrap_err(), subject);
    set.revoke_subject("u-42", T0).unwrap();
    assert_eq!(open(&codec, &later, now).unwrap_err(), subject);
    assert!(set.revoke_subject("", T0).is_err());
    assert!(set
        .revoke_subject(&"x".repeat(MAX_SUBJECT_LEN + 1), T0)
        .is_err());
}

#[test]
fn a_revoked_origin_key_ends_sessions_created_under_it() {
    let before = codec();
    let value = before.seal_at(&session(), T0, nonce(1)).unwrap();
    // The value is re-sealed under the new primary, then the old key is
    // revoked.
    let rotated = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Active),
    ]));
    let opened = open(&rotated, &value, T0 + HOUR).unwrap();
    let resealed = rotated
        .seal_with_at(&opened.session, &opened.lineage(), T0 + HOUR, nonce(2))
        .unwrap();
    let revoked = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Revoked),
    ]));
    assert_eq!(
        open(&revoked, &resealed, T0 + 2 * HOUR).unwrap_err(),
        Error::Revoked {
            reason: Revoked::OriginKey
        }
    );
    // The copy still under the old key: refused by its key.
    assert_eq!(
        open(&revoked, &value, T0 + 2 * HOUR).unwrap_err(),
        Error::RevokedKey {
            key_id: key_old().id()
        }
    );
    // Retiring the old key (a routine rotation) ends nothing re-sealed.
    let retired = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Retired { until: T0 }),
    ]));
    assert!(open(&retired, &resealed, T0 + 2 * HOUR).is_ok());
    // Once the key is removed from the ring, its id is unknown: the
    // re-sealed session keeps opening.
    let removed = codec_with(ring(&[(key_new(), KeyState::Primary)]));
    assert!(open(&removed, &resealed, T0 + 2 * HOUR).is_ok());
}

/// The leaked-key case of SECURITY.md ("What a leaked key means").
#[test]
fn a_forgery_under_a_leaked_key_is_ended_by_revoking_that_key() {
    // The attacker holds K_old and seals a session of their choosing as a
    // new session, while K_old is still accepted (active) and K_new is
    // primary.
    let attacker = codec_with(ring(&[(key_old(), KeyState::Primary)]));
    let forged_json: DynamicSession =
        serde_json::from_value(json!({"user": 1, "role": "admin"})).unwrap();
    let forged = attacker
        .seal_with_at(&forged_json, &Lineage::new_for("1"), T0, nonce(66))
        .unwrap();
    let server = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Active),
    ]));
    // Presented once: it opens and the rotation flow re-seals it under the
    // primary, with its lineage.
    let opened = open(&server, &forged, T0 + 10).unwrap();
    assert_eq!(opened.reseal, Some(Reseal::NotPrimaryKey));
    let laundered = server
        .encode_with_at(&opened.session, &opened.lineage(), None, T0 + 10, nonce(67))
        .unwrap();
    let laundered = value_of(laundered.iter().next().unwrap());
    let reopened = open(&server, &laundered, T0 + 20).unwrap();
    assert_eq!(reopened.key_id, key_new().id());
    assert_eq!(reopened.reseal, None, "indistinguishable by its key");
    // A genuine session created under K_new.
    let genuine = server
        .seal_with_at(&session(), &Lineage::new_for("2"), T0 + 30, nonce(68))
        .unwrap();

    // The leak is found: K_old is revoked in a new ring.
    let after = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Revoked),
    ]));
    assert_eq!(
        open(&after, &laundered, T0 + 40).unwrap_err(),
        Error::Revoked {
            reason: Revoked::OriginKey
        }
    );
    assert_eq!(
        open(&after, &forged, T0 + 40).unwrap_err(),
        Error::RevokedKey {
            key_id: key_old().id()
        }
    );
    let genuine = open(&after, &genuine, T0 + 40).unwrap();
    assert_eq!(genuine.session, session());
    assert_eq!(genuine.identity.unwrap().origin_key, key_new().id());
}

/// A key holder writes any identity, or none: revoking the key still ends
/// what it vouched for, because a value that opens under a key other than
/// the primary is re-sealed with that key as its origin
/// (`Opened::lineage`; SECURITY.md, "What a leaked key means").
#[test]
fn revoking_an_older_key_ends_values_without_identity_and_forged_origins() {
    let server = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Active),
    ]));
    let after = codec_with(ring(&[
        (key_new(), KeyState::Primary),
        (key_old(), KeyState::Revoked),
    ]));
    // 1. A value without identity under K_old (sealed before identities
    //    were written, or forged so): re-sealed, it becomes a new session
    //    whose origin is K_old.
    let old_style = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .write_identity(false)
        .build()
        .unwrap();
    let value = old_style.seal_at(&session(), T0, nonce(1)).unwrap();
    let opened = open(&server, &value, T0 + 10).unwrap();
    assert_eq!(opened.identity, None);
    let resealed = server
        .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(2))
        .unwrap();
    assert_eq!(
        identity_of(&server, &resealed, T0 + 20).origin_key,
        key_old().id()
    );
    assert_eq!(
        open(&after, &resealed, T0 + 20).unwrap_err(),
        Error::Revoked {
            reason: Revoked::OriginKey
        }
    );
    // 2. An identity that names K_new as its origin, sealed under K_old:
    //    once re-sealed, its origin is K_old, and it ends with K_old.
    let attacker = codec_with(ring(&[(key_old(), KeyState::Primary)]));
    let claimed = Identity::new(SessionId::from_bytes([0xee; 16]), T0, key_new().id(), None);
    let forged = attacker
        .seal_with_at(&session(), &Lineage::Continue(claimed), T0, nonce(3))
        .unwrap();
    let opened = open(&server, &forged, T0 + 10).unwrap();
    let resealed = server
        .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(4))
        .unwrap();
    let identity = identity_of(&server, &resealed, T0 + 20);
    assert_eq!(identity.origin_key, key_old().id());
    assert_eq!(identity.session_id, SessionId::from_bytes([0xee; 16]));
    assert_eq!(
        open(&after, &resealed, T0 + 20).unwrap_err(),
        Error::Revoked {
            reason: Revoked::OriginKey
        }
    );
    // 3. A genuine session created under the primary keeps its origin.
    let genuine = server.seal_at(&session(), T0, nonce(5)).unwrap();
    let opened = open(&server, &genuine, T0 + 10).unwrap();
    let resealed = server
        .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(6))
        .unwrap();
    assert!(open(&after, &resealed, T0 + 20).is_ok());
}

// ---------------------------------------------------------------- revocation entries expire

#[test]
fn revocation_entries_are_dropped_after_the_retention() {
    let set = RevocationSet::new(Duration::from_secs(600));
    set.revoke_session(SessionId::from_bytes([1; 16]), 1_000);
    set.revoke_subject("u-1", 1_100).unwrap();
    assert_eq!(set.len(), 2);
    set.sweep(1_599);
    assert_eq!(set.len(), 2);
    set.sweep(1_600);
    assert_eq!(set.len(), 1, "the session entry, at its time + retention");
    set.sweep(1_699);
    assert_eq!(set.len(), 1);
    set.sweep(1_700);
    assert!(set.is_empty());
    // A later revocation of the same session extends its entry.
    set.revoke_session(SessionId::from_bytes([2; 16]), 1_000);
    set.revoke_session(SessionId::from_bytes([2; 16]), 2_000);
    set.sweep(2_000);
    assert_eq!(set.len(), 1);
    set.sweep(2_600);
    assert!(set.is_empty());
}

#[test]
fn inserts_sweep_expired_entries_so_memory_stays_bounded() {
    let set = RevocationSet::new(Duration::from_secs(600));
    for i in 0..1023u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        set.revoke_session(SessionId::from_bytes(id), 1_000);
    }
    assert_eq!(set.len(), 1023);
    // An insert past the others' retention sweeps them.
    set.revoke_session(SessionId::from_bytes([0xff; 16]), 1_600);
    assert_eq!(set.len(), 1);
}

#[test]
fn a_dropped_entry_could_only_match_a_value_that_no_longer_opens() {
    let set = Arc::new(RevocationSet::new(RETENTION));
    let codec = codec_revoking(&set);
    // The latest value a revoked session could have: created at the
    // revocation time, re-sealed at the very end of its lifetime.
    let revoked_at = T0;
    let value = codec.seal_at(&session(), revoked_at, nonce(1)).unwrap();
    let identity = identity_of(&codec, &value, revoked_at);
    set.revoke_session(identity.session_id, revoked_at);
    let last = codec
        .seal_with_at(
            &session(),
            &Lineage::Continue(identity),
            revoked_at + LIFETIME - 1,
            nonce(2),
        )
        .unwrap();
    let drop_at = revoked_at + RETENTION.as_secs();
    set.sweep(drop_at - 1);
    assert_eq!(
        open(&codec, &last, drop_at - 1).unwrap_err(),
        Error::Revoked {
            reason: Revoked::Session
        }
    );
    set.sweep(drop_at);
    assert!(set.is_empty());
    assert!(matches!(
        open(&codec, &last, drop_at).unwrap_err(),
        Error::Expired { .. } | Error::LifetimeEnded { .. }
    ));
}

#[test]
fn the_codec_refuses_a_set_that_forgets_too_early() {
    let build = |retention: u64, lifetime: Option<u64>| {
        let mut builder = Codec::builder(NAME)
            .key_ring(ring(&[(key_old(), KeyState::Primary)]))
            .max_age(Duration::from_secs(HOUR))
            .revocations(Arc::new(RevocationSet::new(Duration::from_secs(retention))));
        if let Some(lifetime) = lifetime {
            builder = builder.max_lifetime(Duration::from_secs(lifetime));
        }
        builder.build()
    };
    let err = build(LIFETIME + SKEW - 1, None).unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    let message = err.to_string();
    assert!(
        message.contains(&format!("at least {}", LIFETIME + SKEW)),
        "{message}"
    );
    assert!(build(LIFETIME + SKEW, None).is_ok());
    assert!(build(DAY + SKEW - 1, Some(DAY)).is_err());
    assert!(build(DAY + SKEW, Some(DAY)).is_ok());
}

// ---------------------------------------------------------------- two-step rollout

fn phase_one() -> Codec {
    Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .write_identity(false)
        .build()
        .unwrap()
}

#[test]
fn phase_one_writes_values_without_identity_that_both_open() {
    let phase_one = phase_one();
    let phase_two = codec();
    let value = phase_one.seal_at(&session(), T0, nonce(1)).unwrap();
    assert_eq!(flags_of([1; 32], &value) & 0x18, 0, "no identity bits");
    let opened = open(&phase_one, &value, T0 + 10).unwrap();
    assert_eq!((opened.identity, opened.reseal), (None, None));
    // The phase-two codec opens it and asks for a re-seal that adds one.
    let opened = open(&phase_two, &value, T0 + 10).unwrap();
    assert_eq!(opened.identity, None);
    assert_eq!(opened.reseal, Some(Reseal::AddIdentity));
    let resealed = phase_two
        .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(2))
        .unwrap();
    let identity = identity_of(&phase_two, &resealed, T0 + 10);
    assert_eq!(identity.created_at, T0 + 10, "starts its lifetime now");
    assert_eq!(open(&phase_two, &resealed, T0 + 10).unwrap().reseal, None);
    // A phase-one re-seal of a value without identity adds none.
    let opened = open(&phase_one, &value, T0 + 10).unwrap();
    let again = phase_one
        .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(3))
        .unwrap();
    assert_eq!(open(&phase_one, &again, T0 + 10).unwrap().identity, None);
    // Encodes too.
    let cookies = phase_one.encode_at(&session(), T0, nonce(4)).unwrap();
    let header = cookies.iter().next().unwrap();
    assert_eq!(flags_of([1; 32], &value_of(header)) & 0x18, 0);
    assert_eq!(max_age_of(header), DAY - SKEW);
}

#[test]
fn values_with_identity_set_the_bits_an_older_decoder_refuses_and_phase_one_opens_them() {
    let phase_two = codec();
    let plain = phase_two.seal_at(&session(), T0, nonce(1)).unwrap();
    let with_subject = phase_two
        .seal_with_at(&session(), &Lineage::new_for("u"), T0, nonce(2))
        .unwrap();
    // An older decoder accepts only flag bits 0-2 (FORMAT.md, "Rolling out
    // identities"): these bits make it refuse the value. (Bit 5: the origin
    // key id is left out, as it is the sealing key.)
    assert_eq!(flags_of([1; 32], &plain) & 0xf8, 0x28);
    assert_eq!(flags_of([1; 32], &with_subject) & 0xf8, 0x38);
    // A phase-one server reads them, with every check.
    let phase_one = phase_one();
    assert_eq!(
        identity_of(&phase_one, &with_subject, T0)
            .subject
            .as_deref(),
        Some("u")
    );
    let opened = open(&phase_one, &plain, T0 + 10).unwrap();
    assert_eq!(opened.reseal, None);
    // Its re-seal, with lineage(), writes no identity (a rollback must not
    // produce values that older servers in the cluster refuse).
    let resealed = phase_one
        .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(3))
        .unwrap();
    assert_eq!(flags_of([1; 32], &resealed) & 0x18, 0);
}

/// The two steps for bit 5 (FORMAT.md, "Rolling out identities"): a
/// server of the version before it reads identities with their origin key
/// id written, and refuses bit 5 as reserved.
#[test]
fn compact_identity_false_writes_what_the_version_before_bit_5_reads() {
    let step_one = Codec::builder(NAME)
        .key_ring(ring(&[(key_old(), KeyState::Primary)]))
        .compact_identity(false)
        .build()
        .unwrap();
    let step_two = codec();
    for lineage in [Lineage::new(), Lineage::new_for("u")] {
        let old_form = step_one
            .seal_with_at(&session(), &lineage, T0, nonce(1))
            .unwrap();
        let new_form = step_two
            .seal_with_at(&session(), &lineage, T0, nonce(1))
            .unwrap();
        // The version before accepted flag bits 0-4 only.
        assert_eq!(flags_of([1; 32], &old_form) & !0x1f, 0);
        assert_eq!(flags_of([1; 32], &new_form) & !0x1f, 0x20);
        // Each step opens both forms, with nothing to re-seal.
        for codec in [&step_one, &step_two] {
            for value in [&old_form, &new_form] {
                let opened = open(codec, value, T0 + 10).unwrap();
                assert_eq!(opened.reseal, None);
                assert_eq!(opened.identity.unwrap().origin_key, key_old().id());
            }
        }
        // A step-one re-seal of a compact value writes the origin again.
        let opened = open(&step_one, &new_form, T0 + 10).unwrap();
        let resealed = step_one
            .seal_with_at(&opened.session, &opened.lineage(), T0 + 10, nonce(2))
            .unwrap();
        assert_eq!(flags_of([1; 32], &resealed) & 0x20, 0);
    }
}

// ---------------------------------------------------------------- old values

const VECTOR_KEY_A: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const VECTOR_KEY_B: [u8; 32] = [
    0xc0, 0xff, 0xee, 0x00, 0xc0, 0xff, 0xee, 0x00, 0xc0, 0xff, 0xee, 0x00, 0xc0, 0xff, 0xee, 0x00,
    0xc0, 0xff, 0xee, 0x00, 0xc0, 0xff, 0xee, 0x00, 0xc0, 0xff, 0xee, 0x00, 0xc0, 0xff, 0xee, 0x00,
];

/// FORMAT.md vector 5's dictionary.
const VECTOR_DICTIONARY: &str = r#"{"cart":[],"createdAt":1732656526,"csrf":"lbG_zIeIQ6kxlvTskWosYJmgiQNDJNtmcqc2haBW83I","currency":"CNY","flash":[{"level":"info","text":"Item added to your cart."}],"locale":"ja-JP","loginAt":1733159965,"recentlyViewed":[3334805,2688851,7195577,7360312,5217951,4585827],"user":{"avatar":"https://img.shop.example.com/avatar/885859004.png","email":"sofia.wang65@mail.example.org","id":885859004,"level":"vip","nickname":"Sofia","roles":["admin","seller"],"username":"sofia.wang65"},"visitor":"WuAKJMtnl3LgKyHG"}"#;

/// Vectors 1 to 5 of FORMAT.md (sealed before identities existed):
/// key, cookie name, mode, time, value, and the `user` (or its id).
struct OldValue {
    key: [u8; 32],
    name: &'static str,
    mode: Mode,
    dictionary: bool,
    now: u64,
    value: &'static str,
    user: u64,
}

const OLD_VALUES: &[OldValue] = &[
    OldValue {
        key: VECTOR_KEY_A,
        name: "session",
        mode: Mode::Sealed,
        dictionary: false,
        now: 1_700_000_000,
        value: concat!(
            "AW4_bW9AQUJDREVGR0hJSktMTU5PUFFSU1RVVld-QaQcSvX1ZUKEQP7MXMrUEnf-kHLigxaBoW0x",
            "GWEKGihIoehx2i66f1K-SOothXb_NSTrGgplV5pzT3Gk",
        ),
        user: 42,
    },
    OldValue {
        key: VECTOR_KEY_A,
        name: "__Secure-session",
        mode: Mode::Sealed,
        dictionary: false,
        now: 1_733_400_000,
        value: concat!(
            "AW4_bW-goaKjpKWmp6ipqqusra6vsLGys7S1trfNbPEyFdFuuePFhQIwLd4B0qOoBtaYfUMayjLD",
            "B7zBtP84t_VCF2ZTpmdtahLgSD2RBSN6A8IA0tyR13WgCTR5aRSjx8sgik6c-NlHCoZHcGgjnH5a",
            "2F3xcs5_PYcaUeuVpOExBsyMFDJkhnEHo2L9u212k-oF2NJ_H8sampWRaneKB4kcuPTQScSbAoyo",
            "XK0sQPFXLX6HLw2A31z9FbkmS3VGr0xiC4wEMRAiIQZBQvRNG4IoT-SGY9631CIgi2gp1-fi7S3J",
            "AkRFbprBIHUJvmXZ720fBygR62cWC7aDmwe5AjvFfKBaawlKVof1sMSVmQs6EoWnX1bW2FxFFIxu",
            "X4iwqDxzJbaP24rWfp308vkBvPZORQFfn6zonwmYusIgKfEdaro7pBhUHoBxxyzEMCIcSCwMT409",
            "g1KSoIi4vmZvl_v2YWQ_bOaOqjpbb_jx0qfhRkjPhBi_ljM7vwJJu5ce4-Mmb5rWaLIdPmWHoY2w",
            "EyjKcK6KWQouqq_9yZ3CK8wOQxKhgITG3NRpwBRe-9q98m2MxxKruX3e8w4Ur8LH4mPleovBLLhE",
            "NrDia87X2Kz_BUArgRw-4KLtehn3Tx3ooN6Lzv8XYunXX_cNn9xFzCHU70ZPmFADOxCwEKYSivph",
            "LMYfe7nyaJOiTvcHAofQi2YDJgclW4xpistX-H5AwGMnCRJSGcSj3b1p8oYiHuHg5OpwBcYNSzT6",
            "rkZvgvmn",
        ),
        user: 842_753_582,
    },
    OldValue {
        key: VECTOR_KEY_B,
        name: "sid",
        mode: Mode::Sealed,
        dictionary: false,
        now: 1_700_000_000,
        value: concat!(
            "ARWm2jsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAG2hUD65B4zcoUF5_fz_4coEYGXJCmOo_MjkKJm",
            "vnNjT7J_ud-18zbgDttil5K2Kyq1DIw2biUTDTK2OCR2MdJPzW6QriahNkt078zHqLjXyg",
        ),
        user: 7,
    },
    OldValue {
        key: VECTOR_KEY_B,
        name: "prefs",
        mode: Mode::SignedOnly,
        dictionary: false,
        now: 1_700_000_000,
        value: concat!(
            "AhWm2jsAAAAAZVPxAAAAAABnNSSAYsUzmvHjGXv7ismzoTJ5qBNiYohPoeicAK23htnzEul7ImNz",
            "cmYiOiJLbWg1b09iZGVVcVZ5ZGQ5IiwibGFuZyI6ImRlLUNIIiwidGhlbWUiOiJkYXJrIn0",
        ),
        user: 0,
    },
    OldValue {
        key: VECTOR_KEY_A,
        name: "__Secure-session",
        mode: Mode::Sealed,
        dictionary: true,
        now: 1_733_400_000,
        value: concat!(
            "AW4_bW_w8fLz9PX29_j5-vv8_f7_AAECAwQFBgcPR2I4Pz8oLS9Q5RyyXFvQNiAnnf9TYlnKdhul",
            "4qXVTIazhJRXhzrx7QAzO6rU4v83imAj-1XVHtugoDmm171SU_0YrUz210HiPPeIDjkwCzF-iyp4",
            "dDBexenX_1s9ysAtbVSDbVhDk44DXWu2f4ZqwEMh14Q08EBfDKACK6scVw434mqYJKjhDjLBLdsX",
            "bssoWZmGyJ8KzB3JLRznOMfjSOohONWUN1rBlQJW3tLD-RjiS9F5S5towoSX4L8E4vVRuQeSKIoA",
            "2iwT2EXx9Tc2AGg_9iMQUWctGrmfgQNTG2dRrIu9DvYzdTvjSaekpPnYkM-dtlYMdr5AY6b6u0pJ",
            "nT7j_-gF9MgIGs6fZmUhoNEWBQVVTGbfn9G1Ks-PTJ92Ry9x3EI6VFPdhiObINalzVZPWzBNxZcC",
            "r5HzP1jhJk9p8PefcF5k1gfXB5PfK65RbRJ2Y53KrMBhA6Q-xosPPtFHRhqfuDzKVmdhGUh0YXX0",
            "F1Jla7GLuJrhlRs7o98JCBq90NLgL6eupZ_69YyvmmH0ueMj5fqR-aQ",
        ),
        user: 842_753_582,
    },
];

#[test]
fn values_sealed_before_identities_still_open() {
    for (i, old) in OLD_VALUES.iter().enumerate() {
        let label = format!("vector {}", i + 1);
        // A codec as deployed now: identities on, with a revocation set.
        let mut builder = Codec::builder(old.name)
            .key_ring(KeyRing::from_keys([Key::from_bytes(old.key)]).unwrap())
            .mode(old.mode)
            .revocations(Arc::new(RevocationSet::new(RETENTION)));
        if old.dictionary {
            builder = builder.dictionaries([Dictionary::from_bytes(VECTOR_DICTIONARY).unwrap()]);
        }
        let codec = builder.build().unwrap();
        let opened = codec
            .open_at::<serde_json::Value>(old.value, old.now)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(opened.identity, None, "{label}");
        let user = &opened.session["user"];
        match old.mode {
            Mode::SignedOnly => {
                assert_eq!(opened.session["theme"], "dark", "{label}");
                assert_eq!(opened.reseal, None, "{label}: signed-only has no identity");
            }
            _ => {
                let id = user.get("id").unwrap_or(user).as_u64();
                assert_eq!(id, Some(old.user), "{label}");
                assert_eq!(opened.reseal, Some(Reseal::AddIdentity), "{label}");
                // Re-sealed, it gets an identity and keeps its data.
                let resealed = codec
                    .seal_with_at(&opened.session, &opened.lineage(), old.now + 1, nonce(1))
                    .unwrap();
                let reopened = codec
                    .open_at::<serde_json::Value>(&resealed, old.now + 1)
                    .unwrap();
                assert_eq!(reopened.session, opened.session, "{label}");
                let identity = reopened.identity.expect("an identity");
                assert_eq!(identity.created_at, old.now + 1, "{label}");
                assert_eq!(identity.origin_key, Key::from_bytes(old.key).id());
            }
        }
        // They still expire as they did: no lifetime applies without an
        // identity, only their own expiry.
        let expired = codec.open_at::<serde_json::Value>(old.value, opened.expires_at + SKEW);
        assert!(matches!(expired, Err(Error::Expired { .. })), "{label}");
    }
}

// ---------------------------------------------------------------- malformed identity blocks

/// The key of the hand-built values.
const RAW_KEY: [u8; 32] = [7; 32];
const RAW_NONCE: [u8; 24] = [9; 24];
const RAW_JSON: &[u8] = br#"{"user":42}"#;

fn raw_key_id() -> KeyId {
    Key::from_bytes(RAW_KEY).id()
}

fn raw_codec() -> Codec {
    Codec::builder(NAME)
        .key_ring(KeyRing::from_keys([Key::from_bytes(RAW_KEY)]).unwrap())
        .build()
        .unwrap()
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// flags || varint T0 || varint 3600 || `rest`.
fn plaintext(flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![flags];
    varint(&mut p, T0);
    varint(&mut p, HOUR);
    p.extend_from_slice(rest);
    p
}

/// session id || varint age || origin key id (no subject).
fn identity_block(age: u64) -> Vec<u8> {
    let mut block = vec![0x5a; 16];
    varint(&mut block, age);
    block.extend_from_slice(raw_key_id().as_bytes());
    block
}

/// A version 0x01 value of `plaintext` under RAW_KEY for NAME.
fn seal_raw(plaintext: &[u8]) -> String {
    let mut raw = vec![0x01];
    raw.extend_from_slice(raw_key_id().as_bytes());
    raw.extend_from_slice(&RAW_NONCE);
    let mut aad = raw[..5].to_vec();
    aad.extend_from_slice(NAME.as_bytes());
    let mut ciphertext = plaintext.to_vec();
    let tag = Xaes256Gcm::new(&RAW_KEY.into())
        .encrypt_inout_detached(&RAW_NONCE.into(), &aad, ciphertext.as_mut_slice().into())
        .unwrap();
    raw.extend_from_slice(&ciphertext);
    raw.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(raw)
}

/// session id || varint age, without the origin key id (flags bit 5).
fn compact_identity_block(age: u64) -> Vec<u8> {
    let mut block = vec![0x5a; 16];
    varint(&mut block, age);
    block
}

fn with_subject(age: u64, len: u8, subject: &[u8]) -> Vec<u8> {
    let mut rest = identity_block(age);
    rest.push(len);
    rest.extend_from_slice(subject);
    rest.extend_from_slice(RAW_JSON);
    rest
}

#[test]
fn hand_built_identity_blocks_open_as_format_md_says() {
    let codec = raw_codec();
    let mut rest = identity_block(HOUR);
    rest.extend_from_slice(RAW_JSON);
    let identity = identity_of(&codec, &seal_raw(&plaintext(0x08, &rest)), T0);
    assert_eq!(identity.session_id, SessionId::from_bytes([0x5a; 16]));
    assert_eq!(identity.created_at, T0 - HOUR);
    assert_eq!(identity.origin_key, raw_key_id());
    assert_eq!(identity.subject, None);
    let value = seal_raw(&plaintext(0x18, &with_subject(0, 9, b"842753582")));
    let identity = identity_of(&codec, &value, T0);
    assert_eq!(identity.subject.as_deref(), Some("842753582"));
    let longest = "é".repeat(MAX_SUBJECT_LEN / 2);
    let value = seal_raw(&plaintext(
        0x18,
        &with_subject(0, MAX_SUBJECT_LEN as u8, longest.as_bytes()),
    ));
    assert_eq!(
        identity_of(&codec, &value, T0).subject.as_deref(),
        Some(longest.as_str())
    );
    // Bit 5: no origin key id, the origin is the header's key id.
    let mut rest = compact_identity_block(HOUR);
    rest.extend_from_slice(RAW_JSON);
    let identity = identity_of(&codec, &seal_raw(&plaintext(0x28, &rest)), T0);
    assert_eq!(identity.session_id, SessionId::from_bytes([0x5a; 16]));
    assert_eq!(identity.created_at, T0 - HOUR);
    assert_eq!(identity.origin_key, raw_key_id());
    assert_eq!(identity.subject, None);
    let mut rest = compact_identity_block(0);
    rest.extend_from_slice(&[9]);
    rest.extend_from_slice(b"842753582");
    rest.extend_from_slice(RAW_JSON);
    let opened = open(&codec, &seal_raw(&plaintext(0x38, &rest)), T0).unwrap();
    let identity = opened.identity.unwrap();
    assert_eq!(identity.origin_key, raw_key_id());
    assert_eq!(identity.subject.as_deref(), Some("842753582"));
    assert_eq!(opened.session, serde_json::from_slice(RAW_JSON).unwrap());
    // A written origin that is the header's key id opens the same as the
    // compact form (the form sealed before bit 5).
    let mut rest = identity_block(HOUR);
    rest.extend_from_slice(RAW_JSON);
    let mut compact = compact_identity_block(HOUR);
    compact.extend_from_slice(RAW_JSON);
    assert_eq!(
        identity_of(&codec, &seal_raw(&plaintext(0x08, &rest)), T0),
        identity_of(&codec, &seal_raw(&plaintext(0x28, &compact)), T0)
    );
    // age == issued_at: created at the epoch, valid on the wire (and
    // refused only because its lifetime has long ended).
    let mut rest = identity_block(T0);
    rest.extend_from_slice(RAW_JSON);
    assert!(matches!(
        open(&codec, &seal_raw(&plaintext(0x08, &rest)), T0),
        Err(Error::LifetimeEnded { created_at: 0, .. })
    ));
}

#[test]
fn malformed_identity_blocks_are_malformed() {
    let codec = raw_codec();
    let malformed = |reason: &'static str| Err::<(), _>(Error::Malformed { reason });
    let check =
        |flags: u8, rest: &[u8]| open(&codec, &seal_raw(&plaintext(flags, rest)), T0).map(|_| ());
    let full = identity_block(0);
    // Truncated: nothing, part of the id, no origin, part of the origin.
    assert_eq!(check(0x08, &[]), malformed("truncated identity"));
    assert_eq!(check(0x08, &full[..10]), malformed("truncated identity"));
    assert_eq!(check(0x08, &full[..17]), malformed("truncated identity"));
    assert_eq!(check(0x08, &full[..19]), malformed("truncated identity"));
    // An age varint that never ends.
    let mut open_varint = vec![0x5a; 16];
    open_varint.push(0x80);
    assert!(matches!(
        check(0x08, &open_varint),
        Err(Error::Malformed { .. })
    ));
    // Subject: missing length, length 0, 65, longer than what is left.
    assert_eq!(check(0x18, &full), malformed("truncated identity"));
    assert_eq!(
        check(0x18, &with_subject(0, 0, b"")),
        malformed("bad subject length")
    );
    assert_eq!(
        check(0x18, &with_subject(0, 65, &[b'a'; 65])),
        malformed("bad subject length")
    );
    assert_eq!(
        check(0x18, &with_subject(0, 255, &[b'a'; 255])),
        malformed("bad subject length")
    );
    let mut short = full.clone();
    short.extend_from_slice(&[9, b'1', b'2']);
    assert_eq!(check(0x18, &short), malformed("truncated identity"));
    // Not UTF-8.
    assert_eq!(
        check(0x18, &with_subject(0, 2, &[0xff, 0xfe])),
        malformed("subject is not UTF-8")
    );
    assert_eq!(
        check(0x18, &with_subject(0, 1, &[0xc3])),
        malformed("subject is not UTF-8")
    );
    // The subject bit alone.
    assert_eq!(check(0x10, RAW_JSON), malformed("subject without identity"));
    // Created before the epoch.
    let mut rest = identity_block(T0 + 1);
    rest.extend_from_slice(RAW_JSON);
    assert_eq!(
        check(0x08, &rest),
        malformed("session created before the epoch")
    );
    // A reserved bit next to the identity bits. (Bit 6 is left to the
    // device-bound sessions tests.)
    let mut rest = full.clone();
    rest.extend_from_slice(RAW_JSON);
    assert_eq!(
        check(0x88, &rest),
        malformed("unknown flags: sealed by a newer version")
    );
    assert_eq!(
        check(0xa8, &rest[4..]),
        malformed("unknown flags: sealed by a newer version")
    );
    // Bit 5 without the identity bit, alone or with the subject bit.
    assert_eq!(
        check(0x20, RAW_JSON),
        malformed("origin flag without identity")
    );
    assert_eq!(check(0x30, RAW_JSON), malformed("subject without identity"));
    let mut compact = compact_identity_block(0);
    compact.extend_from_slice(RAW_JSON);
    assert_eq!(
        check(0x20, &compact),
        malformed("origin flag without identity")
    );
    // Bit 5, truncated: nothing, part of the id, the id without its age.
    assert_eq!(check(0x28, &[]), malformed("truncated identity"));
    assert_eq!(check(0x28, &compact[..10]), malformed("truncated identity"));
    assert_eq!(check(0x28, &compact[..16]), malformed("truncated varint"));
    // Bit 5 with a subject bit but no subject left.
    assert_eq!(
        check(0x38, &compact_identity_block(0)),
        malformed("truncated identity")
    );
    // Bit 5 over a block that writes the origin anyway: the 4 bytes are
    // read as the start of the body, which then is not the session.
    assert!(matches!(check(0x28, &rest), Err(Error::Deserialize { .. })));
}

#[test]
fn no_flags_and_no_truncation_of_an_identity_plaintext_panics() {
    let codec = raw_codec();
    let body = with_subject(5, 9, b"842753582");
    let whole = plaintext(0x18, &body);
    // Every flags byte over the same bytes, and every truncation of them:
    // an error or a session, never a panic (the test harness would report
    // one).
    let mut opened = 0;
    for flags in 0..=255u8 {
        let mut p = whole.clone();
        p[0] = flags;
        if open(&codec, &seal_raw(&p), T0).is_ok() {
            opened += 1;
        }
    }
    assert!(opened >= 1, "0x18 itself opens");
    for len in 0..whole.len() {
        let result = open(&codec, &seal_raw(&whole[..len]), T0);
        assert!(result.is_err(), "truncated to {len} bytes");
    }
    // The identity bytes under every single-byte value at every position.
    let start = whole.len() - body.len();
    for at in start..start + 16 + 1 + 4 + 1 + 9 {
        for byte in [0x00, 0x7f, 0x80, 0xff] {
            let mut p = whole.clone();
            p[at] = byte;
            let _ = open(&codec, &seal_raw(&p), T0);
        }
    }
}

// ---------------------------------------------------------------- subjects are bounded

#[test]
fn subjects_are_bounded_when_sealing() {
    let codec = codec();
    let seal =
        |subject: &str| codec.seal_with_at(&session(), &Lineage::new_for(subject), T0, nonce(1));
    let ok = seal(&"a".repeat(MAX_SUBJECT_LEN)).unwrap();
    assert_eq!(
        identity_of(&codec, &ok, T0).subject.map(|s| s.len()),
        Some(MAX_SUBJECT_LEN)
    );
    for bad in [
        "a".repeat(MAX_SUBJECT_LEN + 1),
        "é".repeat(33),
        String::new(),
    ] {
        let err = seal(&bad).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("1 to 64 bytes"), "{message}");
        assert!(
            message.contains(&format!("({} given)", bad.len())),
            "{message}"
        );
        assert!(!message.contains("aaaa"), "never quotes the subject");
    }
    // The same through encode and a carried identity.
    let too_long = Identity::new(
        SessionId::from_bytes([1; 16]),
        T0,
        key_old().id(),
        Some("a".repeat(65)),
    );
    assert!(codec
        .encode_with_at(&session(), &Lineage::Continue(too_long), None, T0, nonce(2))
        .is_err());
    // Debug output shows the subject's length only.
    let identity = identity_of(&codec, &seal("secret-user").unwrap(), T0);
    let debug = format!("{identity:?}");
    assert!(debug.contains("<11 bytes>"), "{debug}");
    assert!(!debug.contains("secret-user"), "{debug}");
}

// ---------------------------------------------------------------- size

fn typical_tier() -> Vec<Session> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus/sessions-typical.jsonl"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn median(mut v: Vec<usize>) -> usize {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Median growth of the value text (and of the decoded bytes) over the
/// typical tier when sealed under `key_old()`, `age` seconds after the
/// session was created under `origin`, against `write_identity(false)`.
fn growth(sessions: &[Session], subject: Option<&str>, age: u64, origin: KeyId) -> (usize, usize) {
    let with = codec();
    let without = phase_one();
    let mut text = Vec::new();
    let mut raw = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let n = nonce(i as u64);
        let identity = Identity::new(
            SessionId::from_bytes([3; 16]),
            T0 - age,
            origin,
            subject.map(str::to_owned),
        );
        let a = with
            .seal_with_at(session, &Lineage::Continue(identity), T0, n)
            .unwrap();
        let b = without.seal_at(session, T0, n).unwrap();
        text.push(a.len() - b.len());
        raw.push(
            URL_SAFE_NO_PAD.decode(&a).unwrap().len() - URL_SAFE_NO_PAD.decode(&b).unwrap().len(),
        );
    }
    (median(text), median(raw))
}

/// The issue's target: a typical value grows by at most 30 bytes with an
/// identity, at any age a session can reach (its lifetime is 7 days, so the
/// age varint is at most 3 bytes).
#[test]
fn identity_adds_at_most_30_bytes_to_a_typical_value() {
    let sessions = typical_tier();
    assert_eq!(sessions.len(), 1000);
    let sealer = key_old().id();
    for (label, age, age_len) in [
        ("first seal", 0, 1),
        ("re-sealed 1 minute after creation", 60, 1),
        ("re-sealed 1 hour after creation", HOUR, 2),
        ("re-sealed 5 hours after creation", 5 * HOUR, 3),
        ("re-sealed 6 days after creation", 6 * DAY, 3),
    ] {
        let (text, raw) = growth(&sessions, None, age, sealer);
        println!("identity, no subject, {label}: median +{text} characters (+{raw} bytes decoded)");
        assert!(text <= 30, "{label}: median growth {text} characters");
        assert_eq!(raw, 16 + age_len, "{label}: session id and age only");
    }
    // Not part of the target, recorded: a subject, and a session carried
    // over a key rotation (its origin key id written until it ends).
    for (label, subject, age, origin) in [
        ("9-digit subject, first seal", Some("842753582"), 0, sealer),
        (
            "9-digit subject, re-sealed 6 days after creation",
            Some("842753582"),
            6 * DAY,
            sealer,
        ),
        (
            "no subject, created under the previous key, re-sealed 5 hours after creation",
            None,
            5 * HOUR,
            key_new().id(),
        ),
    ] {
        let (text, raw) = growth(&sessions, subject, age, origin);
        println!("identity, {label}: median +{text} characters (+{raw} bytes decoded)");
        let subject_len = subject.map_or(0, |s| 1 + s.len());
        let origin_len = if origin == sealer { 0 } else { 4 };
        assert!(
            raw <= 16 + 3 + origin_len + subject_len,
            "{label}: +{raw} bytes"
        );
    }
}

#[test]
fn the_identity_is_checked_before_decompression() {
    // FORMAT.md, "Checks, in order": an ended (or revoked) session is refused
    // as such before its body is decompressed, so it costs no
    // decompression, and the reason is the identity's even when the body
    // would not decompress.
    let codec = raw_codec();
    let mut rest = identity_block(8 * 24 * HOUR);
    // FLAG_BODY_ZSTD: varint json_len, then a frame that is not zstd.
    rest.extend_from_slice(&[5, 0xde, 0xad, 0xbe, 0xef]);
    let value = seal_raw(&plaintext(0x08 | 0x01, &rest));
    assert!(matches!(
        open(&codec, &value, T0),
        Err(Error::LifetimeEnded { .. })
    ));
    // The same body on a live session is a decompression error.
    let mut rest = identity_block(HOUR);
    rest.extend_from_slice(&[5, 0xde, 0xad, 0xbe, 0xef]);
    let value = seal_raw(&plaintext(0x08 | 0x01, &rest));
    assert!(matches!(
        open(&codec, &value, T0),
        Err(Error::Decompression)
    ));
}
