//! Fixed vectors of the wire format (FORMAT.md, "Test vectors"), and an
//! independent decoder written from the format description alone.
//!
//! If a vector fails, the wire format changed: either the change is a bug, or
//! it needs a new version byte and new vectors (never edit the expected
//! values of an existing version). The zstd vector also depends on the zstd
//! library's output for level 3; should a zstd upgrade change it, the
//! `open` checks still pass and only the exact-seal check needs attention.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sealed_session::{
    Codec, Compression, Dictionary, DynamicSession, Error, Identity, Key, KeyId, KeyRing, Lineage,
    Mode, SessionId,
};
use sha2::{Digest, Sha256};
use xaes_256_gcm::aead::{AeadInOut, KeyInit};
use xaes_256_gcm::Xaes256Gcm;

/// One fixed vector: everything that goes in, and the exact value out.
struct Vector {
    label: &'static str,
    /// 32 bytes, hex.
    key_hex: &'static str,
    /// 24 bytes, hex (unused by signed-only values, which carry no nonce).
    nonce_hex: &'static str,
    cookie_name: &'static str,
    mode: Mode,
    compression: Compression,
    pad_to: Option<usize>,
    now: u64,
    max_age: u64,
    /// The session JSON exactly as serialized (keys sorted, no spaces).
    json: &'static str,
    /// Raw-content zstd dictionary (body encoding 2), if any.
    dictionary: Option<&'static str>,
    /// `None`: sealed without an identity block (`write_identity(false)`);
    /// `Some(subject)`: a new session with that subject (`""` for none).
    identity: Option<&'static str>,
    /// The encoder's `compact_identity`: leave the origin key id out (flags
    /// bit 5) when it is the sealing key. Vectors 6 and 7 predate the bit.
    compact_identity: bool,
    /// An identity carried from an earlier seal instead of a new session.
    carried: Option<Carried>,
    expected: &'static str,
}

/// A session created earlier (and possibly under another key), sealed
/// again with its identity unchanged.
struct Carried {
    /// 16 bytes, hex.
    session_id_hex: &'static str,
    created_at: u64,
    /// 32 bytes, hex: the key the session was created under.
    origin_key_hex: &'static str,
    /// Bound to a device key (flags bit 6, feature `dbsc`).
    bound: bool,
}

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

const TYPICAL_JSON: &str = r#"{"cart":[{"attrs":[{"name":"color","value":"green"},{"name":"storage","value":"1TB"}],"category":"clothing","checked":true,"count":1,"image":"https://img.shop.example.com/sku/7122284/d6KhZE0P.jpg","price":"9823.82","skuId":7122284,"spuId":712228,"title":"优衣库 男装 摇粒绒拉链茄克"}],"createdAt":1732799960,"csrf":"XXdkJGDCqWjXH2F7pKqEw2Pa31KWhxUTrIHZAjXvpbg","currency":"CNY","locale":"fr-FR","loginAt":1732745735,"recentlyViewed":[6968408,5796066,1574925],"user":{"avatar":"https://img.shop.example.com/avatar/842753582.png","email":"lucas.muller96@mail.example.org","id":842753582,"level":"vip","nickname":"Lucas","roles":["seller"],"username":"lucas.muller96"},"visitor":"0pKd1-HwlbvGcm1Y"}"#;

/// A raw-content dictionary: another typical session's JSON. (A trained
/// dictionary works the same way; raw content keeps the vector short.)
const DICTIONARY: &str = r#"{"cart":[],"createdAt":1732656526,"csrf":"lbG_zIeIQ6kxlvTskWosYJmgiQNDJNtmcqc2haBW83I","currency":"CNY","flash":[{"level":"info","text":"Item added to your cart."}],"locale":"ja-JP","loginAt":1733159965,"recentlyViewed":[3334805,2688851,7195577,7360312,5217951,4585827],"user":{"avatar":"https://img.shop.example.com/avatar/885859004.png","email":"sofia.wang65@mail.example.org","id":885859004,"level":"vip","nickname":"Sofia","roles":["admin","seller"],"username":"sofia.wang65"},"visitor":"WuAKJMtnl3LgKyHG"}"#;

