//! Legacy message sets: magic 0 and magic 1 (Kafka before 0.11).
//!
//! ```text
//! MessageSet => [offset int64, messageSize int32, Message]*
//! Message =>
//!   crc         uint32   (CRC-32 (IEEE) of magic .. end)
//!   magic       int8     (0 or 1)
//!   attributes  int8     (bits 0-2 codec: none/gzip/snappy/lz4; bit 3 LogAppendTime, v1 only)
//!   timestamp   int64    (v1 only)
//!   key         bytes    (int32 length, -1 = null)
//!   value       bytes    (int32 length, -1 = null)
//! ```
//!
//! A compressed message (a "wrapper") holds in its value a whole compressed message set whose
//! messages must not be compressed themselves. In magic 1 the inner offsets are relative: the
//! wrapper carries the absolute offset of the last inner message, so an inner message's
//! absolute offset is `wrapper offset - last inner offset + inner offset` (a wrapper offset of
//! 0, as some librdkafka versions produced, means the inner offsets are absolute). Inner magic-1
//! messages under a LogAppendTime wrapper take the wrapper's timestamp. This follows Java's
//! `AbstractLegacyRecordBatch`.
//!
//! Each top-level message becomes one [`RecordBatch`]. Decoding is eager (the records of a
//! wrapper are collected in a vector): the format is rare and on its way out.

use bytes::Bytes;

use super::batch::{LOG_OVERHEAD, RecordBatch, TimestampType};
use super::compression::{self, Compression};
use super::record::{Headers, Record};
use crate::{Error, Result};

/// Size of a magic-0 message without key and value bytes (crc, magic, attributes, two lengths).
pub const RECORD_OVERHEAD_V0: usize = 14;
/// Size of a magic-1 message without key and value bytes (adds the timestamp).
pub const RECORD_OVERHEAD_V1: usize = 22;

const TIMESTAMP_TYPE_BIT: u8 = 0x08;

/// One parsed message; key and value are byte ranges of the entry it was parsed from.
struct Message {
    offset: i64,
    magic: i8,
    attributes: u8,
    crc: u32,
    timestamp: i64,
    key: Option<std::ops::Range<usize>>,
    value: Option<std::ops::Range<usize>>,
}

impl Message {
    fn codec_id(&self) -> u8 {
        self.attributes & 0x07
    }

    fn timestamp_type(&self) -> TimestampType {
        match (self.magic, self.attributes & TIMESTAMP_TYPE_BIT != 0) {
            (0, _) => TimestampType::NoTimestampType,
            (_, true) => TimestampType::LogAppendTime,
            (_, false) => TimestampType::CreateTime,
        }
    }
}

/// Parses one complete entry (offset, size, message); `entry` is exactly its bytes.
fn parse_message(entry: &[u8], verify_crc: bool) -> Result<Message, String> {
    let be_i32 = |at: usize| i32::from_be_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]]);
    if entry.len() < LOG_OVERHEAD + RECORD_OVERHEAD_V0 {
        return Err(format!("message of {} bytes is smaller than the minimum", entry.len()));
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&entry[..8]);
    let offset = i64::from_be_bytes(offset);
    let crc = be_i32(12) as u32;
    let magic = entry[16] as i8;
    let attributes = entry[17];
    let (timestamp, mut pos) = match magic {
        0 => (-1, 18),
        1 => {
            if entry.len() < LOG_OVERHEAD + RECORD_OVERHEAD_V1 {
                return Err(format!("magic-1 message of {} bytes is smaller than the minimum", entry.len()));
            }
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&entry[18..26]);
            (i64::from_be_bytes(ts), 26)
        }
        m => return Err(format!("unknown magic {m} in a legacy message set")),
    };
    if verify_crc {
        let mut c = flate2::Crc::new();
        c.update(&entry[16..]);
        if c.sum() != crc {
            return Err(format!(
                "message at offset {offset}: stored CRC {crc:#010x}, computed {:#010x}",
                c.sum()
            ));
        }
    }
    let mut field = |name: &str| -> Result<Option<std::ops::Range<usize>>, String> {
        if entry.len() - pos < 4 {
            return Err(format!("message at offset {offset}: truncated {name} length"));
        }
        let len = be_i32(pos);
        pos += 4;
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if len > entry.len() - pos {
            return Err(format!("message at offset {offset}: {name} length {len} exceeds the message"));
        }
        pos += len;
        Ok(Some(pos - len..pos))
    };
    let key = field("key")?;
    let value = field("value")?;
    if pos != entry.len() {
        return Err(format!(
            "message at offset {offset}: {} bytes after the value (size field disagrees)",
            entry.len() - pos
        ));
    }
    Ok(Message { offset, magic, attributes, crc, timestamp, key, value })
}

