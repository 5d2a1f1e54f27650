//! The three-phase key rotation of a cluster, simulated: five servers, each
//! with its own codec built from its own key configuration text, change
//! configuration at different moments while 200 sessions keep moving between
//! random servers.
//!
//! Phases (as documented in the README):
//! 1. add the new key as `active` on every server;
//! 2. once every server has it, make it `primary` server by server (the old
//!    key stays `active`);
//! 3. once every server seals with the new key, retire the old key with a
//!    deadline of at least the longest session lifetime later, and remove it
//!    after the deadline.
//!
//! Asserted: no request in any phase fails to open its session, a session
//! opened under the old key by a server whose primary is the new key is
//! flagged and re-sealed under the new key in that same response, and at the
//! end every session is under the new key. A negative control shows that
//! skipping phase 1 does lose sessions, so the simulation can fail.

use std::time::Duration;

use sealed_session::{Codec, Error, Key, KeyId, KeyRing, Reseal};
use serde::{Deserialize, Serialize};

const SERVERS: usize = 5;
const SESSIONS: usize = 200;
const MAX_AGE: u64 = 3_600;
const CLOCK_SKEW: u64 = 60;
/// Simulated seconds between two requests of the whole cluster.
const TICK: u64 = 3;
const T0: u64 = 1_700_000_000;

/// Deterministic xorshift64*: the same run every time, no extra crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn nonce(&mut self) -> [u8; 24] {
        let mut nonce = [0u8; 24];
        for chunk in nonce.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
        nonce
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Session {
    id: usize,
    visits: u64,
}

struct Server {
    config: String,
    codec: Codec,
}

impl Server {
    fn new(config: String) -> Self {
        let ring = KeyRing::from_config_str(&config).expect("valid configuration");
        let codec = Codec::builder("session")
            .key_ring(ring)
            .max_age(Duration::from_secs(MAX_AGE))
            .clock_skew(Duration::from_secs(CLOCK_SKEW))
            .build()
            .expect("valid codec");
        Server { config, codec }
    }

    fn reconfigure(&mut self, config: String) {
        *self = Server::new(config);
    }
}

/// A client: its cookie and what it last saw of its own session.
struct Client {
    cookie: String,
    visits: u64,
}

struct Keys {
    old: String,
    new: String,
    old_id: KeyId,
    new_id: KeyId,
}

fn keys() -> Keys {
    let old = Key::from_bytes([0x0a; 32]);
    let new = Key::from_bytes([0x0b; 32]);
    Keys {
        old_id: old.id(),
        new_id: new.id(),
        old: old.to_base64url(),
        new: new.to_base64url(),
    }
}

/// What happened over a whole simulation.
#[derive(Default, Debug)]
struct Report {
    requests: u64,
    failures: Vec<String>,
    old_to_new: u64,
    new_to_old: u64,
    /// The first tick from which on every session was under the new key.
    all_new_since: Option<u64>,
}

/// One request of client `c` to server `s` at `now`: open, count the visit,
/// re-seal when the session changed or the codec asks for it.
fn request(
    server: &Server,
    client: &mut Client,
    id: usize,
    now: u64,
    rng: &mut XorShift,
    keys: &Keys,
    report: &mut Report,
) {
    report.requests += 1;
    let opened = match server.codec.open_at::<Session>(&client.cookie, now) {
        Ok(opened) => opened,
        Err(err) => {
            report.failures.push(format!(
                "session {id} at {now} on a server with config {:?}: {err}",
                server
                    .config
                    .replace(&keys.old, "OLD")
                    .replace(&keys.new, "NEW")
            ));
            return;
        }
    };
    assert_eq!(opened.session.id, id, "sessions never mix");
    assert_eq!(opened.session.visits, client.visits, "no stale session");
    let primary = server.codec.key_ring().primary_id();
    if opened.key_id != primary {
        assert_eq!(
            opened.reseal,
            Some(Reseal::NotPrimaryKey),
            "a value under a non-primary key must be flagged"
        );
    }
    // Most requests only read the session; one in eight changes it. A
    // server must re-seal when the codec says so.
    let changed = rng.below(8) == 0;
    if !changed && opened.reseal.is_none() {
        return;
    }
    let session = Session {
        id,
        visits: opened.session.visits + 1,
    };
    let cookie = server
        .codec
        .seal_at(&session, now, rng.nonce())
        .expect("seals");
    let resealed_under = sealed_session::inspect(&cookie).expect("own value").key_id;
    assert_eq!(resealed_under, primary, "re-sealed under the primary key");
    if opened.key_id == keys.old_id && resealed_under == keys.new_id {
        report.old_to_new += 1;
    }
    if opened.key_id == keys.new_id && resealed_under == keys.old_id {
        report.new_to_old += 1;
    }
    client.cookie = cookie;
    client.visits = session.visits;
}

