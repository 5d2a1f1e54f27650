//! Shared by the tests that drive the examples over real HTTP: a small
//! HTTP/1.1 client over `TcpStream`, a cookie jar that follows the RFC 6265
//! domain rules, and guards that stop child processes even when a test
//! panics. Included with `#[path]`, so each test uses only part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One HTTP response, body as text.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` header, in order.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body parsed as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| {
            panic!(
                "expected JSON, got status {} body {:?}: {err}",
                self.status, self.body
            )
        })
    }
}

/// Sends one request on a fresh connection (`Connection: close`) to `addr`,
/// with `host` as the Host header, and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    send_request(&mut stream, method, host, path, cookie, &[], form)
}

/// Writes one request (`Connection: close`, with `headers` added) and reads
/// the response.
fn send_request(
    stream: &mut (impl Read + Write),
    method: &str,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> std::io::Result<Response> {
    let body = form.map(encode_form).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: e2e\r\n"
    );
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if form.is_some() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    read_response(stream)
}

/// An HTTPS client (rustls with the ring provider) for one server that
/// trusts one certificate only, the test server's: no system roots, so it
/// proves the server presents exactly that certificate.
pub struct HttpsClient {
    addr: SocketAddr,
    config: std::sync::Arc<rustls::ClientConfig>,
}

impl HttpsClient {
    /// Connects to `addr` and trusts `certificate` (DER), for example a
    /// self-signed one made by rcgen for the test.
    pub fn new(addr: SocketAddr, certificate: &[u8]) -> HttpsClient {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                certificate.to_vec(),
            ))
            .expect("the test certificate is not a usable trust anchor");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        HttpsClient {
            addr,
            config: std::sync::Arc::new(config),
        }
    }

    /// [`request`] over TLS: names `host` (its name part) in SNI and checks
    /// the certificate for it, sends `headers` too.
    pub fn request(
        &self,
        method: &str,
        host: &str,
        path: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> std::io::Result<Response> {
        let name = rustls::pki_types::ServerName::try_from(host_name(host))
            .map_err(|err| invalid(&format!("server name {host:?}: {err}")))?;
        let connection = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|err| invalid(&format!("TLS: {err}")))?;
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        send_request(&mut stream, method, host, path, cookie, headers, form)
    }
}

/// Sends a request with a JSON body (for WebDriver).
pub fn request_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    read_response(&mut stream)
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}

/// Reads one response: up to Content-Length, the last chunk, or the end of
/// the connection (some servers, chromedriver among them, keep the
/// connection open despite `Connection: close`).
fn read_response(stream: &mut impl Read) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..n]);
        if response_complete(&raw) {
            break;
        }
    }
    parse_response(&raw)
}

fn response_complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => body.len() >= length,
        None => head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304"),
    }
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("response without a complete header"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| invalid("header not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| invalid("chunk"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(invalid("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// `application/x-www-form-urlencoded`.
pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fn enc(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One stored cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCookie {
    pub name: String,
    pub value: String,
    /// The Domain attribute, or the setting host for a host-only cookie.
    pub domain: String,
    pub host_only: bool,
    pub secure: bool,
}

/// A cookie jar with the browser's domain rules (RFC 6265 section 5.3 and
/// 5.4, minus paths and expiry dates, which these tests do not vary): a
/// host-only cookie goes back to its host only, a Domain cookie to the domain
/// and its subdomains. Secure cookies are kept but, like a browser, never
/// sent over the plain HTTP this client speaks.
#[derive(Debug, Default)]
pub struct CookieJar {
    pub cookies: Vec<StoredCookie>,
}

impl CookieJar {
    /// Stores (or removes, for `Max-Age=0` / an empty value) the cookies of a
    /// response to a request sent to `host`.
    pub fn store(&mut self, host: &str, response: &Response) {
        let host = host_name(host);
        for header in response.set_cookies() {
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut cookie = StoredCookie {
                name: name.trim().to_owned(),
                value: value.trim().to_owned(),
                domain: host.clone(),
                host_only: true,
                secure: false,
            };
            let mut expired = cookie.value.is_empty();
            let mut rejected = false;
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                match key.trim().to_ascii_lowercase().as_str() {
                    "domain" => {
                        let domain = val.trim().trim_start_matches('.').to_ascii_lowercase();
                        if host != domain && !host.ends_with(&format!(".{domain}")) {
                            // A browser ignores such a cookie entirely.
                            rejected = true;
                        }
                        cookie.domain = domain;
                        cookie.host_only = false;
                    }
                    "max-age" => expired |= val.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                    "secure" => cookie.secure = true,
                    _ => {}
                }
            }
            if rejected {
                continue;
            }
            self.cookies.retain(|c| {
                !(c.name == cookie.name
                    && c.domain == cookie.domain
                    && c.host_only == cookie.host_only)
            });
            if !expired {
                self.cookies.push(cookie);
            }
        }
    }

    /// The Cookie header for a plain-HTTP request to `host`, if any cookie
    /// matches.
    pub fn header_for(&self, host: &str) -> Option<String> {
        let host = host_name(host);
        let matching: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| !c.secure)
            .filter(|c| {
                if c.host_only {
                    c.domain == host
                } else {
                    host == c.domain || host.ends_with(&format!(".{}", c.domain))
                }
            })
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!matching.is_empty()).then(|| matching.join("; "))
    }
}

