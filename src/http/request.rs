//! Request side: find the session's cookie (and its chunks) in the raw bytes
//! of the `Cookie` request header, or of its several fields under HTTP/2,
//! and open it.
//!
//! There is one parser, over bytes: a single linear pass per field (split on
//! `;`, trim, split at the first `=`) that keeps only slices of the header,
//! so a hostile header costs time linear in its length and no allocation per
//! cookie. Unrelated cookies, malformed or not ASCII, are skipped; the text
//! API ([`Codec::decode`]) is this parser over the text's bytes.

use serde::de::DeserializeOwned;

use crate::codec::{now_unix, Codec, Opened};
use crate::error::{Error, Result};
use crate::http::cookie_options::MAX_CHUNKS;

/// How many candidates with the session's name are kept, and how many
/// assembled values are opened at most, per request: bounds the
/// cryptographic work a header full of same-name cookies can cause.
pub const MAX_CANDIDATES: usize = 8;

/// Chunk cookies besides the head: NAME.1 to NAME.15.
const CHUNK_SLOTS: usize = MAX_CHUNKS - 1;

/// The cookies of a header that belong to this codec, as slices of it, in
/// fixed arrays (no allocation per request).
struct Found<'h> {
    /// Values of cookies named exactly NAME, in header order: the first
    /// `head_count` entries.
    heads: [&'h str; MAX_CANDIDATES],
    head_count: usize,
    /// `chunks[i - 1]`: values of cookies named NAME.i, in header order, the
    /// first `chunk_counts[i - 1]` entries.
    chunks: [[&'h str; MAX_CANDIDATES]; CHUNK_SLOTS],
    chunk_counts: [usize; CHUNK_SLOTS],
    /// Values of cookies named NAME-bound (device-bound sessions), the
    /// first `bound_count` entries.
    bound: [&'h str; MAX_CANDIDATES],
    bound_count: usize,
}

/// The suffix of a device-bound session's bound cookie name.
pub(crate) const BOUND_SUFFIX: &str = "-bound";

impl<'h> Found<'h> {
    fn heads(&self) -> &[&'h str] {
        self.heads.get(..self.head_count).unwrap_or(&[])
    }

    fn bound(&self) -> &[&'h str] {
        self.bound.get(..self.bound_count).unwrap_or(&[])
    }

    /// The occurrences of chunk cookie NAME.(index + 1), in header order.
    fn occurrences(&self, index: usize) -> &[&'h str] {
        match (self.chunks.get(index), self.chunk_counts.get(index)) {
            (Some(values), Some(&count)) => values.get(..count).unwrap_or(&[]),
            _ => &[],
        }
    }
}

impl Codec {
    /// Opens the session from a raw `Cookie` request header at the current
    /// time. Several `Cookie` header fields (HTTP/2) go to
    /// [`Codec::decode_fields`], and a header that may not be valid text
    /// (any byte above 0x7F) to [`Codec::decode_bytes`]: converting a whole
    /// header to `&str` first would lose every cookie for one foreign
    /// non-ASCII one.
    ///
    /// **Duplicate names.** A parent-domain cookie can arrive together with a
    /// same-name cookie planted by a sibling subdomain or left host-only
    /// (cookie tossing). Every candidate is tried, up to [`MAX_CANDIDATES`]
    /// opened values; among those that open, the winner is the one with the
    /// **latest issued-at**, ties going to the one first in the header.
    /// When none opens, the error is the most informative one met: an
    /// authenticated-but-unusable value (expired, wrong type) before an
    /// unknown or withdrawn key, before a forgery, before a size or format
    /// error. No cookie of that name at all is [`Error::NoCookie`].
    ///
    /// **Duplicate chunks.** With chunking, several occurrences of a chunk
    /// cookie `NAME.i` are combined in this order: the k-th occurrence of
    /// every chunk (or its last one), for k = 0, 1, ... (all first to all
    /// last), then the remaining combinations, all within the same
    /// [`MAX_CANDIDATES`] opened values. A few planted junk chunks before or
    /// after the genuine ones therefore do not hide the session.
    ///
    /// Only ASCII values can be this codec's: a cookie of the session's name
    /// whose value is not ASCII is skipped like any unrelated cookie.
    ///
    /// Note that cookie tossing can still plant an attacker's own valid,
    /// newer session: keep parent-domain sessions for subdomains you trust,
    /// and prefer a `__Host-` cookie when no subdomain needs the session.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Error};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// let set_cookie = codec.encode(&DynamicSession::new())?.into_iter().next().unwrap();
    /// let pair = set_cookie.split(';').next().unwrap();
    /// let header = format!("theme=dark; {pair}; broken-cookie");
    /// assert!(codec.decode::<DynamicSession>(&header).is_ok());
    /// assert_eq!(codec.decode::<DynamicSession>("theme=dark").unwrap_err(), Error::NoCookie);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn decode<T: DeserializeOwned>(&self, cookie_header: &str) -> Result<Opened<T>> {
        self.decode_fields_at(std::iter::once(cookie_header), now_unix())
    }

    /// [`Codec::decode`] at time `now` (Unix seconds): the pure core.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Error};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let cookies = codec.encode_at(&DynamicSession::new(), 1_000, [3; 24])?;
    /// let header = cookies.iter().next().unwrap().split(';').next().unwrap().to_owned();
    /// assert_eq!(codec.decode_at::<DynamicSession>(&header, 1_000)?.issued_at, 1_000);
    /// assert!(matches!(
    ///     codec.decode_at::<DynamicSession>(&header, 1_000 + 2 * 86_400),
    ///     Err(Error::Expired { .. })
    /// ));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn decode_at<T: DeserializeOwned>(
        &self,
        cookie_header: &str,
        now: u64,
    ) -> Result<Opened<T>> {
        self.decode_fields_at(std::iter::once(cookie_header), now)
    }

    /// Opens the session from the raw bytes of a `Cookie` request header at
    /// the current time, as a server receives them (for example
    /// `HeaderValue::as_bytes()` of the `http` crate). The same rules as
    /// [`Codec::decode`]; a cookie that is not ASCII (a neighbour's
    /// `pref=café`, in UTF-8 or Latin-1) is skipped and every other cookie
    /// is kept, where converting the header to `&str` first would drop them
    /// all.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// let set_cookie = codec.encode(&DynamicSession::new())?.into_iter().next().unwrap();
    /// let pair = set_cookie.split(';').next().unwrap();
    /// // A Latin-1 "é" from another cookie: not UTF-8, the session still opens.
    /// let mut header = b"pref=caf\xE9; ".to_vec();
    /// header.extend_from_slice(pair.as_bytes());
    /// assert!(std::str::from_utf8(&header).is_err());
    /// assert!(codec.decode_bytes::<DynamicSession>(&header).is_ok());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn decode_bytes<T: DeserializeOwned>(&self, cookie_header: &[u8]) -> Result<Opened<T>> {
        self.decode_fields_at(std::iter::once(cookie_header), now_unix())
    }

    /// [`Codec::decode_bytes`] at time `now` (Unix seconds).
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let cookies = codec.encode_at(&DynamicSession::new(), 1_000, [3; 24])?;
    /// let pair = cookies.iter().next().unwrap().split(';').next().unwrap();
    /// let header = [b"pref=caf\xC3\xA9; ".as_slice(), pair.as_bytes()].concat();
    /// assert_eq!(codec.decode_bytes_at::<DynamicSession>(&header, 1_000)?.issued_at, 1_000);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn decode_bytes_at<T: DeserializeOwned>(
        &self,
        cookie_header: &[u8],
        now: u64,
    ) -> Result<Opened<T>> {
        self.decode_fields_at(std::iter::once(cookie_header), now)
    }

    /// Opens the session from several `Cookie` header fields at the current
    /// time: HTTP/2 and HTTP/3 clients may send one `cookie` field per
    /// cookie, so the session's cookie and its chunks can be in different
    /// fields. Pass every field's value, as bytes or text (anything that is
    /// `AsRef<[u8]>`, such as the `http` crate's `headers.get_all(COOKIE)`),
    /// in the order received; nothing is joined or copied. The same rules as
    /// [`Codec::decode_bytes`], as if the fields were one header joined with
    /// `"; "`.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// let set_cookie = codec.encode(&DynamicSession::new())?.into_iter().next().unwrap();
    /// let pair = set_cookie.split(';').next().unwrap();
    /// let fields: [&[u8]; 3] = [b"theme=dark", b"pref=caf\xE9", pair.as_bytes()];
    /// assert!(codec.decode_fields::<DynamicSession>(fields).is_ok());
    /// // Text works too.
    /// assert!(codec.decode_fields::<DynamicSession>(["theme=dark", pair]).is_ok());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn decode_fields<'h, T: DeserializeOwned>(
        &self,
        cookie_fields: impl IntoIterator<Item = &'h (impl AsRef<[u8]> + ?Sized + 'h)>,
    ) -> Result<Opened<T>> {
        self.decode_fields_at(cookie_fields, now_unix())
    }

    /// [`Codec::decode_fields`] at time `now` (Unix seconds): the pure core
    /// that every `decode` method calls.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Error};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let cookies = codec.encode_at(&DynamicSession::new(), 1_000, [3; 24])?;
    /// let pair = cookies.iter().next().unwrap().split(';').next().unwrap();
    /// let fields = [b"a=1".as_slice(), pair.as_bytes()];
    /// assert_eq!(codec.decode_fields_at::<DynamicSession>(fields, 1_000)?.issued_at, 1_000);
    /// let none: [&[u8]; 0] = [];
    /// assert_eq!(codec.decode_fields_at::<DynamicSession>(none, 1_000).unwrap_err(), Error::NoCookie);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn decode_fields_at<'h, T: DeserializeOwned>(
        &self,
        cookie_fields: impl IntoIterator<Item = &'h (impl AsRef<[u8]> + ?Sized + 'h)>,
        now: u64,
    ) -> Result<Opened<T>> {
        let found = self.find_cookies(cookie_fields);
        self.open_found(&found, now, true)
    }

    /// Opens the session without requiring the bound cookie of a
    /// device-bound session: for the registration endpoint, which must see
    /// whether the session is bound already.
    #[cfg_attr(not(feature = "dbsc"), allow(dead_code))]
    pub(crate) fn decode_unbound_at<T: DeserializeOwned>(
        &self,
        cookie_header: &[u8],
        now: u64,
    ) -> Result<Opened<T>> {
        let found = self.find_cookies(std::iter::once(cookie_header));
        self.open_found(&found, now, false)
    }

    /// Opens one candidate value; a device-bound session also needs one of
    /// the request's bound cookies to open and name the same session, and
    /// with binding required an unbound one must be within its grace.
    fn open_request<T: DeserializeOwned>(
        &self,
        value: &str,
        now: u64,
        found: &Found<'_>,
        check_binding: bool,
    ) -> Result<Opened<T>> {
        #[cfg_attr(not(feature = "dbsc"), allow(unused_mut))]
        let mut opened = self.open_at(value, now)?;
        if !check_binding {
            return Ok(opened);
        }
        let Some(identity) = opened.identity.as_mut() else {
            // Without an identity a session cannot be bound: refused when
            // binding is required.
            #[cfg(feature = "dbsc")]
            self.check_unbound(None, now)?;
            return Ok(opened);
        };
        #[cfg(feature = "dbsc")]
        if identity.bound {
            self.check_bound(identity, found.bound(), now)?;
        } else if found.bound_count > 0 && self.check_bound(identity, found.bound(), now).is_ok() {
            // A valid bound cookie for a session sealed without the mark:
            // a request that re-sealed the session while its registration
            // was under way. Treat it as bound and seal the mark back in.
            identity.bound = true;
            opened.reseal.get_or_insert(crate::codec::Reseal::Bound);
        } else {
            // Not bound: with binding required, only within the grace (a
            // copy taken before the first refresh is refused after it).
            self.check_unbound(Some(identity), now)?;
        }
        #[cfg(not(feature = "dbsc"))]
        if identity.bound {
            let _ = found.bound();
            return Err(Error::Unbound);
        }
        Ok(opened)
    }

    /// "An invalid cookie means no session", in one call: the session if the
    /// header carries one that opens now, otherwise `None`, with the reason
    /// logged at debug level (never the cookie's content). For raw header
    /// bytes and several header fields see [`Codec::session_bytes`] and
    /// [`Codec::session_fields`].
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// assert!(codec.session::<DynamicSession>("session=forged").is_none());
    /// assert!(codec.session::<DynamicSession>("").is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn session<T: DeserializeOwned>(&self, cookie_header: &str) -> Option<Opened<T>> {
        self.or_none(self.decode(cookie_header))
    }

    /// [`Codec::session`] from the raw bytes of a `Cookie` header (see
    /// [`Codec::decode_bytes`]): a non-ASCII neighbour cookie does not hide
    /// the session.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// let set_cookie = codec.encode(&DynamicSession::new())?.into_iter().next().unwrap();
    /// let pair = set_cookie.split(';').next().unwrap();
    /// let header = [b"pref=caf\xE9; ".as_slice(), pair.as_bytes()].concat();
    /// assert!(codec.session_bytes::<DynamicSession>(&header).is_some());
    /// assert!(codec.session_bytes::<DynamicSession>(b"session=forged").is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn session_bytes<T: DeserializeOwned>(&self, cookie_header: &[u8]) -> Option<Opened<T>> {
        self.or_none(self.decode_bytes(cookie_header))
    }

    /// [`Codec::session`] from several `Cookie` header fields (see
    /// [`Codec::decode_fields`]), for example
    /// `codec.session_fields(request.headers().get_all(COOKIE))` with the
    /// `http` crate.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// let set_cookie = codec.encode(&DynamicSession::new())?.into_iter().next().unwrap();
    /// let pair = set_cookie.split(';').next().unwrap();
    /// let fields: [&[u8]; 2] = [b"pref=caf\xC3\xA9", pair.as_bytes()];
    /// assert!(codec.session_fields::<DynamicSession>(fields).is_some());
    /// assert!(codec.session_fields::<DynamicSession>(["theme=dark"]).is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn session_fields<'h, T: DeserializeOwned>(
        &self,
        cookie_fields: impl IntoIterator<Item = &'h (impl AsRef<[u8]> + ?Sized + 'h)>,
    ) -> Option<Opened<T>> {
        self.or_none(self.decode_fields(cookie_fields))
    }

    /// The session, or `None` with the reason logged at debug level.
    fn or_none<T>(&self, decoded: Result<Opened<T>>) -> Option<Opened<T>> {
        match decoded {
            Ok(opened) => Some(opened),
            Err(Error::NoCookie) => None,
            Err(err) => {
                log::debug!("session cookie {:?} ignored: {err}", self.name);
                None
            }
        }
    }

    /// Opens the candidates found: each head alone, or assembled with its
    /// chunks, at most [`MAX_CANDIDATES`] opened values in all.
    fn open_found<T: DeserializeOwned>(
        &self,
        found: &Found<'_>,
        now: u64,
        check_binding: bool,
    ) -> Result<Opened<T>> {
        if found.head_count == 0 {
            return Err(Error::NoCookie);
        }
        let mut best: Option<Opened<T>> = None;
        let mut error: Option<Error> = None;
        let mut tries = 0;
        let mut assembled = String::new();
        'heads: for head in found.heads() {
            // Only a chunking codec looks for the count: without chunking a
            // value is opened as it is (and a '.' fails base64 decoding).
            let chunked = if self.cookie.max_chunks > 1 {
                head.split_once('.')
            } else {
                None
            };
            let Some((count, first)) = chunked else {
                if tries >= MAX_CANDIDATES {
                    break;
                }
                tries += 1;
                consider(
                    self.open_request(head, now, found, check_binding),
                    &mut best,
                    &mut error,
                );
                continue;
            };
            // 2 to max_chunks, so 1 to CHUNK_SLOTS chunk cookies.
            let chunks = match self.chunk_count(count) {
                Ok(count) => count - 1,
                Err(e) => {
                    consider(Err(e), &mut best, &mut error);
                    continue;
                }
            };
            if (0..chunks).any(|i| found.occurrences(i).is_empty()) {
                consider(
                    Err(Error::malformed("a chunk cookie is missing")),
                    &mut best,
                    &mut error,
                );
                continue;
            }
            let lens = (0..chunks).map(|i| found.occurrences(i).len());
            for choice in Combinations::new(lens) {
                if tries >= MAX_CANDIDATES {
                    break 'heads;
                }
                tries += 1;
                let pieces = (0..chunks)
                    .zip(choice)
                    .filter_map(|(i, k)| found.occurrences(i).get(k).copied());
                let result = self.assemble(first, pieces, &mut assembled);
                let result =
                    result.and_then(|()| self.open_request(&assembled, now, found, check_binding));
                consider(result, &mut best, &mut error);
            }
        }
        match best {
            Some(opened) => Ok(opened),
            None => Err(error.unwrap_or(Error::NoCookie)),
        }
    }

    /// One linear pass over the fields, keeping slices of the ASCII values
    /// of the cookies named NAME or NAME.<i>.
    fn find_cookies<'h>(
        &self,
        fields: impl IntoIterator<Item = &'h (impl AsRef<[u8]> + ?Sized + 'h)>,
    ) -> Found<'h> {
        let chunk_slots = self.cookie.max_chunks.saturating_sub(1);
        let name = self.name.as_bytes();
        let mut found = Found {
            heads: [""; MAX_CANDIDATES],
            head_count: 0,
            chunks: [[""; MAX_CANDIDATES]; CHUNK_SLOTS],
            chunk_counts: [0; CHUNK_SLOTS],
            bound: [""; MAX_CANDIDATES],
            bound_count: 0,
        };
        for field in fields {
            for (cookie_name, value) in cookie_pairs(field.as_ref()) {
                // 0 for the head, i for chunk NAME.i.
                let index = if cookie_name == name {
                    0
                } else {
                    let Some(rest) = cookie_name.strip_prefix(name) else {
                        continue;
                    };
                    if rest == BOUND_SUFFIX.as_bytes() {
                        if let (Some(value), Some(slot)) =
                            (ascii(value), found.bound.get_mut(found.bound_count))
                        {
                            *slot = value;
                            found.bound_count += 1;
                        }
                        continue;
                    }
                    if chunk_slots == 0 {
                        continue;
                    }
                    match rest.strip_prefix(b".").and_then(parse_small_decimal) {
                        Some(i) if i <= chunk_slots => i,
                        _ => continue,
                    }
                };
                // The codec writes only ASCII: anything else is not its
                // cookie, and takes no candidate's place.
                let Some(value) = ascii(value) else {
                    continue;
                };
                let (values, count) = match index.checked_sub(1) {
                    None => (&mut found.heads, &mut found.head_count),
                    Some(i) => match (found.chunks.get_mut(i), found.chunk_counts.get_mut(i)) {
                        (Some(values), Some(count)) => (values, count),
                        _ => continue,
                    },
                };
                if let Some(slot) = values.get_mut(*count) {
                    *slot = value;
                    *count += 1;
                }
            }
        }
        found
    }

    /// The chunk count written in a head cookie: 2 to max_chunks.
    fn chunk_count(&self, text: &str) -> Result<usize> {
        let count = parse_small_decimal(text.as_bytes())
            .ok_or_else(|| Error::malformed("bad chunk count in the head cookie"))?;
        if count < 2 || count > self.cookie.max_chunks {
            return Err(Error::malformed(
                "chunk count outside the configured number of chunks",
            ));
        }
        Ok(count)
    }

    /// Concatenates the pieces into `out`, refusing before copying anything
    /// when they exceed what one sealed value may be.
    fn assemble<'p>(
        &self,
        first: &str,
        pieces: impl Iterator<Item = &'p str> + Clone,
        out: &mut String,
    ) -> Result<()> {
        let limit = self.cookie.max_value_len();
        let size = pieces
            .clone()
            .fold(first.len(), |sum, piece| sum.saturating_add(piece.len()));
        if size > limit {
            return Err(Error::TooLarge {
                what: "chunked cookie value",
                size,
                limit,
            });
        }
        out.clear();
        out.reserve(size);
        out.push_str(first);
        for piece in pieces {
            out.push_str(piece);
        }
        Ok(())
    }
}

