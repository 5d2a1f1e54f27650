//! Renewing a device-bound session through the session handle. `renew()`
//! is what a handler calls on a privilege change; on a bound session it
//! must not hand out a plain bearer cookie: a thief holding copies of the
//! session and bound cookies could otherwise reach such a route within the
//! bound lifetime and leave with a session that opens without the device
//! for the rest of the absolute lifetime. The handle reads the system
//! clock, so these tests run at the real time.
#![cfg(feature = "dbsc")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealed_session::{
    Codec, DbscRequest, DbscResponse, DeviceBinding, DynamicSession, Error, Key, KeyRing, Lineage,
    SessionHandle, SessionSettings,
};

#[path = "common/dbsc_device.rs"]
mod dbsc_device;
use dbsc_device::Device;

const BOUND_LIFETIME: u64 = 60;

fn codec() -> Codec {
    Codec::builder("sid")
        .key_ring(Arc::new(
            KeyRing::from_keys([Key::from_bytes([7; 32])]).unwrap(),
        ))
        .device_binding(DeviceBinding::new().bound_lifetime(Duration::from_secs(BOUND_LIFETIME)))
        .build()
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn pair(line: &str) -> String {
    line.split(';').next().unwrap().to_owned()
}

fn set_cookie<'r>(response: &'r DbscResponse, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .find(|(n, v)| *n == "set-cookie" && v.starts_with(&format!("{name}=")))
        .map(|(_, v)| v.as_str())
}

fn challenge_of(response: &DbscResponse) -> String {
    let (_, value) = response
        .headers
        .iter()
        .find(|(n, _)| *n == "secure-session-challenge")
        .unwrap();
    value.split('"').nth(1).unwrap().to_owned()
}

fn nonces() -> impl FnMut() -> sealed_session::Result<[u8; 24]> {
    let mut n = 10u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; 24])
    }
}

/// Alice signs in, her browser registers `device` and refreshes once: the
/// session cookie (marked bound), the bound cookie and the refresh cookie.
struct Bound {
    session: String,
    bound: String,
    refresh: String,
    id: String,
}

