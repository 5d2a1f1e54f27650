//! The rules of FORMAT.md that the fixed vectors do not show, one test per
//! rule, each named after the rule and checked against the actual
//! behaviour: through `Codec::open_at`, `Codec::decode_at` and, where the
//! CLI offers it, `sealed-session open`.
//!
//! Values that the crate's own encoder never writes (two zstd frames, a
//! signed value that expires before it was issued, odd zstd frame headers)
//! are built here byte by byte with XAES-256-GCM or HMAC-SHA256 under a
//! known key, sharing no code with the crate.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sealed_session::{
    derive_key, inspect, Codec, Compression, Dictionary, DynamicSession, Error, Key, KeyRing,
    KeyRingConfig, Mode, DEFAULT_MAX_TOTAL_COOKIE_SIZE, MAX_CHUNKS,
};
use sha2::{Digest, Sha256};
use xaes_256_gcm::aead::{AeadInOut, KeyInit};
use xaes_256_gcm::Xaes256Gcm;
use zstd::zstd_safe::{CCtx, CParameter, FrameFormat};

const KEY: [u8; 32] = [7; 32];
const NAME: &str = "session";
const NOW: u64 = 1_700_000_000;
const MAX_AGE: u64 = 3600;
const NONCE: [u8; 24] = [9; 24];

// ---------------------------------------------------------------- builders

fn ring() -> KeyRing {
    KeyRing::from_keys([Key::from_bytes(KEY)]).unwrap()
}

fn codec() -> Codec {
    Codec::builder(NAME).key_ring(ring()).build().unwrap()
}

fn signed_codec() -> Codec {
    Codec::builder(NAME)
        .key_ring(ring())
        .mode(Mode::SignedOnly)
        .build()
        .unwrap()
}

fn key_id() -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(b"sealed-session key id v1\0")
        .chain_update(KEY)
        .finalize();
    digest[..4].try_into().unwrap()
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// flags || varint NOW || varint MAX_AGE || body.
fn plaintext(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![flags];
    varint(&mut p, NOW);
    varint(&mut p, MAX_AGE);
    p.extend_from_slice(body);
    p
}

/// A version 0x01 value of `plaintext` under KEY for the cookie NAME.
fn seal_raw(plaintext: &[u8]) -> String {
    let mut raw = vec![0x01];
    raw.extend_from_slice(&key_id());
    raw.extend_from_slice(&NONCE);
    let mut aad = raw[..5].to_vec();
    aad.extend_from_slice(NAME.as_bytes());
    let mut ciphertext = plaintext.to_vec();
    let tag = Xaes256Gcm::new(&KEY.into())
        .encrypt_inout_detached(&NONCE.into(), &aad, ciphertext.as_mut_slice().into())
        .unwrap();
    raw.extend_from_slice(&ciphertext);
    raw.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The plaintext of a version 0x01 value sealed under KEY for NAME.
fn unseal_raw(value: &str) -> Vec<u8> {
    let raw = URL_SAFE_NO_PAD.decode(value).unwrap();
    let nonce: [u8; 24] = raw[5..29].try_into().unwrap();
    let tag: [u8; 16] = raw[raw.len() - 16..].try_into().unwrap();
    let mut aad = raw[..5].to_vec();
    aad.extend_from_slice(NAME.as_bytes());
    let mut plaintext = raw[29..raw.len() - 16].to_vec();
    Xaes256Gcm::new(&KEY.into())
        .decrypt_inout_detached(
            &nonce.into(),
            &aad,
            plaintext.as_mut_slice().into(),
            &tag.into(),
        )
        .unwrap();
    plaintext
}

/// A version 0x02 value with the given times and JSON, MAC'd under KEY.
fn sign_raw(issued_at: u64, expires_at: u64, json: &[u8]) -> Vec<u8> {
    let mut signing_key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"sealed-session/v1"), &KEY)
        .expand(b"sealed-session/v1/signed-cookie-mac", &mut signing_key)
        .unwrap();
    let mut raw = vec![0x02];
    raw.extend_from_slice(&key_id());
    raw.extend_from_slice(&issued_at.to_be_bytes());
    raw.extend_from_slice(&expires_at.to_be_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&signing_key).unwrap();
    mac.update(&u16::try_from(NAME.len()).unwrap().to_be_bytes());
    mac.update(NAME.as_bytes());
    mac.update(&raw);
    mac.update(json);
    raw.extend_from_slice(&mac.finalize().into_bytes());
    raw.extend_from_slice(json);
    raw
}

/// A magicless zstd frame of `data` as the crate writes it (no checksum,
/// content size or dictionary id), with `extra` parameters on top.
fn zstd_frame(data: &[u8], extra: &[CParameter], dictionary: Option<&[u8]>) -> Vec<u8> {
    let mut cctx = CCtx::create();
    for p in [
        CParameter::Format(FrameFormat::Magicless),
        CParameter::ContentSizeFlag(false),
        CParameter::ChecksumFlag(false),
        CParameter::DictIdFlag(false),
    ]
    .iter()
    .chain(extra)
    {
        cctx.set_parameter(*p).unwrap();
    }
    if let Some(dictionary) = dictionary {
        cctx.load_dictionary(dictionary).unwrap();
    }
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
    cctx.compress2(&mut out, data).unwrap();
    out
}

