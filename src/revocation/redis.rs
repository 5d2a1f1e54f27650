//! Revocations shared between servers through Redis (feature `redis`).
//!
//! Every server keeps its own [`RevocationSet`] in memory and checks it on
//! every open; Redis only carries the entries between servers. A
//! [`RedisRevocations`] handle, one per server:
//!
//! - at start-up, subscribes to the channel, then loads the full set from
//!   Redis into the [`RevocationSet`] (subscribing first, so nothing
//!   published during the load is missed);
//! - applies every revocation published on the channel as it arrives;
//! - on [`revoke`](RedisRevocations::revoke), applies the revocation locally,
//!   writes it to Redis and publishes it, in one transaction;
//! - after losing the connection, keeps serving from memory, reconnects with
//!   exponential backoff, and reloads the full set, so a revocation made while
//!   it was disconnected is applied once it is back;
//! - keeps a revocation whose write failed (no connection yet, a reload under
//!   way, Redis refusing writes) and writes it once connected, then retries
//!   what is still kept at every ping, so none waits for the next disconnect;
//! - replaces a command connection that Redis closed while the subscription
//!   stayed up (an idle client `timeout`, `CLIENT KILL`, a proxy) at the
//!   next write.
//!
//! # Redis layout
//!
//! With the key prefix `P` (default `sealed-session`, set with
//! [`RedisOptions::key_prefix`]):
//!
//! | key | type | member | score |
//! | --- | --- | --- | --- |
//! | `P:revoked-sessions` | sorted set | session id, 32 lowercase hex digits | revoked at (Unix seconds) |
//! | `P:revoked-subjects` | sorted set | subject (1 to 64 bytes) | sessions created before this are revoked (Unix seconds) |
//! | `P:revocations` | pub/sub channel | one revocation per message, in its [text form](crate::Revocation#impl-FromStr-for-Revocation) | |
//!
//! Entries are written with `ZADD GT` (Redis 6.2 or later): a later time
//! replaces an earlier one, never the reverse, as in the set. A server drops
//! entries older than its set's retention (`ZREMRANGEBYSCORE`) when it loads
//! and once a minute, so the keys stay bounded by one lifetime of
//! revocations: every server sharing a prefix must use the same retention
//! (the same `max_lifetime`). Messages are `session <id> <at>` and
//! `subject <before> <subject>`; one that does not parse is logged,
//! counted ([`RedisRevocations::ignored_messages`]) and ignored: it never
//! stops the synchronization and never revokes anything.
//!
//! # When Redis is unreachable
//!
//! At start-up, [`StartupPolicy`] decides: [`RequireRedis`](StartupPolicy::RequireRedis)
//! (the default) makes [`connect`](RedisRevocations::connect) fail, so the
//! server refuses to start rather than accept sessions it cannot know are
//! revoked; [`StartAndRetry`](StartupPolicy::StartAndRetry) starts with what
//! the set already holds and loads it in the background once Redis answers.
//! Later, the server keeps answering from memory while reconnecting.
//!
//! A load adds what Redis holds to what the set holds and removes nothing
//! but expired entries: nothing un-revokes a session, so a Redis that lost
//! its data (restarted without persistence) does not bring revoked sessions
//! back on the servers that knew them. Servers started after such a loss do
//! not know the lost entries: run Redis with persistence (`appendonly yes`).
//! To undo a mistaken revocation, remove its entry from Redis and restart
//! the servers.
//! [`last_sync_age`](RedisRevocations::last_sync_age) tells a health check
//! how stale the set may be: `None` until the first full load, then the time
//! since the last load or the last answered ping on the subscription.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{fmt, mem};

use futures_util::StreamExt;
use rand::Rng;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Client};

use crate::core::identity::{check_subject, SessionId};
use crate::error::Error;
use crate::revocation::set::{Revocation, RevocationSet};
use crate::revocation::text::{check_revocation, MAX_REVOCATION_TIME, MAX_TEXT_LEN};

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "sealed-session";

/// Revocations not yet written because Redis was unreachable, kept to be
/// written once connected (and retried at every ping). Beyond this, `revoke`
/// reports that nothing was kept.
const MAX_PENDING: usize = 10_000;

