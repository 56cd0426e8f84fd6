//! Writing magic-2 record batches, byte for byte as Java's `MemoryRecordsBuilder` does.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{
    ATTRIBUTES_OFFSET, CONTROL_MASK, CRC_OFFSET, LOG_OVERHEAD, MAGIC_OFFSET, RECORD_BATCH_OVERHEAD,
    TIMESTAMP_TYPE_MASK, TRANSACTIONAL_MASK, TimestampType,
};
use super::compression::{self, Compression};
use crate::primitives::{varint_len, varlong_len, write_varint, write_varlong};
use crate::{Error, Result};

/// Builds one magic-2 record batch.
///
/// Configure the header with the setters, [`append`](Self::append) records (offset deltas are
/// assigned in order from 0), then [`build`](Self::build). Defaults are what a plain Java
/// producer writes: base offset 0, CreateTime, no compression, producer id/epoch/sequence -1,
/// partition leader epoch -1, neither transactional nor control.
///
/// Records are kept uncompressed until `build`, which compresses them as a whole.
///
/// ```
/// use bytes::BytesMut;
/// use kafka_protocol::records::{Compression, DecodeOptions, RecordBatchBuilder, decode_batches};
///
/// let mut builder = RecordBatchBuilder::new(Compression::Lz4);
/// builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[("trace", Some(b"abc"))]).unwrap();
/// let mut buf = BytesMut::new();
/// builder.build(&mut buf).unwrap();
///
/// let batch = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
/// let record = batch.records().next().unwrap().unwrap();
/// assert_eq!(record.value.as_deref(), Some(&b"value"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    compression: Compression,
    level: Option<i32>,
    timestamp_type: TimestampType,
    log_append_time: Option<i64>,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    transactional: bool,
    control: bool,
    /// Room for the batch header (`RECORD_BATCH_OVERHEAD` bytes, written by
    /// [`finish`](Self::finish)) followed by the encoded records, uncompressed.
    records: BytesMut,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        Self::new(Compression::None)
    }
}

