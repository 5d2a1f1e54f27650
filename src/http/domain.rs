//! The cookie's Domain attribute: a fixed parent domain validated when the
//! codec is built, or a rule that derives it from each request's Host.
//!
//! Browsers silently ignore a Set-Cookie whose Domain is a public suffix
//! (`com`, `co.uk`, and private-section entries such as `github.io`), an IP
//! address, or a domain the request's host is not inside. Every such case is
//! refused here with an error, so a session never "randomly" disappears.

use std::net::{Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::error::{Error, Result};

/// How the cookie's Domain attribute is derived from each request's `Host`
/// header (see [`CodecBuilder::domain_rule`](crate::CodecBuilder::domain_rule)).
///
/// ```
/// use sealed_session::{Codec, DomainRule, DynamicSession};
/// let codec = Codec::builder("__Secure-session")
///     .development_key()
///     .domain_rule(DomainRule::OneOf(vec!["shop.example.com".into()]))
///     .build()?;
/// let cookies = codec.encode_for_host(&DynamicSession::new(), "a.shop.example.com:8443")?;
/// assert!(cookies.iter().next().unwrap().contains("; Domain=shop.example.com"));
/// assert!(codec.encode_for_host(&DynamicSession::new(), "evil.example").is_err());
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainRule {
    /// The registrable domain of the host, by the Public Suffix List
    /// (including its private section): `a.b.example.co.uk` gives
    /// `example.co.uk`, `me.github.io` gives `me.github.io`.
    RegistrableDomain,
    /// The most specific of these parent domains that contains the host
    /// (each validated like [`CodecBuilder::domain`](crate::CodecBuilder::domain)
    /// when the codec is built). A host inside none of them is an error.
    OneOf(Vec<String>),
}

/// The longest Host header value looked at; longer ones are refused before
/// any normalization (a DNS name has at most 253 bytes, plus a port).
const MAX_HOST_LEN: usize = 300;

/// Normalizes a configured parent domain to lowercase ASCII (IDNA) and
/// refuses what browsers would refuse: IP addresses, public suffixes
/// (including the private section), empty labels.
pub(crate) fn normalize_parent_domain(input: &str) -> Result<String> {
    // Browsers ignore one leading dot of a Domain attribute.
    let trimmed = input.strip_prefix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err(Error::config(
            "the cookie domain is empty: give a parent domain such as example.com, or \
             configure none for a host-only cookie",
        ));
    }
    if looks_like_ip(trimmed) {
        return Err(Error::config(format!(
            "the cookie domain {trimmed:?} is an IP address, which browsers accept only as a \
             host-only cookie: configure no domain"
        )));
    }
    let ascii = to_ascii(trimmed).ok_or_else(|| {
        Error::config(format!(
            "the cookie domain {trimmed:?} is not a valid domain name (empty label, bad \
             character, label over 63 or name over 253 bytes, or trailing dot): give a name \
             such as example.com"
        ))
    })?;
    if looks_like_ip(&ascii) {
        return Err(Error::config(format!(
            "the cookie domain {ascii:?} is an IP address, which browsers accept only as a \
             host-only cookie: configure no domain"
        )));
    }
    if is_public_suffix(&ascii) {
        return Err(Error::config(format!(
            "the cookie domain {ascii:?} is a public suffix (Public Suffix List, including its \
             private section), so browsers would reject the cookie: use a domain you own below \
             it, or configure no domain for a host-only cookie"
        )));
    }
    Ok(ascii)
}

/// The cookie domain for a request to `host` (the Host header, with or
/// without a port) under `rule`, whose parent domains are already normalized.
pub(crate) fn domain_for_host(rule: &DomainRule, host: &str) -> Result<String> {
    let host = normalize_host(host)?;
    match rule {
        DomainRule::RegistrableDomain => {
            psl::domain_str(&host).map(str::to_owned).ok_or_else(|| {
                Error::config(format!(
                    "the request host {host:?} has no registrable domain (it is a public \
                     suffix): serve the site from a domain below a public suffix"
                ))
            })
        }
        DomainRule::OneOf(parents) => parents
            .iter()
            .filter(|parent| host_is_within(&host, parent))
            .max_by_key(|parent| parent.len())
            .cloned()
            .ok_or_else(|| outside(&host)),
    }
}

