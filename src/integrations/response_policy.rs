//! What every framework adapter does around the handler, written once: how
//! the request's [`SessionHandle`] is made (the `Cookie` header fields as
//! bytes, `Sec-Fetch-Mode: navigate`), and what the response gets after
//! the handler (one `Set-Cookie` header per value, nothing but a purge on a
//! 5xx, `Vary: Cookie` when the session was read, `Cache-Control: private,
//! no-store` when a session cookie is set and the handler set none, an
//! unsealable session logged with its size and limit, never its content).
//!
//! Adapters only translate: they implement [`ResponseHeaders`] for their
//! header map and turn a [`Failure`] into their framework's response.

use serde::de::DeserializeOwned;
use serde::Serialize;
#[cfg(feature = "dbsc")]
use zeroize::Zeroize;

use crate::codec::Codec;
use crate::error::Error;
use crate::http::cookie_options::DomainSetting;
use crate::integrations::session::{SessionHandle, SessionSettings};

/// The body of the default answer to a session that cannot be saved.
pub(crate) const UNSEALABLE_BODY: &str = "the session could not be saved\n";

/// The headers the policy reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    SetCookie,
    Vary,
    CacheControl,
    /// `Secure-Session-Registration`: asks the browser to bind the session
    /// to a device key (DBSC).
    SessionRegistration,
}

/// A framework's response header map, as the policy needs it.
pub(crate) trait ResponseHeaders {
    /// True when some value of `name` satisfies `f` (given the raw bytes).
    fn any_value(&self, name: Header, f: &mut dyn FnMut(&[u8]) -> bool) -> bool;

    /// Appends one header field; false when `value` is not a valid header
    /// value (nothing is appended then).
    fn append(&mut self, name: Header, value: &str) -> bool;

    /// True when the response has the header at all.
    fn contains(&self, name: Header) -> bool {
        self.any_value(name, &mut |_| true)
    }
}

/// Why the session's cookies could not be written; already logged.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The session cannot be sealed (too large, does not serialize, host
    /// outside the cookie domain): the adapter's configurable answer.
    Unsealable(Error),
    /// The codec wrote a value that is not a header value: a bug, answered
    /// with a plain 500.
    InvalidHeader,
}

/// The request's handle: decoded from `fields` (the `Cookie` header fields,
/// cheap clones of the request's bytes) only if the handler asks.
/// `sec_fetch_mode` is the `Sec-Fetch-Mode` header, for
/// [`ResealPolicy::NavigationsOnly`](crate::ResealPolicy::NavigationsOnly).
pub(crate) fn request_handle<T, F>(
    settings: &SessionSettings,
    fields: Vec<F>,
    sec_fetch_mode: Option<&[u8]>,
) -> SessionHandle<T>
where
    T: Serialize + DeserializeOwned,
    F: AsRef<[u8]> + Send + 'static,
{
    let navigation = sec_fetch_mode.is_some_and(|mode| mode.eq_ignore_ascii_case(b"navigate"));
    SessionHandle::with_loader(settings, navigation, move |codec| {
        codec.decode_fields(fields.iter())
    })
}

/// True when the cookie Domain is derived from the request's host, so the
/// adapter must keep the host for the end of the request.
pub(crate) fn needs_host(codec: &Codec) -> bool {
    // Device binding names its registration endpoint on the cookie domain's
    // origin, with the request's port.
    matches!(codec.cookie.domain, DomainSetting::Rule(_)) || binds_devices(codec)
}

#[cfg(feature = "dbsc")]
fn binds_devices(codec: &Codec) -> bool {
    codec.device_binding().is_some()
}

#[cfg(not(feature = "dbsc"))]
fn binds_devices(_: &Codec) -> bool {
    false
}

