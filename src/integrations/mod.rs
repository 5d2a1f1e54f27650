//! Framework integrations (each behind its own cargo feature): thin adapters
//! that read the request's cookies, hand the handler a session and write the
//! `Set-Cookie` values back, all through the framework-free codec.
