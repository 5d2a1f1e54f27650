//! Device-bound sessions (DBSC) in a real browser: headless Chromium, driven
//! through chromedriver's WebDriver JSON API, signs in on the demo shop
//! served over HTTPS (a certificate made here with rcgen for `shop.test` and
//! `*.shop.test`, pinned in Chromium by the SHA-256 of its public key), with
//! Redis for revocations and a 15-second bound lifetime. Chromium must
//! register a device key at sign-in and keep the session alive by proving
//! possession of it, for several bound lifetimes, with every request served;
//! the same cookies copied into a plain HTTPS client (which has no device
//! key) must stop working once the bound cookie expires, and cannot be
//! refreshed; revoking the session must end it in the browser at its next
//! refresh.
//!
//! Chromium's DevTools events (`Network.enableDeviceBoundSessions`, read
//! from chromedriver's performance log) tell which refreshes happened and
//! why one failed; a failure message carries them, the Chromium version and
//! the end of the shop's log.
//!
//! Chromium refreshes proactively once less than two minutes of the bound
//! cookie remain, so with 15 s it refreshes beside almost every request; an
//! idle gap longer than the lifetime makes it hold a request until a refresh
//! after expiry.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`, version 145 or later) and
//! `/usr/bin/redis-server`; fails, never skips, when they are missing or
//! Chromium does not bind the session. Run with
//! `cargo test --all-features --test e2e_dbsc -- --ignored --test-threads=1`.
#![cfg(feature = "cli")]

#[path = "common/dbsc_device.rs"]
mod dbsc_device;
#[path = "e2e/support.rs"]
mod support;
#[path = "e2e/webdriver.rs"]
mod webdriver;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dbsc_device::Device;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{
    free_port, request, shop_binary, start_redis, start_shop, tail, ChildGuard, HttpsClient,
    Response,
};
use webdriver::{require, Browser, Launch, CHROMEDRIVER, CHROMIUM};

/// The shop's `--bound-lifetime`.
const BOUND_LIFETIME: Duration = Duration::from_secs(15);
/// DBSC without an origin-trial token or refresh quota, registrations from
/// subdomains without a `.well-known` file, and software keys instead of a
/// TPM (headless Linux has none).
const FEATURES: &str = "DeviceBoundSessions:RequireOriginTrialTokens/false/RefreshQuota/false/\
                        CheckSubdomainRegistration/false,\
                        EnableBoundSessionCredentialsSoftwareKeysForManualTesting";

/// Everything this test needs, for `apt-get install`.
const INSTALL: &str = "chromium chromium-driver redis-server";

/// A self-signed certificate for `shop.test` and `*.shop.test`, written as
/// PEM files for the shop.
struct Certificate {
    cert_pem: PathBuf,
    key_pem: PathBuf,
    der: Vec<u8>,
    /// base64 of the SHA-256 of the SubjectPublicKeyInfo, as
    /// `--ignore-certificate-errors-spki-list` takes it.
    spki_pin: String,
}

fn make_certificate(dir: &Path) -> Certificate {
    let names = vec!["shop.test".to_owned(), "*.shop.test".to_owned()];
    let mut params = rcgen::CertificateParams::new(names).expect("certificate names");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "shop.test");
    let key = rcgen::KeyPair::generate().expect("key pair");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    let cert_pem = dir.join("cert.pem");
    let key_pem = dir.join("key.pem");
    std::fs::write(&cert_pem, cert.pem()).expect("write cert.pem");
    std::fs::write(&key_pem, key.serialize_pem()).expect("write key.pem");
    Certificate {
        cert_pem,
        key_pem,
        der: cert.der().to_vec(),
        spki_pin: STANDARD.encode(Sha256::digest(key.public_key_der())),
    }
}

/// The shop over HTTPS on a free port of 127.0.0.1, and a client that
/// trusts its certificate only.
struct Shop {
    addr: SocketAddr,
    log: PathBuf,
    client: HttpsClient,
    _process: ChildGuard,
}