const VECTORS: &[Vector] = &[
    Vector {
        label: "v1 sealed, small JSON stored as is",
        key_hex: KEY_A,
        nonce_hex: "404142434445464748494a4b4c4d4e4f5051525354555657",
        cookie_name: "session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 3 },
        pad_to: None,
        now: 1_700_000_000,
        max_age: 3600,
        json: r#"{"csrf":"n2GDiUX4P3VhlZMB","user":42}"#,
        dictionary: None,
        identity: None,
        compact_identity: false,
        carried: None,
        expected: concat!(
            "AW4_bW9AQUJDREVGR0hJSktMTU5PUFFSU1RVVld-QaQcSvX1ZUKEQP7MXMrUEnf-kHLigxaBoW0x",
            "GWEKGihIoehx2i66f1K-SOothXb_NSTrGgplV5pzT3Gk",
        ),
    },
    Vector {
        label: "v1 sealed, typical session compressed with zstd",
        key_hex: KEY_A,
        nonce_hex: "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7",
        cookie_name: "__Secure-session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 3 },
        pad_to: None,
        now: 1_733_400_000,
        max_age: 86_400,
        json: TYPICAL_JSON,
        dictionary: None,
        identity: None,
        compact_identity: false,
        carried: None,
        expected: concat!(
            "AW4_bW-goaKjpKWmp6ipqqusra6vsLGys7S1trfNbPEyFdFuuePFhQIwLd4B0qOoBtaYfUMayjLD",
            "B7zBtP84t_VCF2ZTpmdtahLgSD2RBSN6A8IA0tyR13WgCTR5aRSjx8sgik6c-NlHCoZHcGgjnH5a",
            "2F3xcs5_PYcaUeuVpOExBsyMFDJkhnEHo2L9u212k-oF2NJ_H8sampWRaneKB4kcuPTQScSbAoyo",
            "XK0sQPFXLX6HLw2A31z9FbkmS3VGr0xiC4wEMRAiIQZBQvRNG4IoT-SGY9631CIgi2gp1-fi7S3J",
            "AkRFbprBIHUJvmXZ720fBygR62cWC7aDmwe5AjvFfKBaawlKVof1sMSVmQs6EoWnX1bW2FxFFIxu",
            "X4iwqDxzJbaP24rWfp308vkBvPZORQFfn6zonwmYusIgKfEdaro7pBhUHoBxxyzEMCIcSCwMT409",
            "g1KSoIi4vmZvl_v2YWQ_bOaOqjpbb_jx0qfhRkjPhBi_ljM7vwJJu5ce4-Mmb5rWaLIdPmWHoY2w",
            "EyjKcK6KWQouqq_9yZ3CK8wOQxKhgITG3NRpwBRe-9q98m2MxxKruX3e8w4Ur8LH4mPleovBLLhE",
            "NrDia87X2Kz_BUArgRw-4KLtehn3Tx3ooN6Lzv8XYunXX_cNn9xFzCHU70ZPmFADOxCwEKYSivph",
            "LMYfe7nyaJOiTvcHAofQi2YDJgclW4xpistX-H5AwGMnCRJSGcSj3b1p8oYiHuHg5OpwBcYNSzT6",
            "rkZvgvmn",
        ),
    },
    Vector {
        label: "v1 sealed, uncompressed, padded to a multiple of 64 bytes",
        key_hex: KEY_B,
        nonce_hex: "000000000000000000000000000000000000000000000001",
        cookie_name: "sid",
        mode: Mode::Sealed,
        compression: Compression::Off,
        pad_to: Some(64),
        now: 1_700_000_000,
        max_age: 600,
        json: r#"{"theme":"dark","user":7}"#,
        dictionary: None,
        identity: None,
        compact_identity: false,
        carried: None,
        expected: concat!(
            "ARWm2jsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAG2hUD65B4zcoUF5_fz_4coEYGXJCmOo_MjkKJm",
            "vnNjT7J_ud-18zbgDttil5K2Kyq1DIw2biUTDTK2OCR2MdJPzW6QriahNkt078zHqLjXyg",
        ),
    },
    Vector {
        label: "v2 signed-only",
        key_hex: KEY_B,
        nonce_hex: "000000000000000000000000000000000000000000000000",
        cookie_name: "prefs",
        mode: Mode::SignedOnly,
        compression: Compression::Zstd { level: 3 },
        pad_to: None,
        now: 1_700_000_000,
        max_age: 31_536_000,
        json: r#"{"csrf":"Kmh5oObdeUqVydd9","lang":"de-CH","theme":"dark"}"#,
        dictionary: None,
        identity: None,
        compact_identity: false,
        carried: None,
        expected: concat!(
            "AhWm2jsAAAAAZVPxAAAAAABnNSSAYsUzmvHjGXv7ismzoTJ5qBNiYohPoeicAK23htnzEul7ImNz",
            "cmYiOiJLbWg1b09iZGVVcVZ5ZGQ5IiwibGFuZyI6ImRlLUNIIiwidGhlbWUiOiJkYXJrIn0",
        ),
    },
    Vector {
        label: "v1 sealed, typical session compressed with a dictionary",
        key_hex: KEY_A,
        nonce_hex: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0001020304050607",
        cookie_name: "__Secure-session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 3 },
        pad_to: None,
        now: 1_733_400_000,
        max_age: 86_400,
        json: TYPICAL_JSON,
        dictionary: Some(DICTIONARY),
        identity: None,
        compact_identity: false,
        carried: None,
        expected: concat!(
            "AW4_bW_w8fLz9PX29_j5-vv8_f7_AAECAwQFBgcPR2I4Pz8oLS9Q5RyyXFvQNiAnnf9TYlnKdhul",
            "4qXVTIazhJRXhzrx7QAzO6rU4v83imAj-1XVHtugoDmm171SU_0YrUz210HiPPeIDjkwCzF-iyp4",
            "dDBexenX_1s9ysAtbVSDbVhDk44DXWu2f4ZqwEMh14Q08EBfDKACK6scVw434mqYJKjhDjLBLdsX",
            "bssoWZmGyJ8KzB3JLRznOMfjSOohONWUN1rBlQJW3tLD-RjiS9F5S5towoSX4L8E4vVRuQeSKIoA",
            "2iwT2EXx9Tc2AGg_9iMQUWctGrmfgQNTG2dRrIu9DvYzdTvjSaekpPnYkM-dtlYMdr5AY6b6u0pJ",
            "nT7j_-gF9MgIGs6fZmUhoNEWBQVVTGbfn9G1Ks-PTJ92Ry9x3EI6VFPdhiObINalzVZPWzBNxZcC",
            "r5HzP1jhJk9p8PefcF5k1gfXB5PfK65RbRJ2Y53KrMBhA6Q-xosPPtFHRhqfuDzKVmdhGUh0YXX0",
            "F1Jla7GLuJrhlRs7o98JCBq90NLgL6eupZ_69YyvmmH0ueMj5fqR-aQ",
        ),
    },
    Vector {
        label: "v1 sealed with an identity, small JSON stored as is",
        key_hex: KEY_A,
        nonce_hex: "606162636465666768696a6b6c6d6e6f7071727374757677",
        cookie_name: "session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 1 },
        pad_to: None,
        now: 1_700_000_000,
        max_age: 3600,
        json: r#"{"cart":[3,1],"user":42}"#,
        dictionary: None,
        identity: Some(""),
        compact_identity: false,
        carried: None,
        expected: "AW4_bW9gYWJjZGVmZ2hpamtsbW5vcHFyc3R1dncc1hoWAKCcyqBdIyQCmaSyc6JQPwEk9B-JtD5lCPy0hs1tqZW0FnWLPyDRDH1fyBtnzWEs0jJBgndn06UdK0O2o9sOx9Y",
    },
    Vector {
        label: "v1 sealed with an identity and a subject, typical session compressed with zstd",
        key_hex: KEY_B,
        nonce_hex: "78797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f",
        cookie_name: "__Secure-session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 1 },
        pad_to: None,
        now: 1_733_400_000,
        max_age: 86_400,
        json: TYPICAL_JSON,
        dictionary: None,
        identity: Some("842753582"),
        compact_identity: false,
        carried: None,
        expected: concat!(
            "ARWm2jt4eXp7fH1-f4CBgoOEhYaHiImKi4yNjo-TxUmzwCOlY3sgncFUvUq3YbsxxERya_TRymyX",
            "0E58LeXSFgMiJVd0taX467BAeXRW5A6AzKuhOYj1a_mjYLe9a-Ugb-IFNEmrChke-9BUnONHD11q",
            "lLJmOcNfM6f56otiAVeJ_i3IrXkLOVFPGlGhkFEzWnF2hcuuBFdCDjxLtQU5Hdus7_Qq6U1ZjI3y",
            "Zadj3pBny8FBX8wi-fAYh6dQzxozQqBovtj649lZtxUqdg-Z0WFlJ0RDRsD9hO6YSsTmVaRl_CyH",
            "XPIRfoKWXSEod8rI_6kKWBoXwRJiH8rpyEamu0ipe7BpdHnYMAPYaKM2d3WPWF2gCb2KWOvhCP-c",
            "QrZRPwBd0RN6oqA-8HaOWtdz5O6Z_sw9_cs-YG_EG36IoZzzKS-oCLjUnUggHPF1lLkMBGTOKZaN",
            "HGwjUDFTnybn2zokVMetltRBY2QYyaxx3ZVl1NMHFfKRjhaxZmXSHSs_iGhH3vFiyBYEA4UY5HNe",
            "3nyHlzJh8euCf0VPqBXVWjX1cao8x4N3J3HsdJ3hdtGBBR0iRcY-OiyeTxvh_UQT_3ul1OcOgPcR",
            "G_NRkq-Tch8pZikkG_Hj6dQGCENp1E4Ld7w6H7LHAH4AkUIniAQkyPkqsjgUu_dS3q-SWGY1pPwD",
            "SFDLtUBqjoY9MnSopVe2be2JKjMnTZ4Anx8kQqHrPEpYDGeyWqaDjSd8tYDv-ctdLusJV6EKsT6o",
            "WzSaAf2eKv8rvX-LESofmncZdEZnCzJsKtmJEq1CCg",
        ),
    },
    Vector {
        label: "v1 sealed with an identity whose origin is the sealing key, a subject, typical session compressed with zstd",
        key_hex: KEY_A,
        nonce_hex: "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7",
        cookie_name: "__Secure-session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 1 },
        pad_to: None,
        now: 1_733_400_000,
        max_age: 86_400,
        json: TYPICAL_JSON,
        dictionary: None,
        identity: Some("842753582"),
        compact_identity: true,
        carried: None,
        expected: concat!(
            "AW4_bW-QkZKTlJWWl5iZmpucnZ6foKGio6SlpqcTNU552BrCrBJn2YcDSPybaQir7ZviHLrG4YZY",
            "LCcybVWG5U0hJqNcZLvtgQAj4182527AMnME5x-IvE7F3Nw4xe7RXnjWekNfnqzW1gCkwTqX5KnV",
            "s13swQ8QcB-3g3G2RqglF_ktawQLvoAPAupKXPNxbMIez4cda18nY6f9o2H66p9Uc_oex9IxVR-T",
            "8ALlE6gFCyPTnLYjmXoCJL_eX-p4snxX3-5exqLyzuAu_7tawbH7SnxAzO0tn9n_8OaXQG72rkFs",
            "rQuD-rPjIUuEfEapimstJvKxODDE2BuO-wvaMTCyjGzVP2tJKhGmxzJC_mniicJTqI_tjfdPKQND",
            "ln4UpaLOt60je1LzvGiWqXc4TycpgL3R4f60odTcq5K6UMdB10F6VI6_buQaV2J-LmMdhiG0Q2j6",
            "aYsx1chb8w3Bx8Sd0y-cRcIzGeeC85spVdvVOgZrIMbUokmgAlfRx2_BTjv_GyErNdeYoTgdpvV5",
            "lgFS2rM2hEgU9lj6hSkjsXDxixa2Dw5JlVCTDI3hQqAfH3JS81NFpPhuJMfraQft5etqOs8sKTZG",
            "nGt6MRywZjIi8viJbWbXu3kaGwGIuoIkHnZqeBb80_UkUtgaqFxYsWuq44mtih5C-3KQ0gyKWBhs",
            "5x6Pro-SoOP-A8x_r-XFQJU-c-CaFOJYsBVJIdXPJSGNZAgIelEgQBKSYSj-VTAQ6v8vlS_4MQe-",
            "toxnm3e5fnML9xcsgyVqEVT1C6EHecDg2S9v",
        ),
    },
    Vector {
        label: "v1 sealed with an identity carried from another key, 5 hours old, small JSON stored as is",
        key_hex: KEY_B,
        nonce_hex: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7",
        cookie_name: "session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 1 },
        pad_to: None,
        now: 1_700_018_000,
        max_age: 3600,
        json: r#"{"cart":[3,1],"user":42}"#,
        dictionary: None,
        identity: Some(""),
        compact_identity: true,
        carried: Some(Carried {
            session_id_hex: "0ff1637ca8207372ee5be6bcb03b61fe",
            created_at: 1_700_000_000,
            origin_key_hex: KEY_A,
            bound: false,
        }),
        expected: "ARWm2juwsbKztLW2t7i5uru8vb6_wMHCw8TFxsfdKmekMC-tvDdKouKYomXyHEYr6Akhsubk-uOB_EXSB0G5TvMfDgMyL8m98sQFy_L-yIDiIkslZLoWlCa1ow9-MJYK6IAJLA",
    },
    Vector {
        label: "v1 sealed, a device-bound session (the session of vector 6, bound a minute later)",
        key_hex: KEY_A,
        nonce_hex: "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7",
        cookie_name: "session",
        mode: Mode::Sealed,
        compression: Compression::Zstd { level: 1 },
        pad_to: None,
        now: 1_700_000_060,
        max_age: 3600,
        json: r#"{"cart":[3,1],"user":42}"#,
        dictionary: None,
        identity: Some(""),
        compact_identity: true,
        carried: Some(Carried {
            session_id_hex: "0ff1637ca8207372ee5be6bcb03b61fe",
            created_at: 1_700_000_000,
            origin_key_hex: KEY_A,
            bound: true,
        }),
        expected: "AW4_bW_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5udXS9RB_IWlh8AFsN8XT4K2nyFdQWRPXtzfkuqSSZid74Sc8uIuuLXf4FhFSh9MSr8erYZpNcmJSUmWf4R6ufGSbQ",
    },
];

