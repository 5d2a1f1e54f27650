//! The revocation set: what every server checks, in memory, after a value
//! authenticated and before its session is handed out.
//!
//! Two kinds of entry: a revoked session id, and a subject whose sessions
//! created before a given time are revoked ("sign out everywhere"). A third
//! kind needs no entry: a session whose origin key is revoked in the key
//! ring. Each entry is kept only while a value it could match can still be
//! valid (the retention: the codec's absolute lifetime plus the clock skew),
//! so memory is bounded by the revocations of one lifetime.
//!
//! The check takes a read lock and first reads one 64-byte block of a
//! Bloom filter for the session id and one for the subject (`filter.rs`):
//! 1.25 to 2.5 bytes per entry, a few megabytes at a million entries, so it
//! stays in the CPU caches where the maps (tens of megabytes) do not. Only
//! when the filter says "maybe" (every revoked key, and about 1 % or less
//! of the others) does the check look in the maps, which decide. So a
//! session that is not revoked costs one read of a small array whatever
//! the number of entries, rather than misses in tables of tens of
//! megabytes (BENCHMARKS.md, "Revocation check").

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::codec::now_unix;
use crate::core::identity::{check_subject, Identity, SessionId};
use crate::error::Result;
use crate::revocation::filter::Filter;

/// Why an authenticated session was refused by revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoked {
    /// The session itself was revoked.
    Session,
    /// Its subject was signed out everywhere after the session was created.
    Subject,
    /// The key it was created under is revoked in the key ring (it may have
    /// been re-sealed under another key since).
    OriginKey,
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Revoked::Session => "the session was revoked",
            Revoked::Subject => "its owner was signed out everywhere",
            Revoked::OriginKey => "the key it was created under is revoked",
        })
    }
}

/// One revocation, as written to a store and sent between servers.
///
/// ```
/// use sealed_session::{Revocation, SessionId};
/// let one = Revocation::Session { id: SessionId::from_bytes([1; 16]), at: 1_700_000_000 };
/// let all = Revocation::Subject { subject: "user-42".into(), before: 1_700_000_000 };
/// assert_ne!(one, all);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// Revoke one session, from time `at` (Unix seconds) on.
    Session {
        /// The session's id.
        id: SessionId,
        /// When it was revoked.
        at: u64,
    },
    /// Revoke every session of `subject` created before `before`.
    Subject {
        /// The subject the application set at sign-in.
        subject: String,
        /// Sessions created before this time (Unix seconds) are revoked;
        /// sessions created at or after it (a new sign-in) are not.
        before: u64,
    },
}

/// Session ids are random (a keyed function of a random nonce): their first
/// eight bytes are already a uniform hash, and no client can choose them.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }
}

type IdMap = HashMap<SessionId, u64, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct Entries {
    /// Session id -> the time its entry may be dropped.
    sessions: IdMap,
    /// Subject -> (revoked before, entry may be dropped at).
    subjects: HashMap<Box<str>, (u64, u64)>,
    /// Every key of both maps (and, until the next rebuild, keys swept
    /// since): what the check reads first.
    filter: Filter,
}

impl Entries {
    fn len(&self) -> usize {
        self.sessions.len() + self.subjects.len()
    }

    fn add_session(&mut self, id: SessionId, drop_at: u64) {
        let entry = self.sessions.entry(id).or_insert(drop_at);
        *entry = (*entry).max(drop_at);
        self.filter.insert(Filter::session(&id));
        self.grow_filter();
    }

    fn add_subject(&mut self, subject: Box<str>, before: u64, drop_at: u64) {
        let probe = self.filter.subject(&subject);
        let entry = self.subjects.entry(subject).or_insert((before, drop_at));
        if before >= entry.0 {
            *entry = (before, drop_at);
        }
        self.filter.insert(probe);
        self.grow_filter();
    }