impl RecordBatchBuilder {
    /// A builder for a batch compressed with `compression` at its default level.
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, 0)
    }

    /// A builder whose record buffer starts with room for `capacity` bytes of encoded records
    /// (a producer passes `batch.size`), so appends do not regrow it.
    pub fn with_capacity(compression: Compression, capacity: usize) -> Self {
        let mut records = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + capacity);
        records.put_bytes(0, RECORD_BATCH_OVERHEAD);
        RecordBatchBuilder {
            base_offset: 0,
            compression,
            level: None,
            timestamp_type: TimestampType::CreateTime,
            log_append_time: None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            transactional: false,
            control: false,
            records,
            count: 0,
            base_timestamp: None,
            max_timestamp: -1,
        }
    }

    /// The offset of the first record (a producer writes 0; the broker assigns offsets).
    pub fn base_offset(&mut self, base_offset: i64) -> &mut Self {
        self.base_offset = base_offset;
        self
    }

    /// The codec and its level (`None`: the codec's default; see
    /// [`compress`](compression::compress) for ranges).
    pub fn compression(&mut self, compression: Compression, level: Option<i32>) -> &mut Self {
        self.compression = compression;
        self.level = level;
        self
    }

    /// The timestamp type. For LogAppendTime, `max_timestamp` is the time given to
    /// [`log_append_time`](Self::log_append_time), or else the largest appended timestamp.
    pub fn timestamp_type(&mut self, timestamp_type: TimestampType) -> &mut Self {
        self.timestamp_type = timestamp_type;
        self
    }

    /// Marks the batch LogAppendTime with the broker's append time (stored as `max_timestamp`).
    pub fn log_append_time(&mut self, time: i64) -> &mut Self {
        self.timestamp_type = TimestampType::LogAppendTime;
        self.log_append_time = Some(time);
        self
    }

    /// The idempotent producer's id, epoch and the first record's sequence.
    pub fn producer(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> &mut Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// The partition leader epoch (written by brokers; producers leave -1).
    pub fn partition_leader_epoch(&mut self, epoch: i32) -> &mut Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Whether the batch is part of a transaction.
    pub fn transactional(&mut self, transactional: bool) -> &mut Self {
        self.transactional = transactional;
        self
    }

    /// Whether the batch holds control records.
    pub fn control(&mut self, control: bool) -> &mut Self {
        self.control = control;
        self
    }

    /// Appends a record with the next offset delta.
    ///
    /// Fails (leaving the builder unchanged) only when a length does not fit the format's
    /// `int32`s, or after `i32::MAX` records.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Result<()> {
        let too_large = |at, length| Error::ValueTooLarge { at, length, max: i32::MAX as usize };
        let len = |b: Option<&[u8]>, at| -> Result<i32> {
            match b {
                None => Ok(-1),
                Some(b) => i32::try_from(b.len()).map_err(|_| too_large(at, b.len())),
            }
        };
        let offset_delta = self.count;
        if offset_delta == i32::MAX {
            return Err(too_large("record batch record count", offset_delta as usize));
        }
        let base_timestamp = self.base_timestamp.unwrap_or(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(base_timestamp);
        let key_len = len(key, "record key")?;
        let value_len = len(value, "record value")?;
        let header_count =
            i32::try_from(headers.len()).map_err(|_| too_large("record headers", headers.len()))?;

        // The body size first (Java's `DefaultRecord.sizeOfBodyInBytes`), in i64 to be safe.
        let field = |n: i32| varint_len(n) as i64 + n.max(0) as i64;
        let mut body: i64 = 1
            + varlong_len(timestamp_delta) as i64
            + varint_len(offset_delta) as i64
            + field(key_len)
            + field(value_len)
            + varint_len(header_count) as i64;
        for (k, v) in headers {
            let kl = len(Some(k.as_bytes()), "record header key")?;
            let vl = len(*v, "record header value")?;
            body += field(kl) + field(vl);
        }
        let body = i32::try_from(body).map_err(|_| too_large("record", body as usize))?;

        let r = &mut self.records;
        r.reserve(varint_len(body) + body as usize);
        write_varint(r, body);
        r.put_i8(0); // attributes
        write_varlong(r, timestamp_delta);
        write_varint(r, offset_delta);
        for (b, l) in [(key, key_len), (value, value_len)] {
            write_varint(r, l);
            if let Some(b) = b {
                r.put_slice(b);
            }
        }
        write_varint(r, header_count);
        // Lengths were checked to fit an i32 above.
        for (k, v) in headers {
            write_varint(r, k.len() as i32);
            r.put_slice(k.as_bytes());
            match v {
                None => write_varint(r, -1),
                Some(v) => {
                    write_varint(r, v.len() as i32);
                    r.put_slice(v);
                }
            }
        }
        self.count += 1;
        self.base_timestamp = Some(base_timestamp);
        if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        Ok(())
    }

    /// The number of records appended.
    pub fn record_count(&self) -> usize {
        self.count as usize
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size of the batch if built now, uncompressed: exact for [`Compression::None`], an
    /// upper bound in practice for the other codecs (which rarely expand).
    pub fn estimated_size(&self) -> usize {
        self.records.len()
    }

    /// Appends the complete batch (header, records, lengths and CRC) to `out`. A builder with
    /// no records writes nothing, as Java's `MemoryRecordsBuilder` does.
    pub fn build(&self, out: &mut BytesMut) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let start = out.len();
        let records = &self.records[RECORD_BATCH_OVERHEAD..];
        out.reserve(RECORD_BATCH_OVERHEAD + records.len());
        out.put_bytes(0, RECORD_BATCH_OVERHEAD);
        let written = compression::compress(self.compression, self.level, records, out)
            .and_then(|()| self.write_header(&mut out[start..]));
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    /// The complete batch, as [`build`](Self::build) writes it, without copying the records
    /// when they are not compressed: the header goes into the room kept in front of them.
    pub fn finish(mut self) -> Result<Bytes> {
        if self.count == 0 {
            return Ok(Bytes::new());
        }
        if !matches!(self.compression, Compression::None) {
            let mut out = BytesMut::new();
            self.build(&mut out)?;
            return Ok(out.freeze());
        }
        let mut batch = std::mem::take(&mut self.records);
        self.write_header(&mut batch)?;
        Ok(batch.freeze())
    }

    /// Writes the header (lengths and CRC included) of `batch`: header room, then the records
    /// as they are stored (compressed or not).
    fn write_header(&self, batch: &mut [u8]) -> Result<()> {
        let size = batch.len();
        let batch_length = i32::try_from(size - LOG_OVERHEAD).map_err(|_| Error::ValueTooLarge {
            at: "record batch",
            length: size,
            max: i32::MAX as usize,
        })?;
        let mut attributes = self.compression.id() as i16;
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_MASK;
        }
        if self.control {
            attributes |= CONTROL_MASK;
        }
        let max_timestamp = match (self.timestamp_type, self.log_append_time) {
            (TimestampType::LogAppendTime, Some(t)) => t,
            _ => self.max_timestamp,
        };
        let mut h = &mut batch[..RECORD_BATCH_OVERHEAD];
        h.put_i64(self.base_offset);
        h.put_i32(batch_length);
        h.put_i32(self.partition_leader_epoch);
        h.put_i8(2); // magic
        h.put_u32(0); // crc, below
        h.put_i16(attributes);
        h.put_i32(self.count - 1); // last offset delta
        h.put_i64(self.base_timestamp.unwrap_or(-1));
        h.put_i64(max_timestamp);
        h.put_i64(self.producer_id);
        h.put_i16(self.producer_epoch);
        h.put_i32(self.base_sequence);
        h.put_i32(self.count);
        update_crc(batch);
        Ok(())
    }
}

/// Recomputes the CRC of a complete magic-2 batch in place.
fn update_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

fn check_v2(batch: &[u8]) -> Result<()> {
    if batch.len() < RECORD_BATCH_OVERHEAD || batch[MAGIC_OFFSET] != 2 {
        return Err(Error::CorruptRecords {
            base_offset: -1,
            reason: "not a complete magic-2 record batch".into(),
        });
    }
    Ok(())
}

/// Sets the base offset of a built magic-2 batch (what a broker does on append). The base
/// offset is outside the CRC, so nothing else changes.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) -> Result<()> {
    check_v2(batch)?;
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
    Ok(())
}

/// Sets the partition leader epoch of a built magic-2 batch (also outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) -> Result<()> {
    check_v2(batch)?;
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
    Ok(())
}

/// Rewrites the producer id, epoch and base sequence of a built magic-2 batch and recomputes its
/// CRC (Java's `ProducerBatch.resetProducerState`, used when a retried batch gets a new epoch or
/// sequence). `batch` must be exactly one batch.
pub fn set_producer_state(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<()> {
    check_v2(batch)?;
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    update_crc(batch);
    Ok(())
}

/// Marks a built magic-2 batch LogAppendTime with `time` as its `max_timestamp` and recomputes
/// its CRC (what a broker with `message.timestamp.type=LogAppendTime` does). `batch` must be
/// exactly one batch.
pub fn set_log_append_time(batch: &mut [u8], time: i64) -> Result<()> {
    check_v2(batch)?;
    batch[22] |= TIMESTAMP_TYPE_MASK as u8;
    batch[35..43].copy_from_slice(&time.to_be_bytes());
    update_crc(batch);
    Ok(())
}
