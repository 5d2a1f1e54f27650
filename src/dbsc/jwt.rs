//! The proof a browser sends in `Secure-Session-Response`: a compact JWS
//! (`header.payload.signature`, each part unpadded base64url) signed with the
//! device key. Parsing is strict and refuses the classic JWT mistakes before
//! any key is touched: only ES256 is accepted (the one algorithm this server
//! offers), never `none`, never an algorithm named by the token alone; the
//! type must be `dbsc+jwt`; the signature is the raw 64-byte `r || s`.
//!
//! Which key verifies is the caller's decision, never the token's: at
//! registration the key comes from the header's `jwk` (and is then sealed
//! into the refresh cookie); at refresh only the registered key is used and
//! any `jwk` in the header is ignored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::EncodedPoint;
use serde::Deserialize;

use crate::error::ProofRefused;

/// The only algorithm offered and accepted.
pub(crate) const ALG: &str = "ES256";
/// The token type DBSC proofs carry.
pub(crate) const TYP: &str = "dbsc+jwt";
/// The longest proof accepted, in bytes: a registration proof with its key
/// is about 400 bytes; anything much longer is not a proof.
pub(crate) const MAX_PROOF_LEN: usize = 4096;

/// A device public key: an uncompressed P-256 point, `x || y`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DeviceKey(pub(crate) [u8; 64]);

impl DeviceKey {
    fn verifying_key(&self) -> Result<VerifyingKey, ProofRefused> {
        let (x, y) = self.0.split_at(32);
        let point = EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        VerifyingKey::from_encoded_point(&point).map_err(|_| ProofRefused::BadKey)
    }
}

/// A parsed, not yet verified, proof.
pub(crate) struct Proof<'a> {
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'a [u8],
    signature: [u8; 64],
    /// The key the header carries (registration proofs only).
    pub(crate) jwk: Option<DeviceKey>,
    /// The challenge the proof answers.
    pub(crate) jti: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    jwk: Option<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

#[derive(Deserialize)]
struct Payload {
    jti: String,
}

impl<'a> Proof<'a> {
    /// Parses a compact JWS and checks everything that needs no key.
    pub(crate) fn parse(token: &'a str) -> Result<Self, ProofRefused> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_PROOF_LEN {
            return Err(ProofRefused::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ProofRefused::Malformed);
        };
        let header: Header = decode_json(header)?;
        // The algorithm is checked before anything else is believed: `none`,
        // HS256 (a public key used as an HMAC secret) and every other name
        // are refused here.
        if header.alg != ALG {
            return Err(ProofRefused::Algorithm);
        }
        if header.typ.as_deref() != Some(TYP) {
            return Err(ProofRefused::Type);
        }
        let payload: Payload = decode_json(payload)?;
        let signature = B64.decode(signature).map_err(|_| ProofRefused::Malformed)?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| ProofRefused::BadSignature)?;
        let jwk = header.jwk.map(|jwk| jwk.device_key()).transpose()?;
        let signed_len = token.len() - signature_len(token);
        let signing_input = token
            .as_bytes()
            .get(..signed_len)
            .ok_or(ProofRefused::Malformed)?;
        Ok(Proof {
            signing_input,
            signature,
            jwk,
            jti: payload.jti,
        })
    }

    /// Verifies the signature with `key`, chosen by the caller.
    pub(crate) fn verify(&self, key: &DeviceKey) -> Result<(), ProofRefused> {
        let key = key.verifying_key()?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| ProofRefused::BadSignature)?;
        key.verify(self.signing_input, &signature)
            .map_err(|_| ProofRefused::BadSignature)
    }
}

