//! The actix-web middleware and extractor, driven over real TCP (127.0.0.1,
//! a raw HTTP/1.1 client so that header bytes and repeated fields are
//! exactly what the test writes).

#![cfg(feature = "actix")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use sealed_session::actix::{SealedSession, SealedSessionExt, SealedSessionMiddleware};
use sealed_session::{Codec, DomainRule, DynamicSession, ResealPolicy};

#[path = "common/raw_http.rs"]
mod raw_http;
use raw_http::{cookie_line, parse_reply, request_bytes, Reply};

#[path = "common/counter_session.rs"]
mod counter_session;
use counter_session::{codec, counter, ring, rotated, sealed, sealed_pairs, Counter};

async fn read(session: SealedSession<Counter>) -> String {
    session.read(|s| s.map_or("none".to_owned(), |s| s.count.to_string()))
}

async fn read_by_request(request: HttpRequest) -> actix_web::Result<String> {
    let session = request.sealed_session::<Counter>()?;
    Ok(session.read(|s| s.map_or("none".to_owned(), |s| s.count.to_string())))
}

async fn increment(session: SealedSession<Counter>) -> String {
    session
        .update(|s| {
            s.count += 1;
            s.count
        })
        .to_string()
}

async fn increment_elsewhere(session: SealedSession<Counter>) -> actix_web::Result<String> {
    // The handle is Send: it crosses to the blocking pool and back.
    let count = web::block(move || {
        session.update(|s| {
            s.count += 1;
            s.count
        })
    })
    .await?;
    Ok(count.to_string())
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

async fn cached(session: SealedSession<Counter>) -> HttpResponse {
    session.update(|s| s.count += 1);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
        .body("cached")
}

async fn fail(session: SealedSession<Counter>) -> HttpResponse {
    session.update(|s| s.count += 100);
    HttpResponse::InternalServerError().body("failed")
}

async fn fail_with_error(session: SealedSession<Counter>) -> actix_web::Result<String> {
    session.update(|s| s.count += 100);
    Err(actix_web::error::ErrorBadGateway("upstream failed"))
}

async fn fail_after_purge(session: SealedSession<Counter>) -> HttpResponse {
    session.purge();
    HttpResponse::ServiceUnavailable().finish()
}

async fn big(session: SealedSession<Counter>) -> &'static str {
    // Incompressible: hex of a xorshift sequence, far above the cookie budget.
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

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/read", web::get().to(read))
        .route("/read-by-request", web::get().to(read_by_request))
        .route("/untouched", web::get().to(|| async { "untouched" }))
        .route("/inc", web::post().to(increment))
        .route("/inc-elsewhere", web::post().to(increment_elsewhere))
        .route("/same", web::post().to(same))
        .route("/purge", web::post().to(purge))
        .route("/cached", web::get().to(cached))
        .route("/fail", web::post().to(fail))
        .route("/fail-error", web::post().to(fail_with_error))
        .route("/fail-purge", web::post().to(fail_after_purge))
        .route("/big", web::post().to(big));
}

/// Serves the app made by `$factory` on a fresh port, in the background
/// for the rest of the test process. The listener is bound before this
/// returns, so requests queue until the server accepts them.
macro_rules! serve {
    ($factory:expr) => {{
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let factory = $factory;
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(factory)
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .unwrap()
                    .run()
                    .await
                    .unwrap()
            })
        });
        addr
    }};
}

fn serve_middleware(middleware: SealedSessionMiddleware<Counter>) -> SocketAddr {
    serve!(move || App::new().wrap(middleware.clone()).configure(routes))
}

/// Sends one request; `headers` are raw header lines (bytes, so a test can
/// send non-ASCII or repeated fields).
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&[u8]]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(&request_bytes(method, path, headers, ""))
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(raw)
}

#[test]
fn reads_write_nothing_and_a_change_writes_one_cookie() {
    let addr = serve_middleware(SealedSessionMiddleware::new(codec(ring(1))));

    let untouched = request(addr, "GET", "/untouched", &[]);
    assert_eq!(untouched.status, 200);
    assert!(untouched.set_cookies().is_empty());
    assert!(untouched.all("vary").is_empty(), "the session was not read");

    let empty = request(addr, "GET", "/read", &[]);
    assert_eq!(empty.body, "none");
    assert!(empty.set_cookies().is_empty());
    assert_eq!(empty.all("vary"), ["Cookie"]);

    let first = request(addr, "POST", "/inc", &[]);
    assert_eq!((first.status, first.body.as_str()), (200, "1"));
    assert_eq!(first.set_cookies().len(), 1, "{:?}", first.headers);
    assert_eq!(first.all("cache-control"), ["private, no-store"]);
    assert_eq!(first.all("vary"), ["Cookie"]);

    let cookie = cookie_line(&first.cookie());
    for path in ["/read", "/read-by-request"] {
        let read_back = request(addr, "GET", path, &[&cookie]);
        assert_eq!(read_back.body, "1", "{path}");
        assert!(read_back.set_cookies().is_empty(), "a read writes nothing");
        assert!(read_back.all("cache-control").is_empty());
        assert_eq!(read_back.all("vary"), ["Cookie"]);
    }

    let unchanged = request(addr, "POST", "/same", &[&cookie]);
    assert_eq!(unchanged.status, 200);
    assert!(unchanged.set_cookies().is_empty(), "an unchanged update");

    let second = request(addr, "POST", "/inc", &[&cookie]);
    assert_eq!(second.body, "2");
    assert_eq!(second.set_cookies().len(), 1);

    let third = request(
        addr,
        "POST",
        "/inc-elsewhere",
        &[&cookie_line(&second.cookie())],
    );
    assert_eq!(third.body, "3", "a change made on another thread");
    assert_eq!(third.set_cookies().len(), 1);
}

