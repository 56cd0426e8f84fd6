//! Records of a magic-2 batch, decoded lazily and without allocation.
//!
//! ```text
//! Record =>
//!   length            varint   (bytes after this field)
//!   attributes        int8     (unused, 0)
//!   timestampDelta    varlong  (from the batch's baseTimestamp)
//!   offsetDelta       varint   (from the batch's baseOffset)
//!   keyLength         varint   (-1 = null)
//!   key               bytes
//!   valueLength       varint   (-1 = null)
//!   value             bytes
//!   headerCount       varint
//!   [headerKeyLength varint, headerKey utf8, headerValueLength varint (-1 = null), value]*
//! ```
//!
//! Keys, values and header values are [`Bytes::slice`]s of the batch's record bytes: decoding a
//! record bumps a reference count and allocates nothing. Like Java's `DefaultRecord`, a negative
//! key or value length is a null, and the `length` must match the bytes the fields take.

use std::sync::Arc;

use bytes::Bytes;

use crate::{Error, Result};

/// A record from any batch format, with absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's offset in its partition.
    pub offset: i64,
    /// The record's timestamp: the producer's (CreateTime), the batch's `max_timestamp` for
    /// LogAppendTime batches, or -1 for magic-0 messages.
    pub timestamp: i64,
    /// The key, a slice of the batch buffer; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value, a slice of the batch buffer; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers (always empty for magic 0 and 1).
    pub headers: Headers,
    /// The producer sequence number: the batch's base sequence plus the offset delta, or -1
    /// when the batch has none.
    pub sequence: i32,
}

/// A lazy, zero-copy view of a record's headers, validated when the record was decoded.
///
/// Iterate as `(key, value)` pairs: `for (key, value) in &record.headers { .. }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// The encoded headers (without the count).
    buf: Bytes,
    count: u32,
}

impl Headers {
    /// Headers that have already been validated by [`parse_headers`].
    fn new(buf: Bytes, count: u32) -> Self {
        Headers { buf, count }
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in wire order.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter { headers: self, pos: 0, left: self.count }
    }

    /// The value of the last header named `key` (Java's `Headers.lastHeader`): `None` when there
    /// is none, `Some(None)` when its value is null.
    pub fn last(&self, key: &str) -> Option<Option<Bytes>> {
        self.iter().filter(|(k, _)| *k == key).last().map(|(_, v)| v)
    }

