//! The four compression codecs of Kafka record batches, with an output cap on every decoder.
//!
//! Each codec writes what the Java client writes and reads what the Java client (and
//! librdkafka) write:
//!
//! - gzip: an RFC 1952 stream (concatenated members are read too, as `GZIPInputStream` does).
//! - snappy: the xerial framing of snappy-java's `SnappyOutputStream` (a 16-byte header, then
//!   `[int32 length, raw snappy block]*` of at most 32 KiB input each); raw snappy is read too.
//! - lz4: one LZ4 frame with independent 64 KiB blocks and no content size or checksums, as
//!   `Lz4BlockOutputStream` writes it.
//! - zstd: a standard zstd frame.
//!
//! Decompression never trusts a size claimed by the input: output is produced incrementally and
//! stops with [`Error::DecompressionLimit`] as soon as it would exceed the caller's limit.
//! Malformed input is an [`Error::Compression`], never a panic.

mod lz4;
mod snappy;

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Error, Result};

/// A record batch compression codec (attribute bits 0-2 of a batch, or of a legacy message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1); levels 1 to 9, default 6 (Java's `Deflater.DEFAULT_COMPRESSION`).
    Gzip,
    /// snappy (id 2); no levels.
    Snappy,
    /// LZ4 frame (id 3); Java's levels 1 to 17 are accepted but this encoder has a single level.
    Lz4,
    /// zstd (id 4, record batches only); levels -131072 to 22, default 3.
    Zstd,
}

impl Compression {
    /// The codec for a batch attributes' codec id (the low three bits).
    pub fn from_id(id: u8) -> Result<Self> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(Error::UnknownCompression(other)),
        })
    }

    /// The codec id written in batch attributes.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name as Kafka spells it in `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn compress_err(codec: Compression, reason: impl std::fmt::Display) -> Error {
    Error::Compression { codec: codec.name(), operation: "compression", reason: reason.to_string() }
}

pub(crate) fn decompress_err(codec: Compression, reason: impl std::fmt::Display) -> Error {
    Error::Compression { codec: codec.name(), operation: "decompression", reason: reason.to_string() }
}

pub(crate) fn limit_err(codec: Compression, limit: usize) -> Error {
    Error::DecompressionLimit { codec: codec.name(), limit }
}

/// Compresses `input` with `codec` and appends the result to `out`.
///
/// `level` is the codec's level as Kafka's `compression.<codec>.level` takes it; `None` picks
/// the codec's default. A level outside the codec's range is an error. Snappy has no levels,
/// and LZ4 has one level here (any level Java accepts, 1 to 17, is taken). With
/// [`Compression::None`] the input is appended unchanged.
pub fn compress(codec: Compression, level: Option<i32>, input: &[u8], out: &mut BytesMut) -> Result<()> {
    match codec {
        Compression::None => {
            out.put_slice(input);
            Ok(())
        }
        Compression::Gzip => {
            let level = match level {
                None => 6,
                Some(l @ 1..=9) => l as u32,
                Some(l) => return Err(compress_err(codec, format_args!("level {l} is outside 1..=9"))),
            };
            let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::new(level));
            enc.write_all(input).map_err(|e| compress_err(codec, e))?;
            enc.finish().map_err(|e| compress_err(codec, e))?;
            Ok(())
        }
        Compression::Snappy => snappy::compress_xerial(input, out),
        Compression::Lz4 => {
            match level {
                Some(l) if !(1..=17).contains(&l) => {
                    return Err(compress_err(codec, format_args!("level {l} is outside 1..=17")));
                }
                _ => {}
            }
            lz4::compress_frame(input, out);
            Ok(())
        }
        Compression::Zstd => {
            let level = level.unwrap_or(3);
            if !zstd::compression_level_range().contains(&level) {
                return Err(compress_err(codec, format_args!("level {level} is outside the zstd range")));
            }
            zstd_compress(level, input, out).map_err(|e| compress_err(codec, e))
        }
    }
}

thread_local! {
    /// A zstd compression context per thread, kept for its level: creating one per batch (its
    /// tables and window) cost more than compressing a 16 KiB batch.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// A zstd decompression context per thread (see `ZSTD`).
    static UNZSTD: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The usual case in one call on a reused context: a frame whose header gives its content
/// size, within `limit`, that decompresses to exactly that size. `None` for anything else
/// (unknown size, several frames, damage): the streaming decoder then reads it under the cap
/// and reports the error.
fn zstd_decompress_known_size(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let size = usize::try_from(zstd::zstd_safe::get_frame_content_size(input).ok()??).ok()?;
    if size > limit || size > MAX_RESERVE {
        return None;
    }
    UNZSTD.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match &mut *cell {
            Some(d) => d,
            slot => slot.insert(zstd::bulk::Decompressor::new().ok()?),
        };
        let mut out = Vec::with_capacity(size);
        match decompressor.decompress_to_buffer(input, &mut out) {
            Ok(n) if n == size => Some(out),
            _ => None,
        }
    })
}