fn key_bytes(v: &Vector) -> [u8; 32] {
    hex::decode(v.key_hex).unwrap().try_into().unwrap()
}

fn nonce_bytes(v: &Vector) -> [u8; 24] {
    hex::decode(v.nonce_hex).unwrap().try_into().unwrap()
}

fn codec(v: &Vector) -> Codec {
    let mut builder = Codec::builder(v.cookie_name)
        .key_ring(KeyRing::from_keys([Key::from_bytes(key_bytes(v))]).unwrap())
        .mode(v.mode)
        .compression(v.compression)
        .max_age(Duration::from_secs(v.max_age))
        .write_identity(v.identity.is_some())
        .compact_identity(v.compact_identity);
    if let Some(bucket) = v.pad_to {
        builder = builder.pad_to_multiple_of(bucket);
    }
    if let Some(dictionary) = v.dictionary {
        builder = builder.dictionaries([Dictionary::from_bytes(dictionary).unwrap()]);
    }
    builder.build().unwrap()
}

/// The subject of the vector's identity, if any.
fn subject(v: &Vector) -> Option<&'static str> {
    v.identity.filter(|s| !s.is_empty())
}

/// The identity a carried vector continues: what opening must give back.
fn carried_identity(v: &Vector) -> Option<Identity> {
    let c = v.carried.as_ref()?;
    let id: [u8; 16] = hex::decode(c.session_id_hex).unwrap().try_into().unwrap();
    let origin: [u8; 32] = hex::decode(c.origin_key_hex).unwrap().try_into().unwrap();
    let mut identity = Identity::new(
        SessionId::from_bytes(id),
        c.created_at,
        Key::from_bytes(origin).id(),
        subject(v).map(str::to_owned),
    );
    identity.bound = c.bound;
    Some(identity)
}

