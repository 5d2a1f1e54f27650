//! Cookie attributes and browser limits, validated when the codec is built.
//!
//! This file and `codec.rs` refer to each other on purpose: the cookie
//! setters of [`CodecBuilder`] are written here, next to the rules they
//! validate, so every cookie attribute rule sits in the HTTP layer; the codec
//! only stores the validated [`CookieOptions`] as data and never interprets
//! them. Sealing (`core/`) reads one number from them, the size limit.

use cookie::SameSite;

use crate::codec::CodecBuilder;
use crate::error::{Error, Result};
use crate::http::domain::{self, DomainRule};

/// RFC 6265bis: browsers keep a cookie whose name plus value is at most this
/// many bytes.
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// RFC 6265bis: browsers ignore an attribute (Domain, Path) whose value is
/// longer than this many bytes.
pub const BROWSER_ATTRIBUTE_LIMIT: usize = 1024;

/// Default budget for all cookies of one chunked session together, counted
/// as they appear in the request's `Cookie` header (`name=value` pairs and
/// their `"; "` separators): 7 KiB. nginx refuses a request whose header line
/// exceeds its default `large_client_header_buffers` size of 8 KiB (HTTP 400
/// or 431, or "upstream sent too big header" behind a proxy); the rest leaves
/// room for `Cookie: ` and the site's other cookies.
pub const DEFAULT_MAX_TOTAL_COOKIE_SIZE: usize = 7 * 1024;

/// The most cookies one session may be split into.
pub const MAX_CHUNKS: usize = 16;

/// Every chunk must be able to carry at least this many characters of the
/// sealed value, so a tiny budget is refused at build time.
const MIN_PIECE_LEN: usize = 16;

/// Where the Domain attribute comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainSetting {
    /// No Domain attribute: the browser sends the cookie to this host only.
    HostOnly,
    /// One parent domain (normalized by `validated`).
    Fixed(String),
    /// Derived from each request's Host (parents normalized by `validated`).
    Rule(DomainRule),
}

/// Cookie attributes and size budget of a codec (set through
/// [`CodecBuilder`](crate::CodecBuilder)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieOptions {
    /// Budget for name plus value of one cookie.
    pub(crate) max_cookie_size: usize,
    /// How many cookies one session may span (1: no chunking).
    pub(crate) max_chunks: usize,
    /// Budget for all cookies of one session in the Cookie header.
    pub(crate) max_total_size: usize,
    pub(crate) domain: DomainSetting,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) partitioned: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            max_cookie_size: BROWSER_COOKIE_LIMIT,
            max_chunks: 1,
            max_total_size: DEFAULT_MAX_TOTAL_COOKIE_SIZE,
            domain: DomainSetting::HostOnly,
            path: "/".to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
        }
    }
}

