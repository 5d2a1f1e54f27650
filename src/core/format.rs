//! Wire format v1: the byte layout of a sealed value, in one place.
//!
//! FORMAT.md describes the same layout for implementers in other languages.
//! Every constant here must agree with FORMAT.md and with the fixed vectors in
//! `tests/format_vectors.rs`: change one and the others must change with it,
//! together with the version byte.
//!
//! ```text
//! value     = base64url-nopad( header || ciphertext || tag )
//! header    = version (1, 0x01) || key_id (4) || nonce (24)
//! aad       = version || key_id || cookie name (UTF-8)   (no nonce: it is
//!             bound through the XAES key derivation and the GCM nonce)
//! plaintext = flags (1) || varint issued_at || varint max_age
//!             [|| identity when flags & 0x08] || body
//!             [|| 0x80 || 0x00* when flags & 0x04]
//! identity  = session_id (16) || varint age
//!             [|| origin key_id (4) unless flags & 0x20]
//!             [|| subject_len (1) || subject when flags & 0x10]
//! body      = json                            (flags & 0x03 == 0)
//!           | varint json_len || zstd frame   (flags & 0x03 == 1, magicless)
//!           | dict_id (4) || varint json_len || zstd frame with that dictionary
//!                                             (flags & 0x03 == 2)
//! ```
//!
//! A zstd body is exactly one frame (`compression.rs` rejects a second one).
//! The rules the layout does not show (accepted frame headers, padding
//! length, JSON limits, size limits, chunking) are in FORMAT.md and checked
//! by `tests/format_rules.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// The base64 flavour of every value and key: URL-safe alphabet, no padding,
/// canonical (non-zero trailing bits rejected).
pub(crate) const B64: base64::engine::GeneralPurpose = URL_SAFE_NO_PAD;

/// Version byte of a sealed (encrypted) value.
pub(crate) const VERSION_SEALED: u8 = 0x01;
/// Version byte of a signed-only value (see `signed.rs`).
pub(crate) const VERSION_SIGNED: u8 = 0x02;

/// Length of a key: XAES-256-GCM takes 256-bit keys.
pub const KEY_LEN: usize = 32;
/// Length of a key id on the wire.
pub(crate) const KEY_ID_LEN: usize = 4;
/// XAES-256-GCM nonce length (192 bits).
pub const NONCE_LEN: usize = 24;
/// GCM tag length; always the full 16 bytes, never truncated.
pub(crate) const TAG_LEN: usize = 16;
/// version || key id || nonce.
pub(crate) const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// The shortest plaintext: flags plus two one-byte varints.
pub(crate) const MIN_PLAINTEXT_LEN: usize = 3;
/// The shortest possible sealed value in bytes (before base64).
pub(crate) const MIN_SEALED_LEN: usize = HEADER_LEN + MIN_PLAINTEXT_LEN + TAG_LEN;

/// Flags byte: how the body is stored.
pub(crate) const FLAG_COMPRESSION_MASK: u8 = 0b0000_0011;
pub(crate) const FLAG_BODY_JSON: u8 = 0;
pub(crate) const FLAG_BODY_ZSTD: u8 = 1;
/// Body is `dictionary id (4) || varint json_len || zstd frame` compressed
/// against that dictionary.
pub(crate) const FLAG_BODY_ZSTD_DICT: u8 = 2;
/// Flags byte: the body is followed by 0x80 and zero or more 0x00 bytes.
pub(crate) const FLAG_PADDED: u8 = 0b0000_0100;
/// Flags byte: an identity block follows the two varints (FORMAT.md,
/// "Identity").
pub(crate) const FLAG_IDENTITY: u8 = 0b0000_1000;
/// Flags byte: the identity block ends with a subject (only with
/// `FLAG_IDENTITY`).
pub(crate) const FLAG_SUBJECT: u8 = 0b0001_0000;
/// Flags byte: the identity block has no origin key id, because the origin
/// is the key that sealed this value (the key id in the header); only with
/// `FLAG_IDENTITY`. Saves 4 bytes on every value of a session that has not
/// outlived a key rotation.
pub(crate) const FLAG_ORIGIN_IS_SEALER: u8 = 0b0010_0000;
/// Flags byte: the session is bound to a device key (DBSC) and opens on a
/// request only with a valid bound cookie; only with `FLAG_IDENTITY`. No
/// bytes of its own.
pub(crate) const FLAG_BOUND: u8 = 0b0100_0000;
/// Every other bit is reserved and must be zero.
pub(crate) const FLAG_KNOWN: u8 = FLAG_COMPRESSION_MASK
    | FLAG_PADDED
    | FLAG_IDENTITY
    | FLAG_SUBJECT
    | FLAG_ORIGIN_IS_SEALER
    | FLAG_BOUND;

/// The public part of a sealed value, readable without any key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub(crate) version: u8,
    pub(crate) key_id: [u8; KEY_ID_LEN],
    pub(crate) nonce: &'a [u8; NONCE_LEN],
}

/// Splits raw sealed bytes into header, ciphertext and tag.
pub(crate) fn split_sealed(raw: &[u8]) -> Result<(Header<'_>, &[u8], &[u8; TAG_LEN])> {
    if raw.len() < MIN_SEALED_LEN {
        return Err(Error::malformed("too short to be a sealed value"));
    }
    let (header, rest) = raw.split_at(HEADER_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let header = parse_header(header)?;
    let tag = tag
        .try_into()
        .map_err(|_| Error::malformed("bad tag length"))?;
    Ok((header, ciphertext, tag))
}

/// Reads version, key id and nonce from the first `HEADER_LEN` bytes.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header<'_>> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or_else(|| Error::malformed("empty value"))?;
    if version != VERSION_SEALED {
        return Err(Error::malformed("unknown format version"));
    }
    let (key_id, rest) = rest
        .split_first_chunk::<KEY_ID_LEN>()
        .ok_or_else(|| Error::malformed("truncated header"))?;
    let (nonce, _) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(|| Error::malformed("truncated header"))?;
    Ok(Header {
        version,
        key_id: *key_id,
        nonce,
    })
}

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads an unsigned LEB128 varint of at most 10 bytes, canonical (no
/// redundant trailing zero groups) and within `u64`.
pub(crate) fn take_varint(input: &[u8]) -> Result<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let group = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return Err(Error::malformed("varint overflows 64 bits"));
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(Error::malformed("non-canonical varint"));
            }
            let rest = input.get(i + 1..).unwrap_or(&[]);
            return Ok((value, rest));
        }
    }
    Err(Error::malformed("truncated varint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_edges() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            buf.push(0xAA);
            let (back, rest) = take_varint(&buf).unwrap();
            assert_eq!(back, v);
            assert_eq!(rest, &[0xAA]);
        }
    }

    #[test]
    fn varint_rejects_bad_encodings() {
        assert!(take_varint(&[]).is_err());
        assert!(take_varint(&[0x80]).is_err());
        assert!(take_varint(&[0x80, 0x00]).is_err());
        assert!(take_varint(&[0xff; 10]).is_err());
        assert!(
            take_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err()
        );
    }
}