/// Body encoding 1: varint json_len || the given frame bytes.
fn zstd_body(json_len: usize, frames: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    varint(&mut body, json_len as u64);
    for frame in frames {
        body.extend_from_slice(frame);
    }
    body
}

fn open(codec: &Codec, value: &str) -> Result<DynamicSession, Error> {
    codec
        .open_at::<DynamicSession>(value, NOW)
        .map(|o| o.session)
}

fn json_of(text: &str) -> DynamicSession {
    serde_json::from_str(text).unwrap()
}

const JSON: &str =
    r#"{"cart":[1,2,3,4,5,6,7,8,9],"csrf":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","user":42}"#;

// ---------------------------------------------------------------- zstd body

#[test]
fn zstd_body_is_exactly_one_frame() {
    let json = JSON.as_bytes();
    let one = zstd_frame(json, &[], None);
    assert_eq!(
        open(
            &codec(),
            &seal_raw(&plaintext(1, &zstd_body(json.len(), &[&one])))
        )
        .unwrap(),
        json_of(JSON)
    );
    // The same JSON as two frames that together yield json_len bytes.
    let (a, b) = json.split_at(40);
    let two = zstd_body(
        json.len(),
        &[&zstd_frame(a, &[], None), &zstd_frame(b, &[], None)],
    );
    assert_eq!(
        open(&codec(), &seal_raw(&plaintext(1, &two))),
        Err(Error::Malformed {
            reason: "the zstd body holds more than one frame"
        })
    );
    // A frame followed by an empty frame.
    let empty = zstd_frame(b"", &[], None);
    let trailing = zstd_body(json.len(), &[&one, &empty]);
    assert_eq!(
        open(&codec(), &seal_raw(&plaintext(1, &trailing))),
        Err(Error::Malformed {
            reason: "the zstd body holds more than one frame"
        })
    );
    // Bytes after the frame that are no frame at all.
    let junk = zstd_body(json.len(), &[&one, &[0]]);
    assert!(open(&codec(), &seal_raw(&plaintext(1, &junk))).is_err());
}

#[test]
fn zstd_body_with_a_dictionary_is_exactly_one_frame() {
    let dictionary = DICTIONARY.as_bytes();
    let dict = Dictionary::from_bytes(dictionary).unwrap();
    let codec = Codec::builder(NAME)
        .key_ring(ring())
        .dictionaries([dict])
        .build()
        .unwrap();
    let json = JSON.as_bytes();
    let one = zstd_frame(json, &[], Some(dictionary));
    let empty = zstd_frame(b"", &[], Some(dictionary));
    let mut body = dictionary_id(dictionary).to_vec();
    body.extend(zstd_body(json.len(), &[&one]));
    assert_eq!(
        open(&codec, &seal_raw(&plaintext(2, &body))).unwrap(),
        json_of(JSON)
    );
    let mut body = dictionary_id(dictionary).to_vec();
    body.extend(zstd_body(json.len(), &[&one, &empty]));
    assert_eq!(
        open(&codec, &seal_raw(&plaintext(2, &body))),
        Err(Error::Malformed {
            reason: "the zstd body holds more than one frame"
        })
    );
}

