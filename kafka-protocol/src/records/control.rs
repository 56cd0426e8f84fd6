//! Control records: transaction markers and KRaft control messages.
//!
//! A control batch (attribute bit 5) holds records whose key is
//! `version int16 (0), type int16`. Transaction markers (types 0 abort and 1 commit) carry the
//! value `version int16 (0), coordinator_epoch int32` (Java's `EndTransactionMarker`).

use bytes::{BufMut, BytesMut};

use super::builder::RecordBatchBuilder;
use super::record::Record;
use crate::{Error, Result};

/// The type of a control record (Java's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// A transaction abort marker (0).
    Abort,
    /// A transaction commit marker (1).
    Commit,
    /// KRaft leader change (2).
    LeaderChange,
    /// KRaft snapshot header (3).
    SnapshotHeader,
    /// KRaft snapshot footer (4).
    SnapshotFooter,
    /// KRaft version (5).
    KRaftVersion,
    /// KRaft voters (6).
    Voters,
    /// A type this codec does not know; consumers skip it, as Java's do.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type for a wire id.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => Self::Abort,
            1 => Self::Commit,
            2 => Self::LeaderChange,
            3 => Self::SnapshotHeader,
            4 => Self::SnapshotFooter,
            5 => Self::KRaftVersion,
            6 => Self::Voters,
            other => Self::Unknown(other),
        }
    }

    /// The wire id.
    pub fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::LeaderChange => 2,
            Self::SnapshotHeader => 3,
            Self::SnapshotFooter => 4,
            Self::KRaftVersion => 5,
            Self::Voters => 6,
            Self::Unknown(id) => id,
        }
    }
}

/// A parsed control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// The record's type.
    pub record_type: ControlRecordType,
    /// The key's version (0 today; newer versions are read as 0, as Java does).
    pub version: i16,
    /// For commit and abort markers, the transaction coordinator's epoch from the value.
    pub coordinator_epoch: Option<i32>,
}

impl ControlRecord {
    /// Parses a record from a control batch.
    pub fn parse(record: &Record) -> Result<ControlRecord> {
        let corrupt = |reason: String| Error::CorruptRecords { base_offset: record.offset, reason };
        let key = record.key.as_deref().unwrap_or_default();
        if key.len() < 4 {
            return Err(corrupt(format!("control record key of {} bytes (needs 4)", key.len())));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(corrupt(format!("control record key version {version}")));
        }
        let record_type = ControlRecordType::from_id(i16::from_be_bytes([key[2], key[3]]));
        let coordinator_epoch = match record_type {
            ControlRecordType::Abort | ControlRecordType::Commit => {
                let value = record.value.as_deref().unwrap_or_default();
                if value.len() < 6 {
                    return Err(corrupt(format!(
                        "transaction marker value of {} bytes (needs 6)",
                        value.len()
                    )));
                }
                let value_version = i16::from_be_bytes([value[0], value[1]]);
                if value_version < 0 {
                    return Err(corrupt(format!("transaction marker version {value_version}")));
                }
                Some(i32::from_be_bytes([value[2], value[3], value[4], value[5]]))
            }
            _ => None,
        };
        Ok(ControlRecord { record_type, version, coordinator_epoch })
    }
}

/// A transaction marker, written by the broker when a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// Commit (true) or abort (false).
    pub commit: bool,
    /// The transaction coordinator's epoch.
    pub coordinator_epoch: i32,
}

/// Appends a control batch holding one transaction marker, as Java's
/// `MemoryRecords.withEndTransactionMarker` writes it: uncompressed, transactional and control,
/// CreateTime, base sequence -1, the record's timestamp `timestamp`.
pub fn write_end_txn_marker(
    out: &mut BytesMut,
    marker: EndTxnMarker,
    base_offset: i64,
    timestamp: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<()> {
    let record_type = if marker.commit { ControlRecordType::Commit } else { ControlRecordType::Abort };
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(record_type.id());
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(marker.coordinator_epoch);
    let mut b = RecordBatchBuilder::default();
    b.base_offset(base_offset)
        .partition_leader_epoch(partition_leader_epoch)
        .producer(producer_id, producer_epoch, -1)
        .transactional(true)
        .control(true);
    b.append(timestamp, Some(&key), Some(&value), &[])?;
    b.build(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::records::{DecodeOptions, decode_batches};

    #[test]
    fn end_txn_markers_round_trip() {
        for commit in [true, false] {
            let mut buf = BytesMut::new();
            let marker = EndTxnMarker { commit, coordinator_epoch: 17 };
            write_end_txn_marker(&mut buf, marker, 42, 1_234, 5, 9_000, 3).unwrap();
            // RECORD_BATCH_OVERHEAD + Java's CURRENT_END_TXN_SCHEMA_RECORD_SIZE (61 + 17 bytes).
            assert_eq!(buf.len(), 61 + 17);
            let batch = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
            assert!(batch.is_control() && batch.is_transactional());
            assert_eq!((batch.base_offset, batch.producer_id, batch.producer_epoch), (42, 9_000, 3));
            assert_eq!((batch.base_sequence, batch.partition_leader_epoch), (-1, 5));
            let record = batch.records().next().unwrap().unwrap();
            assert_eq!(record.timestamp, 1_234);
            let control = ControlRecord::parse(&record).unwrap();
            let expected = if commit { ControlRecordType::Commit } else { ControlRecordType::Abort };
            assert_eq!(
                control,
                ControlRecord { record_type: expected, version: 0, coordinator_epoch: Some(17) }
            );
        }
    }

    #[test]
    fn control_keys_are_validated() {
        let record = |key: &'static [u8], value: &'static [u8]| Record {
            offset: 1,
            timestamp: 0,
            key: Some(Bytes::from_static(key)),
            value: Some(Bytes::from_static(value)),
            headers: Default::default(),
            sequence: -1,
        };
        assert!(ControlRecord::parse(&record(&[0, 0, 0], b"")).is_err());
        assert!(ControlRecord::parse(&record(&[0xff, 0xff, 0, 1], &[0, 0, 0, 0, 0, 1])).is_err());
        assert!(ControlRecord::parse(&record(&[0, 0, 0, 1], &[0, 0, 0])).is_err());
        let snapshot = ControlRecord::parse(&record(&[0, 0, 0, 3], b"")).unwrap();
        assert_eq!(snapshot.record_type, ControlRecordType::SnapshotHeader);
        assert_eq!(snapshot.coordinator_epoch, None);
        let unknown = ControlRecord::parse(&record(&[0, 1, 0, 99], b"")).unwrap();
        assert_eq!((unknown.record_type, unknown.version), (ControlRecordType::Unknown(99), 1));
        for id in 0..8 {
            assert_eq!(ControlRecordType::from_id(id).id(), id);
        }
    }
}
