//! The cookie layer: Set-Cookie attributes, removal, domain validation, the
//! browser size limit, chunking, and reading a raw Cookie request header.

use std::collections::BTreeMap;

use sealed_session::{
    Codec, CodecBuilder, Compression, DomainRule, DynamicSession, Error, Key, KeyRing, Mode,
    SameSite, SetCookies,
};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;
const NONCE: [u8; 24] = [9; 24];

fn ring(byte: u8) -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([byte; 32])]).unwrap()
}

fn builder(name: &str) -> CodecBuilder {
    Codec::builder(name).key_ring(ring(1))
}

fn first(cookies: &SetCookies) -> &str {
    cookies.iter().next().unwrap()
}

/// `name=value` of a Set-Cookie header value.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

/// Attributes after `name=value`.
fn attributes(set_cookie: &str) -> &str {
    set_cookie.split_once(';').unwrap().1
}

/// The Cookie header a browser sends back for these Set-Cookie values
/// (deleting cookies with Max-Age=0), starting from `jar`.
fn apply(jar: &mut BTreeMap<String, String>, cookies: &SetCookies) {
    for header in cookies {
        let (name, value) = pair(header).split_once('=').unwrap();
        if header.contains("; Max-Age=0") {
            jar.remove(name);
        } else {
            jar.insert(name.to_owned(), value.to_owned());
        }
    }
}