fn host_name(host: &str) -> String {
    host.rsplit_once(':')
        .map_or(host, |(name, _)| name)
        .to_ascii_lowercase()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Waits until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, what: &str, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not start listening on {addr} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed (and reaped) when dropped, so a panicking
/// test leaves nothing running.
#[derive(Debug)]
pub struct ChildGuard {
    pub name: String,
    pub child: Child,
}

impl ChildGuard {
    pub fn spawn(name: &str, command: &mut Command) -> ChildGuard {
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({command:?}): {err}"));
        ChildGuard {
            name: name.to_owned(),
            child,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (SIGKILL after 10 s): a graceful stop.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Panics if the process has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}", self.name);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Graceful first: nginx's master passes SIGTERM on to its workers,
        // while SIGKILL would leave them running.
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// A fresh directory for logs and configuration, left in place (its path
/// is in every failure message) so a failed run can be inspected.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create a temporary directory");
    dir
}

/// The demo shop's executable: `SHOP_BIN` when set (for example a wrapper
/// script that adds `--no-domain`, to watch the tests fail), otherwise built
/// with the same cargo that runs this test (a `--test` run alone does not
/// build examples).
pub fn shop_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SHOP_BIN") {
        return PathBuf::from(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        // The features .ci/run tests with, so the library is not rebuilt in
        // another configuration.
        .args(["build", "--quiet", "--all-features", "--example", "shop"])
        .current_dir(manifest)
        .status()
        .expect("cannot run cargo to build the shop example");
    assert!(status.success(), "`cargo build --example shop` failed");
    // The test executable is target/<profile>/deps/<name>; examples sit in
    // target/<profile>/examples.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable outside target/<profile>/deps");
    let shop = profile_dir.join("examples").join("shop");
    assert!(shop.exists(), "{} missing after the build", shop.display());
    shop
}

/// Starts the shop with `args` and `keys` (`SEALED_SESSION_KEYS`), stdout
/// and stderr appended to `log`, and waits until it listens on `port`.
pub fn start_shop(
    binary: &Path,
    name: &str,
    port: u16,
    keys: &str,
    args: &[&str],
    log: &Path,
) -> ChildGuard {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("cannot open the shop's log file");
    let err = out.try_clone().expect("log file handle");
    let listen = format!("127.0.0.1:{port}");
    let mut command = Command::new(binary);
    command
        .args(["--listen", &listen, "--server-id", name])
        .args(args)
        .env("SEALED_SESSION_KEYS", keys)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut guard = ChildGuard::spawn(name, &mut command);
    let addr: SocketAddr = listen.parse().expect("address");
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        guard.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name} did not listen on {addr} within 30 s; log: {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    guard
}

/// Reads lines of `path` (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return format!("({} unreadable)", path.display());
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub const NGINX: &str = "/usr/sbin/nginx";
pub const REDIS: &str = "/usr/bin/redis-server";

/// An nginx configuration for a reverse proxy on 127.0.0.1:`listen` in
/// front of `upstreams` (ports on 127.0.0.1), in plain round robin, with
/// every file it writes inside `dir`.
pub fn nginx_config(dir: &Path, listen: u16, upstreams: &[u16]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|port| format!("        server 127.0.0.1:{port} max_fails=0;\n"))
        .collect();
    let tries = upstreams.len();
    let d = dir.display();
    format!(
        "# Written by tests/e2e/support.rs; everything lives in this directory.
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # Plain round robin: no ip_hash, no sticky cookie. max_fails=0 keeps
    # every server in the rotation: with the default, a server refused once
    # during its restart would be skipped for 10 s, and with servers
    # restarted in quick succession all could be skipped at once (502).
    upstream shop {{
{servers}    }}
    server {{
        listen 127.0.0.1:{listen} backlog=1024;
        server_name shop.test *.shop.test;
        location / {{
            proxy_pass http://shop;
            proxy_set_header Host $host;
            # A server that is down refuses the connection: try the next
            # one. Safe even for POST here, because the whole session travels
            # in the request's cookie: a retry replays the same old session.
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries {tries};
            proxy_connect_timeout 2s;
            # Room for a large Set-Cookie header.
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }}
    }}
}}
"
    )
}

/// Starts nginx (`/usr/sbin/nginx`, Debian package `nginx`) in front of
/// `upstreams` on a free port, its configuration and logs in `dir`, and
/// waits until it accepts connections. Returns the guard and the address.
pub fn start_nginx(dir: &Path, upstreams: &[u16]) -> (ChildGuard, SocketAddr) {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: install the Debian package `nginx` (apt-get install nginx)"
    );
    let port = free_port();
    let config_path = dir.join("nginx.conf");
    std::fs::write(&config_path, nginx_config(dir, port, upstreams)).expect("write nginx.conf");
    let mut command = Command::new(NGINX);
    command
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&config_path)
        .stdin(Stdio::null());
    let mut nginx = ChildGuard::spawn("nginx", &mut command);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!(
                "nginx exited with {status}: {}",
                tail(&dir.join("error.log"), 20)
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (nginx, addr)
}

/// Starts `redis-server` (Debian package `redis-server`) on 127.0.0.1:`port`
/// and waits until it listens. With `persist_in`, every write is appended
/// and fsynced to a file in that directory (`appendonly yes`, `appendfsync
/// always`), so a restart, even after SIGKILL, keeps the data; without it,
/// nothing is kept.
pub fn start_redis(port: u16, persist_in: Option<&Path>) -> ChildGuard {
    assert!(
        Path::new(REDIS).exists(),
        "{REDIS} is missing: apt-get install -y --no-install-recommends redis-server"
    );
    let mut command = Command::new(REDIS);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--daemonize", "no"]);
    match persist_in {
        Some(dir) => {
            command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir);
        }
        None => {
            command.args(["--appendonly", "no"]);
        }
    }
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let guard = ChildGuard::spawn("redis-server", &mut command);
    wait_for_port(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "redis-server",
        Duration::from_secs(10),
    );
    guard
}
