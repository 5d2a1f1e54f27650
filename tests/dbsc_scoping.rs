//! Device binding and cookie scoping: the registration and refresh
//! endpoints must receive the session cookie (registration opens it, the
//! first refresh marks it bound), so a codec whose cookie Path does not
//! cover them is refused when it is built, instead of never binding any
//! session.
#![cfg(feature = "dbsc")]

use sealed_session::{Codec, DeviceBinding, Error};

fn build(path: &str, binding: DeviceBinding) -> Result<Codec, Error> {
    Codec::builder("sid")
        .development_key()
        .path(path)
        .device_binding(binding)
        .build()
}

#[test]
fn endpoints_outside_the_session_cookie_path_are_refused() {
    // The browser sends a Path=/app cookie to /app and below only: the
    // default endpoints /dbsc/start and /dbsc/refresh would never see it.
    for (registration, refresh) in [
        ("/dbsc/start", "/dbsc/refresh"),
        ("/app/dbsc/start", "/dbsc/refresh"),
        ("/dbsc/start", "/app/dbsc/refresh"),
        ("/application/start", "/app/refresh"),
        ("/ap", "/app/refresh"),
    ] {
        let err = build(
            "/app",
            DeviceBinding::new().endpoints(registration, refresh),
        )
        .err()
        .unwrap_or_else(|| panic!("{registration} {refresh} accepted under Path=/app"));
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(err.to_string().contains("path"), "{err}");
    }
}

#[test]
fn endpoints_inside_the_session_cookie_path_are_accepted() {
    for (path, registration, refresh) in [
        ("/", "/dbsc/start", "/dbsc/refresh"),
        ("/app", "/app/dbsc/start", "/app/dbsc/refresh"),
        ("/app/", "/app/start", "/app/refresh"),
        ("/app", "/app", "/app/refresh"),
    ] {
        build(path, DeviceBinding::new().endpoints(registration, refresh))
            .unwrap_or_else(|e| panic!("Path={path} {registration} {refresh}: {e}"));
    }
}