/// The order in which the occurrences of the chunk cookies are combined:
/// `choice[i]` picks the occurrence of chunk NAME.(i + 1). First the k-th
/// occurrence of every chunk (its last one when it has fewer) for k = 0, 1,
/// ...: all first to all last, which finds the genuine set among duplicates
/// planted in the same position; then every other combination in odometer
/// order, which finds it among junk planted before some chunks and after
/// others. The caller stops after [`MAX_CANDIDATES`] opened values, so this
/// never runs far: at most `widest` aligned choices are skipped in all.
struct Combinations {
    /// Occurrences of each chunk (at least 1); only the first `chunks`
    /// entries are used, the others stay 1.
    lens: [usize; CHUNK_SLOTS],
    chunks: usize,
    /// The largest entry of `lens`: how many aligned choices there are.
    widest: usize,
    next_aligned: usize,
    /// The next odometer choice; `None` once all were visited.
    next_other: Option<[usize; CHUNK_SLOTS]>,
}

impl Combinations {
    fn new(lens: impl Iterator<Item = usize>) -> Self {
        let mut all = [1; CHUNK_SLOTS];
        let mut chunks = 0;
        for (slot, len) in all.iter_mut().zip(lens) {
            *slot = len.max(1);
            chunks += 1;
        }
        let widest = all.iter().take(chunks).copied().max().unwrap_or(1);
        Combinations {
            lens: all,
            chunks,
            widest,
            next_aligned: 0,
            next_other: Some([0; CHUNK_SLOTS]),
        }
    }

