//! The axum layer and extractor, driven over real TCP (127.0.0.1, a raw
//! HTTP/1.1 client so that header bytes and repeated fields are exactly what
//! the test writes).

#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use sealed_session::{Codec, DomainRule, ResealPolicy, SealedSession, SealedSessionLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "common/raw_http.rs"]
mod raw_http;
use raw_http::{cookie_line, parse_reply, request_bytes, Reply};

#[path = "common/counter_session.rs"]
mod counter_session;
use counter_session::{codec, counter, ring, rotated, sealed, sealed_pairs, Counter};

async fn read(session: SealedSession<Counter>) -> String {
    session.read(|s| s.map_or("none".to_owned(), |s| s.count.to_string()))
}

async fn increment(session: SealedSession<Counter>) -> String {
    session
        .update(|s| {
            s.count += 1;
            s.count
        })
        .to_string()
}

async fn same(session: SealedSession<Counter>) -> &'static str {
    // Changed and changed back: the JSON is what was opened.
    session.update(|s| {
        s.count += 1;
        s.count -= 1;
    });
    "same"
}

async fn purge(session: SealedSession<Counter>) -> &'static str {
    session.purge();
    "purged"
}

async fn cached(session: SealedSession<Counter>) -> impl IntoResponse {
    session.update(|s| s.count += 1);
    ([(header::CACHE_CONTROL, "private, max-age=60")], "cached")
}

async fn fail(session: SealedSession<Counter>) -> StatusCode {
    session.update(|s| s.count += 100);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn fail_after_purge(session: SealedSession<Counter>) -> StatusCode {
    session.purge();
    StatusCode::SERVICE_UNAVAILABLE
}

async fn big(session: SealedSession<Counter>) -> &'static str {
    // Incompressible: hex of a hash chain, far above the cookie budget.
    let mut note = String::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while note.len() < 12_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        note.push_str(&format!("{x:016x}"));
    }
    session.update(|s| s.note = note);
    "big"
}

fn routes() -> Router {
    Router::new()
        .route("/read", get(read))
        .route("/untouched", get(|| async { "untouched" }))
        .route("/inc", post(increment))
        .route("/same", post(same))
        .route("/purge", post(purge))
        .route("/cached", get(cached))
        .route("/fail", post(fail))
        .route("/fail-purge", post(fail_after_purge))
        .route("/big", post(big))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn serve_layer(layer: SealedSessionLayer<Counter>) -> SocketAddr {
    serve(routes().layer(layer)).await
}

/// Sends one request; `headers` are raw header lines (bytes, so a test can
/// send non-ASCII or repeated fields).
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&[u8]]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&request_bytes(method, path, headers, ""))
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_reply(raw)
}

#[tokio::test]
async fn reads_write_nothing_and_a_change_writes_one_cookie() {
    let addr = serve_layer(SealedSessionLayer::new(codec(ring(1)))).await;

    let untouched = request(addr, "GET", "/untouched", &[]).await;
    assert_eq!(untouched.status, 200);
    assert!(untouched.set_cookies().is_empty());
    assert!(untouched.all("vary").is_empty(), "the session was not read");

    let empty = request(addr, "GET", "/read", &[]).await;
    assert_eq!(empty.body, "none");
    assert!(empty.set_cookies().is_empty());
    assert_eq!(empty.all("vary"), ["Cookie"]);

    let first = request(addr, "POST", "/inc", &[]).await;
    assert_eq!((first.status, first.body.as_str()), (200, "1"));
    assert_eq!(first.set_cookies().len(), 1, "{:?}", first.headers);
    assert_eq!(first.all("cache-control"), ["private, no-store"]);
    assert_eq!(first.all("vary"), ["Cookie"]);

    let cookie = cookie_line(&first.cookie());
    let read_back = request(addr, "GET", "/read", &[&cookie]).await;
    assert_eq!(read_back.body, "1");
    assert!(read_back.set_cookies().is_empty(), "a read writes nothing");
    assert!(read_back.all("cache-control").is_empty());
    assert_eq!(read_back.all("vary"), ["Cookie"]);

    let unchanged = request(addr, "POST", "/same", &[&cookie]).await;
    assert_eq!(unchanged.status, 200);
    assert!(unchanged.set_cookies().is_empty(), "an unchanged update");

    let second = request(addr, "POST", "/inc", &[&cookie]).await;
    assert_eq!(second.body, "2");
    assert_eq!(second.set_cookies().len(), 1);
}

