//! Chunk splitting swept over many value lengths and budgets: every cookie
//! within the limit, the fewest chunks that fit, and an exact round trip.

use sealed_session::{Codec, Compression, Error, Key, KeyRing};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;

fn codec(name: &str, max_cookie_size: usize, max_chunks: usize) -> Codec {
    Codec::builder(name)
        .key_ring(KeyRing::from_keys([Key::from_bytes([4; 32])]).unwrap())
        .compression(Compression::Off)
        .max_cookie_size(max_cookie_size)
        .max_chunks(max_chunks)
        .max_total_cookie_size(64 * 1024)
        .build()
        .unwrap()
}

/// Live `(name, value)` pairs of a response (expiring ones left out).
fn live(cookies: &sealed_session::SetCookies) -> Vec<(String, String)> {
    cookies
        .iter()
        .filter(|h| !h.contains("; Max-Age=0"))
        .map(|h| {
            let (name, value) = h.split(';').next().unwrap().split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn header(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn every_length_splits_into_the_fewest_chunks_within_the_limit() {
    for (name, limit) in [("s", 64), ("session", 100), ("__Secure-sid", 257)] {
        let codec = codec(name, limit, 16);
        let mut previous_count = 0;
        for pad in (0..1500).step_by(7) {
            let session = json!({ "pad": "x".repeat(pad) });
            let cookies = match codec.encode_at(&session, NOW, [pad as u8; 24]) {
                Ok(cookies) => cookies,
                // Beyond 16 chunks: the error states the size and the limit.
                Err(Error::TooLarge { size, limit, .. }) => {
                    assert!(size > limit);
                    continue;
                }
                Err(other) => panic!("{other:?}"),
            };
            assert_eq!(cookies.len(), 16, "live cookies plus expiring stale chunks");
            let pairs = live(&cookies);
            let count = pairs.len();
            assert!(
                count >= previous_count,
                "chunk count never shrinks as values grow"
            );
            previous_count = count;
            for (i, (cookie_name, value)) in pairs.iter().enumerate() {
                assert!(cookie_name.len() + value.len() <= limit, "{name} pad {pad}");
                let expected = if i == 0 {
                    name.to_owned()
                } else {
                    format!("{name}.{i}")
                };
                assert_eq!(cookie_name, &expected);
                assert!(!value.is_empty(), "no empty chunk");
            }
            if count > 1 {
                assert!(pairs[0].1.starts_with(&format!("{count}.")));
                // The fewest chunks: one less could not hold the value.
                let value_len: usize =
                    pairs.iter().map(|(_, v)| v.len()).sum::<usize>() - format!("{count}.").len();
                let fewer = count - 1;
                let capacity: usize = (0..fewer)
                    .map(|i| {
                        if i == 0 {
                            limit - name.len() - format!("{fewer}.").len()
                        } else {
                            limit - name.len() - format!(".{i}").len()
                        }
                    })
                    .sum();
                assert!(
                    fewer == 1 && name.len() + value_len > limit || capacity < value_len,
                    "{name} pad {pad}"
                );
            } else {
                assert!(!pairs[0].1.contains('.'));
            }
            let opened = codec.decode_at::<Value>(&header(&pairs), NOW).unwrap();
            assert_eq!(opened.session, session);
        }
    }
}

#[test]
fn chunking_starts_one_byte_over_the_default_limit() {
    let codec = codec("s", 4096, 2);
    let mut seen_one = false;
    let mut seen_two = false;
    for pad in 3000..3100 {
        let session = json!({ "pad": "y".repeat(pad) });
        let pairs = live(&codec.encode_at(&session, NOW, [1; 24]).unwrap());
        if pairs.len() == 1 {
            assert!(pairs[0].0.len() + pairs[0].1.len() <= 4096);
            seen_one = true;
        } else {
            let unchunked = pairs.iter().map(|(_, v)| v.len()).sum::<usize>() - "2.".len();
            assert!("s".len() + unchunked > 4096, "chunked only when needed");
            seen_two = true;
        }
        let opened = codec.decode_at::<Value>(&header(&pairs), NOW).unwrap();
        assert_eq!(opened.session, session);
    }
    assert!(seen_one && seen_two);
}
