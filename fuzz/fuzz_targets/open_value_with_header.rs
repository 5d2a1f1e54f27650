//! Opening values that start with a valid-looking header for the codec's key
//! (version byte and key id), so the fuzzer's bytes reach the cryptographic
//! checks instead of dying at base64 or version parsing.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sealed_session::{Codec, DynamicSession, Key, KeyRing, Mode};

const NOW: u64 = 1_733_500_000;

fn codecs() -> &'static [Codec; 2] {
    static CODECS: OnceLock<[Codec; 2]> = OnceLock::new();
    CODECS.get_or_init(|| {
        let build = |mode| {
            Codec::builder("session")
                .key_ring(KeyRing::from_keys([Key::from_bytes([0x42; 32])]).expect("ring"))
                .mode(mode)
                .build()
                .expect("codec")
        };
        [build(Mode::Sealed), build(Mode::SignedOnly)]
    })
}

fuzz_target!(|data: &[u8]| {
    let key_id = *Key::from_bytes([0x42; 32]).id().as_bytes();
    for (version, codec) in [(1u8, &codecs()[0]), (2u8, &codecs()[1])] {
        let mut raw = Vec::with_capacity(5 + data.len());
        raw.push(version);
        raw.extend_from_slice(&key_id);
        raw.extend_from_slice(data);
        let text = URL_SAFE_NO_PAD.encode(&raw);
        assert!(codec.open_at::<DynamicSession>(&text, NOW).is_err());
        let _ = sealed_session::inspect(&text);
    }
});
