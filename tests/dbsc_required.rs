//! Required device binding (`DeviceBinding::required_after`): a copy of a
//! session taken before its first refresh marked it bound (the sign-in
//! response's cookie) opens without a bound cookie only within the grace
//! after the session's creation, sliding re-seals included; the bound
//! session with its bound cookie keeps opening; a DBSC browser whose first
//! refresh comes late still gets its session bound; a session without an
//! identity never opens; a codec without `required_after` keeps today's
//! behaviour; the grace is checked at build time; and the axum layer
//! enforces it (every adapter opens the request through the same
//! `Codec::decode_fields_at`).
#![cfg(feature = "dbsc")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealed_session::{
    Codec, DbscRequest, DbscResponse, DeviceBinding, DynamicSession, Error, Key, KeyRing, Lineage,
    SessionHandle, SessionSettings,
};
use serde_json::{json, Value};

#[path = "common/dbsc_device.rs"]
mod dbsc_device;
use dbsc_device::Device;
#[path = "common/dbsc_jar.rs"]
mod dbsc_jar;
use dbsc_jar::{set_cookies, Jar};

const T0: u64 = 1_800_000_000;
const BOUND: u64 = 60;
const CHALLENGE: u64 = 30;
const GRACE: u64 = 45;

fn ring() -> Arc<KeyRing> {
    Arc::new(KeyRing::from_keys([Key::from_bytes([9; 32])]).unwrap())
}

fn binding() -> DeviceBinding {
    DeviceBinding::new()
        .bound_lifetime(Duration::from_secs(BOUND))
        .challenge_lifetime(Duration::from_secs(CHALLENGE))
}

/// The same ring and lifetimes, binding required after `GRACE` or optional.
fn codec(required: bool) -> Codec {
    let binding = if required {
        binding().required_after(Duration::from_secs(GRACE))
    } else {
        binding()
    };
    Codec::builder("sid")
        .key_ring(ring())
        .device_binding(binding)
        .build()
        .unwrap()
}

/// Cookie jar: name -> value from Set-Cookie lines.
fn nonces() -> impl FnMut() -> sealed_session::Result<[u8; 24]> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; 24])
    }
}

/// The sign-in response's cookie for alice at T0, and its registration
/// challenge.
fn sign_in(codec: &Codec) -> (Jar, String) {
    let mut session = DynamicSession::new();
    session.insert("user".into(), json!("alice"));
    let cookies = codec
        .encode_with_at(&session, &Lineage::new_for("alice"), None, T0, [200; 24])
        .unwrap();
    let mut jar = Jar::default();
    jar.take(cookies);
    let identity = codec
        .decode_at::<DynamicSession>(&jar.header(), T0)
        .unwrap()
        .identity
        .unwrap();
    let header = codec
        .dbsc_registration_header_at(&identity, None, T0, [10; 24])
        .unwrap();
    let challenge = header.split("challenge=\"").nth(1).unwrap();
    (jar, challenge.split('"').next().unwrap().to_owned())
}

fn post(
    codec: &Codec,
    jar: &Jar,
    proof: Option<&str>,
    session_id: Option<&str>,
    now: u64,
) -> DbscResponse {
    let cookie_header = jar.header();
    let request = DbscRequest {
        cookie_header: cookie_header.as_bytes(),
        proof,
        session_id,
        ..Default::default()
    };
    if session_id.is_some() {
        codec.dbsc_refresh_at(&request, now, &mut nonces())
    } else {
        codec.dbsc_register_at(&request, now, &mut nonces())
    }
}

/// Registers `device` at T0 and answers the first refresh at `refresh_at`:
/// the browser's jar (session marked bound, bound and refresh cookies).
fn bind(codec: &Codec, jar: &Jar, challenge: &str, device: &Device, refresh_at: u64) -> Jar {
    let mut jar = jar.clone();
    let response = post(
        codec,
        &jar,
        Some(&device.registration_proof(challenge)),
        None,
        T0,
    );
    assert_eq!(response.status, 200, "{response:?}");
    jar.take(set_cookies(&response));
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let id = body["session_identifier"].as_str().unwrap().to_owned();
    let asked = post(codec, &jar, None, Some(&id), refresh_at);
    assert_eq!(asked.status, 403, "{asked:?}");
    let (_, value) = asked
        .headers
        .iter()
        .find(|(n, _)| *n == "secure-session-challenge")
        .unwrap();
    let challenge = value.split('"').nth(1).unwrap();
    let response = post(
        codec,
        &jar,
        Some(&device.refresh_proof(challenge)),
        Some(&id),
        refresh_at,
    );
    assert_eq!(response.status, 200, "{response:?}");
    jar.take(set_cookies(&response));
    jar
}

