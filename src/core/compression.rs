//! Body compression: zstd in its magicless frame format, with compression
//! contexts reused per thread.
//!
//! zstd was chosen by measurement on realistic session payloads (see
//! BENCHMARKS.md). The frame omits the magic number, checksum, dictionary id
//! and content size: the AEAD tag already guarantees integrity, and the
//! uncompressed length is written in front of the frame instead, so the bound
//! on decompressed size is checked before any decompression starts.

use std::cell::RefCell;
use std::thread::LocalKey;

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, FrameFormat};

use crate::core::dictionary::Dictionary;
use crate::core::format::{put_varint, take_varint};
use crate::error::{Error, Result};

/// How session bodies are compressed.
///
/// ```
/// use sealed_session::Compression;
/// assert_eq!(Compression::default(), Compression::Zstd { level: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Never compress. Use it for sessions that mix secrets with data an
    /// attacker can influence, to close the compression length side channel
    /// (SECURITY.md).
    Off,
    /// zstd at this level (1 to 19), used only when it makes the value
    /// shorter.
    Zstd {
        /// zstd compression level.
        level: i32,
    },
}

impl Compression {
    /// The default: zstd level 1. Measured on realistic sessions (see
    /// BENCHMARKS.md), levels 1 and 3 give the same ratio on cookie-sized
    /// JSON, and level 1 compresses 12-27% faster.
    ///
    /// ```
    /// assert_eq!(sealed_session::Compression::DEFAULT, Default::default());
    /// ```
    pub const DEFAULT: Compression = Compression::Zstd { level: 1 };
}

impl Default for Compression {
    fn default() -> Self {
        Compression::DEFAULT
    }
}

/// Below this many bytes of JSON, compression never pays for its framing.
pub(crate) const MIN_COMPRESS_LEN: usize = 64;

thread_local! {
    static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

fn new_cctx(level: i32) -> Result<CCtx<'static>> {
    let mut cctx = CCtx::create();
    let ok = [
        CParameter::Format(FrameFormat::Magicless),
        CParameter::ContentSizeFlag(false),
        CParameter::ChecksumFlag(false),
        CParameter::DictIdFlag(false),
        CParameter::CompressionLevel(level),
    ]
    .into_iter()
    .all(|p| cctx.set_parameter(p).is_ok());
    if ok {
        Ok(cctx)
    } else {
        Err(Error::config(
            "zstd rejected the compression settings: use a level between 1 and 19",
        ))
    }
}

fn new_dctx() -> Result<DCtx<'static>> {
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::Format(FrameFormat::Magicless))
        .map_err(|_| Error::Decompression)?;
    Ok(dctx)
}

/// Runs `f` with the thread's zstd context in `key` (created on first use, or
/// a fresh one when a re-entrant call holds it). `f` returns its result and
/// whether the context may be kept: one that could not release a dictionary
/// is dropped rather than reused.
fn with_context<C, R>(
    key: &'static LocalKey<RefCell<Option<C>>>,
    create: impl FnOnce() -> Result<C>,
    f: impl FnOnce(&mut C) -> (Result<R>, bool),
) -> Result<R> {
    key.with(|cell| {
        let mut fallback = None;
        let mut guard = cell.try_borrow_mut().ok();
        let slot = guard.as_deref_mut().unwrap_or(&mut fallback);
        let context = match slot {
            Some(context) => context,
            None => slot.insert(create()?),
        };
        let (result, keep) = f(context);
        if !keep {
            *slot = None;
        }
        result
    })
}