fn header_of(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn request_header(cookies: &SetCookies) -> String {
    let mut jar = BTreeMap::new();
    apply(&mut jar, cookies);
    header_of(&jar)
}

fn corpus(tier: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/data/corpus/sessions-{tier}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn config_error(result: sealed_session::Result<Codec>) -> String {
    match result {
        Err(Error::Config { message }) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn session(user: u64) -> Value {
    json!({ "user": user, "roles": ["reader"] })
}

// ---------------------------------------------------------------- attributes

#[test]
fn default_attributes() {
    let codec = builder("session").build().unwrap();
    let cookies = codec.encode_at(&session(1), NOW, NONCE).unwrap();
    assert_eq!(cookies.len(), 1);
    let header = first(&cookies);
    assert!(header.starts_with("session="));
    // Max-Age: one day minus the 60 s clock-skew allowance; Expires agrees.
    assert_eq!(
        attributes(header),
        " HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=86340; \
         Expires=Wed, 15 Nov 2023 22:12:20 GMT"
    );
}

#[test]
fn every_configured_attribute() {
    let codec = builder("__Secure-sid")
        .domain("Shop.Example.com")
        .path("/app")
        .same_site(SameSite::Strict)
        .partitioned(true)
        .http_only(false)
        .max_age(std::time::Duration::from_secs(3600))
        .clock_skew(std::time::Duration::from_secs(0))
        .build()
        .unwrap();
    let cookies = codec.encode_at(&session(1), NOW, NONCE).unwrap();
    assert_eq!(
        attributes(first(&cookies)),
        " SameSite=Strict; Partitioned; Secure; Path=/app; Domain=shop.example.com; \
         Max-Age=3600; Expires=Tue, 14 Nov 2023 23:13:20 GMT"
    );

    let lax_insecure = builder("sid").secure(false).build().unwrap();
    let cookies = lax_insecure.encode_at(&session(1), NOW, NONCE).unwrap();
    assert!(!first(&cookies).contains("Secure"));

    let none = builder("sid").same_site(SameSite::None).build().unwrap();
    let cookies = none.encode_at(&session(1), NOW, NONCE).unwrap();
    assert!(first(&cookies).contains("; SameSite=None; Secure"));
}

#[test]
fn max_age_stays_below_the_sealed_lifetime_by_the_clock_skew() {
    let short = builder("sid")
        .max_age(std::time::Duration::from_secs(90))
        .build()
        .unwrap();
    let cookies = short.encode_at(&session(1), NOW, NONCE).unwrap();
    assert!(first(&cookies).contains("; Max-Age=30; Expires=Tue, 14 Nov 2023 22:13:50 GMT"));
    let value = pair(first(&cookies)).split_once('=').unwrap().1;
    let opened = short.open_at::<Value>(value, NOW).unwrap();
    assert_eq!(opened.expires_at, NOW + 90);
}

#[test]
fn attribute_configuration_errors() {
    let same_site_none = config_error(
        builder("sid")
            .same_site(SameSite::None)
            .secure(false)
            .build(),
    );
    assert!(same_site_none.contains("SameSite=None requires Secure"));
    assert!(
        config_error(builder("sid").partitioned(true).secure(false).build())
            .contains("Partitioned")
    );
    let host_domain = config_error(builder("__Host-sid").domain("example.com").build());
    assert!(host_domain.contains("__Secure-"), "{host_domain}");
    config_error(builder("__host-sid").domain("example.com").build());
    config_error(
        builder("__Host-sid")
            .domain_rule(DomainRule::RegistrableDomain)
            .build(),
    );
    config_error(builder("__Host-sid").path("/app").build());
    config_error(builder("__Host-sid").secure(false).build());
    assert!(config_error(builder("__Secure-sid").secure(false).build()).contains("Secure"));
    assert!(builder("__Host-sid").build().is_ok());
    assert!(builder("__Secure-sid")
        .domain("example.com")
        .build()
        .is_ok());

    assert!(config_error(builder("sid").path("app").build()).contains("start with '/'"));
    config_error(builder("sid").path("/a;b").build());
    config_error(builder("sid").path("/\u{e9}").build());
    assert!(builder("sid")
        .path(&format!("/{}", "a".repeat(1023)))
        .build()
        .is_ok());
    assert!(config_error(
        builder("sid")
            .path(&format!("/{}", "a".repeat(1024)))
            .build()
    )
    .contains("1024"));

    assert!(config_error(builder("sid").max_cookie_size(4097).build()).contains("4096"));
    config_error(builder("sid").max_cookie_size(10).build());
    config_error(builder("sid").max_chunks(0).build());
    config_error(builder("sid").max_chunks(17).build());
    config_error(
        builder("sid")
            .max_chunks(2)
            .max_total_cookie_size(100)
            .build(),
    );
}

// ------------------------------------------------------------------- removal

#[test]
fn removal_repeats_domain_and_path_for_the_cookie_and_every_chunk() {
    let codec = builder("__Secure-sid")
        .domain("example.com")
        .path("/app")
        .max_chunks(3)
        .build()
        .unwrap();
    let removal = codec.removal();
    let names: Vec<_> = removal
        .iter()
        .map(|h| pair(h).split_once('=').unwrap().0)
        .collect();
    assert_eq!(names, ["__Secure-sid", "__Secure-sid.1", "__Secure-sid.2"]);
    for header in &removal {
        assert!(pair(header).ends_with('='), "empty value: {header}");
        assert_eq!(
            attributes(header),
            " HttpOnly; SameSite=Lax; Secure; Path=/app; Domain=example.com; Max-Age=0; \
             Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    let host_only = builder("sid").build().unwrap().removal();
    assert_eq!(host_only.len(), 1);
    assert!(!first(&host_only).contains("Domain"));

    let rule = builder("sid")
        .domain_rule(DomainRule::RegistrableDomain)
        .build()
        .unwrap();
    let removal = rule.removal_for_host("a.b.example.co.uk").unwrap();
    assert!(first(&removal).contains("; Path=/; Domain=example.co.uk; Max-Age=0"));
    assert!(rule.removal_for_host("co.uk").is_err());
}

// -------------------------------------------------------------------- domains

fn domain_of(domain: &str) -> sealed_session::Result<String> {
    let codec = builder("sid").domain(domain).build()?;
    let cookies = codec.encode_at(&session(1), NOW, NONCE)?;
    let header = first(&cookies);
    let start = header.find("; Domain=").unwrap() + "; Domain=".len();
    Ok(header[start..].split(';').next().unwrap().to_owned())
}

#[test]
fn fixed_domain_is_normalized() {
    assert_eq!(domain_of("example.com").unwrap(), "example.com");
    assert_eq!(domain_of("Shop.EXAMPLE.com").unwrap(), "shop.example.com");
    assert_eq!(domain_of(".example.com").unwrap(), "example.com");
    assert_eq!(
        domain_of("BÜCHER.example").unwrap(),
        "xn--bcher-kva.example"
    );
    assert_eq!(domain_of("bücher.de").unwrap(), "xn--bcher-kva.de");
    assert_eq!(domain_of("me.github.io").unwrap(), "me.github.io");
    assert_eq!(domain_of("example.co.uk").unwrap(), "example.co.uk");
}

#[test]
fn fixed_domain_refuses_public_suffixes_ips_and_bad_names() {
    for suffix in [
        "com",
        "co.uk",
        "COM",
        "github.io",
        "herokuapp.com",
        "foo.ck",
        "localhost",
    ] {
        let message = config_error(builder("sid").domain(suffix).build());
        assert!(message.contains("public suffix"), "{suffix}: {message}");
    }
    for ip in [
        "192.0.2.1",
        "::1",
        "[::1]",
        "2001:db8::1",
        "127.1",
        "0x7f.0.0.1",
        "10.0.0.1.",
    ] {
        let message = config_error(builder("sid").domain(ip).build());
        assert!(
            message.contains("IP address") || message.contains("not a valid domain"),
            "{ip}: {message}"
        );
    }
    for bad in [
        "",
        ".",
        "a..example.com",
        "example.com.",
        "exa mple.com",
        "ex_ample.com",
    ] {
        config_error(builder("sid").domain(bad).build());
    }
    let long_label = format!("{}.example.com", "a".repeat(64));
    config_error(builder("sid").domain(&long_label).build());
}

#[test]
fn domain_rules_derive_the_domain_from_the_host() {
    let registrable = builder("sid")
        .domain_rule(DomainRule::RegistrableDomain)
        .build()
        .unwrap();
    let cases = [
        ("a.b.example.co.uk:8443", "example.co.uk"),
        ("WWW.Example.COM", "example.com"),
        ("www.example.com.", "example.com"),
        ("me.github.io", "me.github.io"),
        ("x.me.github.io", "me.github.io"),
    ];
    for (host, domain) in cases {
        let cookies = registrable
            .encode_for_host_at(&session(1), host, NOW, NONCE)
            .unwrap();
        assert!(
            first(&cookies).contains(&format!("; Domain={domain};")),
            "{host}"
        );
    }
    for host in [
        "github.io",
        "co.uk",
        "192.0.2.1:80",
        "[::1]:8080",
        "",
        "a..b.com",
        "x:y",
    ] {
        assert!(
            matches!(
                registrable.encode_for_host_at(&session(1), host, NOW, NONCE),
                Err(Error::Config { .. })
            ),
            "{host}"
        );
    }
    assert!(matches!(
        registrable.encode_at(&session(1), NOW, NONCE),
        Err(Error::Config { .. })
    ));

    let one_of = builder("sid")
        .domain_rule(DomainRule::OneOf(vec![
            "Example.com".into(),
            "shop.example.com".into(),
        ]))
        .build()
        .unwrap();
    let domain = |host: &str| {
        let cookies = one_of.encode_for_host_at(&session(1), host, NOW, NONCE)?;
        let header = first(&cookies).to_owned();
        Ok::<_, Error>(
            header
                .split("; Domain=")
                .nth(1)
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned(),
        )
    };
    assert_eq!(domain("a.shop.example.com").unwrap(), "shop.example.com");
    assert_eq!(domain("shop.example.com:443").unwrap(), "shop.example.com");
    assert_eq!(domain("www.example.com").unwrap(), "example.com");
    assert_eq!(domain("example.com").unwrap(), "example.com");
    for outside in ["notexample.com", "example.org", "evil.com"] {
        match domain(outside) {
            Err(Error::Config { message }) => assert!(message.contains("outside"), "{message}"),
            other => panic!("{outside}: {other:?}"),
        }
    }
    config_error(
        builder("sid")
            .domain_rule(DomainRule::OneOf(vec!["github.io".into()]))
            .build(),
    );
    config_error(
        builder("sid")
            .domain_rule(DomainRule::OneOf(vec![]))
            .build(),
    );

    let fixed = builder("sid").domain("example.com").build().unwrap();
    assert!(fixed
        .encode_for_host_at(&session(1), "api.example.com", NOW, NONCE)
        .is_ok());
    assert!(matches!(
        fixed.encode_for_host_at(&session(1), "example.net", NOW, NONCE),
        Err(Error::Config { .. })
    ));
}

// ----------------------------------------------------------------------- size

/// A session whose sealed value (compression off) has exactly `len`
/// characters, if one exists: each padding character adds one byte before
/// base64url, and unpadded base64url of `n` bytes has `ceil(4n / 3)`
/// characters.
fn session_with_value_len(codec: &Codec, len: usize) -> Option<Value> {
    let pad = |n: usize| json!({ "pad": "x".repeat(n) });
    let raw0 = codec.seal_json_len(&pad(0)) * 3 / 4;
    let k = (0..len).find(|k| ((raw0 + k) * 4).div_ceil(3) == len)?;
    Some(pad(k))
}

trait SealLen {
    fn seal_json_len(&self, session: &Value) -> usize;
}

impl SealLen for Codec {
    fn seal_json_len(&self, session: &Value) -> usize {
        let cookies = self.encode_at(session, NOW, NONCE).unwrap();
        pair(first(&cookies)).len() - self.name().len() - 1
    }
}

#[test]
fn size_limit_exactly_at_and_one_byte_over_the_default() {
    // name + value == 4096 is kept; 4097 is refused. "sess" + 4092 and
    // "sessio" + 4091 (base64url lengths are never 1 mod 4).
    let at = builder("sess")
        .compression(Compression::Off)
        .max_cookie_size(4000)
        .build()
        .unwrap();
    let fitting = session_with_value_len(&at, 4092).unwrap();
    let codec = builder("sess")
        .compression(Compression::Off)
        .build()
        .unwrap();
    let cookies = codec.encode_at(&fitting, NOW, NONCE).unwrap();
    assert_eq!(pair(first(&cookies)).len(), 4096 + 1, "name=value");
    let header = request_header(&cookies);
    assert_eq!(
        codec.decode_at::<Value>(&header, NOW).unwrap().session,
        fitting
    );

    let codec = builder("sessio")
        .compression(Compression::Off)
        .build()
        .unwrap();
    let too_big = session_with_value_len(&codec, 4091).unwrap();
    let err = codec.encode_at(&too_big, NOW, NONCE).unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            what: "cookie name and sealed value",
            size: 4097,
            limit: 4096
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("4097") && message.contains("4096"),
        "{message}"
    );
    assert!(message.contains("chunking"), "says what to do: {message}");
}

#[test]
fn size_limit_exactly_at_and_one_byte_over_a_configured_budget() {
    let probe = builder("sid").build().unwrap();
    let s = json!({ "cart": (0..40).collect::<Vec<u32>>() });
    let total = probe.seal_json_len(&s) + "sid".len();
    let at = builder("sid").max_cookie_size(total).build().unwrap();
    assert!(at.encode_at(&s, NOW, NONCE).is_ok());
    let over = builder("sid").max_cookie_size(total - 1).build().unwrap();
    assert_eq!(
        over.encode_at(&s, NOW, NONCE).unwrap_err(),
        Error::TooLarge {
            what: "cookie name and sealed value",
            size: total,
            limit: total - 1
        }
    );
}

#[test]
fn large_tier_fits_one_cookie_with_default_settings() {
    let codec = builder("session").build().unwrap();
    let mut largest = 0;
    for (line, s) in corpus("large").iter().enumerate() {
        let cookies = codec.encode_at(s, NOW, NONCE).unwrap();
        assert_eq!(cookies.len(), 1, "line {line}");
        let size = pair(first(&cookies)).len() - 1;
        assert!(size <= 4096, "line {line}: {size}");
        largest = largest.max(size);
        let opened = codec
            .decode_at::<Value>(&request_header(&cookies), NOW)
            .unwrap();
        assert_eq!(&opened.session, s, "line {line}");
    }
    assert!(largest > 1000, "the tier is not trivially small: {largest}");
}

// ------------------------------------------------------------------ chunking

fn chunking(chunks: usize) -> Codec {
    builder("session")
        .max_chunks(chunks)
        .max_total_cookie_size(64 * 1024)
        .build()
        .unwrap()
}

#[test]
fn oversize_tier_fails_without_chunking_and_round_trips_with_it() {
    let plain = builder("session").build().unwrap();
    let chunked = chunking(16);
    for (line, s) in corpus("oversize").iter().enumerate() {
        match plain.encode_at(s, NOW, NONCE) {
            Err(Error::TooLarge { size, limit, .. }) => {
                assert_eq!(limit, 4096);
                assert!(size > 4096, "line {line}");
            }
            other => panic!("line {line}: {other:?}"),
        }
        let cookies = chunked.encode_at(s, NOW, NONCE).unwrap();
        let live: Vec<_> = cookies
            .iter()
            .filter(|h| !h.contains("; Max-Age=0"))
            .collect();
        assert!(live.len() >= 2, "line {line}");
        assert_eq!(cookies.len(), 16, "live chunks plus expiring stale ones");
        for header in &live {
            assert!(pair(header).len() - 1 <= 4096, "line {line}");
        }
        let header = request_header(&cookies);
        let opened = chunked.decode_at::<Value>(&header, NOW).unwrap();
        assert_eq!(&opened.session, s, "line {line}");
    }
}

#[test]
fn chunk_format_and_budgets() {
    let codec = builder("s")
        .max_cookie_size(200)
        .max_chunks(5)
        .build()
        .unwrap();
    let s = json!({ "k": (0..200).map(|i| i * 7919 % 10007).collect::<Vec<u32>>() });
    let cookies = codec.encode_at(&s, NOW, NONCE).unwrap();
    let pairs: Vec<_> = cookies.iter().map(pair).collect();
    let live = pairs.iter().filter(|p| !p.ends_with('=')).count();
    assert!(live >= 2);
    let (head_name, head_value) = pairs[0].split_once('=').unwrap();
    assert_eq!(head_name, "s");
    assert!(head_value.starts_with(&format!("{live}.")));
    for (i, p) in pairs.iter().enumerate().skip(1) {
        assert!(p.starts_with(&format!("s.{i}=")));
        assert!(p.len() - 1 <= 200);
    }
    assert_eq!(
        codec
            .decode_at::<Value>(&request_header(&cookies), NOW)
            .unwrap()
            .session,
        s
    );

    // The chunk count cap.
    let two = builder("s")
        .max_cookie_size(200)
        .max_chunks(2)
        .build()
        .unwrap();
    assert!(matches!(
        two.encode_at(&s, NOW, NONCE),
        Err(Error::TooLarge { .. })
    ));
    // The total budget (default 7 KiB, for nginx's 8 KiB header line).
    let big = &corpus("oversize")[0];
    match builder("s")
        .max_chunks(16)
        .build()
        .unwrap()
        .encode_at(big, NOW, NONCE)
    {
        Err(Error::TooLarge { size, limit, what }) => {
            assert_eq!(limit, sealed_session::DEFAULT_MAX_TOTAL_COOKIE_SIZE);
            assert!(size > limit, "{what}");
        }
        Ok(cookies) => {
            let header = request_header(&cookies);
            assert!(header.len() <= sealed_session::DEFAULT_MAX_TOTAL_COOKIE_SIZE);
        }
        Err(other) => panic!("{other:?}"),
    }
}

/// Three live chunks of two different sessions under one codec.
fn two_chunked_sessions() -> (Codec, BTreeMap<String, String>, BTreeMap<String, String>) {
    let codec = builder("s")
        .compression(Compression::Off)
        .max_cookie_size(120)
        .max_chunks(4)
        .build()
        .unwrap();
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    let payload = |tag: &str| json!({ "who": tag, "data": "0123456789".repeat(15) });
    apply(
        &mut a,
        &codec.encode_at(&payload("a"), NOW, [1; 24]).unwrap(),
    );
    apply(
        &mut b,
        &codec.encode_at(&payload("b"), NOW, [2; 24]).unwrap(),
    );
    assert!(a.contains_key("s.2") && !a.contains_key("s.3"), "{a:?}");
    assert!(b.contains_key("s.2"));
    assert_eq!(
        codec
            .decode_at::<Value>(&header_of(&a), NOW)
            .unwrap()
            .session["who"],
        "a"
    );
    (codec, a, b)
}

#[test]
fn header_order_of_chunks_does_not_matter() {
    let (codec, a, _) = two_chunked_sessions();
    let header = format!("s.2={}; x=1; s.1={}; s={}", a["s.2"], a["s.1"], a["s"]);
    assert_eq!(
        codec.decode_at::<Value>(&header, NOW).unwrap().session["who"],
        "a"
    );
}

#[test]
fn reordered_chunks_fail_authentication() {
    let (codec, mut a, _) = two_chunked_sessions();
    let one = a["s.1"].clone();
    let two = a["s.2"].clone();
    a.insert("s.1".into(), two);
    a.insert("s.2".into(), one);
    // The reordered text is as long as the original, but its last character
    // now comes from the middle of the value: unless that character happens
    // to be a canonical end of unpadded base64url, decoding fails before
    // authentication does. Either way the value never opens.
    let err = codec.decode_at::<Value>(&header_of(&a), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unauthenticated
                | Error::Malformed {
                    reason: "not unpadded base64url"
                }
        ),
        "{err}"
    );
}

#[test]
fn mixed_chunks_of_two_sessions_fail_authentication() {
    let (codec, a, b) = two_chunked_sessions();
    for (from_b, name) in [(true, "s"), (true, "s.1"), (true, "s.2")] {
        let mut mixed = a.clone();
        if from_b {
            mixed.insert(name.into(), b[name].clone());
        }
        assert_eq!(
            codec
                .decode_at::<Value>(&header_of(&mixed), NOW)
                .unwrap_err(),
            Error::Unauthenticated,
            "chunk {name} from the other session"
        );
    }
}

#[test]
fn dropped_chunks_fail() {
    let (codec, a, _) = two_chunked_sessions();
    let mut dropped = a.clone();
    dropped.remove("s.2");
    assert_eq!(
        codec
            .decode_at::<Value>(&header_of(&dropped), NOW)
            .unwrap_err(),
        Error::Malformed {
            reason: "a chunk cookie is missing"
        }
    );
    // A head that claims fewer chunks: the truncated value cannot
    // authenticate.
    let mut truncated = a.clone();
    let head = truncated["s"].replacen("3.", "2.", 1);
    truncated.insert("s".into(), head);
    let err = codec
        .decode_at::<Value>(&header_of(&truncated), NOW)
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthenticated | Error::Malformed { .. }),
        "{err:?}"
    );
    // A head without its count: the first piece alone.
    let mut headless = a.clone();
    let head = headless["s"].split_once('.').unwrap().1.to_owned();
    headless.insert("s".into(), head);
    assert!(codec
        .decode_at::<Value>(&header_of(&headless), NOW)
        .is_err());
    // Chunks without a head.
    let mut no_head = a;
    no_head.remove("s");
    assert_eq!(
        codec
            .decode_at::<Value>(&header_of(&no_head), NOW)
            .unwrap_err(),
        Error::NoCookie
    );
    // Counts outside the configuration.
    for count in ["5", "1", "0", "02", "99999999999999999999", ""] {
        let header = format!("s={count}.AAAA; s.1=AAAA");
        assert!(
            matches!(
                codec.decode_at::<Value>(&header, NOW),
                Err(Error::Malformed { .. })
            ),
            "{count}"
        );
    }
}

#[test]
fn fewer_chunks_than_before_expire_the_stale_ones() {
    let codec = builder("s")
        .domain("example.com")
        .path("/app")
        .compression(Compression::Off)
        .max_cookie_size(120)
        .max_chunks(4)
        .build()
        .unwrap();
    let mut jar = BTreeMap::new();
    let large = json!({ "data": "0123456789".repeat(12) });
    let cookies = codec.encode_at(&large, NOW, [1; 24]).unwrap();
    apply(&mut jar, &cookies);
    assert!(jar.len() >= 3, "{jar:?}");

    let small = json!({ "data": 1 });
    let cookies = codec.encode_at(&small, NOW, [2; 24]).unwrap();
    assert_eq!(cookies.len(), 4);
    let expiring: Vec<_> = cookies
        .iter()
        .filter(|h| h.contains("; Max-Age=0"))
        .map(|h| pair(h).to_owned())
        .collect();
    assert_eq!(expiring, ["s.1=", "s.2=", "s.3="]);
    for header in cookies.iter().skip(1) {
        assert!(header.contains("; Path=/app; Domain=example.com; Max-Age=0"));
    }
    apply(&mut jar, &cookies);
    assert_eq!(jar.keys().collect::<Vec<_>>(), ["s"]);
    assert_eq!(
        codec
            .decode_at::<Value>(&header_of(&jar), NOW)
            .unwrap()
            .session,
        small
    );

    // Two chunks after three: only s.2 and s.3 expire.
    let middle = json!({ "data": "0123456789".repeat(6) });
    apply(&mut jar, &codec.encode_at(&large, NOW, [3; 24]).unwrap());
    let cookies = codec.encode_at(&middle, NOW, [4; 24]).unwrap();
    let live = cookies
        .iter()
        .filter(|h| !h.contains("; Max-Age=0"))
        .count();
    assert_eq!(live, 2);
    apply(&mut jar, &cookies);
    assert_eq!(jar.keys().collect::<Vec<_>>(), ["s", "s.1"]);
    assert_eq!(
        codec
            .decode_at::<Value>(&header_of(&jar), NOW)
            .unwrap()
            .session,
        middle
    );
}

// ------------------------------------------------------------ reading headers

fn value_of(codec: &Codec, s: &Value, now: u64, nonce: [u8; 24]) -> String {
    let cookies = codec.encode_at(s, now, nonce).unwrap();
    pair(first(&cookies)).split_once('=').unwrap().1.to_owned()
}

#[test]
fn tolerates_malformed_unrelated_cookies_and_quotes() {
    let codec = builder("sid").build().unwrap();
    let value = value_of(&codec, &session(5), NOW, NONCE);
    let headers = [
        format!("sid={value}"),
        format!(" a ; ;;=; b==c;sid=\"{value}\" ;\tq=\"x"),
        format!("junk; sid = {value}\t; x=y"),
        format!("sidx=1; xsid=2; sid.1=3; sid={value}"),
    ];
    for header in headers {
        let opened = codec.decode_at::<Value>(&header, NOW).unwrap();
        assert_eq!(opened.session, session(5), "{header}");
    }
    assert_eq!(
        codec.decode_at::<Value>("", NOW).unwrap_err(),
        Error::NoCookie
    );
    assert_eq!(
        codec.decode_at::<Value>("Sid=x; sid1=y", NOW).unwrap_err(),
        Error::NoCookie
    );
    assert!(codec.session::<Value>("sid=garbage!").is_none());
}

#[test]
fn planted_cookie_under_another_key_loses_to_the_real_one() {
    let codec = builder("sid").build().unwrap();
    let attacker = Codec::builder("sid").key_ring(ring(2)).build().unwrap();
    let real = value_of(&codec, &session(1), NOW, [1; 24]);
    // The attacker's is newer, but it does not authenticate here.
    let planted = value_of(&attacker, &session(666), NOW + 10, [2; 24]);
    for header in [
        format!("sid={planted}; sid={real}"),
        format!("sid={real}; sid={planted}"),
        format!("sid=forged; sid={planted}; sid={real}; sid=\"\""),
    ] {
        let opened = codec.decode_at::<Value>(&header, NOW + 10).unwrap();
        assert_eq!(opened.session, session(1), "{header}");
    }
    // Alone, the planted cookie is reported with the most informative error.
    let err = codec
        .decode_at::<Value>(&format!("sid=AAAA; sid={planted}"), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKey { .. }), "{err:?}");
}

#[test]
fn of_two_valid_cookies_the_latest_issued_at_wins() {
    let codec = builder("sid").build().unwrap();
    let older = value_of(&codec, &session(1), NOW, [1; 24]);
    let newer = value_of(&codec, &session(2), NOW + 100, [2; 24]);
    for header in [
        format!("sid={older}; sid={newer}"),
        format!("sid={newer}; sid={older}"),
    ] {
        let opened = codec.decode_at::<Value>(&header, NOW + 100).unwrap();
        assert_eq!(opened.session, session(2), "{header}");
        assert_eq!(opened.issued_at, NOW + 100);
    }
    // A tie goes to the first in the header.
    let twin = value_of(&codec, &session(3), NOW, [3; 24]);
    let opened = codec
        .decode_at::<Value>(&format!("sid={twin}; sid={older}"), NOW)
        .unwrap();
    assert_eq!(opened.session, session(3));
    // An expired newer-looking one does not win; a valid one remains.
    let short = builder("sid")
        .max_age(std::time::Duration::from_secs(100))
        .clock_skew(std::time::Duration::from_secs(0))
        .build()
        .unwrap();
    let expired = value_of(&short, &session(4), NOW, [4; 24]);
    let valid = value_of(&codec, &session(5), NOW, [5; 24]);
    let opened = short
        .decode_at::<Value>(&format!("sid={expired}; sid={valid}"), NOW + 200)
        .unwrap();
    assert_eq!(opened.session, session(5));
    // When nothing opens, the authenticated-but-expired reason is reported.
    let err = short
        .decode_at::<Value>(&format!("sid=forged; sid={expired}"), NOW + 200)
        .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
}

#[test]
fn duplicate_chunk_cookies_are_tried_too() {
    let (codec, a, b) = two_chunked_sessions();
    // A planted s.1 before the real one.
    let header = format!(
        "s={}; s.1={}; s.1={}; s.2={}",
        a["s"], b["s.1"], a["s.1"], a["s.2"]
    );
    assert_eq!(
        codec.decode_at::<Value>(&header, NOW).unwrap().session["who"],
        "a"
    );
    // A complete planted chunked session next to the real one.
    let header = format!(
        "s={}; s.1={}; s.2={}; s={}; s.1={}; s.2={}",
        b["s"], b["s.1"], b["s.2"], a["s"], a["s.1"], a["s.2"]
    );
    // Both open (same issued-at): the k-th head pairs with the k-th chunks,
    // and the tie goes to the first in the header.
    let opened = codec.decode_at::<Value>(&header, NOW).unwrap();
    assert_eq!(opened.session["who"], "b");
    // A later real session wins whatever the order.
    let mut later = BTreeMap::new();
    let payload = json!({ "who": "later", "data": "0123456789".repeat(15) });
    apply(
        &mut later,
        &codec.encode_at(&payload, NOW + 5, [5; 24]).unwrap(),
    );
    let header = format!(
        "s={}; s.1={}; s.2={}; s={}; s.1={}; s.2={}",
        later["s"], later["s.1"], later["s.2"], b["s"], b["s.1"], b["s.2"]
    );
    let opened = codec.decode_at::<Value>(&header, NOW + 5).unwrap();
    assert_eq!(opened.session["who"], "later");
    let header = format!(
        "s={}; s.1={}; s.2={}; s={}; s.1={}; s.2={}",
        b["s"], b["s.1"], b["s.2"], later["s"], later["s.1"], later["s.2"]
    );
    let opened = codec.decode_at::<Value>(&header, NOW + 5).unwrap();
    assert_eq!(opened.session["who"], "later");
}

#[test]
fn candidates_are_bounded() {
    let codec = builder("sid").build().unwrap();
    let real = value_of(&codec, &session(1), NOW, NONCE);
    let forged = "sid=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; ";
    let within = format!(
        "{}sid={real}",
        forged.repeat(sealed_session::MAX_CANDIDATES - 1)
    );
    assert!(codec.decode_at::<Value>(&within, NOW).is_ok());
    let beyond = format!(
        "{}sid={real}",
        forged.repeat(sealed_session::MAX_CANDIDATES)
    );
    assert!(codec.decode_at::<Value>(&beyond, NOW).is_err());
}

#[test]
fn hostile_one_megabyte_headers() {
    const MB: usize = 1 << 20;
    let codec = chunking(4);
    let real = value_of(
        &builder("session").max_chunks(4).build().unwrap(),
        &session(1),
        NOW,
        NONCE,
    );

    // One enormous value: refused by its length, before base64 decoding.
    let header = format!("session={}", "A".repeat(MB));
    assert!(matches!(
        codec.decode_at::<Value>(&header, NOW),
        Err(Error::TooLarge { .. })
    ));
    // Enormous chunks: refused before they are concatenated.
    let header = format!(
        "session=4.AAAA; session.1={0}; session.2={0}; session.3={0}",
        "A".repeat(MB / 3)
    );
    assert!(matches!(
        codec.decode_at::<Value>(&header, NOW),
        Err(Error::TooLarge { .. })
    ));
    // A megabyte of unrelated and malformed cookies around the real one.
    let noise = "a=b; ;;==; x; \"q\"=\"; ".repeat(MB / 22);
    let header = format!("{noise}session={real}; {noise}");
    assert!(header.len() > MB, "{}", header.len());
    assert_eq!(
        codec.decode_at::<Value>(&header, NOW).unwrap().session,
        session(1)
    );
    // A megabyte of same-name cookies and chunk names: bounded work, no
    // session.
    let header = "session=3.AAAA; session.1=AAAA; session.2=; ".repeat(MB / 44);
    assert!(codec.decode_at::<Value>(&header, NOW).is_err());
    // Only separators, only spaces, one name without value.
    for header in [
        ";".repeat(MB),
        " ".repeat(MB),
        "=".repeat(MB),
        format!("session{}", "=".repeat(MB)),
    ] {
        assert!(codec.decode_at::<Value>(&header, NOW).is_err());
    }
}

#[test]
fn signed_only_mode_uses_the_same_cookie_layer() {
    let codec = builder("prefs")
        .mode(Mode::SignedOnly)
        .http_only(false)
        .build()
        .unwrap();
    let cookies = codec.encode_at(&session(9), NOW, NONCE).unwrap();
    assert!(!first(&cookies).contains("HttpOnly"));
    let opened = codec
        .decode_at::<Value>(&request_header(&cookies), NOW)
        .unwrap();
    assert_eq!(opened.session, session(9));
    assert_eq!(format!("{cookies:?}"), "SetCookies { len: 1, .. }");
}

#[test]
fn dynamic_sessions_and_session_helper() {
    let codec = builder("sid").build().unwrap();
    let mut s = DynamicSession::new();
    s.insert("user".into(), json!(42));
    let cookies = codec.encode(&s).unwrap();
    let header = request_header(&cookies);
    assert_eq!(codec.session::<DynamicSession>(&header).unwrap().session, s);
    assert!(codec.session::<DynamicSession>("other=1").is_none());
}

// ------------------------------------------------------ header bytes, fields

#[test]
fn a_non_ascii_neighbour_cookie_does_not_hide_the_session() {
    let codec = builder("sid").build().unwrap();
    let value = value_of(&codec, &session(7), NOW, NONCE);
    let real = format!("sid={value}");
    let utf8 = "pref=café".as_bytes().to_vec();
    let latin1 = b"pref=caf\xE9".to_vec();
    let non_ascii_name = "café=1".as_bytes().to_vec();
    for neighbour in [&utf8, &latin1, &non_ascii_name] {
        for header in [
            [neighbour.as_slice(), b"; ", real.as_bytes()].concat(),
            [real.as_bytes(), b"; ", neighbour.as_slice()].concat(),
            [
                b"a=1;",
                neighbour.as_slice(),
                b";",
                real.as_bytes(),
                b";z=\xFF",
            ]
            .concat(),
        ] {
            let shown = String::from_utf8_lossy(&header);
            let opened = codec.decode_bytes_at::<Value>(&header, NOW).unwrap();
            assert_eq!(opened.session, session(7), "{shown}");
        }
    }
    // The same at the current time.
    let now = pair(first(&codec.encode(&session(8)).unwrap())).to_owned();
    let header = [latin1.as_slice(), b"; ", now.as_bytes()].concat();
    assert_eq!(
        codec.session_bytes::<Value>(&header).unwrap().session,
        session(8)
    );
    assert_eq!(
        codec.decode_bytes::<Value>(&header).unwrap().session,
        session(8)
    );
    // Latin-1 is not even UTF-8: there is no `&str` of this header at all,
    // which is why a server must not convert it to text first.
    let header = [latin1.as_slice(), b"; ", real.as_bytes()].concat();
    assert!(std::str::from_utf8(&header).is_err());
    // The text API parses the same way.
    let text = format!("pref=café; {real}; note=naïve");
    assert_eq!(
        codec.decode_at::<Value>(&text, NOW).unwrap().session,
        session(7)
    );
    // Non-ASCII values under the session's own name cannot be the codec's:
    // skipped, they take no candidate's place, so even more of them than
    // MAX_CANDIDATES do not hide the real one.
    let mut header = b"sid=caf\xE9; ".repeat(sealed_session::MAX_CANDIDATES + 2);
    header.extend_from_slice(real.as_bytes());
    assert_eq!(
        codec
            .decode_bytes_at::<Value>(&header, NOW)
            .unwrap()
            .session,
        session(7)
    );
    assert_eq!(
        codec
            .decode_bytes_at::<Value>(b"sid=caf\xE9; sid=\xC3\xA9", NOW)
            .unwrap_err(),
        Error::NoCookie
    );
    assert_eq!(
        codec
            .decode_bytes_at::<Value>(b"sid=AAAA", NOW)
            .unwrap_err(),
        codec.decode_at::<Value>("sid=AAAA", NOW).unwrap_err()
    );
}

#[test]
fn a_session_split_over_several_header_fields_opens() {
    let (codec, a, _) = two_chunked_sessions();
    let fields: Vec<Vec<u8>> = vec![
        format!("s.2={}", a["s.2"]).into_bytes(),
        b"pref=caf\xE9".to_vec(),
        format!("s={}", a["s"]).into_bytes(),
        format!("x=1; s.1={}", a["s.1"]).into_bytes(),
    ];
    let opened = codec.decode_fields_at::<Value>(&fields, NOW).unwrap();
    assert_eq!(opened.session["who"], "a");
    // As `&[u8]` slices, and as text.
    let slices: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    assert!(codec.decode_fields_at::<Value>(slices, NOW).is_ok());
    let text = [
        format!("s={}", a["s"]),
        format!("s.1={}", a["s.1"]),
        format!("s.2={}", a["s.2"]),
    ];
    assert_eq!(
        codec.decode_fields_at::<Value>(&text, NOW).unwrap().session["who"],
        "a"
    );
    // A chunk missing from every field is missing; no fields, no cookie.
    assert_eq!(
        codec
            .decode_fields_at::<Value>(&text[..2], NOW)
            .unwrap_err(),
        Error::Malformed {
            reason: "a chunk cookie is missing"
        }
    );
    let none: [&str; 0] = [];
    assert_eq!(
        codec.decode_fields_at::<Value>(none, NOW).unwrap_err(),
        Error::NoCookie
    );
    // A cookie does not continue across fields: the value ends with its
    // field.
    let value = &a["s"];
    let (left, right) = value.split_at(value.len() / 2);
    let cut = [format!("s={left}"), right.to_owned()];
    assert!(codec.decode_fields_at::<Value>(&cut, NOW).is_err());
    // At the current time.
    let mut jar = BTreeMap::new();
    apply(
        &mut jar,
        &codec.encode(&json!({ "data": "x".repeat(150) })).unwrap(),
    );
    assert!(jar.len() >= 2, "{jar:?}");
    let fields: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
    assert!(codec.session_fields::<Value>(&fields).is_some());
    assert!(codec.decode_fields::<Value>(fields.iter().rev()).is_ok());
}