/// How often the local set is swept and the Redis keys trimmed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// What to do when Redis is unreachable at start-up.
///
/// ```
/// use sealed_session::{RedisOptions, StartupPolicy};
/// let options = RedisOptions::new().startup(StartupPolicy::StartAndRetry);
/// assert_eq!(options.startup_policy(), StartupPolicy::StartAndRetry);
/// assert_eq!(RedisOptions::new().startup_policy(), StartupPolicy::RequireRedis);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartupPolicy {
    /// [`RedisRevocations::connect`] fails: the server should not start
    /// without knowing what is revoked.
    #[default]
    RequireRedis,
    /// [`RedisRevocations::connect`] succeeds and keeps trying in the
    /// background; until the first load, only what the set already holds is
    /// revoked and [`RedisRevocations::last_sync_age`] is `None`.
    StartAndRetry,
}

/// Settings of the Redis synchronization.
///
/// ```
/// use std::time::Duration;
/// use sealed_session::RedisOptions;
/// let options = RedisOptions::new()
///     .key_prefix("shop")
///     .backoff(Duration::from_millis(50), Duration::from_secs(5))
///     .timeout(Duration::from_secs(1));
/// assert_eq!(options.channel(), "shop:revocations");
/// ```
#[derive(Debug, Clone)]
pub struct RedisOptions {
    key_prefix: String,
    startup: StartupPolicy,
    min_backoff: Duration,
    max_backoff: Duration,
    timeout: Duration,
    ping_interval: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            startup: StartupPolicy::RequireRedis,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `sealed-session`, [`StartupPolicy::RequireRedis`],
    /// backoff from 100 ms to 10 s, a 2 s timeout, a ping every 5 s.
    ///
    /// ```
    /// let options = sealed_session::RedisOptions::new();
    /// assert_eq!(options.channel(), "sealed-session:revocations");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The prefix of the keys and of the channel: servers that share a
    /// prefix share their revocations (1 to 200 bytes, no whitespace).
    ///
    /// ```
    /// let options = sealed_session::RedisOptions::new().key_prefix("app1");
    /// assert_eq!(options.sessions_key(), "app1:revoked-sessions");
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// What [`RedisRevocations::connect`] does when Redis is unreachable.
    ///
    /// ```
    /// use sealed_session::{RedisOptions, StartupPolicy};
    /// let options = RedisOptions::new().startup(StartupPolicy::StartAndRetry);
    /// # assert_eq!(options.startup_policy(), StartupPolicy::StartAndRetry);
    /// ```
    pub fn startup(mut self, policy: StartupPolicy) -> Self {
        self.startup = policy;
        self
    }

    /// The wait before reconnecting: `min` after the first failure, doubled
    /// on each failure up to `max` (each wait is shortened by a random part
    /// of up to half, so servers do not reconnect in step).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = sealed_session::RedisOptions::new()
    ///     .backoff(Duration::from_millis(10), Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max;
        self
    }

    /// The longest wait for a connection or for one answer from Redis.
    ///
    /// ```
    /// let options = sealed_session::RedisOptions::new().timeout(std::time::Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often the subscription is pinged: a connection that stopped
    /// answering is noticed within this plus the timeout, and each answer
    /// renews [`RedisRevocations::last_sync_age`].
    ///
    /// ```
    /// let options = sealed_session::RedisOptions::new().ping_interval(std::time::Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// The startup policy in force.
    ///
    /// ```
    /// use sealed_session::{RedisOptions, StartupPolicy};
    /// assert_eq!(RedisOptions::new().startup_policy(), StartupPolicy::RequireRedis);
    /// ```
    pub fn startup_policy(&self) -> StartupPolicy {
        self.startup
    }

    /// The sorted set of revoked session ids (`PREFIX:revoked-sessions`).
    ///
    /// ```
    /// assert_eq!(sealed_session::RedisOptions::new().sessions_key(),
    ///            "sealed-session:revoked-sessions");
    /// ```
    pub fn sessions_key(&self) -> String {
        format!("{}:revoked-sessions", self.key_prefix)
    }

    /// The sorted set of revoked subjects (`PREFIX:revoked-subjects`).
    ///
    /// ```
    /// assert_eq!(sealed_session::RedisOptions::new().subjects_key(),
    ///            "sealed-session:revoked-subjects");
    /// ```
    pub fn subjects_key(&self) -> String {
        format!("{}:revoked-subjects", self.key_prefix)
    }

    /// The pub/sub channel (`PREFIX:revocations`).
    ///
    /// ```
    /// assert_eq!(sealed_session::RedisOptions::new().channel(), "sealed-session:revocations");
    /// ```
    pub fn channel(&self) -> String {
        format!("{}:revocations", self.key_prefix)
    }

    fn check(&self) -> Result<(), RedisSyncError> {
        let prefix = &self.key_prefix;
        if prefix.is_empty() || prefix.len() > 200 || prefix.chars().any(char::is_whitespace) {
            return Err(RedisSyncError::Invalid {
                message: format!(
                    "the key prefix is 1 to 200 bytes without whitespace ({} bytes given): \
                     use a short name such as the application's",
                    prefix.len()
                ),
            });
        }
        if self.min_backoff.is_zero() || self.min_backoff > self.max_backoff {
            return Err(RedisSyncError::Invalid {
                message: "the backoff needs 0 < min <= max: for example 100 ms and 10 s".into(),
            });
        }
        if self.timeout.is_zero() || self.ping_interval.is_zero() {
            return Err(RedisSyncError::Invalid {
                message: "the timeout and the ping interval must be positive: for example 2 s \
                          and 5 s"
                    .into(),
            });
        }
        Ok(())
    }
}

