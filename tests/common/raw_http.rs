//! The raw HTTP/1.1 exchange the integration tests use: a request written
//! byte for byte (so a test can send non-ASCII or repeated header fields)
//! and the response parsed into status, headers and body. The transport
//! (std or tokio socket) stays in each test; this file has no dependency.

#![allow(dead_code)]

/// A parsed response.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// Every value of the header `name` (case-insensitive), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.all("set-cookie")
    }

    /// The Cookie header a browser would send back (removals left out).
    pub fn cookie(&self) -> String {
        self.set_cookies()
            .iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The bytes of a request with `headers` as raw lines (a `Host: localhost`
/// line is added unless one is given) and `body` (urlencoded when not
/// empty), on a connection the server closes after answering.
pub fn request_bytes(method: &str, path: &str, headers: &[&[u8]], body: &str) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with(b"host:"))
    {
        out.extend_from_slice(b"Host: localhost\r\n");
    }
    for line in headers {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: application/x-www-form-urlencoded\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    out
}

/// Parses a whole response as read until the server closed the connection.
pub fn parse_reply(raw: Vec<u8>) -> Reply {
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A `Cookie:` header line.
pub fn cookie_line(cookie: &str) -> Vec<u8> {
    format!("Cookie: {cookie}").into_bytes()
}
