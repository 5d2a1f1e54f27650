//! Key ring lifecycle: every key state and transition, the re-seal signal,
//! configuration loading and validation, HKDF derivation and the signed-only
//! mode, all against fixed keys and times.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sealed_session::{
    derive_key, Codec, DynamicSession, Error, Key, KeyRing, KeyRingConfig, KeyState, Mode, Reseal,
};
use serde_json::json;

const T0: u64 = 1_700_000_000;
/// Key bytes 0x00, 0x01, ..., 0x1f.
const MASTER: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn text(byte: u8) -> String {
    key(byte).to_base64url()
}

fn session() -> DynamicSession {
    json!({"user": 42, "cart": [1, 2, 3]})
        .as_object()
        .cloned()
        .unwrap()
}

fn codec(ring: KeyRing) -> Codec {
    Codec::builder("session").key_ring(ring).build().unwrap()
}

fn codec_from(config: &str) -> Codec {
    codec(KeyRing::from_config_str(config).unwrap())
}

/// A value sealed at T0 under key 1 as primary.
fn sealed_under_key1() -> String {
    codec_from(&format!("primary {}", text(1)))
        .seal_at(&session(), T0, [9; 24])
        .unwrap()
}

// ---------------------------------------------------------------- states

#[test]
fn primary_key_opens_without_reseal() {
    let value = sealed_under_key1();
    let opened = codec_from(&format!("primary {}", text(1)))
        .open_at::<DynamicSession>(&value, T0 + 10)
        .unwrap();
    assert_eq!(opened.session, session());
    assert_eq!(opened.key_id, key(1).id());
    assert_eq!(opened.reseal, None);
}

#[test]
fn active_key_opens_and_asks_for_reseal() {
    let value = sealed_under_key1();
    let codec = codec_from(&format!("primary {}\nactive {}", text(2), text(1)));
    let opened = codec.open_at::<DynamicSession>(&value, T0 + 10).unwrap();
    assert_eq!(opened.session, session());
    assert_eq!(opened.key_id, key(1).id());
    assert_eq!(opened.reseal, Some(Reseal::NotPrimaryKey));
    // Re-sealing goes to the primary key, which then opens without a signal.
    let resealed = codec.seal_at(&opened.session, T0 + 10, [8; 24]).unwrap();
    let again = codec.open_at::<DynamicSession>(&resealed, T0 + 11).unwrap();
    assert_eq!(again.key_id, key(2).id());
    assert_eq!(again.reseal, None);
}

#[test]
fn retired_key_opens_until_its_deadline_exclusive() {
    let value = sealed_under_key1();
    let deadline = T0 + 1_000;
    let codec = codec_from(&format!(
        "primary {}\nretired {} until {deadline}",
        text(2),
        text(1)
    ));
    let before = codec
        .open_at::<DynamicSession>(&value, deadline - 1)
        .unwrap();
    assert_eq!(before.reseal, Some(Reseal::NotPrimaryKey));
    for now in [deadline, deadline + 1, deadline + 5_000] {
        assert_eq!(
            codec.open_at::<DynamicSession>(&value, now).unwrap_err(),
            Error::RetiredKey {
                key_id: key(1).id(),
                deadline
            },
            "at {now}"
        );
    }
}

#[test]
fn revoked_key_is_reported_as_revoked_not_tampered() {
    let value = sealed_under_key1();
    let codec = codec_from(&format!("primary {}\nrevoked {}", text(2), text(1)));
    assert_eq!(
        codec
            .open_at::<DynamicSession>(&value, T0 + 10)
            .unwrap_err(),
        Error::RevokedKey {
            key_id: key(1).id()
        }
    );
    // Decided from the header alone: a forged body under that id gets the
    // same answer, without any decryption.
    let mut raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert_eq!(
        codec
            .open_at::<DynamicSession>(&URL_SAFE_NO_PAD.encode(&raw), T0 + 10)
            .unwrap_err(),
        Error::RevokedKey {
            key_id: key(1).id()
        }
    );
}

