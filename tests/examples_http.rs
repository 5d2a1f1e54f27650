//! Drives the axum demo shop and the actix-web example over real HTTP on
//! 127.0.0.1: their routers run in this process on a port picked by the OS,
//! and a small HTTP/1.1 client with a cookie jar plays the browser. The
//! shop needs the `axum` feature, the actix example the `actix` feature.
#![cfg(any(all(feature = "axum", feature = "dbsc"), feature = "actix"))]

#[path = "e2e/support.rs"]
mod support;

#[cfg(all(feature = "axum", feature = "dbsc"))]
#[allow(dead_code)]
#[path = "../examples/shop.rs"]
mod shop;

#[cfg(feature = "actix")]
#[allow(dead_code)]
#[path = "../examples/actix.rs"]
mod actix;

use std::net::{SocketAddr, TcpListener};
#[cfg(all(feature = "axum", feature = "dbsc"))]
use std::sync::Arc;

use sealed_session::{Codec, Key, KeyRing};
use support::{request, CookieJar, Response};

fn key(tag: u8) -> Key {
    Key::from_bytes([tag; 32])
}

/// Serves the shop with `keys` (text form) on a fresh port, in the
/// background for the rest of the test process.
#[cfg(all(feature = "axum", feature = "dbsc"))]
fn serve_shop(keys: &str, server_id: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    listener.set_nonblocking(true).expect("nonblocking");
    let config = shop::Config {
        listen: addr,
        domain: Some("shop.test".to_owned()),
        site: "shop.test".to_owned(),
        secure: false,
        server_id: server_id.to_owned(),
        redis: None,
        device_binding: None,
    };
    let ring = KeyRing::from_config_str(keys).expect("key ring");
    let app = shop::router(Arc::new(shop::Shop::new(&config, ring).expect("shop")));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    addr
}

/// A browser-like client: sends the jar's cookies for the Host it talks to.
struct Client {
    addr: SocketAddr,
    jar: CookieJar,
}

impl Client {
    fn send(
        &mut self,
        method: &str,
        host: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        let cookie = self.jar.header_for(host);
        let response =
            request(self.addr, method, host, path, cookie.as_deref(), form).expect("request");
        self.jar.store(host, &response);
        response
    }
}

#[cfg(all(feature = "axum", feature = "dbsc"))]
#[test]
fn shop_shares_one_session_across_subdomains() {
    let addr = serve_shop(&key(1).to_base64url(), "one");
    let mut client = Client {
        addr,
        jar: CookieJar::default(),
    };

    let page = client.send("GET", "shop.test", "/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Not signed in"), "{}", page.body);
    assert!(
        page.set_cookies().is_empty(),
        "no session, nothing to write"
    );

    let signed_in = client.send(
        "POST",
        "account.shop.test",
        "/sign-in",
        Some(&[("username", "bob")]),
    );
    assert_eq!(signed_in.status, 303);
    let set = signed_in.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    for attribute in ["Domain=shop.test", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            set[0].contains(attribute),
            "missing {attribute}: {}",
            set[0]
        );
    }
    assert!(
        !set[0].contains("Secure"),
        "the shop runs insecure here: {}",
        set[0]
    );

    let added = client.send(
        "POST",
        "cart.shop.test",
        "/cart/add",
        Some(&[("item", "tea & <cake>")]),
    );
    assert_eq!(added.status, 303);
    assert_eq!(added.set_cookies().len(), 1, "the cart changed: re-sealed");

    let page = client.send("GET", "shop.test", "/", None);
    assert!(
        page.body.contains("Signed in as <b>bob</b>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("tea &amp; &lt;cake&gt;"),
        "escaped item: {}",
        page.body
    );
    assert!(
        page.set_cookies().is_empty(),
        "unchanged session: no Set-Cookie"
    );

    let state = client
        .send("GET", "account.shop.test", "/api/state", None)
        .json();
    assert_eq!(state["user"], "bob");
    assert_eq!(state["cart"], serde_json::json!(["tea & <cake>"]));
    assert_eq!(state["server_id"], "one");
    assert_eq!(state["key_id"], key(1).id().to_string());

    // Sign-out on one subdomain expires the cookie with the same Domain and
    // Path, so it is gone everywhere.
    let out = client.send("POST", "cart.shop.test", "/sign-out", None);
    assert_eq!(out.status, 303);
    let removal = out.set_cookies();
    assert!(
        removal
            .iter()
            .all(|c| c.contains("Domain=shop.test") && c.contains("Max-Age=0")),
        "{removal:?}"
    );
    assert!(client.jar.cookies.is_empty(), "{:?}", client.jar.cookies);
    let state = client.send("GET", "shop.test", "/api/state", None).json();
    assert_eq!(state["user"], serde_json::Value::Null);
    assert_eq!(state["cart"], serde_json::json!([]));
}

