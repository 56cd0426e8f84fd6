//! ListOffsets (key 2) and OffsetForLeaderEpoch (key 23).

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::generated::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::generated::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use kafka_protocol::records::{DecodeOptions, decode_batches};

use super::{Ctx, leader_partition};
use crate::state::PartitionLog;

/// Special timestamps (Kafka's `ListOffsetsRequest` constants).
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// (offset, timestamp) of the first record at or after `ts`, or of the record with the largest
/// timestamp (`max`), reading record timestamps from the stored batches.
fn search(log: &PartitionLog, ts: i64, max: bool, limit: i64) -> Option<(i64, i64)> {
    let opts = DecodeOptions::default();
    let mut best: Option<(i64, i64)> = None;
    for b in log.batches.iter().filter(|b| !b.control && b.base_offset < limit) {
        if !max && b.max_timestamp < ts {
            continue;
        }
        for batch in decode_batches(b.bytes.clone(), &opts).flatten() {
            for r in batch.records().flatten() {
                if r.offset < log.log_start_offset || r.offset >= limit {
                    continue;
                }
                if max {
                    if best.is_none_or(|(_, t)| r.timestamp > t) {
                        best = Some((r.offset, r.timestamp));
                    }
                } else if r.timestamp >= ts {
                    return Some((r.offset, r.timestamp));
                }
            }
        }
    }
    best
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut st = ctx.shared.state();
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .iter()
        .map(|t| ListOffsetsTopicResponse {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|lp| {
                    let mut r = ListOffsetsPartitionResponse {
                        partition_index: lp.partition_index,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                        ..Default::default()
                    };
                    let epoch = if ctx.version >= 4 { lp.current_leader_epoch } else { -1 };
                    match leader_partition(&mut st, ctx.broker, &t.name, lp.partition_index, epoch) {
                        Err(code) => r.error_code = code.code(),
                        Ok(p) => {
                            let limit = if read_committed {
                                p.log.last_stable_offset()
                            } else {
                                p.log.high_watermark()
                            };
                            r.leader_epoch = p.leader_epoch;
                            match lp.timestamp {
                                LATEST | LATEST_TIERED => r.offset = limit,
                                EARLIEST | EARLIEST_LOCAL => r.offset = p.log.log_start_offset,
                                MAX_TIMESTAMP => {
                                    if let Some((o, ts)) = search(&p.log, 0, true, limit) {
                                        r.offset = o;
                                        r.timestamp = ts;
                                    }
                                }
                                ts if ts >= 0 => {
                                    if let Some((o, found)) = search(&p.log, ts, false, limit) {
                                        r.offset = o;
                                        r.timestamp = found;
                                    }
                                }
                                other => {
                                    r.error_code = ErrorCode::InvalidRequest.code();
                                    tracing::debug!(timestamp = other, "unknown special timestamp");
                                }
                            }
                        }
                    }
                    r
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ListOffsetsResponse { topics, ..Default::default() }
}

pub(crate) fn error_response(req: &ListOffsetsRequest, code: i16) -> ListOffsetsResponse {
    ListOffsetsResponse {
        topics: req
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        error_code: code,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn epochs(ctx: &Ctx<'_>, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let mut st = ctx.shared.state();
    let topics = req
        .topics
        .iter()
        .map(|t| OffsetForLeaderTopicResult {
            topic: t.topic.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|op| {
                    let mut r = EpochEndOffset {
                        partition: op.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                        ..Default::default()
                    };
                    match leader_partition(
                        &mut st,
                        ctx.broker,
                        &t.topic,
                        op.partition,
                        op.current_leader_epoch,
                    ) {
                        Err(code) => r.error_code = code.code(),
                        Ok(p) => {
                            let (e, o) = p.end_offset_for_epoch(op.leader_epoch);
                            r.leader_epoch = e;
                            r.end_offset = o;
                        }
                    }
                    r
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    OffsetForLeaderEpochResponse { topics, ..Default::default() }
}