/// Decodes one complete top-level legacy entry (`wire` holds exactly offset, size, message).
pub(crate) fn decode_legacy(wire: Bytes, verify_crc: bool, max_decompressed: usize) -> Result<RecordBatch> {
    let outer_offset =
        if wire.len() >= 8 { i64::from_be_bytes(wire[..8].try_into().unwrap_or_default()) } else { -1 };
    let corrupt = |reason: String| Error::CorruptRecords { base_offset: outer_offset, reason };
    let msg = parse_message(&wire, verify_crc).map_err(corrupt)?;
    let record = |m: &Message, from: &Bytes, offset: i64, timestamp: i64| Record {
        offset,
        timestamp,
        key: m.key.clone().map(|r| from.slice(r)),
        value: m.value.clone().map(|r| from.slice(r)),
        headers: Headers::default(),
        sequence: -1,
    };
    let codec = match msg.codec_id() {
        4 => return Err(corrupt("zstd is not allowed in magic 0/1 messages".into())),
        id => Compression::from_id(id)?,
    };
    if codec == Compression::None {
        let r = record(&msg, &wire, msg.offset, msg.timestamp);
        return Ok(RecordBatch::legacy(
            msg.offset,
            wire.clone(),
            msg.magic,
            msg.crc,
            msg.attributes,
            msg.timestamp,
            codec,
            vec![r],
        ));
    }

    // A wrapper: decompress its value and read the inner message set (one level only).
    let Some(value) = msg.value.clone() else {
        return Err(corrupt("compressed wrapper message with a null value".into()));
    };
    let inner = compression::decompress_inner(codec, &wire[value], max_decompressed, msg.magic == 0)?;
    let mut messages = Vec::new();
    let mut pos = 0;
    while pos < inner.len() {
        let rest = &inner[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(corrupt(format!("{} trailing bytes in a compressed message set", rest.len())));
        }
        let size = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if size < 0 || (size as usize) > rest.len() - LOG_OVERHEAD {
            return Err(corrupt(format!("inner message size {size} with {} bytes left", rest.len())));
        }
        let end = pos + LOG_OVERHEAD + size as usize;
        let m = parse_message(&inner[pos..end], verify_crc).map_err(|e| corrupt(format!("inner {e}")))?;
        if m.codec_id() != 0 {
            return Err(corrupt("nested compressed message inside a wrapper".into()));
        }
        messages.push((pos, m));
        pos = end;
    }
    let Some((_, last)) = messages.last() else {
        return Err(corrupt("compressed wrapper with no inner messages".into()));
    };
    let base = if msg.magic == 1 {
        if msg.offset == 0 {
            0
        } else if msg.offset < last.offset {
            return Err(corrupt(format!(
                "wrapper offset {} is less than the last inner offset {}",
                msg.offset, last.offset
            )));
        } else {
            msg.offset - last.offset
        }
    } else {
        0
    };
    let wrapper_log_append = msg.timestamp_type() == TimestampType::LogAppendTime;
    let records: Vec<Record> = messages
        .iter()
        .map(|(start, m)| {
            let timestamp = match m.magic {
                0 => -1,
                _ if wrapper_log_append => msg.timestamp,
                _ => m.timestamp,
            };
            // Key and value ranges are relative to the inner entry.
            let entry = inner.slice(*start..);
            record(m, &entry, base.wrapping_add(m.offset), timestamp)
        })
        .collect();
    Ok(RecordBatch::legacy(
        records[0].offset,
        wire.clone(),
        msg.magic,
        msg.crc,
        msg.attributes,
        msg.timestamp,
        codec,
        records,
    ))
}

