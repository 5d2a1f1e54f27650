//! Signed-only mode (format version 2): the JSON stays readable by the page's
//! script, and HMAC-SHA256 authenticates it together with the cookie name and
//! the timestamps.
//!
//! ```text
//! value = base64url-nopad( 0x02 || key_id (4) || issued_at (u64 BE)
//!                          || expires_at (u64 BE) || mac (32) || json )
//! mac   = HMAC-SHA256(signing key, u16be(len(name)) || name
//!                                  || bytes 0..21 of the value || json)
//! ```
//! The JSON starts at the fixed offset 53, so a script needs only a base64url
//! decoder to read it.

use base64::Engine as _;
use hmac::Mac;

use crate::codec::Codec;
use crate::core::authentic::{Authentic, Json};
use crate::core::format::{B64, KEY_ID_LEN, VERSION_SIGNED};
use crate::error::{Error, Result};
use crate::keys::key::KeyId;

const MAC_LEN: usize = 32;
/// version || key id || issued_at || expires_at.
const SIGNED_HEADER_LEN: usize = 1 + KEY_ID_LEN + 8 + 8;
/// Where the JSON starts in a decoded signed value.
pub(crate) const SIGNED_JSON_OFFSET: usize = SIGNED_HEADER_LEN + MAC_LEN;

pub(crate) fn sign(codec: &Codec, json: &[u8], now: u64) -> Result<String> {
    let entry = codec.ring.primary_entry();
    let per_key = codec.primary_per_key()?;
    let expires_at = now
        .checked_add(codec.max_age)
        .ok_or_else(|| Error::config("max_age overflows the clock"))?;
    let mut buf = Vec::with_capacity(SIGNED_JSON_OFFSET + json.len());
    buf.push(VERSION_SIGNED);
    buf.extend_from_slice(entry.id.as_bytes());
    buf.extend_from_slice(&now.to_be_bytes());
    buf.extend_from_slice(&expires_at.to_be_bytes());
    let mut mac = per_key.mac.clone();
    mac.update(&buf);
    mac.update(json);
    buf.extend_from_slice(&mac.finalize().into_bytes());
    buf.extend_from_slice(json);
    Ok(B64.encode(&buf))
}

pub(crate) fn verify(codec: &Codec, raw: &[u8], now: u64) -> Result<Authentic> {
    let (header, rest) = raw
        .split_first_chunk::<SIGNED_HEADER_LEN>()
        .ok_or_else(|| Error::malformed("too short to be a signed value"))?;
    let (tag, json) = rest
        .split_first_chunk::<MAC_LEN>()
        .ok_or_else(|| Error::malformed("too short to be a signed value"))?;
    let (_, fields) = header.split_at(1);
    let (id, times) = fields.split_at(KEY_ID_LEN);
    let key_id = KeyId(id.try_into().map_err(|_| Error::malformed("bad key id"))?);
    let (index, _) = codec.ring.opener(key_id, now)?;
    let per_key = codec
        .per_key
        .get(index)
        .ok_or(Error::UnknownKey { key_id })?;
    let mut mac = per_key.mac.clone();
    mac.update(header);
    mac.update(json);
    mac.verify_slice(tag).map_err(|_| Error::Unauthenticated)?;
    let (issued, expires) = times.split_at(8);
    let issued_at = u64::from_be_bytes(issued.try_into().map_err(|_| Error::malformed("time"))?);
    let expires_at = u64::from_be_bytes(expires.try_into().map_err(|_| Error::malformed("time"))?);
    let max_age = expires_at
        .checked_sub(issued_at)
        .ok_or_else(|| Error::malformed("expires before it was issued"))?;
    codec.check_time(issued_at, max_age, now)?;
    Ok(Authentic {
        identity: None,
        json: Json::Range(SIGNED_JSON_OFFSET, raw.len()),
        key_id,
        issued_at,
        expires_at,
        reseal: codec.reseal_reason(key_id, issued_at, max_age, now),
    })
}
