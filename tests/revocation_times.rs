//! Revocations dated in the future ("every session created before tomorrow",
//! `sealed-session revoke --before TIME`, or a server whose clock runs
//! ahead publishing through Redis) must not make the set forget the entries
//! that are still within their retention: a forgotten entry is a revoked
//! session that opens again.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealed_session::{
    Codec, DynamicSession, Error, Key, KeyRing, Lineage, Revocation, RevocationSet, Revoked,
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[test]
fn a_revocation_dated_in_the_future_does_not_unrevoke_live_entries() {
    let max_lifetime = 3_600;
    let set = Arc::new(RevocationSet::new(Duration::from_secs(max_lifetime + 60)));
    let codec = Codec::builder("sid")
        .key_ring(Arc::new(
            KeyRing::from_keys([Key::from_bytes([3; 32])]).unwrap(),
        ))
        .max_age(Duration::from_secs(max_lifetime))
        .max_lifetime(Duration::from_secs(max_lifetime))
        .revocations(Arc::clone(&set))
        .build()
        .unwrap();
    let t = now();
    let stolen = codec
        .seal_with_at(
            &DynamicSession::new(),
            &Lineage::new_for("alice"),
            t,
            [9; 24],
        )
        .unwrap();
    let id = codec
        .open_at::<DynamicSession>(&stolen, t)
        .unwrap()
        .identity
        .unwrap()
        .session_id;
    set.revoke_session(id, t);
    assert_eq!(
        codec.open_at::<DynamicSession>(&stolen, t + 1).unwrap_err(),
        Error::Revoked {
            reason: Revoked::Session
        }
    );
    // Another user's sessions are revoked up to a time two hours ahead (an
    // operator's `--before`, or a publisher whose clock runs ahead).
    set.apply(&Revocation::Subject {
        subject: "bob".into(),
        before: t + 2 * 3_600,
    })
    .unwrap();
    // The stolen session is still within its lifetime and must stay revoked.
    assert_eq!(
        codec.open_at::<DynamicSession>(&stolen, t + 2).unwrap_err(),
        Error::Revoked {
            reason: Revoked::Session
        }
    );
    // And the same through a session revocation dated ahead.
    let other = codec
        .seal_with_at(
            &DynamicSession::new(),
            &Lineage::new_for("carol"),
            t,
            [10; 24],
        )
        .unwrap();
    let other_id = codec
        .open_at::<DynamicSession>(&other, t)
        .unwrap()
        .identity
        .unwrap()
        .session_id;
    set.revoke_session(other_id, t);
    set.revoke_session(
        sealed_session::SessionId::from_bytes([0x55; 16]),
        t + 3 * 3_600,
    );
    assert_eq!(
        codec.open_at::<DynamicSession>(&other, t + 3).unwrap_err(),
        Error::Revoked {
            reason: Revoked::Session
        }
    );
}