    /// The k-th occurrence of every chunk, or its last one.
    fn aligned(&self, k: usize) -> [usize; CHUNK_SLOTS] {
        let mut choice = [0; CHUNK_SLOTS];
        for (pick, len) in choice.iter_mut().zip(self.lens).take(self.chunks) {
            *pick = k.min(len.saturating_sub(1));
        }
        choice
    }

    fn is_aligned(&self, choice: &[usize; CHUNK_SLOTS]) -> bool {
        let k = choice.iter().copied().max().unwrap_or(0);
        *choice == self.aligned(k)
    }

    /// The choice after `choice` in odometer order (the first chunk turning
    /// fastest), `None` after the last.
    fn advance(&self, mut choice: [usize; CHUNK_SLOTS]) -> Option<[usize; CHUNK_SLOTS]> {
        for (pick, len) in choice.iter_mut().zip(self.lens).take(self.chunks) {
            *pick += 1;
            if *pick < len {
                return Some(choice);
            }
            *pick = 0;
        }
        None
    }
}

impl Iterator for Combinations {
    type Item = [usize; CHUNK_SLOTS];

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_aligned < self.widest {
            let choice = self.aligned(self.next_aligned);
            self.next_aligned += 1;
            return Some(choice);
        }
        while let Some(choice) = self.next_other {
            self.next_other = self.advance(choice);
            if !self.is_aligned(&choice) {
                return Some(choice);
            }
        }
        None
    }
}