fn lineage(v: &Vector) -> Lineage {
    match (carried_identity(v), subject(v)) {
        (Some(identity), _) => Lineage::Continue(identity),
        (None, Some(subject)) => Lineage::new_for(subject),
        (None, None) => Lineage::new(),
    }
}

fn session(v: &Vector) -> DynamicSession {
    let session: DynamicSession = serde_json::from_str(v.json).unwrap();
    // The vector's JSON is exactly what the codec serializes.
    assert_eq!(
        serde_json::to_string(&session).unwrap(),
        v.json,
        "{}",
        v.label
    );
    session
}

#[test]
fn vectors_seal_to_the_exact_value() {
    for v in VECTORS {
        let value = codec(v)
            .seal_with_at(&session(v), &lineage(v), v.now, nonce_bytes(v))
            .unwrap();
        assert_eq!(value, v.expected, "{}", v.label);
    }
}

#[test]
fn vectors_open_back_to_the_json() {
    for v in VECTORS {
        let opened = codec(v)
            .open_at::<DynamicSession>(v.expected, v.now)
            .unwrap();
        assert_eq!(opened.session, session(v), "{}", v.label);
        assert_eq!(opened.issued_at, v.now, "{}", v.label);
        assert_eq!(opened.expires_at, v.now + v.max_age, "{}", v.label);
        assert_eq!(opened.key_id, Key::from_bytes(key_bytes(v)).id());
        match (v.identity, &opened.identity) {
            (None, None) => {}
            (Some(_), Some(identity)) => {
                let d = independent_decode(v);
                assert_eq!(d.identity.as_ref(), Some(identity), "{}", v.label);
                match carried_identity(v) {
                    Some(carried) => assert_eq!(identity, &carried, "{}", v.label),
                    None => {
                        assert_eq!(identity.created_at, v.now, "{}", v.label);
                        assert_eq!(identity.origin_key, opened.key_id, "{}", v.label);
                    }
                }
                assert_eq!(identity.subject.as_deref(), subject(v), "{}", v.label);
            }
            (expected, got) => panic!("{}: identity {expected:?}, opened {got:?}", v.label),
        }
    }
}

