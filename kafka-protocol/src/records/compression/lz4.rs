//! The LZ4 frame format as Kafka uses it (Java's `Lz4BlockOutputStream` / `Lz4BlockInputStream`).
//!
//! ```text
//! magic 0x184D2204 (LE) | FLG | BD | [content size u64 LE, if FLG bit 3] | HC
//! blocks: [u32 LE size (bit 31 set = stored uncompressed) | data | [xxh32, if FLG bit 4]]*
//! end mark: u32 0 | [content checksum, if FLG bit 2]
//! ```
//!
//! Written: FLG 0x60 (version 1, independent blocks, no checksums, no content size), BD 0x40
//! (64 KiB blocks), HC = second byte of xxHash32(FLG, BD); a block that does not shrink is
//! stored raw. Read: what Java reads. Version 1 only, independent blocks only, block sizes
//! 64 KiB to 4 MiB; a block checksum is verified, a content checksum is skipped (as in Java);
//! bytes after the end mark are ignored. Magic-0 legacy messages carry an HC computed over the
//! magic number too (an old Kafka bug); Java ignores their HC, and so does `ignore_hc`.

use bytes::{BufMut, BytesMut};

use super::{Compression, decompress_err, limit_err};
use crate::Result;

const CODEC: Compression = Compression::Lz4;
const MAGIC: u32 = 0x184D_2204;
const FLG_VERSION_1: u8 = 0x40;
const FLG_BLOCK_INDEPENDENCE: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
/// 64 KiB blocks (block size id 4), what Java writes.
const BD_64K: u8 = 4 << 4;
const BLOCK_64K: usize = 64 * 1024;
const UNCOMPRESSED_BIT: u32 = 0x8000_0000;

/// Appends `input` to `out` as one LZ4 frame with independent 64 KiB blocks.
pub(super) fn compress_frame(input: &[u8], out: &mut BytesMut) {
    let flg = FLG_VERSION_1 | FLG_BLOCK_INDEPENDENCE;
    out.reserve(7 + input.len() + input.len() / 255 + 16);
    out.put_u32_le(MAGIC);
    out.put_u8(flg);
    out.put_u8(BD_64K);
    out.put_u8(header_checksum(&[flg, BD_64K]));
    for block in input.chunks(BLOCK_64K) {
        // room for this block's worst case (not a whole 64 KiB block's: zeroed on every call)
        let max = lz4_flex::block::get_maximum_output_size(block.len());
        let len_at = out.len();
        out.put_u32_le(0);
        let start = out.len();
        out.resize(start + max, 0);
        let size = match lz4_flex::block::compress_into(block, &mut out[start..]) {
            Ok(n) if n < block.len() => n as u32,
            // Stored raw when compression does not help (Java's rule), or (never expected,
            // the buffer is sized for the worst case) when the compressor fails.
            _ => {
                out[start..start + block.len()].copy_from_slice(block);
                block.len() as u32 | UNCOMPRESSED_BIT
            }
        };
        out.truncate(start + (size & !UNCOMPRESSED_BIT) as usize);
        out[len_at..start].copy_from_slice(&size.to_le_bytes());
    }
    out.put_u32_le(0); // end mark
}

fn header_checksum(descriptor: &[u8]) -> u8 {
    (xxh32(descriptor, 0) >> 8) as u8
}

