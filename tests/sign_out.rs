//! Signing out removes every session cookie the browser would send to the
//! host, whatever parent domain it was set for.
//!
//! With `DomainRule::OneOf(["example.com", "shop.example.com"])`, a session
//! set from `www.example.com` carries `Domain=example.com` and is also sent
//! to `cart.shop.example.com`. A removal sent from there must expire that
//! cookie too, not only a `Domain=shop.example.com` one.
//!
//! The browser is modelled by a small cookie jar that follows RFC 6265: a
//! cookie is keyed by name, domain (or host-only host) and path; a Set-Cookie
//! with `Max-Age=0` deletes the cookie with the same key; a request to a host
//! carries every cookie whose domain matches it.

use std::collections::BTreeMap;

use sealed_session::{Codec, DomainRule, DynamicSession, Key, KeyRing};

/// (name, domain or host-only host, host_only, path) -> value.
#[derive(Default)]
struct Jar {
    cookies: BTreeMap<(String, String, bool, String), String>,
}

impl Jar {
    fn apply(&mut self, request_host: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|p| p.split_once('='))
            .unwrap_or_else(|| panic!("Set-Cookie without a pair: {set_cookie}"));
        let (mut domain, mut path, mut removed) = (None, "/".to_owned(), false);
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "domain" => domain = Some(val.trim_start_matches('.').to_ascii_lowercase()),
                "path" => path = val.to_owned(),
                "max-age" => removed = val.parse::<i64>().map(|v| v <= 0).unwrap_or(false),
                _ => {}
            }
        }
        if let Some(d) = &domain {
            assert!(
                domain_matches(request_host, d),
                "a browser rejects Domain={d} from {request_host}"
            );
        }
        let host_only = domain.is_none();
        let key = (
            name.to_owned(),
            domain.unwrap_or_else(|| request_host.to_owned()),
            host_only,
            path,
        );
        if removed {
            self.cookies.remove(&key);
        } else {
            self.cookies.insert(key, value.to_owned());
        }
    }

    fn apply_all<'a>(&mut self, host: &str, headers: impl IntoIterator<Item = &'a str>) {
        for header in headers {
            self.apply(host, header);
        }
    }

    /// The cookies a request to `host` (path "/") carries.
    fn sent_to(&self, host: &str) -> Vec<(String, String)> {
        self.cookies
            .iter()
            .filter(|((_, domain, host_only, _), _)| {
                if *host_only {
                    domain == host
                } else {
                    domain_matches(host, domain)
                }
            })
            .map(|((name, domain, _, _), _)| (name.clone(), domain.clone()))
            .collect()
    }
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn codec(rule: DomainRule) -> Codec {
    Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes([3; 32])]).expect("ring"))
        .domain_rule(rule)
        .build()
        .expect("codec")
}

/// The same cookie without a Domain: what a server set before the site
/// moved to parent-domain cookies (a codec with a rule refuses `encode`).
fn host_only_codec() -> Codec {
    Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes([3; 32])]).expect("ring"))
        .build()
        .expect("codec")
}

fn session() -> DynamicSession {
    serde_json::from_str(r#"{"user":"alice"}"#).expect("a JSON object")
}

#[test]
fn sign_out_from_a_nested_parent_removes_the_outer_parent_cookie() {
    let codec = codec(DomainRule::OneOf(vec![
        "example.com".into(),
        "shop.example.com".into(),
    ]));
    let mut jar = Jar::default();
    let set = codec
        .encode_for_host(&session(), "www.example.com")
        .expect("sign in");
    jar.apply_all("www.example.com", set.iter());
    assert_eq!(
        jar.sent_to("cart.shop.example.com"),
        [("session".to_owned(), "example.com".to_owned())],
        "the session set from www is sent to cart.shop"
    );

    let removal = codec
        .removal_for_host("cart.shop.example.com")
        .expect("removal");
    jar.apply_all("cart.shop.example.com", removal.iter());
    assert_eq!(
        jar.sent_to("cart.shop.example.com"),
        [],
        "after signing out on cart.shop, no session cookie is left"
    );
    assert_eq!(jar.sent_to("www.example.com"), [], "nor on www");
}

#[test]
fn sign_out_removes_cookies_of_every_parent_and_host_only() {
    let codec = codec(DomainRule::OneOf(vec![
        "example.com".into(),
        "shop.example.com".into(),
    ]));
    let mut jar = Jar::default();
    // One session per parent, plus a host-only one left from a configuration
    // without a domain.
    let outer = codec.encode_for_host(&session(), "www.example.com");
    let inner = codec.encode_for_host(&session(), "cart.shop.example.com");
    jar.apply_all("www.example.com", outer.expect("outer").iter());
    jar.apply_all("cart.shop.example.com", inner.expect("inner").iter());
    jar.apply_all(
        "cart.shop.example.com",
        host_only_codec()
            .encode(&session())
            .expect("host-only")
            .iter(),
    );
    assert_eq!(jar.sent_to("cart.shop.example.com").len(), 3);

    let removal = codec
        .removal_for_host("cart.shop.example.com")
        .expect("removal");
    jar.apply_all("cart.shop.example.com", removal.iter());
    assert_eq!(jar.sent_to("cart.shop.example.com"), []);
}

#[test]
fn sign_out_under_the_registrable_domain_rule_also_removes_host_only() {
    let codec = codec(DomainRule::RegistrableDomain);
    let mut jar = Jar::default();
    jar.apply_all(
        "shop.example.co.uk",
        codec
            .encode_for_host(&session(), "shop.example.co.uk")
            .expect("parent")
            .iter(),
    );
    jar.apply_all(
        "shop.example.co.uk",
        host_only_codec()
            .encode(&session())
            .expect("host-only")
            .iter(),
    );
    assert_eq!(jar.sent_to("shop.example.co.uk").len(), 2);
    let removal = codec
        .removal_for_host("shop.example.co.uk")
        .expect("removal");
    jar.apply_all("shop.example.co.uk", removal.iter());
    assert_eq!(jar.sent_to("shop.example.co.uk"), []);
}

#[test]
fn removal_for_a_host_outside_every_parent_is_an_error() {
    let codec = codec(DomainRule::OneOf(vec!["example.com".into()]));
    assert!(codec.removal_for_host("example.org").is_err());
}