#[cfg(all(feature = "axum", feature = "dbsc"))]
#[test]
fn shop_treats_an_invalid_cookie_as_no_session() {
    let addr = serve_shop(&key(2).to_base64url(), "two");
    for cookie in ["shop_session=AAAA", "shop_session=not base64!", "other=1"] {
        let response =
            request(addr, "GET", "shop.test", "/api/state", Some(cookie), None).expect("request");
        assert_eq!(response.status, 200, "{cookie}");
        assert_eq!(response.json()["user"], serde_json::Value::Null, "{cookie}");
        assert!(response.set_cookies().is_empty(), "{cookie}");
    }
    // A cookie sealed under a key this server does not have: no session.
    let stranger = serve_shop(&key(3).to_base64url(), "stranger");
    let mut client = Client {
        addr: stranger,
        jar: CookieJar::default(),
    };
    client.send(
        "POST",
        "account.shop.test",
        "/api/sign-in",
        Some(&[("username", "eve")]),
    );
    client.addr = addr;
    let state = client.send("GET", "shop.test", "/api/state", None).json();
    assert_eq!(state["user"], serde_json::Value::Null);
}

#[cfg(all(feature = "axum", feature = "dbsc"))]
#[test]
fn shop_reseals_a_cookie_opened_by_a_non_primary_key() {
    let (old, new) = (key(4), key(5));
    let before = serve_shop(&format!("primary {}", old.to_base64url()), "before");
    let after = serve_shop(
        &format!(
            "primary {}, active {}",
            new.to_base64url(),
            old.to_base64url()
        ),
        "after",
    );
    let mut client = Client {
        addr: before,
        jar: CookieJar::default(),
    };
    client.send(
        "POST",
        "account.shop.test",
        "/api/sign-in",
        Some(&[("username", "ann")]),
    );

    // A read that changes nothing still re-seals under the new primary.
    client.addr = after;
    let response = client.send("GET", "shop.test", "/api/state", None);
    assert_eq!(response.json()["key_id"], old.id().to_string());
    assert_eq!(
        response.set_cookies().len(),
        1,
        "re-sealed under the new primary"
    );
    let response = client.send("GET", "shop.test", "/api/state", None);
    assert_eq!(response.json()["key_id"], new.id().to_string());
    assert_eq!(response.json()["user"], "ann");
    assert!(
        response.set_cookies().is_empty(),
        "already under the primary"
    );
}

#[cfg(all(feature = "axum", feature = "dbsc"))]
#[test]
fn shop_starts_a_new_session_owned_by_the_user_at_sign_in() {
    let addr = serve_shop(&key(9).to_base64url(), "nine");
    let mut client = Client {
        addr,
        jar: CookieJar::default(),
    };
    let session_id = |client: &mut Client| {
        client.send("GET", "shop.test", "/api/state", None).json()["session_id"].clone()
    };
    assert_eq!(
        session_id(&mut client),
        serde_json::Value::Null,
        "no cookie, no session"
    );

    client.send(
        "POST",
        "cart.shop.test",
        "/api/cart",
        Some(&[("item", "tea")]),
    );
    let anonymous = session_id(&mut client);
    assert!(
        anonymous
            .as_str()
            .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        "{anonymous}"
    );
    assert_eq!(
        session_id(&mut client),
        anonymous,
        "a read keeps the session"
    );

    client.send(
        "POST",
        "account.shop.test",
        "/api/sign-in",
        Some(&[("username", "ida")]),
    );
    let signed_in = client.send("GET", "shop.test", "/api/state", None).json();
    assert_ne!(
        signed_in["session_id"], anonymous,
        "sign-in starts a new session"
    );
    assert_eq!(signed_in["user"], "ida");
    assert_eq!(
        signed_in["cart"],
        serde_json::json!(["tea"]),
        "the cart is kept"
    );
    client.send(
        "POST",
        "cart.shop.test",
        "/api/cart",
        Some(&[("item", "mug")]),
    );
    let state = client.send("GET", "shop.test", "/api/state", None).json();
    assert_eq!(
        state["session_id"], signed_in["session_id"],
        "a change keeps the id"
    );

    // The user is the subject of the session, for "sign out everywhere".
    let codec = Codec::builder("shop_session")
        .key_ring(KeyRing::from_keys([key(9)]).expect("ring"))
        .secure(false)
        .build()
        .expect("codec");
    let cookie = client
        .jar
        .header_for("shop.test")
        .expect("a session cookie");
    let opened = codec.decode::<serde_json::Value>(&cookie).expect("opens");
    let identity = opened.identity.expect("an identity");
    assert_eq!(identity.subject.as_deref(), Some("ida"));
    assert_eq!(
        Some(identity.session_id.to_string().as_str()),
        state["session_id"].as_str()
    );
}