/// Keeps the better of the results seen so far: the opened value with the
/// latest issued-at (first one on a tie), else the most informative error.
fn consider<T>(result: Result<Opened<T>>, best: &mut Option<Opened<T>>, error: &mut Option<Error>) {
    match result {
        Ok(opened) => {
            if best
                .as_ref()
                .is_none_or(|current| opened.issued_at > current.issued_at)
            {
                *best = Some(opened);
            }
        }
        Err(err) => {
            if error
                .as_ref()
                .is_none_or(|current| informativeness(&err) > informativeness(current))
            {
                *error = Some(err);
            }
        }
    }
}

/// How much an error tells about a cookie: what was learnt after (or
/// instead of) authentication ranks above a forgery, which ranks above
/// errors on the outside of the value.
fn informativeness(err: &Error) -> u8 {
    match err {
        Error::Deserialize { .. } | Error::Decompression | Error::UnknownDictionary { .. } => 6,
        Error::Expired { .. }
        | Error::NotYetValid { .. }
        | Error::Unbound
        | Error::BindingRequired { .. } => 5,
        Error::RevokedKey { .. } | Error::RetiredKey { .. } => 4,
        Error::UnknownKey { .. } => 3,
        Error::Unauthenticated => 2,
        Error::TooLarge { .. } => 1,
        _ => 0,
    }
}