/// What went wrong with the Redis synchronization. Never carries the URL
/// (it may hold a password) nor a subject.
///
/// ```
/// use sealed_session::RedisSyncError;
/// let err = RedisSyncError::BadUrl;
/// assert!(err.to_string().contains("redis://"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisSyncError {
    /// The URL is not a Redis URL this build can use.
    BadUrl,
    /// The revocation or the options are invalid; nothing was written.
    Invalid {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Redis could not be reached, or did not answer in time.
    Unreachable {
        /// What the client reported.
        detail: String,
        /// For [`RedisRevocations::revoke`]: the revocation is applied on
        /// this server and kept, to be written when Redis is back.
        queued: bool,
    },
    /// Redis answered with an error: out of memory under its `maxmemory`,
    /// a read-only replica, a user without the permission (ACL).
    Refused {
        /// Redis's error reply.
        detail: String,
        /// For [`RedisRevocations::revoke`]: the revocation is applied on
        /// this server and kept, to be written once Redis accepts it.
        queued: bool,
    },
    /// Called outside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for RedisSyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisSyncError::BadUrl => f.write_str(
                "not a Redis URL: use redis://[:PASSWORD@]HOST[:PORT][/DB] or \
                 redis+unix:///PATH (TLS is not built in)",
            ),
            RedisSyncError::Invalid { message } => f.write_str(message),
            RedisSyncError::Unreachable {
                detail,
                queued: true,
            } => write!(
                f,
                "Redis is unreachable ({detail}): the revocation holds on this server and will \
                 be written and published once Redis answers again; other servers do not \
                 know it yet"
            ),
            RedisSyncError::Unreachable {
                detail,
                queued: false,
            } => write!(
                f,
                "Redis is unreachable ({detail}): nothing was written; check the URL and that \
                 the Redis server is up, then retry"
            ),
            RedisSyncError::Refused {
                detail,
                queued: true,
            } => write!(
                f,
                "Redis refused the write ({detail}): the revocation holds on this server and \
                 will be written and published once Redis accepts it; other servers do not \
                 know it yet. Check Redis's memory limit, that the URL names the primary and \
                 not a read-only replica, and the user's ACL"
            ),
            RedisSyncError::Refused {
                detail,
                queued: false,
            } => write!(
                f,
                "Redis refused the command ({detail}): nothing was written. Check Redis's \
                 memory limit, that the URL names the primary and not a read-only replica, \
                 and the user's ACL"
            ),
            RedisSyncError::NoRuntime => f.write_str(
                "the Redis synchronization runs on tokio: call it from inside a tokio runtime",
            ),
        }
    }
}

impl std::error::Error for RedisSyncError {}

