//! A real cluster: three copies of the demo shop on loopback ports behind
//! nginx (plain round robin, no stickiness). A scripted client with a cookie
//! jar signs in on `account.shop.test`, then fills the cart on
//! `cart.shop.test` and reads it on `shop.test`, while one server is killed
//! and restarted and the keys are rotated in three phases, one server at a
//! time. Every request must succeed, the session must never be lost, the cart
//! must hold every item, and the final cookie must be sealed under the new
//! key.
//!
//! Needs `/usr/sbin/nginx` (Debian package `nginx`); fails when it is
//! missing. Run with
//! `cargo test --all-features --test e2e_cluster -- --ignored --test-threads=1`.

#[path = "e2e/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use sealed_session::{Codec, Key, KeyRing};
use support::{free_port, shop_binary, start_shop, ChildGuard, CookieJar, Response};

const SERVERS: usize = 3;
const ADDS: usize = 300;
const USER: &str = "cluster-user";

fn key(tag: u8) -> Key {
    Key::from_bytes([tag; 32])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One step of the operator's script, run when the client has made
/// `at` cart requests.
#[derive(Debug, Clone)]
enum Step {
    /// SIGKILL: a crash.
    Crash(usize),
    /// SIGTERM, graceful: the first half of a rolling restart.
    Stop(usize),
    /// Start with these keys.
    Start(usize, String),
}

struct Cluster {
    binary: std::path::PathBuf,
    dir: std::path::PathBuf,
    ports: Vec<u16>,
    servers: Vec<Option<ChildGuard>>,
}

impl Cluster {
    fn start(&mut self, index: usize, keys: &str) {
        let name = format!("shop-{index}");
        let log = self.dir.join(format!("{name}.log"));
        let guard = start_shop(
            &self.binary,
            &name,
            self.ports[index],
            keys,
            &["--insecure"],
            &log,
        );
        self.servers[index] = Some(guard);
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Crash(i) => {
                if let Some(mut server) = self.servers[*i].take() {
                    server.kill();
                }
            }
            Step::Stop(i) => {
                if let Some(mut server) = self.servers[*i].take() {
                    server.terminate();
                }
            }
            Step::Start(i, keys) => self.start(*i, keys),
        }
    }
}

struct Client {
    nginx: SocketAddr,
    jar: CookieJar,
    requests: usize,
}

impl Client {
    fn send(
        &mut self,
        method: &str,
        host: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        self.requests += 1;
        let cookie = self.jar.header_for(host);
        let response = support::request(self.nginx, method, host, path, cookie.as_deref(), form)
            .unwrap_or_else(|err| {
                panic!(
                    "request {} ({method} {host}{path}) failed: {err}",
                    self.requests
                )
            });
        assert_eq!(
            response.status, 200,
            "request {} ({method} {host}{path}) answered {}: {}",
            self.requests, response.status, response.body
        );
        self.jar.store(host, &response);
        response
    }
}

