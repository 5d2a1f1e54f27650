//! Maximal hostile inputs: a 1 MB `Cookie` header, thousands of same-name
//! cookies, a maximal chunk set, values at the size limit. Each test asserts
//! that the input is handled correctly and that the bound that keeps the work
//! small is the one that fires (by its error variant); none measures time.
//!
//! Why the work is linear in the input, and small:
//! - The `Cookie` header is read in one pass (split on `;`, split at `=`),
//!   keeping only slices; unrelated cookies cost a comparison each.
//! - At most `MAX_CANDIDATES` cookies of the session's name (and per chunk
//!   name) are kept, so a header with thousands of them keeps eight, and at
//!   most `MAX_CANDIDATES` assembled values are opened per request, however
//!   many combinations of duplicate chunk cookies there are.
//! - Each value's length is checked against the codec's budget (4096 bytes,
//!   or the total chunk budget) before base64 decoding, and assembled chunks
//!   before they are copied; base64, AES-GCM and HMAC are linear in that
//!   bounded length.
//! - The key is found by one binary search on the key id: no trial
//!   decryption, whatever the size of the ring.
//! - A compressed body states its length first; a length above the bound
//!   (64 KiB by default) is refused before any decompression, and the JSON
//!   parse is linear in that bounded length.
//!
//! So a request costs O(header length) for the scan plus at most
//! `MAX_CANDIDATES` times O(budget) for the cryptography, and memory is the
//! header plus one assembled value and one decompressed body.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sealed_session::{
    Codec, Compression, DynamicSession, Error, Key, KeyRing, MAX_CANDIDATES, MAX_CHUNKS,
};

const NOW: u64 = 1_733_500_000;
const MB: usize = 1 << 20;

fn ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes([0x42; 32])]).unwrap()
}

fn codec() -> Codec {
    Codec::builder("session").key_ring(ring()).build().unwrap()
}