/// A client error as Refused when Redis answered it with an error reply,
/// Unreachable otherwise (no connection, a closed one, a timeout).
fn failed(err: &redis::RedisError) -> RedisSyncError {
    let detail = err.to_string();
    match err.kind() {
        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => RedisSyncError::Refused {
            detail,
            queued: false,
        },
        _ => RedisSyncError::Unreachable {
            detail,
            queued: false,
        },
    }
}

fn not_connected() -> RedisSyncError {
    RedisSyncError::Unreachable {
        detail: "not connected".into(),
        queued: false,
    }
}

fn timed_out(what: &str, timeout: Duration) -> RedisSyncError {
    RedisSyncError::Unreachable {
        detail: format!("no {what} within {} ms", timeout.as_millis()),
        queued: false,
    }
}

/// The message of a crate error (a parse or subject error) without the
/// "invalid configuration" preamble.
fn reason(err: Error) -> String {
    match err {
        Error::Config { message } => message,
        other => other.to_string(),
    }
}

/// A server's link to the shared revocations: keeps its [`RevocationSet`]
/// in step with Redis from a background tokio task, and revokes through
/// Redis. Dropping it stops the task (the set keeps what it holds).
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sealed_session::{Codec, RedisOptions, RedisRevocations, Revocation, RevocationSet, SessionId};
///
/// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
/// let set = Arc::new(RevocationSet::new(Duration::from_secs(7 * 86_400 + 60)));
/// let redis = RedisRevocations::connect("redis://127.0.0.1/", set.clone(), RedisOptions::new()).await?;
/// let codec = Codec::builder("sid").development_key().revocations(set).build()?;
///
/// // Sign-out of one session, on every server:
/// let id: SessionId = "000102030405060708090a0b0c0d0e0f".parse()?;
/// redis.revoke(&Revocation::Session { id, at: 1_700_000_000 }).await?;
/// // A health check:
/// let healthy = redis.last_sync_age().is_some_and(|age| age < Duration::from_secs(30));
/// # let _ = (codec, healthy);
/// # Ok(()) }
/// ```
pub struct RedisRevocations {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    client: Client,
    set: Arc<RevocationSet>,
    options: RedisOptions,
    keys: Keys,
    /// The command connection while the subscription is up.
    connection: Mutex<Option<MultiplexedConnection>>,
    last_sync: Mutex<Option<Instant>>,
    pending: Mutex<Vec<Revocation>>,
    ignored: AtomicU64,
}