#[test]
#[ignore = "needs nginx; run by .ci/run with --ignored"]
fn session_survives_round_robin_crash_and_three_phase_key_rotation() {
    let dir = support::temp_dir("sealed-session-cluster");
    let (old, new) = (key(0x51), key(0x52));
    let (old_b64, new_b64) = (old.to_base64url(), new.to_base64url());
    let retire_until = now() + 3600;
    // The three-phase rotation, as key configurations.
    let initial = format!("primary {old_b64}");
    let phase1 = format!("primary {old_b64}, active {new_b64}");
    let phase2 = format!("primary {new_b64}, active {old_b64}");
    let phase3 = format!("primary {new_b64}, retired {old_b64} until {retire_until}");
    let done = format!("primary {new_b64}");

    let binary = shop_binary();
    let ports: Vec<u16> = (0..SERVERS).map(|_| free_port()).collect();
    let mut cluster = Cluster {
        binary,
        dir: dir.clone(),
        ports: ports.clone(),
        servers: (0..SERVERS).map(|_| None).collect(),
    };
    for i in 0..SERVERS {
        cluster.start(i, &initial);
    }

    let (mut nginx, nginx_addr) = support::start_nginx(&dir, &ports);

    // The operator's script, keyed by the number of cart requests made.
    let mut script: Vec<(usize, Step)> =
        vec![(20, Step::Crash(1)), (30, Step::Start(1, initial.clone()))];
    for (phase, keys) in [(1, &phase1), (2, &phase2), (3, &phase3), (4, &done)] {
        for server in 0..SERVERS {
            let at = phase * 50 + server * 10;
            script.push((at, Step::Stop(server)));
            // Three requests while this server is down.
            script.push((at + 3, Step::Start(server, keys.clone())));
        }
    }
    assert!(script.iter().all(|(at, _)| *at < ADDS));

    let mut client = Client {
        nginx: nginx_addr,
        jar: CookieJar::default(),
        requests: 0,
    };
    let signed_in = client
        .send(
            "POST",
            "account.shop.test",
            "/api/sign-in",
            Some(&[("username", USER)]),
        )
        .json();
    assert_eq!(signed_in["user"], USER);

    let mut expected: Vec<String> = Vec::new();
    let mut seen_servers = std::collections::BTreeSet::new();
    let mut key_ids_seen = std::collections::BTreeSet::new();
    for i in 0..ADDS {
        for (_, step) in script.iter().filter(|(at, _)| *at == i) {
            cluster.run(step);
        }
        let item = format!("sku-{i}");
        expected.push(item.clone());
        let state = client
            .send(
                "POST",
                "cart.shop.test",
                "/api/cart",
                Some(&[("item", &item)]),
            )
            .json();
        let context = format!("after adding {item} (request {})", client.requests);
        assert_eq!(state["user"], USER, "session lost {context}: {state}");
        assert_eq!(
            state["cart"],
            serde_json::json!(expected),
            "cart wrong {context}"
        );
        seen_servers.insert(state["server_id"].as_str().unwrap_or_default().to_owned());
        if let Some(id) = state["key_id"].as_str() {
            key_ids_seen.insert(id.to_owned());
        }
        if i % 10 == 9 {
            // Reads go to the third subdomain; the session must be there too.
            let state = client.send("GET", "shop.test", "/api/state", None).json();
            assert_eq!(state["user"], USER, "session lost on shop.test {context}");
            assert_eq!(
                state["cart"],
                serde_json::json!(expected),
                "cart wrong on shop.test {context}"
            );
        }
    }

    // Every server answers reads for the final cookie, sealed under NEW.
    for _ in 0..SERVERS * 2 {
        let state = client.send("GET", "shop.test", "/api/state", None).json();
        assert_eq!(state["user"], USER);
        assert_eq!(state["cart"], serde_json::json!(expected));
        assert_eq!(
            state["key_id"],
            new.id().to_string(),
            "final cookie not sealed under the new key"
        );
        assert_eq!(state["primary_key_id"], new.id().to_string());
        seen_servers.insert(state["server_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        seen_servers.len(),
        SERVERS,
        "round robin should have reached every server: {seen_servers:?}"
    );
    assert!(
        key_ids_seen.contains(&old.id().to_string())
            && key_ids_seen.contains(&new.id().to_string()),
        "the run should have seen cookies under both keys: {key_ids_seen:?}"
    );
    // Independently of the servers: the jar's cookie opens with NEW alone.
    let only_new = Codec::builder("shop_session")
        .key_ring(KeyRing::from_keys([new]).expect("ring"))
        .secure(false)
        .build()
        .expect("codec");
    let cookie = client
        .jar
        .header_for("shop.test")
        .expect("a session cookie");
    let opened = only_new
        .decode::<serde_json::Value>(&cookie)
        .expect("the final cookie opens under the new key alone");
    assert_eq!(opened.session["cart"].as_array().map(Vec::len), Some(ADDS));
    println!(
        "final cookie: {} bytes for {ADDS} cart items, {} client requests",
        cookie.len(),
        client.requests
    );

    nginx.terminate();
    let access_log = std::fs::read_to_string(dir.join("access.log")).unwrap_or_default();
    assert_eq!(
        access_log.lines().count(),
        client.requests,
        "nginx should have logged each client request once"
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