fn genuine_session() -> DynamicSession {
    serde_json::from_str(r#"{"user":42,"cart":[1,2,3]}"#).unwrap()
}

fn genuine_value(codec: &Codec) -> String {
    codec.seal_at(&genuine_session(), NOW, [1; 24]).unwrap()
}

/// The genuine value with one character changed in the middle: same key id,
/// fails authentication (what a forger can at best produce).
fn forged_value(codec: &Codec) -> String {
    let mut v = genuine_value(codec).into_bytes();
    let mid = v.len() / 2;
    v[mid] = if v[mid] == b'A' { b'B' } else { b'A' };
    String::from_utf8(v).unwrap()
}

#[test]
fn a_one_megabyte_header_of_other_cookies_is_scanned_and_the_session_found() {
    let codec = codec();
    let mut header = String::with_capacity(MB + 200);
    let mut i = 0;
    while header.len() < MB {
        header.push_str(&format!("tracker{i}=abcdefghijklmnopqrstuvwxyz; "));
        i += 1;
    }
    assert_eq!(
        codec.decode_at::<DynamicSession>(&header, NOW).unwrap_err(),
        Error::NoCookie
    );
    header.push_str(&format!("session={}", genuine_value(&codec)));
    assert_eq!(
        codec
            .decode_at::<DynamicSession>(&header, NOW)
            .unwrap()
            .session,
        genuine_session()
    );
}

#[test]
fn a_one_megabyte_session_cookie_is_refused_before_decoding() {
    let codec = codec();
    let header = format!("session={}", "A".repeat(MB));
    match codec.decode_at::<DynamicSession>(&header, NOW).unwrap_err() {
        Error::TooLarge { size, limit, .. } => {
            assert_eq!(size, MB);
            assert!(limit <= 4096);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The same through the value API.
    assert!(matches!(
        codec.open_at::<DynamicSession>(&"A".repeat(MB), NOW),
        Err(Error::TooLarge { size: MB, .. })
    ));
}

#[test]
fn a_one_megabyte_header_without_separators_is_handled() {
    let codec = codec();
    for filler in ["=", ";", " ", "session", "\"", "session="] {
        let header = filler.repeat(MB / filler.len());
        assert!(codec.decode_at::<DynamicSession>(&header, NOW).is_err());
    }
}

#[test]
fn thousands_of_same_name_cookies_open_at_most_max_candidates() {
    let codec = codec();
    let forged = forged_value(&codec);
    let genuine = genuine_value(&codec);
    let forged_cookies = |n: usize| vec![format!("session={forged}"); n];

    // 5000 forgeries, then the genuine cookie: only the first
    // MAX_CANDIDATES are considered, so the genuine one is never reached and
    // the answer is the forgeries' error.
    let mut cookies = forged_cookies(5000);
    cookies.push(format!("session={genuine}"));
    assert_eq!(
        codec
            .decode_at::<DynamicSession>(&cookies.join("; "), NOW)
            .unwrap_err(),
        Error::Unauthenticated
    );

    // The bound is exactly MAX_CANDIDATES: the genuine cookie as the last
    // candidate still opens, one position later it is not considered.
    for (position, opens) in [(MAX_CANDIDATES - 1, true), (MAX_CANDIDATES, false)] {
        let mut cookies = forged_cookies(position);
        cookies.push(format!("session={genuine}"));
        cookies.extend(forged_cookies(1000));
        let result = codec.decode_at::<DynamicSession>(&cookies.join("; "), NOW);
        assert_eq!(
            result.is_ok(),
            opens,
            "genuine cookie at position {position}"
        );
    }

    // Genuine first, then thousands of forgeries: it opens.
    let mut cookies = vec![format!("session={genuine}")];
    cookies.extend(forged_cookies(5000));
    assert!(codec
        .decode_at::<DynamicSession>(&cookies.join("; "), NOW)
        .is_ok());
}

/// A codec with the largest chunk set: MAX_CHUNKS cookies, 64 KiB in total.
fn chunking_codec() -> Codec {
    Codec::builder("session")
        .key_ring(ring())
        .max_chunks(MAX_CHUNKS)
        .max_total_cookie_size(64 * 1024)
        .build()
        .unwrap()
}

fn chunk_header(count: usize, piece_len: usize, copies: usize) -> String {
    let piece = "A".repeat(piece_len);
    let mut cookies = vec![format!("session={count}.{piece}")];
    for _ in 0..copies {
        for i in 1..count {
            cookies.push(format!("session.{i}={piece}"));
        }
    }
    cookies.join("; ")
}

#[test]
fn a_maximal_chunk_set_is_bounded_by_the_total_budget() {
    let codec = chunking_codec();
    // Pieces that add up to more than the budget: refused before they are
    // copied together.
    match codec
        .decode_at::<DynamicSession>(&chunk_header(MAX_CHUNKS, 4200, 1), NOW)
        .unwrap_err()
    {
        Error::TooLarge { what, size, limit } => {
            // Refused while assembling, before the pieces are copied.
            assert_eq!(what, "chunked cookie value");
            assert_eq!(size, MAX_CHUNKS * 4200);
            assert_eq!(limit, 64 * 1024);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Pieces within the budget are assembled and rejected as a value
    // (all-'A' text decodes to zero bytes: version 0).
    assert!(matches!(
        codec.decode_at::<DynamicSession>(&chunk_header(MAX_CHUNKS, 4000, 1), NOW),
        Err(Error::Malformed { .. })
    ));
    // Every chunk name repeated a thousand times (about 64 MB of pieces in
    // principle): only MAX_CANDIDATES occurrences per name are kept.
    let header = chunk_header(MAX_CHUNKS, 64, 1000);
    assert!(header.len() > MB);
    assert!(matches!(
        codec.decode_at::<DynamicSession>(&header, NOW),
        Err(Error::Malformed { .. })
    ));
    // A chunk count above the configured number is malformed, as is a huge
    // digit run.
    for head in [
        "17.AAAA",
        "99.AAAA",
        "1.AAAA",
        "0.AAAA",
        "99999999999999999999.A",
    ] {
        assert!(matches!(
            codec.decode_at::<DynamicSession>(&format!("session={head}"), NOW),
            Err(Error::Malformed { .. })
        ));
    }
}

#[test]
fn a_genuine_session_spanning_the_maximal_chunk_set_opens() {
    let codec = Codec::builder("session")
        .key_ring(ring())
        .compression(Compression::Off)
        .max_chunks(MAX_CHUNKS)
        .max_total_cookie_size(64 * 1024)
        .build()
        .unwrap();
    // About 40 KB of JSON: needs most of the sixteen chunks.
    let blob: String = (0..40_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let mut session = DynamicSession::new();
    session.insert("blob".into(), blob.into());
    let set_cookies = codec.encode_at(&session, NOW, [2; 24]).unwrap();
    let header = set_cookies
        .iter()
        .filter(|h| !h.contains("Max-Age=0"))
        .map(|h| h.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(header.matches("session.").count() >= 10);
    assert_eq!(
        codec
            .decode_at::<DynamicSession>(&header, NOW)
            .unwrap()
            .session,
        session
    );
}

/// `(name, value)` of the live cookies of a genuine three-cookie session
/// (head, NAME.1, NAME.2).
fn three_chunks(codec: &Codec) -> Vec<(String, String)> {
    let mut session = DynamicSession::new();
    session.insert("pad".into(), "p".repeat(300).into());
    let pairs: Vec<(String, String)> = codec
        .encode_at(&session, NOW, [3; 24])
        .unwrap()
        .iter()
        .filter(|h| !h.contains("Max-Age=0"))
        .map(|h| {
            let (name, value) = h.split(';').next().unwrap().split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect();
    assert_eq!(pairs.len(), 3, "{pairs:?}");
    pairs
}

#[test]
fn junk_chunk_combinations_are_tried_within_max_candidates() {
    let codec = Codec::builder("session")
        .key_ring(ring())
        .compression(Compression::Off)
        .max_cookie_size(200)
        .max_chunks(3)
        .build()
        .unwrap();
    let pairs = three_chunks(&codec);
    let head = format!("{}={}", pairs[0].0, pairs[0].1);
    let genuine = |i: usize| format!("{}={}", pairs[i].0, pairs[i].1);
    let junk = |i: usize| format!("{}={}", pairs[i].0, "J".repeat(pairs[i].1.len()));
    // The genuine NAME.1 first and NAME.2 last among `n` occurrences each:
    // a combination that neither the all-first nor the all-last choice
    // makes.
    let header = |n: usize| {
        let mut cookies = vec![head.clone(), genuine(1)];
        cookies.extend((1..n).map(|_| junk(1)));
        cookies.extend((1..n).map(|_| junk(2)));
        cookies.push(genuine(2));
        cookies.join("; ")
    };
    // 2 x 2 and 3 x 3 combinations: found, the latter with the last of the
    // MAX_CANDIDATES opened values.
    for n in [2, 3] {
        assert!(
            codec.decode_at::<DynamicSession>(&header(n), NOW).is_ok(),
            "{n} occurrences each"
        );
    }
    // MAX_CANDIDATES x MAX_CANDIDATES combinations: only MAX_CANDIDATES are
    // opened, all forgeries, so the genuine one is not reached.
    assert_eq!(
        codec
            .decode_at::<DynamicSession>(&header(MAX_CANDIDATES), NOW)
            .unwrap_err(),
        Error::Unauthenticated
    );
    // Thousands of junk chunks: still only MAX_CANDIDATES occurrences of
    // each are kept, and the genuine ones placed first are found at once.
    let mut cookies = vec![head.clone(), genuine(1), genuine(2)];
    for _ in 0..5000 {
        cookies.extend([junk(1), junk(2)]);
    }
    let flood = cookies.join("; ");
    assert!(flood.len() > MB);
    assert!(codec.decode_at::<DynamicSession>(&flood, NOW).is_ok());
}

#[test]
fn values_at_the_size_limit_reach_authentication_and_one_more_byte_does_not() {
    let codec = codec();
    let key_id = *Key::from_bytes([0x42; 32]).id().as_bytes();
    // 3072 bytes encode to exactly 4096 characters.
    let mut raw = vec![1u8];
    raw.extend_from_slice(&key_id);
    raw.resize(3072, 0x5a);
    let at_limit = URL_SAFE_NO_PAD.encode(&raw);
    assert_eq!(at_limit.len(), 4096);
    assert_eq!(
        codec.open_at::<DynamicSession>(&at_limit, NOW).unwrap_err(),
        Error::Unauthenticated
    );
    let over = format!("{at_limit}A");
    assert!(matches!(
        codec.open_at::<DynamicSession>(&over, NOW),
        Err(Error::TooLarge {
            size: 4097,
            limit: 4096,
            ..
        })
    ));
}