/// A lock that a panicking holder cannot make unusable: every guarded value
/// is replaced whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RedisRevocations {
    /// Connects to Redis at `url`, subscribes, loads the full set into
    /// `set` and starts following the channel in a tokio task. When Redis
    /// is unreachable, fails under [`StartupPolicy::RequireRedis`] and
    /// returns a handle that keeps trying under
    /// [`StartupPolicy::StartAndRetry`].
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use sealed_session::{RedisOptions, RedisRevocations, RevocationSet, StartupPolicy};
    /// # async fn start() -> Result<(), sealed_session::RedisSyncError> {
    /// let set = Arc::new(RevocationSet::new(Duration::from_secs(7 * 86_400 + 60)));
    /// let options = RedisOptions::new().key_prefix("shop").startup(StartupPolicy::StartAndRetry);
    /// let redis = RedisRevocations::connect("redis://10.0.0.5:6379/", set, options).await?;
    /// # let _ = redis; Ok(()) }
    /// ```
    pub async fn connect(
        url: &str,
        set: Arc<RevocationSet>,
        options: RedisOptions,
    ) -> Result<Self, RedisSyncError> {
        options.check()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RedisSyncError::NoRuntime)?;
        let client = Client::open(url).map_err(|_| RedisSyncError::BadUrl)?;
        let shared = Arc::new(Shared {
            client,
            set,
            keys: Keys::of(&options),
            options,
            connection: Mutex::new(None),
            last_sync: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            ignored: AtomicU64::new(0),
        });
        let first = match shared.establish().await {
            Ok(subscription) => Some(subscription),
            Err(err) => match shared.options.startup {
                StartupPolicy::RequireRedis => return Err(err),
                StartupPolicy::StartAndRetry => {
                    log::warn!(
                        "revocations: Redis is unreachable at start-up ({err}); starting with \
                         {} entries in memory and retrying in the background",
                        shared.set.len()
                    );
                    None
                }
            },
        };
        let task = runtime.spawn(run(shared.clone(), first));
        Ok(RedisRevocations { shared, task })
    }

    /// Revokes on every server: applies `revocation` to this server's set,
    /// writes it to Redis and publishes it on the channel (one
    /// transaction). When Redis is unreachable the revocation still holds
    /// here and is kept to be written once Redis answers (when the
    /// connection is back, or at the next ping if it never went away); the
    /// error says so (`queued: true`).
    ///
    /// ```no_run
    /// # use sealed_session::{RedisRevocations, Revocation};
    /// # async fn sign_out_everywhere(redis: &RedisRevocations, user: &str, now: u64)
    /// #     -> Result<(), sealed_session::RedisSyncError> {
    /// redis.revoke(&Revocation::Subject { subject: user.into(), before: now }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, revocation: &Revocation) -> Result<(), RedisSyncError> {
        check_revocation(revocation).map_err(|e| RedisSyncError::Invalid { message: reason(e) })?;
        self.shared
            .set
            .apply(revocation)
            .map_err(|e| RedisSyncError::Invalid { message: reason(e) })?;
        let result = self.shared.write(revocation).await;
        let queue = || {
            let mut pending = lock(&self.shared.pending);
            let queued = pending.len() < MAX_PENDING;
            if queued {
                pending.push(revocation.clone());
            }
            queued
        };
        match result {
            Ok(()) => Ok(()),
            Err(RedisSyncError::Unreachable { detail, .. }) => Err(RedisSyncError::Unreachable {
                detail,
                queued: queue(),
            }),
            Err(RedisSyncError::Refused { detail, .. }) => Err(RedisSyncError::Refused {
                detail,
                queued: queue(),
            }),
            Err(other) => Err(other),
        }
    }

    /// Writes and publishes one revocation over a short-lived connection,
    /// with no set and no background task: what `sealed-session revoke`
    /// does. Servers that follow the same prefix apply it within moments.
    ///
    /// ```no_run
    /// use sealed_session::{RedisOptions, RedisRevocations, Revocation};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let revocation: Revocation = "subject 1700000000 user-42".parse()?;
    /// RedisRevocations::revoke_once("redis://127.0.0.1/", &RedisOptions::new(), &revocation).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke_once(
        url: &str,
        options: &RedisOptions,
        revocation: &Revocation,
    ) -> Result<(), RedisSyncError> {
        options.check()?;
        check_revocation(revocation).map_err(|e| RedisSyncError::Invalid { message: reason(e) })?;
        tokio::runtime::Handle::try_current().map_err(|_| RedisSyncError::NoRuntime)?;
        let client = Client::open(url).map_err(|_| RedisSyncError::BadUrl)?;
        let mut connection = connect_commands(&client, options).await?;
        Keys::of(options).write(&mut connection, revocation).await
    }

    /// How long ago this server's set was last known to match Redis (the
    /// last full load, or the last answered ping on the subscription);
    /// `None` before the first load. For a health check: while connected it
    /// stays below the ping interval.
    ///
    /// ```no_run
    /// # fn check(redis: &sealed_session::RedisRevocations) -> bool {
    /// redis.last_sync_age().is_some_and(|age| age.as_secs() < 30)
    /// # }
    /// ```
    pub fn last_sync_age(&self) -> Option<Duration> {
        lock(&self.shared.last_sync).map(|at| at.elapsed())
    }

    /// True while the subscription and the command connection are up.
    ///
    /// ```no_run
    /// # fn check(redis: &sealed_session::RedisRevocations) -> bool {
    /// redis.is_connected()
    /// # }
    /// ```
    pub fn is_connected(&self) -> bool {
        lock(&self.shared.connection).is_some()
    }

    /// How many messages on the channel were not revocations and were
    /// ignored (each is also logged at warn level).
    ///
    /// ```no_run
    /// # fn check(redis: &sealed_session::RedisRevocations) {
    /// assert_eq!(redis.ignored_messages(), 0);
    /// # }
    /// ```
    pub fn ignored_messages(&self) -> u64 {
        self.shared.ignored.load(Ordering::Relaxed)
    }

    /// Revocations made through [`revoke`](Self::revoke) while Redis was
    /// unreachable, still waiting to be written.
    ///
    /// ```no_run
    /// # fn check(redis: &sealed_session::RedisRevocations) {
    /// assert_eq!(redis.pending(), 0);
    /// # }
    /// ```
    pub fn pending(&self) -> usize {
        lock(&self.shared.pending).len()
    }
}

