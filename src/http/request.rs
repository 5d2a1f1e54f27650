//! Request side: find the session's cookie (and its chunks) in a raw
//! `Cookie` header and open it.
//!
//! The parser is a single linear pass (split on `;`, trim, split at the first
//! `=`) that keeps only slices of the header, so a hostile header costs time
//! linear in its length and no allocation per cookie. Unrelated cookies,
//! malformed or not, are skipped.

use serde::de::DeserializeOwned;

use crate::codec::{now_unix, Codec, Opened};
use crate::error::{Error, Result};
use crate::http::cookie_options::MAX_CHUNKS;

/// How many candidates with the session's name are kept, and how many
/// assembled values are opened at most, per request: bounds the
/// cryptographic work a header full of same-name cookies can cause.
pub const MAX_CANDIDATES: usize = 8;

/// The cookies of a header that belong to this codec, as slices of it.
struct Found<'h> {
    /// Values of cookies named exactly NAME, in header order: the first
    /// `head_count` entries (a fixed array, so no allocation per request).
    heads: [&'h str; MAX_CANDIDATES],
    head_count: usize,
    /// `chunks[i - 1]`: values of cookies named NAME.i, in header order.
    chunks: Vec<Vec<&'h str>>,
}

impl Codec {
    /// Opens the session from a raw `Cookie` request header at the current
    /// time. Join several `Cookie` header fields (HTTP/2) with `"; "` first.
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
        self.decode_at(cookie_header, now_unix())
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
        let found = self.find_cookies(cookie_header);
        if found.head_count == 0 {
            return Err(Error::NoCookie);
        }
        let mut best: Option<Opened<T>> = None;
        let mut error: Option<Error> = None;
        let mut tries = 0;
        let mut assembled = String::new();
        'heads: for head in found.heads.iter().take(found.head_count) {
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
                consider(self.open_at(head, now), &mut best, &mut error);
                continue;
            };
            let count = match self.chunk_count(count) {
                Ok(count) => count,
                Err(e) => {
                    consider(Err(e), &mut best, &mut error);
                    continue;
                }
            };
            let Some(chunks) = found.chunks.get(..count - 1) else {
                consider(
                    Err(Error::malformed("more chunks than configured")),
                    &mut best,
                    &mut error,
                );
                continue;
            };
            // With planted duplicates of chunk cookies, the k-th assembly
            // takes the k-th occurrence of each chunk (or its last one).
            let variants = chunks.iter().map(Vec::len).max().unwrap_or(0);
            if chunks.iter().any(Vec::is_empty) {
                consider(
                    Err(Error::malformed("a chunk cookie is missing")),
                    &mut best,
                    &mut error,
                );
                continue;
            }
            for k in 0..variants {
                if tries >= MAX_CANDIDATES {
                    break 'heads;
                }
                tries += 1;
                let pieces = chunks
                    .iter()
                    .filter_map(|occurrences| occurrences.get(k).or(occurrences.last()).copied());
                let result = self.assemble(first, pieces, &mut assembled);
                let result = result.and_then(|()| self.open_at(&assembled, now));
                consider(result, &mut best, &mut error);
            }
        }
        match best {
            Some(opened) => Ok(opened),
            None => Err(error.unwrap_or(Error::NoCookie)),
        }
    }

    /// "An invalid cookie means no session", in one call: the session if the
    /// header carries one that opens now, otherwise `None`, with the reason
    /// logged at debug level (never the cookie's content).
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("session").development_key().build()?;
    /// assert!(codec.session::<DynamicSession>("session=forged").is_none());
    /// assert!(codec.session::<DynamicSession>("").is_none());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn session<T: DeserializeOwned>(&self, cookie_header: &str) -> Option<Opened<T>> {
        match self.decode(cookie_header) {
            Ok(opened) => Some(opened),
            Err(Error::NoCookie) => None,
            Err(err) => {
                log::debug!("session cookie {:?} ignored: {err}", self.name);
                None
            }
        }
    }

    /// One linear pass over the header, keeping slices of the cookies named
    /// NAME or NAME.<i>.
    fn find_cookies<'h>(&self, header: &'h str) -> Found<'h> {
        let chunk_slots = self.cookie.max_chunks.saturating_sub(1);
        let mut found = Found {
            heads: [""; MAX_CANDIDATES],
            head_count: 0,
            chunks: vec![Vec::new(); chunk_slots],
        };
        for (name, value) in cookie_pairs(header) {
            if name == self.name {
                if let Some(slot) = found.heads.get_mut(found.head_count) {
                    *slot = value;
                    found.head_count += 1;
                }
                continue;
            }
            if chunk_slots == 0 {
                continue;
            }
            let Some(index) = name
                .strip_prefix(self.name.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(parse_small_decimal)
            else {
                continue;
            };
            if let Some(slot) = index.checked_sub(1).and_then(|i| found.chunks.get_mut(i)) {
                if slot.len() < MAX_CANDIDATES {
                    slot.push(value);
                }
            }
        }
        found
    }

    /// The chunk count written in a head cookie: 2 to max_chunks.
    fn chunk_count(&self, text: &str) -> Result<usize> {
        let count = parse_small_decimal(text)
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
        Error::Expired { .. } | Error::NotYetValid { .. } => 5,
        Error::RevokedKey { .. } | Error::RetiredKey { .. } => 4,
        Error::UnknownKey { .. } => 3,
        Error::Unauthenticated => 2,
        Error::TooLarge { .. } => 1,
        _ => 0,
    }
}

/// A decimal without sign or leading zero, small enough to be a chunk index
/// or count (so a huge digit run costs nothing).
fn parse_small_decimal(text: &str) -> Option<usize> {
    // `str::parse` accepts a leading '+': insist on digits only, so one
    // count has one spelling.
    if text.is_empty()
        || text.len() > 2
        || text.starts_with('0')
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let value = text.parse::<usize>().ok()?;
    (value <= MAX_CHUNKS).then_some(value)
}

/// The `name=value` pairs of a Cookie header: split on `;`, optional
/// whitespace trimmed, split at the first `=`, optional double quotes around
/// the value removed. Pieces without `=` or with an empty name are skipped.
pub(crate) fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches(is_ows);
        if name.is_empty() {
            return None;
        }
        let value = value.trim_matches(is_ows);
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some((name, value))
    })
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_tolerate_junk_and_quotes() {
        let pairs: Vec<_> =
            cookie_pairs(" a=1;;b ; =x; c=\"q\";d==e; e=\"unterminated ; f= \t2 ").collect();
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("c", "q"),
                ("d", "=e"),
                ("e", "\"unterminated"),
                ("f", "2")
            ]
        );
    }

    #[test]
    fn small_decimals() {
        assert_eq!(parse_small_decimal("2"), Some(2));
        assert_eq!(parse_small_decimal("16"), Some(16));
        assert_eq!(parse_small_decimal("17"), None);
        assert_eq!(parse_small_decimal("02"), None);
        assert_eq!(parse_small_decimal("0"), None);
        assert_eq!(parse_small_decimal("+2"), None);
        assert_eq!(parse_small_decimal("999999999999999999999999"), None);
    }
}