#[test]
fn a_value_under_an_older_key_is_resealed() {
    let old = codec(ring(1));
    let cookie = cookie_line(&sealed(&old, &counter(7)));
    let new = Arc::new(codec(rotated()));
    let addr = serve_middleware(SealedSessionMiddleware::new(Arc::clone(&new)));

    let reply = request(addr, "GET", "/read", &[&cookie]);
    assert_eq!(reply.body, "7");
    assert_eq!(reply.set_cookies().len(), 1, "a re-seal");
    let reopened = new.decode::<Counter>(&reply.cookie()).unwrap();
    assert_eq!(reopened.key_id, new.key_ring().primary_id());
    assert_eq!(reopened.session, counter(7));
    assert!(reopened.reseal.is_none());

    // Re-sealed under the primary: the next read writes nothing.
    let again = request(addr, "GET", "/read", &[&cookie_line(&reply.cookie())]);
    assert!(again.set_cookies().is_empty());
}

#[test]
fn navigations_only_reseals_on_navigations() {
    let cookie = cookie_line(&sealed(&codec(ring(1)), &counter(3)));
    let middleware =
        SealedSessionMiddleware::new(codec(rotated())).reseal_policy(ResealPolicy::NavigationsOnly);
    let addr = serve_middleware(middleware);

    let background = request(addr, "GET", "/read", &[&cookie, b"Sec-Fetch-Mode: cors"]);
    assert_eq!(background.body, "3");
    assert!(background.set_cookies().is_empty());

    let navigation = request(
        addr,
        "GET",
        "/read",
        &[&cookie, b"Sec-Fetch-Mode: navigate"],
    );
    assert_eq!(navigation.body, "3");
    assert_eq!(navigation.set_cookies().len(), 1);
}

#[test]
fn purge_removes_the_cookie_and_its_chunks_with_domain_and_path() {
    let codec = Codec::builder("sid")
        .key_ring(ring(1))
        .domain("shop.test")
        .path("/")
        .max_chunks(3)
        .build()
        .unwrap();
    let addr = serve_middleware(SealedSessionMiddleware::new(codec));
    // Purging needs no readable cookie.
    let reply = request(addr, "POST", "/purge", &[b"Cookie: sid=unreadable"]);
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

#[test]
fn the_domain_follows_the_host_under_a_domain_rule() {
    let codec = Codec::builder("sid")
        .key_ring(ring(1))
        .domain_rule(DomainRule::RegistrableDomain)
        .build()
        .unwrap();
    let addr = serve_middleware(SealedSessionMiddleware::new(codec));
    let reply = request(
        addr,
        "POST",
        "/inc",
        &[
            b"Host: cart.shop.example.com:8080",
            // Any client can send this: it must not choose the Domain.
            b"X-Forwarded-Host: evil.example.net",
        ],
    );
    assert_eq!(reply.status, 200);
    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].contains("Domain=example.com"), "{}", cookies[0]);

    let purge = request(addr, "POST", "/purge", &[b"Host: www.example.org"]);
    let removals = purge.set_cookies();
    assert!(!removals.is_empty());
    assert!(removals[0].contains("Domain=example.org"), "{removals:?}");
}

#[test]
fn foreign_and_split_cookie_headers_keep_the_session() {
    let codec = Arc::new(codec(ring(1)));
    let pair = sealed(&codec, &counter(5));
    let addr = serve_middleware(SealedSessionMiddleware::new(Arc::clone(&codec)));

    let latin1 = [b"Cookie: pref=caf\xe9; ".as_slice(), pair.as_bytes()].concat();
    let utf8 = [b"Cookie: pref=caf\xc3\xa9; ".as_slice(), pair.as_bytes()].concat();
    for line in [latin1, utf8] {
        let reply = request(addr, "GET", "/read", &[&line]);
        assert_eq!(reply.body, "5", "{}", String::from_utf8_lossy(&line));
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
    );
    assert_eq!(split.body, "5");
}

