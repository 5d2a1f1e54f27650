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
    for pad in 2900..3100 {
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

/// A value as long as `genuine` that is not it: what a sibling subdomain can
/// plant under a chunk's name.
fn junk_like(genuine: &str, tag: char) -> String {
    std::iter::repeat_n(tag, genuine.len()).collect()
}

/// Where junk copies of one chunk cookie are planted around the genuine one.
#[derive(Clone, Copy, Debug)]
enum Junk {
    None,
    Before,
    After,
    Both,
}

/// The genuine chunked session, with the junk of `pattern[i - 1]` planted
/// around chunk `i` (the head stays single).
fn planted(pairs: &[(String, String)], pattern: &[Junk]) -> String {
    let mut cookies = vec![format!("{}={}", pairs[0].0, pairs[0].1)];
    for ((name, value), junk) in pairs[1..].iter().zip(pattern) {
        let before = format!("{name}={}", junk_like(value, 'B'));
        let after = format!("{name}={}", junk_like(value, 'C'));
        let genuine = format!("{name}={value}");
        match junk {
            Junk::None => cookies.push(genuine),
            Junk::Before => cookies.extend([before, genuine]),
            Junk::After => cookies.extend([genuine, after]),
            Junk::Both => cookies.extend([before, genuine, after]),
        }
    }
    cookies.join("; ")
}

#[test]
fn junk_chunks_planted_before_after_or_around_the_genuine_ones_do_not_hide_it() {
    let codec = codec("s", 120, 4);
    let all = [Junk::None, Junk::Before, Junk::After, Junk::Both];
    for (chunks, pad) in [(2, 60), (3, 150)] {
        let session = json!({ "pad": "z".repeat(pad) });
        let pairs = live(&codec.encode_at(&session, NOW, [5; 24]).unwrap());
        assert_eq!(pairs.len(), chunks, "pad {pad}");
        let lists = chunks - 1;
        for n in 0..all.len().pow(lists as u32) {
            let pattern: Vec<Junk> = (0..lists)
                .map(|i| all[n / all.len().pow(i as u32) % all.len()])
                .collect();
            let header = planted(&pairs, &pattern);
            let opened = codec
                .decode_at::<Value>(&header, NOW)
                .unwrap_or_else(|e| panic!("{chunks} chunks, junk {pattern:?}: {e:?}"));
            assert_eq!(opened.session, session, "{chunks} chunks, junk {pattern:?}");
        }
    }
}