fn opened(codec: &Codec, header: &str, now: u64) -> Result<(String, bool), Error> {
    codec.decode_at::<DynamicSession>(header, now).map(|o| {
        (
            o.session["user"].as_str().unwrap().to_owned(),
            o.identity.is_some_and(|i| i.bound),
        )
    })
}

fn refused_after_grace(now: u64) -> Error {
    Error::BindingRequired {
        created_at: Some(T0),
        grace_secs: GRACE,
        now,
    }
}

#[test]
fn an_unbound_copy_opens_inside_the_grace_and_is_refused_after_it() {
    let codec = codec(true);
    let (copy, challenge) = sign_in(&codec);
    let browser = bind(&codec, &copy, &challenge, &Device::new(1), T0 + 1);
    let copy = copy.header();

    // The copy taken from the sign-in response, before the first refresh.
    assert_eq!(
        opened(&codec, &copy, T0 + GRACE - 1),
        Ok(("alice".to_owned(), false))
    );
    assert_eq!(
        opened(&codec, &copy, T0 + GRACE),
        Err(refused_after_grace(T0 + GRACE))
    );
    assert!(codec
        .session_bytes::<DynamicSession>(copy.as_bytes())
        .is_none());

    // A sliding re-seal inside the grace keeps the creation time, so the
    // re-sealed copy ends at the same moment.
    let inside = codec
        .decode_at::<DynamicSession>(&copy, T0 + GRACE - 5)
        .unwrap();
    let resealed = codec
        .encode_with_at(
            &inside.session,
            &inside.lineage(),
            None,
            T0 + GRACE - 5,
            [3; 24],
        )
        .unwrap();
    let mut resealed_jar = Jar::default();
    resealed_jar.take(resealed);
    let resealed = resealed_jar.header();
    assert!(opened(&codec, &resealed, T0 + GRACE - 1).is_ok());
    assert_eq!(
        opened(&codec, &resealed, T0 + GRACE + 600),
        Err(refused_after_grace(T0 + GRACE + 600))
    );

    // The browser's bound session, with its bound cookie, still opens
    // after the grace; without the bound cookie it is the usual Unbound.
    let header = browser.header();
    assert_eq!(
        opened(&codec, &header, T0 + GRACE + 5),
        Ok(("alice".to_owned(), true))
    );
    let without_bound = Jar(browser
        .0
        .iter()
        .filter(|(n, _)| n != "sid-bound")
        .cloned()
        .collect());
    assert_eq!(
        opened(&codec, &without_bound.header(), T0 + GRACE + 5),
        Err(Error::Unbound)
    );

    // The copy together with the browser's valid bound cookie opens (it
    // is the session the bound cookie names, within the bound lifetime).
    let bound_cookie = browser.0.iter().find(|(n, _)| n == "sid-bound").unwrap();
    let with_bound = format!("{copy}; sid-bound={}", bound_cookie.1);
    assert_eq!(
        opened(&codec, &with_bound, T0 + GRACE + 5),
        Ok(("alice".to_owned(), true))
    );
}

#[test]
fn a_codec_without_required_binding_keeps_the_unbound_copy_open() {
    let codec = codec(false);
    assert_eq!(codec.device_binding().unwrap().required_grace(), None);
    let (copy, challenge) = sign_in(&codec);
    let _browser = bind(&codec, &copy, &challenge, &Device::new(2), T0 + 1);
    assert_eq!(
        opened(&codec, &copy.header(), T0 + 3 * 3600),
        Ok(("alice".to_owned(), false))
    );
    // The same value under the required codec (same ring): refused.
    assert_eq!(
        opened(&self::codec(true), &copy.header(), T0 + 3 * 3600),
        Err(refused_after_grace(T0 + 3 * 3600))
    );
}

#[test]
fn a_late_first_refresh_still_binds_the_browsers_session() {
    // A DBSC browser that registered at sign-in and stayed idle past the
    // grace: its first refresh opens the unbound value and marks it bound.
    let codec = codec(true);
    let (jar, challenge) = sign_in(&codec);
    let late = T0 + GRACE + 300;
    let browser = bind(&codec, &jar, &challenge, &Device::new(3), late);
    assert_eq!(
        opened(&codec, &browser.header(), late + 1),
        Ok(("alice".to_owned(), true))
    );
}

