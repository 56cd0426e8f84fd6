//! Fetch (key 1): whole batches from the one holding the fetch offset, bounded by partition and
//! response max bytes (always at least one batch, KIP-74), by the high watermark
//! (read_uncommitted) or the last stable offset with the aborted-transactions list
//! (read_committed); consumer fetches (v11+) are served by in-sync followers too, and with the
//! rack-aware replica selector a leader names a replica in the consumer's rack instead of
//! reading (KIP-392); a diverging epoch (v12+) when the fetcher's last fetched epoch ends
//! below its fetch offset here (KIP-320); long poll until min bytes or max wait. Sessionless: every response has
//! session id 0, which tells clients to send full fetches (a valid Kafka answer).

use std::time::Duration;

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use kafka_protocol::generated::{FetchRequest, FetchResponse};

use super::{Ctx, leader_partition, replica_partition};

fn once(ctx: &Ctx<'_>, req: &FetchRequest) -> (FetchResponse, usize) {
    let mut st = ctx.shared.state();
    let mut total = 0usize;
    let mut budget = if ctx.version >= 3 { req.max_bytes.max(0) as usize } else { usize::MAX };
    let read_committed = req.isolation_level == 1;
    // KIP-392: consumers (v11+) may fetch from followers; leaders may point them elsewhere
    let consumer_v11 = ctx.version >= 11 && req.replica_id < 0;
    let selector = (consumer_v11 && st.settings.rack_aware_replica_selector && !req.rack_id.is_empty())
        .then(|| st.brokers.clone());
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = if ctx.version >= 13 {
            st.topic_by_id(t.topic_id).map(|x| x.name.clone())
        } else {
            Some(t.topic.clone())
        };
        let mut parts = Vec::with_capacity(t.partitions.len());
        for fp in &t.partitions {
            let mut pd = PartitionData {
                partition_index: fp.partition,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                preferred_read_replica: -1,
                ..Default::default()
            };
            let Some(name) = &name else {
                pd.error_code = ErrorCode::UnknownTopicId.code();
                parts.push(pd);
                continue;
            };
            let epoch = if ctx.version >= 9 { fp.current_leader_epoch } else { -1 };
            let found = if consumer_v11 {
                replica_partition(&mut st, ctx.broker, name, fp.partition, epoch)
            } else {
                leader_partition(&mut st, ctx.broker, name, fp.partition, epoch)
            };
            match found {
                Err(code) => {
                    pd.error_code = code.code();
                    // the new-leader hint exists from v12 (an encode error below that)
                    if let Some(p) = st
                        .topics
                        .get(name)
                        .and_then(|x| x.partitions.get(fp.partition.max(0) as usize))
                        .filter(|_| ctx.version >= 12)
                    {
                        pd.current_leader = LeaderIdAndEpoch {
                            leader_id: p.leader,
                            leader_epoch: p.leader_epoch,
                            ..Default::default()
                        };
                    }
                }
                Ok(p) => {
                    let hw = p.log.high_watermark();
                    let lso = p.log.last_stable_offset();
                    pd.high_watermark = hw;
                    pd.last_stable_offset = lso;
                    pd.log_start_offset = p.log.log_start_offset;
                    // KIP-320 (v12+): a fetcher whose last fetched epoch ends below its fetch
                    // offset in this log (or is unknown here) is told where the logs diverge
                    let diverging = (ctx.version >= 12 && fp.last_fetched_epoch >= 0)
                        .then(|| p.end_offset_for_epoch(fp.last_fetched_epoch))
                        .filter(|&(e, end)| {
                            e >= 0 && end >= 0 && (e < fp.last_fetched_epoch || end < fp.fetch_offset)
                        });
                    let unknown_epoch = ctx.version >= 12
                        && fp.last_fetched_epoch >= 0
                        && p.end_offset_for_epoch(fp.last_fetched_epoch).0 < 0;
                    let preferred = selector
                        .as_deref()
                        .filter(|_| p.leader == ctx.broker)
                        .and_then(|brokers| p.preferred_read_replica(&req.rack_id, brokers));
                    if let Some(replica) = preferred {
                        // Kafka skips the read and names the replica to fetch from
                        pd.preferred_read_replica = replica;
                    } else if let Some((epoch, end_offset)) = diverging {
                        pd.diverging_epoch = EpochEndOffset { epoch, end_offset, ..Default::default() };
                    } else if unknown_epoch
                        || fp.fetch_offset < p.log.log_start_offset
                        || fp.fetch_offset > hw
                    {
                        pd.error_code = ErrorCode::OffsetOutOfRange.code();
                    } else {
                        let limit = if read_committed { lso } else { hw };
                        let max = (fp.partition_max_bytes.max(0) as usize).min(budget);
                        let (bytes, last) = if max == 0 && total > 0 {
                            (bytes::Bytes::new(), -1)
                        } else {
                            p.log.read(fp.fetch_offset, max.max(1), limit)
                        };
                        if read_committed && !bytes.is_empty() {
                            pd.aborted_transactions = Some(
                                p.log
                                    .aborted_in(fp.fetch_offset, last)
                                    .into_iter()
                                    .map(|a| AbortedTransaction {
                                        producer_id: a.producer_id,
                                        first_offset: a.first_offset,
                                        ..Default::default()
                                    })
                                    .collect(),
                            );
                        } else if read_committed {
                            pd.aborted_transactions = Some(Vec::new());
                        }
                        total += bytes.len();
                        budget = budget.saturating_sub(bytes.len());
                        pd.records = Some(bytes);
                    }
                }
            }
            if pd.records.is_none() {
                pd.records = Some(bytes::Bytes::new());
            }
            parts.push(pd);
        }
        responses.push(FetchableTopicResponse {
            topic: if ctx.version >= 13 { String::new() } else { t.topic.clone() },
            topic_id: t.topic_id,
            partitions: parts,
            ..Default::default()
        });
    }
    (FetchResponse { responses, ..Default::default() }, total)
}

/// Whether to answer at once: an error, a diverging epoch or a preferred read replica in any
/// partition (Kafka's rule).
fn has_error(resp: &FetchResponse) -> bool {
    resp.responses.iter().any(|t| {
        t.partitions
            .iter()
            .any(|p| p.error_code != 0 || p.diverging_epoch.epoch >= 0 || p.preferred_read_replica >= 0)
    })
}

pub(crate) async fn handle(ctx: &Ctx<'_>, req: FetchRequest) -> FetchResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    loop {
        // register interest before checking, so an append between the check and the wait
        // is not missed
        let notified = ctx.shared.data_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (resp, bytes) = once(ctx, &req);
        if bytes >= req.min_bytes.max(0) as usize
            || has_error(&resp)
            || tokio::time::Instant::now() >= deadline
        {
            return resp;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return once(ctx, &req).0;
        }
    }
}

pub(crate) fn error_response(ctx: &Ctx<'_>, req: &FetchRequest, code: i16) -> FetchResponse {
    FetchResponse {
        responses: req
            .topics
            .iter()
            .map(|t| FetchableTopicResponse {
                topic: if ctx.version >= 13 { String::new() } else { t.topic.clone() },
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionData {
                        partition_index: p.partition,
                        error_code: code,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        preferred_read_replica: -1,
                        records: Some(bytes::Bytes::new()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
