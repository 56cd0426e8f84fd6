//! The record batch (magic 2) and its header.
//!
//! ```text
//! RecordBatch =>                    offset
//!   baseOffset            int64     0
//!   batchLength           int32     8    (bytes after this field)
//!   partitionLeaderEpoch  int32     12
//!   magic                 int8      16   (2)
//!   crc                   uint32    17   (CRC-32C of attributes .. end)
//!   attributes            int16     21   (bits 0-2 codec, 3 LogAppendTime, 4 transactional,
//!                                         5 control, 6 delete horizon)
//!   lastOffsetDelta       int32     23
//!   baseTimestamp         int64     27
//!   maxTimestamp          int64     35
//!   producerId            int64     43
//!   producerEpoch         int16     51
//!   baseSequence          int32     53
//!   recordCount           int32     57
//!   records               [Record]  61   (compressed as a whole when the codec is not none)
//! ```

use std::sync::Arc;

use bytes::Bytes;

use super::compression::{self, Compression};
use super::record::{MIN_RECORD_SIZE, Record, RecordContext, RecordIter};
use crate::{Error, Result};

/// Size of the fields before `batchLength`'s count starts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// Size of a magic-2 batch header.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Offset of the magic byte, the same in every format.
pub const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC in a magic-2 batch.
pub(crate) const CRC_OFFSET: usize = 17;
/// Offset of the attributes in a magic-2 batch (the CRC covers from here to the end).
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_MASK: i16 = 0x08;
pub(crate) const TRANSACTIONAL_MASK: i16 = 0x10;
pub(crate) const CONTROL_MASK: i16 = 0x20;
pub(crate) const DELETE_HORIZON_MASK: i16 = 0x40;

/// How a batch's timestamps were assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamps (attribute bit 3 clear).
    #[default]
    CreateTime,
    /// The broker's append time, stored in `max_timestamp` (attribute bit 3 set).
    LogAppendTime,
    /// Magic-0 messages have no timestamps.
    NoTimestampType,
}

/// One record batch: a magic-2 batch, or one top-level magic-0/1 message (a plain message or a
/// compressed wrapper, as Java's `AbstractLegacyRecordBatch` presents them).
///
/// The header fields are public; for legacy messages the fields magic 0/1 lack hold Kafka's
/// "none" values (-1), `attributes` holds the message's attribute byte, `crc` its CRC-32, and
/// `batch_length` its size field. Records are decoded on demand by [`RecordBatch::records`].
#[derive(Debug, Clone)]
pub struct RecordBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the `batchLength` field.
    pub batch_length: i32,
    /// The leader epoch of the broker that appended the batch (-1 from producers).
    pub partition_leader_epoch: i32,
    /// The format: 2, or 0/1 for legacy messages.
    pub magic: i8,
    /// The stored checksum (CRC-32C for magic 2, CRC-32 for legacy messages).
    pub crc: u32,
    /// The attribute bits.
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// The first record's timestamp (or the delete horizon, see
    /// [`RecordBatch::delete_horizon_ms`]).
    pub base_timestamp: i64,
    /// The largest record timestamp, or the log append time.
    pub max_timestamp: i64,
    /// The producer id (-1 for none).
    pub producer_id: i64,
    /// The producer epoch (-1 for none).
    pub producer_epoch: i16,
    /// The first record's producer sequence (-1 for none).
    pub base_sequence: i32,
    /// The number of records the header declares.
    pub record_count: i32,
    compression: Compression,
    wire: Bytes,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// The (decompressed) record bytes.
    V2(Bytes),
    /// Legacy messages, decoded when the batch was.
    Legacy(Arc<[Record]>),
}