#[test]
fn a_session_without_identity_never_opens_when_binding_is_required() {
    let sealer = Codec::builder("sid")
        .key_ring(ring())
        .write_identity(false)
        .build()
        .unwrap();
    let cookies = sealer
        .encode_at(&DynamicSession::new(), T0, [4; 24])
        .unwrap();
    let mut jar = Jar::default();
    jar.take(cookies);
    let header = jar.header();
    assert!(codec(false)
        .decode_at::<DynamicSession>(&header, T0 + 1)
        .is_ok());
    let err = codec(true)
        .decode_at::<DynamicSession>(&header, T0 + 1)
        .unwrap_err();
    assert_eq!(
        err,
        Error::BindingRequired {
            created_at: None,
            grace_secs: GRACE,
            now: T0 + 1
        }
    );
    assert!(err.is_invalid_cookie());
    assert!(err.to_string().contains("without an identity"), "{err}");
}

#[test]
fn the_grace_must_lie_between_the_challenge_lifetime_and_the_max_lifetime() {
    let build = |grace: u64| {
        Codec::builder("sid")
            .key_ring(ring())
            .max_age(Duration::from_secs(1800))
            .max_lifetime(Duration::from_secs(3600))
            .device_binding(binding().required_after(Duration::from_secs(grace)))
            .build()
    };
    for grace in [0, CHALLENGE - 1, 3601, 86_400] {
        let Err(Error::Config { message }) = build(grace) else {
            panic!("grace {grace} s accepted");
        };
        assert!(message.contains("required_after"), "{message}");
        assert!(message.contains(&format!("({grace} s)")), "{message}");
        assert!(
            message.contains(&format!("challenge_lifetime ({CHALLENGE} s)")),
            "{message}"
        );
        assert!(message.contains("max_lifetime (3600 s)"), "{message}");
    }
    for grace in [CHALLENGE, 600, 3600] {
        let codec = build(grace).unwrap();
        assert_eq!(
            codec.device_binding().unwrap().required_grace(),
            Some(Duration::from_secs(grace))
        );
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A session for alice created `age` seconds ago (unbound), as a Cookie
/// header.
fn created_ago(codec: &Codec, age: u64) -> String {
    let mut session = DynamicSession::new();
    session.insert("user".into(), json!("alice"));
    let cookies = codec
        .encode_with_at(
            &session,
            &Lineage::new_for("alice"),
            None,
            unix_now() - age,
            [5; 24],
        )
        .unwrap();
    let mut jar = Jar::default();
    jar.take(cookies);
    jar.header()
}

#[test]
fn the_session_handle_enforces_the_grace() {
    for (required, age, expected) in [
        (true, 5, Some("alice")),
        (true, GRACE + 60, None),
        (false, GRACE + 60, Some("alice")),
    ] {
        let codec = codec(required);
        let header = created_ago(&codec, age);
        let settings = SessionSettings::new(codec);
        let handle = SessionHandle::<DynamicSession>::from_cookie_header(&settings, &header, true);
        let user = handle.read(|s| s.map(|s| s["user"].as_str().unwrap().to_owned()));
        assert_eq!(
            user.as_deref(),
            expected,
            "required {required}, age {age} s"
        );
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_axum_layer_enforces_the_grace() {
    use axum::routing::get;
    use axum::Router;
    use sealed_session::{SealedSession, SealedSessionLayer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn whoami(codec: Codec, cookie: &str) -> String {
        let app = Router::new()
            .route(
                "/me",
                get(|session: SealedSession<DynamicSession>| async move {
                    session.read(|s| {
                        s.and_then(|s| s["user"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| "nobody".to_owned())
                    })
                }),
            )
            .layer(SealedSessionLayer::<DynamicSession>::new(codec));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /me HTTP/1.1\r\nHost: shop.test\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        server.abort();
        reply.rsplit("\r\n\r\n").next().unwrap().to_owned()
    }

    let old = created_ago(&codec(true), GRACE + 60);
    assert_eq!(whoami(codec(true), &old).await, "nobody");
    assert_eq!(whoami(codec(false), &old).await, "alice");
    let young = created_ago(&codec(true), 5);
    assert_eq!(whoami(codec(true), &young).await, "alice");
}

#[test]
fn device_binding_needs_a_codec_that_writes_identities() {
    let without_identity = Codec::builder("sid")
        .key_ring(ring())
        .write_identity(false)
        .device_binding(binding().required_after(Duration::from_secs(600)))
        .build();
    let signed_only = Codec::builder("sid")
        .key_ring(ring())
        .mode(sealed_session::Mode::SignedOnly)
        .device_binding(DeviceBinding::new())
        .build();
    for built in [without_identity, signed_only] {
        let Err(Error::Config { message }) = built else {
            panic!("a codec that can never bind a session was built");
        };
        assert!(message.contains("device_binding"), "{message}");
        assert!(message.contains("write_identity(false)"), "{message}");
    }
}
