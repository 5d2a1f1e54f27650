//! The functional core: sealing and opening with the time and the nonce
//! passed in. Nothing here reads a clock, draws randomness or does I/O.

use std::cell::{Cell, RefCell};

use base64::Engine as _;
use hmac::Mac;
use serde::de::DeserializeOwned;
use serde::Serialize;
use xaes_256_gcm::aead::AeadInOut;
use zeroize::{Zeroize, Zeroizing};

use crate::codec::{Codec, Mode, Opened, Reseal};
use crate::core::authentic::{Authentic, Json};
use crate::core::compression::{self, Compression, MIN_COMPRESS_LEN};
use crate::core::dictionary::{Dictionary, DictionaryId, DICTIONARY_ID_LEN};
use crate::core::format::{
    put_varint, split_sealed, take_varint, B64, FLAG_BODY_JSON, FLAG_BODY_ZSTD,
    FLAG_BODY_ZSTD_DICT, FLAG_COMPRESSION_MASK, FLAG_KNOWN, FLAG_PADDED, HEADER_LEN, NONCE_LEN,
    TAG_LEN, VERSION_SEALED, VERSION_SIGNED,
};
use crate::core::identity::{
    put_identity, take_identity, Identity, Lineage, SessionId, SESSION_ID_LEN,
};
use crate::core::signed;
use crate::error::{Error, Result};
use crate::keys::key::KeyId;
use crate::keys::ring::KeyState;
use crate::revocation::set::Revoked;

thread_local! {
    /// Per-thread buffers for sealing (the JSON, then header || plaintext ||
    /// tag), so a warm encode allocates only its output.
    static SEAL_SCRATCH: Scratch = const { RefCell::new(Buffers(Vec::new(), Vec::new())) };
}

/// Serializes `session` into the thread's JSON scratch buffer and runs `f`
/// with it and a second, empty buffer; both are wiped afterwards.
///
/// Neither buffer frees a block with session data in it: the JSON grows
/// through [`WipingWriter`], and the work buffer is grown (wiping the old
/// block) before `f` runs to a size that sealing never exceeds, so that it
/// does not reallocate while it holds compressed plaintext.
pub(crate) fn with_json<T: Serialize + ?Sized, R>(
    session: &T,
    f: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<R>,
) -> Result<R> {
    with_buffers(&SEAL_SCRATCH, |json, buf| {
        serde_json::to_writer(WipingWriter(&mut *json), session)
            .map_err(|e| Error::serialize(&e))?;
        LAST_JSON_LEN.set(json.len());
        grow_wiping(buf, seal_work_bound(json.len()));
        f(json, buf)
    })
}

thread_local! {
    /// Set while the session handle loads a session that it is about to
    /// change: [`Codec::open_at`] then keeps a wiped copy of the JSON it
    /// opened ([`Opened::json`](crate::Opened)), so that the handle can tell
    /// later whether the session changed without serializing it first.
    static KEEP_JSON: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a load by the session handle) with [`KEEP_JSON`] set.
pub(crate) fn keeping_json<R>(f: impl FnOnce() -> R) -> R {
    /// Clears the flag however `f` ends.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            KEEP_JSON.set(false);
        }
    }
    KEEP_JSON.set(true);
    let _reset = Reset;
    f()
}

thread_local! {
    /// The length of the last JSON [`with_json`] wrote on this thread: what
    /// [`json_copy`] reserves, since the sessions of one application are of
    /// similar size.
    static LAST_JSON_LEN: Cell<usize> = const { Cell::new(0) };
}

/// `session` as JSON in a buffer of its own that is wiped when dropped, and
/// that grows with [`grow_wiping`], so that no block it leaves behind holds
/// part of the session either. It starts with room for an eighth more than
/// the last session serialized on this thread, which is usually enough.
pub(crate) fn json_copy<T: Serialize + ?Sized>(session: &T) -> Result<Zeroizing<Vec<u8>>> {
    let hint = LAST_JSON_LEN.get();
    let mut json = Zeroizing::new(Vec::with_capacity(hint.saturating_add(hint / 8).max(64)));
    serde_json::to_writer(WipingWriter(&mut json), session).map_err(|e| Error::serialize(&e))?;
    LAST_JSON_LEN.set(json.len());
    Ok(json)
}

