//! Parsing arbitrary key ring configuration (text and JSON forms): never a
//! panic, and an error message never repeats a key-looking token of the
//! input (configuration errors end up in logs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealed_session::{Codec, DynamicSession, KeyRing, KeyRingConfig};

fn assert_no_token_leaks(input: &str, message: &str) {
    for token in input.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        // A 43-character base64url token is what a key looks like.
        if token.len() >= 43 {
            assert!(!message.contains(token), "an error repeated a key");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match KeyRing::from_config_str(text) {
        Ok(ring) => {
            // A ring that parses must work: seal and open a session.
            let debug = format!("{ring:?}");
            assert_no_token_leaks(text, &debug);
            let codec = Codec::builder("s").key_ring(ring).build().expect("codec");
            let value = codec
                .seal_at(&DynamicSession::new(), 1_000, [0; 24])
                .expect("seal");
            assert!(codec.open_at::<DynamicSession>(&value, 1_000).is_ok());
        }
        Err(e) => assert_no_token_leaks(text, &e.to_string()),
    }
    match KeyRingConfig::from_json(text) {
        Ok(config) => {
            let _ = config.build();
        }
        Err(e) => assert_no_token_leaks(text, &e.to_string()),
    }
});