/// Adds the handle's cookies and the caching headers to a response with
/// status `status`. On failure nothing of the cookies was written: the
/// adapter replaces the response, then calls [`vary_if_read`] on the
/// replacement.
pub(crate) fn write_back<T, H>(
    headers: &mut H,
    status: u16,
    handle: &SessionHandle<T>,
    host: Option<&str>,
) -> Result<(), Failure>
where
    T: Serialize + DeserializeOwned,
    H: ResponseHeaders + ?Sized,
{
    let result = if (500..600).contains(&status) {
        handle.finish_failed(host)
    } else {
        handle.finish(host)
    };
    let cookie = handle.settings().codec().name();
    let cookies = match result {
        Ok(cookies) => cookies,
        Err(err) => {
            match err {
                // A request for a host outside the cookie domain: the
                // client's doing or a routing mistake, not a server fault.
                Error::Config { .. } => log::warn!("session cookie {cookie:?} not written: {err}"),
                _ => log::error!("session cookie {cookie:?} not written: {err}"),
            }
            return Err(Failure::Unsealable(err));
        }
    };
    if let Some(cookies) = &cookies {
        if !cookies.iter().all(is_header_value) {
            log::error!("session cookie {cookie:?} not written: invalid header value");
            return Err(Failure::InvalidHeader);
        }
    }
    vary_if_read(headers, handle);
    // A binding may be asked for on a response that seals nothing (an
    // existing session bound later).
    if let Some(registration) = handle.registration_header() {
        headers.append(Header::SessionRegistration, &registration);
    }
    let Some(cookies) = cookies else {
        return Ok(());
    };
    for value in &cookies {
        if !headers.append(Header::SetCookie, value) {
            log::error!("session cookie {cookie:?} not written: invalid header value");
            return Err(Failure::InvalidHeader);
        }
    }
    if !headers.contains(Header::CacheControl) {
        headers.append(Header::CacheControl, "private, no-store");
    }
    Ok(())
}

/// Adds `Vary: Cookie` when the handle decoded the request's cookie, unless
/// the response already varies on it (or on everything).
pub(crate) fn vary_if_read<T, H>(headers: &mut H, handle: &SessionHandle<T>)
where
    T: Serialize + DeserializeOwned,
    H: ResponseHeaders + ?Sized,
{
    if !handle.is_decoded() {
        return;
    }
    let covered = headers.any_value(Header::Vary, &mut |value| {
        value.split(|&b| b == b',').any(|token| {
            let token = token.trim_ascii();
            token == b"*" || token.eq_ignore_ascii_case(b"cookie")
        })
    });
    if !covered {
        headers.append(Header::Vary, "Cookie");
    }
}

/// Visible ASCII and spaces: what every framework accepts as a value.
/// Without an early exit, so the compiler checks many bytes at a time: it
/// runs over every `Set-Cookie` value (about 2 KB for a typical session),
/// and an invalid one is a bug that costs a 500 anyway.
fn is_header_value(value: &str) -> bool {
    value.bytes().fold(true, |ok, b| {
        ok & ((b' '..=b'~').contains(&b) | (b == b'\t'))
    })
}

/// The device binding endpoint a request is for, if the codec binds
/// devices and the request is a `POST` to one of its paths.
#[cfg(feature = "dbsc")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbscEndpoint {
    Registration,
    Refresh,
}

#[cfg(feature = "dbsc")]
pub(crate) fn dbsc_endpoint(codec: &Codec, is_post: bool, path: &str) -> Option<DbscEndpoint> {
    let (registration, refresh) = codec.device_binding()?.paths();
    match path {
        _ if !is_post => None,
        p if p == registration => Some(DbscEndpoint::Registration),
        p if p == refresh => Some(DbscEndpoint::Refresh),
        _ => None,
    }
}