/// The most a sealed value's work buffer holds for `json_len` bytes of
/// JSON: header, flags and varints, a dictionary attempt and a plain zstd
/// attempt side by side (each at most zstd's bound, after a dictionary id
/// and a length varint), the largest padding bucket, and the tag.
fn seal_work_bound(json_len: usize) -> usize {
    let frame = zstd::zstd_safe::compress_bound(json_len).max(json_len);
    HEADER_LEN + 64 + DICTIONARY_ID_LEN + 2 * frame + 4096 + TAG_LEN
}

/// Makes room for `additional` more bytes in `buf`. When that needs a new
/// block, the contents move to a fresh allocation and the old block is
/// wiped (all of its capacity) before it is freed; `Vec`'s own growth would
/// free it as it is. Once a per-thread buffer is warm this is one
/// comparison.
#[inline]
pub(crate) fn grow_wiping(buf: &mut Vec<u8>, additional: usize) {
    if additional > buf.capacity() - buf.len() {
        regrow_wiping(buf, additional);
    }
}

/// The slow path of [`grow_wiping`]: at least doubles the capacity.
#[cold]
#[inline(never)]
fn regrow_wiping(buf: &mut Vec<u8>, additional: usize) {
    let needed = buf.len().saturating_add(additional);
    let mut grown = Vec::with_capacity(needed.max(buf.capacity().saturating_mul(2)).max(64));
    grown.extend_from_slice(buf);
    buf.zeroize();
    *buf = grown;
}

