//! What the device-binding tests keep of a browser: a cookie jar fed by
//! the `Set-Cookie` headers of the codec's answers, and those headers.

#![allow(dead_code)]

use sealed_session::DbscResponse;

/// Cookies by name, in the order they were set; a removal (`Max-Age=0`)
/// drops one.
#[derive(Default, Clone)]
pub struct Jar(pub Vec<(String, String)>);

impl Jar {
    /// Takes the cookies of `Set-Cookie` lines.
    pub fn take(&mut self, set_cookies: impl IntoIterator<Item = String>) {
        for line in set_cookies {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !line.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// The jar without the cookie called `name`.
    pub fn without(&self, name: &str) -> Jar {
        Jar(self.0.iter().filter(|(n, _)| n != name).cloned().collect())
    }

    /// The `Cookie` header the browser would send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The `Set-Cookie` header values of an answer.
pub fn set_cookies(response: &DbscResponse) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(n, _)| *n == "set-cookie")
        .map(|(_, v)| v.clone())
        .collect()
}