/// A configuration change of one server at one tick.
struct Change {
    tick: u64,
    server: usize,
    config: String,
}

/// Runs the cluster through `changes` (sorted by tick) for `ticks` ticks.
/// Every client makes a request at least every `SESSIONS` ticks, so no
/// session expires for want of visits (MAX_AGE is far longer).
fn simulate(
    initial: &str,
    mut changes: Vec<Change>,
    ticks: u64,
    seed: u64,
) -> (Report, Vec<Client>, Vec<Server>) {
    let keys = keys();
    let mut rng = XorShift(seed);
    let mut servers: Vec<Server> = (0..SERVERS)
        .map(|_| Server::new(initial.to_owned()))
        .collect();
    let mut clients: Vec<Client> = (0..SESSIONS)
        .map(|id| {
            let server = &servers[rng.below(SERVERS as u64) as usize];
            let session = Session { id, visits: 0 };
            Client {
                cookie: server.codec.seal_at(&session, T0, rng.nonce()).unwrap(),
                visits: 0,
            }
        })
        .collect();
    changes.sort_by_key(|c| c.tick);
    let mut pending = changes.into_iter().peekable();
    let mut report = Report::default();
    let mut under_new = 0usize;
    for tick in 0..ticks {
        while let Some(change) = pending.next_if(|c| c.tick <= tick) {
            servers[change.server].reconfigure(change.config);
        }
        let now = T0 + tick * TICK;
        // Round-robin over clients keeps every session alive; the server is
        // random, so sessions keep moving across the cluster.
        let id = (tick as usize) % SESSIONS;
        let server = &servers[rng.below(SERVERS as u64) as usize];
        let key_of = |c: &Client| sealed_session::inspect(&c.cookie).unwrap().key_id;
        let was_new = key_of(&clients[id]) == keys.new_id;
        request(
            server,
            &mut clients[id],
            id,
            now,
            &mut rng,
            &keys,
            &mut report,
        );
        let is_new = key_of(&clients[id]) == keys.new_id;
        under_new = under_new + usize::from(is_new) - usize::from(was_new);
        if under_new == SESSIONS {
            report.all_new_since.get_or_insert(tick);
        } else {
            report.all_new_since = None;
        }
    }
    assert!(pending.next().is_none(), "every change applied");
    (report, clients, servers)
}

/// Each server applies a phase at its own random tick inside the window.
fn staggered(window: (u64, u64), config: &str, rng: &mut XorShift) -> Vec<Change> {
    (0..SERVERS)
        .map(|server| Change {
            tick: window.0 + rng.below(window.1 - window.0),
            server,
            config: config.to_owned(),
        })
        .collect()
}