#[test]
fn removed_key_is_unknown() {
    let value = sealed_under_key1();
    let codec = codec_from(&format!("primary {}", text(2)));
    assert_eq!(
        codec
            .open_at::<DynamicSession>(&value, T0 + 10)
            .unwrap_err(),
        Error::UnknownKey {
            key_id: key(1).id()
        }
    );
}

#[test]
fn full_lifecycle_of_one_key_in_order() {
    // Key 1 goes primary -> active -> retired -> (deadline) -> removed; a
    // value sealed under it follows every step.
    let value = sealed_under_key1();
    let deadline = T0 + 500;
    let steps: Vec<(String, u64, Result<Option<Reseal>, Error>)> = vec![
        (format!("primary {}", text(1)), T0 + 1, Ok(None)),
        (
            format!("primary {}\nactive {}", text(1), text(2)),
            T0 + 2,
            Ok(None),
        ),
        (
            format!("active {}\nprimary {}", text(1), text(2)),
            T0 + 3,
            Ok(Some(Reseal::NotPrimaryKey)),
        ),
        (
            format!("retired {} until {deadline}\nprimary {}", text(1), text(2)),
            T0 + 4,
            Ok(Some(Reseal::NotPrimaryKey)),
        ),
        (
            format!("retired {} until {deadline}\nprimary {}", text(1), text(2)),
            deadline,
            Err(Error::RetiredKey {
                key_id: key(1).id(),
                deadline,
            }),
        ),
        (
            format!("primary {}", text(2)),
            deadline + 1,
            Err(Error::UnknownKey {
                key_id: key(1).id(),
            }),
        ),
    ];
    for (config, now, expected) in steps {
        let got = codec_from(&config)
            .open_at::<DynamicSession>(&value, now)
            .map(|o| o.reseal);
        assert_eq!(got, expected, "config {config:?} at {now}");
    }
}

// ---------------------------------------------------------- re-seal signal

#[test]
fn sliding_refresh_past_the_configured_share() {
    let ring = KeyRing::from_keys([key(1)]).unwrap();
    let codec = Codec::builder("session")
        .key_ring(ring)
        .max_age(Duration::from_secs(1_000))
        .refresh_after(0.5)
        .build()
        .unwrap();
    let value = codec.seal_at(&session(), T0, [1; 24]).unwrap();
    let at = |now| codec.open_at::<DynamicSession>(&value, now).unwrap().reseal;
    assert_eq!(at(T0), None);
    assert_eq!(at(T0 + 499), None);
    assert_eq!(at(T0 + 500), Some(Reseal::Refresh));
    assert_eq!(at(T0 + 999), Some(Reseal::Refresh));
}

#[test]
fn refresh_share_of_one_disables_refresh() {
    let codec = Codec::builder("session")
        .key_ring(KeyRing::from_keys([key(1)]).unwrap())
        .max_age(Duration::from_secs(1_000))
        .refresh_after(1.0)
        .build()
        .unwrap();
    let value = codec.seal_at(&session(), T0, [1; 24]).unwrap();
    let opened = codec.open_at::<DynamicSession>(&value, T0 + 999).unwrap();
    assert!(!opened.needs_reseal());
}

#[test]
fn not_primary_signal_wins_over_refresh() {
    let value = sealed_under_key1();
    let codec = Codec::builder("session")
        .key_ring(KeyRing::from_keys([key(2), key(1)]).unwrap())
        .refresh_after(0.1)
        .build()
        .unwrap();
    let opened = codec
        .open_at::<DynamicSession>(&value, T0 + 50_000)
        .unwrap();
    assert_eq!(opened.reseal, Some(Reseal::NotPrimaryKey));
}

// ---------------------------------------------------------- configuration

