//! Headless Chromium for the browser tests, driven through chromedriver's
//! WebDriver JSON API over raw HTTP: `Browser::start` runs chromedriver and
//! opens a session with the switches every test needs (`shop.test` and
//! `*.shop.test` resolved to 127.0.0.1, a fresh profile), plus what the test
//! adds in a `Launch`; dropping the `Browser` ends the session and stops
//! chromedriver (by its PID, through `ChildGuard`). What only one test needs
//! (reading the page, DevTools events) stays in that test, as methods of its
//! own on `Browser`.
//!
//! Included next to `support.rs` (`crate::support`) by the tests that use it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::support::{free_port, request_json, wait_for_port, ChildGuard};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromium --version`, for failure messages.
pub fn chromium_version() -> String {
    match Command::new(CHROMIUM).arg("--version").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(err) => format!("unknown ({CHROMIUM} does not run: {err})"),
    }
}

/// Fails when `path` is missing, naming its Debian `package` and the
/// `apt-get install` line for everything the test needs: the browser tests
/// never skip.
pub fn require(path: &str, package: &str, install: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` \
         (apt-get install {install}); this test does not skip. Chromium: {}",
        chromium_version()
    );
}

/// What a test adds to the common Chromium set-up.
#[derive(Default)]
pub struct Launch {
    /// More command-line switches.
    pub args: Vec<String>,
    /// More capabilities, beside `browserName` and `goog:chromeOptions`.
    pub capabilities: Map<String, Value>,
    /// More `goog:chromeOptions`, beside `binary` and `args`.
    pub chrome_options: Map<String, Value>,
}

/// A WebDriver session of headless Chromium, and the chromedriver serving
/// it.
pub struct Browser {
    driver: SocketAddr,
    session: String,
    version: String,
    _chromedriver: ChildGuard,
}

impl Browser {
    /// Starts chromedriver (its log in `dir/chromedriver.log`) and a
    /// Chromium session with its profile in `dir/profile`.
    pub fn start(dir: &Path, launch: Launch) -> Browser {
        let version = chromium_version();
        let driver_port = free_port();
        let driver_log = std::fs::File::create(dir.join("chromedriver.log")).expect("log file");
        let chromedriver = ChildGuard::spawn(
            "chromedriver",
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={driver_port}"))
                .stdin(Stdio::null())
                .stdout(driver_log.try_clone().expect("log handle"))
                .stderr(driver_log),
        );
        let driver = SocketAddr::from(([127, 0, 0, 1], driver_port));
        wait_for_port(driver, "chromedriver", Duration::from_secs(30));

        let profile = dir.join("profile");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP *.shop.test 127.0.0.1, MAP shop.test 127.0.0.1",
        ]
        .map(str::to_owned)
        .into();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(launch.args);
        let mut chrome_options = launch.chrome_options;
        chrome_options.insert("binary".into(), json!(CHROMIUM));
        chrome_options.insert("args".into(), json!(args));
        let mut capabilities = launch.capabilities;
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), Value::Object(chrome_options));

        let created = webdriver(
            driver,
            "POST",
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
            &version,
        );
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session ({version}): {created}"))
            .to_owned();
        Browser {
            driver,
            session,
            version,
            _chromedriver: chromedriver,
        }
    }

    /// `chromium --version`, read at the start.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// One WebDriver command of this session: its `value`.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|err| panic!("{err} ({})", self.version))
    }

    /// One WebDriver command of this session: its `value`, or what
    /// chromedriver answered when that is not a success.
    pub fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        let response = request_json(self.driver, method, &path, body.as_ref())
            .map_err(|err| format!("chromedriver {method} {path}: {err}"))?;
        if response.status == 200 {
            Ok(response.json()["value"].clone())
        } else {
            Err(format!(
                "chromedriver {method} {path} answered {}: {}",
                response.status, response.body
            ))
        }
    }

    /// One DevTools command (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, command: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
    }

    pub fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn element(&self, css: &str) -> String {
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

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        let path = format!("/element/{id}/value");
        self.call("POST", &path, Some(json!({ "text": text })));
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Clicks `css`, a button that submits a form, and waits until the page
    /// it was on is gone and the answer's page has loaded. The click returns
    /// before the submission navigates; a script started in that gap runs in
    /// the page being left, and chromedriver answers it with "script
    /// timeout" as soon as that page unloads.
    pub fn submit(&self, css: &str) {
        self.script("window.sealedSessionLeaving = true;");
        self.click(css);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Scripts may fail while the navigation is under way.
            let last = match self.try_call(
                "POST",
                "/execute/sync",
                Some(json!({ "args": [], "script":
                    "return [window.sealedSessionLeaving === undefined, \
                             document.readyState, location.href];" })),
            ) {
                Ok(answer) if answer[0] == true && answer[1] == "complete" => return,
                Ok(answer) => answer.to_string(),
                Err(err) => err,
            };
            assert!(
                Instant::now() < deadline,
                "submitting with {css} did not load a new page within 20 s ({}); last: {last}",
                self.version
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` in the page (synchronously): its return value.
    pub fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = request_json(self.driver, "DELETE", &path, None);
    }
}

/// One WebDriver request to chromedriver: the answer's `value`; fails the
/// test on anything but 200.
fn webdriver(
    driver: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
    version: &str,
) -> Value {
    let response = request_json(driver, method, path, body.as_ref())
        .unwrap_or_else(|err| panic!("chromedriver {method} {path} ({version}): {err}"));
    assert_eq!(
        response.status, 200,
        "chromedriver {method} {path} answered {} ({version}): {}",
        response.status, response.body
    );
    response.json()["value"].clone()
}