/// `io::Write` into a buffer that grows with [`grow_wiping`], for
/// serde_json. serde_json writes a token at a time (a quote, a colon, a
/// key), so the write is inlined into the serializer: with room to spare it
/// is a comparison and a copy of a length known at compile time, as fast as
/// serde_json's own writer into a `Vec`.
pub(crate) struct WipingWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl std::io::Write for WipingWriter<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        grow_wiping(self.0, data.len());
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What sealing produced: the value, the lifetime written into it (the
/// configured `max_age`, shortened to what remains of the session's absolute
/// lifetime), and the identity written into it (`None` in the signed-only
/// mode and without `write_identity`), so that a caller that needs the
/// minted session id does not have to open the value again.
pub(crate) struct Sealed {
    pub(crate) value: String,
    pub(crate) max_age: u64,
    pub(crate) identity: Option<Identity>,
}

impl Codec {
    /// Seals `session` at time `now` (Unix seconds) with the given nonce: the
    /// pure core of [`Codec::seal`]. The nonce must be unique per value; pass
    /// fixed ones only in tests and vectors.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, Key, KeyRing};
    /// let codec = Codec::builder("sid")
    ///     .key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?)
    ///     .build()?;
    /// let a = codec.seal_at(&DynamicSession::new(), 1_700_000_000, [0; 24])?;
    /// let b = codec.seal_at(&DynamicSession::new(), 1_700_000_000, [0; 24])?;
    /// assert_eq!(a, b, "deterministic given time and nonce");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn seal_at<T: Serialize + ?Sized>(
        &self,
        session: &T,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String> {
        self.seal_with_at(session, &Lineage::new(), now, nonce)
    }

    /// [`Codec::seal_at`] with the session's identity taken from `lineage`:
    /// [`Lineage::New`] mints one (at sign-in, with the user as subject),
    /// [`Lineage::Continue`] carries the identity of the opened session
    /// (every other re-seal: see [`Opened::lineage`]).
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, Key, KeyRing, Lineage};
    /// let codec = Codec::builder("sid")
    ///     .key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?)
    ///     .build()?;
    /// let value = codec.seal_with_at(&DynamicSession::new(), &Lineage::new_for("u-7"), 1_000, [0; 24])?;
    /// let identity = codec.open_at::<DynamicSession>(&value, 1_000)?.identity.unwrap();
    /// assert_eq!(identity.subject.as_deref(), Some("u-7"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn seal_with_at<T: Serialize + ?Sized>(
        &self,
        session: &T,
        lineage: &Lineage,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String> {
        let value = with_json(session, |json, buf| {
            self.seal_json_into(json, lineage, now, nonce, buf)
        })?
        .value;
        let size = self.name.len() + value.len();
        let limit = self.cookie.max_cookie_size;
        if size > limit {
            return Err(Error::TooLarge {
                what: "cookie name and sealed value",
                size,
                limit,
            });
        }
        Ok(value)
    }

    /// Seals already-serialized JSON without the cookie size check (the
    /// cookie layer checks, or chunks, the result), using `buf` as the work
    /// buffer.
    pub(crate) fn seal_json_into(
        &self,
        json: &[u8],
        lineage: &Lineage,
        now: u64,
        nonce: [u8; NONCE_LEN],
        buf: &mut Vec<u8>,
    ) -> Result<Sealed> {
        // What this codec cannot open, it does not seal: a long,
        // compressible session (a return URL, a search term) would otherwise
        // become a short cookie that every later request refuses.
        if json.len() > self.max_decompressed {
            return Err(Error::TooLarge {
                what: "session JSON",
                size: json.len(),
                limit: self.max_decompressed,
            });
        }
        match self.mode {
            Mode::Sealed if self.write_identity => {
                let identity = self.identity_for(lineage, now, &nonce)?;
                let max_age = self.lifetime_left(&identity, now)?;
                let value = self.seal_sealed(json, Some(&identity), max_age, now, nonce, buf)?;
                Ok(Sealed {
                    value,
                    max_age,
                    identity: Some(identity),
                })
            }
            Mode::Sealed => Ok(Sealed {
                value: self.seal_sealed(json, None, self.max_age, now, nonce, buf)?,
                max_age: self.max_age,
                identity: None,
            }),
            Mode::SignedOnly => Ok(Sealed {
                value: signed::sign(self, json, now)?,
                max_age: self.max_age,
                identity: None,
            }),
        }
    }

    /// The identity to seal: minted for a new session (the session id is a
    /// keyed function of the nonce, so sealing stays a pure function of its
    /// inputs and the id stays unknown without the key), or carried.
    fn identity_for(
        &self,
        lineage: &Lineage,
        now: u64,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Identity> {
        match lineage {
            Lineage::New { subject, origin } => {
                let mut mac = (*self.primary_per_key()?.mac).clone();
                // 0x00 after the name: no signed-only MAC input (0x02 there)
                // can collide with this one.
                mac.update(b"\x00session id\x00");
                mac.update(nonce);
                let digest = mac.finalize().into_bytes();
                let mut id = [0u8; SESSION_ID_LEN];
                id.copy_from_slice(digest.get(..SESSION_ID_LEN).unwrap_or(&[0; SESSION_ID_LEN]));
                Ok(Identity {
                    session_id: SessionId(id),
                    created_at: now,
                    origin_key: origin.unwrap_or_else(|| self.ring.primary_id()),
                    subject: subject.clone(),
                    bound: false,
                })
            }
            Lineage::Continue(identity) => {
                let mut identity = identity.clone();
                // A server whose clock is behind the creating server's may
                // re-seal a session "created in the future": clamp.
                identity.created_at = identity.created_at.min(now);
                Ok(identity)
            }
        }
    }

    /// The lifetime to seal with: `max_age`, but never past the end of the
    /// session's absolute lifetime.
    fn lifetime_left(&self, identity: &Identity, now: u64) -> Result<u64> {
        let end = identity.created_at.saturating_add(self.max_lifetime);
        match end.checked_sub(now) {
            Some(left) if left > 0 => Ok(left.min(self.max_age)),
            _ => Err(Error::LifetimeEnded {
                created_at: identity.created_at,
                now,
            }),
        }
    }

    fn seal_sealed(
        &self,
        json: &[u8],
        identity: Option<&Identity>,
        max_age: u64,
        now: u64,
        nonce: [u8; NONCE_LEN],
        buf: &mut Vec<u8>,
    ) -> Result<String> {
        let entry = self.ring.primary_entry();
        let per_key = self.primary_per_key()?;
        buf.clear();
        buf.reserve(HEADER_LEN + 21 + json.len() + TAG_LEN + 64);
        buf.push(VERSION_SEALED);
        buf.extend_from_slice(entry.id.as_bytes());
        buf.extend_from_slice(&nonce);
        let flags_at = buf.len();
        buf.push(FLAG_BODY_JSON);
        put_varint(buf, now);
        put_varint(buf, max_age);
        let identity_flags = match identity {
            Some(identity) => {
                let sealer = self.compact_identity.then_some(entry.id);
                put_identity(buf, identity, now, sealer)?
            }
            None => 0,
        };
        let mut flags = match self.compression {
            Compression::Zstd { level } if json.len() >= MIN_COMPRESS_LEN => {
                self.compress_body(json, level, buf)?
            }
            _ => FLAG_BODY_JSON,
        };
        if flags == FLAG_BODY_JSON {
            buf.extend_from_slice(json);
        }
        if let Some(bucket) = self.pad_to {
            flags |= FLAG_PADDED;
            buf.push(0x80);
            let plaintext_len = buf.len() - HEADER_LEN;
            let padded = plaintext_len.div_ceil(bucket) * bucket;
            buf.resize(HEADER_LEN + padded, 0);
        }
        if let Some(f) = buf.get_mut(flags_at) {
            *f = flags | identity_flags;
        }
        let (header, plaintext) = buf.split_at_mut(HEADER_LEN);
        let nonce_ref = header
            .get(1 + 4..)
            .and_then(|n| <&[u8; NONCE_LEN]>::try_from(n).ok())
            .ok_or_else(|| Error::config("internal: bad header layout"))?;
        let tag = entry
            .cipher
            .encrypt_inout_detached(&(*nonce_ref).into(), &per_key.aad, plaintext.into())
            .map_err(|_| Error::config("session too large for AES-GCM"))?;
        buf.extend_from_slice(&tag);
        Ok(B64.encode(&*buf))
    }

    /// Appends the smallest compressed body to `buf` and returns its flag, or
    /// appends nothing and returns `FLAG_BODY_JSON` when compression does not
    /// make the value shorter. With a dictionary, plain zstd is tried too and
    /// the smaller wins: a dictionary trained on other data (or data that
    /// compresses well on its own) never costs size.
    fn compress_body(&self, json: &[u8], level: i32, buf: &mut Vec<u8>) -> Result<u8> {
        let mark = buf.len();
        let mut best = (FLAG_BODY_JSON, json.len());
        if let Some(dict) = self.sealing_dictionary() {
            buf.extend_from_slice(&dict.id().0);
            if compression::compress_into(json, level, Some(dict), buf)?
                && buf.len() - mark < json.len()
            {
                best = (FLAG_BODY_ZSTD_DICT, buf.len() - mark);
            } else {
                buf.truncate(mark);
            }
        }
        // Plain zstd goes after the dictionary attempt (if any) in the same
        // buffer, then moves into place if it is smaller: no extra allocation.
        let plain_at = buf.len();
        if compression::compress_into(json, level, None, buf)? && buf.len() - plain_at < best.1 {
            let plain_len = buf.len() - plain_at;
            buf.copy_within(plain_at.., mark);
            buf.truncate(mark + plain_len);
            return Ok(FLAG_BODY_ZSTD);
        }
        buf.truncate(plain_at);
        Ok(best.0)
    }

    fn sealing_dictionary(&self) -> Option<&Dictionary> {
        self.dictionaries
            .first()
            .filter(|_| self.compresses_with_dictionary)
            .map(|d| &**d)
    }

    pub(crate) fn primary_per_key(&self) -> Result<&crate::codec::PerKey> {
        self.per_key
            .get(self.ring.primary_index())
            .ok_or_else(|| Error::config("internal: key ring and codec disagree"))
    }

    /// Opens a cookie value at time `now` (Unix seconds): the pure core of
    /// [`Codec::open`].
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession, Error, Key, KeyRing};
    /// let codec = Codec::builder("sid")
    ///     .key_ring(KeyRing::from_keys([Key::from_bytes([1; 32])])?)
    ///     .build()?;
    /// let value = codec.seal_at(&DynamicSession::new(), 1_000, [0; 24])?;
    /// assert!(codec.open_at::<DynamicSession>(&value, 1_000).is_ok());
    /// assert!(matches!(
    ///     codec.open_at::<DynamicSession>(&value, 1_000 + 86_400 + 60),
    ///     Err(Error::Expired { .. })
    /// ));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn open_at<T: DeserializeOwned>(&self, value: &str, now: u64) -> Result<Opened<T>> {
        let limit = self.cookie.max_value_len();
        if value.len() > limit {
            return Err(Error::TooLarge {
                what: "cookie value",
                size: value.len(),
                limit,
            });
        }
        with_buffers(&OPEN_SCRATCH, |raw, plain| {
            B64.decode_vec(value, raw)
                .map_err(|_| Error::malformed("not unpadded base64url"))?;
            let opened = match (self.mode, raw.first().copied()) {
                (Mode::Sealed, Some(VERSION_SEALED)) => self.open_sealed(raw, now, plain)?,
                (Mode::SignedOnly, Some(VERSION_SIGNED)) => signed::verify(self, raw, now)?,
                _ => return Err(Error::malformed("unknown format version")),
            };
            let json = match opened.json {
                Json::Range(start, end) => raw.get(start..end).unwrap_or(&[]),
                Json::Decompressed => plain.as_slice(),
            };
            let session = serde_json::from_slice(json).map_err(|e| Error::deserialize(&e))?;
            let kept = KEEP_JSON.get().then(|| {
                // Exactly its length: it never grows, so no unwiped block.
                let mut copy = Zeroizing::new(Vec::with_capacity(json.len()));
                copy.extend_from_slice(json);
                copy
            });
            Ok(Opened {
                json: kept,
                session,
                key_id: opened.key_id,
                issued_at: opened.issued_at,
                expires_at: opened.expires_at,
                reseal: opened.reseal,
                identity: opened.identity,
            })
        })
    }

    /// The checks an identity makes possible, after authentication and the
    /// expiry check: the absolute lifetime, the origin key's state, and the
    /// revocation set.
    fn check_identity(&self, identity: &Identity, now: u64) -> Result<()> {
        let end = identity.created_at.saturating_add(self.max_lifetime);
        if now >= end.saturating_add(self.clock_skew) {
            return Err(Error::LifetimeEnded {
                created_at: identity.created_at,
                now,
            });
        }
        if self.ring.state_of(identity.origin_key) == Some(KeyState::Revoked) {
            return Err(Error::Revoked {
                reason: Revoked::OriginKey,
            });
        }
        if let Some(revocations) = &self.revocations {
            if let Some(reason) = revocations.check(identity) {
                return Err(Error::Revoked { reason });
            }
        }
        Ok(())
    }

    fn open_sealed(&self, raw: &mut [u8], now: u64, plain: &mut Vec<u8>) -> Result<Authentic> {
        let (header, _, tag) = split_sealed(raw)?;
        let key_id = KeyId(header.key_id);
        let nonce = (*header.nonce).into();
        let tag = (*tag).into();
        let (index, entry) = self.ring.opener(key_id, now)?;
        let aad = self
            .per_key
            .get(index)
            .map(|k| k.aad.as_slice())
            .ok_or(Error::UnknownKey { key_id })?;
        let end = raw.len() - TAG_LEN;
        let plaintext = raw
            .get_mut(HEADER_LEN..end)
            .ok_or_else(|| Error::malformed("too short to be a sealed value"))?;
        entry
            .cipher
            .decrypt_inout_detached(&nonce, aad, plaintext.into(), &tag)
            .map_err(|_| Error::Unauthenticated)?;
        // Authenticated from here on: only a key holder wrote these bytes.
        let (&flags, rest) = plaintext
            .split_first()
            .ok_or_else(|| Error::malformed("empty plaintext"))?;
        if flags & !FLAG_KNOWN != 0 {
            return Err(Error::malformed("unknown flags: sealed by a newer version"));
        }
        let (issued_at, rest) = take_varint(rest)?;
        let (max_age, rest) = take_varint(rest)?;
        let expires_at = self.check_time(issued_at, max_age, now)?;
        let (identity, rest) = take_identity(rest, issued_at, flags, key_id)?;
        // Before padding and decompression (FORMAT.md, "Checks, in order"):
        // a revoked or ended session costs no decompression.
        if let Some(identity) = &identity {
            self.check_identity(identity, now)?;
        }
        let mut body = rest;
        if flags & FLAG_PADDED != 0 {
            let marker = body
                .iter()
                .rposition(|&b| b != 0)
                .ok_or_else(|| Error::malformed("padding without marker"))?;
            if body.get(marker) != Some(&0x80) {
                return Err(Error::malformed("bad padding marker"));
            }
            body = body.get(..marker).unwrap_or(&[]);
        }
        let body_start = end - rest.len();
        let mut old_dictionary = false;
        let json = match flags & FLAG_COMPRESSION_MASK {
            FLAG_BODY_JSON => Json::Range(body_start, body_start + body.len()),
            FLAG_BODY_ZSTD => {
                compression::decompress_into(body, self.max_decompressed, None, plain)?;
                Json::Decompressed
            }
            FLAG_BODY_ZSTD_DICT => {
                let (id, frame) = body
                    .split_first_chunk::<DICTIONARY_ID_LEN>()
                    .ok_or_else(|| Error::malformed("truncated dictionary id"))?;
                let dictionary_id = DictionaryId(*id);
                let dict = self
                    .dictionaries
                    .iter()
                    .find(|d| d.id() == dictionary_id)
                    .ok_or(Error::UnknownDictionary { dictionary_id })?;
                compression::decompress_into(frame, self.max_decompressed, Some(dict), plain)?;
                old_dictionary = self
                    .sealing_dictionary()
                    .is_none_or(|current| current.id() != dictionary_id);
                Json::Decompressed
            }
            _ => {
                return Err(Error::malformed(
                    "unknown compression: sealed by a newer version",
                ))
            }
        };
        let reseal = match self.reseal_reason(key_id, issued_at, max_age, now) {
            Some(Reseal::NotPrimaryKey) => Some(Reseal::NotPrimaryKey),
            _ if old_dictionary => Some(Reseal::OldDictionary),
            None if identity.is_none() && self.write_identity => Some(Reseal::AddIdentity),
            other => other,
        };
        Ok(Authentic {
            identity,
            json,
            key_id,
            issued_at,
            expires_at,
            reseal,
        })
    }

    /// Checks issued-at and expiry (only ever after authentication) and
    /// returns expires-at.
    pub(crate) fn check_time(&self, issued_at: u64, max_age: u64, now: u64) -> Result<u64> {
        let expires_at = issued_at
            .checked_add(max_age)
            .ok_or_else(|| Error::malformed("expiry overflows"))?;
        if issued_at > now.saturating_add(self.clock_skew) {
            return Err(Error::NotYetValid { issued_at, now });
        }
        if now >= expires_at.saturating_add(self.clock_skew) {
            return Err(Error::Expired {
                expired_at: expires_at,
                now,
            });
        }
        Ok(expires_at)
    }

    pub(crate) fn reseal_reason(
        &self,
        key_id: KeyId,
        issued_at: u64,
        max_age: u64,
        now: u64,
    ) -> Option<Reseal> {
        if key_id != self.ring.primary_id() {
            return Some(Reseal::NotPrimaryKey);
        }
        let refresh_at = issued_at.saturating_add((max_age as f64 * self.refresh_after) as u64);
        if self.refresh_after < 1.0 && now >= refresh_at {
            return Some(Reseal::Refresh);
        }
        None
    }
}

