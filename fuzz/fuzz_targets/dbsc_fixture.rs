//! What the `dbsc_endpoints` target and the example that writes its seeds
//! (`examples/dbsc_seeds.rs`) must agree on: the codec, the time, the
//! nonces and how an input splits into the request's headers. Seeds made
//! with another key, time or layout would never get past authentication.

use sealed_session::{Codec, DbscRequest, DeviceBinding, Key, KeyRing};

/// The time every request is answered at.
pub const NOW: u64 = 1_733_500_000;

/// Separates the parts of an input: it cannot occur in a header value.
pub const SEPARATOR: u8 = 0;

/// A codec with device binding (default lifetimes and endpoints), a fixed
/// key and a parent domain.
pub fn codec() -> Codec {
    Codec::builder("sid")
        .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).expect("ring"))
        .domain("shop.test")
        .device_binding(DeviceBinding::new())
        .build()
        .expect("codec")
}

/// Fixed nonces for one answer: 1, 2, 3, ... repeated over 24 bytes.
pub fn nonces() -> impl FnMut() -> sealed_session::Result<[u8; 24]> {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        Ok([n; 24])
    }
}

/// Splits an input at [`SEPARATOR`] into the `Cookie` header, the proof
/// (`Secure-Session-Response`) and the session id (`Sec-Secure-Session-Id`).
/// A part that is missing or empty is an absent header, and so is a proof
/// or session id that is not UTF-8 (a server hands over text); anything
/// after a third separator belongs to the session id.
pub fn request(data: &[u8]) -> DbscRequest<'_> {
    let mut parts = data.splitn(3, |&b| b == SEPARATOR);
    let cookie_header = parts.next().unwrap_or_default();
    let mut text = || {
        parts
            .next()
            .filter(|part| !part.is_empty())
            .and_then(|part| std::str::from_utf8(part).ok())
    };
    let proof = text();
    let session_id = text();
    // No host: the fixed domain does not depend on it.
    DbscRequest {
        cookie_header,
        proof,
        session_id,
        ..Default::default()
    }
}

/// The input that [`request`] splits into these parts (`None`: absent).
#[allow(dead_code)] // used by the seed writer only
pub fn input(cookie_header: &str, proof: Option<&str>, session_id: Option<&str>) -> Vec<u8> {
    let mut data = cookie_header.as_bytes().to_vec();
    for part in [proof, session_id] {
        data.push(SEPARATOR);
        data.extend_from_slice(part.unwrap_or_default().as_bytes());
    }
    data
}