impl Drop for RedisRevocations {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("key_prefix", &self.shared.options.key_prefix)
            .field("connected", &self.is_connected())
            .field("last_sync_age", &self.last_sync_age())
            .field("pending", &self.pending())
            .finish()
    }
}

async fn connect_commands(
    client: &Client,
    options: &RedisOptions,
) -> Result<MultiplexedConnection, RedisSyncError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.timeout))
        .set_response_timeout(Some(options.timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| failed(&e))
}

/// The names of the keys and of the channel under one prefix.
struct Keys {
    sessions: String,
    subjects: String,
    channel: String,
}

impl Keys {
    fn of(options: &RedisOptions) -> Self {
        Keys {
            sessions: options.sessions_key(),
            subjects: options.subjects_key(),
            channel: options.channel(),
        }
    }

    /// `ZADD GT` and `PUBLISH` in one transaction.
    async fn write(
        &self,
        connection: &mut MultiplexedConnection,
        revocation: &Revocation,
    ) -> Result<(), RedisSyncError> {
        let (key, score, member) = match revocation {
            Revocation::Session { id, at } => (&self.sessions, *at, id.to_string()),
            Revocation::Subject { subject, before } => (&self.subjects, *before, subject.clone()),
        };
        redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(key)
            .arg("GT")
            .arg(score)
            .arg(member)
            .ignore()
            .cmd("PUBLISH")
            .arg(&self.channel)
            .arg(revocation.to_string())
            .ignore()
            .query_async::<()>(connection)
            .await
            .map_err(|e| failed(&e))
    }
}

/// The subscription of one connection.
struct Subscription {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl Shared {
    /// Connects, subscribes, writes what is pending (what Redis refuses
    /// stays queued), then loads the full set.
    /// A revocation queued during the load (no connection is set until it
    /// is done) is written when [`follow`](Self::follow) starts.
    async fn establish(&self) -> Result<Subscription, RedisSyncError> {
        let timeout = self.options.timeout;
        let mut connection = connect_commands(&self.client, &self.options).await?;
        let mut pubsub = tokio::time::timeout(timeout, self.client.get_async_pubsub())
            .await
            .map_err(|_| timed_out("connection", timeout))?
            .map_err(|e| failed(&e))?;
        tokio::time::timeout(timeout, pubsub.subscribe(&self.keys.channel))
            .await
            .map_err(|_| timed_out("answer to SUBSCRIBE", timeout))?
            .map_err(|e| failed(&e))?;
        match self.flush_pending(&mut connection).await {
            Ok(()) => {}
            // Redis answers but refuses writes (full, a read-only replica):
            // follow it anyway, and retry the queue at every ping.
            Err(RedisSyncError::Refused { detail, .. }) => log::warn!(
                "revocations: Redis refused {} queued revocations ({detail}); following it \
                 anyway and retrying at every ping",
                lock(&self.pending).len()
            ),
            Err(err) => return Err(err),
        }
        let loaded = self.load(&mut connection).await?;
        // The sync time first: whoever sees the connection sees a time.
        *lock(&self.last_sync) = Some(Instant::now());
        *lock(&self.connection) = Some(connection);
        log::info!(
            "revocations: in step with Redis ({loaded} entries), following {}",
            self.keys.channel
        );
        let (sink, stream) = pubsub.split();
        Ok(Subscription { sink, stream })
    }

    /// Runs `op` with the command connection (a clone is a handle to the
    /// same connection). When that connection is gone while the
    /// subscription stays up (Redis closed it: an idle client `timeout`,
    /// `CLIENT KILL`, a proxy), opens a new one and runs `op` once more.
    async fn with_commands<F>(
        &self,
        op: impl Fn(MultiplexedConnection) -> F,
    ) -> Result<(), RedisSyncError>
    where
        F: Future<Output = Result<(), RedisSyncError>>,
    {
        let connection = lock(&self.connection).clone();
        let Some(connection) = connection else {
            return Err(not_connected());
        };
        match op(connection).await {
            Err(RedisSyncError::Unreachable { .. }) => op(self.replace_commands().await?).await,
            done => done,
        }
    }