/// Answers a device binding endpoint from the request's headers: every
/// `Cookie` field (joined as one header), the proof, the session id header
/// and the host. Refusals are logged at debug level without any value.
#[cfg(feature = "dbsc")]
pub(crate) fn dbsc_answer<'a>(
    codec: &Codec,
    endpoint: DbscEndpoint,
    cookie_fields: impl Iterator<Item = &'a [u8]>,
    proof: Option<&str>,
    session_id: Option<&str>,
    host: Option<&str>,
) -> crate::dbsc::DbscResponse {
    let mut cookie_header = Vec::new();
    for field in cookie_fields {
        if !cookie_header.is_empty() {
            cookie_header.extend_from_slice(b"; ");
        }
        cookie_header.extend_from_slice(field);
    }
    let request = crate::dbsc::DbscRequest {
        cookie_header: &cookie_header,
        proof,
        session_id,
        host,
    };
    let response = match endpoint {
        DbscEndpoint::Registration => codec.dbsc_register(&request),
        DbscEndpoint::Refresh => codec.dbsc_refresh(&request),
    };
    if let Some(err) = &response.refused {
        log::debug!("device binding {endpoint:?} refused: {err}");
    }
    cookie_header.zeroize();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::session::SessionSettings;

    /// A header map as a list of fields.
    #[derive(Default)]
    struct Fields(Vec<(Header, String)>);

    impl ResponseHeaders for Fields {
        fn any_value(&self, name: Header, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
            self.0.iter().any(|(n, v)| *n == name && f(v.as_bytes()))
        }

        fn append(&mut self, name: Header, value: &str) -> bool {
            self.0.push((name, value.to_owned()));
            true
        }
    }

    impl Fields {
        fn all(&self, name: Header) -> Vec<&str> {
            self.0
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        }
    }

    fn settings() -> SessionSettings {
        SessionSettings::new(
            Codec::builder("s")
                .development_key()
                .build()
                .expect("a development codec builds"),
        )
    }

    #[test]
    fn a_change_sets_one_cookie_vary_and_cache_control() {
        let handle = request_handle::<crate::DynamicSession, Vec<u8>>(&settings(), vec![], None);
        handle.update(|s| s.insert("a".into(), 1.into()));
        let mut headers = Fields::default();
        assert!(write_back(&mut headers, 200, &handle, None).is_ok());
        assert_eq!(headers.all(Header::SetCookie).len(), 1);
        assert_eq!(headers.all(Header::Vary), ["Cookie"]);
        assert_eq!(headers.all(Header::CacheControl), ["private, no-store"]);
    }

    #[test]
    fn a_server_error_writes_no_seal_and_an_existing_vary_is_kept() {
        let handle = request_handle::<crate::DynamicSession, Vec<u8>>(&settings(), vec![], None);
        handle.update(|s| s.insert("a".into(), 1.into()));
        let mut headers = Fields(vec![(Header::Vary, "Accept, cookie".into())]);
        assert!(write_back(&mut headers, 503, &handle, None).is_ok());
        assert!(headers.all(Header::SetCookie).is_empty());
        assert!(headers.all(Header::CacheControl).is_empty());
        assert_eq!(headers.all(Header::Vary), ["Accept, cookie"]);
    }

    #[test]
    fn only_navigate_is_a_navigation() {
        let key = |byte| crate::Key::from_bytes([byte; 32]);
        let stale = Codec::builder("s")
            .key_ring(crate::KeyRing::from_keys([key(1)]).expect("ring"))
            .build()
            .expect("codec");
        let rotated = crate::KeyRing::builder()
            .key(key(2), crate::KeyState::Primary)
            .key(key(1), crate::KeyState::Active)
            .build()
            .expect("ring");
        let settings = SessionSettings::new(
            Codec::builder("s")
                .key_ring(rotated)
                .build()
                .expect("codec"),
        )
        .reseal_policy(crate::ResealPolicy::NavigationsOnly);
        let pair = stale
            .encode(&crate::DynamicSession::new())
            .expect("seal")
            .iter()
            .next()
            .and_then(|c| c.split(';').next())
            .map(|pair| pair.as_bytes().to_vec())
            .expect("a pair");
        for (mode, reseals) in [
            (None, false),
            (Some(b"cors".as_slice()), false),
            (Some(b"NAVIGATE".as_slice()), true),
        ] {
            let handle =
                request_handle::<crate::DynamicSession, _>(&settings, vec![pair.clone()], mode);
            assert!(handle.get().is_some());
            assert_eq!(handle.finish(None).expect("finish").is_some(), reseals);
        }
    }

    #[test]
    fn header_values_are_visible_ascii() {
        assert!(is_header_value("s=abc; Path=/; Max-Age=0"));
        assert!(is_header_value("s=~!\t \""));
        assert!(!is_header_value("s=a\r\nX: y"));
        assert!(!is_header_value("s=caf\u{e9}"));
        assert!(!is_header_value("s=\u{7f}"));
        assert!(!is_header_value("s=\u{1f}"));
        assert!(!is_header_value("s=\0"));
        // Every byte alone, against the definition.
        for b in 0..=127u8 {
            let text = char::from(b).to_string();
            let visible = b == b' ' || b == b'\t' || b.is_ascii_graphic();
            assert_eq!(is_header_value(&text), visible, "byte {b:#x}");
        }
    }
}
