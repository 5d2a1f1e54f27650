//! A real browser on real subdomains: headless Chromium, driven through
//! chromedriver's WebDriver JSON API, with `--host-resolver-rules` sending
//! `shop.test` and `*.shop.test` to the demo shop on 127.0.0.1. Sign-in on
//! `account.shop.test` must be seen on `cart.shop.test` and `shop.test`, the
//! cart too, sign-out on one subdomain must end the session on all of them,
//! and the cookie the browser stored must carry the parent Domain, HttpOnly,
//! SameSite=Lax and Path=/.
//!
//! The shop runs with `--insecure` (no Secure attribute) for this test only,
//! because the browser talks plain HTTP to it and drops Secure cookies there.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`); fails when they are missing. Run with
//! `cargo test --all-features --test e2e_browser -- --ignored --test-threads=1`.

#[path = "e2e/support.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{free_port, request_json, shop_binary, start_shop, wait_for_port, ChildGuard};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const COOKIE: &str = "shop_session";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session over raw HTTP.
struct Browser {
    driver: SocketAddr,
    session: String,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        webdriver(self.driver, method, &path, body)
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// The page's URL and the text of `#user` and `#cart`.
    fn page(&self) -> (String, String, String) {
        let value = self.script(
            "return [location.href, \
             (document.getElementById('user') || {}).innerText || '', \
             (document.getElementById('cart') || {}).innerText || ''];",
        );
        let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
        (text(0), text(1), text(2))
    }

    /// Waits (form submissions navigate) until the page on `host` shows
    /// `user` and `cart` texts containing the expected parts.
    fn expect_page(&self, host: &str, user: &str, cart: &[&str]) {
        let start = Instant::now();
        loop {
            let (url, user_text, cart_text) = self.page();
            let ok = url.contains(&format!("//{host}:"))
                && user_text.contains(user)
                && cart.iter().all(|item| cart_text.contains(item));
            if ok {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "on {host} expected user {user:?} and cart {cart:?}, the browser shows \
                 {url}: user {user_text:?}, cart {cart_text:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn cookies(&self) -> Vec<Value> {
        self.call("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request_json(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

fn webdriver(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let response = request_json(driver, method, path, body.as_ref())
        .unwrap_or_else(|err| panic!("chromedriver {method} {path}: {err}"));
    assert_eq!(
        response.status, 200,
        "chromedriver {method} {path} answered {}: {}",
        response.status, response.body
    );
    response.json()["value"].clone()
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` \
         (apt-get install chromium chromium-driver); this test does not skip"
    );
}

#[test]
#[ignore = "needs chromium and chromedriver; run by .ci/run with --ignored"]
fn session_follows_the_user_across_subdomains_in_chromium() {
    require(CHROMIUM, "chromium");
    require(CHROMEDRIVER, "chromium-driver");
    let dir = support::temp_dir("sealed-session-browser");

    let shop_port = free_port();
    let keys = sealed_session::Key::from_bytes([0x42; 32]).to_base64url();
    let _shop = start_shop(
        &shop_binary(),
        "shop",
        shop_port,
        &keys,
        &["--insecure"],
        &dir.join("shop.log"),
    );

    let driver_port = free_port();
    let driver_log = std::fs::File::create(dir.join("chromedriver.log")).expect("log file");
    let _driver = ChildGuard::spawn(
        "chromedriver",
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(driver_log.try_clone().expect("log handle"))
            .stderr(driver_log),
    );
    let driver: SocketAddr = format!("127.0.0.1:{driver_port}").parse().expect("address");
    wait_for_port(driver, "chromedriver", Duration::from_secs(30));

    let profile = dir.join("profile");
    let created = webdriver(
        driver,
        "POST",
        "/session",
        Some(json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--host-resolver-rules=MAP *.shop.test 127.0.0.1, MAP shop.test 127.0.0.1",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}})),
    );
    let session = created["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
        .to_owned();
    let browser = Browser { driver, session };
    let url = |host: &str| format!("http://{host}:{shop_port}/");

    // Nobody is signed in anywhere yet.
    browser.open(&url("shop.test"));
    browser.expect_page("shop.test", "Not signed in", &[]);

    // Sign in on account.shop.test.
    browser.open(&url("account.shop.test"));
    browser.type_into("#username", "alice");
    browser.click("#sign-in");
    browser.expect_page("account.shop.test", "Signed in as alice", &[]);

    // cart.shop.test sees her; she fills the cart there.
    browser.open(&url("cart.shop.test"));
    browser.expect_page("cart.shop.test", "Signed in as alice", &[]);
    for item in ["teapot", "kettle"] {
        browser.type_into("#item", item);
        browser.click("#add");
        browser.expect_page("cart.shop.test", "Signed in as alice", &[item]);
    }

    // shop.test sees the same user and cart.
    browser.open(&url("shop.test"));
    browser.expect_page("shop.test", "Signed in as alice", &["teapot", "kettle"]);

    // One cookie, shared by the parent domain, with the expected attributes.
    let cookies = browser.cookies();
    let ours: Vec<&Value> = cookies.iter().filter(|c| c["name"] == COOKIE).collect();
    assert_eq!(ours.len(), 1, "expected one {COOKIE} cookie: {cookies:?}");
    let cookie = ours[0];
    let domain = cookie["domain"].as_str().unwrap_or_default();
    assert!(
        domain == ".shop.test" || domain == "shop.test",
        "cookie domain should be the parent domain, is {domain:?}: {cookie}"
    );
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Lax", "{cookie}");
    assert_eq!(cookie["path"], "/", "{cookie}");
    assert_eq!(
        cookie["secure"], false,
        "--insecure for plain HTTP: {cookie}"
    );
    let script_view = browser.script("return document.cookie;");
    assert!(
        !script_view.as_str().unwrap_or_default().contains(COOKIE),
        "HttpOnly: page scripts must not see the session: {script_view}"
    );

    // Sign out on cart.shop.test: the session ends on every subdomain.
    browser.open(&url("cart.shop.test"));
    browser.click("#sign-out");
    browser.expect_page("cart.shop.test", "Not signed in", &[]);
    for host in ["shop.test", "account.shop.test"] {
        browser.open(&url(host));
        browser.expect_page(host, "Not signed in", &[]);
        let (_, _, cart) = browser.page();
        assert!(
            cart.contains("empty"),
            "cart should be gone on {host}: {cart:?}"
        );
    }
    let left: Vec<Value> = browser
        .cookies()
        .into_iter()
        .filter(|c| c["name"] == COOKIE)
        .collect();
    assert!(left.is_empty(), "sign-out must delete the cookie: {left:?}");

    drop(browser);
    let _ = std::fs::remove_dir_all(&dir);
}
