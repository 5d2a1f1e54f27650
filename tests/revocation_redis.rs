//! Revocations shared through a real `redis-server`: three servers, each a
//! `RevocationSet` kept in step by its own `RedisRevocations`, with codecs
//! sharing one key ring. Each test starts its own Redis on a free port of
//! 127.0.0.1 and kills it by PID when done. Needs `/usr/bin/redis-server`
//! (Debian package `redis-server`); run with
//! `cargo test --all-features --test revocation_redis -- --ignored --test-threads=1`.
#![cfg(feature = "redis")]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sealed_session::{
    Codec, DynamicSession, Error, Key, KeyRing, Lineage, RedisOptions, RedisRevocations,
    RedisSyncError, Revocation, RevocationSet, Revoked, SessionId, StartupPolicy,
};

const REDIS: &str = "/usr/bin/redis-server";

/// A `redis-server` child on 127.0.0.1, without persistence, killed on drop.
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        assert!(
            std::path::Path::new(REDIS).exists(),
            "{REDIS} is missing: apt-get install -y --no-install-recommends redis-server"
        );
        let child = Command::new(REDIS)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        RedisServer { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL, by PID) and waits for it.
    fn kill(mut self) -> u16 {
        self.stop();
        self.port
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Warn lines logged by the crate, for the garbage-message test.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            if let Ok(mut logs) = LOGS.lock() {
                logs.push(record.args().to_string());
            }
        }
    }

    fn flush(&self) {}
}

fn record_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = log::set_logger(&Recorder);
        log::set_max_level(log::LevelFilter::Warn);
    });
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A server: its revocation set, the codec that checks it, its Redis link.
struct Server {
    codec: Codec,
    set: Arc<RevocationSet>,
    redis: RedisRevocations,
}

impl Server {
    async fn start(url: &str, prefix: &str) -> Self {
        Self::start_with(url, options(prefix)).await
    }

    async fn start_with(url: &str, options: RedisOptions) -> Self {
        let set = Arc::new(RevocationSet::new(Duration::from_secs(8 * 86_400)));
        let redis = RedisRevocations::connect(url, set.clone(), options)
            .await
            .expect("connects to the test's Redis");
        let codec = Codec::builder("sid")
            .key_ring(ring())
            .revocations(set.clone())
            .build()
            .unwrap();
        Server { codec, set, redis }
    }

    /// Opens `value` as this server would for a request at `at`.
    fn open(&self, value: &str, at: u64) -> Result<(), Error> {
        self.codec.open_at::<DynamicSession>(value, at).map(|_| ())
    }

    fn refuses(&self, value: &str, at: u64) -> bool {
        matches!(self.open(value, at), Err(Error::Revoked { .. }))
    }
}

fn options(prefix: &str) -> RedisOptions {
    RedisOptions::new()
        .key_prefix(prefix)
        .backoff(Duration::from_millis(300), Duration::from_millis(600))
        .timeout(Duration::from_millis(500))
        .ping_interval(Duration::from_millis(200))
}

fn ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([7; 32])]).unwrap()
}

/// A session sealed by `server` at `at` (a new session, of `subject`).
fn sign_in(server: &Server, subject: Option<&str>, at: u64, nonce: u8) -> (String, SessionId) {
    let lineage = match subject {
        Some(s) => Lineage::new_for(s),
        None => Lineage::new(),
    };
    let mut session = DynamicSession::new();
    session.insert("cart".into(), serde_json::json!([1, 2, 3]));
    let value = server
        .codec
        .seal_with_at(&session, &lineage, at, [nonce; 24])
        .unwrap();
    let id = server
        .codec
        .open_at::<DynamicSession>(&value, at)
        .unwrap()
        .identity
        .unwrap()
        .session_id;
    (value, id)
}