impl RecordBatch {
    /// The codec the batch's records were compressed with.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// How the record timestamps were assigned.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic == 0 {
            TimestampType::NoTimestampType
        } else if self.attributes & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.magic >= 2 && self.attributes & TRANSACTIONAL_MASK != 0
    }

    /// Whether the batch holds control records (transaction markers and the like).
    pub fn is_control(&self) -> bool {
        self.magic >= 2 && self.attributes & CONTROL_MASK != 0
    }

    /// Whether `base_timestamp` holds the delete horizon set by log compaction (KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.magic >= 2 && self.attributes & DELETE_HORIZON_MASK != 0
    }

    /// The delete horizon, when set.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    /// Offset of the last record (which compaction may have removed).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// The offset after the batch: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The sequence of the last record (-1 for none), wrapping like Java's.
    pub fn last_sequence(&self) -> i32 {
        super::record::increment_sequence(self.base_sequence, self.last_offset_delta)
    }

    /// The complete batch as received (header included): a zero-copy slice of the input.
    pub fn wire_bytes(&self) -> &Bytes {
        &self.wire
    }

    /// The records, decoded lazily; the iterator yields an error for corrupt records and stops.
    pub fn records(&self) -> RecordIter {
        match &self.body {
            Body::V2(buf) => RecordIter::v2(
                buf.clone(),
                self.record_count,
                RecordContext {
                    base_offset: self.base_offset,
                    base_timestamp: self.base_timestamp,
                    log_append_time: (self.timestamp_type() == TimestampType::LogAppendTime)
                        .then_some(self.max_timestamp),
                    base_sequence: self.base_sequence,
                },
            ),
            Body::Legacy(records) => RecordIter::legacy(records.clone()),
        }
    }

    /// A batch made from one legacy message.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn legacy(
        offset_of_first: i64,
        wire: Bytes,
        magic: i8,
        crc: u32,
        attributes: u8,
        timestamp: i64,
        compression: Compression,
        records: Vec<Record>,
    ) -> Self {
        let last = records.last().map_or(offset_of_first, |r| r.offset);
        RecordBatch {
            base_offset: offset_of_first,
            batch_length: (wire.len() - LOG_OVERHEAD) as i32,
            partition_leader_epoch: -1,
            magic,
            crc,
            attributes: attributes as i16,
            last_offset_delta: last.wrapping_sub(offset_of_first) as i32,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: records.len() as i32,
            compression,
            wire,
            body: Body::Legacy(records.into()),
        }
    }
}

fn corrupt(base_offset: i64, reason: impl Into<String>) -> Error {
    Error::CorruptRecords { base_offset, reason: reason.into() }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Decodes a complete magic-2 batch (`wire` is exactly `LOG_OVERHEAD + batchLength` bytes).
pub(crate) fn decode_v2(wire: Bytes, verify_crc: bool, max_decompressed: usize) -> Result<RecordBatch> {
    let b = &wire[..];
    let base_offset = if b.len() >= 8 { be_i64(b, 0) } else { -1 };
    if b.len() < RECORD_BATCH_OVERHEAD {
        return Err(corrupt(
            base_offset,
            format!("batch of {} bytes is smaller than the {RECORD_BATCH_OVERHEAD}-byte header", b.len()),
        ));
    }
    let crc = u32::from_be_bytes([b[17], b[18], b[19], b[20]]);
    if verify_crc {
        let computed = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        if computed != crc {
            return Err(Error::CrcMismatch { base_offset, stored: crc, computed });
        }
    }
    let attributes = be_i16(b, 21);
    let record_count = be_i32(b, 57);
    if record_count < 0 {
        return Err(corrupt(base_offset, format!("negative record count {record_count}")));
    }
    let compression = Compression::from_id((attributes & COMPRESSION_MASK) as u8)?;
    let raw = wire.slice(RECORD_BATCH_OVERHEAD..);
    let records = match compression {
        Compression::None => raw,
        codec => compression::decompress(codec, &raw, max_decompressed)?,
    };
    if (record_count as usize).saturating_mul(MIN_RECORD_SIZE) > records.len() {
        return Err(corrupt(
            base_offset,
            format!("{record_count} records declared in {} bytes of records", records.len()),
        ));
    }
    Ok(RecordBatch {
        base_offset,
        batch_length: be_i32(b, 8),
        partition_leader_epoch: be_i32(b, 12),
        magic: b[MAGIC_OFFSET] as i8,
        crc,
        attributes,
        last_offset_delta: be_i32(b, 23),
        base_timestamp: be_i64(b, 27),
        max_timestamp: be_i64(b, 35),
        producer_id: be_i64(b, 43),
        producer_epoch: be_i16(b, 51),
        base_sequence: be_i32(b, 53),
        record_count,
        compression,
        wire,
        body: Body::V2(records),
    })
}
