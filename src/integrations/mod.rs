//! Framework integrations: the framework-free [`session::SessionHandle`]
//! (always compiled), and thin adapters (each behind its own cargo feature)
//! that read the request's cookies, hand the handler a session and write the
//! `Set-Cookie` values back, all through the framework-free codec.

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub(crate) mod axum;
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) mod response_policy;
pub(crate) mod session;
#[cfg(feature = "tower-sessions")]
pub(crate) mod tower_sessions;