    /// Writes one revocation over the command connection.
    async fn write(&self, revocation: &Revocation) -> Result<(), RedisSyncError> {
        self.with_commands(|mut connection| async move {
            self.keys.write(&mut connection, revocation).await
        })
        .await
    }

    /// A new command connection in place of one that failed, while the
    /// subscription is up; none while it is down (the reconnection opens
    /// both and writes what is queued).
    async fn replace_commands(&self) -> Result<MultiplexedConnection, RedisSyncError> {
        let fresh = connect_commands(&self.client, &self.options).await?;
        let mut slot = lock(&self.connection);
        if slot.is_none() {
            return Err(not_connected());
        }
        *slot = Some(fresh.clone());
        log::info!("revocations: opened a new command connection to Redis (the last one closed)");
        Ok(fresh)
    }

    async fn flush_pending(
        &self,
        connection: &mut MultiplexedConnection,
    ) -> Result<(), RedisSyncError> {
        let pending = mem::take(&mut *lock(&self.pending));
        let mut rest = pending.into_iter();
        while let Some(revocation) = rest.next() {
            if let Err(err) = self.keys.write(connection, &revocation).await {
                let mut back = lock(&self.pending);
                let newer = mem::take(&mut *back);
                back.push(revocation);
                back.extend(rest);
                back.extend(newer);
                return Err(err);
            }
        }
        Ok(())
    }

    /// Writes what is pending over the command connection; on a failure
    /// the rest stays queued for the next try. Called when the
    /// subscription is up and at every ping: a revocation queued after a
    /// flush (during a load, or by a write that failed just as a
    /// reconnection flushed) would otherwise wait for the next disconnect.
    async fn retry_pending(&self) {
        if lock(&self.pending).is_empty() {
            return;
        }
        let flushed = self
            .with_commands(
                |mut connection| async move { self.flush_pending(&mut connection).await },
            )
            .await;
        if let Err(err) = flushed {
            log::warn!(
                "revocations: could not write {} queued revocations yet ({err}); retrying at \
                 the next ping",
                lock(&self.pending).len()
            );
        }
    }

