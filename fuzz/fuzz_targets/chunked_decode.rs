//! Chunked decoding under hostile rearrangement: a genuine session sealed
//! over several chunk cookies, then the fuzzer drops, duplicates, reorders,
//! renames and rewrites the cookies and adds its own. Decoding never panics,
//! whatever opens is the genuine session (no chunk mix forges another), and
//! one header field per cookie gives the same answer as the joined header.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sealed_session::{Codec, DynamicSession, Key, KeyRing};

const NOW: u64 = 1_733_500_000;

struct Fixture {
    codec: Codec,
    session: DynamicSession,
    /// `name=value` pairs of the genuine chunked session.
    pairs: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let codec = Codec::builder("session")
            .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).expect("ring"))
            .compression(sealed_session::Compression::Off)
            .max_chunks(4)
            .max_cookie_size(512)
            .build()
            .expect("codec");
        let text: String = (0..900)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let mut session = DynamicSession::new();
        session.insert("blob".into(), text.into());
        let pairs: Vec<String> = codec
            .encode_at(&session, NOW, [9; 24])
            .expect("encode")
            .iter()
            .filter(|h| !h.contains("Max-Age=0"))
            .filter_map(|h| h.split(';').next().map(str::to_owned))
            .collect();
        assert!(pairs.len() >= 3, "the fixture spans several chunks");
        Fixture {
            codec,
            session,
            pairs,
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Op {
    Drop(u8),
    Duplicate(u8),
    Swap(u8, u8),
    /// Replace the value of cookie i, keeping its name.
    Rewrite(u8, String),
    /// Rename cookie i.
    Rename(u8, String),
    /// Flip one byte of cookie i's value (ASCII-preserving).
    Flip(u8, u16, u8),
    Insert(u8, String),
}

fuzz_target!(|ops: Vec<Op>| {
    let f = fixture();
    let mut pairs = f.pairs.clone();
    for op in ops.into_iter().take(32) {
        let n = pairs.len().max(1);
        match op {
            Op::Drop(i) if !pairs.is_empty() => {
                pairs.remove(usize::from(i) % n);
            }
            Op::Duplicate(i) if !pairs.is_empty() => {
                let p = pairs[usize::from(i) % n].clone();
                pairs.push(p);
            }
            Op::Swap(a, b) if !pairs.is_empty() => {
                pairs.swap(usize::from(a) % n, usize::from(b) % n)
            }
            Op::Rewrite(i, v) if !pairs.is_empty() => {
                let i = usize::from(i) % n;
                let name = pairs[i].split('=').next().unwrap_or("").to_owned();
                pairs[i] = format!("{name}={v}");
            }
            Op::Rename(i, name) if !pairs.is_empty() => {
                let i = usize::from(i) % n;
                let value = pairs[i]
                    .split_once('=')
                    .map(|(_, v)| v)
                    .unwrap_or("")
                    .to_owned();
                pairs[i] = format!("{name}={value}");
            }
            Op::Flip(i, at, x) if !pairs.is_empty() => {
                let i = usize::from(i) % n;
                let mut bytes = pairs[i].clone().into_bytes();
                if !bytes.is_empty() {
                    let at = usize::from(at) % bytes.len();
                    bytes[at] = (bytes[at] ^ x) & 0x7f;
                }
                pairs[i] = String::from_utf8(bytes).unwrap_or_default();
            }
            Op::Insert(i, raw) => pairs.insert(usize::from(i) % (pairs.len() + 1), raw),
            _ => {}
        }
    }
    let header = pairs.join("; ");
    let joined = f.codec.decode_at::<DynamicSession>(&header, NOW);
    if let Ok(opened) = &joined {
        assert_eq!(
            opened.session, f.session,
            "a rearranged header opened another session"
        );
    }
    // One header field per cookie (HTTP/2), as bytes: the same answer.
    let fields: Vec<&[u8]> = pairs.iter().map(|p| p.as_bytes()).collect();
    let split = f.codec.decode_fields_at::<DynamicSession>(&fields, NOW);
    assert_eq!(
        joined.map(|o| o.session),
        split.map(|o| o.session),
        "one header and one field per cookie disagree"
    );
});
