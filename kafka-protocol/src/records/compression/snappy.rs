//! Snappy, in the xerial framing that snappy-java's `SnappyOutputStream` writes.
//!
//! ```text
//! header: 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 | int32 version (1) | int32 compatible version (1)
//! chunks: [int32 compressed length | raw snappy block of at most 32 KiB input]*
//! ```
//!
//! All integers are big-endian. snappy-java's `SnappyInputStream` also reads a stream without
//! the header as one raw snappy block, and a header repeated mid-stream (concatenated streams);
//! so does [`decompress`].

use bytes::{BufMut, BytesMut};

use super::{Compression, decompress_err, limit_err};
use crate::Result;

const CODEC: Compression = Compression::Snappy;

/// The xerial magic: 0x82, "SNAPPY", 0.
pub(super) const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size (`SnappyOutputStream`'s `DEFAULT_BLOCK_SIZE`).
const XERIAL_BLOCK: usize = 32 * 1024;

/// Snappy expands at most ~21x (a 3-byte copy yields 64 bytes); a raw block that claims more is
/// corrupt, whatever the cap, so its claim is refused before anything is allocated.
const MAX_EXPANSION: usize = 24;

/// Appends `input` to `out` in the xerial framing.
pub(super) fn compress_xerial(input: &[u8], out: &mut BytesMut) -> Result<()> {
    out.reserve(XERIAL_HEADER_LEN + snap::raw::max_compress_len(input.len().min(XERIAL_BLOCK)));
    out.put_slice(&XERIAL_MAGIC);
    out.put_i32(1); // version
    out.put_i32(1); // minimum compatible version
    let mut enc = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK) {
        let len_at = out.len();
        out.put_i32(0);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
        let n = enc.compress(chunk, &mut out[start..]).map_err(|e| super::compress_err(CODEC, e))?;
        out.truncate(start + n);
        out[len_at..start].copy_from_slice(&(n as i32).to_be_bytes());
    }
    Ok(())
}

/// Decompresses xerial-framed or raw snappy, producing at most `limit` bytes.
pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dec = snap::raw::Decoder::new();
    if !input.starts_with(&XERIAL_MAGIC) {
        raw_block(&mut dec, input, &mut out, limit)?;
        return Ok(out);
    }
    let mut rest = input;
    while !rest.is_empty() {
        if rest.starts_with(&XERIAL_MAGIC) {
            // The stream header (versions are not checked: snappy-java writes 1 and 1 and has
            // never changed the format), possibly repeated by a concatenated stream.
            if rest.len() < XERIAL_HEADER_LEN {
                return Err(decompress_err(CODEC, "truncated xerial header"));
            }
            rest = &rest[XERIAL_HEADER_LEN..];
            continue;
        }
        if rest.len() < 4 {
            return Err(decompress_err(CODEC, "truncated xerial chunk length"));
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        if len < 0 || len as usize > rest.len() {
            return Err(decompress_err(
                CODEC,
                format_args!("xerial chunk length {len} with {} bytes left", rest.len()),
            ));
        }
        let (chunk, tail) = rest.split_at(len as usize);
        raw_block(&mut dec, chunk, &mut out, limit)?;
        rest = tail;
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto `out`, refusing any claim that would pass `limit` or
/// that the block's size cannot justify.
fn raw_block(dec: &mut snap::raw::Decoder, block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let claimed = snap::raw::decompress_len(block).map_err(|e| decompress_err(CODEC, e))?;
    if claimed > limit - out.len() {
        return Err(limit_err(CODEC, limit));
    }
    if claimed > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(decompress_err(
            CODEC,
            format_args!("block of {} bytes claims {claimed} bytes", block.len()),
        ));
    }
    let start = out.len();
    out.resize(start + claimed, 0);
    let n = dec.decompress(block, &mut out[start..]).map_err(|e| decompress_err(CODEC, e))?;
    out.truncate(start + n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_xerial_header_snappy_java_expects() {
        let mut out = BytesMut::new();
        compress_xerial(b"hello hello hello hello", &mut out).unwrap();
        assert_eq!(&out[..8], &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0]);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let chunk_len = i32::from_be_bytes(out[16..20].try_into().unwrap()) as usize;
        assert_eq!(chunk_len, out.len() - 20);
        // The chunk is plain raw snappy.
        let raw = snap::raw::Decoder::new().decompress_vec(&out[20..]).unwrap();
        assert_eq!(raw, b"hello hello hello hello");
    }

    #[test]
    fn splits_input_into_32k_chunks() {
        let input = vec![7u8; 70 * 1024];
        let mut out = BytesMut::new();
        compress_xerial(&input, &mut out).unwrap();
        let mut rest = &out[16..];
        let mut chunks = 0;
        while !rest.is_empty() {
            let n = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let raw = snap::raw::Decoder::new().decompress_vec(&rest[4..4 + n]).unwrap();
            assert!(raw.len() <= 32 * 1024);
            rest = &rest[4 + n..];
            chunks += 1;
        }
        assert_eq!(chunks, 3);
    }

    #[test]
    fn reads_raw_snappy_and_concatenated_xerial_streams() {
        let raw = snap::raw::Encoder::new().compress_vec(b"raw block").unwrap();
        assert_eq!(decompress(&raw, 100).unwrap(), b"raw block");

        let mut a = BytesMut::new();
        compress_xerial(b"first;", &mut a).unwrap();
        compress_xerial(b"second", &mut a).unwrap();
        assert_eq!(decompress(&a, 100).unwrap(), b"first;second");
    }

    #[test]
    fn lying_size_claims_are_refused() {
        // A raw block claiming 1 GB in three bytes: varint 0x80 0x80 0x80 0x80 0x04.
        let bogus = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00];
        assert!(matches!(decompress(&bogus, 2 << 30), Err(crate::Error::Compression { .. })));
        assert!(matches!(decompress(&bogus, 1 << 20), Err(crate::Error::DecompressionLimit { .. })));
    }
}