impl CookieOptions {
    /// Checks every attribute against what browsers accept for the cookie
    /// called `name`, and normalizes the domain(s).
    pub(crate) fn validated(mut self, name: &str) -> Result<Self> {
        if !(1..=MAX_CHUNKS).contains(&self.max_chunks) {
            return Err(Error::config(format!(
                "max_chunks must be between 1 (no chunking) and {MAX_CHUNKS}"
            )));
        }
        // Head cookie: NAME=<n>.<piece>; chunk i: NAME.<i>=<piece>.
        let overhead = name.len() + 1 + decimal_len(self.max_chunks);
        if self.max_cookie_size > BROWSER_COOKIE_LIMIT {
            return Err(Error::config(format!(
                "max_cookie_size {} is above the {BROWSER_COOKIE_LIMIT} bytes browsers keep for \
                 name plus value: they would drop the cookie silently",
                self.max_cookie_size
            )));
        }
        if self.max_cookie_size < overhead + MIN_PIECE_LEN {
            return Err(Error::config(format!(
                "max_cookie_size {} leaves no room for a value after the cookie name: use at \
                 least {}",
                self.max_cookie_size,
                overhead + MIN_PIECE_LEN
            )));
        }
        if self.max_total_size < self.max_cookie_size {
            return Err(Error::config(format!(
                "max_total_cookie_size {} is below max_cookie_size {}: raise it",
                self.max_total_size, self.max_cookie_size
            )));
        }
        validate_path(&self.path)?;
        if self.same_site == SameSite::None && !self.secure {
            return Err(Error::config(
                "SameSite=None requires Secure (browsers reject it otherwise): enable secure \
                 or use SameSite=Lax",
            ));
        }
        if self.partitioned && !self.secure {
            return Err(Error::config(
                "Partitioned cookies must be Secure: enable secure or disable partitioned",
            ));
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("__host-") {
            if !self.secure || self.path != "/" || self.domain != DomainSetting::HostOnly {
                return Err(Error::config(
                    "a __Host- cookie must be Secure, have Path=/ and no Domain (browsers \
                     reject it otherwise): for a cookie shared by subdomains use the \
                     __Secure- prefix instead",
                ));
            }
        } else if lower.starts_with("__secure-") && !self.secure {
            return Err(Error::config(
                "a __Secure- cookie must be Secure (browsers reject it otherwise): enable secure",
            ));
        }
        self.domain = match self.domain {
            DomainSetting::HostOnly => DomainSetting::HostOnly,
            DomainSetting::Fixed(raw) => {
                DomainSetting::Fixed(domain::normalize_parent_domain(&raw)?)
            }
            DomainSetting::Rule(DomainRule::RegistrableDomain) => {
                DomainSetting::Rule(DomainRule::RegistrableDomain)
            }
            DomainSetting::Rule(DomainRule::OneOf(parents)) => {
                if parents.is_empty() {
                    return Err(Error::config(
                        "DomainRule::OneOf needs at least one parent domain",
                    ));
                }
                let parents = parents
                    .iter()
                    .map(|p| domain::normalize_parent_domain(p))
                    .collect::<Result<Vec<_>>>()?;
                DomainSetting::Rule(DomainRule::OneOf(parents))
            }
        };
        Ok(self)
    }

    /// The longest value `open` reads before refusing: bounds the work per
    /// request.
    pub(crate) fn max_value_len(&self) -> usize {
        if self.max_chunks <= 1 {
            return self.max_cookie_size;
        }
        // The pieces of a chunked value also fit in the total budget.
        self.max_cookie_size
            .saturating_mul(self.max_chunks)
            .min(self.max_total_size)
    }
}

/// Number of decimal digits of `n`.
pub(crate) fn decimal_len(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |digits| digits as usize + 1)
}

/// A cookie path: starts with `/`, printable ASCII without `;`, at most the
/// browsers' attribute limit.
fn validate_path(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::config(
            "the cookie path must start with '/' (browsers replace other paths by a default \
             one): use \"/\" for the whole site",
        ));
    }
    if path.len() > BROWSER_ATTRIBUTE_LIMIT {
        return Err(Error::config(format!(
            "the cookie path is {} bytes, browsers ignore attributes over \
             {BROWSER_ATTRIBUTE_LIMIT}: use a shorter path",
            path.len()
        )));
    }
    if path
        .bytes()
        .any(|b| !(0x20..0x7f).contains(&b) || b == b';')
    {
        return Err(Error::config(
            "the cookie path may contain only printable ASCII without ';': percent-encode \
             other characters",
        ));
    }
    Ok(())
}

