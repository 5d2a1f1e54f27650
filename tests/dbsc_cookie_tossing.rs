//! Cookie tossing against a device-bound session: a sibling subdomain can
//! set a cookie for the parent domain with the refresh cookie's name and
//! path, holding a refresh cookie of its own (valid: the attacker registered
//! a device for their own session). The browser then sends both to the
//! refresh endpoint. The refresh must use the refresh cookie of the session
//! the browser names (`Sec-Secure-Session-Id`), not the newest one, or the
//! tossed cookie ends the victim's binding (`{"continue":false}`) and signs
//! them out one bound lifetime later.
#![cfg(feature = "dbsc")]

use std::sync::Arc;
use std::time::Duration;

use sealed_session::{
    Codec, DbscRequest, DbscResponse, DeviceBinding, DynamicSession, Key, KeyRing, Lineage,
};

#[path = "common/dbsc_device.rs"]
mod dbsc_device;
use dbsc_device::Device;
#[path = "common/dbsc_jar.rs"]
mod dbsc_jar;
use dbsc_jar::set_cookies;

const T0: u64 = 1_800_000_000;

fn codec() -> Codec {
    Codec::builder("sid")
        .key_ring(Arc::new(
            KeyRing::from_keys([Key::from_bytes([7; 32])]).unwrap(),
        ))
        .domain("shop.test")
        .device_binding(DeviceBinding::new().bound_lifetime(Duration::from_secs(60)))
        .build()
        .unwrap()
}

fn nonces(seed: u8) -> impl FnMut() -> sealed_session::Result<[u8; 24]> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([seed ^ n; 24])
    }
}

/// `name=value` of each Set-Cookie of a response.
fn pairs(set_cookies: impl IntoIterator<Item = String>) -> Vec<String> {
    set_cookies
        .into_iter()
        .filter(|line| !line.contains("Max-Age=0"))
        .map(|line| line.split(';').next().unwrap_or_default().to_owned())
        .collect()
}

fn refresh(
    codec: &Codec,
    cookies: &[String],
    id: &str,
    proof: Option<&str>,
    now: u64,
) -> DbscResponse {
    let header = cookies.join("; ");
    codec.dbsc_refresh_at(
        &DbscRequest {
            cookie_header: header.as_bytes(),
            proof,
            session_id: Some(id),
            ..Default::default()
        },
        now,
        &mut nonces(0x40),
    )
}

/// Signs `user` in at `now` and registers `device`: the session cookie, the
/// refresh cookie and the session id.
fn registered(
    codec: &Codec,
    user: &str,
    device: &Device,
    now: u64,
    seed: u8,
) -> (String, String, String) {
    let session = pairs(
        codec
            .encode_with_at(
                &DynamicSession::new(),
                &Lineage::new_for(user),
                None,
                now,
                [seed; 24],
            )
            .unwrap(),
    )
    .remove(0);
    let identity = codec
        .decode_at::<DynamicSession>(&session, now)
        .unwrap()
        .identity
        .unwrap();
    let header = codec
        .dbsc_registration_header_at(&identity, None, now, [seed ^ 0x80; 24])
        .unwrap();
    let challenge = header
        .split("challenge=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let response = codec.dbsc_register_at(
        &DbscRequest {
            cookie_header: session.as_bytes(),
            proof: Some(&device.registration_proof(challenge)),
            ..Default::default()
        },
        now,
        &mut nonces(seed),
    );
    assert_eq!(response.status, 200, "{response:?}");
    let refresh_cookie = pairs(set_cookies(&response)).remove(0);
    assert!(
        refresh_cookie.starts_with("sid-refresh="),
        "{refresh_cookie}"
    );
    (session, refresh_cookie, identity.session_id.to_string())
}

#[test]
fn a_tossed_refresh_cookie_does_not_end_the_victims_binding() {
    let codec = codec();
    let victim_device = Device::new(1);
    let (session, victim_refresh, id) = registered(&codec, "alice", &victim_device, T0, 1);
    // Later, the attacker registers a device for their own session and
    // tosses its refresh cookie to the parent domain, path /dbsc/refresh.
    let (_, tossed, _) = registered(&codec, "mallory", &Device::new(2), T0 + 30, 2);
    let now = T0 + 40;
    for cookies in [
        vec![tossed.clone(), victim_refresh.clone(), session.clone()],
        vec![victim_refresh.clone(), tossed.clone(), session.clone()],
    ] {
        let response = refresh(&codec, &cookies, &id, None, now);
        assert_eq!(response.status, 403, "{response:?}");
        let challenge = response
            .headers
            .iter()
            .find(|(n, _)| *n == "secure-session-challenge")
            .and_then(|(_, v)| v.split('"').nth(1))
            .unwrap()
            .to_owned();
        let proof = victim_device.refresh_proof(&challenge);
        let response = refresh(&codec, &cookies, &id, Some(&proof), now);
        assert_eq!(response.status, 200, "{response:?}");
        assert!(response.body.contains(&id), "{}", response.body);
    }
    // The attacker's own key still proves nothing for the victim's session.
    let cookies = [tossed, victim_refresh, session];
    let response = refresh(&codec, &cookies, &id, None, now);
    let challenge = response
        .headers
        .iter()
        .find(|(n, _)| *n == "secure-session-challenge")
        .and_then(|(_, v)| v.split('"').nth(1))
        .unwrap()
        .to_owned();
    let forged = Device::new(2).refresh_proof(&challenge);
    assert_eq!(
        refresh(&codec, &cookies, &id, Some(&forged), now).status,
        401
    );
}