    /// The encoded headers, exactly as on the wire (without the count).
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, Option<Bytes>);
    type IntoIter = HeaderIter<'a>;

    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Headers`]: `(key, value)` pairs, the key borrowed and the value a zero-copy
/// slice.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    headers: &'a Headers,
    pos: usize,
    left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, Option<Bytes>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let headers: &'a Headers = self.headers;
        let data: &'a [u8] = &headers.buf;
        let mut c = Cursor { data, pos: self.pos };
        // The headers were validated when the record was decoded; a failure here cannot happen
        // and simply ends the iteration.
        let key = c.bytes().ok().flatten().and_then(|r| std::str::from_utf8(&data[r]).ok());
        let value = c.bytes().ok();
        match (key, value) {
            (Some(key), Some(value)) => {
                self.pos = c.pos;
                Some((key, value.map(|r| headers.buf.slice(r))))
            }
            _ => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// A reading position in a byte slice, for varints and length-prefixed fields.
pub(crate) struct Cursor<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

/// Why a field could not be read (the caller adds context).
pub(crate) type FieldError = &'static str;

impl Cursor<'_> {
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FieldError> {
        let b = *self.data.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 value of at most `max_bytes` bytes whose last byte fits `last_max`.
    fn uvar(&mut self, max_bytes: usize, last_max: u8) -> Result<u64, FieldError> {
        let mut v = 0u64;
        for i in 0..max_bytes {
            let b = self.u8()?;
            if i == max_bytes - 1 && b > last_max {
                return Err("malformed varint");
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("malformed varint")
    }

    /// A zigzag varint (at most 5 bytes).
    pub(crate) fn varint(&mut self) -> Result<i32, FieldError> {
        let u = self.uvar(5, 0x0f)? as u32;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// A zigzag varlong (at most 10 bytes).
    pub(crate) fn varlong(&mut self) -> Result<i64, FieldError> {
        let u = self.uvar(10, 0x01)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A varint-length-prefixed byte string: the range it occupies, `None` if null (negative).
    pub(crate) fn bytes(&mut self) -> Result<Option<std::ops::Range<usize>>, FieldError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if len > self.remaining() {
            return Err("length exceeds the record");
        }
        let start = self.pos;
        self.pos += len;
        Ok(Some(start..self.pos))
    }
}

/// Walks `count` headers in `data` (checking lengths and key UTF-8), returning the bytes used.
fn parse_headers(data: &[u8], count: i32) -> Result<usize, FieldError> {
    if count < 0 {
        return Err("negative header count");
    }
    // Every header takes at least two bytes: a count larger than that is a lie.
    if count as usize > data.len() / 2 {
        return Err("header count exceeds the record");
    }
    let mut c = Cursor { data, pos: 0 };
    for _ in 0..count {
        let key = c.bytes()?.ok_or("null header key")?;
        std::str::from_utf8(&data[key]).map_err(|_| "header key is not valid UTF-8")?;
        c.bytes()?;
    }
    Ok(c.pos)
}

/// What a record needs from its batch to become absolute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext {
    pub(crate) base_offset: i64,
    pub(crate) base_timestamp: i64,
    /// `Some(max_timestamp)` for LogAppendTime batches.
    pub(crate) log_append_time: Option<i64>,
    pub(crate) base_sequence: i32,
}

/// Java's `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
pub(crate) fn increment_sequence(base: i32, delta: i32) -> i32 {
    if base < 0 {
        return -1;
    }
    (base as i64 + delta as i64).rem_euclid(1 << 31) as i32
}

/// Minimum encoded size of a record: seven one-byte fields (length, attributes, timestamp delta,
/// offset delta, key length, value length, header count).
pub(crate) const MIN_RECORD_SIZE: usize = 7;

/// Decodes the record at the front of `buf[*pos..]`, advancing `pos`.
fn decode_record(buf: &Bytes, pos: &mut usize, ctx: &RecordContext) -> Result<Record, String> {
    let mut c = Cursor { data: buf, pos: *pos };
    let len = c.varint().map_err(|e| format!("record length: {e}"))?;
    if len < 0 || len as usize > c.remaining() {
        return Err(format!("record length {len} with {} bytes left in the batch", c.remaining()));
    }
    let end = c.pos + len as usize;
    let mut c = Cursor { data: &buf[..end], pos: c.pos };
    let fields = (|| {
        let _attributes = c.u8()?;
        let timestamp_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        let key = c.bytes()?;
        let value = c.bytes()?;
        let header_count = c.varint()?;
        let header_start = c.pos;
        let used = parse_headers(&c.data[header_start..], header_count)?;
        c.pos += used;
        Ok::<_, FieldError>((timestamp_delta, offset_delta, key, value, header_count, header_start))
    })();
    let (timestamp_delta, offset_delta, key, value, header_count, header_start) =
        fields.map_err(|e| format!("record at byte {}: {e}", *pos))?;
    if c.pos != end {
        return Err(format!(
            "record at byte {} declares {len} bytes but its fields take {}",
            *pos,
            len as usize - (end - c.pos)
        ));
    }
    *pos = end;
    Ok(Record {
        offset: ctx.base_offset.wrapping_add(offset_delta as i64),
        timestamp: ctx.log_append_time.unwrap_or(ctx.base_timestamp.wrapping_add(timestamp_delta)),
        key: key.map(|r| buf.slice(r)),
        value: value.map(|r| buf.slice(r)),
        headers: if header_count == 0 {
            Headers::default()
        } else {
            Headers::new(buf.slice(header_start..end), header_count as u32)
        },
        sequence: increment_sequence(ctx.base_sequence, offset_delta),
    })
}

