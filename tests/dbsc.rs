//! Device-bound sessions (DBSC), end to end through the public API, with a
//! software device key standing in for the browser's: registration, the
//! bound cookie on every request, refresh with a challenge, and every
//! refusal (wrong algorithm, `none`, wrong type, forged signature, stale or
//! foreign challenge, a proof for another session, a replayed
//! registration), revocation at refresh, and two servers sharing one key
//! ring (registration on one, refresh on the other).
#![cfg(feature = "dbsc")]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sealed_session::{
    Codec, DbscRequest, DbscResponse, DeviceBinding, DynamicSession, Error, Key, KeyRing, KeyState,
    Lineage, ProofRefused, RevocationSet,
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

fn ring() -> Arc<KeyRing> {
    Arc::new(KeyRing::from_keys([Key::from_bytes([7; 32])]).unwrap())
}

fn codec_with(ring: Arc<KeyRing>, revocations: Option<Arc<RevocationSet>>) -> Codec {
    let mut builder = Codec::builder("sid")
        .key_ring(ring)
        .domain("shop.test")
        .device_binding(
            DeviceBinding::new()
                .bound_lifetime(Duration::from_secs(BOUND))
                .challenge_lifetime(Duration::from_secs(30)),
        );
    if let Some(set) = revocations {
        builder = builder.revocations(set);
    }
    builder.build().unwrap()
}

fn codec() -> Codec {
    codec_with(ring(), None)
}

/// A cookie jar: name -> value, updated from Set-Cookie lines (Max-Age=0
/// removes). Paths are ignored; the test sends what the path would allow.
fn header<'r>(response: &'r DbscResponse, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn nonces() -> impl FnMut() -> sealed_session::Result<[u8; 24]> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; 24])
    }
}

/// A signed-in session for "alice": the jar and the registration challenge.
fn sign_in(codec: &Codec, now: u64) -> (Jar, String) {
    let mut session = DynamicSession::new();
    session.insert("user".into(), json!("alice"));
    // A new nonce per sign-in: the session id derives from it.
    static SIGN_INS: AtomicU8 = AtomicU8::new(100);
    let nonce = [SIGN_INS.fetch_add(1, Ordering::Relaxed); 24];
    let cookies = codec
        .encode_with_at(&session, &Lineage::new_for("alice"), None, now, nonce)
        .unwrap();
    let mut jar = Jar::default();
    jar.take(cookies);
    let opened = codec
        .decode_at::<DynamicSession>(&jar.header(), now)
        .unwrap();
    let header = codec
        .dbsc_registration_header_at(&opened.identity.unwrap(), None, now, [10; 24])
        .unwrap();
    let challenge = header
        .split("challenge=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        header.starts_with("(ES256);path=\"/dbsc/start\";"),
        "{header}"
    );
    (jar, challenge)
}

fn register(codec: &Codec, jar: &Jar, proof: &str, now: u64) -> DbscResponse {
    let cookie_header = jar.header();
    codec.dbsc_register_at(
        &DbscRequest {
            cookie_header: cookie_header.as_bytes(),
            proof: Some(proof),
            ..Default::default()
        },
        now,
        &mut nonces(),
    )
}

fn refresh(codec: &Codec, jar: &Jar, id: &str, proof: Option<&str>, now: u64) -> DbscResponse {
    let cookie_header = jar.header();
    codec.dbsc_refresh_at(
        &DbscRequest {
            cookie_header: cookie_header.as_bytes(),
            proof,
            session_id: Some(id),
            ..Default::default()
        },
        now,
        &mut nonces(),
    )
}

fn challenge_of(response: &DbscResponse) -> String {
    assert_eq!(response.status, 403, "{response:?}");
    let value = header(response, "secure-session-challenge").unwrap();
    value.split('"').nth(1).unwrap().to_owned()
}