    /// Past its capacity the filter's false positives climb: rebuild it
    /// for twice the entries (amortized over the inserts that filled it).
    fn grow_filter(&mut self) {
        if self.len() > self.filter.capacity() {
            self.rebuild_filter();
        }
    }

    fn rebuild_filter(&mut self) {
        let mut filter = Filter::with_capacity(self.len().saturating_mul(2));
        for id in self.sessions.keys() {
            filter.insert(Filter::session(id));
        }
        for subject in self.subjects.keys() {
            let probe = filter.subject(subject);
            filter.insert(probe);
        }
        self.filter = filter;
    }

    /// Drops every entry that can no longer match a valid value at `now`,
    /// and rebuilds the filter without them (a Bloom filter cannot forget
    /// a key; a sweep already passes over every entry).
    fn sweep(&mut self, now: u64) {
        let before = self.len();
        self.sessions.retain(|_, drop_at| *drop_at > now);
        self.subjects.retain(|_, (_, drop_at)| *drop_at > now);
        if self.len() < before {
            self.rebuild_filter();
        }
    }
}

/// The in-memory revocation set. Share it (`Arc`) between the codecs of a
/// server and whatever feeds it (the application, or the Redis
/// synchronization of feature `redis`).
///
/// Memory per entry (BENCHMARKS.md, "Revocation check"): a revoked session
/// id takes 29 to 57 bytes of hash table, a revoked subject 38 to 75 bytes
/// plus its text, and each entry 1.25 to 2.5 bytes of the Bloom filter that
/// the check reads first; entries live for the retention, so the set holds
/// one lifetime of revocations (about 50 to 100 MB per million).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sealed_session::{Codec, DynamicSession, Error, Key, KeyRing, RevocationSet, Revoked};
///
/// let revocations = Arc::new(RevocationSet::new(Duration::from_secs(7 * 86_400 + 60)));
/// let codec = Codec::builder("sid")
///     .key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?)
///     .revocations(revocations.clone())
///     .build()?;
/// let value = codec.seal_at(&DynamicSession::new(), 1_000, [2; 24])?;
/// let id = codec.open_at::<DynamicSession>(&value, 1_000)?.identity.unwrap().session_id;
///
/// revocations.revoke_session(id, 1_010);
/// assert_eq!(codec.open_at::<DynamicSession>(&value, 1_020).unwrap_err(),
///            Error::Revoked { reason: Revoked::Session });
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct RevocationSet {
    retention: u64,
    entries: RwLock<Entries>,
    /// The revocation time from which the next insert sweeps expired
    /// entries: sweeps (a pass over every entry, under the write lock) come
    /// at most once per `retention / 64`, so an expired entry lingers at
    /// most that long, and a burst of inserts does not sweep again and again.
    next_sweep: AtomicU64,
}

impl RevocationSet {
    /// An empty set whose entries are kept for `retention` after the time
    /// they name: at least the codec's absolute lifetime plus its clock
    /// skew ([`CodecBuilder::revocations`](crate::CodecBuilder::revocations)
    /// checks this).
    ///
    /// ```
    /// let set = sealed_session::RevocationSet::new(std::time::Duration::from_secs(86_400));
    /// assert!(set.is_empty());
    /// ```
    pub fn new(retention: Duration) -> Self {
        RevocationSet {
            retention: retention.as_secs(),
            entries: RwLock::new(Entries::default()),
            next_sweep: AtomicU64::new(0),
        }
    }