#[test]
fn chunks_in_separate_cookie_fields_are_assembled() {
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
    let addr = serve_middleware(SealedSessionMiddleware::new(Arc::clone(&codec)));
    let lines: Vec<Vec<u8>> = pairs.iter().rev().map(|p| cookie_line(p)).collect();
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let reply = request(addr, "GET", "/read", &lines);
    assert_eq!(reply.body, "9");
}

#[test]
fn caching_headers() {
    let addr = serve_middleware(SealedSessionMiddleware::new(codec(ring(1))));
    let reply = request(addr, "GET", "/cached", &[]);
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(
        reply.all("cache-control"),
        ["private, max-age=60"],
        "the handler's Cache-Control is kept"
    );
    assert_eq!(reply.all("vary"), ["Cookie"]);
}

#[test]
fn a_server_error_writes_nothing_but_a_purge() {
    let codec = Arc::new(codec(ring(1)));
    let cookie = cookie_line(&sealed(&codec, &counter(1)));
    let addr = serve_middleware(SealedSessionMiddleware::new(Arc::clone(&codec)));

    for (path, status) in [("/fail", 500), ("/fail-error", 502)] {
        let failed = request(addr, "POST", path, &[&cookie]);
        assert_eq!(failed.status, status);
        assert!(failed.set_cookies().is_empty(), "{:?}", failed.headers);
        assert!(failed.all("cache-control").is_empty());
        assert_eq!(failed.all("vary"), ["Cookie"]);
    }

    let purged = request(addr, "POST", "/fail-purge", &[&cookie]);
    assert_eq!(purged.status, 503);
    let removal = purged.set_cookies();
    assert_eq!(removal.len(), 1);
    assert!(removal[0].contains("Max-Age=0"));
}

#[test]
fn an_oversized_session_gives_the_configured_answer() {
    let default = serve_middleware(SealedSessionMiddleware::new(codec(ring(1))));
    let reply = request(default, "POST", "/big", &[]);
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "the session could not be saved\n");
    assert!(reply.set_cookies().is_empty());

    let middleware = SealedSessionMiddleware::new(codec(ring(1))).on_unsealable(|response, err| {
        HttpResponse::PayloadTooLarge().body(format!(
            "too large: {}, handler said {}",
            matches!(err, sealed_session::Error::TooLarge { .. }),
            response.status().as_u16(),
        ))
    });
    let configured = serve_middleware(middleware);
    let reply = request(configured, "POST", "/big", &[]);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body, "too large: true, handler said 200");
    assert!(reply.set_cookies().is_empty());
    assert!(reply.all("cache-control").is_empty());
    assert_eq!(reply.all("vary"), ["Cookie"]);
}

#[test]
fn a_missing_middleware_is_a_500_naming_it() {
    let addr = serve!(|| App::new().configure(routes));
    for path in ["/read", "/read-by-request"] {
        let reply = request(addr, "GET", path, &[]);
        assert_eq!(reply.status, 500);
        assert!(
            reply.body.contains("SealedSessionMiddleware"),
            "{}",
            reply.body
        );
        assert!(reply.body.contains("Counter"), "{}", reply.body);
    }

    // A middleware for another session type does not count.
    let other = SealedSessionMiddleware::<DynamicSession>::new(codec(ring(1)));
    let addr = serve!(move || App::new().wrap(other.clone()).configure(routes));
    assert_eq!(request(addr, "GET", "/read", &[]).status, 500);
}

#[test]
fn bad_cookies_are_no_session() {
    let codec = Arc::new(codec(ring(1)));
    let valid = sealed(&codec, &counter(4));
    let foreign = sealed(&self::codec(ring(9)), &counter(4));
    let addr = serve_middleware(SealedSessionMiddleware::new(Arc::clone(&codec)));

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
    let many_fields: Vec<Vec<u8>> = (0..60).map(|i| cookie_line(&format!("sid=j{i}"))).collect();
    let mut cases: Vec<Vec<Vec<u8>>> = [
        cookie_line(&forged),
        cookie_line(&truncated),
        cookie_line(&foreign),
        cookie_line(&thousand),
        cookie_line(&duplicates),
        binary,
    ]
    .into_iter()
    .map(|line| vec![line])
    .collect();
    cases.push(many_fields);
    for lines in cases {
        let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let reply = request(addr, "POST", "/inc", &lines);
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(lines[0]));
        assert_eq!(reply.body, "1", "no session: a new one starts");
        assert_eq!(reply.set_cookies().len(), 1);
    }
    // Duplicates of junk before the real one still find it.
    let header = cookie_line(&format!("sid=junk; sid=more-junk; {valid}"));
    let reply = request(addr, "GET", "/read", &[&header]);
    assert_eq!(reply.body, "4");
}