#[tokio::test]
async fn a_value_under_an_older_key_is_resealed() {
    let old = codec(ring(1));
    let cookie = cookie_line(&sealed(&old, &counter(7)));
    let new = Arc::new(codec(rotated()));
    let addr = serve_layer(SealedSessionLayer::new(Arc::clone(&new))).await;

    let reply = request(addr, "GET", "/read", &[&cookie]).await;
    assert_eq!(reply.body, "7");
    assert_eq!(reply.set_cookies().len(), 1, "a re-seal");
    let reopened = new.decode::<Counter>(&reply.cookie()).unwrap();
    assert_eq!(reopened.key_id, new.key_ring().primary_id());
    assert_eq!(reopened.session, counter(7));
    assert!(reopened.reseal.is_none());

    // Re-sealed under the primary: the next read writes nothing.
    let again = request(addr, "GET", "/read", &[&cookie_line(&reply.cookie())]).await;
    assert!(again.set_cookies().is_empty());
}

#[tokio::test]
async fn navigations_only_reseals_on_navigations() {
    let cookie = cookie_line(&sealed(&codec(ring(1)), &counter(3)));
    let layer =
        SealedSessionLayer::new(codec(rotated())).reseal_policy(ResealPolicy::NavigationsOnly);
    let addr = serve_layer(layer).await;

    let background = request(addr, "GET", "/read", &[&cookie, b"Sec-Fetch-Mode: cors"]).await;
    assert_eq!(background.body, "3");
    assert!(background.set_cookies().is_empty());

    let navigation = request(
        addr,
        "GET",
        "/read",
        &[&cookie, b"Sec-Fetch-Mode: navigate"],
    )
    .await;
    assert_eq!(navigation.body, "3");
    assert_eq!(navigation.set_cookies().len(), 1);
}

#[tokio::test]
async fn purge_removes_the_cookie_and_its_chunks_with_domain_and_path() {
    let codec = Codec::builder("sid")
        .key_ring(ring(1))
        .domain("shop.test")
        .path("/")
        .max_chunks(3)
        .build()
        .unwrap();
    let addr = serve_layer(SealedSessionLayer::new(codec)).await;
    // Purging needs no readable cookie.
    let reply = request(addr, "POST", "/purge", &[b"Cookie: sid=unreadable"]).await;
    let removals = reply.set_cookies();
    assert_eq!(removals.len(), 3, "{removals:?}");
    for (cookie, name) in removals.iter().zip(["sid=", "sid.1=", "sid.2="]) {
        assert!(cookie.starts_with(name), "{cookie}");
        assert!(cookie.contains("Domain=shop.test"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    assert_eq!(reply.all("cache-control"), ["private, no-store"]);
}

#[tokio::test]
async fn the_domain_follows_the_host_under_a_domain_rule() {
    let codec = Codec::builder("sid")
        .key_ring(ring(1))
        .domain_rule(DomainRule::RegistrableDomain)
        .build()
        .unwrap();
    let addr = serve_layer(SealedSessionLayer::new(codec)).await;
    let reply = request(addr, "POST", "/inc", &[b"Host: cart.shop.example.com:8080"]).await;
    assert_eq!(reply.status, 200);
    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].contains("Domain=example.com"), "{}", cookies[0]);

    let purge = request(addr, "POST", "/purge", &[b"Host: www.example.org"]).await;
    assert!(purge.set_cookies()[0].contains("Domain=example.org"));
}

#[tokio::test]
async fn foreign_and_split_cookie_headers_keep_the_session() {
    let codec = Arc::new(codec(ring(1)));
    let pair = sealed(&codec, &counter(5));
    let addr = serve_layer(SealedSessionLayer::new(Arc::clone(&codec))).await;

    let latin1 = [b"Cookie: pref=caf\xe9; ".as_slice(), pair.as_bytes()].concat();
    let utf8 = [b"Cookie: pref=caf\xc3\xa9; ".as_slice(), pair.as_bytes()].concat();
    for line in [latin1, utf8] {
        let reply = request(addr, "GET", "/read", &[&line]).await;
        assert_eq!(reply.body, "5");
    }

    let split = request(
        addr,
        "GET",
        "/read",
        &[
            b"Cookie: theme=dark",
            &cookie_line(&pair),
            b"Cookie: lang=en",
        ],
    )
    .await;
    assert_eq!(split.body, "5");
}

#[tokio::test]
async fn chunks_in_separate_cookie_fields_are_assembled() {
    let codec = Arc::new(
        Codec::builder("sid")
            .key_ring(ring(1))
            .compression(sealed_session::Compression::Off)
            .max_cookie_size(200)
            .max_chunks(8)
            .build()
            .unwrap(),
    );
    let long = Counter {
        count: 9,
        note: "x".repeat(300),
    };
    let pairs = sealed_pairs(&codec, &long);
    assert!(pairs.len() > 1, "chunked");
    let addr = serve_layer(SealedSessionLayer::new(Arc::clone(&codec))).await;
    let lines: Vec<Vec<u8>> = pairs.iter().rev().map(|p| cookie_line(p)).collect();
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let reply = request(addr, "GET", "/read", &lines).await;
    assert_eq!(reply.body, "9");
}

#[tokio::test]
async fn caching_headers() {
    let addr = serve_layer(SealedSessionLayer::new(codec(ring(1)))).await;
    let reply = request(addr, "GET", "/cached", &[]).await;
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(
        reply.all("cache-control"),
        ["private, max-age=60"],
        "the handler's Cache-Control is kept"
    );
    assert_eq!(reply.all("vary"), ["Cookie"]);
}

#[tokio::test]
async fn a_server_error_writes_nothing_but_a_purge() {
    let codec = Arc::new(codec(ring(1)));
    let cookie = cookie_line(&sealed(&codec, &counter(1)));
    let addr = serve_layer(SealedSessionLayer::new(Arc::clone(&codec))).await;

    let failed = request(addr, "POST", "/fail", &[&cookie]).await;
    assert_eq!(failed.status, 500);
    assert!(failed.set_cookies().is_empty(), "{:?}", failed.headers);
    assert!(failed.all("cache-control").is_empty());

    let purged = request(addr, "POST", "/fail-purge", &[&cookie]).await;
    assert_eq!(purged.status, 503);
    let removal = purged.set_cookies();
    assert_eq!(removal.len(), 1);
    assert!(removal[0].contains("Max-Age=0"));
}

#[tokio::test]
async fn an_oversized_session_gives_the_configured_answer() {
    let default = serve_layer(SealedSessionLayer::new(codec(ring(1)))).await;
    let reply = request(default, "POST", "/big", &[]).await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookies().is_empty());

    let layer = SealedSessionLayer::new(codec(ring(1))).on_unsealable(|_, err| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "too large: {}",
                matches!(err, sealed_session::Error::TooLarge { .. })
            ),
        )
            .into_response()
    });
    let configured = serve_layer(layer).await;
    let reply = request(configured, "POST", "/big", &[]).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body, "too large: true");
    assert!(reply.set_cookies().is_empty());
}

