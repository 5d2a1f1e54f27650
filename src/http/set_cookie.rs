//! Response side: complete `Set-Cookie` header values for a sealed session,
//! split over several cookies when chunking is enabled, and removal cookies.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::Cookie;
use serde::Serialize;

use crate::codec::{now_unix, random_nonce, Codec};
use crate::core::format::NONCE_LEN;
use crate::core::identity::{Identity, Lineage};
use crate::core::seal::{with_json, Sealed};
use crate::error::{Error, Result};
use crate::http::cookie_options::{decimal_len, CookieOptions, DomainSetting};
use crate::http::domain;

/// The `Set-Cookie` header values of one response, in order: the session's
/// cookie(s), then expiring cookies for chunks a previous, larger session may
/// have left behind. Send each as its own `Set-Cookie` header.
///
/// Its `Debug` output shows the number of headers only, never their values
/// (a signed-only value is readable session data).
///
/// ```
/// use sealed_session::{Codec, DynamicSession};
/// let codec = Codec::builder("session").development_key().build()?;
/// let cookies = codec.encode(&DynamicSession::new())?;
/// assert_eq!(cookies.len(), 1);
/// for header in &cookies {
///     assert!(header.starts_with("session="));
/// }
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SetCookies {
    headers: Vec<String>,
}

impl SetCookies {
    /// Appends another set's headers after these.
    #[cfg_attr(not(feature = "dbsc"), allow(dead_code))]
    pub(crate) fn extend(&mut self, other: SetCookies) {
        self.headers.extend(other.headers);
    }

    /// The header values, in the order to send them.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession};
    /// # let codec = Codec::builder("s").development_key().build()?;
    /// let first = codec.encode(&DynamicSession::new())?.iter().next().map(str::to_owned);
    /// assert!(first.unwrap().contains("; HttpOnly"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn iter(&self) -> std::iter::Map<std::slice::Iter<'_, String>, fn(&String) -> &str> {
        self.headers.iter().map(String::as_str)
    }

    /// How many `Set-Cookie` headers to send.
    ///
    /// ```
    /// # use sealed_session::Codec;
    /// let codec = Codec::builder("s").development_key().max_chunks(3).build()?;
    /// assert_eq!(codec.removal().len(), 3, "the cookie and its two possible chunks");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// True when there is nothing to send (never the case for values made by
    /// a [`Codec`]).
    ///
    /// ```
    /// # use sealed_session::Codec;
    /// # let codec = Codec::builder("s").development_key().build()?;
    /// assert!(!codec.removal().is_empty());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

impl fmt::Debug for SetCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetCookies")
            .field("len", &self.headers.len())
            .finish_non_exhaustive()
    }
}

impl IntoIterator for SetCookies {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.headers.into_iter()
    }
}

impl<'a> IntoIterator for &'a SetCookies {
    type Item = &'a str;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, String>, fn(&String) -> &str>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// When a written cookie ends.
#[derive(Clone, Copy)]
enum Expiry {
    /// Max-Age seconds from `now`, with the matching Expires date.
    Lasts { max_age: u64, now: u64 },
    /// Already expired: the browser deletes the cookie.
    Removed,
}

impl Codec {
    /// Seals `session` into the `Set-Cookie` header value(s) for this
    /// response, with the current time and a fresh nonce. The cookie carries
    /// the configured Domain, Path, Secure, HttpOnly, SameSite and
    /// Partitioned attributes; Max-Age is the sealed lifetime minus the
    /// clock-skew allowance (at least 1 s), so the browser drops the cookie
    /// shortly before the server would refuse it, and Expires says the same
    /// for old clients.
    ///
    /// Fails with [`Error::TooLarge`] when name plus value exceed the cookie
    /// budget and chunking is off, or when even the allowed chunks cannot
    /// hold the session; with [`Error::Config`] when the domain is derived
    /// per request (use [`Codec::encode_for_host`]).
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("__Secure-session")
    ///     .development_key()
    ///     .domain("shop.example.com")
    ///     .build()?;
    /// let cookies = codec.encode(&DynamicSession::new())?;
    /// let header = cookies.iter().next().unwrap();
    /// assert!(header.starts_with("__Secure-session="));
    /// assert!(header.contains("; Domain=shop.example.com"));
    /// assert!(header.contains("; Max-Age=86340"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode<T: Serialize + ?Sized>(&self, session: &T) -> Result<SetCookies> {
        self.encode_at(session, now_unix(), random_nonce()?)
    }

