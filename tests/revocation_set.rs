//! The in-memory revocation set against a model: after any sequence of
//! revocations, sweeps and full reloads, every entry that must still be
//! there is found, and nothing that was never revoked is reported. The set
//! keeps a Bloom filter in front of its maps (src/revocation/filter.rs),
//! rebuilt as it grows and after sweeps; these tests are what fails if the
//! filter ever misses a key (a revoked session would open) or if a false
//! positive of the filter were taken for a revocation.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use sealed_session::{Identity, Key, KeyId, Revocation, RevocationSet, Revoked, SessionId};

const RETENTION: u64 = 300;

/// splitmix64: ids from numbers, uniform like real session ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn id(n: u64) -> SessionId {
    let a = mix(2 * n);
    let b = mix(2 * n + 1);
    SessionId::from_bytes((u128::from(a) | u128::from(b) << 64).to_le_bytes())
}

fn origin() -> KeyId {
    Key::from_bytes([1; 32]).id()
}

fn identity(session: u64, created_at: u64, subject: Option<String>) -> Identity {
    Identity::new(id(session), created_at, origin(), subject)
}

fn subject(n: u64) -> String {
    format!("user-{n}")
}

/// Revoked ids are numbered below this; ids probed as never revoked, and
/// their subjects, at or above it.
const NEVER: u64 = 1 << 40;

#[derive(Debug, Clone)]
enum Op {
    /// Revoke `count` ids starting at `first` (a burst of sign-outs).
    Sessions { first: u64, count: u64 },
    /// Sign out a subject everywhere.
    Subject { n: u64 },
    /// Let time pass.
    Advance { seconds: u64 },
    /// An explicit sweep at the current time.
    Sweep,
    /// A full reload (a reconnect to the store) with what the model holds,
    /// minus every `drop_every`-th entry, plus `extra` new ids.
    Reload { drop_every: usize, extra: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5_000u64, 1..200u64).prop_map(|(first, count)| Op::Sessions { first, count }),
        2 => (0..50u64).prop_map(|n| Op::Subject { n }),
        3 => (0..120u64).prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::Sweep),
        1 => (2..6usize, 0..300u64).prop_map(|(drop_every, extra)| Op::Reload { drop_every, extra }),
    ]
}

/// What the set may hold: entries certainly present (not yet expired at
/// `now`) and entries that may or may not have been swept.
#[derive(Default)]
struct Model {
    now: u64,
    /// id number -> drop time.
    sessions: HashMap<u64, u64>,
    /// subject number -> (before, drop time).
    subjects: HashMap<u64, (u64, u64)>,
}

impl Model {
    fn forget_expired(&mut self) {
        let now = self.now;
        self.sessions.retain(|_, drop_at| *drop_at > now);
        self.subjects.retain(|_, (_, drop_at)| *drop_at > now);
    }
}

fn apply(set: &RevocationSet, model: &mut Model, op: &Op) {
    let now = model.now;
    match *op {
        Op::Sessions { first, count } => {
            for n in first..first + count {
                set.revoke_session(id(n), now);
                let drop_at = model.sessions.entry(n).or_insert(0);
                *drop_at = (*drop_at).max(now + RETENTION);
            }
        }
        Op::Subject { n } => {
            set.revoke_subject(&subject(n), now).unwrap();
            model.subjects.insert(n, (now, now + RETENTION));
        }
        Op::Advance { seconds } => model.now += seconds,
        Op::Sweep => {
            set.sweep(now);
            model.forget_expired();
        }
        Op::Reload { drop_every, extra } => {
            let mut kept = Model {
                now,
                ..Model::default()
            };
            let mut list = Vec::new();
            for (i, (&n, &drop_at)) in model.sessions.iter().enumerate() {
                if i % drop_every != 0 {
                    let at = drop_at - RETENTION;
                    list.push(Revocation::Session { id: id(n), at });
                    kept.sessions.insert(n, drop_at);
                }
            }
            for (i, (&n, &(before, drop_at))) in model.subjects.iter().enumerate() {
                if i % drop_every != 0 {
                    let subject = subject(n);
                    list.push(Revocation::Subject { subject, before });
                    kept.subjects.insert(n, (before, drop_at));
                }
            }
            for n in 0..extra {
                let n = 10_000 + now * 1_000 + n;
                list.push(Revocation::Session { id: id(n), at: now });
                kept.sessions.insert(n, now + RETENTION);
            }
            set.replace_all(list, now);
            kept.forget_expired();
            *model = kept;
        }
    }
}