#[test]
fn vectors_cover_every_body_encoding() {
    let decoded: Vec<Decoded> = VECTORS.iter().map(independent_decode).collect();
    assert!(decoded.iter().any(|d| d.version == 1 && d.flags == 0));
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x03 == 1));
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x04 != 0));
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x03 == 2));
    assert!(decoded.iter().any(|d| d.version == 2));
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x18 == 0x08));
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x18 == 0x18));
    // The origin key id left out (bit 5), and written because it is not
    // the sealing key.
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x38 == 0x38));
    assert!(decoded.iter().any(|d| d.version == 1
        && d.flags & 0x28 == 0x08
        && d.identity.as_ref().map(|i| i.origin_key.as_bytes()) != Some(&d.key_id)));
    // A device-bound session (bit 6).
    assert!(decoded
        .iter()
        .any(|d| d.version == 1 && d.flags & 0x48 == 0x48));
}

#[test]
fn independent_decoder_agrees_with_every_vector() {
    for v in VECTORS {
        let d = independent_decode(v);
        assert_eq!(d.json, v.json, "{}", v.label);
        assert_eq!(d.issued_at, v.now, "{}", v.label);
        assert_eq!(d.expires_at, v.now + v.max_age, "{}", v.label);
    }
}

// ---------------------------------------------------------------------------
// An independent decoder, written from FORMAT.md: it shares no code with the
// crate, only its dependencies' primitives (base64, SHA-256, XAES-256-GCM,
// HKDF, HMAC, zstd). It checks what FORMAT.md requires of a body, including
// that a zstd body is exactly one frame.
// ---------------------------------------------------------------------------