/// Registers `device` for a fresh session; returns the jar and session id.
/// Registers `device` for a fresh session and completes the first refresh
/// (which marks the session bound); returns the jar and session id.
fn bound_session(codec: &Codec, device: &Device, now: u64) -> (Jar, String) {
    let (mut jar, challenge) = sign_in(codec, now);
    let response = register(codec, &jar, &device.registration_proof(&challenge), now);
    assert_eq!(response.status, 200, "{response:?}");
    let body: Value = serde_json::from_str(&response.body).unwrap();
    jar.take(set_cookies(&response));
    let id = body["session_identifier"].as_str().unwrap().to_owned();
    let challenge = challenge_of(&refresh(codec, &jar, &id, None, now));
    let response = refresh(
        codec,
        &jar,
        &id,
        Some(&device.refresh_proof(&challenge)),
        now,
    );
    assert_eq!(response.status, 200, "{response:?}");
    jar.take(set_cookies(&response));
    (jar, id)
}

fn signed_in(codec: &Codec, jar: &Jar, now: u64) -> Result<String, Error> {
    codec
        .decode_at::<DynamicSession>(&jar.header(), now)
        .map(|o| o.session["user"].as_str().unwrap().to_owned())
}

#[test]
fn registration_binds_the_session_and_answers_what_chromium_expects() {
    let codec = codec();
    let device = Device::new(1);
    let (jar, challenge) = sign_in(&codec, T0);
    let response = register(&codec, &jar, &device.registration_proof(&challenge), T0);
    assert_eq!(response.status, 200, "{response:?}");
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let id = codec
        .decode_at::<DynamicSession>(&jar.header(), T0)
        .unwrap()
        .identity
        .unwrap()
        .session_id
        .to_string();
    assert_eq!(body["session_identifier"], json!(id));
    assert_eq!(body["refresh_url"], json!("/dbsc/refresh"));
    assert_eq!(body["scope"]["include_site"], json!(true));
    assert_eq!(body["credentials"][0]["type"], json!("cookie"));
    assert_eq!(body["credentials"][0]["name"], json!("sid-bound"));
    // The bound cookie's attributes, without its lifetime.
    let attributes = body["credentials"][0]["attributes"].as_str().unwrap();
    let mut listed: Vec<&str> = attributes.split("; ").collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "Domain=shop.test",
            "HttpOnly",
            "Path=/",
            "SameSite=Lax",
            "Secure"
        ]
    );
    // Registration sets only the refresh cookie: the browser may still
    // refuse the session, so nothing is bound yet.
    let cookies = set_cookies(&response);
    let names: Vec<&str> = cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["sid-refresh"]);
    assert!(cookies[0].contains("Path=/dbsc/refresh"), "{}", cookies[0]);
    let mut jar = jar;
    jar.take(cookies);
    assert!(
        !codec
            .decode_at::<DynamicSession>(&jar.header(), T0)
            .unwrap()
            .identity
            .unwrap()
            .bound
    );
    // The first refresh sets the bound cookie and marks the session.
    let challenge = challenge_of(&refresh(&codec, &jar, &id, None, T0 + 1));
    let response = refresh(
        &codec,
        &jar,
        &id,
        Some(&device.refresh_proof(&challenge)),
        T0 + 1,
    );
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, body.to_string());
    let cookies = set_cookies(&response);
    let names: Vec<&str> = cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["sid-bound", "sid"]);
    assert!(
        cookies[0].contains(&format!("Max-Age={}", BOUND - BOUND / 4)),
        "{}",
        cookies[0]
    );
    jar.take(cookies);
    assert!(
        codec
            .decode_at::<DynamicSession>(&jar.header(), T0 + 1)
            .unwrap()
            .identity
            .unwrap()
            .bound
    );
    // Later refreshes set only the bound cookie.
    let challenge = challenge_of(&refresh(&codec, &jar, &id, None, T0 + 2));
    let response = refresh(
        &codec,
        &jar,
        &id,
        Some(&device.refresh_proof(&challenge)),
        T0 + 2,
    );
    let names: Vec<String> = set_cookies(&response)
        .iter()
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["sid-bound"]);
}