/// Cookie attributes and size budget.
impl CodecBuilder {
    /// Shares the cookie with every subdomain of `domain` (the Domain
    /// attribute). Validated by [`CodecBuilder::build`]: normalized to
    /// lowercase ASCII (IDNA), and refused if it is an IP address or a public
    /// suffix (Public Suffix List, including its private section such as
    /// `github.io`), because browsers would drop the cookie. Default: no
    /// Domain, the cookie stays with the host that set it. Replaces any
    /// [`CodecBuilder::domain_rule`].
    ///
    /// ```
    /// use sealed_session::Codec;
    /// let codec = Codec::builder("__Secure-session")
    ///     .development_key()
    ///     .domain("Shop.Example.com")
    ///     .build()?;
    /// assert!(Codec::builder("s").development_key().domain("github.io").build().is_err());
    /// assert!(Codec::builder("s").development_key().domain("192.0.2.1").build().is_err());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn domain(mut self, domain: &str) -> Self {
        self.cookie.domain = DomainSetting::Fixed(domain.to_owned());
        self
    }

    /// Derives the Domain attribute from each request's Host header by `rule`;
    /// seal with [`Codec::encode_for_host`](crate::Codec::encode_for_host).
    /// Replaces any [`CodecBuilder::domain`].
    ///
    /// ```
    /// use sealed_session::{Codec, DomainRule, DynamicSession};
    /// let codec = Codec::builder("__Secure-session")
    ///     .development_key()
    ///     .domain_rule(DomainRule::RegistrableDomain)
    ///     .build()?;
    /// let cookies = codec.encode_for_host(&DynamicSession::new(), "a.b.example.co.uk")?;
    /// assert!(cookies.iter().next().unwrap().contains("; Domain=example.co.uk"));
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn domain_rule(mut self, rule: DomainRule) -> Self {
        self.cookie.domain = DomainSetting::Rule(rule);
        self
    }

    /// The Path attribute (default `/`).
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key().path("/app").build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.cookie.path);
        self
    }

    /// The Secure attribute (default true: sent over HTTPS only). Turn it
    /// off only for local development over plain HTTP.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key().secure(false).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// The HttpOnly attribute (default true: the page's script cannot read
    /// the cookie).
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key().http_only(false).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.cookie.http_only = http_only;
        self
    }

    /// The SameSite attribute (default Lax). `SameSite::None` requires
    /// Secure, checked by [`CodecBuilder::build`].
    ///
    /// ```
    /// use sealed_session::{Codec, SameSite};
    /// let codec = Codec::builder("s").development_key().same_site(SameSite::Strict).build()?;
    /// assert!(Codec::builder("s").development_key()
    ///     .same_site(SameSite::None).secure(false).build().is_err());
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// The Partitioned attribute (CHIPS: a third-party cookie keyed by the
    /// top-level site). Requires Secure. Default false.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key().partitioned(true).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.cookie.partitioned = partitioned;
        self
    }

    /// Budget for the name plus the value of one cookie, as browsers measure
    /// it (default and maximum [`BROWSER_COOKIE_LIMIT`], 4096 bytes). A
    /// session that does not fit is an [`Error::TooLarge`] (or is chunked,
    /// see [`CodecBuilder::max_chunks`]), never a cookie the browser drops.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key()
    ///     .max_cookie_size(3000).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn max_cookie_size(mut self, bytes: usize) -> Self {
        self.cookie.max_cookie_size = bytes;
        self
    }

    /// Lets a session too large for one cookie span up to `chunks` cookies
    /// (`NAME`, `NAME.1`, `NAME.2`, ...; default 1: no chunking; at most
    /// [`MAX_CHUNKS`]). All of them together stay within
    /// [`CodecBuilder::max_total_cookie_size`]. The value is sealed once and
    /// cut into pieces, so a missing, reordered or foreign chunk fails
    /// authentication.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key().max_chunks(3).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn max_chunks(mut self, chunks: usize) -> Self {
        self.cookie.max_chunks = chunks;
        self
    }

    /// Budget for all cookies of one session together, counted as they
    /// appear in the request's `Cookie` header (`name=value` and the `"; "`
    /// between them). Default [`DEFAULT_MAX_TOTAL_COOKIE_SIZE`] (7 KiB), which
    /// keeps the header line under nginx's default 8 KiB limit with room for
    /// the site's other cookies; raise it only together with the proxies'
    /// header limits.
    ///
    /// ```
    /// let codec = sealed_session::Codec::builder("s").development_key()
    ///     .max_chunks(4).max_total_cookie_size(12 * 1024).build()?;
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn max_total_cookie_size(mut self, bytes: usize) -> Self {
        self.cookie.max_total_size = bytes;
        self
    }
}