/// One zstd frame of `input` (content size in its header) appended to `out`.
fn zstd_compress(level: i32, input: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
    ZSTD.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match &mut *cell {
            Some((l, c)) if *l == level => c,
            slot => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        let start = out.len();
        out.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
        match compressor.compress_to_buffer(input, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    })
}

/// Decompresses `input`, producing at most `limit` bytes.
///
/// Output beyond `limit` is [`Error::DecompressionLimit`]; malformed input is
/// [`Error::Compression`]. With [`Compression::None`] the input is copied (subject to the same
/// cap).
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Bytes> {
    decompress_inner(codec, input, limit, false)
}

/// [`decompress`], with the one quirk of magic-0 legacy messages: their LZ4 frames carry a
/// header checksum computed the wrong way (over the magic number too), which Java ignores.
pub(crate) fn decompress_inner(
    codec: Compression,
    input: &[u8],
    limit: usize,
    lz4_ignore_header_checksum: bool,
) -> Result<Bytes> {
    let out = match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(limit_err(codec, limit));
            }
            input.to_vec()
        }
        Compression::Gzip => {
            read_capped(codec, flate2::read::MultiGzDecoder::new(input), gzip_size_hint(input), limit)?
        }
        Compression::Snappy => snappy::decompress(input, limit)?,
        Compression::Lz4 => lz4::decompress_frame(input, limit, lz4_ignore_header_checksum)?,
        Compression::Zstd => match zstd_decompress_known_size(input, limit) {
            Some(out) => out,
            None => {
                let dec =
                    zstd::stream::read::Decoder::with_buffer(input).map_err(|e| decompress_err(codec, e))?;
                read_capped(codec, dec, zstd_size_hint(input), limit)?
            }
        },
    };
    Ok(Bytes::from(out))
}

/// The most output a hint may reserve up front; larger outputs grow as data arrives.
const MAX_RESERVE: usize = 8 << 20;

/// The decompressed size a gzip stream announces in its trailer (ISIZE, the size modulo
/// 2^32 of its last member), bounded by deflate's best ratio (1032:1) so a forged trailer
/// cannot reserve more than the input could produce; else a guess of 4× the input.
fn gzip_size_hint(input: &[u8]) -> usize {
    match input.len().checked_sub(4).map(|at| &input[at..]) {
        Some(t) if input.len() >= 18 => {
            let isize = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
            isize.min(input.len().saturating_mul(1032))
        }
        _ => input.len().saturating_mul(4),
    }
}

/// The content size a zstd frame header announces (the producer side writes it), else 4× the
/// input. Only a reservation: the output is still read under the cap.
fn zstd_size_hint(input: &[u8]) -> usize {
    match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        _ => input.len().saturating_mul(4),
    }
}