/// Iterator over a batch's records (see [`RecordBatch::records`](super::RecordBatch::records)).
///
/// Magic-2 records are decoded one at a time from the batch's record bytes. After
/// `record_count` records, leftover bytes are an error; so are missing records. The iterator
/// ends after its first error.
#[derive(Debug, Clone)]
pub struct RecordIter {
    inner: IterInner,
}

#[derive(Debug, Clone)]
enum IterInner {
    V2 { buf: Bytes, pos: usize, left: i32, ctx: RecordContext },
    Legacy { records: Arc<[Record]>, next: usize },
    Done,
}

impl RecordIter {
    pub(crate) fn v2(buf: Bytes, count: i32, ctx: RecordContext) -> Self {
        RecordIter { inner: IterInner::V2 { buf, pos: 0, left: count, ctx } }
    }

    pub(crate) fn legacy(records: Arc<[Record]>) -> Self {
        RecordIter { inner: IterInner::Legacy { records, next: 0 } }
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        match &mut self.inner {
            IterInner::Done => None,
            IterInner::Legacy { records, next } => {
                let r = records.get(*next).cloned();
                *next += 1;
                r.map(Ok)
            }
            IterInner::V2 { buf, pos, left, ctx } => {
                let corrupt = |reason: String| Error::CorruptRecords { base_offset: ctx.base_offset, reason };
                if *left <= 0 {
                    let rest = buf.len() - *pos;
                    let err = (rest != 0 || *left < 0)
                        .then(|| corrupt(format!("{rest} bytes left after the batch's declared records")));
                    self.inner = IterInner::Done;
                    return err.map(Err);
                }
                if *pos == buf.len() {
                    let reason = format!("batch ends with {left} of its declared records missing");
                    let err = corrupt(reason);
                    self.inner = IterInner::Done;
                    return Some(Err(err));
                }
                match decode_record(buf, pos, ctx) {
                    Ok(r) => {
                        *left -= 1;
                        Some(Ok(r))
                    }
                    Err(reason) => {
                        let err = corrupt(reason);
                        self.inner = IterInner::Done;
                        Some(Err(err))
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IterInner::Done => (0, Some(0)),
            IterInner::Legacy { records, next } => {
                let n = records.len().saturating_sub(*next);
                (n, Some(n))
            }
            // Plus one for a possible trailing error.
            IterInner::V2 { left, .. } => (0, Some((*left).max(0) as usize + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_like_java() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(-1, 3), -1);
    }

    #[test]
    fn cursor_rejects_overlong_varints() {
        let mut c = Cursor { data: &[0xff, 0xff, 0xff, 0xff, 0x7f], pos: 0 };
        assert!(c.varint().is_err());
        let mut c = Cursor { data: &[0xff, 0xff, 0xff, 0xff, 0x0f], pos: 0 };
        assert_eq!(c.varint().unwrap(), i32::MIN);
        let mut c = Cursor { data: &[0x01], pos: 0 };
        assert_eq!(c.varlong().unwrap(), -1);
        let mut c = Cursor { data: &[0x80], pos: 0 };
        assert!(c.varint().is_err());
    }

    #[test]
    fn headers_with_invalid_utf8_keys_are_rejected() {
        // One header: key length 2 (zigzag 4), key 0xff 0xfe, null value (zigzag 1).
        assert_eq!(parse_headers(&[4, 0xff, 0xfe, 1], 1), Err("header key is not valid UTF-8"));
        assert_eq!(parse_headers(&[4, b'o', b'k', 1], 1), Ok(4));
        assert_eq!(parse_headers(&[1, 1], 1), Err("null header key"));
        assert_eq!(parse_headers(&[4, b'o', b'k', 1], 1000), Err("header count exceeds the record"));
    }
}
