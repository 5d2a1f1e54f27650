//! A software DBSC device for the device-binding tests: a P-256 key that
//! signs registration and refresh proofs as Chromium does (compact JWS,
//! ES256 with the raw r||s signature, `typ` dbsc+jwt, payload only `jti`;
//! the public key as a JWK in the registration proof's header only).

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

/// The software device: a P-256 key that signs proofs.
pub struct Device(pub SigningKey);

impl Device {
    /// A device whose key is the 32 bytes `[seed; 32]` (the same seed, the
    /// same key).
    pub fn new(seed: u8) -> Self {
        Device(SigningKey::from_bytes(&[seed; 32].into()).unwrap())
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let point = self.0.verifying_key().to_encoded_point(false);
        json!({"crv": "P-256", "kty": "EC",
               "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap())})
    }

    /// A compact JWS of `header` and `payload`, signed with ES256 whatever
    /// the header says (tests pass wrong headers on purpose).
    pub fn sign(&self, header: Value, payload: Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let signature: Signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }

    /// The registration proof for `challenge`: the JWK in the header.
    pub fn registration_proof(&self, challenge: &str) -> String {
        self.sign(
            json!({"alg": "ES256", "jwk": self.jwk(), "typ": "dbsc+jwt"}),
            json!({"jti": challenge}),
        )
    }

    /// A refresh proof for `challenge`: no JWK, the server knows the key.
    pub fn refresh_proof(&self, challenge: &str) -> String {
        self.sign(
            json!({"alg": "ES256", "typ": "dbsc+jwt"}),
            json!({"jti": challenge}),
        )
    }
}