/// Reads a decoder to its end, never holding more than `limit + 1` bytes of output.
/// `size_hint` (the expected output size) only sizes the first reservation.
fn read_capped(codec: Compression, reader: impl Read, size_hint: usize, limit: usize) -> Result<Vec<u8>> {
    // One spare byte so that a stream of exactly the hinted size ends without regrowing.
    let reserve = size_hint.saturating_add(1).min(limit.saturating_add(1)).min(MAX_RESERVE);
    let mut out = Vec::with_capacity(reserve);
    reader
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| decompress_err(codec, e))?;
    if out.len() > limit {
        return Err(limit_err(codec, limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial: a repeating text with a counter.
        let mut v = Vec::with_capacity(n);
        let mut i = 0u32;
        while v.len() < n {
            v.extend_from_slice(format!("record-{i} some payload text ").as_bytes());
            i = i.wrapping_mul(31).wrapping_add(7) % 1000;
        }
        v.truncate(n);
        v
    }

    #[test]
    fn ids_and_names_round_trip() {
        for c in ALL {
            assert_eq!(Compression::from_id(c.id()).unwrap(), c);
        }
        assert_eq!(Compression::Zstd.id(), 4);
        assert_eq!(Compression::Lz4.name(), "lz4");
        assert_eq!(Compression::from_id(5), Err(Error::UnknownCompression(5)));
    }

    #[test]
    fn every_codec_round_trips_small_empty_and_multi_block_inputs() {
        for c in ALL {
            for n in [0, 1, 100, 32 * 1024, 65 * 1024, 300 * 1024 + 17] {
                let input = sample(n);
                let mut out = BytesMut::new();
                compress(c, None, &input, &mut out).unwrap();
                let back = decompress(c, &out, n).unwrap();
                assert_eq!(back.as_ref(), &input[..], "{c} n={n}");
            }
        }
    }

    #[test]
    fn incompressible_input_round_trips() {
        // A pseudo-random sequence: LZ4 and snappy store blocks raw.
        let mut x = 0x1234_5678u32;
        let input: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for c in ALL {
            let mut out = BytesMut::new();
            compress(c, None, &input, &mut out).unwrap();
            assert_eq!(decompress(c, &out, input.len()).unwrap().as_ref(), &input[..], "{c}");
        }
    }

    #[test]
    fn levels_are_validated_and_used() {
        let input = sample(100_000);
        let mut a = BytesMut::new();
        let mut b = BytesMut::new();
        compress(Compression::Gzip, Some(1), &input, &mut a).unwrap();
        compress(Compression::Gzip, Some(9), &input, &mut b).unwrap();
        assert_ne!(a, b);
        assert!(compress(Compression::Gzip, Some(10), &input, &mut a).is_err());
        assert!(compress(Compression::Gzip, Some(0), &input, &mut a).is_err());
        assert!(compress(Compression::Lz4, Some(18), &input, &mut a).is_err());
        assert!(compress(Compression::Zstd, Some(23), &input, &mut a).is_err());
        let mut z = BytesMut::new();
        compress(Compression::Zstd, Some(19), &input, &mut z).unwrap();
        assert_eq!(decompress(Compression::Zstd, &z, input.len()).unwrap().as_ref(), &input[..]);
    }

    /// 10 MB of zeros compress to a few KB; a 1 MB cap must stop every codec.
    #[test]
    fn decompression_bomb_is_capped_for_every_codec() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        for c in ALL {
            let mut out = BytesMut::new();
            compress(c, None, &zeros, &mut out).unwrap();
            let err = decompress(c, &out, 1024 * 1024).unwrap_err();
            assert_eq!(err, Error::DecompressionLimit { codec: c.name(), limit: 1024 * 1024 }, "{c}");
            // The exact size passes.
            assert_eq!(decompress(c, &out, zeros.len()).unwrap().len(), zeros.len(), "{c}");
            // One byte less does not.
            assert!(matches!(decompress(c, &out, zeros.len() - 1), Err(Error::DecompressionLimit { .. })));
        }
        // Raw snappy claims its size up front: the claim alone is refused.
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert!(matches!(
            decompress(Compression::Snappy, &raw, 1024 * 1024),
            Err(Error::DecompressionLimit { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            for input in [&b""[..], b"\x00", b"hello world, this is not compressed", &[0xff; 64]] {
                match decompress(c, input, 1 << 20) {
                    Err(Error::Compression { .. }) => {}
                    // Raw snappy of an empty or tiny buffer may legitimately decode.
                    Ok(_) if c == Compression::Snappy => {}
                    other => panic!("{c} {input:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let input = sample(50_000);
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let mut out = BytesMut::new();
            compress(c, None, &input, &mut out).unwrap();
            for cut in [out.len() / 2, out.len() - 1] {
                assert!(decompress(c, &out[..cut], 1 << 20).is_err(), "{c} cut at {cut}");
            }
        }
    }

    #[test]
    fn zstd_frames_carry_their_content_size_and_the_reused_context_follows_the_level() {
        let input = sample(20_000);
        let mut sizes = Vec::new();
        for level in [3, 3, 19, 1, 3] {
            let mut out = BytesMut::new();
            out.put_slice(b"head");
            compress(Compression::Zstd, Some(level), &input, &mut out).unwrap();
            assert_eq!(&out[..4], b"head", "appended after what was there");
            let frame = &out[4..];
            assert_eq!(zstd::zstd_safe::get_frame_content_size(frame).unwrap(), Some(input.len() as u64));
            assert_eq!(
                decompress(Compression::Zstd, frame, input.len()).unwrap(),
                &input[..],
                "level {level}"
            );
            sizes.push(frame.len());
        }
        assert_eq!(sizes[0], sizes[1], "the same level gives the same frame");
        assert_eq!(sizes[0], sizes[4], "back at level 3 after other levels");
        assert!(sizes[2] != sizes[0] && sizes[3] != sizes[0], "other levels, other frames: {sizes:?}");
    }

    #[test]
    fn zstd_input_the_one_call_path_cannot_take_goes_through_the_streaming_decoder() {
        let (a, b) = (sample(3000), sample(5000));
        let (mut fa, mut fb) = (BytesMut::new(), BytesMut::new());
        compress(Compression::Zstd, None, &a, &mut fa).unwrap();
        compress(Compression::Zstd, None, &b, &mut fb).unwrap();
        // two frames back to back: the first header's size is not the whole output
        let both = [&fa[..], &fb[..]].concat();
        assert_eq!(zstd_decompress_known_size(&both, 1 << 20), None);
        let out = decompress(Compression::Zstd, &both, 1 << 20).unwrap();
        assert_eq!(out, [a.as_slice(), b.as_slice()].concat());
        // a frame announcing more than the cap: refused before any allocation of that size
        assert_eq!(zstd_decompress_known_size(&fb, 4999), None);
        assert!(matches!(decompress(Compression::Zstd, &fb, 4999), Err(Error::DecompressionLimit { .. })));
        // the usual single frame takes the one-call path
        assert_eq!(zstd_decompress_known_size(&fb, 1 << 20).as_deref(), Some(b.as_slice()));
    }
}