struct Decoded {
    version: u8,
    /// The key id in the header.
    key_id: [u8; 4],
    flags: u8,
    issued_at: u64,
    expires_at: u64,
    json: String,
    identity: Option<Identity>,
}

fn key_id(key: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(b"sealed-session key id v1\0")
        .chain_update(key)
        .finalize();
    digest[..4].try_into().unwrap()
}

/// Unsigned LEB128, canonical, at most 10 bytes.
fn varint(input: &[u8]) -> (u64, &[u8]) {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            assert!(i == 0 || byte != 0, "non-canonical varint");
            return (value, &input[i + 1..]);
        }
    }
    panic!("truncated varint");
}

fn independent_decode(v: &Vector) -> Decoded {
    let key = key_bytes(v);
    let raw = URL_SAFE_NO_PAD.decode(v.expected).unwrap();
    assert_eq!(&raw[1..5], &key_id(&key), "key id of {}", v.label);
    match raw[0] {
        0x01 => decode_sealed(&key, v.cookie_name, v.dictionary, &raw),
        0x02 => decode_signed(&key, v.cookie_name, &raw),
        other => panic!("unknown version {other}"),
    }
}

fn decode_sealed(key: &[u8; 32], name: &str, dictionary: Option<&str>, raw: &[u8]) -> Decoded {
    assert!(raw.len() >= 48);
    let nonce: [u8; 24] = raw[5..29].try_into().unwrap();
    let tag: [u8; 16] = raw[raw.len() - 16..].try_into().unwrap();
    let mut aad = raw[..5].to_vec();
    aad.extend_from_slice(name.as_bytes());
    let mut plaintext = raw[29..raw.len() - 16].to_vec();
    Xaes256Gcm::new(&(*key).into())
        .decrypt_inout_detached(
            &nonce.into(),
            &aad,
            plaintext.as_mut_slice().into(),
            &tag.into(),
        )
        .expect("authentic");
    let flags = plaintext[0];
    assert_eq!(flags & !0x7f, 0, "reserved flags");
    let (issued_at, rest) = varint(&plaintext[1..]);
    let (max_age, rest) = varint(rest);
    let key_id: [u8; 4] = raw[1..5].try_into().unwrap();
    let (identity, rest) = if flags & 0x08 != 0 {
        // Bit 5: no origin key id, the origin is the header's key id.
        let origin = (flags & 0x20 != 0).then_some(key_id);
        let (identity, rest) = decode_identity(
            key,
            name,
            &nonce,
            issued_at,
            origin,
            flags & 0x10 != 0,
            rest,
        );
        // Bit 6: bound to a device key; no bytes of its own.
        let identity = identity.map(|mut identity| {
            identity.bound = flags & 0x40 != 0;
            identity
        });
        (identity, rest)
    } else {
        assert_eq!(
            flags & 0x70,
            0,
            "a subject, bit 5 or bit 6 needs an identity"
        );
        (None, rest)
    };
    let mut body = rest;
    if flags & 0x04 != 0 {
        let end = body.iter().rposition(|&b| b != 0).unwrap();
        assert_eq!(body[end], 0x80, "padding marker");
        body = &body[..end];
    }
    let json = match flags & 0x03 {
        0 => body.to_vec(),
        1 => {
            let (len, frame) = varint(body);
            // Magicless zstd: the standard frame minus its 4-byte magic
            // number, so a stock decoder works once the magic is put back.
            let mut framed = 0xFD2F_B528u32.to_le_bytes().to_vec();
            framed.extend_from_slice(frame);
            assert_one_frame(&framed);
            let json = zstd::stream::decode_all(framed.as_slice()).unwrap();
            assert_eq!(json.len() as u64, len);
            json
        }
        2 => {
            let dictionary = dictionary
                .expect("a dictionary for body encoding 2")
                .as_bytes();
            let digest = Sha256::new()
                .chain_update(b"sealed-session dictionary id v1\0")
                .chain_update(dictionary)
                .finalize();
            assert_eq!(&body[..4], &digest[..4], "dictionary id");
            let (len, frame) = varint(&body[4..]);
            let mut framed = 0xFD2F_B528u32.to_le_bytes().to_vec();
            framed.extend_from_slice(frame);
            assert_one_frame(&framed);
            let json = zstd::bulk::Decompressor::with_dictionary(dictionary)
                .unwrap()
                .decompress(&framed, len as usize)
                .unwrap();
            assert_eq!(json.len() as u64, len);
            json
        }
        other => panic!("reserved body encoding {other}"),
    };
    Decoded {
        version: 1,
        key_id,
        flags,
        issued_at,
        expires_at: issued_at + max_age,
        json: String::from_utf8(json).unwrap(),
        identity,
    }
}