    /// [`Codec::encode`] at time `now` (Unix seconds) with the given nonce:
    /// the pure core. The nonce must be unique per value; pass fixed ones
    /// only in tests.
    ///
    /// ```
    /// # use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let cookies = codec.encode_at(&DynamicSession::new(), 1_700_000_000, [7; 24])?;
    /// assert!(cookies.iter().next().unwrap()
    ///     .ends_with("; Expires=Wed, 15 Nov 2023 22:12:20 GMT"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode_at<T: Serialize + ?Sized>(
        &self,
        session: &T,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<SetCookies> {
        self.encode_with_at(session, &Lineage::new(), None, now, nonce)
    }

    /// [`Codec::encode`] for a request to `host` (its `Host` header, port
    /// allowed). With a [`DomainRule`](crate::DomainRule) the Domain
    /// attribute is derived from the host; with a fixed domain the host must
    /// lie within it; with no domain the host is not used. A host outside the
    /// configured domain(s) is an [`Error::Config`] naming it: browsers would
    /// reject the cookie.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession};
    /// let codec = Codec::builder("s").development_key().domain("example.com").build()?;
    /// assert!(codec.encode_for_host(&DynamicSession::new(), "www.example.com").is_ok());
    /// assert!(codec.encode_for_host(&DynamicSession::new(), "example.org").is_err());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode_for_host<T: Serialize + ?Sized>(
        &self,
        session: &T,
        host: &str,
    ) -> Result<SetCookies> {
        self.encode_for_host_at(session, host, now_unix(), random_nonce()?)
    }

    /// [`Codec::encode_for_host`] at time `now` with the given nonce.
    ///
    /// ```
    /// use sealed_session::{Codec, DomainRule, DynamicSession};
    /// let codec = Codec::builder("s").development_key()
    ///     .domain_rule(DomainRule::RegistrableDomain).build()?;
    /// let cookies = codec.encode_for_host_at(&DynamicSession::new(), "me.github.io", 1_000, [1; 24])?;
    /// assert!(cookies.iter().next().unwrap().contains("; Domain=me.github.io"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode_for_host_at<T: Serialize + ?Sized>(
        &self,
        session: &T,
        host: &str,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<SetCookies> {
        self.encode_with_at(session, &Lineage::new(), Some(host), now, nonce)
    }

    /// [`Codec::encode`] with the session's identity taken from `lineage`:
    /// [`Lineage::Continue`] with the opened session's identity for every
    /// re-seal ([`Opened::lineage`](crate::Opened::lineage)), so its id,
    /// creation time (the absolute lifetime) and subject carry over;
    /// [`Lineage::New`] at sign-in. `encode` itself starts a new session.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Lineage};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let cookies = codec.encode_with(&DynamicSession::new(), &Lineage::new_for("user-7"))?;
    /// assert_eq!(cookies.len(), 1);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode_with<T: Serialize + ?Sized>(
        &self,
        session: &T,
        lineage: &Lineage,
    ) -> Result<SetCookies> {
        self.encode_with_at(session, lineage, None, now_unix(), random_nonce()?)
    }

    /// [`Codec::encode_with`] for a request to `host` (see
    /// [`Codec::encode_for_host`]).
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Lineage};
    /// let codec = Codec::builder("s").development_key().domain("example.com").build()?;
    /// let cookies = codec.encode_with_for_host(&DynamicSession::new(), &Lineage::new(), "a.example.com")?;
    /// assert!(cookies.iter().next().unwrap().contains("; Domain=example.com"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode_with_for_host<T: Serialize + ?Sized>(
        &self,
        session: &T,
        lineage: &Lineage,
        host: &str,
    ) -> Result<SetCookies> {
        self.encode_with_at(session, lineage, Some(host), now_unix(), random_nonce()?)
    }

    /// The pure core of every `encode` method: `lineage` as in
    /// [`Codec::encode_with`], `host` as in [`Codec::encode_for_host`]
    /// (`None` for a codec whose domain does not depend on the request), at
    /// time `now` with the given nonce.
    ///
    /// ```
    /// use sealed_session::{Codec, DynamicSession, Lineage};
    /// let codec = Codec::builder("s").development_key().build()?;
    /// let a = codec.encode_with_at(&DynamicSession::new(), &Lineage::new(), None, 1_000, [1; 24])?;
    /// let b = codec.encode_with_at(&DynamicSession::new(), &Lineage::new(), None, 1_000, [1; 24])?;
    /// assert_eq!(a.iter().next(), b.iter().next(), "deterministic given time and nonce");
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn encode_with_at<T: Serialize + ?Sized>(
        &self,
        session: &T,
        lineage: &Lineage,
        host: Option<&str>,
        now: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<SetCookies> {
        let domain = self.request_domain(host)?;
        let sealed = with_json(session, |json, buf| {
            self.seal_json_into(json, lineage, now, nonce, buf)
        })?;
        self.cookies_of(sealed, domain.as_deref(), now)
            .map(|(cookies, _)| cookies)
    }

    /// The `Set-Cookie` values of a value sealed at `now`, for a request to
    /// `host` as in [`Codec::encode_with_at`], and the identity written into
    /// it (`None` when the codec writes none): a caller that needs the
    /// session id just minted does not have to open the value again.
    pub(crate) fn sealed_cookies(
        &self,
        sealed: Sealed,
        host: Option<&str>,
        now: u64,
    ) -> Result<(SetCookies, Option<Identity>)> {
        let domain = self.request_domain(host)?;
        self.cookies_of(sealed, domain.as_deref(), now)
    }

    /// The Domain attribute for a request to `host` (`None`: the codec's
    /// domain does not depend on the request).
    fn request_domain(&self, host: Option<&str>) -> Result<Option<Cow<'_, str>>> {
        match (host, &self.cookie.domain) {
            (Some(host), _) => Ok(self.domain_for(host)?.map(Cow::Owned)),
            (None, DomainSetting::HostOnly) => Ok(None),
            (None, DomainSetting::Fixed(domain)) => Ok(Some(Cow::Borrowed(domain.as_str()))),
            (None, DomainSetting::Rule(_)) => Err(Error::config(
                "the cookie domain is derived from each request's host: call \
                 encode_for_host with the request's Host header",
            )),
        }
    }

    /// `Set-Cookie` header values that delete the session: the cookie and
    /// every possible chunk, each with the same Domain and Path it was set
    /// with (a removal without them leaves a parent-domain cookie in place).
    ///
    /// With a [`DomainRule`](crate::DomainRule) the domain depends on the
    /// request: use [`Codec::removal_for_host`]; this method then removes
    /// only host-only cookies of that name.
    ///
    /// ```
    /// # use sealed_session::Codec;
    /// let codec = Codec::builder("s").development_key().domain("example.com").build()?;
    /// let removal = codec.removal();
    /// let header = removal.iter().next().unwrap();
    /// assert!(header.starts_with("s=;"));
    /// assert!(header.contains("; Path=/; Domain=example.com; Max-Age=0"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn removal(&self) -> SetCookies {
        let domain = match &self.cookie.domain {
            DomainSetting::Fixed(domain) => Some(domain.as_str()),
            DomainSetting::HostOnly | DomainSetting::Rule(_) => None,
        };
        self.removal_with_domain(domain)
    }

    /// [`Codec::removal`] for a request to `host`, deriving the Domain as
    /// [`Codec::encode_for_host`] does. With a [`DomainRule`](crate::DomainRule)
    /// it expires the cookie (and its chunks) for **every** configured parent
    /// domain that contains the host, and the host-only cookie: with
    /// `OneOf(["example.com", "shop.example.com"])`, a session set from
    /// `www.example.com` is also sent to `cart.shop.example.com`, and signing
    /// out there must end it.
    ///
    /// ```
    /// use sealed_session::{Codec, DomainRule};
    /// let codec = Codec::builder("s").development_key()
    ///     .domain_rule(DomainRule::RegistrableDomain).build()?;
    /// let removal = codec.removal_for_host("a.example.com")?;
    /// assert!(removal.iter().next().unwrap().contains("; Domain=example.com"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn removal_for_host(&self, host: &str) -> Result<SetCookies> {
        match &self.cookie.domain {
            DomainSetting::Rule(rule) => {
                // Every configured parent that reaches this host, and the
                // host-only cookie of a configuration without a domain: a
                // session set for an outer parent is sent here too, and
                // signing out must end it.
                let mut headers = Vec::new();
                for domain in domain::domains_reaching_host(rule, host)? {
                    headers.extend(self.removal_with_domain(Some(&domain)).headers);
                }
                headers.extend(self.removal_with_domain(None).headers);
                Ok(SetCookies { headers })
            }
            DomainSetting::HostOnly | DomainSetting::Fixed(_) => {
                let domain = self.domain_for(host)?;
                Ok(self.removal_with_domain(domain.as_deref()))
            }
        }
    }

    /// The Domain attribute for a request to `host`.
    pub(crate) fn domain_for(&self, host: &str) -> Result<Option<String>> {
        match &self.cookie.domain {
            DomainSetting::HostOnly => Ok(None),
            DomainSetting::Fixed(domain) => {
                domain::check_host_within(domain, host)?;
                Ok(Some(domain.clone()))
            }
            DomainSetting::Rule(rule) => domain::domain_for_host(rule, host).map(Some),
        }
    }

    /// The `Set-Cookie` values carrying `sealed` (split into chunks when
    /// needed, followed by removals of chunks a larger session may have left).
    fn cookies_of(
        &self,
        sealed: Sealed,
        domain: Option<&str>,
        now: u64,
    ) -> Result<(SetCookies, Option<Identity>)> {
        let pieces = split_value(&self.name, &sealed.value, &self.cookie)?;
        let used = pieces.len();
        // Below the sealed lifetime (which the absolute lifetime may have
        // shortened) by the clock skew, so the browser drops the cookie
        // before any server would refuse it.
        let max_age = sealed.max_age.saturating_sub(self.clock_skew).max(1);
        let mut headers = Vec::with_capacity(self.cookie.max_chunks.max(used));
        for (name, value) in pieces {
            headers.push(self.set_cookie(name, value, domain, Expiry::Lasts { max_age, now })?);
        }
        // A previous, larger session may have left chunks behind: expire
        // them, or a later read would see a stale tail.
        for index in used.max(1)..self.cookie.max_chunks {
            headers.push(self.set_cookie(
                chunk_name(&self.name, index),
                String::new(),
                domain,
                Expiry::Removed,
            )?);
        }
        Ok((SetCookies { headers }, sealed.identity))
    }

    pub(crate) fn removal_with_domain(&self, domain: Option<&str>) -> SetCookies {
        let names =
            std::iter::once(self.name.clone()).chain((1..self.cookie.max_chunks).map(|index| {
                // Chunk names are NAME.<i>.
                chunk_name(&self.name, index)
            }));
        #[cfg_attr(not(feature = "dbsc"), allow(unused_mut))]
        let mut headers: Vec<String> = names
            .filter_map(|name| self.set_cookie(name, "", domain, Expiry::Removed).ok())
            .collect();
        // A device-bound session's bound and refresh cookies go with it, so
        // the browser stops refreshing a session that was signed out.
        #[cfg(feature = "dbsc")]
        for part in self.binding_cookie_codecs() {
            headers.extend(part.removal_with_domain(domain).headers);
        }
        SetCookies { headers }
    }

    /// One `Set-Cookie` header value with the configured attributes.
    fn set_cookie<'c>(
        &self,
        name: impl Into<Cow<'c, str>>,
        value: impl Into<Cow<'c, str>>,
        domain: Option<&'c str>,
        expiry: Expiry,
    ) -> Result<String> {
        let options = &self.cookie;
        let name = name.into();
        let value = value.into();
        // Attributes take at most ~200 bytes: one allocation for the header.
        let capacity = name.len() + value.len() + options.path.len() + 200;
        let mut builder = Cookie::build((name, value))
            .path(options.path.as_str())
            .secure(options.secure)
            .http_only(options.http_only)
            .same_site(options.same_site)
            .partitioned(options.partitioned);
        if let Some(domain) = domain {
            builder = builder.domain(domain);
        }
        let (max_age, expires) = match expiry {
            Expiry::Lasts { max_age, now } => {
                let seconds = i64::try_from(max_age).unwrap_or(i64::MAX);
                let expires = i64::try_from(now.saturating_add(max_age))
                    .ok()
                    .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
                    .ok_or_else(|| {
                        Error::config("the cookie expiry is beyond what an Expires date can say")
                    })?;
                (CookieDuration::seconds(seconds), expires)
            }
            Expiry::Removed => (CookieDuration::ZERO, OffsetDateTime::UNIX_EPOCH),
        };
        let cookie = builder.max_age(max_age).expires(expires).build();
        let mut header = String::with_capacity(capacity + domain.map_or(0, str::len));
        write!(header, "{cookie}")
            .map_err(|_| Error::config("internal: could not format the Set-Cookie header"))?;
        Ok(header)
    }
}