thread_local! {
    /// Per-thread buffers for opening (decoded value, decompressed body), so
    /// the per-request path allocates nothing once warm.
    static OPEN_SCRATCH: Scratch = const { RefCell::new(Buffers(Vec::new(), Vec::new())) };
}

/// Buffers above this capacity are released after use rather than kept for
/// the thread's lifetime.
const SCRATCH_KEEP: usize = 64 * 1024;

/// A thread's two scratch buffers. Freed only when the thread exits, and
/// wiped then over their whole capacity.
struct Buffers(Vec<u8>, Vec<u8>);

impl Drop for Buffers {
    fn drop(&mut self) {
        self.0.zeroize();
        self.1.zeroize();
    }
}

type Scratch = RefCell<Buffers>;

/// Runs `f` with the two empty buffers of `key` (fresh ones if they are in
/// use, e.g. by a re-entrant call), then wipes what was written: no session
/// plaintext outlives the call. Per call only the written length is wiped;
/// a buffer that is released (above `SCRATCH_KEEP`, or a fresh one) is
/// wiped over its whole capacity first.
fn with_buffers<R>(
    key: &'static std::thread::LocalKey<Scratch>,
    f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> R,
) -> R {
    fn wipe(buf: &mut Vec<u8>) {
        if buf.capacity() > SCRATCH_KEEP {
            buf.zeroize();
            *buf = Vec::new();
        } else {
            buf.as_mut_slice().zeroize();
            buf.clear();
        }
    }
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => {
            let Buffers(raw, plain) = &mut *guard;
            raw.clear();
            plain.clear();
            let result = f(raw, plain);
            wipe(raw);
            wipe(plain);
            result
        }
        Err(_) => {
            let mut fresh = Buffers(Vec::new(), Vec::new());
            let Buffers(raw, plain) = &mut fresh;
            f(raw, plain)
        }
    })
}