#[test]
fn a_registration_the_browser_refused_leaves_an_ordinary_session() {
    let codec = codec();
    let (mut jar, challenge) = sign_in(&codec, T0);
    let response = register(
        &codec,
        &jar,
        &Device::new(1).registration_proof(&challenge),
        T0,
    );
    assert_eq!(response.status, 200, "{response:?}");
    jar.take(set_cookies(&response));
    // No refresh ever comes: long after a bound lifetime, still signed in.
    assert_eq!(signed_in(&codec, &jar, T0 + 20 * BOUND).unwrap(), "alice");
}

#[test]
fn the_registration_endpoint_is_on_the_cookie_domain_origin() {
    let codec = codec();
    let value = codec.seal_at(&DynamicSession::new(), T0, [1; 24]).unwrap();
    let identity = codec
        .open_at::<DynamicSession>(&value, T0)
        .unwrap()
        .identity
        .unwrap();
    let path = |host: Option<&str>| {
        let header = codec
            .dbsc_registration_header_at(&identity, host, T0, [2; 24])
            .unwrap();
        header
            .split("path=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        path(Some("account.shop.test:8443")),
        "https://shop.test:8443/dbsc/start"
    );
    assert_eq!(path(Some("cart.shop.test")), "https://shop.test/dbsc/start");
    assert_eq!(path(Some("shop.test:8443")), "/dbsc/start");
    assert_eq!(path(Some("SHOP.test")), "/dbsc/start");
    assert_eq!(path(None), "/dbsc/start");
    assert!(codec
        .dbsc_registration_header_at(&identity, Some("elsewhere.test"), T0, [2; 24])
        .is_err());
    // A host-only cookie registers on the host itself.
    let host_only = Codec::builder("sid")
        .key_ring(ring())
        .device_binding(DeviceBinding::new())
        .build()
        .unwrap();
    let header = host_only
        .dbsc_registration_header_at(&identity, Some("account.shop.test:8443"), T0, [2; 24])
        .unwrap();
    assert!(
        header.starts_with("(ES256);path=\"/dbsc/start\";"),
        "{header}"
    );
}

#[test]
fn a_bound_session_opens_only_with_its_unexpired_bound_cookie() {
    let codec = codec();
    let (jar, _) = bound_session(&codec, &Device::new(1), T0);
    assert_eq!(signed_in(&codec, &jar, T0 + 1).unwrap(), "alice");
    // The session cookie alone (copied without the bound cookie).
    assert_eq!(
        signed_in(&codec, &jar.without("sid-bound"), T0 + 1),
        Err(Error::Unbound)
    );
    // The pair, once the bound cookie's lifetime is over.
    assert_eq!(
        signed_in(&codec, &jar, T0 + BOUND + 60),
        Err(Error::Unbound)
    );
    // A bound cookie of another session does not do.
    let (other, _) = bound_session(&codec, &Device::new(2), T0 + 5);
    let bound_of_other = other
        .0
        .iter()
        .find(|(n, _)| n == "sid-bound")
        .unwrap()
        .clone();
    let mut mixed = jar.without("sid-bound");
    mixed.0.push(bound_of_other);
    assert_eq!(signed_in(&codec, &mixed, T0 + 6), Err(Error::Unbound));
    // A codec without device binding refuses bound sessions outright.
    let plain = Codec::builder("sid")
        .key_ring(ring())
        .domain("shop.test")
        .build()
        .unwrap();
    assert_eq!(
        plain
            .decode_at::<DynamicSession>(&jar.header(), T0 + 1)
            .unwrap_err(),
        Error::Unbound
    );
}

#[test]
fn refresh_needs_a_fresh_challenge_signed_by_the_registered_key() {
    let codec = codec();
    let device = Device::new(1);
    let (mut jar, id) = bound_session(&codec, &device, T0);
    // Long after the bound cookie expired (the browser no longer sends it).
    let later = T0 + 10 * BOUND;
    let jar_later = jar.without("sid-bound");
    let challenge = challenge_of(&refresh(&codec, &jar_later, &id, None, later));
    let proof = device.refresh_proof(&challenge);
    let response = refresh(&codec, &jar_later, &id, Some(&proof), later);
    assert_eq!(response.status, 200, "{response:?}");
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["session_identifier"], json!(id));
    jar.take(set_cookies(&response));
    assert_eq!(signed_in(&codec, &jar, later + 1).unwrap(), "alice");
    // The identity is carried: same session id.
    let identity = codec
        .decode_at::<DynamicSession>(&jar.header(), later + 1)
        .unwrap()
        .identity
        .unwrap();
    assert_eq!(identity.session_id.to_string(), id);
    assert!(identity.bound);
}

