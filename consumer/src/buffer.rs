//! `FetchBuffer`: records fetched but not yet returned by `poll`, kept as one chunk per
//! partition response (Java's `CompletedFetch` queue). Which partitions have buffered data is
//! a walk over chunks, not records, and handing records out touches each record once.

use std::collections::VecDeque;

use crate::record::{ConsumerRecord, TopicPartition};

/// One partition's records from one fetch response, in offset order.
#[derive(Debug)]
struct Chunk {
    tp: TopicPartition,
    records: VecDeque<ConsumerRecord>,
}

/// The buffered records, chunk by chunk in arrival order.
#[derive(Debug, Default)]
pub(crate) struct FetchBuffer {
    chunks: VecDeque<Chunk>,
}

impl FetchBuffer {
    /// Whether no record is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Appends one partition's parsed records (empty vectors are dropped).
    pub(crate) fn push(&mut self, tp: TopicPartition, records: Vec<ConsumerRecord>) {
        if !records.is_empty() {
            self.chunks.push_back(Chunk { tp, records: VecDeque::from(records) });
        }
    }

    /// Whether `tp` has buffered records.
    pub(crate) fn contains(&self, tp: &TopicPartition) -> bool {
        self.chunks.iter().any(|c| &c.tp == tp)
    }

    /// Drops the records of partitions for which `keep` is false.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&TopicPartition) -> bool) {
        self.chunks.retain(|c| keep(&c.tp));
    }

    /// Takes the next record (the stream path), moving its partition's position.
    pub(crate) fn pop(
        &mut self,
        mut advanced: impl FnMut(&TopicPartition, &ConsumerRecord),
    ) -> Option<ConsumerRecord> {
        let chunk = self.chunks.front_mut()?;
        let r = chunk.records.pop_front();
        if let Some(r) = &r {
            advanced(&chunk.tp, r);
        }
        if chunk.records.is_empty() {
            self.chunks.pop_front();
        }
        r
    }

    /// Takes up to `max` records from the front; calls `advanced(tp, last_record)` once per
    /// partition run handed out, so positions move without a per-record lookup.
    pub(crate) fn take(
        &mut self,
        max: usize,
        mut advanced: impl FnMut(&TopicPartition, &ConsumerRecord),
    ) -> Vec<ConsumerRecord> {
        let mut out = Vec::with_capacity(max.min(self.chunks.iter().map(|c| c.records.len()).sum()));
        while out.len() < max {
            let Some(chunk) = self.chunks.front_mut() else { break };
            let n = chunk.records.len().min(max - out.len());
            out.extend(chunk.records.drain(..n));
            if let Some(last) = out.last() {
                advanced(&chunk.tp, last);
            }
            if chunk.records.is_empty() {
                self.chunks.pop_front();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Headers, TimestampType};

    fn rec(p: i32, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition: p,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: None,
            headers: Headers::default(),
            leader_epoch: None,
        }
    }

    #[test]
    fn takes_across_chunks_and_reports_each_partitions_next_offset() {
        let mut b = FetchBuffer::default();
        b.push(TopicPartition::new("t", 0), (0..3).map(|o| rec(0, o)).collect());
        b.push(TopicPartition::new("t", 1), (10..12).map(|o| rec(1, o)).collect());
        b.push(TopicPartition::new("t", 2), Vec::new());
        assert!(b.contains(&TopicPartition::new("t", 1)));
        assert!(!b.contains(&TopicPartition::new("t", 2)));
        let mut moved = Vec::new();
        let got = b.take(4, |tp, last| moved.push((tp.partition, last.offset + 1)));
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2, 10]);
        assert_eq!(moved, vec![(0, 3), (1, 11)]);
        b.retain(|tp| tp.partition != 1);
        assert!(b.is_empty());
    }
}
