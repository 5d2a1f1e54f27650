//! Checks the `xaes-256-gcm` crate the codec is built on against the C2SP
//! XAES-256-GCM test vectors (tests/data/vectors/xaes-256-gcm.json): the two
//! fixed vectors and the accumulated SHAKE-128 tests.
//!
//! The derived key and nonce of the fixed vectors are internal to the crate;
//! they are checked indirectly: AES-256-GCM under `derived_key` and
//! `derived_nonce` must produce the same ciphertext as XAES-256-GCM under the
//! original key and nonce.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use serde_json::Value;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake128;
use xaes_256_gcm::Xaes256Gcm;

const VECTORS: &str = include_str!("data/vectors/xaes-256-gcm.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn hex_field(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap()).unwrap()
}

fn ascii_field(v: &Value, name: &str) -> Vec<u8> {
    v[name].as_str().unwrap().as_bytes().to_vec()
}

fn xaes_seal(key: &[u8], nonce: &[u8], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let key: [u8; 32] = key.try_into().unwrap();
    let nonce: [u8; 24] = nonce.try_into().unwrap();
    let cipher = Xaes256Gcm::new(&key.into());
    let mut buf = plaintext.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), aad, buf.as_mut_slice().into())
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

fn xaes_open(key: &[u8], nonce: &[u8], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let key: [u8; 32] = key.try_into().unwrap();
    let nonce: [u8; 24] = nonce.try_into().unwrap();
    let cipher = Xaes256Gcm::new(&key.into());
    let (ct, tag) = sealed.split_at(sealed.len().checked_sub(16)?);
    let tag: [u8; 16] = tag.try_into().unwrap();
    let mut buf = ct.to_vec();
    cipher
        .decrypt_inout_detached(&nonce.into(), aad, buf.as_mut_slice().into(), &tag.into())
        .ok()?;
    Some(buf)
}

#[test]
fn fixed_vectors_encrypt_and_decrypt() {
    let all = vectors();
    let list = all["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the vector file has two fixed vectors");
    for v in list {
        let key = hex_field(v, "key");
        let nonce = ascii_field(v, "nonce_ascii");
        let plaintext = ascii_field(v, "plaintext_ascii");
        let aad = ascii_field(v, "aad_ascii");
        let expected = hex_field(v, "ciphertext_and_tag");

        let sealed = xaes_seal(&key, &nonce, &plaintext, &aad);
        assert_eq!(hex::encode(&sealed), hex::encode(&expected));
        assert_eq!(
            xaes_open(&key, &nonce, &expected, &aad).as_deref(),
            Some(plaintext.as_slice())
        );

        // A flipped bit anywhere, or another AAD, must fail to open.
        for bit in 0..expected.len() * 8 {
            let mut bad = expected.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(xaes_open(&key, &nonce, &bad, &aad), None, "bit {bit}");
        }
        let mut other_aad = aad.clone();
        other_aad.push(b'!');
        assert_eq!(xaes_open(&key, &nonce, &expected, &other_aad), None);
    }
}

#[test]
fn derived_key_and_nonce_give_the_same_ciphertext_under_aes_gcm() {
    let all = vectors();
    for v in all["vectors"].as_array().unwrap() {
        let nonce = ascii_field(v, "nonce_ascii");
        let derived_key: [u8; 32] = hex_field(v, "derived_key").try_into().unwrap();
        let derived_nonce: [u8; 12] = hex_field(v, "derived_nonce").try_into().unwrap();
        // C2SP: the derived nonce is the last 12 bytes of the 24-byte nonce.
        assert_eq!(&nonce[12..], &derived_nonce[..]);
        let plaintext = ascii_field(v, "plaintext_ascii");
        let aad = ascii_field(v, "aad_ascii");
        let cipher = Aes256Gcm::new(&derived_key.into());
        let mut buf = plaintext.clone();
        let tag = cipher
            .encrypt_inout_detached(&derived_nonce.into(), &aad, buf.as_mut_slice().into())
            .unwrap();
        buf.extend_from_slice(&tag);
        assert_eq!(hex::encode(&buf), v["ciphertext_and_tag"].as_str().unwrap());
    }
}

/// The C2SP accumulated test: one SHAKE-128 stream drives keys, nonces,
/// plaintexts and AADs; every ciphertext is absorbed into a second SHAKE-128
/// whose first 32 output bytes are compared.
fn accumulated(iterations: usize) -> String {
    let mut source = Shake128::default().finalize_xof();
    let mut sink = Shake128::default();
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 24];
    let mut len = [0u8; 1];
    let mut plaintext = vec![0u8; 256];
    let mut aad = vec![0u8; 256];
    for _ in 0..iterations {
        source.read(&mut key);
        source.read(&mut nonce);
        source.read(&mut len);
        let pt = &mut plaintext[..usize::from(len[0])];
        source.read(pt);
        source.read(&mut len);
        let ad = &mut aad[..usize::from(len[0])];
        source.read(ad);
        let sealed = xaes_seal(&key, &nonce, pt, ad);
        assert_eq!(xaes_open(&key, &nonce, &sealed, ad).as_deref(), Some(&*pt));
        sink.update(&sealed);
    }
    let mut out = [0u8; 32];
    sink.finalize_xof().read(&mut out);
    hex::encode(out)
}

#[test]
fn shake_stream_starts_as_documented() {
    let mut out = [0u8; 16];
    Shake128::default().finalize_xof().read(&mut out);
    assert_eq!(hex::encode(out), "7f9c2ba4e88f827d616045507605853e");
}

#[test]
fn accumulated_10_000_iterations() {
    let all = vectors();
    assert_eq!(
        accumulated(10_000),
        all["accumulated"]["iterations_10000"].as_str().unwrap()
    );
}

#[test]
#[ignore = "slow: run with `cargo test --release --test xaes_vectors -- --ignored`"]
fn accumulated_1_000_000_iterations() {
    let all = vectors();
    assert_eq!(
        accumulated(1_000_000),
        all["accumulated"]["iterations_1000000"].as_str().unwrap()
    );
}
