//! Framework-free: a sealed session with the `http` crate's request and
//! response types, the common ground of hyper, axum, tower and friends.
//! The same few lines fit any framework: open the session from the bytes of
//! the Cookie header fields, and append one Set-Cookie header per value only
//! when something changed or the codec asks for a re-seal.
//!
//! ```text
//! cargo run --example http_types
//! ```

use http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use sealed_session::{Codec, KeyRing, Opened, SetCookies};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Visits {
    count: u32,
}

/// The session of a request, or `None` when there is none or it is invalid
/// (the codec logs the reason at debug level).
fn read_session<T: serde::de::DeserializeOwned>(
    codec: &Codec,
    headers: &HeaderMap,
) -> Option<Opened<T>> {
    // Every Cookie field (HTTP/2 may send several), as bytes: nothing is
    // joined or copied, and a non-ASCII cookie of another application is
    // skipped rather than losing the whole header.
    codec.session_fields(headers.get_all(COOKIE))
}

/// Appends one Set-Cookie header per value (never join them with commas).
fn write_cookies(headers: &mut HeaderMap, cookies: SetCookies) -> Result<(), http::Error> {
    for cookie in cookies {
        headers.append(SET_COOKIE, HeaderValue::try_from(cookie)?);
    }
    Ok(())
}

/// Counts visits; `POST /reset` ends the session.
fn handle(codec: &Codec, request: &Request<()>) -> Result<Response<String>, http::Error> {
    let opened = read_session::<Visits>(codec, request.headers());
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .body(String::new())?;
    if request.uri().path() == "/reset" {
        // Same Domain and Path as the session cookie, or it would stay.
        write_cookies(response.headers_mut(), codec.removal())?;
        *response.body_mut() = "session ended\n".to_owned();
        return Ok(response);
    }
    let mut visits = opened
        .as_ref()
        .map(|o| o.session.clone())
        .unwrap_or_default();
    let changed = request.method() == http::Method::POST;
    if changed {
        visits.count += 1;
    }
    let reseal = opened.as_ref().is_some_and(|o| o.needs_reseal());
    if changed || reseal {
        match codec.encode(&visits) {
            Ok(cookies) => write_cookies(response.headers_mut(), cookies)?,
            Err(err) => {
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                *response.body_mut() = format!("session not saved: {err}\n");
                return Ok(response);
            }
        }
    }
    *response.body_mut() = format!("visits: {}\n", visits.count);
    Ok(response)
}

/// What a browser would send back: `name=value` of each Set-Cookie.
fn cookie_header(response: &Response<String>) -> Option<HeaderValue> {
    let pairs: Vec<&str> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect();
    (!pairs.is_empty()).then(|| HeaderValue::try_from(pairs.join("; ")).ok())?
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // An ephemeral key: enough for a program that lives a second. A server
    // loads its keys instead, e.g. KeyRing::from_env("SEALED_SESSION_KEYS").
    let codec = Codec::builder("__Secure-visits")
        .key_ring(KeyRing::ephemeral_for_development())
        .domain("example.com")
        .build()?;

    let first = handle(&codec, &Request::post("https://www.example.com/").body(())?)?;
    print!("POST /        -> {}", first.body());
    for value in first.headers().get_all(SET_COOKIE) {
        println!(
            "  Set-Cookie: {}...",
            &value.to_str()?[..60.min(value.len())]
        );
    }
    let cookie = cookie_header(&first).ok_or("no cookie was set")?;

    // Another subdomain, same cookie: the session is there, and reading it
    // changes nothing, so no Set-Cookie.
    let read = handle(
        &codec,
        &Request::get("https://shop.example.com/")
            .header(COOKIE, cookie.clone())
            .body(())?,
    )?;
    print!("GET  /        -> {}", read.body());
    println!(
        "  Set-Cookie headers: {}",
        read.headers().get_all(SET_COOKIE).iter().count()
    );

    // HTTP/2 style: one Cookie field per cookie, one of them another
    // application's with a Latin-1 byte. The session is still there.
    let split = handle(
        &codec,
        &Request::get("https://www.example.com/")
            .header(COOKIE, HeaderValue::from_bytes(b"pref=caf\xE9")?)
            .header(COOKIE, cookie.clone())
            .body(())?,
    )?;
    print!("GET  / (h2)   -> {}", split.body());

    let tampered = handle(
        &codec,
        &Request::get("https://www.example.com/")
            .header(COOKIE, "__Secure-visits=AAAA")
            .body(())?,
    )?;
    print!("GET  / (bad)  -> {}", tampered.body());

    let reset = handle(
        &codec,
        &Request::post("https://www.example.com/reset")
            .header(COOKIE, cookie)
            .body(())?,
    )?;
    print!("POST /reset   -> {}", reset.body());
    for value in reset.headers().get_all(SET_COOKIE) {
        println!("  Set-Cookie: {}", value.to_str()?);
    }
    Ok(())
}