#[test]
fn refresh_refusals() {
    let codec = codec();
    let device = Device::new(1);
    let (jar, id) = bound_session(&codec, &device, T0);
    let now = T0 + 100;
    let challenge = challenge_of(&refresh(&codec, &jar, &id, None, now));
    let refused = |response: DbscResponse, reason: ProofRefused| {
        assert_eq!(response.status, 401, "{response:?}");
        assert_eq!(response.body, r#"{"continue":false}"#);
        assert!(set_cookies(&response).is_empty());
        assert_eq!(response.refused, Some(Error::DeviceProof { reason }));
    };
    // Signed by another key (a thief's), even one that names itself.
    let thief = Device::new(2);
    refused(
        refresh(
            &codec,
            &jar,
            &id,
            Some(&thief.refresh_proof(&challenge)),
            now,
        ),
        ProofRefused::BadSignature,
    );
    refused(
        refresh(
            &codec,
            &jar,
            &id,
            Some(&thief.registration_proof(&challenge)),
            now,
        ),
        ProofRefused::BadSignature,
    );
    // Wrong algorithm, none, wrong type.
    for (header, reason) in [
        (
            json!({"alg": "RS256", "typ": "dbsc+jwt"}),
            ProofRefused::Algorithm,
        ),
        (
            json!({"alg": "none", "typ": "dbsc+jwt"}),
            ProofRefused::Algorithm,
        ),
        (
            json!({"alg": "HS256", "typ": "dbsc+jwt"}),
            ProofRefused::Algorithm,
        ),
        (json!({"alg": "ES256", "typ": "JWT"}), ProofRefused::Type),
    ] {
        let proof = device.sign(header, json!({"jti": challenge}));
        refused(refresh(&codec, &jar, &id, Some(&proof), now), reason);
    }
    // A stale challenge.
    refused(
        refresh(
            &codec,
            &jar,
            &id,
            Some(&device.refresh_proof(&challenge)),
            now + 31 + 60,
        ),
        ProofRefused::Challenge,
    );
    // A made-up challenge, and a registration challenge used for a refresh.
    refused(
        refresh(
            &codec,
            &jar,
            &id,
            Some(&device.refresh_proof("made-up")),
            now,
        ),
        ProofRefused::Challenge,
    );
    let (_, registration_challenge) = sign_in(&codec, now);
    refused(
        refresh(
            &codec,
            &jar,
            &id,
            Some(&device.refresh_proof(&registration_challenge)),
            now,
        ),
        ProofRefused::Challenge,
    );
    // A challenge issued for another session.
    let (other_jar, other_id) = bound_session(&codec, &Device::new(3), now);
    let foreign = challenge_of(&refresh(&codec, &other_jar, &other_id, None, now));
    refused(
        refresh(
            &codec,
            &jar,
            &id,
            Some(&device.refresh_proof(&foreign)),
            now,
        ),
        ProofRefused::OtherSession,
    );
    // A session id that is not the refresh cookie's.
    refused(
        refresh(&codec, &jar, &other_id, None, now),
        ProofRefused::OtherSession,
    );
    // No refresh cookie: nothing to verify against.
    refused(
        refresh(&codec, &jar.without("sid-refresh"), &id, None, now),
        ProofRefused::NotRegistered,
    );
    // The good proof still works after all that.
    let good = refresh(
        &codec,
        &jar,
        &id,
        Some(&device.refresh_proof(&challenge)),
        now,
    );
    assert_eq!(good.status, 200, "{good:?}");
}

#[test]
fn registration_refusals() {
    let codec = codec();
    let device = Device::new(1);
    let (jar, challenge) = sign_in(&codec, T0);
    let refused = |response: DbscResponse, reason: ProofRefused| {
        assert_eq!(response.status, 400, "{response:?}");
        assert!(set_cookies(&response).is_empty());
        assert_eq!(response.refused, Some(Error::DeviceProof { reason }));
    };
    // No key in the header.
    refused(
        register(&codec, &jar, &device.refresh_proof(&challenge), T0),
        ProofRefused::BadKey,
    );
    // A key in the header, but the proof signed by another.
    let forged = Device::new(2).sign(
        json!({"alg": "ES256", "jwk": device.jwk(), "typ": "dbsc+jwt"}),
        json!({"jti": challenge}),
    );
    refused(
        register(&codec, &jar, &forged, T0),
        ProofRefused::BadSignature,
    );
    // none, unsigned.
    let unsigned = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "dbsc+jwt", "jwk": device.jwk()}).to_string()),
        B64.encode(json!({"jti": challenge}).to_string())
    );
    refused(
        register(&codec, &jar, &unsigned, T0),
        ProofRefused::Algorithm,
    );
    // Wrong type.
    let typed = device.sign(
        json!({"alg": "ES256", "jwk": device.jwk(), "typ": "JWT"}),
        json!({"jti": challenge}),
    );
    refused(register(&codec, &jar, &typed, T0), ProofRefused::Type);
    // The challenge of another session.
    let (_, other_challenge) = sign_in(&codec, T0 + 1);
    refused(
        register(
            &codec,
            &jar,
            &device.registration_proof(&other_challenge),
            T0 + 1,
        ),
        ProofRefused::OtherSession,
    );
    // A stale challenge.
    refused(
        register(
            &codec,
            &jar,
            &device.registration_proof(&challenge),
            T0 + 31 + 60,
        ),
        ProofRefused::Challenge,
    );
    // No proof at all.
    let cookie_header = jar.header();
    let none = codec.dbsc_register_at(
        &DbscRequest {
            cookie_header: cookie_header.as_bytes(),
            ..Default::default()
        },
        T0,
        &mut nonces(),
    );
    refused(none, ProofRefused::Missing);
    // Registered once and refreshed (so bound); the same registration
    // replayed with the bound session (as the browser now holds it) is
    // refused.
    let first = register(&codec, &jar, &device.registration_proof(&challenge), T0);
    assert_eq!(first.status, 200);
    let mut bound_jar = jar.clone();
    bound_jar.take(set_cookies(&first));
    let id: Value = serde_json::from_str(&first.body).unwrap();
    let id = id["session_identifier"].as_str().unwrap().to_owned();
    let fresh = challenge_of(&refresh(&codec, &bound_jar, &id, None, T0));
    let bound = refresh(
        &codec,
        &bound_jar,
        &id,
        Some(&device.refresh_proof(&fresh)),
        T0,
    );
    assert_eq!(bound.status, 200);
    bound_jar.take(set_cookies(&bound));
    refused(
        register(
            &codec,
            &bound_jar,
            &device.registration_proof(&challenge),
            T0 + 1,
        ),
        ProofRefused::AlreadyBound,
    );
    // A thief's key cannot be swapped in for the bound session either.
    refused(
        register(
            &codec,
            &bound_jar.without("sid-bound"),
            &Device::new(5).registration_proof(&challenge),
            T0 + 1,
        ),
        ProofRefused::AlreadyBound,
    );
}