#[test]
fn bare_keys_first_is_primary_rest_active() {
    let config =
        KeyRingConfig::from_text(&format!("{},{} , {}", text(1), text(2), text(3))).unwrap();
    let keys: Vec<_> = config
        .keys()
        .map(|(o, id, s)| (o.to_owned(), id, s))
        .collect();
    assert_eq!(
        keys,
        [
            ("entry 1".to_owned(), key(1).id(), KeyState::Primary),
            ("entry 2".to_owned(), key(2).id(), KeyState::Active),
            ("entry 3".to_owned(), key(3).id(), KeyState::Active),
        ]
    );
    let ring = config.build().unwrap();
    assert_eq!(ring.primary_id(), key(1).id());
}

#[test]
fn text_form_with_comments_blank_lines_and_every_state() {
    let config = KeyRingConfig::from_text(&format!(
        "# production keys\n\n  active {}  # old\nprimary {}\r\nretired {} until 2027-01-01T00:00:00Z\n\
         retired {} until 1767225600, revoked {}\n",
        text(1),
        text(2),
        text(3),
        text(4),
        text(5)
    ))
    .unwrap();
    let keys: Vec<_> = config
        .keys()
        .map(|(o, id, s)| (o.to_owned(), id, s))
        .collect();
    assert_eq!(
        keys,
        [
            ("line 3".to_owned(), key(1).id(), KeyState::Active),
            ("line 4".to_owned(), key(2).id(), KeyState::Primary),
            (
                "line 5".to_owned(),
                key(3).id(),
                KeyState::Retired {
                    until: 1_798_761_600
                }
            ),
            (
                "line 6, entry 1".to_owned(),
                key(4).id(),
                KeyState::Retired {
                    until: 1_767_225_600
                }
            ),
            ("line 6, entry 2".to_owned(), key(5).id(), KeyState::Revoked),
        ]
    );
    assert_eq!(config.build().unwrap().len(), 5);
}

#[test]
fn json_form_and_serde_round_trip() {
    let json = format!(
        r#"{{"keys": [
            {{"key": "{}", "state": "primary"}},
            {{"key": "{}", "state": "active"}},
            {{"key": "{}", "state": "retired", "until": 1767225600}},
            {{"key": "{}", "state": "retired", "until": "2027-01-01T00:00:00Z"}},
            {{"key": "{}", "state": "revoked"}}
        ]}}"#,
        text(1),
        text(2),
        text(3),
        text(4),
        text(5)
    );
    let config = KeyRingConfig::from_json(&json).unwrap();
    let states: Vec<KeyState> = config.keys().map(|(_, _, s)| s).collect();
    assert_eq!(
        states,
        [
            KeyState::Primary,
            KeyState::Active,
            KeyState::Retired {
                until: 1_767_225_600
            },
            KeyState::Retired {
                until: 1_798_761_600
            },
            KeyState::Revoked
        ]
    );
    // Serde: as part of a larger configuration, and back.
    let written = serde_json::to_string(&config).unwrap();
    let back: KeyRingConfig = serde_json::from_str(&written).unwrap();
    let ids = |c: &KeyRingConfig| c.keys().map(|(_, id, s)| (id, s)).collect::<Vec<_>>();
    assert_eq!(ids(&back), ids(&config));
    assert_eq!(KeyRing::from_json(&json).unwrap().len(), 5);
}

#[test]
fn debug_never_shows_key_material() {
    let config = KeyRingConfig::from_text(&text(1)).unwrap();
    let ring = config.build().unwrap();
    for shown in [format!("{config:?}"), format!("{ring:?}")] {
        assert!(!shown.contains(&text(1)), "{shown}");
        assert!(shown.contains(&key(1).id().to_string()), "{shown}");
    }
}