/// Length of the signature part plus its dot.
fn signature_len(token: &str) -> usize {
    token.rsplit('.').next().map_or(0, |s| s.len() + 1)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, ProofRefused> {
    let bytes = B64.decode(part).map_err(|_| ProofRefused::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| ProofRefused::Malformed)
}

impl Jwk {
    fn device_key(self) -> Result<DeviceKey, ProofRefused> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(ProofRefused::BadKey);
        }
        let coordinate = |text: &str| -> Result<[u8; 32], ProofRefused> {
            B64.decode(text)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or(ProofRefused::BadKey)
        };
        let mut key = [0u8; 64];
        let (x, y) = key.split_at_mut(32);
        x.copy_from_slice(&coordinate(&self.x)?);
        y.copy_from_slice(&coordinate(&self.y)?);
        let key = DeviceKey(key);
        // Refuse a point that is not on the curve now, not at first refresh.
        key.verifying_key()?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32].into()).unwrap()
    }

    fn jwk_of(key: &SigningKey) -> serde_json::Value {
        let point = key.verifying_key().to_encoded_point(false);
        serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": B64.encode(point.x().unwrap()),
            "y": B64.encode(point.y().unwrap()),
        })
    }

    fn token(key: &SigningKey, header: serde_json::Value, jti: &str) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(serde_json::json!({ "jti": jti }).to_string())
        );
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }

    #[test]
    fn a_registration_proof_verifies_with_its_own_key() {
        let key = signing_key(1);
        let header = serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk_of(&key)});
        let text = token(&key, header, "challenge");
        let proof = Proof::parse(&text).unwrap();
        assert_eq!(proof.jti, "challenge");
        let device = proof.jwk.clone().unwrap();
        proof.verify(&device).unwrap();
        let other_text = token(
            &signing_key(2),
            serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk_of(&signing_key(2))}),
            "challenge",
        );
        let other = Proof::parse(&other_text).unwrap();
        assert_eq!(other.verify(&device), Err(ProofRefused::BadSignature));
    }

    #[test]
    fn algorithms_other_than_es256_are_refused_before_the_signature() {
        let key = signing_key(1);
        for alg in ["none", "None", "HS256", "RS256", "ES384", "es256", ""] {
            let header = serde_json::json!({"alg": alg, "typ": "dbsc+jwt", "jwk": jwk_of(&key)});
            let text = token(&key, header, "c");
            assert_eq!(
                Proof::parse(&text).err(),
                Some(ProofRefused::Algorithm),
                "{alg}"
            );
        }
        // An unsigned token (`alg: none`, empty signature).
        let unsigned = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"dbsc+jwt"}"#),
            B64.encode(r#"{"jti":"c"}"#)
        );
        assert_eq!(Proof::parse(&unsigned).err(), Some(ProofRefused::Algorithm));
    }

    #[test]
    fn the_type_must_be_dbsc_jwt() {
        let key = signing_key(1);
        for typ in [
            serde_json::json!("JWT"),
            serde_json::json!(null),
            serde_json::json!("dbsc+JWT"),
        ] {
            let header = serde_json::json!({"alg": "ES256", "typ": typ});
            let text = token(&key, header, "c");
            assert_eq!(Proof::parse(&text).err(), Some(ProofRefused::Type), "{typ}");
        }
        let header = serde_json::json!({"alg": "ES256"});
        assert_eq!(
            Proof::parse(&token(&key, header, "c")).err(),
            Some(ProofRefused::Type)
        );
    }

    #[test]
    fn a_forged_or_altered_proof_is_refused() {
        let key = signing_key(1);
        let registration = token(
            &key,
            serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk_of(&key)}),
            "c",
        );
        let device = Proof::parse(&registration).unwrap().jwk.unwrap();
        let good = token(
            &key,
            serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt"}),
            "c",
        );
        Proof::parse(&good).unwrap().verify(&device).unwrap();
        // Another challenge under the original signature.
        let (input, signature) = good.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let swapped = format!("{header}.{}.{signature}", B64.encode(r#"{"jti":"d"}"#));
        assert_eq!(
            Proof::parse(&swapped).unwrap().verify(&device),
            Err(ProofRefused::BadSignature)
        );
        // Every single-bit flip of the signature.
        let raw = B64.decode(signature).unwrap();
        for bit in 0..raw.len() * 8 {
            let mut flipped = raw.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let text = format!("{input}.{}", B64.encode(&flipped));
            assert!(Proof::parse(&text).and_then(|p| p.verify(&device)).is_err());
        }
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let key = signing_key(1);
        let good = token(
            &key,
            serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt"}),
            "c",
        );
        let mut cases = vec![
            String::new(),
            ".".into(),
            "..".into(),
            "a.b.c.d".into(),
            "x".repeat(MAX_PROOF_LEN + 1),
            format!("{good}.extra"),
        ];
        for cut in 0..good.len() {
            cases.push(good[..cut].to_owned());
        }
        for case in cases {
            let parsed = Proof::parse(&case);
            if case == good {
                continue;
            }
            assert!(parsed.is_err() || parsed.unwrap().verify(&DeviceKey([0; 64])).is_err());
        }
    }

    #[test]
    fn keys_off_the_curve_or_of_another_kind_are_refused() {
        let key = signing_key(1);
        let mut jwk = jwk_of(&key);
        jwk["y"] = serde_json::json!(B64.encode([1u8; 32]));
        let header = serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk});
        assert_eq!(
            Proof::parse(&token(&key, header, "c")).err(),
            Some(ProofRefused::BadKey)
        );
        let mut jwk = jwk_of(&key);
        jwk["crv"] = serde_json::json!("P-384");
        let header = serde_json::json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk});
        assert_eq!(
            Proof::parse(&token(&key, header, "c")).err(),
            Some(ProofRefused::BadKey)
        );
    }
}
