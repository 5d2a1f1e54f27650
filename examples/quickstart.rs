//! Quickstart: seal one realistic session (a line of the test corpus) into
//! a cookie, print the Set-Cookie header, and open it again.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use sealed_session::{Codec, DynamicSession, Key, KeyRing};

/// DEMO KEY, FOR THIS EXAMPLE ONLY: it is public, so it protects nothing.
/// Real deployments generate keys (`Key::generate()`, or the
/// `sealed-session keygen` command) and load them from configuration, e.g.
/// `KeyRing::from_env("SEALED_SESSION_KEYS")`.
const DEMO_KEY: &str = "ZGVtby1rZXktZG8tbm90LXVzZS1pbi1wcm9kdWN0aW8";

/// A typical shop session: user, cart, preferences (about 1.5 KB of JSON).
const SESSION_JSON: &str = include_str!("../tests/data/corpus/sessions-typical.jsonl");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let line = SESSION_JSON
        .lines()
        .next()
        .ok_or("the corpus file is empty")?;
    let session: DynamicSession = serde_json::from_str(line)?;
    println!(
        "using the built-in DEMO key (public, for this example only; \
         generate real keys with `sealed-session keygen`)"
    );

    let codec = Codec::builder("__Secure-session")
        .key_ring(KeyRing::from_keys([Key::from_base64url(DEMO_KEY)?])?)
        // Every subdomain of example.com receives the cookie.
        .domain("example.com")
        .build()?;

    let cookies = codec.encode(&session)?;
    println!("session JSON: {} bytes", line.len());
    for header in &cookies {
        println!("Set-Cookie: {header}");
    }

    // What the browser sends back: `name=value` of each cookie.
    let cookie_header = cookies
        .iter()
        .filter_map(|header| header.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    println!("cookie value: {} bytes", cookie_header.len());

    let opened = codec.decode::<DynamicSession>(&cookie_header)?;
    assert_eq!(
        opened.session, session,
        "the session must come back unchanged"
    );
    println!(
        "opened again: {} fields, key id {}, expires at {} (Unix seconds)",
        opened.session.len(),
        opened.key_id,
        opened.expires_at
    );
    Ok(())
}