/// Everything the set must say, and must not say, at the model's time.
fn agrees(set: &RevocationSet, model: &Model, probe_seed: u64) -> Result<(), TestCaseError> {
    let now = model.now;
    let mut present = 0;
    for (&n, &drop_at) in &model.sessions {
        if drop_at > now {
            present += 1;
            prop_assert_eq!(
                set.check(&identity(n, 0, None)),
                Some(Revoked::Session),
                "revoked id {} missed",
                n
            );
        }
    }
    for (&n, &(before, drop_at)) in &model.subjects {
        if drop_at > now {
            present += 1;
            let older = identity(NEVER + n, before.saturating_sub(1), Some(subject(n)));
            let newer = identity(NEVER + n, before, Some(subject(n)));
            if before > 0 {
                prop_assert_eq!(set.check(&older), Some(Revoked::Subject));
            }
            prop_assert_eq!(set.check(&newer), None, "signed in again at {}", before);
        }
    }
    // Never revoked: fresh ids, and subjects nobody signed out.
    for i in 0..500 {
        let n = NEVER + mix(probe_seed ^ i) % NEVER;
        let probe = identity(n, 0, Some(subject(n)));
        prop_assert_eq!(set.check(&probe), None, "never revoked, id {}", n);
    }
    let possible = model.sessions.len() + model.subjects.len();
    prop_assert!(
        (present..=possible).contains(&set.len()),
        "{} entries, between {} and {}",
        set.len(),
        present,
        possible
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_set_agrees_with_a_model_through_inserts_sweeps_and_reloads(
        ops in prop::collection::vec(op(), 1..30),
        probe_seed in any::<u64>(),
    ) {
        let set = RevocationSet::new(Duration::from_secs(RETENTION));
        let mut model = Model { now: 1_000, ..Model::default() };
        for op in &ops {
            apply(&set, &mut model, op);
            agrees(&set, &model, probe_seed)?;
        }
    }
}

/// A large set built one revocation at a time, with time passing (so the
/// set sweeps itself and rebuilds its filter many times), then reloaded:
/// every live entry is found, and 200,000 ids never revoked are not (about
/// 1 % of them pass the filter and are refused by the maps).
#[test]
fn a_large_set_finds_every_live_entry_and_nothing_else() {
    let retention = 3_600;
    let set = RevocationSet::new(Duration::from_secs(retention));
    let total = 100_000u64;
    // One revocation every 1/20 s: 5,000 s in all, so the first ones
    // expire and are swept along the way.
    for n in 0..total {
        let at = 1_000 + n / 20;
        set.revoke_session(id(n), at);
        if n % 40 == 0 {
            set.revoke_subject(&subject(n), at).unwrap();
        }
    }
    let end = 1_000 + total / 20;
    let live = |n: u64| 1_000 + n / 20 + retention > end;
    let check_all = |set: &RevocationSet| {
        for n in 0..total {
            let revoked = set.check(&identity(n, 0, None));
            if live(n) {
                assert_eq!(revoked, Some(Revoked::Session), "id {n}");
            }
            if n % 40 == 0 && live(n) {
                let signed_out = identity(NEVER + n, 0, Some(subject(n)));
                assert_eq!(set.check(&signed_out), Some(Revoked::Subject));
            }
        }
        let false_alarms = (0..200_000u64)
            .filter(|&i| {
                let n = NEVER + i;
                set.check(&identity(n, 0, Some(subject(n)))).is_some()
            })
            .count();
        assert_eq!(false_alarms, 0);
    };
    check_all(&set);
    set.sweep(end);
    let live_count = (0..total).filter(|&n| live(n)).count();
    let live_subjects = (0..total).filter(|&n| n % 40 == 0 && live(n)).count();
    assert_eq!(
        set.len(),
        live_count + live_subjects,
        "swept to the live ones"
    );
    // A reload of the live entries into a fresh set.
    let reloaded = RevocationSet::new(Duration::from_secs(retention));
    let list = (0..total).filter(|&n| live(n)).flat_map(|n| {
        let at = 1_000 + n / 20;
        let session = Revocation::Session { id: id(n), at };
        let subject = (n % 40 == 0).then(|| Revocation::Subject {
            subject: subject(n),
            before: at,
        });
        std::iter::once(session).chain(subject)
    });
    reloaded.replace_all(list, end);
    assert_eq!(reloaded.len(), set.len());
    check_all(&reloaded);
}