#[test]
fn revocation_ends_a_bound_session_at_its_next_refresh() {
    let set = Arc::new(RevocationSet::new(Duration::from_secs(8 * 24 * 3600)));
    let codec = codec_with(ring(), Some(Arc::clone(&set)));
    let device = Device::new(1);
    let (jar, id) = bound_session(&codec, &device, T0);
    set.revoke_session(id.parse().unwrap(), T0 + 10);
    let later = T0 + 2 * BOUND;
    let response = refresh(&codec, &jar.without("sid-bound"), &id, None, later);
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(response.body, r#"{"continue":false}"#);
    assert!(matches!(response.refused, Some(Error::Revoked { .. })));
}

#[test]
fn the_absolute_lifetime_ends_a_bound_session_whatever_the_refreshes() {
    let codec = codec();
    let device = Device::new(1);
    let (jar, id) = bound_session(&codec, &device, T0);
    let end = T0 + 7 * 24 * 3600 + 120;
    let response = refresh(&codec, &jar.without("sid-bound"), &id, None, end);
    assert_eq!(response.status, 401, "{response:?}");
}

#[test]
fn registration_on_one_server_and_refresh_on_another() {
    let shared = ring();
    let a = codec_with(Arc::clone(&shared), None);
    let b = codec_with(shared, None);
    let device = Device::new(1);
    let (mut jar, id) = bound_session(&a, &device, T0);
    let later = T0 + 3 * BOUND;
    let challenge = challenge_of(&refresh(&b, &jar.without("sid-bound"), &id, None, later));
    let response = refresh(
        &a,
        &jar.without("sid-bound"),
        &id,
        Some(&device.refresh_proof(&challenge)),
        later,
    );
    assert_eq!(response.status, 200, "{response:?}");
    jar.take(set_cookies(&response));
    assert_eq!(signed_in(&b, &jar, later).unwrap(), "alice");
    assert_eq!(signed_in(&a, &jar, later).unwrap(), "alice");
}

#[test]
fn a_renewed_session_is_no_longer_bound() {
    let codec = codec();
    let (jar, _) = bound_session(&codec, &Device::new(1), T0);
    let opened = codec
        .decode_at::<DynamicSession>(&jar.header(), T0 + 1)
        .unwrap();
    // Re-seals carry the binding; a renewal (sign-in) starts unbound.
    let carried = codec
        .encode_with_at(&opened.session, &opened.lineage(), None, T0 + 2, [4; 24])
        .unwrap();
    let mut carried_jar = jar.without("sid");
    carried_jar.take(carried);
    assert!(
        codec
            .decode_at::<DynamicSession>(&carried_jar.header(), T0 + 3)
            .unwrap()
            .identity
            .unwrap()
            .bound
    );
    assert_eq!(
        signed_in(&codec, &carried_jar.without("sid-bound"), T0 + 3),
        Err(Error::Unbound)
    );
    let renewed = codec
        .encode_with_at(
            &opened.session,
            &Lineage::new_for("alice"),
            None,
            T0 + 2,
            [5; 24],
        )
        .unwrap();
    let mut renewed_jar = Jar::default();
    renewed_jar.take(renewed);
    assert!(
        !codec
            .decode_at::<DynamicSession>(&renewed_jar.header(), T0 + 3)
            .unwrap()
            .identity
            .unwrap()
            .bound
    );
}

#[test]
fn a_session_resealed_during_its_first_refresh_gets_its_bound_mark_back() {
    let codec = codec();
    let device = Device::new(1);
    let (mut jar, challenge) = sign_in(&codec, T0);
    let response = register(&codec, &jar, &device.registration_proof(&challenge), T0);
    assert_eq!(response.status, 200);
    jar.take(set_cookies(&response));
    let id: Value = serde_json::from_str(&response.body).unwrap();
    let id = id["session_identifier"].as_str().unwrap().to_owned();
    // A request that started before the first refresh answered: it opened
    // the unbound session...
    let before = codec
        .decode_at::<DynamicSession>(&jar.header(), T0)
        .unwrap();
    let fresh = challenge_of(&refresh(&codec, &jar, &id, None, T0));
    let response = refresh(&codec, &jar, &id, Some(&device.refresh_proof(&fresh)), T0);
    assert_eq!(response.status, 200);
    jar.take(set_cookies(&response));
    // ...and writes it back unbound after the refresh's cookies.
    jar.take(
        codec
            .encode_with_at(&before.session, &before.lineage(), None, T0 + 1, [77; 24])
            .unwrap(),
    );
    let opened = codec
        .decode_at::<DynamicSession>(&jar.header(), T0 + 2)
        .unwrap();
    assert!(opened.identity.as_ref().unwrap().bound);
    assert_eq!(opened.reseal, Some(sealed_session::Reseal::Bound));
    // Re-sealing with its lineage restores the mark: without the bound
    // cookie it no longer opens.
    let mut healed = jar.clone();
    healed.take(
        codec
            .encode_with_at(&opened.session, &opened.lineage(), None, T0 + 3, [78; 24])
            .unwrap(),
    );
    assert_eq!(
        signed_in(&codec, &healed.without("sid-bound"), T0 + 4),
        Err(Error::Unbound)
    );
    // A bound cookie that does not open (expired) changes nothing.
    let later = T0 + 10 * BOUND;
    assert!(
        !codec
            .decode_at::<DynamicSession>(&jar.header(), later)
            .unwrap()
            .identity
            .unwrap()
            .bound
    );
}

#[test]
fn signing_out_removes_the_bound_and_refresh_cookies_too() {
    let codec = codec();
    let removal: Vec<String> = codec.removal().into_iter().collect();
    for name in ["sid=", "sid-bound=", "sid-refresh="] {
        let line = removal
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no removal of {name} in {removal:?}"));
        assert!(line.contains("Max-Age=0"), "{line}");
        assert!(line.contains("Domain=shop.test"), "{line}");
    }
    let refresh = removal
        .iter()
        .find(|l| l.starts_with("sid-refresh="))
        .unwrap();
    assert!(refresh.contains("Path=/dbsc/refresh"), "{refresh}");
    // And a jar that held a bound session is empty afterwards.
    let (mut jar, _) = bound_session(&codec, &Device::new(1), T0);
    jar.take(removal);
    assert!(jar.0.is_empty(), "{:?}", jar.0);
}

#[test]
fn a_key_rotation_does_not_end_a_binding() {
    let a = Key::from_bytes([7; 32]);
    let b = Key::from_bytes([8; 32]);
    let phase = |keys: &[(&Key, KeyState)]| {
        let mut builder = KeyRing::builder();
        for (key, state) in keys {
            builder = builder.key((*key).clone(), *state);
        }
        codec_with(Arc::new(builder.build().unwrap()), None)
    };
    let before = phase(&[(&a, KeyState::Primary)]);
    let device = Device::new(1);
    let (mut jar, id) = bound_session(&before, &device, T0);
    // Phase 2: B seals, A still opens. A refresh re-seals the refresh cookie
    // under B (and the bound cookie is sealed under B anyway).
    let during = phase(&[(&b, KeyState::Primary), (&a, KeyState::Active)]);
    let now = T0 + 2 * BOUND;
    let challenge = challenge_of(&refresh(&during, &jar, &id, None, now));
    let response = refresh(
        &during,
        &jar,
        &id,
        Some(&device.refresh_proof(&challenge)),
        now,
    );
    assert_eq!(response.status, 200, "{response:?}");
    let names: Vec<String> = set_cookies(&response)
        .iter()
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"sid-refresh".to_owned()), "{names:?}");
    jar.take(set_cookies(&response));
    // Phase 3: A is gone. The binding still refreshes.
    let after = phase(&[(&b, KeyState::Primary)]);
    let later = now + 2 * BOUND;
    let challenge = challenge_of(&refresh(&after, &jar, &id, None, later));
    let response = refresh(
        &after,
        &jar,
        &id,
        Some(&device.refresh_proof(&challenge)),
        later,
    );
    assert_eq!(response.status, 200, "{response:?}");
    // A refresh cookie under a key the ring no longer has is refused with
    // that reason, not as "not registered".
    let (stale, stale_id) = bound_session(&before, &Device::new(2), T0);
    let response = refresh(&after, &stale, &stale_id, None, T0 + 1);
    assert!(
        matches!(response.refused, Some(Error::UnknownKey { .. })),
        "{response:?}"
    );
}

#[test]
fn the_two_endpoints_must_differ() {
    let err = Codec::builder("sid")
        .development_key()
        .device_binding(DeviceBinding::new().endpoints("/dbsc", "/dbsc"))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}
