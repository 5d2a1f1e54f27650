//! Decoding arbitrary `Cookie` request header bytes (not only UTF-8), with
//! and without chunking, whole and cut into several header fields as HTTP/2
//! sends them: never a panic, never a session (nothing in it was sealed by
//! the key), and the text API agrees with the byte API wherever the bytes
//! are text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealed_session::{Codec, DynamicSession, Key, KeyRing};

const NOW: u64 = 1_733_500_000;

fn codecs() -> &'static [Codec; 2] {
    static CODECS: OnceLock<[Codec; 2]> = OnceLock::new();
    CODECS.get_or_init(|| {
        let ring = || KeyRing::from_keys([Key::from_bytes([0x42; 32])]).expect("ring");
        [
            Codec::builder("session")
                .key_ring(ring())
                .build()
                .expect("codec"),
            Codec::builder("session")
                .key_ring(ring())
                .max_chunks(16)
                .max_total_cookie_size(64 * 1024)
                .build()
                .expect("codec"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    // A 0x00 byte separates header fields (it cannot occur in one).
    let fields: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    for codec in codecs() {
        let err = codec
            .decode_bytes_at::<DynamicSession>(data, NOW)
            .expect_err("no session in arbitrary bytes");
        assert!(codec.session_bytes::<DynamicSession>(data).is_none());
        assert!(codec
            .decode_fields_at::<DynamicSession>(&fields, NOW)
            .is_err());
        assert!(codec.session_fields::<DynamicSession>(&fields).is_none());
        if let Ok(header) = std::str::from_utf8(data) {
            assert_eq!(
                codec.decode_at::<DynamicSession>(header, NOW).err(),
                Some(err)
            );
        }
    }
});