/// Polls `condition` every 2 ms for up to `limit`; returns how long it took.
async fn within(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() <= limit {
        if condition() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

async fn command_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn a_revoked_session_is_refused_by_every_server_within_a_second() {
    let redis = RedisServer::start();
    let url = redis.url();
    let servers = [
        Server::start(&url, "t1").await,
        Server::start(&url, "t1").await,
        Server::start(&url, "t1").await,
    ];
    let t = now();
    let (value, id) = sign_in(&servers[0], Some("alice"), t, 1);
    let (other, _) = sign_in(&servers[1], Some("alice"), t, 2);
    for server in &servers {
        assert_eq!(server.open(&value, t), Ok(()));
        assert!(server.redis.is_connected());
        assert!(server.redis.last_sync_age().unwrap() < Duration::from_secs(1));
    }

    let start = Instant::now();
    servers[1]
        .redis
        .revoke(&Revocation::Session { id, at: t })
        .await
        .unwrap();
    let returned = start.elapsed();
    // The revoking server refuses it at once; the others within a second.
    assert_eq!(
        servers[1].open(&value, t),
        Err(Error::Revoked {
            reason: Revoked::Session
        })
    );
    for (i, server) in servers.iter().enumerate() {
        let took = within(Duration::from_secs(1), || server.refuses(&value, t)).await;
        assert!(
            took.is_some(),
            "server {i} still accepts the revoked session"
        );
        eprintln!(
            "library revoke: returned after {returned:?}; server {i} refused it {:?} after the call",
            start.elapsed()
        );
        // The same subject's other session is untouched.
        assert_eq!(server.open(&other, t), Ok(()));
    }

    // Stored where the module docs say, scored by the revocation time.
    let mut connection = command_connection(&url).await;
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg("t1:revoked-sessions")
        .arg(id.to_string())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(score, Some(t as f64));

    // A server started now loads it from Redis.
    let late = Server::start(&url, "t1").await;
    assert!(late.refuses(&value, t));
    assert_eq!(late.open(&other, t), Ok(()));
    // A server under another prefix shares nothing.
    let stranger = Server::start(&url, "other-app").await;
    assert_eq!(stranger.open(&value, t), Ok(()));
    assert!(stranger.set.is_empty());
}

#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn the_cli_revokes_on_every_server_within_a_second() {
    let redis = RedisServer::start();
    let url = redis.url();
    let servers = [
        Server::start(&url, "cli").await,
        Server::start(&url, "cli").await,
        Server::start(&url, "cli").await,
    ];
    let t = now();
    let (value, id) = sign_in(&servers[0], None, t - 10, 3);
    let (kept, _) = sign_in(&servers[0], None, t - 10, 4);
    let (bobs, _) = sign_in(&servers[2], Some("bob"), t - 10, 5);

    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sealed-session"))
        .args(["revoke", "--redis", &url, "--prefix", "cli"])
        .args(["--session", &id.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id.to_string()));
    for (i, server) in servers.iter().enumerate() {
        let took = within(Duration::from_secs(1), || server.refuses(&value, t)).await;
        assert!(
            took.is_some(),
            "server {i} still accepts the revoked session"
        );
        assert_eq!(server.open(&kept, t), Ok(()));
    }
    eprintln!(
        "CLI revoke: every server refused it {:?} after the command started",
        start.elapsed()
    );

    let out = Command::new(env!("CARGO_BIN_EXE_sealed-session"))
        .args([
            "revoke",
            "--redis",
            &url,
            "--prefix",
            "cli",
            "--subject",
            "bob",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for server in &servers {
        assert!(within(Duration::from_secs(1), || server.refuses(&bobs, t))
            .await
            .is_some());
        assert_eq!(server.open(&kept, t), Ok(()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn revoking_a_subject_ends_its_sessions_and_no_other() {
    let redis = RedisServer::start();
    let url = redis.url();
    let servers = [
        Server::start(&url, "t2").await,
        Server::start(&url, "t2").await,
    ];
    let t = now();
    let (alice_1, _) = sign_in(&servers[0], Some("alice"), t - 100, 1);
    let (alice_2, _) = sign_in(&servers[1], Some("alice"), t - 90, 2);
    let (bob, _) = sign_in(&servers[0], Some("bob"), t - 100, 3);
    let (alicia, _) = sign_in(&servers[0], Some("alice "), t - 100, 4);
    let (anonymous, _) = sign_in(&servers[1], None, t - 100, 5);

    servers[0]
        .redis
        .revoke(&Revocation::Subject {
            subject: "alice".into(),
            before: t - 50,
        })
        .await
        .unwrap();
    // A sign-in after the revocation time is a new session that opens.
    let (alice_again, _) = sign_in(&servers[1], Some("alice"), t - 50, 6);
    for server in &servers {
        for value in [&alice_1, &alice_2] {
            assert!(within(Duration::from_secs(1), || server.refuses(value, t))
                .await
                .is_some());
            assert_eq!(
                server.open(value, t),
                Err(Error::Revoked {
                    reason: Revoked::Subject
                })
            );
        }
        for value in [&bob, &alicia, &anonymous, &alice_again] {
            assert_eq!(server.open(value, t), Ok(()));
        }
    }
    // An earlier time for the same subject does not shorten the revocation.
    servers[1]
        .redis
        .revoke(&Revocation::Subject {
            subject: "alice".into(),
            before: t - 95,
        })
        .await
        .unwrap();
    let mut connection = command_connection(&url).await;
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg("t2:revoked-subjects")
        .arg("alice")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(score, Some((t - 50) as f64));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for server in &servers {
        assert!(server.refuses(&alice_2, t));
    }

    // What cannot be a revocation is refused before anything is written.
    let err = servers[0]
        .redis
        .revoke(&Revocation::Subject {
            subject: "x".repeat(65),
            before: t,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RedisSyncError::Invalid { .. }), "{err}");
    assert!(!err.to_string().contains("xxxx"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn servers_serve_from_memory_while_redis_is_down_and_catch_up_after() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = Server::start(&url, "t3").await;
    // `b` waits 1 to 2 s before reconnecting: the test writes to the new
    // Redis in that window, so `b` is disconnected when it happens.
    let slow = Duration::from_secs(2);
    let b = Server::start_with(&url, options("t3").backoff(slow, slow)).await;
    let t = now();
    let (before_kill, before_id) = sign_in(&a, Some("carol"), t - 10, 1);
    let (missed, missed_id) = sign_in(&a, Some("dave"), t - 10, 2);
    let (queued, queued_id) = sign_in(&a, Some("erin"), t - 10, 3);
    let (kept, _) = sign_in(&a, Some("frank"), t - 10, 4);
    a.redis
        .revoke(&Revocation::Session {
            id: before_id,
            at: t,
        })
        .await
        .unwrap();
    assert!(
        within(Duration::from_secs(1), || b.refuses(&before_kill, t))
            .await
            .is_some()
    );

    let port = redis.kill();
    assert!(within(Duration::from_secs(2), || !a.redis.is_connected()
        && !b.redis.is_connected())
    .await
    .is_some());
    // Down: every answer comes from memory, none fails for want of Redis.
    for server in [&a, &b] {
        for _ in 0..50 {
            assert!(server.refuses(&before_kill, t));
            assert_eq!(server.open(&missed, t), Ok(()));
            assert_eq!(server.open(&kept, t), Ok(()));
        }
    }
    // A revocation made on `a` while Redis is down holds on `a` and is kept.
    let err = a
        .redis
        .revoke(&Revocation::Session {
            id: queued_id,
            at: t,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RedisSyncError::Unreachable { queued: true, .. }),
        "{err}"
    );
    assert!(a.refuses(&queued, t));
    assert_eq!(a.redis.pending(), 1);
    // The health check sees the set getting stale.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.redis.last_sync_age().unwrap() >= Duration::from_millis(300));

    // A new Redis (empty: no persistence) on the same port; a revocation
    // written straight into it, with no message, before the servers are back.
    let redis = RedisServer::start_on(port);
    let mut connection = command_connection(&redis.url()).await;
    let _: () = redis::cmd("ZADD")
        .arg("t3:revoked-sessions")
        .arg(t)
        .arg(missed_id.to_string())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!b.redis.is_connected(), "b reconnected before the write");

    let start = Instant::now();
    for server in [&a, &b] {
        let took = within(Duration::from_secs(5), || server.refuses(&missed, t)).await;
        assert!(took.is_some(), "the missed revocation was never loaded");
        assert!(server.redis.is_connected());
    }
    eprintln!(
        "after the restart, both servers reloaded within {:?}",
        start.elapsed()
    );
    // `a`'s queued revocation reached Redis and `b`.
    assert!(within(Duration::from_secs(2), || b.refuses(&queued, t))
        .await
        .is_some());
    assert_eq!(a.redis.pending(), 0);
    // The new Redis lost the first revocation; the servers did not.
    for server in [&a, &b] {
        assert!(server.refuses(&before_kill, t));
        assert_eq!(server.open(&kept, t), Ok(()));
        assert!(server.redis.last_sync_age().unwrap() < Duration::from_millis(300));
    }
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn garbage_on_the_channel_is_logged_and_ignored() {
    record_logs();
    let redis = RedisServer::start();
    let url = redis.url();
    let server = Server::start(&url, "t4").await;
    let t = now();
    let (value, id) = sign_in(&server, Some("gina"), t - 10, 1);
    let mut connection = command_connection(&url).await;
    let garbage: [&[u8]; 8] = [
        b"revoke everything",
        b"*",
        b"",
        b"session 00 5",
        b"subject 5 ",
        b"session \xff\xfe 5",
        &[b'x'; 4096],
        b"subject 5 gina-but-the-secret-text-is-far-too-long-to-be-a-subject-of-65-bytes",
    ];
    for message in garbage {
        let _: () = redis::cmd("PUBLISH")
            .arg("t4:revocations")
            .arg(message)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    assert!(
        within(Duration::from_secs(1), || server.redis.ignored_messages()
            == garbage.len() as u64)
        .await
        .is_some(),
        "ignored {}",
        server.redis.ignored_messages()
    );
    assert!(server.set.is_empty());
    assert_eq!(server.open(&value, t), Ok(()));
    assert!(server.redis.is_connected());

    // Still following: a valid message after the garbage is applied.
    let _: () = redis::cmd("PUBLISH")
        .arg("t4:revocations")
        .arg(format!("session {id} {t}"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(within(Duration::from_secs(1), || server.refuses(&value, t))
        .await
        .is_some());

    let logs = LOGS.lock().unwrap().clone();
    let ignored: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("t4:revocations") && l.contains("not a revocation"))
        .collect();
    assert_eq!(ignored.len(), garbage.len(), "{logs:#?}");
    assert!(
        ignored
            .iter()
            .all(|l| !l.contains("secret") && !l.contains("everything")),
        "{ignored:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn unreachable_redis_at_start_up_follows_the_startup_policy() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let set = Arc::new(RevocationSet::new(Duration::from_secs(8 * 86_400)));

    let err = RedisRevocations::connect(&url, set.clone(), options("t5"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RedisSyncError::Unreachable { queued: false, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("check the URL"), "{err}");

    let started = RedisRevocations::connect(
        &url,
        set.clone(),
        options("t5").startup(StartupPolicy::StartAndRetry),
    )
    .await
    .unwrap();
    assert_eq!(started.last_sync_age(), None);
    assert!(!started.is_connected());

    // Redis comes up later with an entry: the server loads it.
    let redis = RedisServer::start_on(port);
    let mut connection = command_connection(&redis.url()).await;
    let id = SessionId::from_bytes([9; 16]);
    let _: () = redis::cmd("ZADD")
        .arg("t5:revoked-sessions")
        .arg(now())
        .arg(id.to_string())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(within(Duration::from_secs(5), || started.is_connected())
        .await
        .is_some());
    assert_eq!(set.len(), 1);
    assert!(started.last_sync_age().unwrap() < Duration::from_secs(1));

    assert_eq!(
        RedisRevocations::connect("http://nope", set, RedisOptions::new())
            .await
            .unwrap_err(),
        RedisSyncError::BadUrl
    );
}

/// How many subscribers `channel` has, as Redis counts them.
async fn subscribers(connection: &mut redis::aio::MultiplexedConnection, channel: &str) -> i64 {
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(connection)
        .await
        .unwrap();
    counts.first().map_or(0, |(_, count)| *count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn a_revocation_made_during_the_reload_is_written_once_connected() {
    let redis = RedisServer::start();
    let url = redis.url();
    // Timeouts longer than the pause below, so the paused reload waits
    // instead of failing.
    let patient = || options("t6").timeout(Duration::from_secs(4));
    let a = Server::start_with(&url, patient()).await;
    let b = Server::start_with(&url, patient()).await;
    let t = now();
    let (value, id) = sign_in(&a, Some("hana"), t - 10, 1);
    let mut control = command_connection(&url).await;

    // Writes are held for 2 s (the reload's trim of expired entries is a
    // write, so each reload stops there), and both servers lose their
    // subscription: they reconnect, subscribe and send their (empty)
    // queue, then wait in the reload with no command connection set.
    let paused_at = Instant::now();
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "2000", "WRITE"])
        .query_async(&mut control)
        .await
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut control)
        .await
        .unwrap();
    assert!(within(Duration::from_secs(2), || !a.redis.is_connected()
        && !b.redis.is_connected())
    .await
    .is_some());
    let deadline = Instant::now() + Duration::from_millis(1200);
    while subscribers(&mut control, "t6:revocations").await < 2 {
        assert!(
            Instant::now() < deadline,
            "the servers did not subscribe again"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Well past the queue being sent, well before the pause ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!a.redis.is_connected(), "a finished its reload too early");
    assert!(paused_at.elapsed() < Duration::from_millis(1800));

    // Revoked during the reload: held here, queued, not yet sent.
    let err = a
        .redis
        .revoke(&Revocation::Session { id, at: t })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RedisSyncError::Unreachable { queued: true, .. }),
        "{err}"
    );
    assert!(a.refuses(&value, t));

    // Once the reload is done, the queue is written: the other server
    // learns it while both stay connected.
    assert!(within(Duration::from_secs(5), || a.redis.is_connected()
        && b.redis.is_connected())
    .await
    .is_some());
    let took = within(Duration::from_secs(2), || b.refuses(&value, t)).await;
    assert!(
        took.is_some(),
        "the revocation made during the reload never reached the other server \
         ({} still pending)",
        a.redis.pending()
    );
    assert_eq!(a.redis.pending(), 0);
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg("t6:revoked-sessions")
        .arg(id.to_string())
        .query_async(&mut control)
        .await
        .unwrap();
    assert_eq!(score, Some(t as f64));
}

/// `CONFIG SET name value`.
async fn config_set(control: &mut redis::aio::MultiplexedConnection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", name, value])
        .query_async(control)
        .await
        .unwrap();
}

/// Redis refuses every write (out of memory) while both servers stay
/// subscribed: a revocation is reported as refused and queued. Then, after
/// every command connection is killed when `kill` says so (subscribers are
/// not), writes are accepted again and the queue reaches the other server
/// within a few pings, nobody having disconnected.
async fn a_refused_revocation_is_retried(prefix: &str, kill: bool) {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = Server::start(&url, prefix).await;
    let b = Server::start(&url, prefix).await;
    let t = now();
    let (value, id) = sign_in(&a, Some("ines"), t - 10, 1);
    let mut control = command_connection(&url).await;

    config_set(&mut control, "maxmemory", "1").await;
    let err = a
        .redis
        .revoke(&Revocation::Session { id, at: t })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RedisSyncError::Refused { queued: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("refused the write"), "{err}");
    assert!(a.refuses(&value, t));
    assert_eq!(a.redis.pending(), 1);
    assert!(a.redis.is_connected() && b.redis.is_connected());

    if kill {
        let _: redis::RedisResult<()> = redis::cmd("CLIENT")
            .arg(&["KILL", "TYPE", "normal"])
            .query_async(&mut control)
            .await;
        control = command_connection(&url).await;
    }
    config_set(&mut control, "maxmemory", "0").await;
    let took = within(Duration::from_secs(2), || b.refuses(&value, t)).await;
    assert!(
        took.is_some(),
        "the queued revocation never reached the other server ({} still pending)",
        a.redis.pending()
    );
    assert_eq!(a.redis.pending(), 0);
    assert!(a.redis.is_connected() && b.redis.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn a_revocation_whose_write_failed_while_connected_is_retried() {
    a_refused_revocation_is_retried("t7", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn a_queued_revocation_is_written_after_its_connection_was_killed() {
    a_refused_revocation_is_retried("t9", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn a_command_connection_closed_by_redis_is_replaced_at_the_next_revocation() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = Server::start(&url, "t8").await;
    let b = Server::start(&url, "t8").await;
    let t = now();
    let (value, id) = sign_in(&a, Some("jon"), t - 10, 1);

    // Redis closes clients idle for more than a second (`timeout`, common
    // on managed Redis); subscribers are exempt, so both servers stay
    // subscribed while their command connections are closed.
    let mut control = command_connection(&url).await;
    config_set(&mut control, "timeout", "1").await;
    tokio::time::sleep(Duration::from_millis(3500)).await;

    // The revocation is written at once, over a new connection.
    let revoked = a.redis.revoke(&Revocation::Session { id, at: t }).await;
    assert_eq!(revoked, Ok(()), "{revoked:?}");
    assert_eq!(a.redis.pending(), 0);
    let took = within(Duration::from_secs(1), || b.refuses(&value, t)).await;
    assert!(took.is_some(), "the other server never heard of it");
    assert!(a.redis.is_connected() && b.redis.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server; run by .ci/run"]
async fn a_server_with_refused_revocations_queued_still_resubscribes() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = Server::start(&url, "t10").await;
    let t = now();
    let (_, id) = sign_in(&a, Some("lea"), t - 10, 1);
    let (other, other_id) = sign_in(&a, Some("max"), t - 10, 2);
    let mut control = command_connection(&url).await;

    // Redis refuses writes (as a read-only replica or a full Redis does):
    // a revocation is queued. Then the subscription drops.
    config_set(&mut control, "maxmemory", "1").await;
    let err = a.redis.revoke(&Revocation::Session { id, at: t }).await;
    assert!(
        matches!(err, Err(RedisSyncError::Refused { queued: true, .. })),
        "{err:?}"
    );
    let _: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut control)
        .await
        .unwrap();

    // The server subscribes and loads again though its queue cannot be
    // written yet, so it keeps hearing what is published. (Until it notices
    // the kill it still counts as connected: Redis's count of subscribers
    // tells when the new subscription is in place.)
    let deadline = Instant::now() + Duration::from_secs(3);
    while subscribers(&mut control, "t10:revocations").await != 1 || !a.redis.is_connected() {
        assert!(
            Instant::now() < deadline,
            "the server never subscribed again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _: i64 = redis::cmd("PUBLISH")
        .arg("t10:revocations")
        .arg(format!("session {other_id} {t}"))
        .query_async(&mut control)
        .await
        .unwrap();
    let heard = within(Duration::from_secs(1), || a.refuses(&other, t)).await;
    assert!(heard.is_some(), "a published revocation was not applied");
    assert_eq!(a.redis.pending(), 1);

    // Once Redis accepts writes, the queue is written.
    config_set(&mut control, "maxmemory", "0").await;
    let written = within(Duration::from_secs(2), || a.redis.pending() == 0).await;
    assert!(written.is_some(), "the queue was never written");
}