/// Appends `varint(src.len()) || zstd frame` to `out` and returns true, or
/// leaves `out` unchanged and returns false when that would not be shorter
/// than `src` itself. With a dictionary, the frame is compressed against it.
pub(crate) fn compress_into(
    src: &[u8],
    level: i32,
    dict: Option<&Dictionary>,
    out: &mut Vec<u8>,
) -> Result<bool> {
    let start = out.len();
    put_varint(out, src.len() as u64);
    let body = out.len();
    out.resize(body + zstd_safe::compress_bound(src.len()), 0);
    let dst = out.get_mut(body..).unwrap_or(&mut []);
    let written = with_context(
        &CCTX,
        || new_cctx(level),
        |cctx| {
            if cctx
                .set_parameter(CParameter::CompressionLevel(level))
                .is_err()
            {
                return (
                    Err(Error::config(
                        "zstd compression level must be between 1 and 19",
                    )),
                    true,
                );
            }
            // The context is thread-local and outlives any codec, so a dictionary
            // is referenced only for the duration of one call and always released.
            if let Some(dict) = dict {
                if cctx.ref_cdict(dict.cdict()).is_err() {
                    let err = Error::config("zstd rejected the compression dictionary");
                    return (Err(err), cctx.disable_dictionary().is_ok());
                }
            }
            let result = cctx
                .compress2(dst, src)
                .map_err(|_| Error::config("zstd failed to compress the session"));
            (result, dict.is_none() || cctx.disable_dictionary().is_ok())
        },
    )?;
    if body - start + written < src.len() {
        out.truncate(body + written);
        Ok(true)
    } else {
        out.truncate(start);
        Ok(false)
    }
}

/// Reads `varint(len) || zstd frame` and decompresses it (against `dict` when
/// given) into `out`, refusing before any work when `len` exceeds `max`.
/// zstd writes into exactly `len` bytes, so the bound holds whatever the
/// frame claims.
pub(crate) fn decompress_into(
    input: &[u8],
    max: usize,
    dict: Option<&Dictionary>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let (len, frame) = take_varint(input)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max {
        return Err(Error::TooLarge {
            what: "decompressed session",
            size: len,
            limit: max,
        });
    }
    out.clear();
    out.resize(len, 0);
    let written = with_context(&DCTX, new_dctx, |dctx| {
        if let Some(dict) = dict {
            if dctx.ref_ddict(dict.ddict()).is_err() {
                return (Err(Error::Decompression), dctx.disable_dictionary().is_ok());
            }
        }
        let result = dctx
            .decompress(out.as_mut_slice(), frame)
            .map_err(|_| Error::Decompression);
        (result, dict.is_none() || dctx.disable_dictionary().is_ok())
    })?;
    if written != len {
        return Err(Error::Decompression);
    }
    Ok(())
}

#[cfg(test)]
fn decompress(input: &[u8], max: usize, dict: Option<&Dictionary>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress_into(input, max, dict, &mut out).map(|()| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_repetitive_json_and_round_trips() {
        let json = br#"{"cart":[{"sku":1,"title":"a long product title"},{"sku":2,"title":"a long product title"}]}"#.repeat(4);
        let mut out = Vec::new();
        assert!(compress_into(&json, 3, None, &mut out).unwrap());
        assert!(out.len() < json.len());
        assert_eq!(decompress(&out, 1 << 16, None).unwrap(), json);
    }

    #[test]
    fn refuses_incompressible_input() {
        let noise: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut out = vec![9u8];
        assert!(!compress_into(&noise, 3, None, &mut out).unwrap());
        assert_eq!(out, vec![9u8]);
    }

    #[test]
    fn bound_is_checked_before_decompressing() {
        let json = vec![b'a'; 100_000];
        let mut out = Vec::new();
        assert!(compress_into(&json, 3, None, &mut out).unwrap());
        assert_eq!(
            decompress(&out, 65_536, None),
            Err(Error::TooLarge {
                what: "decompressed session",
                size: 100_000,
                limit: 65_536
            })
        );
    }

    #[test]
    fn lying_length_prefix_is_rejected() {
        let json = vec![b'a'; 1000];
        let mut out = Vec::new();
        assert!(compress_into(&json, 3, None, &mut out).unwrap());
        // Claim 999 bytes: the frame does not fit.
        let mut lie = Vec::new();
        put_varint(&mut lie, 999);
        lie.extend_from_slice(out.get(2..).unwrap());
        assert_eq!(decompress(&lie, 65_536, None), Err(Error::Decompression));
    }
}