/// The signing key of FORMAT.md ("Derived keys"): HKDF-SHA256 of the key.
fn signing_key(key: &[u8; 32]) -> [u8; 32] {
    let mut signing_key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"sealed-session/v1"), key)
        .expand(b"sealed-session/v1/signed-cookie-mac", &mut signing_key)
        .unwrap();
    signing_key
}

/// The identity block (FORMAT.md, "Identity"), and a check that a new
/// session's id is the keyed function of the nonce FORMAT.md gives.
/// `implicit_origin`: the header's key id when bit 5 leaves the origin out.
fn decode_identity<'a>(
    key: &[u8; 32],
    name: &str,
    nonce: &[u8; 24],
    issued_at: u64,
    implicit_origin: Option<[u8; 4]>,
    with_subject: bool,
    rest: &'a [u8],
) -> (Option<Identity>, &'a [u8]) {
    let session_id: [u8; 16] = rest[..16].try_into().unwrap();
    let (age, rest) = varint(&rest[16..]);
    let (origin, mut rest) = match implicit_origin {
        Some(origin) => (origin, rest),
        None => (rest[..4].try_into().unwrap(), &rest[4..]),
    };
    let subject = if with_subject {
        let len = usize::from(rest[0]);
        assert!((1..=64).contains(&len), "subject length");
        let subject = std::str::from_utf8(&rest[1..1 + len]).unwrap().to_owned();
        rest = &rest[1 + len..];
        Some(subject)
    } else {
        None
    };
    if age == 0 {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&signing_key(key)).unwrap();
        mac.update(&u16::try_from(name.len()).unwrap().to_be_bytes());
        mac.update(name.as_bytes());
        mac.update(b"\0session id\0");
        mac.update(nonce);
        assert_eq!(
            &mac.finalize().into_bytes()[..16],
            &session_id,
            "a new session's id"
        );
    }
    let session_id = SessionId::from_bytes(session_id);
    let origin_key: KeyId = origin
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .parse()
        .unwrap();
    let identity = Identity::new(session_id, issued_at - age, origin_key, subject);
    (Some(identity), rest)
}

/// The body is exactly one zstd frame: the first frame (magic put back)
/// ends where the body ends.
fn assert_one_frame(framed: &[u8]) {
    assert_eq!(
        zstd::zstd_safe::find_frame_compressed_size(framed),
        Ok(framed.len()),
        "exactly one zstd frame"
    );
}

#[test]
#[should_panic(expected = "exactly one zstd frame")]
fn independent_decoder_refuses_a_second_frame() {
    let mut framed = zstd::bulk::compress(TYPICAL_JSON.as_bytes(), 3).unwrap();
    framed.extend_from_slice(&zstd::bulk::compress(b"", 3).unwrap());
    assert_one_frame(&framed);
}