fn bound_session(codec: &Codec, device: &Device, at: u64) -> Bound {
    let session = pair(
        &codec
            .encode_with_at(
                &DynamicSession::new(),
                &Lineage::new_for("alice"),
                None,
                at,
                [1; 24],
            )
            .unwrap()
            .into_iter()
            .next()
            .unwrap(),
    );
    let identity = codec
        .decode_at::<DynamicSession>(&session, at)
        .unwrap()
        .identity
        .unwrap();
    let header = codec
        .dbsc_registration_header_at(&identity, None, at, [2; 24])
        .unwrap();
    let challenge = header.split("challenge=\"").nth(1).unwrap();
    let challenge = challenge.split('"').next().unwrap();
    let mut nonces = nonces();
    let registered = codec.dbsc_register_at(
        &DbscRequest {
            cookie_header: session.as_bytes(),
            proof: Some(&device.registration_proof(challenge)),
            ..Default::default()
        },
        at,
        &mut nonces,
    );
    assert_eq!(registered.status, 200, "{registered:?}");
    let refresh = pair(set_cookie(&registered, "sid-refresh").unwrap());
    let id = identity.session_id.to_string();
    let jar = format!("{session}; {refresh}");
    let asked = codec.dbsc_refresh_at(
        &DbscRequest {
            cookie_header: jar.as_bytes(),
            session_id: Some(&id),
            ..Default::default()
        },
        at,
        &mut nonces,
    );
    let refreshed = codec.dbsc_refresh_at(
        &DbscRequest {
            cookie_header: jar.as_bytes(),
            session_id: Some(&id),
            proof: Some(&device.refresh_proof(&challenge_of(&asked))),
            ..Default::default()
        },
        at,
        &mut nonces,
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    Bound {
        session: pair(set_cookie(&refreshed, "sid").unwrap()),
        bound: pair(set_cookie(&refreshed, "sid-bound").unwrap()),
        refresh,
        id,
    }
}

/// Runs a handler that calls `renew` (or `renew_for`) on the request's
/// cookies; returns the renewed session cookie.
fn renewed_by_handler(settings: &SessionSettings, cookies: &str, subject: Option<&str>) -> String {
    let handle = SessionHandle::<DynamicSession>::from_cookie_header(settings, cookies, true);
    assert!(handle.identity().unwrap().bound);
    match subject {
        Some(subject) => handle.renew_for(subject),
        None => handle.renew(),
    }
    let sealed = handle.finish(None).unwrap().unwrap();
    pair(sealed.iter().find(|c| c.starts_with("sid=")).unwrap())
}

#[test]
fn renewing_a_bound_session_keeps_it_bound() {
    let at = now();
    let settings = SessionSettings::new(codec());
    let alice = bound_session(settings.codec(), &Device::new(1), at);
    // A thief with copies of both cookies reaches a route that renews.
    let stolen = format!("{}; {}", alice.session, alice.bound);
    let renewed = renewed_by_handler(&settings, &stolen, None);
    let opened = settings
        .codec()
        .decode_at::<DynamicSession>(&format!("{renewed}; {}", alice.bound), at)
        .unwrap();
    let identity = opened.identity.unwrap();
    assert!(identity.bound, "the renewal dropped the binding");
    assert_eq!(identity.session_id.to_string(), alice.id);
    assert_eq!(identity.subject.as_deref(), Some("alice"));
    // Once the bound cookie has expired, the renewed value opens for no one
    // without the device.
    let later = at + BOUND_LIFETIME + 120;
    assert_eq!(
        settings
            .codec()
            .decode_at::<DynamicSession>(&renewed, later)
            .err(),
        Some(Error::Unbound),
        "the renewed session opens without a bound cookie"
    );
    // renew_for with the same subject is the same renewal.
    let renewed = renewed_by_handler(&settings, &stolen, Some("alice"));
    assert_eq!(
        settings
            .codec()
            .decode_at::<DynamicSession>(&renewed, later)
            .err(),
        Some(Error::Unbound)
    );
}

#[test]
fn the_device_keeps_refreshing_a_renewed_bound_session() {
    let at = now();
    let settings = SessionSettings::new(codec());
    let device = Device::new(2);
    let alice = bound_session(settings.codec(), &device, at);
    let renewed = renewed_by_handler(
        &settings,
        &format!("{}; {}", alice.session, alice.bound),
        None,
    );
    // The browser refreshes the session it registered; the new bound
    // cookie opens the renewed value.
    let later = at + BOUND_LIFETIME + 120;
    let jar = format!("{renewed}; {}", alice.refresh);
    let mut nonces = nonces();
    let asked = settings.codec().dbsc_refresh_at(
        &DbscRequest {
            cookie_header: jar.as_bytes(),
            session_id: Some(&alice.id),
            ..Default::default()
        },
        later,
        &mut nonces,
    );
    let refreshed = settings.codec().dbsc_refresh_at(
        &DbscRequest {
            cookie_header: jar.as_bytes(),
            session_id: Some(&alice.id),
            proof: Some(&device.refresh_proof(&challenge_of(&asked))),
            ..Default::default()
        },
        later,
        &mut nonces,
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let bound = pair(set_cookie(&refreshed, "sid-bound").unwrap());
    let opened = settings
        .codec()
        .decode_at::<DynamicSession>(&format!("{renewed}; {bound}"), later)
        .unwrap();
    assert!(opened.identity.unwrap().bound);
}

#[test]
fn another_user_signing_in_on_a_bound_browser_starts_a_new_session() {
    let at = now();
    let settings = SessionSettings::new(codec());
    let alice = bound_session(settings.codec(), &Device::new(3), at);
    let bob = renewed_by_handler(
        &settings,
        &format!("{}; {}", alice.session, alice.bound),
        Some("bob"),
    );
    let identity = settings
        .codec()
        .decode_at::<DynamicSession>(&bob, at)
        .unwrap()
        .identity
        .unwrap();
    assert_eq!(identity.subject.as_deref(), Some("bob"));
    assert_ne!(identity.session_id.to_string(), alice.id);
    assert!(!identity.bound, "bob's session is not alice's binding");
}
