//! The session handle's decision table, without any web framework: what
//! `finish` sends for each thing a handler can do, and what is logged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealed_session::{
    Codec, Error, Key, KeyRing, KeyState, Reseal, ResealPolicy, SessionHandle, SessionSettings,
    SetCookies,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Cart {
    user: Option<String>,
    items: Vec<String>,
}

const SECRET: &str = "hunter2-do-not-log";

fn codec_with(ring: KeyRing) -> Codec {
    Codec::builder("sid")
        .key_ring(ring)
        .max_chunks(3)
        .build()
        .unwrap()
}

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn codec() -> Codec {
    codec_with(KeyRing::from_keys([key(1)]).unwrap())
}

/// `name=value` pairs of the Set-Cookie values, as a Cookie header.
fn header_of(cookies: &SetCookies) -> String {
    cookies
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

fn cookie_for(codec: &Codec, cart: &Cart) -> String {
    header_of(&codec.encode(cart).unwrap())
}

/// The header with one character of the sealed value changed.
fn tamper(header: &str) -> String {
    let mut bytes = header.as_bytes().to_vec();
    let middle = header.find('=').unwrap() + (header.len() - header.find('=').unwrap()) / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn cart() -> Cart {
    Cart {
        user: Some(SECRET.into()),
        items: vec!["tea".into()],
    }
}

fn handle(settings: &SessionSettings, header: &str, navigation: bool) -> SessionHandle<Cart> {
    SessionHandle::from_cookie_header(settings, header, navigation)
}

/// Opens what `finish` sealed.
fn reopen(codec: &Codec, cookies: &SetCookies) -> Cart {
    codec.decode::<Cart>(&header_of(cookies)).unwrap().session
}

#[test]
fn handle_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<SessionHandle<Cart>>();
    assert_send_sync::<SessionSettings>();
}

#[test]
fn never_accessed_decodes_nothing_and_writes_nothing() {
    let settings = SessionSettings::new(codec());
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let handle = SessionHandle::<Cart>::with_loader(&settings, true, move |codec| {
        flag.store(true, Ordering::SeqCst);
        codec.decode("sid=x")
    });
    assert!(handle.finish(None).unwrap().is_none());
    assert!(!handle.is_decoded());
    assert!(!called.load(Ordering::SeqCst), "the cookie was decoded");
}

#[test]
fn read_only_writes_nothing() {
    let codec = codec();
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(codec);
    let handle = handle(&settings, &header, true);
    assert_eq!(handle.get(), Some(cart()));
    assert!(handle.is_decoded());
    assert!(handle.finish(None).unwrap().is_none());
}

#[test]
fn a_change_is_sealed_once() {
    let codec = Arc::new(codec());
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(Arc::clone(&codec));
    let handle = handle(&settings, &header, false);
    handle.update(|c| c.items.push("cake".into()));
    let cookies = handle.finish(None).unwrap().expect("a seal");
    assert_eq!(
        cookies.iter().filter(|c| !c.contains("Max-Age=0")).count(),
        1
    );
    assert_eq!(reopen(&codec, &cookies).items, ["tea", "cake"]);
}

#[test]
fn an_identical_update_or_set_writes_nothing() {
    let codec = codec();
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(codec);

    let handle = handle(&settings, &header, true);
    handle.update(|c| {
        c.items.push("cake".into());
        c.items.pop();
    });
    assert!(handle.finish(None).unwrap().is_none());

    let handle = self::handle(&settings, &header, true);
    handle.set(cart());
    assert!(handle.finish(None).unwrap().is_none());
}

#[test]
fn a_read_then_an_identical_update_writes_nothing() {
    let codec = codec();
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(codec);
    let handle = handle(&settings, &header, true);
    assert_eq!(handle.read(|c| c.map(|c| c.items.len())), Some(1));
    handle.update(|c| c.items.sort());
    assert!(handle.finish(None).unwrap().is_none());
}

#[test]
fn a_change_first_is_compared_with_the_json_the_cookie_carried() {
    // The same cart, written with its fields in another order than serde
    // writes them: an update that changes nothing still seals once, in
    // serde's order (documented on `update`).
    let codec = codec();
    let reordered = serde_json::json!({ "items": ["tea"], "user": null });
    let sealed = codec.encode(&reordered).unwrap();
    let header = header_of(&sealed);
    let settings = SessionSettings::new(codec);
    let first = handle(&settings, &header, true);
    first.update(|c| assert_eq!(c.items, ["tea"]));
    let resealed = first
        .finish(None)
        .unwrap()
        .expect("sealed in serde's order");
    let second = handle(&settings, &header_of(&resealed), true);
    second.update(|c| assert_eq!(c.items, ["tea"]));
    assert!(second.finish(None).unwrap().is_none());
}

#[test]
fn without_a_cookie_an_untouched_default_writes_nothing_but_set_seals() {
    let settings = SessionSettings::new(codec());
    let handle = handle(&settings, "", false);
    handle.update(|c| c.items.clear());
    assert!(handle.finish(None).unwrap().is_none());

    let handle = self::handle(&settings, "", false);
    handle.set(Cart::default());
    assert!(handle.finish(None).unwrap().is_some());
}

#[test]
fn purge_removes_cookie_and_chunks_without_decoding() {
    let settings = SessionSettings::new(
        Codec::builder("sid")
            .key_ring(KeyRing::from_keys([key(1)]).unwrap())
            .domain("example.com")
            .path("/app")
            .max_chunks(3)
            .build()
            .unwrap(),
    );
    let handle = handle(&settings, "sid=cannot-be-opened-here", false);
    handle.purge();
    assert!(!handle.is_decoded(), "purge must not need the cookie");
    let removal = handle.finish(None).unwrap().expect("a removal");
    let removal: Vec<&str> = removal.iter().collect();
    assert_eq!(removal.len(), 3, "{removal:?}");
    for (header, name) in removal.iter().zip(["sid=", "sid.1=", "sid.2="]) {
        assert!(header.starts_with(name), "{header}");
        assert!(header.contains("Path=/app"), "{header}");
        assert!(header.contains("Domain=example.com"), "{header}");
        assert!(header.contains("Max-Age=0"), "{header}");
    }
    assert!(handle.get().is_none());
    assert!(handle.info().is_none());
}

#[test]
fn purge_then_set_seals_the_new_session() {
    let codec = Arc::new(codec());
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(Arc::clone(&codec));
    let handle = handle(&settings, &header, false);
    handle.purge();
    handle.set(Cart::default());
    let cookies = handle.finish(None).unwrap().expect("a seal");
    assert_eq!(reopen(&codec, &cookies), Cart::default());

    // A purge after a change wins.
    let handle = self::handle(&settings, &header, false);
    handle.update(|c| c.items.push("cake".into()));
    handle.purge();
    let removal = handle.finish(None).unwrap().expect("a removal");
    assert!(removal.iter().all(|c| c.contains("Max-Age=0")));
}

#[test]
fn renew_seals_an_unchanged_session_and_nothing_without_one() {
    let codec = Arc::new(codec());
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(Arc::clone(&codec));
    let handle = handle(&settings, &header, false);
    handle.renew();
    let cookies = handle.finish(None).unwrap().expect("a seal");
    assert_ne!(header_of(&cookies), header, "a fresh nonce");
    assert_eq!(reopen(&codec, &cookies), cart());

    let handle = self::handle(&settings, "", false);
    handle.renew();
    assert!(handle.finish(None).unwrap().is_none());
}

/// A cookie sealed under key 1 and a codec where key 2 is primary and key 1
/// only active: the opened session is flagged for a re-seal.
fn rotated(policy: ResealPolicy) -> (Arc<Codec>, SessionSettings, String) {
    let old = codec_with(KeyRing::from_keys([key(1)]).unwrap());
    let header = cookie_for(&old, &cart());
    let ring = KeyRing::builder()
        .key(key(2), KeyState::Primary)
        .key(key(1), KeyState::Active)
        .build()
        .unwrap();
    let codec = Arc::new(codec_with(ring));
    let settings = SessionSettings::new(Arc::clone(&codec)).reseal_policy(policy);
    (codec, settings, header)
}

#[test]
fn an_older_key_is_resealed_under_the_primary() {
    let (codec, settings, header) = rotated(ResealPolicy::Always);
    let handle = handle(&settings, &header, false);
    let info = handle.info().expect("opened");
    assert_eq!(info.reseal, Some(Reseal::NotPrimaryKey));
    assert_ne!(info.key_id, codec.key_ring().primary_id());
    let cookies = handle.finish(None).unwrap().expect("a re-seal");
    let reopened = codec.decode::<Cart>(&header_of(&cookies)).unwrap();
    assert_eq!(reopened.key_id, codec.key_ring().primary_id());
    assert_eq!(reopened.session, cart());
}

#[test]
fn navigations_only_reseals_on_navigations() {
    let (_, settings, header) = rotated(ResealPolicy::NavigationsOnly);
    let background = handle(&settings, &header, false);
    assert!(background.get().is_some());
    assert!(background.finish(None).unwrap().is_none());

    // Also when the handler updated it without changing it.
    let background = handle(&settings, &header, false);
    background.update(|c| c.user = Some(SECRET.into()));
    assert!(background.finish(None).unwrap().is_none());

    let navigation = handle(&settings, &header, true);
    assert!(navigation.get().is_some());
    assert!(navigation.finish(None).unwrap().is_some());

    // A change is sealed on any request.
    let background = handle(&settings, &header, false);
    background.update(|c| c.items.clear());
    assert!(background.finish(None).unwrap().is_some());
}

#[test]
fn a_sliding_refresh_is_resealed() {
    let codec = codec();
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 80_000;
    let header = header_of(&codec.encode_at(&cart(), long_ago, [9; 24]).unwrap());
    let settings = SessionSettings::new(codec);
    let handle = handle(&settings, &header, false);
    assert_eq!(handle.info().unwrap().reseal, Some(Reseal::Refresh));
    assert!(handle.finish(None).unwrap().is_some());
}

#[test]
fn invalid_cookies_are_no_session_and_cleared_only_when_safe() {
    let codec = codec();
    let valid = cookie_for(&codec, &cart());
    let forged = tamper(&valid);
    let foreign = cookie_for(&codec_with(KeyRing::from_keys([key(7)]).unwrap()), &cart());

    let keep = SessionSettings::new(codec);
    let handle = handle(&keep, &forged, true);
    assert!(handle.get().is_none());
    assert!(handle.finish(None).unwrap().is_none(), "clearing is off");

    let clear = keep.clone().clear_invalid_cookies(true);
    let handle = self::handle(&clear, &forged, true);
    assert!(handle.get().is_none());
    let removal = handle.finish(None).unwrap().expect("a removal");
    assert!(removal.iter().all(|c| c.contains("Max-Age=0")));

    // Unknown key: maybe a server that is ahead in a rotation.
    let handle = self::handle(&clear, &foreign, true);
    assert!(handle.get().is_none());
    assert!(handle.finish(None).unwrap().is_none());

    // Hostile headers: still no session, no panic.
    let many = (0..1000)
        .map(|i| format!("c{i}=v"))
        .collect::<Vec<_>>()
        .join("; ");
    for header in [
        "sid=",
        "sid",
        "sid=a; sid=b; sid=c; sid=d; sid=e; sid=f; sid=g; sid=h; sid=i; sid=j",
        "sid=2.abc",
        "sid=3.abc; sid.1=x",
        many.as_str(),
    ] {
        let handle = self::handle(&keep, header, true);
        assert!(handle.get().is_none(), "{header}");
        assert!(handle.finish(None).unwrap().is_none(), "{header}");
    }
    // Truncated value.
    let truncated = &valid[..valid.len() - 10];
    assert!(self::handle(&keep, truncated, true).get().is_none());
}

#[test]
fn a_failed_response_writes_only_a_purge() {
    let settings = SessionSettings::new(codec());
    let handle = handle(&settings, "", false);
    handle.set(cart());
    assert!(handle.finish_failed(None).unwrap().is_none());
    handle.purge();
    assert!(handle.finish_failed(None).unwrap().is_some());
}

#[test]
fn an_oversized_session_is_an_error_naming_size_and_limit() {
    let settings = SessionSettings::new(
        Codec::builder("sid")
            .key_ring(KeyRing::from_keys([key(1)]).unwrap())
            .compression(sealed_session::Compression::Off)
            .build()
            .unwrap(),
    );
    let handle = handle(&settings, "", false);
    handle.update(|c| c.items = (0..400).map(|i| format!("item-{i}")).collect());
    let err = handle.finish(None).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("limit"), "{text}");
    assert!(!text.contains("item-1"), "{text}");
}