    /// Drops expired entries in Redis, reads both sorted sets and adds them
    /// to the set (see the module docs: a load never un-revokes). Returns
    /// the number of entries the set holds.
    async fn load(&self, connection: &mut MultiplexedConnection) -> Result<usize, RedisSyncError> {
        let now = unix_now();
        self.trim(connection, now).await?;
        type Entries = Vec<(Vec<u8>, f64)>;
        let (sessions, subjects): (Entries, Entries) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&self.keys.sessions)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("ZRANGE")
            .arg(&self.keys.subjects)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(connection)
            .await
            .map_err(|e| failed(&e))?;
        let mut skipped = 0usize;
        let mut revocations = Vec::with_capacity(sessions.len() + subjects.len());
        for (member, score) in sessions {
            let id = std::str::from_utf8(&member)
                .ok()
                .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|t| t.parse::<SessionId>().ok());
            match (id, time_of(score)) {
                (Some(id), Some(at)) => revocations.push(Revocation::Session { id, at }),
                _ => skipped += 1,
            }
        }
        for (member, score) in subjects {
            let subject = String::from_utf8(member)
                .ok()
                .filter(|s| check_subject(s).is_ok());
            match (subject, time_of(score)) {
                (Some(subject), Some(before)) => {
                    revocations.push(Revocation::Subject { subject, before })
                }
                _ => skipped += 1,
            }
        }
        if skipped > 0 {
            log::warn!(
                "revocations: skipped {skipped} entries in {} or {} that are not revocations \
                 (a session id of 32 hex digits or a subject of 1 to 64 bytes, scored by a \
                 time in Unix seconds); remove them",
                self.keys.sessions,
                self.keys.subjects
            );
        }
        for revocation in &revocations {
            // Checked above: a valid subject, a time within bounds.
            let _ = self.set.apply(revocation);
        }
        self.set.sweep(now);
        Ok(self.set.len())
    }

    /// Removes the entries that no valid session can match any more: a
    /// time at or before `now` minus the set's retention (what the set's
    /// own sweep drops).
    async fn trim(
        &self,
        connection: &mut MultiplexedConnection,
        now: u64,
    ) -> Result<(), RedisSyncError> {
        let Some(cutoff) = now.checked_sub(self.set.retention().as_secs()) else {
            return Ok(());
        };
        redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&self.keys.sessions)
            .arg("-inf")
            .arg(cutoff)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&self.keys.subjects)
            .arg("-inf")
            .arg(cutoff)
            .ignore()
            .query_async::<()>(connection)
            .await
            .map_err(|e| failed(&e))
    }

    /// Applies one message from the channel, or logs and counts it.
    fn receive(&self, payload: &[u8]) {
        let parsed = if payload.len() > MAX_TEXT_LEN {
            Err(format!("longer than {MAX_TEXT_LEN} bytes"))
        } else {
            std::str::from_utf8(payload)
                .map_err(|_| "not UTF-8".to_owned())
                .and_then(|text| text.parse::<Revocation>().map_err(reason))
        };
        match parsed.and_then(|r| self.set.apply(&r).map_err(reason)) {
            Ok(()) => {}
            Err(why) => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "revocations: ignored a message of {} bytes on {} that is not a \
                     revocation ({why}); find the publisher that sent it",
                    payload.len(),
                    self.keys.channel
                );
            }
        }
    }

    /// Follows the subscription until the connection is lost; returns why.
    async fn follow(&self, subscription: Subscription) -> String {
        let Subscription {
            mut sink,
            mut stream,
        } = subscription;
        let timeout = self.options.timeout;
        let mut ping = tokio::time::interval(self.options.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
        self.retry_pending().await;
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.receive(message.get_payload_bytes()),
                    None => return "the connection closed".to_owned(),
                },
                _ = ping.tick() => {
                    match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {
                            *lock(&self.last_sync) = Some(Instant::now());
                            self.retry_pending().await;
                        }
                        Ok(Err(err)) => return err.to_string(),
                        Err(_) => {
                            return format!("no answer to a ping within {} ms", timeout.as_millis())
                        }
                    }
                    if Instant::now() >= next_sweep {
                        next_sweep = Instant::now() + SWEEP_INTERVAL;
                        let now = unix_now();
                        self.set.sweep(now);
                        let trimmed = self
                            .with_commands(|mut connection| async move {
                                self.trim(&mut connection, now).await
                            })
                            .await;
                        if let Err(err) = trimmed {
                            log::warn!("revocations: could not trim expired entries: {err}");
                        }
                    }
                }
            }
        }
    }
}

/// A sorted-set score as Unix seconds, if it is one.
fn time_of(score: f64) -> Option<u64> {
    let exact = score.is_finite() && score >= 0.0 && score.fract() == 0.0;
    // Checked above: a whole number in [0, 2^53], exact in both types.
    (exact && score <= MAX_REVOCATION_TIME as f64).then_some(score as u64)
}

/// The background task: follow, and after a loss reconnect with backoff.
async fn run(shared: Arc<Shared>, mut established: Option<Subscription>) {
    let options = shared.options.clone();
    let mut backoff = options.min_backoff;
    loop {
        let subscription = match established.take() {
            Some(subscription) => subscription,
            None => match shared.establish().await {
                Ok(subscription) => subscription,
                Err(err) => {
                    log::warn!(
                        "revocations: cannot reach Redis ({err}); serving from memory, next try \
                         within {} ms",
                        backoff.as_millis()
                    );
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = backoff.saturating_mul(2).min(options.max_backoff);
                    continue;
                }
            },
        };
        backoff = options.min_backoff;
        let why = shared.follow(subscription).await;
        *lock(&shared.connection) = None;
        log::warn!("revocations: lost the connection to Redis ({why}); serving from memory and reconnecting");
        tokio::time::sleep(jittered(backoff)).await;
    }
}

/// `wait` shortened by a random part of up to half.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}
