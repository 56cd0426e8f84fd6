//! Turning one partition's fetch response into records (sans-IO): skips what lies before
//! the position, control batches, and — for read_committed — the batches of aborted
//! transactions, using the response's aborted-transactions list as Java's `Fetcher` does.

use std::collections::BTreeSet;

use bytes::Bytes;
use kafka_protocol::generated::fetch_response::AbortedTransaction;
use kafka_protocol::records::{ControlRecord, ControlRecordType, DecodeOptions, decode_batches};

use crate::error::{Error, Result};
use crate::record::ConsumerRecord;

/// The records of one partition's fetched data at and after `position`, and the position
/// after them (the next offset to fetch).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) records: Vec<ConsumerRecord>,
    pub(crate) next_position: i64,
    /// The partition leader epoch of the last batch read past the position (KIP-320: the
    /// epoch the next fetch position belongs to, validated after a leader change).
    pub(crate) last_epoch: Option<i32>,
}

/// Parses `data` fetched for `topic`-`partition` from `position`.
pub(crate) fn parse(
    topic: &str,
    partition: i32,
    data: Bytes,
    position: i64,
    aborted: Option<&[AbortedTransaction]>,
    read_committed: bool,
    check_crcs: bool,
) -> Result<Parsed> {
    let opts = DecodeOptions { verify_crc: check_crcs, ..Default::default() };
    let mut records = Vec::new();
    let mut next = position;
    let mut last_epoch = None;
    // aborted transactions ordered by first offset; producers whose aborted range we are in
    let mut pending: Vec<(i64, i64)> =
        aborted.unwrap_or_default().iter().map(|a| (a.first_offset, a.producer_id)).collect();
    pending.sort_unstable();
    let mut pending = pending.into_iter().peekable();
    let mut aborting: BTreeSet<i64> = BTreeSet::new();
    let corrupt =
        |offset: i64, reason: String| Error::Corrupt { topic: topic.to_owned(), partition, offset, reason };
    for batch in decode_batches(data, &opts) {
        let batch = match batch {
            Ok(b) => b,
            // records before a damaged batch are still delivered; the next fetch hits it again
            Err(e) if !records.is_empty() => {
                tracing::debug!(topic, partition, error = %e, "stopping at a corrupt batch");
                break;
            }
            Err(e) => return Err(corrupt(next, e.to_string())),
        };
        if batch.next_offset() <= position {
            continue;
        }
        if batch.partition_leader_epoch >= 0 {
            last_epoch = Some(batch.partition_leader_epoch);
        }
        if read_committed {
            while let Some(&(first, producer)) = pending.peek() {
                if first > batch.last_offset() {
                    break;
                }
                aborting.insert(producer);
                pending.next();
            }
        }
        if batch.is_control() {
            for r in batch.records() {
                let r = r.map_err(|e| corrupt(batch.base_offset, e.to_string()))?;
                if let Ok(c) = ControlRecord::parse(&r) {
                    if c.record_type == ControlRecordType::Abort || c.record_type == ControlRecordType::Commit
                    {
                        aborting.remove(&batch.producer_id);
                    }
                }
            }
            next = batch.next_offset();
            continue;
        }
        if read_committed && batch.is_transactional() && aborting.contains(&batch.producer_id) {
            next = batch.next_offset();
            continue;
        }
        let epoch = Some(batch.partition_leader_epoch).filter(|e| *e >= 0);
        let timestamp_type = batch.timestamp_type();
        for r in batch.records() {
            let r = r.map_err(|e| corrupt(batch.base_offset, e.to_string()))?;
            if r.offset < position {
                continue;
            }
            records.push(ConsumerRecord {
                topic: topic.to_owned(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type,
                key: r.key,
                value: r.value,
                headers: r.headers,
                leader_epoch: epoch,
            });
        }
        next = batch.next_offset();
    }
    Ok(Parsed { records, next_position: next, last_epoch })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::records::{Compression, EndTxnMarker, RecordBatchBuilder, write_end_txn_marker};

    use super::*;

    fn batch(out: &mut BytesMut, base: i64, values: &[&str], producer: Option<i64>) {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.base_offset(base);
        if let Some(p) = producer {
            b.producer(p, 0, 0).transactional(true);
        }
        for v in values {
            b.append(0, None, Some(v.as_bytes()), &[]).unwrap();
        }
        b.build(out).unwrap();
    }

    fn values(p: &Parsed) -> Vec<String> {
        p.records.iter().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect()
    }

    #[test]
    fn skips_records_before_the_position_mid_batch() {
        let mut buf = BytesMut::new();
        batch(&mut buf, 0, &["a", "b", "c"], None);
        batch(&mut buf, 3, &["d"], None);
        let p = parse("t", 0, buf.freeze(), 1, None, false, true).unwrap();
        assert_eq!(values(&p), ["b", "c", "d"]);
        assert_eq!(p.next_position, 4);
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_control_batches() {
        let mut buf = BytesMut::new();
        batch(&mut buf, 0, &["t1-a", "t1-b"], Some(7)); // aborted
        batch(&mut buf, 2, &["t2-a"], Some(8)); // committed
        let marker = |commit| EndTxnMarker { commit, coordinator_epoch: 0 };
        write_end_txn_marker(&mut buf, marker(false), 3, 0, 0, 7, 0).unwrap();
        write_end_txn_marker(&mut buf, marker(true), 4, 0, 0, 8, 0).unwrap();
        batch(&mut buf, 5, &["plain"], None);
        let aborted = [AbortedTransaction { producer_id: 7, first_offset: 0, ..Default::default() }];
        let data = buf.freeze();
        let committed = parse("t", 0, data.clone(), 0, Some(&aborted), true, true).unwrap();
        assert_eq!(values(&committed), ["t2-a", "plain"]);
        assert_eq!(committed.next_position, 6);
        let uncommitted = parse("t", 0, data, 0, Some(&aborted), false, true).unwrap();
        assert_eq!(values(&uncommitted), ["t1-a", "t1-b", "t2-a", "plain"], "markers are never records");
    }

    #[test]
    fn corruption_is_an_error_naming_the_partition() {
        let mut buf = BytesMut::new();
        batch(&mut buf, 0, &["a"], None);
        let mut bytes = buf.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let e = parse("orders", 3, Bytes::from(bytes), 0, None, false, true).unwrap_err();
        assert!(e.to_string().starts_with("orders-3: corrupt records"), "{e}");
    }
}