    /// How long entries are kept after the time they name.
    ///
    /// ```
    /// use std::time::Duration;
    /// let set = sealed_session::RevocationSet::new(Duration::from_secs(600));
    /// assert_eq!(set.retention(), Duration::from_secs(600));
    /// ```
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention)
    }

    /// Revokes one session from `at` (Unix seconds) on.
    ///
    /// ```
    /// use sealed_session::{RevocationSet, SessionId};
    /// let set = RevocationSet::new(std::time::Duration::from_secs(600));
    /// set.revoke_session(SessionId::from_bytes([9; 16]), 1_000);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn revoke_session(&self, id: SessionId, at: u64) {
        let drop_at = at.saturating_add(self.retention);
        self.write(at, |e| e.add_session(id, drop_at));
    }

    /// Revokes every session of `subject` created before `before` (Unix
    /// seconds): "sign out everywhere". A later call with a later time
    /// replaces an earlier one.
    ///
    /// ```
    /// let set = sealed_session::RevocationSet::new(std::time::Duration::from_secs(600));
    /// set.revoke_subject("user-42", 1_000)?;
    /// assert!(set.revoke_subject("", 1_000).is_err());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn revoke_subject(&self, subject: &str, before: u64) -> Result<()> {
        check_subject(subject)?;
        let drop_at = before.saturating_add(self.retention);
        self.write(before, |e| e.add_subject(subject.into(), before, drop_at));
        Ok(())
    }

    /// Applies one [`Revocation`].
    ///
    /// ```
    /// use sealed_session::{Revocation, RevocationSet, SessionId};
    /// let set = RevocationSet::new(std::time::Duration::from_secs(600));
    /// set.apply(&Revocation::Session { id: SessionId::from_bytes([1; 16]), at: 5 })?;
    /// assert_eq!(set.len(), 1);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn apply(&self, revocation: &Revocation) -> Result<()> {
        match revocation {
            Revocation::Session { id, at } => {
                self.revoke_session(*id, *at);
                Ok(())
            }
            Revocation::Subject { subject, before } => self.revoke_subject(subject, *before),
        }
    }

    /// Replaces the whole content with `revocations` (a full reload from a
    /// store), dropping what has expired at `now`.
    ///
    /// ```
    /// use sealed_session::{Revocation, RevocationSet, SessionId};
    /// let set = RevocationSet::new(std::time::Duration::from_secs(600));
    /// set.revoke_session(SessionId::from_bytes([1; 16]), 5);
    /// set.replace_all([Revocation::Subject { subject: "u".into(), before: 5 }], 10);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn replace_all(&self, revocations: impl IntoIterator<Item = Revocation>, now: u64) {
        let mut fresh = Entries::default();
        for revocation in revocations {
            match revocation {
                Revocation::Session { id, at } => {
                    fresh.add_session(id, at.saturating_add(self.retention));
                }
                Revocation::Subject { subject, before } => {
                    if check_subject(&subject).is_err() {
                        continue;
                    }
                    let drop_at = before.saturating_add(self.retention);
                    fresh.add_subject(subject.into_boxed_str(), before, drop_at);
                }
            }
        }
        fresh.sweep(now);
        *self.write_entries() = fresh;
    }

    /// Drops every entry that can no longer match a valid value at `now`.
    ///
    /// ```
    /// use sealed_session::{RevocationSet, SessionId};
    /// let set = RevocationSet::new(std::time::Duration::from_secs(600));
    /// set.revoke_session(SessionId::from_bytes([1; 16]), 1_000);
    /// set.sweep(1_599);
    /// assert_eq!(set.len(), 1);
    /// set.sweep(1_600);
    /// assert!(set.is_empty());
    /// ```
    pub fn sweep(&self, now: u64) {
        self.write_entries().sweep(now);
    }

    /// The number of entries (sessions and subjects).
    ///
    /// ```
    /// let set = sealed_session::RevocationSet::new(std::time::Duration::from_secs(600));
    /// assert_eq!(set.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.read_entries().len()
    }

    /// True when the set holds no entry.
    ///
    /// ```
    /// assert!(sealed_session::RevocationSet::new(std::time::Duration::ZERO).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `identity` is revoked: its session id, or its subject for a
    /// session created before the subject's revocation time.
    ///
    /// ```
    /// use sealed_session::{RevocationSet, Revoked, SessionId};
    /// let set = RevocationSet::new(std::time::Duration::from_secs(600));
    /// set.revoke_session(SessionId::from_bytes([1; 16]), 5);
    /// # let codec = sealed_session::Codec::builder("s")
    /// #     .key_ring(sealed_session::KeyRing::from_keys([sealed_session::Key::from_bytes([1; 32])])?)
    /// #     .build()?;
    /// # let v = codec.seal_at(&sealed_session::DynamicSession::new(), 1, [0; 24])?;
    /// let identity = codec.open_at::<sealed_session::DynamicSession>(&v, 1)?.identity.unwrap();
    /// assert_eq!(set.check(&identity), None);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn check(&self, identity: &Identity) -> Option<Revoked> {
        let entries = self.read_entries();
        // Both filter blocks are read before either answer is used, so the
        // two reads (cache misses, in a large set) overlap.
        let filter = &entries.filter;
        let session_maybe = !entries.sessions.is_empty()
            && filter.may_contain(Filter::session(&identity.session_id));
        let subject = identity
            .subject
            .as_deref()
            .filter(|s| !entries.subjects.is_empty() && filter.may_contain(filter.subject(s)));
        if session_maybe && entries.sessions.contains_key(&identity.session_id) {
            return Some(Revoked::Session);
        }
        if let Some(&(before, _)) = subject.and_then(|s| entries.subjects.get(s)) {
            if identity.created_at < before {
                return Some(Revoked::Subject);
            }
        }
        None
    }

    /// Applies `f`, then sweeps at the revocation's time `at`, but never
    /// past the clock: a time ahead (an operator's `--before` tomorrow, a
    /// publisher whose clock runs fast) would drop entries whose sessions
    /// are still valid now, and those sessions would open again.
    fn write(&self, at: u64, f: impl FnOnce(&mut Entries)) {
        let now = at.min(now_unix());
        let mut entries = self.write_entries();
        f(&mut entries);
        if now >= self.next_sweep.load(Ordering::Relaxed) {
            entries.sweep(now);
            let interval = (self.retention / 64).max(1);
            self.next_sweep
                .store(now.saturating_add(interval), Ordering::Relaxed);
        }
    }
}