#[test]
fn debug_output_redacts_the_session() {
    let codec = codec();
    let header = cookie_for(&codec, &cart());
    let settings = SessionSettings::new(codec);
    let handle = handle(&settings, &header, false);
    assert!(handle.get().is_some());
    let debug = format!("{handle:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[test]
fn a_domain_rule_needs_the_host() {
    let settings = SessionSettings::new(
        Codec::builder("sid")
            .key_ring(KeyRing::from_keys([key(1)]).unwrap())
            .domain_rule(sealed_session::DomainRule::RegistrableDomain)
            .build()
            .unwrap(),
    );
    let handle = handle(&settings, "", false);
    handle.purge();
    assert!(matches!(handle.finish(None), Err(Error::Config { .. })));
    let removal = handle.finish(Some("a.example.com")).unwrap().unwrap();
    assert!(removal
        .iter()
        .next()
        .unwrap()
        .contains("Domain=example.com"));
}

/// Captures log lines (this test binary's only logger).
struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("sealed_session") {
            self.0
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture(Mutex::new(Vec::new()));

fn logged(needle: &str) -> Vec<(log::Level, String)> {
    LOG.0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, line)| line.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn logs_help_operators_without_content() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Trace);

    // A session type changed in a deploy: authenticated, but not a `Cart`.
    #[derive(Serialize)]
    struct OldCart {
        items: String,
    }
    let codec = Codec::builder("typed")
        .key_ring(KeyRing::from_keys([key(1)]).unwrap())
        .build()
        .unwrap();
    let header = header_of(
        &codec
            .encode(&OldCart {
                items: SECRET.into(),
            })
            .unwrap(),
    );
    let settings = SessionSettings::new(codec).warn_interval(Duration::from_secs(3600));
    for _ in 0..3 {
        assert!(handle(&settings, &header, false).get().is_none());
    }
    let warnings = logged("\"typed\"");
    assert_eq!(warnings.len(), 1, "rate-limited: {warnings:?}");
    let (level, line) = &warnings[0];
    assert_eq!(*level, log::Level::Warn);
    assert!(line.contains("does not deserialize"), "{line}");
    assert!(line.contains("Cart"), "{line}");
    assert!(!line.contains(SECRET), "{line}");

    // The next one after the interval counts the suppressed ones.
    let settings = settings.warn_interval(Duration::ZERO);
    assert!(handle(&settings, &header, false).get().is_none());
    assert!(handle(&settings, &header, false).get().is_none());
    assert_eq!(logged("\"typed\"").len(), 3);

    // An unknown key: a warning; a forgery: debug.
    let other = Codec::builder("keyed")
        .key_ring(KeyRing::from_keys([key(5)]).unwrap())
        .build()
        .unwrap();
    let foreign = header_of(&other.encode(&cart()).unwrap());
    let ours = Codec::builder("keyed")
        .key_ring(KeyRing::from_keys([key(1)]).unwrap())
        .build()
        .unwrap();
    let forged = tamper(&header_of(&ours.encode(&cart()).unwrap()));
    let settings = SessionSettings::new(ours);
    assert!(handle(&settings, &foreign, false).get().is_none());
    assert!(handle(&settings, &forged, false).get().is_none());
    let lines = logged("\"keyed\"");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, log::Level::Warn);
    assert!(lines[0].1.contains("not in the key ring"), "{}", lines[0].1);
    assert_eq!(lines[1].0, log::Level::Debug);
    assert!(lines.iter().all(|(_, line)| !line.contains(SECRET)));
}
