//! Opening an arbitrary string as a cookie value, in both modes, and
//! inspecting it without a key: never a panic, never a session.
#![no_main]

use std::sync::OnceLock;

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
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for codec in codecs() {
        // Forging a value without the key is infeasible: any success here
        // means the authentication check is broken.
        assert!(codec.open_at::<DynamicSession>(text, NOW).is_err());
    }
    let _ = sealed_session::inspect(text);
});
