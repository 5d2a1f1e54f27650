//! The HTTP shell: cookie attributes and their validation, the cookie
//! Domain (fixed, or derived from the request's host), `Set-Cookie` values
//! (with chunking and removals), and reading sessions back from a request's
//! `Cookie` header.
//!
//! This is the only part of the library that parses or writes HTTP header
//! text. It adds `impl Codec` blocks ([`Codec::encode`](crate::Codec::encode),
//! [`Codec::decode`](crate::Codec::decode)) around the core, and the codec
//! keeps the validated [`cookie_options::CookieOptions`] as plain data.

pub(crate) mod cookie_options;
pub(crate) mod domain;
pub(crate) mod request;
pub(crate) mod set_cookie;