#[test]
fn env_and_file_sources() {
    let var = "SEALED_SESSION_TEST_KEY_RING_ENV";
    std::env::set_var(var, format!("{},{}", text(1), text(2)));
    let ring = KeyRing::from_env(var).unwrap();
    assert_eq!(ring.primary_id(), key(1).id());
    assert_eq!(ring.state_of(key(2).id()), Some(KeyState::Active));

    std::env::set_var(var, format!("{},{}", text(1), text(1)));
    let err = KeyRing::from_env(var).unwrap_err().to_string();
    assert!(
        err.contains(var) && err.contains("entry 2") && err.contains("entry 1"),
        "{err}"
    );
    assert!(!err.contains(&text(1)), "{err}");
    std::env::remove_var(var);
    let err = KeyRing::from_env(var).unwrap_err().to_string();
    assert!(err.contains("not set"), "{err}");

    let dir = std::env::temp_dir().join(format!("sealed-session-key-ring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.txt");
    std::fs::write(&path, format!("active {}\nprimary {}\n", text(1), text(2))).unwrap();
    assert_eq!(KeyRing::from_file(&path).unwrap().primary_id(), key(2).id());
    let json_path = dir.join("keys.json");
    std::fs::write(
        &json_path,
        format!(
            r#"  {{"keys":[{{"key":"{}","state":"primary"}}]}}"#,
            text(3)
        ),
    )
    .unwrap();
    assert_eq!(
        KeyRing::from_file(&json_path).unwrap().primary_id(),
        key(3).id()
    );
    std::fs::write(&path, format!("primary {}\nprimary {}\n", text(1), text(2))).unwrap();
    let err = KeyRing::from_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("keys.txt line 1") && err.contains("keys.txt line 2"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every invalid configuration fails with a configuration error that names
/// where the problem is and never contains the key text.
#[test]
fn validation_errors_name_the_line_and_never_the_key() {
    let k1 = text(1);
    let k2 = text(2);
    // 30 bytes and 33 bytes of otherwise valid base64url.
    let short = URL_SAFE_NO_PAD.encode([7u8; 30]);
    let long = URL_SAFE_NO_PAD.encode([7u8; 33]);
    let not_b64 = "!!!!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    let padded = format!("{}=", text(3));
    let cases: Vec<(String, &[&str], Vec<&String>)> = vec![
        (
            format!("primary {k1}\nprimary {k2}"),
            &["line 1", "line 2", "exactly one primary"],
            vec![&k1, &k2],
        ),
        (
            format!("active {k1}\nactive {k2}"),
            &["exactly one primary", "none"],
            vec![&k1, &k2],
        ),
        (
            format!("primary {k1}\nactive {k1}"),
            &["line 2", "line 1", "twice"],
            vec![&k1],
        ),
        (
            format!("{k1},{k1}"),
            &["entry 2", "entry 1", "twice"],
            vec![&k1],
        ),
        (
            format!("primary {k1}\nactive {short}"),
            &["line 2", "32 bytes", "30 bytes"],
            vec![&k1, &short],
        ),
        (
            format!("primary {k1}\nactive {long}"),
            &["line 2", "32 bytes"],
            vec![&k1, &long],
        ),
        (
            format!("primary {k1}\n\n# c\nactive {not_b64}"),
            &["line 4", "base64url"],
            vec![&k1, &not_b64],
        ),
        (
            format!("primary {padded}"),
            &["line 1", "base64url"],
            vec![&padded],
        ),
        (
            format!("primary {k1}\ncurrent {k2}"),
            &["line 2", "unknown key state"],
            vec![&k1, &k2],
        ),
        (
            format!("primary {k1}\n{k2} active"),
            &["line 2", "unknown key state"],
            vec![&k1, &k2],
        ),
        (
            format!("primary {k1}\nretired {k2}"),
            &["line 2", "deadline"],
            vec![&k1, &k2],
        ),
        (
            format!("primary {k1}\nretired {k2} until tomorrow"),
            &["line 2", "deadline"],
            vec![&k1, &k2],
        ),
        (
            format!("primary {k1}\nretired {k2} until 2026-02-30T00:00:00Z"),
            &["line 2", "not a valid UTC date"],
            vec![&k1, &k2],
        ),
        (
            format!("primary {k1} extra words"),
            &["line 1", "4 words"],
            vec![&k1],
        ),
        ("# only a comment\n\n".to_owned(), &["no keys"], vec![]),
        (String::new(), &["no keys"], vec![]),
    ];
    for (config, must, must_not) in &cases {
        let err = KeyRing::from_config_str(config).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{config:?}: {err:?}");
        let msg = err.to_string();
        for m in *must {
            assert!(msg.contains(m), "{config:?}: {msg:?} lacks {m:?}");
        }
        for secret in must_not {
            assert!(!msg.contains(secret.as_str()), "{msg:?} leaks a key");
            assert!(!msg.contains(&secret[..8]), "{msg:?} leaks part of a key");
        }
    }
}

#[test]
fn json_validation_errors_name_the_entry_and_never_the_key() {
    let k1 = text(1);
    let short = URL_SAFE_NO_PAD.encode([7u8; 30]);
    let cases: Vec<(String, &[&str])> = vec![
        (
            format!(
                r#"{{"keys":[{{"key":"{k1}","state":"primary"}},{{"key":"{short}","state":"active"}}]}}"#
            ),
            &["entry 2", "32 bytes"],
        ),
        (
            format!(r#"{{"keys":[{{"key":"{k1}","state":"{k1}"}}]}}"#),
            &["entry 1", "\"state\" must be"],
        ),
        (
            format!(r#"{{"keys":[{{"key":"{k1}","state":"retired"}}]}}"#),
            &["entry 1", "\"until\""],
        ),
        (
            format!(r#"{{"keys":[{{"key":"{k1}","state":"primary","until":5}}]}}"#),
            &["entry 1", "only to a retired key"],
        ),
        (
            format!(r#"{{"keys":[{{"key":"{k1}","state":"primary","{k1}":1}}]}}"#),
            &["line 1", "unexpected field or value"],
        ),
        (format!(r#"{{"keys":[{{"key":"{k1}""#), &["unexpected end"]),
        (
            format!(
                r#"{{"keys":[{{"key":"{k1}","state":"primary"}},{{"key":"{k1}","state":"active"}}]}}"#
            ),
            &["entry 2", "entry 1", "twice"],
        ),
    ];
    for (json, must) in &cases {
        let err = KeyRing::from_json(json).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        let msg = err.to_string();
        for m in *must {
            assert!(msg.contains(m), "{msg:?} lacks {m:?}");
        }
        assert!(
            !msg.contains(&k1[..8]) && !msg.contains(&short[..8]),
            "{msg:?} leaks a key"
        );
    }
    // Through serde directly, the same checks run.
    let err = serde_json::from_str::<KeyRingConfig>(&cases[0].0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("entry 2") && !err.contains(&short[..8]),
        "{err}"
    );
}

/// No deserialization path quotes key material in an error: the key text
/// sits where a number, an array, an object, a boolean, a field name, a
/// state or a time belongs, in the JSON form alone, inside larger
/// configurations (serde_json, flattened, optional, untagged) and as the
/// text form inside a larger configuration.
#[test]
fn serde_errors_never_contain_key_material() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct App {
        name: String,
        session_keys: KeyRingConfig,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Flat {
        name: String,
        #[serde(flatten)]
        keys: KeyRingConfig,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Optional {
        keys: Option<KeyRingConfig>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    #[serde(untagged)]
    enum Either {
        Ring(KeyRingConfig),
        Port(u16),
    }

    let k = text(9);
    let k2 = text(10);
    let entry =
        |key: &str, rest: &str| format!(r#"{{"keys":[{{"key":{key},"state":"primary"{rest}}}]}}"#);
    let quoted = format!("\"{k}\"");
    let mut rings: Vec<String> = vec![
        format!(r#"{{"keys":["{k}"]}}"#),
        format!(r#"{{"keys":["{k}","{k2}"]}}"#),
        format!(r#"{{"keys":"{k}"}}"#),
        format!(r#"{{"keys":"{k},{k2}"}}"#),
        format!(r#"{{"keys":{{"{k}":"primary"}}}}"#),
        format!(r#"{{"keys":[["{k}","primary"]]}}"#),
        format!(r#"{{"keys":[{{"{k}":"primary"}}]}}"#),
        format!(r#"{{"{k}":[]}}"#),
        format!(r#"{{"keys":[],"{k}":1}}"#),
        format!(r#"["{k}"]"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":["{k}"]}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":{{"{k}":1}}}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"{k}"}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":true}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"retired","until":"{k}"}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"retired","until":["{k}"]}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"retired","until":{{"{k}":1}}}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"retired","until":-1}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"retired","until":1.5}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","key":"{k2}","state":"primary"}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}"}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}x","state":"primary"}}]}}"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"primary"}}]"#),
        format!(r#"{{"keys":[{{"key":"{k}","state":"primary"}}]}} {k}"#),
    ];
    for key in [
        "17".to_owned(),
        "-3".to_owned(),
        "2.5".to_owned(),
        "true".to_owned(),
        "null".to_owned(),
        format!("[{quoted}]"),
        format!("{{{quoted}:{quoted}}}"),
        format!("{{\"key\":{quoted}}}"),
    ] {
        rings.push(entry(&key, ""));
        rings.push(entry(&key, &format!(r#","{k}":1"#)));
    }
    rings.push(entry(&quoted, &format!(r#","{k}":{quoted}"#)));
    rings.push(entry(&quoted, &format!(r#","until":{quoted}"#)));

    let mut errors: Vec<(String, String)> = Vec::new();
    let mut record = |input: &str, display: String, debug: String| {
        errors.push((input.to_owned(), format!("{display}\n{debug}")));
    };
    for ring in &rings {
        let err = KeyRingConfig::from_json(ring).expect_err(ring);
        record(ring, err.to_string(), format!("{err:?}"));
        let err = serde_json::from_str::<KeyRingConfig>(ring).unwrap_err();
        record(ring, err.to_string(), format!("{err:?}"));
        for outer in [
            format!(r#"{{"name":"app","session_keys":{ring}}}"#),
            format!(r#"{{"session_keys":{ring},"name":"app"}}"#),
        ] {
            let err = serde_json::from_str::<App>(&outer).unwrap_err();
            record(&outer, err.to_string(), format!("{err:?}"));
        }
        let optional = format!(r#"{{"keys":{ring}}}"#);
        let err = serde_json::from_str::<Optional>(&optional).unwrap_err();
        record(&optional, err.to_string(), format!("{err:?}"));
        let err = serde_json::from_str::<Either>(ring).unwrap_err();
        record(ring, err.to_string(), format!("{err:?}"));
        if let Some(inner) = ring.strip_prefix('{') {
            let flat = format!(r#"{{"name":"app",{inner}"#);
            if let Err(err) = serde_json::from_str::<Flat>(&flat) {
                record(&flat, err.to_string(), format!("{err:?}"));
            }
        }
    }
    // The text form as a string inside a larger configuration.
    for text_form in [
        format!("{k} extra words"),
        format!("current {k}"),
        format!("retired {k} until {k}"),
        format!("{k}x"),
        format!("primary {k}x\\nactive {k2}"),
        String::new(),
    ] {
        let outer = format!(r#"{{"name":"app","session_keys":"{text_form}"}}"#);
        let err = serde_json::from_str::<App>(&outer).unwrap_err();
        record(&outer, err.to_string(), format!("{err:?}"));
        let err = KeyRingConfig::from_text(&text_form.replace("\\n", "\n")).unwrap_err();
        record(&text_form, err.to_string(), format!("{err:?}"));
    }
    assert!(errors.len() > 250, "{} errors", errors.len());
    for (input, shown) in &errors {
        for secret in [&k, &k2] {
            for start in 0..=secret.len() - 8 {
                let part = &secret[start..start + 8];
                assert!(
                    !shown.contains(part),
                    "the error for {input} shows {part:?} of a key: {shown}"
                );
            }
        }
    }
}

/// The serde forms a larger configuration can hold: the JSON form, the text
/// form as a string, and what serializing writes; errors name the entry.
#[test]
fn serde_forms_inside_a_larger_configuration() {
    #[derive(serde::Deserialize, Debug)]
    struct App {
        session_keys: KeyRingConfig,
        csrf_keys: KeyRingConfig,
    }
    let app: App = serde_json::from_str(&format!(
        r#"{{"session_keys": {{"keys": [{{"key": "{}", "state": "primary"}}]}},
            "csrf_keys": "{},{}"}}"#,
        text(1),
        text(2),
        text(3)
    ))
    .unwrap();
    assert_eq!(app.session_keys.build().unwrap().primary_id(), key(1).id());
    let csrf = app.csrf_keys.build().unwrap();
    assert_eq!(csrf.primary_id(), key(2).id());
    assert_eq!(csrf.state_of(key(3).id()), Some(KeyState::Active));

    let config = KeyRingConfig::new()
        .with_key(key(1), KeyState::Primary)
        .with_key(key(2), KeyState::Retired { until: 7 });
    assert_eq!(
        serde_json::to_string(&config).unwrap(),
        format!(
            r#"{{"keys":[{{"key":"{}","state":"primary"}},{{"key":"{}","state":"retired","until":7}}]}}"#,
            text(1),
            text(2)
        )
    );

    let err = serde_json::from_str::<App>(&format!(
        r#"{{"session_keys": {{"keys": [{{"key": "{}", "state": "primary"}}, {{"key": 5}}]}}}}"#,
        text(1)
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("entry 2") && err.contains("43 base64url"),
        "{err}"
    );
    // Only the documented object form: an entry is not a list.
    let err = KeyRingConfig::from_json(&format!(r#"{{"keys":[["{}","primary"]]}}"#, text(1)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unexpected field or value"), "{err}");
    // The JSON form never needs an escape, and one would leave serde_json's
    // unescaped copy of the string behind: refused, with its position.
    let escaped = format!(
        r#"{{"keys":[{{"key":"\u0041{}","state":"primary"}}]}}"#,
        &text(0)[1..]
    );
    let err = KeyRingConfig::from_json(&escaped).unwrap_err().to_string();
    assert!(
        err.contains("backslash escape at line 1, column 18"),
        "{err}"
    );
}

// ---------------------------------------------------------- derived keys

/// Fixed HKDF-SHA256 vectors for `derive_key`, computed independently with
/// Python's `hmac`/`hashlib` (RFC 5869 extract with salt
/// "sealed-session/v1", expand with info "sealed-session/v1/purpose/" ||
/// purpose, L = 32) from the master key bytes 0x00..0x1f; key ids are
/// SHA-256("sealed-session key id v1\0" || key)[0..4].
#[test]
fn hkdf_purpose_derivation_matches_fixed_vectors() {
    let master = Key::from_base64url(MASTER).unwrap();
    assert_eq!(master.id().to_string(), "6e3f6d6f");
    let vectors = [
        (
            "session",
            "k3UnjNrwd8PA-J--xS-gG-AdAUOcCIwqp0y_dkfkVNw",
            "b3e1b0d0",
        ),
        (
            "csrf",
            "GADX5ujlo4a7NslZZy2kAXSdaMI77t8vYXhm71bFpn0",
            "3e4f2644",
        ),
        (
            "",
            "SVmE5DsCjAoJyDcIs3OKSklfJyRsaAbbo_w5wm4YPkE",
            "f606193e",
        ),
    ];
    for (purpose, expected_key, expected_id) in vectors {
        let derived = derive_key(&master, purpose);
        assert_eq!(derived.to_base64url(), expected_key, "purpose {purpose:?}");
        assert_eq!(derived.id().to_string(), expected_id, "purpose {purpose:?}");
    }
}

#[test]
fn derived_ring_keeps_states_and_separates_purposes() {
    let config =
        KeyRingConfig::from_text(&format!("{MASTER}\nretired {} until {}", text(1), T0 + 100))
            .unwrap();
    let ring = config.build_derived("session").unwrap();
    assert_eq!(ring.primary_id().to_string(), "b3e1b0d0");
    assert_eq!(
        ring.state_of(derive_key(&key(1), "session").id()),
        Some(KeyState::Retired { until: T0 + 100 })
    );
    // The masters themselves are not in the derived ring.
    assert_eq!(
        ring.state_of(Key::from_base64url(MASTER).unwrap().id()),
        None
    );

    // A value sealed for one purpose does not open under another purpose's ring.
    let session_codec = codec(config.build_derived("session").unwrap());
    let csrf_codec = codec(config.build_derived("csrf").unwrap());
    let value = session_codec.seal_at(&session(), T0, [3; 24]).unwrap();
    assert!(session_codec.open_at::<DynamicSession>(&value, T0).is_ok());
    assert!(matches!(
        csrf_codec.open_at::<DynamicSession>(&value, T0),
        Err(Error::UnknownKey { .. })
    ));
    // Derivation errors still name the line.
    let err = KeyRingConfig::from_text(&format!("{MASTER}\n{MASTER}"))
        .unwrap()
        .build_derived("session")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && !err.contains(&MASTER[..8]),
        "{err}"
    );
}

// ---------------------------------------------------------- signed-only mode

fn signed_codec(ring: KeyRing) -> Codec {
    Codec::builder("prefs")
        .key_ring(ring)
        .mode(Mode::SignedOnly)
        .max_age(Duration::from_secs(3_600))
        .build()
        .unwrap()
}

/// Computed independently with Python's `hmac`/`hashlib` from FORMAT.md:
/// key bytes 0x00..0x1f, cookie name "prefs", issued at 1700000000, max age
/// 3600, JSON `{"theme":"dark"}`.
const SIGNED_VECTOR: &str =
    "Am4_bW8AAAAAZVPxAAAAAABlU_8QuchgwBNa10b_wnywt3s48dBXS8imsWPO_pqrPFswT-Z7InRoZW1lIjoiZGFyayJ9";

#[test]
fn signed_only_fixed_vector_and_script_readable_json() {
    let codec = signed_codec(KeyRing::from_config_str(MASTER).unwrap());
    let prefs = json!({"theme": "dark"});
    let value = codec.seal_at(&prefs, T0, [0; 24]).unwrap();
    assert_eq!(value, SIGNED_VECTOR);
    // A script needs only base64url: the JSON starts at offset 53.
    let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
    let readable: serde_json::Value = serde_json::from_slice(&raw[53..]).unwrap();
    assert_eq!(readable, prefs);
    let opened = codec.open_at::<serde_json::Value>(&value, T0 + 1).unwrap();
    assert_eq!(opened.session, prefs);
    assert_eq!((opened.issued_at, opened.expires_at), (T0, T0 + 3_600));
}

#[test]
fn signed_only_round_trip_and_tampering() {
    let codec = signed_codec(KeyRing::from_keys([key(1)]).unwrap());
    let value = codec.seal_at(&session(), T0, [0; 24]).unwrap();
    assert_eq!(
        codec.open_at::<DynamicSession>(&value, T0).unwrap().session,
        session()
    );
    let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
    // Every byte after the key id (times, MAC, JSON) is authenticated.
    for i in 5..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            codec
                .open_at::<DynamicSession>(&URL_SAFE_NO_PAD.encode(&bad), T0)
                .unwrap_err(),
            Error::Unauthenticated,
            "byte {i}"
        );
    }
    // The cookie name is bound.
    let other = Codec::builder("prefs2")
        .key_ring(KeyRing::from_keys([key(1)]).unwrap())
        .mode(Mode::SignedOnly)
        .build()
        .unwrap();
    assert_eq!(
        other.open_at::<DynamicSession>(&value, T0).unwrap_err(),
        Error::Unauthenticated
    );
    // Rotation applies to signed values too.
    let rotated = signed_codec(KeyRing::from_keys([key(2), key(1)]).unwrap());
    assert_eq!(
        rotated
            .open_at::<DynamicSession>(&value, T0)
            .unwrap()
            .reseal,
        Some(Reseal::NotPrimaryKey)
    );
    let revoked = signed_codec(
        KeyRing::from_config_str(&format!("primary {}\nrevoked {}", text(2), text(1))).unwrap(),
    );
    assert_eq!(
        revoked.open_at::<DynamicSession>(&value, T0).unwrap_err(),
        Error::RevokedKey {
            key_id: key(1).id()
        }
    );
}
