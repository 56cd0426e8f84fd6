//! One partition's in-memory log: whole record batches as the producer sent them, with offsets
//! assigned on append, plus the log start offset, high watermark and last stable offset.

use bytes::{BufMut, Bytes, BytesMut};

/// A stored record batch (magic 2). `bytes` is the whole batch with its base offset and
/// partition leader epoch rewritten by the broker (both lie outside the CRC).
#[derive(Debug, Clone)]
pub struct StoredBatch {
    /// First offset in the batch.
    pub base_offset: i64,
    /// Last offset in the batch.
    pub last_offset: i64,
    /// Largest record timestamp (or the append time for LogAppendTime topics).
    pub max_timestamp: i64,
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
    /// Whether it is a control batch (transaction marker).
    pub control: bool,
    /// The batch bytes.
    pub bytes: Bytes,
}

/// An aborted transaction's range, reported to read_committed fetchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer id.
    pub producer_id: i64,
    /// Offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
}

/// A partition log.
#[derive(Debug, Default, Clone)]
pub struct PartitionLog {
    /// Batches in offset order.
    pub batches: Vec<StoredBatch>,
    /// First offset still readable (DeleteRecords moves it).
    pub log_start_offset: i64,
    /// Next offset to assign (log end offset).
    pub log_end_offset: i64,
    /// Open transactions: producer id → first offset in this partition.
    pub open_txns: std::collections::BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order.
    pub aborted: Vec<AbortedTxn>,
    /// Total bytes stored (for DescribeLogDirs and inspection).
    pub size_bytes: u64,
}

impl PartitionLog {
    /// The high watermark. Every replica of the in-memory cluster is always caught up, so it
    /// equals the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset
    }

    /// The last stable offset: the first offset of the oldest open transaction, else the high
    /// watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.open_txns.values().copied().min().unwrap_or(self.log_end_offset).min(self.high_watermark())
    }

    /// Appends a batch given as the producer sent it; assigns offsets and returns the base
    /// offset. `record_count` is the batch's record count (last offset delta + 1).
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        raw: &[u8],
        offset_count: i64,
        leader_epoch: i32,
        max_timestamp: i64,
        producer_id: i64,
        producer_epoch: i16,
        transactional: bool,
        control: bool,
    ) -> i64 {
        let base = self.log_end_offset;
        let mut b = BytesMut::with_capacity(raw.len());
        b.put_i64(base);
        b.put_slice(&raw[8..12]);
        b.put_i32(leader_epoch);
        b.put_slice(&raw[16..]);
        if transactional && !control {
            self.open_txns.entry(producer_id).or_insert(base);
        }
        self.size_bytes += raw.len() as u64;
        self.batches.push(StoredBatch {
            base_offset: base,
            last_offset: base + offset_count - 1,
            max_timestamp,
            producer_id,
            producer_epoch,
            transactional,
            control,
            bytes: b.freeze(),
        });
        self.log_end_offset = base + offset_count;
        base
    }

    /// Index of the first batch whose last offset is at or after `offset`.
    pub fn batch_index_for(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes` (at least one batch,
    /// KIP-74) and below `limit` (high watermark or last stable offset).
    pub fn read(&self, offset: i64, max_bytes: usize, limit: i64) -> (Bytes, i64) {
        let mut out = BytesMut::new();
        let mut last = -1;
        for b in &self.batches[self.batch_index_for(offset)..] {
            if b.base_offset >= limit || (!out.is_empty() && out.len() + b.bytes.len() > max_bytes) {
                break;
            }
            out.put_slice(&b.bytes);
            last = b.last_offset;
        }
        (out.freeze(), last)
    }

    /// Aborted transactions that overlap `[from, to]`.
    pub fn aborted_in(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted.iter().filter(|a| a.last_offset >= from && a.first_offset <= to).copied().collect()
    }

    /// Drops everything from `offset` on (a replica truncating to a new leader's log).
    /// `offset` must be a batch boundary (or past the end).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), String> {
        if offset >= self.log_end_offset {
            return Ok(());
        }
        let keep = self.batches.partition_point(|b| b.base_offset < offset);
        if keep > 0 && self.batches[keep - 1].last_offset >= offset {
            let b = &self.batches[keep - 1];
            return Err(format!(
                "offset {offset} is inside the batch {}..={}; truncate at a batch boundary",
                b.base_offset, b.last_offset
            ));
        }
        for b in self.batches.drain(keep..) {
            self.size_bytes -= b.bytes.len() as u64;
        }
        self.log_end_offset = offset.max(self.log_start_offset);
        self.log_start_offset = self.log_start_offset.min(self.log_end_offset);
        self.open_txns.retain(|_, first| *first < offset);
        self.aborted.retain(|a| a.last_offset < offset);
        Ok(())
    }

    /// Moves the log start offset forward (DeleteRecords); drops whole batches before it.
    pub fn delete_before(&mut self, offset: i64) {
        if offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = offset.min(self.log_end_offset);
        let keep = self.batch_index_for(self.log_start_offset);
        for b in self.batches.drain(..keep) {
            self.size_bytes -= b.bytes.len() as u64;
        }
    }
}