/// Every cookie domain under `rule` whose cookies a request to `host`
/// carries: for `OneOf`, each configured parent that contains the host (a
/// session set from `www.example.com` with `Domain=example.com` also reaches
/// `cart.shop.example.com`); for `RegistrableDomain`, the one registrable
/// domain. A removal must expire all of them.
pub(crate) fn domains_reaching_host(rule: &DomainRule, host: &str) -> Result<Vec<String>> {
    match rule {
        DomainRule::RegistrableDomain => domain_for_host(rule, host).map(|d| vec![d]),
        DomainRule::OneOf(parents) => {
            let host = normalize_host(host)?;
            let within: Vec<String> = parents
                .iter()
                .filter(|parent| host_is_within(&host, parent))
                .cloned()
                .collect();
            if within.is_empty() {
                Err(outside(&host))
            } else {
                Ok(within)
            }
        }
    }
}

/// Checks that `host` lies within the fixed parent domain `domain`.
pub(crate) fn check_host_within(domain: &str, host: &str) -> Result<()> {
    let host = normalize_host(host)?;
    if host_is_within(&host, domain) {
        Ok(())
    } else {
        Err(outside(&host))
    }
}

fn outside(host: &str) -> Error {
    Error::config(format!(
        "the request host {host:?} is outside the configured cookie domain(s): browsers would \
         reject the cookie; add its parent domain to the configuration or reject the request"
    ))
}

/// RFC 6265 domain-match: equal, or a subdomain of `parent`.
fn host_is_within(host: &str, parent: &str) -> bool {
    host == parent
        || host
            .strip_suffix(parent)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// Host header value to lowercase ASCII without port or trailing dot.
fn normalize_host(host: &str) -> Result<String> {
    let invalid = || {
        Error::config(
            "the request host is not a domain name (empty, too long, bad character, or an IP \
             address): parent-domain cookies need a named host",
        )
    };
    if host.len() > MAX_HOST_LEN || host.starts_with('[') {
        return Err(invalid());
    }
    let without_port = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return Err(invalid()),
        None => host,
    };
    let name = without_port.strip_suffix('.').unwrap_or(without_port);
    if name.is_empty() || looks_like_ip(name) {
        return Err(invalid());
    }
    let ascii = to_ascii(name).ok_or_else(invalid)?;
    if looks_like_ip(&ascii) {
        return Err(invalid());
    }
    Ok(ascii)
}

/// IDNA (UTS #46) to lowercase ASCII, letters, digits and hyphens only, with
/// the DNS length rules (which also refuse empty labels).
fn to_ascii(name: &str) -> Option<String> {
    Uts46::new()
        .to_ascii(
            name.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Verify,
        )
        .ok()
        .map(|ascii| ascii.into_owned())
}

/// IPv6 (any colon), dotted IPv4, or what the URL standard would parse as
/// IPv4 (a numeric last label such as `0x7f.1` or `127.1`).
fn looks_like_ip(name: &str) -> bool {
    let name = name.trim_start_matches('[').trim_end_matches(']');
    // A colon never belongs in a domain name: an IPv6 address, or garbage
    // that must not become a Domain attribute either way.
    if name.contains(':') || name.parse::<Ipv6Addr>().is_ok() {
        return true;
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let last = name
        .rsplit('.')
        .find(|label| !label.is_empty())
        .unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

/// True when `name` (lowercase ASCII) is itself a public suffix, ICANN or
/// private section; an unlisted single label (`localhost`, `intranet`) counts
/// as one too, as in browsers.
fn is_public_suffix(name: &str) -> bool {
    psl::suffix_str(name).is_none_or(|suffix| suffix == name)
}