/// `NAME.<index>`.
fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// Cuts a sealed value into `(cookie name, cookie value)` pairs, each within
/// the per-cookie budget, all together within the total budget.
///
/// Unchunked: `NAME=value`. Chunked over `n >= 2` cookies: `NAME=<n>.<piece
/// 0>`, `NAME.1=<piece 1>`, ... A sealed value is base64url, which has no
/// `.`, so the head's count cannot be confused with an unchunked value.
pub(crate) fn split_value<'a>(
    name: &'a str,
    value: &'a str,
    options: &CookieOptions,
) -> Result<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
    let limit = options.max_cookie_size;
    let single = name.len() + value.len();
    if single <= limit {
        return Ok(vec![(Cow::Borrowed(name), Cow::Borrowed(value))]);
    }
    if options.max_chunks <= 1 {
        return Err(Error::TooLarge {
            what: "cookie name and sealed value",
            size: single,
            limit,
        });
    }
    let capacity = |count: usize, index: usize| -> usize {
        let overhead = if index == 0 {
            name.len() + decimal_len(count) + 1
        } else {
            name.len() + 1 + decimal_len(index)
        };
        limit.saturating_sub(overhead)
    };
    let fits = |count: usize| (0..count).map(|i| capacity(count, i)).sum::<usize>();
    let count = (2..=options.max_chunks)
        .find(|&count| fits(count) >= value.len())
        .ok_or(Error::TooLarge {
            what: "sealed value over all allowed chunk cookies",
            size: value.len(),
            limit: fits(options.max_chunks),
        })?;
    let mut pieces = Vec::with_capacity(count);
    let mut rest = value;
    for index in 0..count {
        let take = capacity(count, index).min(rest.len());
        // base64url is ASCII, so every byte offset is a character boundary.
        let (piece, tail) = rest
            .split_at_checked(take)
            .ok_or_else(|| Error::config("internal: sealed value is not ASCII"))?;
        rest = tail;
        pieces.push(if index == 0 {
            (Cow::Borrowed(name), Cow::Owned(format!("{count}.{piece}")))
        } else {
            (Cow::Owned(chunk_name(name, index)), Cow::Borrowed(piece))
        });
    }
    // What the request's Cookie header will carry: name=value pairs joined
    // by "; ".
    let total = pieces
        .iter()
        .map(|(name, value)| name.len() + 1 + value.len())
        .sum::<usize>()
        + 2 * (count - 1);
    if total > options.max_total_size {
        return Err(Error::TooLarge {
            what: "all chunk cookies of the session in the Cookie header",
            size: total,
            limit: options.max_total_size,
        });
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::identity::Identity;
    use crate::{DomainRule, Key, KeyRing, Mode};

    const NOW: u64 = 1_700_000_000;

    /// The identity a value carries, read back the way a request reads it.
    fn opened_identity(codec: &Codec, cookies: &SetCookies, now: u64) -> Option<Identity> {
        let header = cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .filter(|pair| !pair.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ");
        codec
            .decode_at::<serde::de::IgnoredAny>(&header, now)
            .unwrap()
            .identity
    }

    /// Incompressible enough to need two chunks.
    fn large_session() -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..4_500)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(alphabet[(state % 64) as usize])
            })
            .collect()
    }

    #[test]
    fn sealing_reports_the_identity_the_value_carries() {
        let builder = || {
            Codec::builder("s").key_ring(KeyRing::from_keys([Key::from_bytes([5; 32])]).unwrap())
        };
        let codec = builder().build().unwrap();
        let value = codec
            .seal_with_at(&"x", &Lineage::new_for("u-9"), NOW + 30, [3; 24])
            .unwrap();
        let earlier = codec.open_at::<String>(&value, NOW + 30).unwrap();
        let small = String::from("tea");
        let large = large_session();
        let cases: Vec<(&str, Codec, Lineage, Option<&str>, &String)> = vec![
            (
                "new",
                builder().build().unwrap(),
                Lineage::new(),
                None,
                &small,
            ),
            (
                "new with subject",
                builder().build().unwrap(),
                Lineage::new_for("user-1"),
                None,
                &small,
            ),
            (
                // Created 30 s in this server's future: the seal clamps it.
                "continued",
                builder().build().unwrap(),
                earlier.lineage(),
                None,
                &small,
            ),
            (
                "origin key written out",
                builder().compact_identity(false).build().unwrap(),
                Lineage::new_for("user-2"),
                None,
                &small,
            ),
            (
                "domain rule",
                builder()
                    .domain_rule(DomainRule::RegistrableDomain)
                    .build()
                    .unwrap(),
                Lineage::new(),
                Some("www.example.com"),
                &small,
            ),
            (
                "chunked",
                builder().max_chunks(3).build().unwrap(),
                Lineage::new_for("user-3"),
                None,
                &large,
            ),
            (
                "without identity",
                builder().write_identity(false).build().unwrap(),
                Lineage::new(),
                None,
                &small,
            ),
            (
                "signed only",
                builder().mode(Mode::SignedOnly).build().unwrap(),
                Lineage::new(),
                None,
                &small,
            ),
        ];
        for (what, codec, lineage, host, session) in cases {
            let sealed = with_json(session, |json, buf| {
                codec.seal_json_into(json, &lineage, NOW, [9; 24], buf)
            })
            .unwrap();
            let (cookies, identity) = codec.sealed_cookies(sealed, host, NOW).unwrap();
            let expected = opened_identity(&codec, &cookies, NOW);
            assert!(
                identity == expected,
                "{what}: encoding reported {identity:?}, the value carries {expected:?}"
            );
            let writes = codec.write_identity && codec.mode == Mode::Sealed;
            assert_eq!(identity.is_some(), writes, "{what}");
            if what == "chunked" {
                assert!(cookies.iter().filter(|c| !c.contains("Max-Age=0")).count() > 1);
            }
            if what == "continued" {
                assert_eq!(
                    identity.map(|i| (i.session_id, i.created_at)),
                    earlier.identity.as_ref().map(|i| (i.session_id, NOW))
                );
            }
        }
    }
}