// A poisoned lock means a writer panicked; the entries are still whole
// (every write is an insert, a sweep or a swap, each leaving valid maps), so
// every access goes on: a check that stopped reading, or a reload or sweep
// that was silently skipped, would be worse than a set missing one insert.
impl RevocationSet {
    fn read_entries(&self) -> RwLockReadGuard<'_, Entries> {
        match self.entries.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write_entries(&self) -> RwLockWriteGuard<'_, Entries> {
        match self.entries.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationSet")
            .field("retention", &self.retention)
            .field("entries", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set whose lock was poisoned by a writer that panicked.
    fn poisoned() -> RevocationSet {
        let set = RevocationSet::new(Duration::from_secs(600));
        set.revoke_session(SessionId::from_bytes([1; 16]), 1_000);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = set.entries.write();
            panic!("a writer panics while holding the lock");
        }));
        assert!(panicked.is_err());
        assert!(set.entries.is_poisoned());
        set
    }

    #[test]
    fn every_access_goes_on_after_a_writer_panicked() {
        let set = poisoned();
        assert_eq!(set.len(), 1);

        // A reload replaces the content.
        let subject = Revocation::Subject {
            subject: "u".into(),
            before: 1_000,
        };
        set.replace_all([subject], 1_000);
        assert_eq!(set.len(), 1);
        let id = SessionId::from_bytes([1; 16]);
        let key = crate::Key::from_bytes([2; 32]).id();
        let reloaded = Identity::new(id, 900, key, Some("u".into()));
        assert_eq!(set.check(&reloaded), Some(Revoked::Subject));

        // An insert and a sweep take effect.
        set.revoke_session(id, 1_000);
        assert_eq!(set.check(&reloaded), Some(Revoked::Session));
        set.sweep(1_600);
        assert!(set.is_empty());
        assert_eq!(set.check(&reloaded), None);
    }
}