/// Decompresses one LZ4 frame, producing at most `limit` bytes.
pub(super) fn decompress_frame(input: &[u8], limit: usize, ignore_hc: bool) -> Result<Vec<u8>> {
    let err = |reason: &str| decompress_err(CODEC, reason);
    if input.len() < 7 {
        return Err(err("truncated frame header"));
    }
    if u32::from_le_bytes([input[0], input[1], input[2], input[3]]) != MAGIC {
        return Err(err("not an LZ4 frame (bad magic)"));
    }
    let flg = input[4];
    let bd = input[5];
    if flg & 0xc0 != FLG_VERSION_1 {
        return Err(err("unsupported frame version"));
    }
    if flg & 0x03 != 0 || bd & 0x8f != 0 {
        return Err(err("reserved bits set in the frame descriptor"));
    }
    if flg & FLG_BLOCK_INDEPENDENCE == 0 {
        return Err(err("dependent blocks are not supported (Kafka writes independent blocks)"));
    }
    let size_id = (bd >> 4) & 0x07;
    if size_id < 4 {
        return Err(err("invalid block maximum size"));
    }
    let max_block = 1usize << (2 * size_id as usize + 8);
    let mut pos = 6;
    if flg & FLG_CONTENT_SIZE != 0 {
        pos += 8;
    }
    if input.len() < pos + 1 {
        return Err(err("truncated frame header"));
    }
    if !ignore_hc && input[pos] != header_checksum(&input[4..pos]) {
        return Err(err("frame descriptor checksum mismatch"));
    }
    pos += 1;

    let mut out = Vec::new();
    loop {
        let Some(word) = input.get(pos..pos + 4) else {
            return Err(err("truncated frame (no end mark)"));
        };
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        pos += 4;
        let size = (word & !UNCOMPRESSED_BIT) as usize;
        if size == 0 {
            // End mark. The content checksum, if any, must be there; Java does not verify it.
            if flg & FLG_CONTENT_CHECKSUM != 0 && input.len() < pos + 4 {
                return Err(err("truncated content checksum"));
            }
            return Ok(out);
        }
        if size > max_block {
            return Err(err("block larger than the frame's maximum block size"));
        }
        let Some(block) = input.get(pos..pos + size) else {
            return Err(err("truncated block"));
        };
        pos += size;
        if flg & FLG_BLOCK_CHECKSUM != 0 {
            let Some(sum) = input.get(pos..pos + 4) else {
                return Err(err("truncated block checksum"));
            };
            if u32::from_le_bytes([sum[0], sum[1], sum[2], sum[3]]) != xxh32(block, 0) {
                return Err(err("block checksum mismatch"));
            }
            pos += 4;
        }
        let room = limit - out.len();
        if word & UNCOMPRESSED_BIT != 0 {
            if size > room {
                return Err(limit_err(CODEC, limit));
            }
            out.extend_from_slice(block);
            continue;
        }
        // Decompress straight into the output; the window is bounded by the block maximum
        // and by what the cap still allows (plus one byte, to tell "too big" from "full").
        let start = out.len();
        let window = max_block.min(room.saturating_add(1));
        out.resize(start + window, 0);
        match lz4_flex::block::decompress_into(block, &mut out[start..]) {
            Ok(n) if n > room => return Err(limit_err(CODEC, limit)),
            Ok(n) => out.truncate(start + n),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if window <= room => {
                return Err(err("block decompresses past the maximum block size"));
            }
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
                return Err(limit_err(CODEC, limit));
            }
            Err(e) => return Err(decompress_err(CODEC, e)),
        }
    }
}

/// xxHash32 (Yann Collet's specification), used for the LZ4 frame's header and block checksums.
pub(super) fn xxh32(data: &[u8], seed: u32) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    fn lane(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn round(acc: u32, input: u32) -> u32 {
        acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(13).wrapping_mul(P1)
    }
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v =
            [seed.wrapping_add(P1).wrapping_add(P2), seed.wrapping_add(P2), seed, seed.wrapping_sub(P1)];
        while rest.len() >= 16 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, lane(&rest[i * 4..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    while rest.len() >= 4 {
        h = h.wrapping_add(lane(rest).wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h.wrapping_add((b as u32).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn xxh32_matches_reference_values() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
    }

    #[test]
    fn header_is_what_java_writes() {
        let mut out = BytesMut::new();
        compress_frame(b"kafka", &mut out);
        // Magic, FLG 0x60, BD 0x40, HC 0x82 (the well-known header of 64 KiB independent frames).
        assert_eq!(&out[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
        // Five bytes do not shrink: stored raw with the high bit set, then the end mark.
        assert_eq!(&out[7..11], &(5u32 | UNCOMPRESSED_BIT).to_le_bytes());
        assert_eq!(&out[11..16], b"kafka");
        assert_eq!(&out[16..], &[0, 0, 0, 0]);
    }

    #[test]
    fn frames_interoperate_with_the_reference_frame_codec() {
        let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect();
        // Ours -> lz4_flex's standard frame decoder.
        let mut ours = BytesMut::new();
        compress_frame(&input, &mut ours);
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&ours[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, input);
        // lz4_flex's encoder with block and content checksums and content size -> ours.
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max256KB)
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(input.len() as u64));
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&input).unwrap();
        let theirs = enc.finish().unwrap();
        assert_eq!(decompress_frame(&theirs, input.len(), false).unwrap(), input);
        // A flipped bit in a block is caught by the block checksum.
        let mut bad = theirs.clone();
        let n = bad.len();
        bad[n / 2] ^= 1;
        assert!(decompress_frame(&bad, input.len(), false).is_err());
    }

    #[test]
    fn legacy_broken_header_checksum_is_ignored_only_on_request() {
        let mut out = BytesMut::new();
        compress_frame(b"legacy", &mut out);
        // The magic-0 writer computed HC over magic + FLG + BD.
        out[6] = header_checksum(&out[0..6]);
        assert!(decompress_frame(&out, 100, false).is_err());
        assert_eq!(decompress_frame(&out, 100, true).unwrap(), b"legacy");
    }
}