/// Test helpers: a legacy message writer (production code never writes magic 0/1).
#[cfg(test)]
pub(crate) mod write {
    use bytes::{BufMut, BytesMut};

    /// Appends one message (offset, size, crc, magic, attributes, [timestamp], key, value).
    pub(crate) fn message(
        out: &mut BytesMut,
        offset: i64,
        magic: i8,
        attributes: u8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        let mut body = BytesMut::new();
        body.put_i8(magic);
        body.put_u8(attributes);
        if magic == 1 {
            body.put_i64(timestamp);
        }
        for field in [key, value] {
            match field {
                None => body.put_i32(-1),
                Some(b) => {
                    body.put_i32(b.len() as i32);
                    body.put_slice(b);
                }
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        out.put_i64(offset);
        out.put_i32(4 + body.len() as i32);
        out.put_u32(crc.sum());
        out.put_slice(&body);
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::write::message;
    use super::*;
    use crate::records::{DecodeOptions, decode_batches};

    fn all_records(buf: Bytes) -> Vec<(RecordBatch, Vec<Record>)> {
        decode_batches(buf, &DecodeOptions::default())
            .map(|b| {
                let b = b.unwrap();
                let rs = b.records().collect::<Result<Vec<_>>>().unwrap();
                (b, rs)
            })
            .collect()
    }

    #[test]
    fn magic_0_message_set_decodes() {
        let mut buf = BytesMut::new();
        message(&mut buf, 10, 0, 0, 0, Some(b"k1"), Some(b"v1"));
        message(&mut buf, 11, 0, 0, 0, None, None);
        // Hand check of the first message: 8 + 4 + 4 crc + 1 + 1 + 4 + 2 + 4 + 2 = 30 bytes.
        assert_eq!(&buf[8..12], &18i32.to_be_bytes());
        let got = all_records(buf.freeze());
        assert_eq!(got.len(), 2);
        let (b, rs) = &got[0];
        assert_eq!((b.magic, b.base_offset, b.last_offset(), b.record_count), (0, 10, 10, 1));
        assert_eq!(b.timestamp_type(), TimestampType::NoTimestampType);
        assert_eq!(rs[0].offset, 10);
        assert_eq!(rs[0].timestamp, -1);
        assert_eq!(rs[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(rs[0].value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(got[1].1[0].key, None);
        assert_eq!(got[1].1[0].value, None);
        assert_eq!(got[1].1[0].sequence, -1);
    }

    #[test]
    fn magic_1_gzip_wrapper_with_relative_offsets_decodes() {
        // Inner offsets 0, 1, 2 (relative); the wrapper carries the absolute last offset 102.
        let mut inner = BytesMut::new();
        for (i, v) in [&b"a"[..], b"bb", b"ccc"].into_iter().enumerate() {
            message(&mut inner, i as i64, 1, 0, 1_000 + i as i64, Some(b"key"), Some(v));
        }
        let mut gz = BytesMut::new();
        compression::compress(Compression::Gzip, None, &inner, &mut gz).unwrap();
        let mut buf = BytesMut::new();
        message(&mut buf, 102, 1, 0x01, 1_002, None, Some(&gz));
        let got = all_records(buf.clone().freeze());
        assert_eq!(got.len(), 1);
        let (b, rs) = &got[0];
        assert_eq!(b.compression(), Compression::Gzip);
        assert_eq!((b.base_offset, b.last_offset(), b.record_count), (100, 102, 3));
        assert_eq!(rs.iter().map(|r| r.offset).collect::<Vec<_>>(), [100, 101, 102]);
        assert_eq!(rs.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [1_000, 1_001, 1_002]);
        assert_eq!(rs[2].value.as_deref(), Some(&b"ccc"[..]));
        assert_eq!(rs[1].key.as_deref(), Some(&b"key"[..]));

        // LogAppendTime on the wrapper overrides inner timestamps.
        let mut buf = BytesMut::new();
        message(&mut buf, 102, 1, 0x01 | 0x08, 5_000, None, Some(&gz));
        let got = all_records(buf.freeze());
        assert_eq!(got[0].0.timestamp_type(), TimestampType::LogAppendTime);
        assert!(got[0].1.iter().all(|r| r.timestamp == 5_000));
    }

    #[test]
    fn magic_0_wrapper_keeps_absolute_inner_offsets_for_every_codec() {
        let mut inner = BytesMut::new();
        message(&mut inner, 7, 0, 0, 0, None, Some(b"x"));
        message(&mut inner, 8, 0, 0, 0, None, Some(b"y"));
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut z = BytesMut::new();
            compression::compress(codec, None, &inner, &mut z).unwrap();
            let mut buf = BytesMut::new();
            message(&mut buf, 8, 0, codec.id(), 0, None, Some(&z));
            let got = all_records(buf.freeze());
            assert_eq!(got[0].1.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8], "{codec}");
        }
    }

    #[test]
    fn nested_wrappers_zstd_and_empty_wrappers_are_rejected() {
        let mut innermost = BytesMut::new();
        message(&mut innermost, 0, 1, 0, 0, None, Some(b"deep"));
        let mut z1 = BytesMut::new();
        compression::compress(Compression::Gzip, None, &innermost, &mut z1).unwrap();
        let mut middle = BytesMut::new();
        message(&mut middle, 0, 1, 0x01, 0, None, Some(&z1));
        let mut z2 = BytesMut::new();
        compression::compress(Compression::Gzip, None, &middle, &mut z2).unwrap();
        let mut buf = BytesMut::new();
        message(&mut buf, 0, 1, 0x01, 0, None, Some(&z2));
        let err = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap_err();
        assert!(matches!(&err, Error::CorruptRecords { reason, .. } if reason.contains("nested")), "{err}");

        let mut buf = BytesMut::new();
        message(&mut buf, 0, 1, 0x04, 0, None, Some(b"whatever"));
        assert!(decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().is_err());

        let mut empty = BytesMut::new();
        compression::compress(Compression::Gzip, None, b"", &mut empty).unwrap();
        let mut buf = BytesMut::new();
        message(&mut buf, 0, 1, 0x01, 0, None, Some(&empty));
        assert!(decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().is_err());
    }

    #[test]
    fn legacy_crc_is_checked() {
        let mut buf = BytesMut::new();
        message(&mut buf, 0, 1, 0, 0, Some(b"k"), Some(b"v"));
        let last = buf.len() - 1;
        buf[last] ^= 0x20;
        let err =
            decode_batches(buf.clone().freeze(), &DecodeOptions::default()).next().unwrap().unwrap_err();
        assert!(matches!(&err, Error::CorruptRecords { reason, .. } if reason.contains("CRC")), "{err}");
        let opts = DecodeOptions { verify_crc: false, ..Default::default() };
        assert!(decode_batches(buf.freeze(), &opts).next().unwrap().is_ok());
    }

    #[test]
    fn legacy_wrapper_decompression_is_capped() {
        let mut inner = BytesMut::new();
        message(&mut inner, 0, 1, 0, 0, None, Some(&vec![0u8; 4 << 20]));
        let mut z = BytesMut::new();
        compression::compress(Compression::Gzip, None, &inner, &mut z).unwrap();
        let mut buf = BytesMut::new();
        message(&mut buf, 0, 1, 0x01, 0, None, Some(&z));
        let opts = DecodeOptions { max_decompressed_bytes: 1 << 20, ..Default::default() };
        let err = decode_batches(buf.freeze(), &opts).next().unwrap().unwrap_err();
        assert!(matches!(err, Error::DecompressionLimit { .. }), "{err}");
    }
}