#[test]
fn three_phase_rotation_loses_no_session() {
    let k = keys();
    let mut rng = XorShift(0x5eed_0001);
    let lifetime_ticks = (MAX_AGE + CLOCK_SKEW) / TICK + 1;

    // Phase 1: the new key joins as active, server by server.
    let phase1 = format!("primary {}\nactive {}", k.old, k.new);
    let p1 = (1_000, 3_000);
    // Phase 2 starts only after phase 1 is everywhere.
    let phase2 = format!("active {}\nprimary {}", k.old, k.new);
    let p2 = (3_500, 6_000);
    // Phase 3: after the last server made the new key primary (tick < p2.1),
    // the operator sets a deadline one session lifetime plus the clock-skew
    // allowance later: no value sealed under the old key lives past it.
    let deadline = T0 + p2.1 * TICK + MAX_AGE + CLOCK_SKEW;
    let phase3 = format!("primary {}\nretired {} until {deadline}", k.new, k.old);
    let p3 = (6_200, 7_000);
    // ... and removes the old key after the deadline.
    let removal_start = (p2.1 + lifetime_ticks).max(p3.1) + 10;
    let phase4 = format!("primary {}", k.new);
    let p4 = (removal_start, removal_start + 2_000);
    let ticks = p4.1 + 1_000;

    let mut changes = staggered(p1, &phase1, &mut rng);
    changes.extend(staggered(p2, &phase2, &mut rng));
    changes.extend(staggered(p3, &phase3, &mut rng));
    changes.extend(staggered(p4, &phase4, &mut rng));
    // The phases overlap nowhere: check the schedule itself.
    let last = |cs: &[Change], range: std::ops::Range<usize>| {
        cs[range].iter().map(|c| c.tick).max().unwrap()
    };
    let first = |cs: &[Change], range: std::ops::Range<usize>| {
        cs[range].iter().map(|c| c.tick).min().unwrap()
    };
    assert!(last(&changes, 0..5) < first(&changes, 5..10));
    assert!(last(&changes, 5..10) < first(&changes, 10..15));
    assert!(T0 + first(&changes, 15..20) * TICK > deadline);

    let everywhere_primary = last(&changes, 5..10);

    let initial = format!("primary {}", k.old);
    let (report, clients, servers) = simulate(&initial, changes, ticks, 42);

    assert!(
        report.failures.is_empty(),
        "{} of {} requests lost their session, first: {}",
        report.failures.len(),
        report.requests,
        report.failures[0]
    );
    assert_eq!(report.requests, ticks);
    // Every session moved to the new key on a request to a server that seals
    // with it; during phase 2 some went back and forth, which is harmless.
    assert!(
        report.old_to_new >= SESSIONS as u64,
        "only {} re-seals from the old to the new key",
        report.old_to_new
    );
    // Once the last server seals with the new key, each session's next
    // request (every session is visited once per SESSIONS ticks) moves it
    // to the new key, and none ever goes back.
    let since = report
        .all_new_since
        .expect("every session ends under the new key");
    assert!(
        since <= everywhere_primary + SESSIONS as u64,
        "all sessions under the new key only from tick {since}; phase 2 ended at tick \
         {everywhere_primary}"
    );
    for (id, client) in clients.iter().enumerate() {
        let info = sealed_session::inspect(&client.cookie).unwrap();
        assert_eq!(
            info.key_id, k.new_id,
            "session {id} still under the old key"
        );
    }
    for server in &servers {
        assert_eq!(
            server.codec.key_ring().len(),
            1,
            "old key removed everywhere"
        );
        assert_eq!(server.codec.key_ring().primary_id(), k.new_id);
    }
}

#[test]
fn a_session_under_the_old_key_is_resealed_on_its_next_request() {
    let k = keys();
    let mut rng = XorShift(7);
    let old_server = Server::new(format!("primary {}\nactive {}", k.old, k.new));
    let new_server = Server::new(format!("active {}\nprimary {}", k.old, k.new));
    let mut client = Client {
        cookie: old_server
            .codec
            .seal_at(&Session { id: 0, visits: 0 }, T0, rng.nonce())
            .unwrap(),
        visits: 0,
    };
    let mut report = Report::default();
    request(
        &new_server,
        &mut client,
        0,
        T0 + 5,
        &mut rng,
        &k,
        &mut report,
    );
    assert_eq!(report.old_to_new, 1);
    assert_eq!(
        sealed_session::inspect(&client.cookie).unwrap().key_id,
        k.new_id
    );
    // The re-sealed value opens everywhere in phase 2 and asks for nothing
    // more on a server sealing with the new key.
    let opened = new_server
        .codec
        .open_at::<Session>(&client.cookie, T0 + 6)
        .unwrap();
    assert_eq!(opened.reseal, None);
    assert_eq!(opened.session.visits, 1);
    assert!(old_server
        .codec
        .open_at::<Session>(&client.cookie, T0 + 6)
        .is_ok());
}

/// Negative control: making the new key primary on some servers before every
/// server knows it (skipping phase 1) loses sessions with `UnknownKey`; and
/// removing the old key without waiting for its deadline loses the sessions
/// still sealed under it.
#[test]
fn skipping_a_phase_loses_sessions() {
    let k = keys();
    let mut rng = XorShift(0x5eed_0002);
    let initial = format!("primary {}", k.old);
    let rushed = staggered(
        (1_000, 3_000),
        &format!("active {}\nprimary {}", k.old, k.new),
        &mut rng,
    );
    let (report, _, _) = simulate(&initial, rushed, 4_000, 43);
    assert!(
        !report.failures.is_empty(),
        "skipping phase 1 must lose sessions"
    );
    // The first loss is a value sealed under the new key reaching a server
    // that does not know it yet (later ones also expire while they bounce).
    let unknown = format!(
        "sealed under key {}, which is not in the key ring",
        k.new_id
    );
    assert!(
        report.failures[0].contains(&unknown),
        "{}",
        report.failures[0]
    );

    let value = Server::new(format!("primary {}", k.old))
        .codec
        .seal_at(&Session { id: 1, visits: 0 }, T0, [1; 24])
        .unwrap();
    let removed_early = Server::new(format!("primary {}", k.new));
    assert_eq!(
        removed_early
            .codec
            .open_at::<Session>(&value, T0 + 10)
            .unwrap_err(),
        Error::UnknownKey { key_id: k.old_id }
    );
}
