//! Revocation across a real cluster: three copies of the demo shop, each a
//! separate process started with `--redis`, and a real `redis-server` on a
//! free loopback port. A cookie copied before sign-out (what a thief holds)
//! must stop working on every server within one second of the sign-out;
//! "sign out everywhere" must end every session of that user and no other;
//! and while Redis is down the servers keep serving, and a sign-out made
//! meanwhile reaches the other servers once Redis is back.
//!
//! Needs `/usr/bin/redis-server` (Debian package `redis-server`); fails when
//! it is missing. Run with
//! `cargo test --all-features --test e2e_revocation -- --ignored --test-threads=1`.

#[path = "e2e/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::{
    free_port, request, shop_binary, start_redis, start_shop, tail, ChildGuard, CookieJar,
};

const KEYS: &str = "primary ZGVtby1zaG9wLWRldmVsb3BtZW50LWtleS0wMDAwMDA";
const HOST: &str = "shop.test";

struct Cluster {
    servers: Vec<(SocketAddr, ChildGuard)>,
    log: std::path::PathBuf,
}

impl Cluster {
    fn start(redis_port: u16) -> Self {
        let binary = shop_binary();
        let dir = support::temp_dir("e2e-revocation");
        let log = dir.join("shops.log");
        let redis = format!("redis://127.0.0.1:{redis_port}/");
        let servers = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let port = free_port();
                let guard = start_shop(
                    &binary,
                    name,
                    port,
                    KEYS,
                    &["--insecure", "--redis", &redis],
                    &log,
                );
                (SocketAddr::from(([127, 0, 0, 1], port)), guard)
            })
            .collect();
        Cluster { servers, log }
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.servers[i].0
    }

    /// The user `/api/state` on server `i` sees for `cookie`.
    fn user(&self, i: usize, cookie: &str) -> Option<String> {
        let response = request(self.addr(i), "GET", HOST, "/api/state", Some(cookie), None)
            .unwrap_or_else(|e| panic!("server {i}: {e}; log:\n{}", tail(&self.log, 30)));
        assert_eq!(
            response.status,
            200,
            "server {i}: {}; log:\n{}",
            response.body,
            tail(&self.log, 30)
        );
        response.json()["user"].as_str().map(str::to_owned)
    }

    /// Signs `user` in on server `i`; returns the browser's cookie header.
    fn sign_in(&self, i: usize, user: &str) -> String {
        let response = request(
            self.addr(i),
            "POST",
            HOST,
            "/api/sign-in",
            None,
            Some(&[("username", user)]),
        )
        .expect("sign-in");
        assert_eq!(response.status, 200, "{}", response.body);
        let mut jar = CookieJar::default();
        jar.store(HOST, &response);
        jar.header_for(HOST).expect("a session cookie")
    }

    fn post(&self, i: usize, path: &str, cookie: &str) {
        let response = request(self.addr(i), "POST", HOST, path, Some(cookie), None)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            response.status == 303 || response.status == 200,
            "{path} on server {i}: {} {}",
            response.status,
            response.body
        );
    }

    /// Waits until no server sees a user for `cookie`; returns how long
    /// that took. Fails after `limit`.
    fn until_refused_everywhere(&self, cookie: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let seen: Vec<_> = (0..self.servers.len())
                .filter(|&i| self.user(i, cookie).is_some())
                .collect();
            if seen.is_empty() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "servers {seen:?} still accept the revoked cookie after {limit:?}; log:\n{}",
                tail(&self.log, 30)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
#[ignore = "starts redis-server and three shops; run by .ci/run"]
fn revocations_reach_every_server_and_survive_a_redis_restart() {
    let redis_port = free_port();
    let mut redis = start_redis(redis_port, None);
    let cluster = Cluster::start(redis_port);
    let second = Duration::from_secs(1);

    // A thief copies alice's cookie; every server accepts it.
    let alice = cluster.sign_in(0, "alice");
    let stolen = alice.clone();
    let bob = cluster.sign_in(1, "bob");
    for i in 0..3 {
        assert_eq!(cluster.user(i, &stolen).as_deref(), Some("alice"));
        assert_eq!(cluster.user(i, &bob).as_deref(), Some("bob"));
    }

    // Alice signs out on server a: the copy dies everywhere within a second.
    cluster.post(0, "/sign-out", &alice);
    let took = cluster.until_refused_everywhere(&stolen, second);
    println!("sign-out reached all three servers in {took:?}");
    for i in 0..3 {
        assert_eq!(cluster.user(i, &bob).as_deref(), Some("bob"), "bob stays");
    }

    // Alice signs in twice (two browsers); "sign out everywhere" from one
    // ends both, and no one else's session.
    let laptop = cluster.sign_in(1, "alice");
    let phone = cluster.sign_in(2, "alice");
    assert_eq!(cluster.user(0, &phone).as_deref(), Some("alice"));
    cluster.post(0, "/sign-out-everywhere", &laptop);
    let took_laptop = cluster.until_refused_everywhere(&laptop, second);
    let took_phone = cluster.until_refused_everywhere(&phone, second);
    println!("sign-out-everywhere: {took_laptop:?} and {took_phone:?}");
    for i in 0..3 {
        assert_eq!(cluster.user(i, &bob).as_deref(), Some("bob"), "bob stays");
    }
    // The revocation covers sessions created up to its second: a sign-in
    // in a later second is a new session that stays.
    std::thread::sleep(Duration::from_millis(1100));
    let again = cluster.sign_in(0, "alice");
    for i in 0..3 {
        assert_eq!(
            cluster.user(i, &again).as_deref(),
            Some("alice"),
            "a sign-in after the revocation is a new session"
        );
    }

    // Redis goes down: every server keeps serving from memory.
    redis.kill();
    let carol = cluster.sign_in(2, "carol");
    let carol_copy = carol.clone();
    for i in 0..3 {
        assert_eq!(cluster.user(i, &bob).as_deref(), Some("bob"));
        assert_eq!(cluster.user(i, &carol).as_deref(), Some("carol"));
    }
    // Carol signs out on server c while Redis is down: c refuses the copy
    // at once; a and b learn it once Redis is back.
    cluster.post(2, "/sign-out", &carol);
    assert_eq!(cluster.user(2, &carol_copy), None);
    let _redis = start_redis(redis_port, None);
    let took = cluster.until_refused_everywhere(&carol_copy, Duration::from_secs(30));
    println!(
        "a sign-out made while Redis was down reached every server {took:?} after Redis came back"
    );
    for i in 0..3 {
        assert_eq!(cluster.user(i, &bob).as_deref(), Some("bob"));
        assert_eq!(cluster.user(i, &stolen), None, "old revocations hold");
    }
}
