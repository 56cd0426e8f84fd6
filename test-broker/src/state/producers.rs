//! Idempotent-producer state per partition, with Kafka's sequence rules
//! (`ProducerStateManager`): the last five batches per producer are remembered so a retried
//! batch is answered with its original offsets; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER; an
//! older epoch is INVALID_PRODUCER_EPOCH.

use std::collections::VecDeque;

use kafka_protocol::ErrorCode;

/// How many batches per producer are remembered for duplicate detection (Kafka's value).
pub const DEDUP_WINDOW: usize = 5;

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// First sequence.
    pub first_seq: i32,
    /// Last sequence.
    pub last_seq: i32,
    /// Offset of its first record.
    pub base_offset: i64,
}

/// A producer's state in one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerEntry {
    /// Current epoch.
    pub epoch: i16,
    /// The last batches appended, oldest first.
    pub batches: VecDeque<BatchMeta>,
}

/// The outcome of checking a batch's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log, at this base offset.
    Duplicate(i64),
}

fn next_seq(s: i32) -> i32 {
    if s == i32::MAX { 0 } else { s + 1 }
}

impl ProducerEntry {
    /// Checks a batch with `epoch` and sequences `first..=last` against this entry. `None` for
    /// the entry means the broker has never seen this producer in the partition; Kafka then
    /// accepts any sequence.
    pub fn check(
        entry: Option<&ProducerEntry>,
        epoch: i16,
        first: i32,
        last: i32,
    ) -> Result<SeqCheck, ErrorCode> {
        let Some(e) = entry else { return Ok(SeqCheck::Append) };
        if epoch < e.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if epoch > e.epoch {
            return if first == 0 { Ok(SeqCheck::Append) } else { Err(ErrorCode::OutOfOrderSequenceNumber) };
        }
        if let Some(b) = e.batches.iter().find(|b| b.first_seq == first && b.last_seq == last) {
            return Ok(SeqCheck::Duplicate(b.base_offset));
        }
        match e.batches.back() {
            Some(b) if next_seq(b.last_seq) != first => Err(ErrorCode::OutOfOrderSequenceNumber),
            _ => Ok(SeqCheck::Append),
        }
    }

    /// Records an appended batch.
    pub fn record(&mut self, epoch: i16, meta: BatchMeta) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == DEDUP_WINDOW {
            self.batches.pop_front();
        }
        self.batches.push_back(meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_sequence_rules() {
        assert_eq!(
            ProducerEntry::check(None, 0, 7, 9),
            Ok(SeqCheck::Append),
            "first sight accepts any sequence"
        );
        let mut e = ProducerEntry::default();
        e.record(0, BatchMeta { first_seq: 0, last_seq: 4, base_offset: 100 });
        assert_eq!(ProducerEntry::check(Some(&e), 0, 5, 9), Ok(SeqCheck::Append));
        assert_eq!(ProducerEntry::check(Some(&e), 0, 0, 4), Ok(SeqCheck::Duplicate(100)));
        assert_eq!(ProducerEntry::check(Some(&e), 0, 6, 9), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(ProducerEntry::check(Some(&e), 1, 3, 4), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(ProducerEntry::check(Some(&e), 1, 0, 4), Ok(SeqCheck::Append));
        e.record(1, BatchMeta { first_seq: 0, last_seq: 0, base_offset: 200 });
        assert_eq!(ProducerEntry::check(Some(&e), 0, 1, 1), Err(ErrorCode::InvalidProducerEpoch));
        for i in 1..=5 {
            e.record(1, BatchMeta { first_seq: i, last_seq: i, base_offset: 200 + i as i64 });
        }
        assert_eq!(e.batches.len(), DEDUP_WINDOW);
        assert_eq!(
            ProducerEntry::check(Some(&e), 1, 0, 0),
            Err(ErrorCode::OutOfOrderSequenceNumber),
            "evicted"
        );
        let mut w = ProducerEntry::default();
        w.record(0, BatchMeta { first_seq: i32::MAX - 1, last_seq: i32::MAX, base_offset: 0 });
        assert_eq!(ProducerEntry::check(Some(&w), 0, 0, 3), Ok(SeqCheck::Append), "sequences wrap");
    }
}