#[tokio::test]
async fn a_missing_layer_is_a_500_naming_it() {
    let addr = serve(routes()).await;
    let reply = request(addr, "GET", "/read", &[]).await;
    assert_eq!(reply.status, 500);
    assert!(reply.body.contains("SealedSessionLayer"), "{}", reply.body);
    assert!(reply.body.contains("Counter"), "{}", reply.body);

    // A layer for another session type does not count.
    let addr = serve(
        routes().layer(SealedSessionLayer::<sealed_session::DynamicSession>::new(
            codec(ring(1)),
        )),
    )
    .await;
    assert_eq!(request(addr, "GET", "/read", &[]).await.status, 500);
}

#[tokio::test]
async fn bad_cookies_are_no_session() {
    let codec = Arc::new(codec(ring(1)));
    let valid = sealed(&codec, &counter(4));
    let foreign = sealed(&self::codec(ring(9)), &counter(4));
    let addr = serve_layer(SealedSessionLayer::new(Arc::clone(&codec))).await;

    let mut forged = valid.clone().into_bytes();
    let middle = forged.len() - 20;
    forged[middle] = if forged[middle] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let truncated = valid[..valid.len() - 12].to_owned();
    let thousand = (0..1000)
        .map(|i| format!("c{i}=v{i}"))
        .collect::<Vec<_>>()
        .join("; ");
    let duplicates = (0..50).map(|_| "sid=junk").collect::<Vec<_>>().join("; ");
    let binary = b"Cookie: sid=\xff\xfe\x80; x=\xc3y".to_vec();
    for header in [
        cookie_line(&forged),
        cookie_line(&truncated),
        cookie_line(&foreign),
        cookie_line(&thousand),
        cookie_line(&duplicates),
        binary,
    ] {
        let reply = request(addr, "POST", "/inc", &[&header]).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&header));
        assert_eq!(reply.body, "1", "no session: a new one starts");
    }
    // Duplicates of junk before the real one still find it.
    let header = cookie_line(&format!("sid=junk; sid=more-junk; {valid}"));
    let reply = request(addr, "GET", "/read", &[&header]).await;
    assert_eq!(reply.body, "4");
}