#[cfg(feature = "actix")]
fn serve_actix(codec: Codec) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let middleware = actix::session_middleware(codec);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .wrap(middleware.clone())
                    .configure(actix::configure)
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run()
            .await
            .expect("serve");
        });
    });
    addr
}

#[cfg(feature = "actix")]
#[test]
fn actix_example_keeps_the_session_in_the_cookie() {
    let codec = Codec::builder("cart")
        .key_ring(KeyRing::from_keys([key(6)]).expect("ring"))
        .secure(false)
        .build()
        .expect("codec");
    let addr = serve_actix(codec);
    support::wait_for_port(addr, "actix example", std::time::Duration::from_secs(10));
    let mut client = Client {
        addr,
        jar: CookieJar::default(),
    };
    let host = "localhost";

    let empty = client.send("GET", host, "/", None);
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.json(),
        serde_json::json!({ "user": null, "cart": [] })
    );

    let signed_in = client.send("POST", host, "/sign-in", Some(&[("username", "kim")]));
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.set_cookies().len(), 1);
    let added = client.send("POST", host, "/cart", Some(&[("item", "mug")]));
    assert_eq!(
        added.json(),
        serde_json::json!({ "user": "kim", "cart": ["mug"] })
    );

    let shown = client.send("GET", host, "/", None);
    assert_eq!(
        shown.json(),
        serde_json::json!({ "user": "kim", "cart": ["mug"] })
    );
    assert!(shown.set_cookies().is_empty(), "unchanged: no Set-Cookie");

    let bad = request(addr, "GET", host, "/", Some("cart=forged"), None).expect("request");
    assert_eq!(bad.status, 200);
    assert_eq!(bad.json()["user"], serde_json::Value::Null);

    let out = client.send("POST", host, "/sign-out", None);
    assert!(out.set_cookies().iter().all(|c| c.contains("Max-Age=0")));
    assert!(client.jar.cookies.is_empty());
    let after = client.send("GET", host, "/", None);
    assert_eq!(after.json()["user"], serde_json::Value::Null);
}

/// The jar's cookies for `host` with a non-ASCII cookie of another
/// application on each side (a tossed `pref=café`, UTF-8 on the wire).
fn with_non_ascii_neighbours(client: &Client, host: &str) -> String {
    let cookies = client
        .jar
        .header_for(host)
        .expect("the jar holds the session");
    format!("pref=café; {cookies}; note=naïve")
}

#[cfg(all(feature = "axum", feature = "dbsc"))]
#[test]
fn shop_keeps_the_session_next_to_a_non_ascii_cookie() {
    let addr = serve_shop(&key(7).to_base64url(), "seven");
    let mut client = Client {
        addr,
        jar: CookieJar::default(),
    };
    client.send(
        "POST",
        "account.shop.test",
        "/api/sign-in",
        Some(&[("username", "zoé")]),
    );
    let cookie = with_non_ascii_neighbours(&client, "shop.test");
    let response =
        request(addr, "GET", "shop.test", "/api/state", Some(&cookie), None).expect("request");
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["user"], "zoé", "signed out by a neighbour");
    assert!(
        response.set_cookies().is_empty(),
        "unchanged: no Set-Cookie"
    );
}

#[cfg(feature = "actix")]
#[test]
fn actix_example_keeps_the_session_next_to_a_non_ascii_cookie() {
    let codec = Codec::builder("cart")
        .key_ring(KeyRing::from_keys([key(8)]).expect("ring"))
        .secure(false)
        .build()
        .expect("codec");
    let addr = serve_actix(codec);
    support::wait_for_port(addr, "actix example", std::time::Duration::from_secs(10));
    let mut client = Client {
        addr,
        jar: CookieJar::default(),
    };
    let host = "localhost";
    client.send("POST", host, "/sign-in", Some(&[("username", "kim")]));
    let cookie = with_non_ascii_neighbours(&client, host);
    let shown = request(addr, "GET", host, "/", Some(&cookie), None).expect("request");
    assert_eq!(shown.status, 200);
    assert_eq!(
        shown.json(),
        serde_json::json!({ "user": "kim", "cart": [] }),
        "signed out by a neighbour"
    );
}
