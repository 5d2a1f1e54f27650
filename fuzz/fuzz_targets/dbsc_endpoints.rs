//! The device binding endpoints (feature `dbsc`) on arbitrary requests: the
//! input splits at `0x00` bytes into the `Cookie` header, the proof and the
//! session id (`dbsc_fixture::request`), and goes to both the registration
//! and the refresh answer, at a fixed time with fixed nonces. Neither panics,
//! each answers only its own statuses, a refusal says why and sets nothing,
//! and a 200 answer has a JSON body and sets cookies. (The seeds, written by
//! `examples/dbsc_seeds.rs`, hold genuine registrations and refreshes, so
//! the fuzzer starts from requests that reach the 200 answers.)
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealed_session::{Codec, DbscResponse};

#[path = "dbsc_fixture.rs"]
mod dbsc_fixture;

use dbsc_fixture::{nonces, request, NOW};

fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(dbsc_fixture::codec)
}

fn set_cookies(response: &DbscResponse) -> usize {
    response
        .headers
        .iter()
        .filter(|(name, _)| *name == "set-cookie")
        .count()
}

fn check(response: &DbscResponse, allowed: &[u16], what: &str) {
    assert!(
        allowed.contains(&response.status),
        "{what}: status {}",
        response.status
    );
    match response.status {
        200 => {
            assert!(response.refused.is_none(), "{what}: 200 with a refusal");
            assert!(!response.body.is_empty(), "{what}: 200 with an empty body");
            assert!(
                serde_json::from_str::<serde_json::Value>(&response.body).is_ok(),
                "{what}: 200 with a body that is not JSON"
            );
            assert!(set_cookies(response) > 0, "{what}: 200 sets no cookie");
        }
        403 => {
            assert!(response.refused.is_none(), "{what}: 403 with a refusal");
            assert!(
                response
                    .headers
                    .iter()
                    .any(|(name, _)| *name == "secure-session-challenge"),
                "{what}: 403 without a challenge"
            );
            assert_eq!(set_cookies(response), 0, "{what}: 403 sets cookies");
        }
        _ => {
            assert!(
                response.refused.is_some(),
                "{what}: refused without a reason"
            );
            assert_eq!(set_cookies(response), 0, "{what}: a refusal sets cookies");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let request = request(data);
    let registration = codec().dbsc_register_at(&request, NOW, &mut nonces());
    check(&registration, &[200, 400], "registration");
    let refresh = codec().dbsc_refresh_at(&request, NOW, &mut nonces());
    check(&refresh, &[200, 401, 403], "refresh");
});
