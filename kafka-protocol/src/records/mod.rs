//! Record batches (magic 2), legacy message sets (magic 0 and 1) and compression.
//!
//! # Layout
//!
//! - [`compression`]: the [`Compression`] codecs, [`compress`] and the capped [`decompress`]
//!   (gzip, snappy in xerial framing, Kafka's LZ4 frame, zstd).
//! - `batch`: [`RecordBatch`] (header fields, flags, [`RecordBatch::records`]) and the magic-2
//!   header decoder, with the wire layout.
//! - `record`: [`Record`], the lazy zero-copy [`RecordIter`] and [`Headers`].
//! - `builder`: [`RecordBatchBuilder`] and in-place header rewrites ([`set_base_offset`],
//!   [`set_producer_state`], ...).
//! - `control`: [`ControlRecord`] parsing and [`write_end_txn_marker`].
//! - `legacy`: magic 0/1 message sets, including compressed wrappers.
//! - this file: [`decode_batches`], the entry point for a Fetch or Produce `records` field.
//!
//! # Reading
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_protocol::records::{Compression, DecodeOptions, RecordBatchBuilder, decode_batches};
//!
//! let mut buf = BytesMut::new();
//! let mut builder = RecordBatchBuilder::new(Compression::Zstd);
//! builder.base_offset(100);
//! builder.append(1_000, None, Some(b"a"), &[]).unwrap();
//! builder.append(1_001, Some(b"k"), Some(b"b"), &[("h", None)]).unwrap();
//! builder.build(&mut buf).unwrap();
//! let len = buf.len();
//! builder.build(&mut buf).unwrap();
//! buf.truncate(len + 30); // a fetch response cut the second batch short
//!
//! let mut batches = decode_batches(buf.freeze(), &DecodeOptions::default());
//! let batch = batches.next().unwrap().unwrap();
//! let offsets: Vec<i64> = batch.records().map(|r| r.unwrap().offset).collect();
//! assert_eq!(offsets, [100, 101]);
//! assert!(batches.next().is_none());
//! assert_eq!(batches.truncated_tail().unwrap().available, 30);
//! ```

mod batch;
mod builder;
pub mod compression;
mod control;
mod legacy;
mod record;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use batch::{LOG_OVERHEAD, MAGIC_OFFSET, RECORD_BATCH_OVERHEAD, RecordBatch, TimestampType};
pub use builder::{
    RecordBatchBuilder, set_base_offset, set_log_append_time, set_partition_leader_epoch, set_producer_state,
};
pub use compression::{Compression, compress, decompress};
pub use control::{ControlRecord, ControlRecordType, EndTxnMarker, write_end_txn_marker};
pub use legacy::{RECORD_OVERHEAD_V0, RECORD_OVERHEAD_V1};
pub use record::{HeaderIter, Headers, Record, RecordIter};

use crate::{Error, Result};

/// How [`decode_batches`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Check each batch's CRC (Java's `check.crcs`, default true). A mismatch is
    /// [`Error::CrcMismatch`] (or, for legacy messages, [`Error::CorruptRecords`]).
    pub verify_crc: bool,
    /// The most bytes one batch may decompress to (default 64 MiB); more is
    /// [`Error::DecompressionLimit`].
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { verify_crc: true, max_decompressed_bytes: 64 * 1024 * 1024 }
    }
}

/// The incomplete batch at the end of a records buffer (brokers cut the last batch of a fetch
/// response at the fetch's byte limit). Not an error: fetch again from its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncatedTail {
    /// Its base offset, when the 8 bytes holding it arrived.
    pub base_offset: Option<i64>,
    /// Its full size (offset and length fields included), when the length field arrived.
    pub size: Option<usize>,
    /// The bytes of it that arrived.
    pub available: usize,
}

/// Decodes the batches of a Fetch or Produce `records` field, of any magic.
///
/// Each item is a complete batch, checked (CRC when asked) and decompressed; its records are
/// decoded lazily by [`RecordBatch::records`]. Iteration ends at the end of the buffer, at an
/// incomplete final batch (see [`BatchIter::truncated_tail`]), or after the first error.
pub fn decode_batches(records: Bytes, opts: &DecodeOptions) -> BatchIter {
    BatchIter { rest: records, opts: *opts, done: false, tail: None }
}

/// Iterator over record batches; see [`decode_batches`].
#[derive(Debug, Clone)]
pub struct BatchIter {
    rest: Bytes,
    opts: DecodeOptions,
    done: bool,
    tail: Option<TruncatedTail>,
}

impl BatchIter {
    /// The incomplete batch the buffer ended with, once iteration has reached it.
    pub fn truncated_tail(&self) -> Option<TruncatedTail> {
        self.tail
    }

    /// The bytes not yet decoded.
    pub fn remaining(&self) -> &Bytes {
        &self.rest
    }

    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let b = &self.rest[..];
        if b.is_empty() {
            return None;
        }
        let base_offset = b.get(..8).map(|s| i64::from_be_bytes(s.try_into().unwrap_or_default()));
        if b.len() < LOG_OVERHEAD {
            self.tail = Some(TruncatedTail { base_offset, size: None, available: b.len() });
            return None;
        }
        let base_offset = base_offset.unwrap_or(-1);
        let length = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        if length < RECORD_OVERHEAD_V0 as i32 {
            return Some(Err(Error::CorruptRecords {
                base_offset,
                reason: format!("batch length {length} is below the minimum of {RECORD_OVERHEAD_V0}"),
            }));
        }
        let size = LOG_OVERHEAD + length as usize;
        if b.len() < size {
            self.tail =
                Some(TruncatedTail { base_offset: Some(base_offset), size: Some(size), available: b.len() });
            return None;
        }
        let wire = self.rest.split_to(size);
        Some(match wire[MAGIC_OFFSET] {
            2 => batch::decode_v2(wire, self.opts.verify_crc, self.opts.max_decompressed_bytes),
            0 | 1 => legacy::decode_legacy(wire, self.opts.verify_crc, self.opts.max_decompressed_bytes),
            magic => Err(Error::CorruptRecords { base_offset, reason: format!("unknown magic {magic}") }),
        })
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        let item = self.next_batch();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl std::iter::FusedIterator for BatchIter {}
