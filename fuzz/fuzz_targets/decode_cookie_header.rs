//! Decoding an arbitrary `Cookie` request header, with and without chunking:
//! never a panic, never a session (nothing in it was sealed by the key).
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
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    for codec in codecs() {
        assert!(codec.decode_at::<DynamicSession>(header, NOW).is_err());
        assert!(codec.session::<DynamicSession>(header).is_none());
    }
});
