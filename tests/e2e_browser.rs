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
#[path = "e2e/webdriver.rs"]
mod webdriver;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, shop_binary, start_shop};
use webdriver::{require, Browser, Launch, CHROMEDRIVER, CHROMIUM};

const COOKIE: &str = "shop_session";
/// Everything this test needs, for `apt-get install`.
const INSTALL: &str = "chromium chromium-driver";

/// What this test reads from the shop's page.
impl Browser {
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

#[test]
#[ignore = "needs chromium and chromedriver; run by .ci/run with --ignored"]
fn session_follows_the_user_across_subdomains_in_chromium() {
    require(CHROMIUM, "chromium", INSTALL);
    require(CHROMEDRIVER, "chromium-driver", INSTALL);
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

    let browser = Browser::start(&dir, Launch::default());
    let url = |host: &str| format!("http://{host}:{shop_port}/");

    // Nobody is signed in anywhere yet.
    browser.open(&url("shop.test"));
    browser.expect_page("shop.test", "Not signed in", &[]);

    // Sign in on account.shop.test.
    browser.open(&url("account.shop.test"));
    browser.type_into("#username", "alice");
    browser.submit("#sign-in");
    browser.expect_page("account.shop.test", "Signed in as alice", &[]);

    // cart.shop.test sees her; she fills the cart there.
    browser.open(&url("cart.shop.test"));
    browser.expect_page("cart.shop.test", "Signed in as alice", &[]);
    for item in ["teapot", "kettle"] {
        browser.type_into("#item", item);
        browser.submit("#add");
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
    browser.submit("#sign-out");
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