#[test]
fn zstd_frame_is_magicless() {
    let json = JSON.as_bytes();
    let standard = zstd_frame(json, &[CParameter::Format(FrameFormat::One)], None);
    assert_eq!(&standard[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(
        open(
            &codec(),
            &seal_raw(&plaintext(1, &zstd_body(json.len(), &[&standard])))
        ),
        Err(Error::Decompression)
    );
    // The same frame without its magic number opens.
    assert_eq!(
        open(
            &codec(),
            &seal_raw(&plaintext(1, &zstd_body(json.len(), &[&standard[4..]])))
        )
        .unwrap(),
        json_of(JSON)
    );
}

#[test]
fn zstd_checksum_is_optional_and_verified_when_present() {
    let json = JSON.as_bytes();
    let mut frame = zstd_frame(json, &[CParameter::ChecksumFlag(true)], None);
    assert_ne!(frame[0] & 0x04, 0, "checksum flag set");
    assert_eq!(
        open(
            &codec(),
            &seal_raw(&plaintext(1, &zstd_body(json.len(), &[&frame])))
        )
        .unwrap(),
        json_of(JSON)
    );
    *frame.last_mut().unwrap() ^= 1;
    assert_eq!(
        open(
            &codec(),
            &seal_raw(&plaintext(1, &zstd_body(json.len(), &[&frame])))
        ),
        Err(Error::Decompression)
    );
}

#[test]
fn zstd_content_size_is_optional_and_must_equal_json_len() {
    let json = JSON.as_bytes();
    let frame = zstd_frame(json, &[CParameter::ContentSizeFlag(true)], None);
    assert_ne!(frame[0] & 0xe0, 0, "content size present");
    assert_eq!(
        open(
            &codec(),
            &seal_raw(&plaintext(1, &zstd_body(json.len(), &[&frame])))
        )
        .unwrap(),
        json_of(JSON)
    );
    for wrong in [json.len() - 1, json.len() + 1] {
        assert_eq!(
            open(
                &codec(),
                &seal_raw(&plaintext(1, &zstd_body(wrong, &[&frame])))
            ),
            Err(Error::Decompression),
            "json_len {wrong}"
        );
    }
}

#[test]
fn zstd_dictionary_id_field_is_absent_zero_or_the_trained_dictionarys_own_id() {
    let json = JSON.as_bytes();
    let frame = zstd_frame(json, &[], None);
    // Frame_Header_Descriptor 0x00: window descriptor, no dictionary id.
    assert_eq!(frame[0], 0x00);
    let with_field = |size_flag: u8, id: &[u8]| {
        let mut f = vec![frame[0] | size_flag, frame[1]];
        f.extend_from_slice(id);
        f.extend_from_slice(&frame[2..]);
        seal_raw(&plaintext(1, &zstd_body(json.len(), &[&f])))
    };
    assert_eq!(open(&codec(), &with_field(1, &[0])).unwrap(), json_of(JSON));
    assert_eq!(
        open(&codec(), &with_field(2, &[0, 0])).unwrap(),
        json_of(JSON)
    );
    assert_eq!(
        open(&codec(), &with_field(1, &[5])),
        Err(Error::Decompression)
    );
}

#[cfg(feature = "dict-train")]
#[test]
fn zstd_dictionary_id_field_may_name_the_trained_dictionary_in_use() {
    let samples = training_samples();
    let trained = Dictionary::train(&samples, 2048).unwrap();
    let codec = Codec::builder(NAME)
        .key_ring(ring())
        .dictionaries([Dictionary::from_bytes(&trained).unwrap()])
        .build()
        .unwrap();
    let json = &samples[3];
    let frame = zstd_frame(json, &[CParameter::DictIdFlag(true)], Some(&trained));
    assert_eq!(frame[0] & 0x03, 3, "a 4-byte dictionary id field");
    assert_eq!(&frame[2..6], &trained[4..8], "the trained dictionary's id");
    let mut body = dictionary_id(&trained).to_vec();
    body.extend(zstd_body(json.len(), &[&frame]));
    let opened = open(&codec, &seal_raw(&plaintext(2, &body))).unwrap();
    assert_eq!(
        opened,
        serde_json::from_slice::<DynamicSession>(json).unwrap()
    );
}

// ---------------------------------------------------------------- dictionaries

/// A raw-content dictionary: typical session JSON.
const DICTIONARY: &str =
    r#"{"cart":[1,2,3],"csrf":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","user":7}"#;

fn dictionary_id(bytes: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(b"sealed-session dictionary id v1\0")
        .chain_update(bytes)
        .finalize();
    digest[..4].try_into().unwrap()
}

#[cfg(feature = "dict-train")]
fn training_samples() -> Vec<Vec<u8>> {
    (0..300)
        .map(|i| {
            format!(
                r#"{{"locale":"en-US","user":{{"id":{i},"name":"user{}","roles":["buyer","r{}"]}}}}"#,
                i * 7,
                i % 13
            )
            .into_bytes()
        })
        .collect()
}

#[test]
fn dictionary_bytes_with_the_zstd_dictionary_magic_are_a_zstd_dictionary_else_raw_content() {
    // Raw content: anything that does not start with 37 a4 30 ec.
    let raw = Dictionary::from_bytes(DICTIONARY).unwrap();
    assert_eq!(
        raw.id().to_string(),
        hex::encode(dictionary_id(DICTIONARY.as_bytes()))
    );
    // The same bytes behind the magic number are parsed as zstd's
    // dictionary format, and refused when they are not one.
    let mut fake = vec![0x37, 0xa4, 0x30, 0xec];
    fake.extend_from_slice(DICTIONARY.as_bytes());
    assert!(matches!(
        Dictionary::from_bytes(&fake),
        Err(Error::Config { .. })
    ));
    // A value compressed against raw content opens (see also vector 5).
    let codec = Codec::builder(NAME)
        .key_ring(ring())
        .dictionaries([raw])
        .build()
        .unwrap();
    let mut body = dictionary_id(DICTIONARY.as_bytes()).to_vec();
    let frame = zstd_frame(JSON.as_bytes(), &[], Some(DICTIONARY.as_bytes()));
    body.extend(zstd_body(JSON.len(), &[&frame]));
    assert_eq!(
        open(&codec, &seal_raw(&plaintext(2, &body))).unwrap(),
        json_of(JSON)
    );
}

#[cfg(feature = "dict-train")]
#[test]
fn dictionary_id_hashes_the_whole_trained_file() {
    let trained = Dictionary::train(&training_samples(), 2048).unwrap();
    assert_eq!(
        &trained[..4],
        &[0x37, 0xa4, 0x30, 0xec],
        "zstd's dictionary format"
    );
    assert_eq!(
        Dictionary::from_bytes(&trained).unwrap().id().to_string(),
        hex::encode(dictionary_id(&trained))
    );
}

// ---------------------------------------------------------------- compression

#[test]
fn json_below_64_bytes_is_never_compressed() {
    // Without an identity block, so the flags byte shows only the body.
    let codec = Codec::builder(NAME)
        .key_ring(ring())
        .compression(Compression::Zstd { level: 19 })
        .write_identity(false)
        .build()
        .unwrap();
    // `{"a":"` + n × 'a' + `"}`: 8 + n bytes, very compressible.
    let session = |len: usize| json_of(&format!(r#"{{"a":"{}"}}"#, "a".repeat(len - 8)));
    let flags = |len: usize| unseal_raw(&codec.seal_at(&session(len), NOW, NONCE).unwrap())[0];
    assert_eq!(flags(63), 0x00, "63 bytes: stored as is");
    assert_eq!(flags(64), 0x01, "64 bytes: compressed, since shorter");
}

#[test]
fn decoder_accepts_zstd_whatever_the_json_length() {
    // An encoder never compresses 7 bytes, but a decoder does not check.
    let json = br#"{"a":1}"#;
    let frame = zstd_frame(json, &[], None);
    let value = seal_raw(&plaintext(1, &zstd_body(json.len(), &[&frame])));
    assert_eq!(open(&codec(), &value).unwrap(), json_of(r#"{"a":1}"#));
}

// ---------------------------------------------------------------- padding

#[test]
fn padding_always_adds_the_marker_so_a_full_bucket_grows_by_one_bucket() {
    let codec = Codec::builder(NAME)
        .key_ring(ring())
        .compression(Compression::Off)
        .max_age(Duration::from_secs(MAX_AGE))
        .pad_to_multiple_of(64)
        .write_identity(false)
        .build()
        .unwrap();
    // flags (1) + issued_at (5) + max_age (2) + JSON: 8 + 8 + n bytes (no
    // identity block).
    let session = |n: usize| json_of(&format!(r#"{{"a":"{}"}}"#, "a".repeat(n)));
    let padded_len = |n: usize| unseal_raw(&codec.seal_at(&session(n), NOW, NONCE).unwrap()).len();
    assert_eq!(padded_len(47), 64, "63 bytes + marker fill one bucket");
    assert_eq!(
        padded_len(48),
        128,
        "64 bytes + marker need a second bucket"
    );
    let p = unseal_raw(&codec.seal_at(&session(48), NOW, NONCE).unwrap());
    assert_eq!(p[0], 0x04);
    assert_eq!(p[64], 0x80);
    assert!(p[65..].iter().all(|&b| b == 0));
}

#[test]
fn decoder_accepts_any_run_of_zero_bytes_after_the_padding_marker() {
    // No bucket is checked: the codec opening it does not pad at all.
    for zeros in [0, 1, 3, 500] {
        let mut body = br#"{"a":1}"#.to_vec();
        body.push(0x80);
        body.resize(body.len() + zeros, 0);
        let value = seal_raw(&plaintext(0x04, &body));
        assert_eq!(
            open(&codec(), &value).unwrap(),
            json_of(r#"{"a":1}"#),
            "{zeros}"
        );
    }
    let value = seal_raw(&plaintext(0x04, b"{\"a\":1}\0\0"));
    assert_eq!(
        open(&codec(), &value),
        Err(Error::Malformed {
            reason: "bad padding marker"
        })
    );
    let value = seal_raw(&plaintext(0x04, b"\0\0"));
    assert_eq!(
        open(&codec(), &value),
        Err(Error::Malformed {
            reason: "padding without marker"
        })
    );
}

// ---------------------------------------------------------------- lengths

#[test]
fn sealed_value_is_at_least_48_bytes() {
    let short = URL_SAFE_NO_PAD.encode([&[0x01][..], &key_id(), &[0u8; 42]].concat());
    assert_eq!(
        open(&codec(), &short),
        Err(Error::Malformed {
            reason: "too short to be a sealed value"
        })
    );
    // 48 bytes: flags, two one-byte varints, empty body (not JSON).
    let mut p = vec![0x00];
    varint(&mut p, 0);
    varint(&mut p, 1);
    let value = seal_raw(&p);
    assert_eq!(URL_SAFE_NO_PAD.decode(&value).unwrap().len(), 48);
    assert!(matches!(
        codec().open_at::<DynamicSession>(&value, 0),
        Err(Error::Deserialize {
            category: "eof",
            ..
        })
    ));
}

#[test]
fn signed_value_is_at_least_53_bytes() {
    let full = sign_raw(NOW, NOW + MAX_AGE, b"");
    assert_eq!(full.len(), 53);
    assert_eq!(
        open(&signed_codec(), &URL_SAFE_NO_PAD.encode(&full[..52])),
        Err(Error::Malformed {
            reason: "too short to be a signed value"
        })
    );
    // 53 bytes: authentic, empty JSON.
    assert!(matches!(
        open(&signed_codec(), &URL_SAFE_NO_PAD.encode(&full)),
        Err(Error::Deserialize {
            category: "eof",
            ..
        })
    ));
}

#[test]
fn cookie_limit_counts_name_and_value_at_encode_and_the_value_alone_at_decode() {
    // JSON of 3019 bytes: plaintext 3027, raw 3072, text exactly 4096.
    let json = format!(r#"{{"a":"{}"}}"#, "x".repeat(3011));
    let value = seal_raw(&plaintext(0, json.as_bytes()));
    assert_eq!(value.len(), 4096);
    assert_eq!(open(&codec(), &value).unwrap(), json_of(&json));
    assert_eq!(
        open(&codec(), &format!("{value}A")),
        Err(Error::TooLarge {
            what: "cookie value",
            size: 4097,
            limit: 4096
        })
    );
    // The encoder counts the name too: "session" + 4096 > 4096.
    let encoder = Codec::builder(NAME)
        .key_ring(ring())
        .compression(Compression::Off)
        .max_age(Duration::from_secs(MAX_AGE))
        .write_identity(false)
        .build()
        .unwrap();
    assert_eq!(
        encoder.seal_at(&json_of(&json), NOW, NONCE),
        Err(Error::TooLarge {
            what: "cookie name and sealed value",
            size: 4103,
            limit: 4096
        })
    );
}

// ---------------------------------------------------------------- chunks

fn chunking_codec(max_chunks: usize) -> Codec {
    Codec::builder(NAME)
        .key_ring(ring())
        .max_chunks(max_chunks)
        .build()
        .unwrap()
}

/// A header carrying `text` cut into `count` chunks.
fn chunked_header(text: &str, count: usize) -> String {
    let size = text.len().div_ceil(count);
    let pieces: Vec<&str> = (0..count)
        .map(|i| &text[(i * size).min(text.len())..((i + 1) * size).min(text.len())])
        .collect();
    let mut header = format!("{NAME}={count}.{}", pieces[0]);
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        header.push_str(&format!("; {NAME}.{i}={piece}"));
    }
    header
}

#[test]
fn chunked_value_is_at_most_the_smaller_of_chunks_times_cookie_size_and_the_total_budget() {
    assert_eq!(DEFAULT_MAX_TOTAL_COOKIE_SIZE, 7168);
    assert_eq!(MAX_CHUNKS, 16);
    let codec = chunking_codec(MAX_CHUNKS);
    // 16 × 4096 is far above the default total budget: 7168 bytes decide.
    let at_limit = "A".repeat(7168);
    let over = "A".repeat(7169);
    assert!(!matches!(
        codec.decode_at::<DynamicSession>(&chunked_header(&at_limit, 4), NOW),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(
        codec
            .decode_at::<DynamicSession>(&chunked_header(&over, 4), NOW)
            .map(|o| o.session),
        Err(Error::TooLarge {
            what: "chunked cookie value",
            size: 7169,
            limit: 7168
        })
    );
    // The same bound holds for an unchunked value opened by this codec.
    assert!(matches!(
        codec.open_at::<DynamicSession>(&over, NOW),
        Err(Error::TooLarge { limit: 7168, .. })
    ));
    // A raised budget: 2 chunks × 4096 is now the smaller one.
    let codec = Codec::builder(NAME)
        .key_ring(ring())
        .max_chunks(2)
        .max_total_cookie_size(12 * 1024)
        .build()
        .unwrap();
    assert!(matches!(
        codec.decode_at::<DynamicSession>(&chunked_header(&"A".repeat(8193), 2), NOW),
        Err(Error::TooLarge {
            size: 8193,
            limit: 8192,
            ..
        })
    ));
}

#[test]
fn chunked_cookies_fit_the_total_budget_at_encode() {
    let uncompressed = |max_chunks: usize, total: usize| {
        Codec::builder(NAME)
            .key_ring(ring())
            .compression(Compression::Off)
            .max_chunks(max_chunks)
            .max_total_cookie_size(total)
            .build()
            .unwrap()
    };
    // About 8 KB of value: more than the default 7168-byte budget.
    let session = json_of(&format!(r#"{{"a":"{}"}}"#, "x".repeat(6000)));
    assert!(matches!(
        uncompressed(MAX_CHUNKS, DEFAULT_MAX_TOTAL_COOKIE_SIZE).encode_at(&session, NOW, NONCE),
        Err(Error::TooLarge {
            what: "all chunk cookies of the session in the Cookie header",
            limit: 7168,
            ..
        })
    ));
    let wider = uncompressed(4, 12 * 1024);
    let cookies = wider.encode_at(&session, NOW, NONCE).unwrap();
    // The session's cookies, without the removal cookies of unused slots.
    let pairs: Vec<&str> = cookies
        .iter()
        .filter(|c| !c.contains("; Max-Age=0"))
        .map(|c| c.split(';').next().unwrap())
        .collect();
    assert!(pairs.len() >= 2);
    assert!(pairs[0].starts_with(&format!("session={}.", pairs.len())));
    // Name plus value (without the '=') of each cookie: at most 4096.
    assert!(pairs.iter().all(|p| p.len() - 1 <= 4096));
    let header = pairs.join("; ");
    assert!(
        header.len() > 7168 && header.len() <= 12 * 1024,
        "{}",
        header.len()
    );
    assert_eq!(
        wider
            .decode_at::<DynamicSession>(&header, NOW)
            .unwrap()
            .session,
        session
    );
}

#[test]
fn chunk_count_is_decimal_digits_without_sign_or_leading_zero_from_2_to_max_chunks() {
    let codec = chunking_codec(4);
    let bad_count = Err(Error::Malformed {
        reason: "bad chunk count in the head cookie",
    });
    let outside = Err(Error::Malformed {
        reason: "chunk count outside the configured number of chunks",
    });
    let decode = |header: &str| {
        codec
            .decode_at::<DynamicSession>(header, NOW)
            .map(|o| o.session)
    };
    for count in ["02", "+2", "-2", "2a", "", "x", "17", "100"] {
        assert_eq!(
            decode(&format!("session={count}.AAAA; session.1=AAAA")),
            bad_count,
            "{count:?}"
        );
    }
    for count in ["1", "5", "16"] {
        assert_eq!(
            decode(&format!("session={count}.AAAA; session.1=AAAA")),
            outside,
            "{count}"
        );
    }
    // Chunk names follow the same digit rule: NAME.01 is not chunk 1.
    assert_eq!(
        decode("session=2.AAAA; session.01=AAAA"),
        Err(Error::Malformed {
            reason: "a chunk cookie is missing"
        })
    );
    // A real value round-trips, and chunk cookies past the count are ignored.
    let session = json_of(&format!(r#"{{"a":"{}"}}"#, "x".repeat(100)));
    let value = codec.seal_at(&session, NOW, NONCE).unwrap();
    let header = format!("{}; session.3=ignored", chunked_header(&value, 3));
    assert_eq!(decode(&header).unwrap(), session);
}

#[test]
fn unused_chunk_slots_get_removal_cookies() {
    let codec = chunking_codec(4);
    let small = codec.encode_at(&json_of(r#"{"a":1}"#), NOW, NONCE).unwrap();
    let headers: Vec<&str> = small.iter().collect();
    assert_eq!(headers.len(), 4);
    assert!(!headers[0].contains('.') || headers[0].starts_with("session="));
    for (i, header) in headers.iter().enumerate().skip(1) {
        assert!(header.starts_with(&format!("session.{i}=;")), "{header}");
        assert!(header.contains("; Max-Age=0"), "{header}");
    }
}

// ---------------------------------------------------------------- versions

#[test]
fn each_mode_accepts_only_its_own_version_byte() {
    let unknown = Err(Error::Malformed {
        reason: "unknown format version",
    });
    let sealed = codec().seal_at(&json_of(r#"{"a":1}"#), NOW, NONCE).unwrap();
    let signed = signed_codec()
        .seal_at(&json_of(r#"{"a":1}"#), NOW, NONCE)
        .unwrap();
    assert!(open(&codec(), &sealed).is_ok());
    assert!(open(&signed_codec(), &signed).is_ok());
    assert_eq!(open(&codec(), &signed), unknown);
    assert_eq!(open(&signed_codec(), &sealed), unknown);
    let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for version in [0x00, 0x03, 0x80, 0xff] {
        raw[0] = version;
        let value = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(open(&codec(), &value), unknown, "{version}");
        assert_eq!(open(&signed_codec(), &value), unknown, "{version}");
    }
}

// ---------------------------------------------------------------- signed-only

#[test]
fn signed_value_that_expires_before_it_was_issued_is_malformed_after_the_mac_check() {
    let json = br#"{"a":1}"#;
    let backwards = sign_raw(NOW, NOW - 1, json);
    assert_eq!(
        open(&signed_codec(), &URL_SAFE_NO_PAD.encode(&backwards)),
        Err(Error::Malformed {
            reason: "expires before it was issued"
        })
    );
    // The MAC is checked first: a forged one is unauthenticated.
    let mut forged = backwards.clone();
    forged[30] ^= 1;
    assert_eq!(
        open(&signed_codec(), &URL_SAFE_NO_PAD.encode(&forged)),
        Err(Error::Unauthenticated)
    );
    // expires_at == issued_at is a lifetime of zero: valid only within
    // the clock skew (60 s) around it.
    let instant = URL_SAFE_NO_PAD.encode(sign_raw(NOW, NOW, json));
    let codec = signed_codec();
    assert!(codec.open_at::<DynamicSession>(&instant, NOW + 59).is_ok());
    assert!(matches!(
        codec.open_at::<DynamicSession>(&instant, NOW + 60),
        Err(Error::Expired { .. })
    ));
}

// ---------------------------------------------------------------- JSON

fn open_json(json: &[u8]) -> Result<DynamicSession, Error> {
    open(&codec(), &seal_raw(&plaintext(0, json)))
}

/// `{"a":` then `depth - 1` nested arrays: `depth` levels in all.
fn nested(depth: usize) -> String {
    format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

#[test]
fn json_nests_at_most_127_levels() {
    assert!(open_json(nested(127).as_bytes()).is_ok());
    assert!(matches!(
        open_json(nested(128).as_bytes()),
        Err(Error::Deserialize {
            category: "syntax",
            ..
        })
    ));
    // Signed-only values go through the same parser.
    let signed = |depth: usize| {
        let raw = sign_raw(NOW, NOW + MAX_AGE, nested(depth).as_bytes());
        open(&signed_codec(), &URL_SAFE_NO_PAD.encode(raw))
    };
    assert!(signed(127).is_ok());
    assert!(signed(128).is_err());
}

#[test]
fn json_lone_surrogate_escapes_are_rejected() {
    assert_eq!(
        open_json(br#"{"a":"\ud83d\ude00"}"#).unwrap(),
        json_of(r#"{"a":"😀"}"#)
    );
    for lone in [
        &br#"{"a":"\ud800"}"#[..],
        br#"{"a":"\udc00"}"#,
        br#"{"a":"\ud800x"}"#,
        br#"{"a":"\ude00\ud83d"}"#,
    ] {
        assert!(
            matches!(open_json(lone), Err(Error::Deserialize { .. })),
            "{}",
            String::from_utf8_lossy(lone)
        );
    }
}

#[test]
fn json_must_be_utf8_without_byte_order_mark_and_one_document() {
    assert!(open_json(b"{\"a\":\"\xff\"}").is_err());
    assert!(open_json("\u{feff}{\"a\":1}".as_bytes()).is_err());
    assert!(open_json(br#"{"a":1}{"b":2}"#).is_err());
    assert!(open_json(br#"{"a":1}x"#).is_err());
    // JSON whitespace around the document is allowed.
    assert_eq!(
        open_json(b" \n{\"a\":1}\t\r\n").unwrap(),
        json_of(r#"{"a":1}"#)
    );
}

#[test]
fn json_duplicate_keys_keep_the_last_in_a_dynamic_session_and_fail_a_struct() {
    assert_eq!(
        open_json(br#"{"a":1,"a":2}"#).unwrap(),
        json_of(r#"{"a":2}"#)
    );
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Typed {
        a: u32,
    }
    let value = seal_raw(&plaintext(0, br#"{"a":1,"a":2}"#));
    assert!(matches!(
        codec().open_at::<Typed>(&value, NOW),
        Err(Error::Deserialize {
            category: "data",
            ..
        })
    ));
}

// ---------------------------------------------------------------- derived keys

/// FORMAT.md, "Derived keys": master key A, purpose "session".
const DERIVED_SESSION_HEX: &str =
    "9375278cdaf077c3c0f89fbec52fa01be01d01439c088c2aa74cbf7647e454dc";
const DERIVED_SESSION_B64: &str = "k3UnjNrwd8PA-J--xS-gG-AdAUOcCIwqp0y_dkfkVNw";
const DERIVED_SESSION_ID: &str = "b3e1b0d0";
/// Master key A, purpose "préférences" (UTF-8, 13 bytes).
const DERIVED_PREFS_B64: &str = "H9q-zR-B0j7H-KMN8eiKm1a-NIO932ieN2UDRi6zfnA";
const DERIVED_PREFS_ID: &str = "ad06f821";

fn master_a() -> Key {
    Key::from_bytes(std::array::from_fn(|i| i as u8))
}

#[test]
fn derived_key_vector() {
    let derived = derive_key(&master_a(), "session");
    assert_eq!(derived.to_base64url(), DERIVED_SESSION_B64);
    assert_eq!(
        hex::encode(URL_SAFE_NO_PAD.decode(DERIVED_SESSION_B64).unwrap()),
        DERIVED_SESSION_HEX
    );
    assert_eq!(derived.id().to_string(), DERIVED_SESSION_ID);
    let prefs = derive_key(&master_a(), "préférences");
    assert_eq!(prefs.to_base64url(), DERIVED_PREFS_B64);
    assert_eq!(prefs.id().to_string(), DERIVED_PREFS_ID);
    // FORMAT.md carries the same vector.
    let format = include_str!("../FORMAT.md");
    let row = format!(
        "| A (below) | `session` | `{DERIVED_SESSION_HEX}` | `{DERIVED_SESSION_B64}` | `{DERIVED_SESSION_ID}` |"
    );
    assert!(format.contains(&row), "FORMAT.md lacks {row}");
    assert!(format.contains(&format!("`{DERIVED_PREFS_B64}` | `{DERIVED_PREFS_ID}` |")));
}

#[test]
fn derived_key_info_is_the_prefix_then_the_purpose_utf8_bytes_with_no_separator() {
    let master: [u8; 32] = std::array::from_fn(|i| i as u8);
    for purpose in ["session", "préférences", "", "a/b"] {
        let mut okm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"sealed-session/v1"), &master)
            .expand(
                &[b"sealed-session/v1/purpose/", purpose.as_bytes()].concat(),
                &mut okm,
            )
            .unwrap();
        assert_eq!(
            derive_key(&master_a(), purpose).to_base64url(),
            URL_SAFE_NO_PAD.encode(okm),
            "{purpose:?}"
        );
    }
}

#[test]
fn derived_ring_values_carry_the_derived_keys_id() {
    let config = KeyRingConfig::from_text(&master_a().to_base64url()).unwrap();
    let ring = config.build_derived("session").unwrap();
    assert_eq!(ring.primary_id().to_string(), DERIVED_SESSION_ID);
    let codec = Codec::builder(NAME).key_ring(ring).build().unwrap();
    let value = codec.seal_at(&json_of(r#"{"a":1}"#), NOW, NONCE).unwrap();
    assert_eq!(
        inspect(&value).unwrap().key_id.to_string(),
        DERIVED_SESSION_ID
    );
    // A codec holding the derived key itself opens it: nothing else is
    // bound in.
    let direct = Codec::builder(NAME)
        .key_ring(KeyRing::from_keys([derive_key(&master_a(), "session")]).unwrap())
        .build()
        .unwrap();
    assert!(open(&direct, &value).is_ok());
}

// ---------------------------------------------------------------- CLI

#[cfg(feature = "cli")]
mod cli {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;

    /// Runs `sealed-session open` with KEY; returns (success, stdout, stderr).
    fn cli_open(args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sealed-session"))
            .arg("open")
            .args(args)
            .env("SEALED_SESSION_KEYS", Key::from_bytes(KEY).to_base64url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    // The CLI opens at the current time: seal for now.
    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn seal_now(flags: u8, body: &[u8]) -> String {
        let mut p = vec![flags];
        varint(&mut p, now());
        varint(&mut p, MAX_AGE);
        p.extend_from_slice(body);
        seal_raw(&p)
    }

    #[test]
    fn cli_rejects_a_zstd_body_of_two_frames() {
        let json = JSON.as_bytes();
        let one = zstd_frame(json, &[], None);
        let (ok, out, _) = cli_open(
            &["--name", NAME],
            &seal_now(1, &zstd_body(json.len(), &[&one])),
        );
        assert!(ok);
        assert_eq!(
            serde_json::from_str::<DynamicSession>(&out).unwrap(),
            json_of(JSON)
        );
        let empty = zstd_frame(b"", &[], None);
        let value = seal_now(1, &zstd_body(json.len(), &[&one, &empty]));
        let (ok, out, err) = cli_open(&["--name", NAME], &value);
        assert!(!ok);
        assert_eq!(out, "");
        assert!(
            err.contains("the zstd body holds more than one frame"),
            "{err}"
        );
    }

    #[test]
    fn cli_accepts_only_the_version_byte_of_its_mode() {
        let signed = URL_SAFE_NO_PAD.encode(sign_raw(now(), now() + MAX_AGE, br#"{"a":1}"#));
        let (ok, _, err) = cli_open(&["--name", NAME], &signed);
        assert!(!ok);
        assert!(err.contains("unknown format version"), "{err}");
        let (ok, out, _) = cli_open(&["--name", NAME, "--signed"], &signed);
        assert!(ok);
        assert_eq!(out, "{\"a\":1}\n");
        let sealed = seal_now(0, br#"{"a":1}"#);
        let (ok, _, err) = cli_open(&["--name", NAME, "--signed"], &sealed);
        assert!(!ok);
        assert!(err.contains("unknown format version"), "{err}");
    }

    #[test]
    fn cli_cookie_header_limits_a_chunked_value_to_7168_bytes() {
        let (ok, _, err) = cli_open(
            &["--name", NAME, "--cookie-header"],
            &chunked_header(&"A".repeat(7169), 4),
        );
        assert!(!ok);
        assert!(
            err.contains("chunked cookie value is 7169 bytes, the limit is 7168"),
            "{err}"
        );
    }

    #[test]
    fn cli_rejects_json_nested_deeper_than_127_levels() {
        let (ok, _, _) = cli_open(&["--name", NAME], &seal_now(0, nested(127).as_bytes()));
        assert!(ok);
        let (ok, _, err) = cli_open(&["--name", NAME], &seal_now(0, nested(128).as_bytes()));
        assert!(!ok);
        assert!(err.contains("session JSON does not match"), "{err}");
    }
}