/// A decimal without sign or leading zero, small enough to be a chunk index
/// or count (so a huge digit run costs nothing).
fn parse_small_decimal(text: &[u8]) -> Option<usize> {
    // Digits only, so one count has one spelling.
    match text {
        [digit @ b'1'..=b'9'] => Some(usize::from(digit - b'0')),
        [tens @ b'1'..=b'9', ones @ b'0'..=b'9'] => {
            let value = usize::from(tens - b'0') * 10 + usize::from(ones - b'0');
            (value <= MAX_CHUNKS).then_some(value)
        }
        _ => None,
    }
}

/// The ASCII values of the cookies named exactly `name` in one `Cookie`
/// header, in header order, at most [`MAX_CANDIDATES`]: for the device
/// binding's refresh cookie, whose candidates are chosen by session id.
#[cfg_attr(not(feature = "dbsc"), allow(dead_code))]
pub(crate) fn cookie_values<'h>(
    cookie_header: &'h [u8],
    name: &'h str,
) -> impl Iterator<Item = &'h str> {
    cookie_pairs(cookie_header)
        .filter(move |(n, _)| *n == name.as_bytes())
        .filter_map(|(_, value)| ascii(value))
        .take(MAX_CANDIDATES)
}

/// The value as text when it is ASCII, the only values this codec writes.
fn ascii(value: &[u8]) -> Option<&str> {
    if value.is_ascii() {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// The `name=value` pairs of one Cookie header field, as bytes: split on
/// `;`, optional whitespace trimmed, split at the first `=`, optional double
/// quotes around the value removed. Pieces without `=` or with an empty name
/// are skipped; bytes above 0x7F are left to the caller.
fn cookie_pairs(field: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    field.split(|&b| b == b';').filter_map(|pair| {
        let mut halves = pair.splitn(2, |&b| b == b'=');
        let name = trim_ows(halves.next()?);
        let value = trim_ows(halves.next()?);
        if name.is_empty() {
            return None;
        }
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        Some((name, value))
    })
}

/// Without leading and trailing spaces and tabs (HTTP's optional
/// whitespace).
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_tolerate_junk_and_quotes() {
        let pairs: Vec<_> =
            cookie_pairs(b" a=1;;b ; =x; c=\"q\";d==e; e=\"unterminated ; f= \t2 ; g=\"").collect();
        assert_eq!(
            pairs,
            [
                (&b"a"[..], &b"1"[..]),
                (b"c", b"q"),
                (b"d", b"=e"),
                (b"e", b"\"unterminated"),
                (b"f", b"2"),
                (b"g", b"\""),
            ]
        );
    }

    #[test]
    fn pairs_keep_non_ascii_bytes_apart() {
        let pairs: Vec<_> = cookie_pairs(b"pref=caf\xE9; x=\xC3\xA9;s=1").collect();
        assert_eq!(
            pairs,
            [
                (&b"pref"[..], &b"caf\xE9"[..]),
                (b"x", b"\xC3\xA9"),
                (b"s", b"1"),
            ]
        );
        assert_eq!(ascii(b"caf\xE9"), None);
        assert_eq!(ascii("café".as_bytes()), None);
        assert_eq!(ascii(b"2.AbC-_"), Some("2.AbC-_"));
    }

    #[test]
    fn small_decimals() {
        assert_eq!(parse_small_decimal(b"2"), Some(2));
        assert_eq!(parse_small_decimal(b"10"), Some(10));
        assert_eq!(parse_small_decimal(b"16"), Some(16));
        assert_eq!(parse_small_decimal(b"17"), None);
        assert_eq!(parse_small_decimal(b"02"), None);
        assert_eq!(parse_small_decimal(b"0"), None);
        assert_eq!(parse_small_decimal(b"+2"), None);
        assert_eq!(parse_small_decimal(b""), None);
        assert_eq!(parse_small_decimal(b"999999999999999999999999"), None);
    }

    fn all(lens: &[usize]) -> Vec<Vec<usize>> {
        Combinations::new(lens.iter().copied())
            .map(|choice| choice[..lens.len()].to_vec())
            .collect()
    }

    #[test]
    fn combinations_go_aligned_first_then_the_rest_once_each() {
        assert_eq!(all(&[1]), [[0]]);
        assert_eq!(all(&[3]), [[0], [1], [2]]);
        assert_eq!(
            all(&[2, 2]),
            [vec![0, 0], vec![1, 1], vec![1, 0], vec![0, 1]]
        );
        // Aligned: all first, then the k-th or last, up to all last.
        let three_by_one = all(&[3, 1, 2]);
        assert_eq!(
            three_by_one[..3],
            [vec![0, 0, 0], vec![1, 0, 1], vec![2, 0, 1]]
        );
        for lens in [&[2, 3][..], &[3, 1, 2], &[2, 2, 2, 2], &[8, 8]] {
            let mut seen = all(lens);
            let total: usize = lens.iter().product();
            assert_eq!(seen.len(), total, "{lens:?}");
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), total, "each choice once: {lens:?}");
        }
    }
}