/// The bound vector (flags bit 6) without device binding: the value opens,
/// marked bound, but a request with it has no session, whatever cookie
/// claims to be its bound cookie.
#[test]
fn a_bound_vector_needs_device_binding_on_a_request() {
    let v = VECTORS
        .iter()
        .find(|v| v.carried.as_ref().is_some_and(|c| c.bound))
        .expect("a bound vector");
    let codec = codec(v);
    #[cfg(feature = "dbsc")]
    assert!(codec.device_binding().is_none());
    let opened = codec.open_at::<DynamicSession>(v.expected, v.now).unwrap();
    assert!(opened.identity.is_some_and(|identity| identity.bound));
    for header in [
        format!("{}={}", v.cookie_name, v.expected),
        format!("{0}={1}; {0}-bound={1}", v.cookie_name, v.expected),
    ] {
        assert_eq!(
            codec
                .decode_at::<DynamicSession>(&header, v.now)
                .unwrap_err(),
            Error::Unbound,
            "{header}"
        );
    }
}

/// A sealed value with the given plaintext, bypassing the encoder: for
/// flag combinations the encoder never writes.
fn seal_raw(key: &[u8; 32], name: &str, nonce: [u8; 24], plaintext: &[u8]) -> Vec<u8> {
    let mut raw = vec![0x01];
    raw.extend_from_slice(&key_id(key));
    raw.extend_from_slice(&nonce);
    let mut aad = raw.clone();
    aad.truncate(5);
    aad.extend_from_slice(name.as_bytes());
    let mut ciphertext = plaintext.to_vec();
    let tag = Xaes256Gcm::new(&(*key).into())
        .encrypt_inout_detached(&nonce.into(), &aad, ciphertext.as_mut_slice().into())
        .unwrap();
    raw.extend_from_slice(&ciphertext);
    raw.extend_from_slice(&tag);
    raw
}

/// Flags `0x40` (bound) without `0x08` (identity): issued_at 1700000000,
/// max_age 3600, then the JSON, under key A for cookie `session`.
fn bound_without_identity() -> Vec<u8> {
    let key: [u8; 32] = hex::decode(KEY_A).unwrap().try_into().unwrap();
    let mut plaintext = vec![0x40, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x90, 0x1c];
    plaintext.extend_from_slice(br#"{"cart":[3,1],"user":42}"#);
    seal_raw(&key, "session", [0x5a; 24], &plaintext)
}

#[test]
fn bit_6_without_identity_is_malformed() {
    let key: [u8; 32] = hex::decode(KEY_A).unwrap().try_into().unwrap();
    let codec = Codec::builder("session")
        .key_ring(KeyRing::from_keys([Key::from_bytes(key)]).unwrap())
        .build()
        .unwrap();
    let value = URL_SAFE_NO_PAD.encode(bound_without_identity());
    assert_eq!(
        codec
            .open_at::<DynamicSession>(&value, 1_700_000_000)
            .unwrap_err(),
        Error::Malformed {
            reason: "bound flag without identity"
        }
    );
    // The same plaintext without bit 6 opens: the refusal is about the
    // bit, not about the rest.
    let mut plaintext = vec![0x00, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x90, 0x1c];
    plaintext.extend_from_slice(br#"{"cart":[3,1],"user":42}"#);
    let value = URL_SAFE_NO_PAD.encode(seal_raw(&key, "session", [0x5a; 24], &plaintext));
    assert!(codec
        .open_at::<DynamicSession>(&value, 1_700_000_000)
        .is_ok());
}

#[test]
#[should_panic(expected = "bit 6 needs an identity")]
fn independent_decoder_refuses_bit_6_without_identity() {
    let key: [u8; 32] = hex::decode(KEY_A).unwrap().try_into().unwrap();
    decode_sealed(&key, "session", None, &bound_without_identity());
}

fn decode_signed(key: &[u8; 32], name: &str, raw: &[u8]) -> Decoded {
    assert!(raw.len() >= 53);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&signing_key(key)).unwrap();
    mac.update(&u16::try_from(name.len()).unwrap().to_be_bytes());
    mac.update(name.as_bytes());
    mac.update(&raw[..21]);
    mac.update(&raw[53..]);
    mac.verify_slice(&raw[21..53]).expect("authentic");
    Decoded {
        version: 2,
        key_id: raw[1..5].try_into().unwrap(),
        flags: 0,
        issued_at: u64::from_be_bytes(raw[5..13].try_into().unwrap()),
        expires_at: u64::from_be_bytes(raw[13..21].try_into().unwrap()),
        json: String::from_utf8(raw[53..].to_vec()).unwrap(),
        identity: None,
    }
}
