//! Writes the seed corpus of the `dbsc_endpoints` fuzz target into the
//! directory given as argument (`fuzz/seed.sh` runs it): genuine
//! registrations and refreshes made with the target's own codec, time and
//! nonces and a P-256 device key, so that the fuzzer starts from requests
//! that reach the 200 answers, and a few near misses.
//!
//! `cargo run --example dbsc_seeds -- corpus/dbsc_endpoints` (from fuzz/).

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sealed_session::{DbscResponse, DynamicSession, Lineage};
use serde_json::{json, Value};

#[path = "../fuzz_targets/dbsc_fixture.rs"]
mod dbsc_fixture;

use dbsc_fixture::{codec, input, nonces, NOW};

/// A software device key standing in for the browser's.
struct Device(SigningKey);

impl Device {
    fn jwk(&self) -> Value {
        let point = self.0.verifying_key().to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| B64.encode(c.expect("uncompressed"));
        json!({"crv": "P-256", "kty": "EC", "x": coordinate(point.x()), "y": coordinate(point.y())})
    }

    fn sign(&self, header: &Value, jti: &str) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(json!({ "jti": jti }).to_string())
        );
        let signature: Signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }

    fn registration_proof(&self, challenge: &str) -> String {
        self.sign(
            &json!({"alg": "ES256", "jwk": self.jwk(), "typ": "dbsc+jwt"}),
            challenge,
        )
    }

    fn refresh_proof(&self, challenge: &str) -> String {
        self.sign(&json!({"alg": "ES256", "typ": "dbsc+jwt"}), challenge)
    }
}

/// A browser's cookies for the site: `name=value` pairs, updated from
/// `Set-Cookie` lines (`Max-Age=0` removes).
#[derive(Clone, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) {
        for line in lines {
            let pair = line.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            self.0.retain(|(n, _)| n != name);
            if !line.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// The `Cookie` header (paths ignored: both endpoints get everything).
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn set_cookie_lines(response: &DbscResponse) -> impl Iterator<Item = &str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| *name == "set-cookie")
        .map(|(_, value)| value.as_str())
}

/// The quoted parameter `name="..."` of a header value.
fn parameter<'a>(header: &'a str, name: &str) -> &'a str {
    header
        .split(&format!("{name}=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("parameter")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: dbsc_seeds DIR")?;
    let out = Path::new(&out);
    std::fs::create_dir_all(out)?;
    let write = |name: &str, data: Vec<u8>| std::fs::write(out.join(name), data);

    let codec = codec();
    let device = Device(SigningKey::from_bytes(&[5u8; 32].into())?);

    // Sign-in, a little before NOW: the session and its registration
    // challenge, both still valid at NOW.
    let mut session = DynamicSession::new();
    session.insert("user".into(), json!("alice"));
    let mut jar = Jar::default();
    jar.take(
        codec
            .encode_with_at(
                &session,
                &Lineage::new_for("alice"),
                None,
                NOW - 60,
                [9; 24],
            )?
            .iter(),
    );
    let signed_in = jar.header();
    let identity = codec
        .decode_at::<DynamicSession>(&signed_in, NOW - 60)?
        .identity
        .ok_or("no identity")?;
    let id = identity.session_id.to_string();
    let header = codec.dbsc_registration_header_at(&identity, None, NOW - 50, [10; 24])?;
    let challenge = parameter(&header, "challenge");
    let registration = device.registration_proof(challenge);

    // Registration, then a refresh challenge and its proof.
    let registered = codec.dbsc_register_at(
        &dbsc_fixture::request(&input(&signed_in, Some(&registration), None)),
        NOW - 40,
        &mut nonces(),
    );
    assert_eq!(registered.status, 200, "{registered:?}");
    jar.take(set_cookie_lines(&registered));
    let bound = jar.header();
    let asked = codec.dbsc_refresh_at(
        &dbsc_fixture::request(&input(&bound, None, Some(&id))),
        NOW - 20,
        &mut nonces(),
    );
    assert_eq!(asked.status, 403, "{asked:?}");
    let challenge_header = asked
        .headers
        .iter()
        .find(|(name, _)| *name == "secure-session-challenge")
        .map(|(_, value)| value.as_str())
        .ok_or("no challenge")?;
    let refresh_challenge = challenge_header.split('"').nth(1).ok_or("no challenge")?;
    let refresh = device.refresh_proof(refresh_challenge);
    let refreshed = codec.dbsc_refresh_at(
        &dbsc_fixture::request(&input(&bound, Some(&refresh), Some(&id))),
        NOW - 10,
        &mut nonces(),
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    jar.take(set_cookie_lines(&refreshed));
    let refreshed = jar.header();

    // Genuine requests, each answered 200 (or 403) at NOW.
    write("register", input(&signed_in, Some(&registration), None))?;
    write("refresh-ask", input(&bound, None, Some(&id)))?;
    write(
        "refresh-ask-quoted",
        input(&bound, None, Some(&format!("\"{id}\""))),
    )?;
    write("refresh", input(&bound, Some(&refresh), Some(&id)))?;
    write(
        "refresh-again",
        input(&refreshed, Some(&refresh), Some(&id)),
    )?;
    // Near misses: each proof at the other endpoint, a registration of a
    // bound session, a proof that names no key, an unsigned token.
    write(
        "register-with-refresh-proof",
        input(&signed_in, Some(&refresh), None),
    )?;
    write(
        "register-bound",
        input(&refreshed, Some(&registration), None),
    )?;
    write(
        "refresh-with-registration-proof",
        input(&bound, Some(&registration), Some(&id)),
    )?;
    let unsigned = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"dbsc+jwt"}"#),
        B64.encode(json!({ "jti": challenge }).to_string())
    );
    write(
        "register-unsigned",
        input(&signed_in, Some(&unsigned), None),
    )?;
    write(
        "refresh-other-id",
        input(&bound, None, Some(&"0".repeat(32))),
    )?;
    write("proof-only", input("", Some(&registration), None))?;

    // The seeds must do what their names say, or the fuzzer starts blind.
    let codec = dbsc_fixture::codec();
    for (name, register, refresh) in [
        ("register", 200, 401),
        ("refresh-ask", 400, 403),
        ("refresh", 400, 200),
        ("refresh-again", 400, 200),
        ("register-bound", 400, 401),
    ] {
        let data = std::fs::read(out.join(name))?;
        let request = dbsc_fixture::request(&data);
        assert_eq!(
            codec.dbsc_register_at(&request, NOW, &mut nonces()).status,
            register,
            "{name}"
        );
        assert_eq!(
            codec.dbsc_refresh_at(&request, NOW, &mut nonces()).status,
            refresh,
            "{name}"
        );
    }
    Ok(())
}