impl Shop {
    fn start(dir: &Path, cert: &Certificate, extra: &[&str]) -> Shop {
        let port = free_port();
        let keys = sealed_session::Key::from_bytes([0x5e; 32]).to_base64url();
        let log = dir.join("shop.log");
        let mut args = vec![
            "--tls-cert",
            cert.cert_pem.to_str().expect("UTF-8 path"),
            "--tls-key",
            cert.key_pem.to_str().expect("UTF-8 path"),
        ];
        args.extend_from_slice(extra);
        let process = start_shop(&shop_binary(), "shop", port, &keys, &args, &log);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Shop {
            addr,
            log,
            client: HttpsClient::new(addr, &cert.der),
            _process: process,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// One HTTPS request to `host` (the port is added).
    fn request(
        &self,
        method: &str,
        host: &str,
        path: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        let host = format!("{host}:{}", self.port());
        self.client
            .request(method, &host, path, cookie, headers, form)
            .unwrap_or_else(|err| panic!("HTTPS {method} https://{host}{path}: {err}"))
    }

    fn state(&self, host: &str, cookie: Option<&str>) -> Value {
        let response = self.request("GET", host, "/api/state", cookie, &[], None);
        assert_eq!(response.status, 200, "/api/state: {response:?}");
        response.json()
    }

    fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}

/// Chromium with DBSC on, and the DBSC events seen so far.
struct DbscBrowser {
    browser: Browser,
    /// `Network.deviceBoundSession*` events, oldest first.
    events: RefCell<Vec<Value>>,
}

impl Deref for DbscBrowser {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl DbscBrowser {
    /// Chromium that trusts the certificate pinned by `spki_pin`, with DBSC
    /// enabled and the network events in chromedriver's performance log.
    fn start(dir: &Path, spki_pin: &str) -> DbscBrowser {
        let mut launch = Launch {
            args: vec![
                format!("--ignore-certificate-errors-spki-list={spki_pin}"),
                format!("--enable-features={FEATURES}"),
            ],
            ..Launch::default()
        };
        launch
            .capabilities
            .insert("goog:loggingPrefs".into(), json!({ "performance": "ALL" }));
        launch.chrome_options.insert(
            "perfLoggingPrefs".into(),
            json!({ "enableNetwork": true, "enablePage": false }),
        );
        let browser = DbscBrowser {
            browser: Browser::start(dir, launch),
            events: RefCell::new(Vec::new()),
        };
        browser.cdp("Network.enable", json!({}));
        browser.cdp(
            "Network.enableDeviceBoundSessions",
            json!({ "enable": true }),
        );
        browser
    }

    /// `GET /api/state` from the current page (same origin, its cookies),
    /// as the page's script would: the status and the parsed body.
    ///
    /// Chromium ends a script whose page goes away (a navigation) and
    /// chromedriver answers "script timeout" at once; the request is then
    /// made again from the page that replaced it, for up to 10 s. Any other
    /// failure, or a real timeout, fails the test with the DBSC events and
    /// the shop's log.
    fn state(&self, shop: &Shop) -> (u16, Value) {
        let started = Instant::now();
        loop {
            let answer = self.try_call(
                "POST",
                "/execute/async",
                Some(json!({ "args": [], "script":
                    "const done = arguments[arguments.length - 1];\
                     fetch('/api/state', { credentials: 'same-origin', cache: 'no-store' })\
                       .then(r => r.text().then(t => done([r.status, t])))\
                       .catch(e => done([0, String(e)]));" })),
            );
            match answer {
                Ok(answer) => {
                    let status = answer[0].as_u64().unwrap_or(0) as u16;
                    let body = answer[1].as_str().unwrap_or_default();
                    let state =
                        serde_json::from_str(body).unwrap_or_else(|_| json!({ "unparsed": body }));
                    return (status, state);
                }
                Err(err)
                    if err.contains("script timeout")
                        && started.elapsed() < Duration::from_secs(10) =>
                {
                    eprintln!(
                        "/api/state from the page: the page went away after {:.1} s, asking again",
                        started.elapsed().as_secs_f64()
                    );
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(err) => panic!("/api/state from the page: {err}{}", self.context(shop)),
            }
        }
    }

    /// Every cookie the browser holds for these URLs, HttpOnly ones and
    /// those on other paths included (CDP `Network.getCookies`).
    fn cookies_for(&self, urls: &[String]) -> Vec<Value> {
        let answer = self.cdp("Network.getCookies", json!({ "urls": urls }));
        answer["cookies"].as_array().cloned().unwrap_or_default()
    }

    /// Moves the DBSC events chromedriver logged since the last call into
    /// `events`, and returns all of them.
    fn dbsc_events(&self) -> Vec<Value> {
        let entries = self.call("POST", "/se/log", Some(json!({ "type": "performance" })));
        let mut events = self.events.borrow_mut();
        for entry in entries.as_array().into_iter().flatten() {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            let method = message["message"]["method"].as_str().unwrap_or_default();
            if method.starts_with("Network.deviceBoundSession") {
                events.push(message["message"].clone());
            }
        }
        events.clone()
    }

    /// The DBSC events of kind `details` (`creationEventDetails`,
    /// `refreshEventDetails`, `challengeEventDetails`,
    /// `terminationEventDetails`), their `params`.
    fn events_with(&self, details: &str) -> Vec<Value> {
        self.dbsc_events()
            .into_iter()
            .filter(|e| e["method"] == "Network.deviceBoundSessionEventOccurred")
            .map(|e| e["params"].clone())
            .filter(|p| p.get(details).is_some())
            .collect()
    }

    /// What a failure message needs: the Chromium version and the DBSC
    /// events (without the session objects they repeat).
    fn context(&self, shop: &Shop) -> String {
        let events: Vec<String> = self
            .dbsc_events()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                for details in ["creationEventDetails", "refreshEventDetails"] {
                    if let Some(d) = e["params"].get_mut(details) {
                        if let Some(d) = d.as_object_mut() {
                            d.remove("newSession");
                        }
                    }
                }
                e.to_string()
            })
            .collect();
        format!(
            "\nChromium: {}\nDBSC events:\n  {}\nshop log (last lines):\n{}",
            self.version(),
            events.join("\n  "),
            shop.log_tail()
        )
    }
}

/// The `Cookie` header that sends `cookies` (CDP cookie objects).
fn cookie_header(cookies: &[Value]) -> String {
    cookies
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap_or(""),
                c["value"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The challenge of a `Secure-Session-Challenge: "<challenge>";id="<id>"`
/// header.
fn challenge_of(response: &Response) -> Option<String> {
    let header = response.header("secure-session-challenge")?;
    let rest = header.trim().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Whether `response` sets a bound cookie (a non-empty one that does not
/// expire it).
fn sets_bound_cookie(response: &Response) -> bool {
    response.set_cookies().iter().any(|line| {
        let (name, rest) = line.split_once('=').unwrap_or((line, ""));
        let value = rest.split(';').next().unwrap_or("").trim();
        name.trim().ends_with("bound")
            && !value.is_empty()
            && !line.to_ascii_lowercase().contains("max-age=0")
    })
}

/// The copied cookies, in a client without the device key, once the bound
/// lifetime has passed: no session, a refresh only yields a challenge, and
/// a proof signed by any other key is refused.
fn assert_copy_is_dead(shop: &Shop, copied: &str, session_id: &str, dbsc_id: &str, why: &str) {
    let state = shop.state("shop.test", Some(copied));
    assert!(
        state["user"].is_null() && state["session_id"].as_str() != Some(session_id),
        "{why}: the copied cookies still open the session after the bound lifetime: {state}"
    );
    let refresh = |headers: &[(&str, &str)]| {
        shop.request(
            "POST",
            "account.shop.test",
            "/dbsc/refresh",
            Some(copied),
            headers,
            None,
        )
    };
    let asked = refresh(&[("Sec-Secure-Session-Id", dbsc_id)]);
    assert_eq!(
        asked.status, 403,
        "{why}: a refresh without proof must get a challenge: {asked:?}"
    );
    assert!(!sets_bound_cookie(&asked), "{why}: {asked:?}");
    let thief = Device(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng));
    for with_jwk in [false, true] {
        let challenge = challenge_of(&refresh(&[("Sec-Secure-Session-Id", dbsc_id)]))
            .unwrap_or_else(|| panic!("{why}: no Secure-Session-Challenge on the 403"));
        // with_jwk: the key in the header, as in a registration proof.
        let forged = if with_jwk {
            thief.registration_proof(&challenge)
        } else {
            thief.refresh_proof(&challenge)
        };
        let answer = refresh(&[
            ("Sec-Secure-Session-Id", dbsc_id),
            ("Secure-Session-Response", &forged),
        ]);
        assert!(
            (400..500).contains(&answer.status) && !sets_bound_cookie(&answer),
            "{why}: a proof signed by another key (jwk in the header: {with_jwk}) must be \
             refused: {answer:?}"
        );
    }
    let state = shop.state("account.shop.test", Some(copied));
    assert!(
        state["user"].is_null(),
        "{why}: after the refused refreshes the copy opens a session: {state}"
    );
}

#[test]
#[ignore = "needs chromium, chromedriver and redis-server; run by .ci/run with --ignored"]
fn chromium_keeps_a_device_bound_session_that_a_copied_cookie_cannot() {
    require(CHROMIUM, "chromium", INSTALL);
    require(CHROMEDRIVER, "chromium-driver", INSTALL);
    require(support::REDIS, "redis-server", INSTALL);
    let started = Instant::now();
    let dir = support::temp_dir("sealed-session-dbsc");
    let cert = make_certificate(&dir);
    let redis_port = free_port();
    let _redis = start_redis(redis_port, None);
    let redis_url = format!("redis://127.0.0.1:{redis_port}/");
    let lifetime = BOUND_LIFETIME.as_secs().to_string();
    let shop = Shop::start(
        &dir,
        &cert,
        &["--redis", &redis_url, "--bound-lifetime", &lifetime],
    );
    let browser = DbscBrowser::start(&dir, &cert.spki_pin);
    let url = |host: &str| format!("https://{host}:{}/", shop.port());

    // Sign in with the form on account.shop.test: the answer (303 back to
    // the page) asks Chromium to bind the new session.
    browser.open(&url("account.shop.test"));
    browser.type_into("#username", "alice");
    browser.submit("#sign-in");
    let bound_by = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let (status, state) = browser.state(&shop);
        if status == 200 && state["bound"] == true {
            break state;
        }
        assert!(
            Instant::now() < bound_by,
            "Chromium did not bind the session within 20 s of sign-in (is DBSC supported \
             and enabled?); last /api/state: {status} {state}{}",
            browser.context(&shop)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(state["user"], "alice", "{state}");
    let session_id = state["session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("bound session without an id: {state}"))
        .to_owned();
    let created = browser.events_with("creationEventDetails");
    let registered = created
        .iter()
        .find(|e| e["succeeded"] == true)
        .unwrap_or_else(|| panic!("no successful registration event{}", browser.context(&shop)));
    let dbsc_id = registered["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_owned();
    let registration_origin = registered["creationEventDetails"]["newSession"]["inclusionRules"]
        ["origin"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        registered["creationEventDetails"]["newSession"]["inclusionRules"]["includeSite"], true,
        "the shop's cookie has Domain=shop.test, so the binding must cover the site: {registered}"
    );

    // Copy every cookie the browser holds for the shop, as a thief with
    // access to the cookie store would (HttpOnly and Path=/dbsc ones too).
    let refresh_url = format!("{registration_origin}/dbsc/refresh");
    let copied = browser.cookies_for(&[url("account.shop.test"), refresh_url]);
    let names: Vec<&str> = copied.iter().filter_map(|c| c["name"].as_str()).collect();
    for part in ["shop_session", "bound", "refresh"] {
        assert!(
            names.iter().any(|n| n.contains(part)),
            "no cookie with {part:?} in its name among {names:?}"
        );
    }
    let copied_at = Instant::now();
    let copied = cookie_header(&copied);
    // A complete copy: while the bound cookie in it is fresh, it opens the
    // session anywhere.
    let stolen = shop.state("cart.shop.test", Some(&copied));
    assert_eq!(
        stolen["session_id"].as_str(),
        Some(session_id.as_str()),
        "the fresh copy should open the session: {stolen}"
    );

    // The browser keeps the session for four bound lifetimes, moving between
    // the three sites; each request is served with the same session.
    let mut served = 0;
    let mut copy_checked = false;
    let hosts = ["shop.test", "cart.shop.test", "account.shop.test"];
    while copied_at.elapsed() < 3 * BOUND_LIFETIME {
        let host = hosts[served % hosts.len()];
        browser.open(&url(host));
        let (status, state) = browser.state(&shop);
        assert!(
            status == 200
                && state["user"] == "alice"
                && state["bound"] == true
                && state["session_id"].as_str() == Some(session_id.as_str()),
            "request {served} on {host}, {:?} after the copy: {status} {state}{}",
            copied_at.elapsed(),
            browser.context(&shop)
        );
        served += 1;
        // Keep chromedriver's log buffer short.
        browser.dbsc_events();
        if !copy_checked && copied_at.elapsed() > BOUND_LIFETIME + Duration::from_secs(3) {
            assert_copy_is_dead(
                &shop,
                &copied,
                &session_id,
                &dbsc_id,
                "while the browser is still signed in",
            );
            copy_checked = true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(copy_checked, "the copy was never checked");

    // Idle for longer than the bound lifetime: the next navigation waits
    // for a refresh after expiry, and is served.
    std::thread::sleep(BOUND_LIFETIME + Duration::from_secs(5));
    browser.open(&url("shop.test"));
    let (status, state) = browser.state(&shop);
    assert!(
        status == 200
            && state["user"] == "alice"
            && state["session_id"].as_str() == Some(session_id.as_str()),
        "after an idle gap longer than the bound lifetime: {status} {state}{}",
        browser.context(&shop)
    );
    served += 1;
    let refreshes = browser.events_with("refreshEventDetails");
    let failed: Vec<&Value> = refreshes
        .iter()
        .filter(|e| e["succeeded"] != true)
        .collect();
    assert!(
        failed.is_empty(),
        "refreshes failed: {failed:?}{}",
        browser.context(&shop)
    );
    let kind = |proactive: bool| {
        refreshes
            .iter()
            .filter(|e| e["refreshEventDetails"]["wasFullyProactiveRefresh"] == proactive)
            .count()
    };
    assert!(
        kind(true) > 0 && kind(false) > 0,
        "expected proactive refreshes and one after expiry, saw {} and {}{}",
        kind(true),
        kind(false),
        browser.context(&shop)
    );
    let survived = copied_at.elapsed();
    assert!(survived > 4 * BOUND_LIFETIME, "{survived:?}");

    // Revoke the session through Redis: the browser loses it, and Chromium
    // ends the binding at its next refresh.
    let revoked = Command::new(env!("CARGO_BIN_EXE_sealed-session"))
        .args(["revoke", "--redis", &redis_url, "--session", &session_id])
        .output()
        .expect("run sealed-session revoke");
    assert!(
        revoked.status.success(),
        "sealed-session revoke: {}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let revoked_at = Instant::now();
    let ended_by = revoked_at + BOUND_LIFETIME + Duration::from_secs(10);
    loop {
        browser.open(&url("shop.test"));
        let (status, state) = browser.state(&shop);
        let terminated = browser
            .events_with("terminationEventDetails")
            .iter()
            .any(|e| e["sessionId"] == dbsc_id.as_str());
        if status == 200 && state["user"].is_null() && terminated {
            break;
        }
        assert!(
            Instant::now() < ended_by,
            "{:?} after the revocation the browser still has the session ({status} {state}) \
             or Chromium did not end the binding (terminated: {terminated}){}",
            revoked_at.elapsed(),
            browser.context(&shop)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let state = shop.state("shop.test", Some(&copied));
    assert!(state["user"].is_null(), "{state}");

    let version = browser.version();
    println!(
        "{version}: bound at sign-in, {served} requests served over {survived:?} ({} bound \
         lifetimes), {} proactive refreshes and {} after expiry, the copy refused, the \
         revocation ended the binding within {:?}; {:?} in all",
        survived.as_secs() / BOUND_LIFETIME.as_secs(),
        kind(true),
        kind(false),
        revoked_at.elapsed(),
        started.elapsed()
    );
    drop(browser);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "builds and starts the shop; run by .ci/run with --ignored"]
fn the_shop_serves_https_with_the_given_certificate() {
    let dir = support::temp_dir("sealed-session-tls");
    let cert = make_certificate(&dir);
    let shop = Shop::start(&dir, &cert, &[]);

    let state = shop.state("shop.test", None);
    assert!(state["user"].is_null(), "{state}");
    let signed_in = shop.request(
        "POST",
        "account.shop.test",
        "/api/sign-in",
        None,
        &[],
        Some(&[("username", "bob")]),
    );
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let set_cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Secure-shop_session="))
        .unwrap_or_else(|| panic!("no __Secure-shop_session cookie: {signed_in:?}"));
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value");
    let state = shop.state("cart.shop.test", Some(cookie));
    assert_eq!(state["user"], "bob", "{state}");

    // Plain HTTP on the same port gets no HTTP answer.
    let plain = request(shop.addr, "GET", "shop.test", "/api/state", None, None);
    assert!(
        !matches!(&plain, Ok(response) if response.status == 200),
        "plain HTTP was served on the HTTPS port: {plain:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
