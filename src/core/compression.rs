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
/// frame claims. The body must be exactly one frame yielding `len` bytes.
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
    // zstd decodes concatenated frames as one stream; the format allows
    // exactly one frame, so nothing may follow the first one (not even an
    // empty frame). The frame decoded, so its layout is known to be sound.
    if first_frame_len(frame) != Some(frame.len()) {
        return Err(Error::malformed("the zstd body holds more than one frame"));
    }
    Ok(())
}

/// The length of the first magicless zstd frame at the start of `input`
/// (RFC 8878 §3.1.1 without the magic number): frame header, blocks up to
/// the one marked last, then the checksum if the header announces one.
/// `None` when the frame is truncated or uses a reserved block type.
fn first_frame_len(input: &[u8]) -> Option<usize> {
    let &descriptor = input.first()?;
    let single_segment = descriptor & 0x20 != 0;
    let has_checksum = descriptor & 0x04 != 0;
    let dictionary_id_len = match descriptor & 0x03 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 4,
    };
    let content_size_len = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let window_descriptor_len = usize::from(!single_segment);
    let mut at = 1 + window_descriptor_len + dictionary_id_len + content_size_len;
    loop {
        let (&[b0, b1, b2], _) = input.get(at..)?.split_first_chunk::<3>()?;
        let block_header = u32::from(b0) | u32::from(b1) << 8 | u32::from(b2) << 16;
        let last = block_header & 1 != 0;
        let block_size = usize::try_from(block_header >> 3).ok()?;
        let content_len = match (block_header >> 1) & 0x03 {
            // Raw and compressed blocks carry block_size bytes.
            0 | 2 => block_size,
            // An RLE block carries the one byte it repeats.
            1 => 1,
            _ => return None,
        };
        at = at.checked_add(3 + content_len)?;
        if last {
            break;
        }
    }
    if has_checksum {
        at = at.checked_add(4)?;
    }
    (at <= input.len()).then_some(at)
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

    /// A magicless frame of `src` with the given header options.
    fn frame(src: &[u8], checksum: bool, content_size: bool) -> Vec<u8> {
        let mut cctx = new_cctx(3).unwrap();
        cctx.set_parameter(CParameter::ChecksumFlag(checksum))
            .unwrap();
        cctx.set_parameter(CParameter::ContentSizeFlag(content_size))
            .unwrap();
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(src.len()));
        cctx.compress2(&mut out, src).unwrap();
        out
    }

    #[test]
    fn first_frame_len_finds_the_end_of_every_kind_of_frame() {
        let noise: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let inputs: [&[u8]; 5] = [
            b"",
            b"a",
            &[b'z'; 300_000],
            &noise,
            br#"{"cart":[1,2,3],"user":{"id":7,"name":"a","roles":["b"]}}"#,
        ];
        for src in inputs {
            for checksum in [false, true] {
                for content_size in [false, true] {
                    let one = frame(src, checksum, content_size);
                    assert_eq!(first_frame_len(&one), Some(one.len()));
                    let mut two = one.clone();
                    two.extend_from_slice(&frame(b"", false, false));
                    assert_eq!(first_frame_len(&two), Some(one.len()));
                    assert_eq!(first_frame_len(&one[..one.len() - 1]), None);
                }
            }
        }
    }

    #[test]
    fn a_body_of_two_frames_is_malformed() {
        let json = br#"{"user":1,"note":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;
        let mut body = Vec::new();
        assert!(compress_into(json, 3, None, &mut body).unwrap());
        assert_eq!(decompress(&body, 1 << 16, None).unwrap(), json);
        body.extend_from_slice(&frame(b"", false, false));
        assert_eq!(
            decompress(&body, 1 << 16, None),
            Err(Error::malformed("the zstd body holds more than one frame"))
        );
    }
}
