//! The sender task: drains ready batches per leader, keeps up to
//! `max.in.flight.requests.per.connection` produce requests in flight per broker, retries
//! retriable failures with backoff within `delivery.timeout.ms`, refreshes metadata on
//! leadership errors, and (with idempotence) owns the producer id and per-partition sequences.
//! It also appends the records that had to wait for metadata or buffer space, in send order.
//!
//! - `idempotence.rs`: sequences, per-partition pipelining / probing, epoch bumps (sans-IO).
//! - `response.rs`: what a produce answer does to each batch (done, retried, split, partly
//!   failed, failed).

mod idempotence;
mod response;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use kafka_client::{Purpose, conn::RequestOptions};
use kafka_protocol::generated::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;
use tracing::Instrument;

use crate::accumulator::ProducerBatch;
use crate::config::Acks;
use crate::error::Error;
use crate::producer::Shared;
use crate::txn::TxnState;
use idempotence::{Bump, Idempotence};

type InFlight = futures::future::BoxFuture<
    'static,
    (i32, Vec<ProducerBatch>, kafka_client::Result<Option<ProduceResponse>>),
>;

/// Runs until the producer closes and every batch is done.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let mut per_node: HashMap<i32, usize> = HashMap::new();
    let mut idem = Idempotence::new(shared.txn.is_some());
    let mut meta_rx = shared.metadata.subscribe();
    let backoff = shared.cfg.client.retry_backoff_policy();
    // transactions: when the next AddPartitionsToTxn may be sent (after a retriable answer)
    let mut add_retry_at: Option<Instant> = None;
    loop {
        shared.append_waiting();
        if shared.txn.is_some() {
            // the producer id/epoch belong to the transaction manager; a new epoch restarts
            // every sequence at 0
            let (producer, pending) = shared
                .with_txn(|t| {
                    for tp in shared.acc.queued_partitions() {
                        t.maybe_add_partition(&tp);
                    }
                    (t.producer(), t.pending_partitions())
                })
                .expect("transactional");
            if idem.producer != producer {
                idem.reset(producer);
            }
            if !pending.is_empty() && add_retry_at.is_none_or(|t| t <= Instant::now()) {
                add_retry_at = None;
                match crate::txn::add_partitions(&shared, &pending).await {
                    crate::txn::Step::Done(()) => continue,
                    crate::txn::Step::Retry(wait, e) => {
                        tracing::debug!(error = %e, ?wait, "AddPartitionsToTxn will be retried");
                        add_retry_at = Some(Instant::now() + wait);
                    }
                    crate::txn::Step::Fail(sev, e) => {
                        shared.with_txn(|t| t.fail(sev, e));
                    }
                }
            }
            // Java's Sender: after an abortable error the batches never sent fail with it
            // (they could only be aborted), after a fatal one every queued batch does, so
            // nobody waits for delivery.timeout.ms on a record that can never be written
            let failed = shared
                .with_txn(|t| match t.state() {
                    TxnState::AbortableError => Some((false, t.last_error().cloned())),
                    TxnState::FatalError => Some((true, t.last_error().cloned())),
                    _ => None,
                })
                .flatten();
            if let Some((fatal, err)) = failed {
                let err = err.unwrap_or(Error::Closed);
                if shared.acc.has_queued() && shared.acc.fail_queued(&err, fatal) {
                    shared.with_txn(|t| t.epoch_bump_required = true);
                }
                if fatal {
                    shared.fail_waiting(|_| err.clone());
                }
            }
        } else if shared.cfg.idempotence {
            // a bump waits for every produce request in flight, so no batch of the old epoch
            // can be written after one of the new
            if let Some(bump) = idem.bump.filter(|_| in_flight.is_empty()) {
                let next = match (bump, idem.producer) {
                    (Bump::Epoch, Some((id, epoch))) => Some((id, epoch + 1)),
                    _ => None,
                };
                tracing::info!(current = ?idem.producer, ?next, "sequence state lost; new producer epoch");
                idem.reset(next);
                if let Some(p) = next {
                    restamp_all(&shared, &mut idem, p);
                }
            }
            if idem.producer.is_none() && shared.acc.has_queued() {
                match init_producer_id(&shared).await {
                    Ok(p) => {
                        idem.reset(Some(p));
                        restamp_all(&shared, &mut idem, p);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "InitProducerId failed; retrying");
                        // records still expire at delivery.timeout.ms (and a closing producer
                        // whose brokers are gone can end)
                        for e in shared.acc.expire(Instant::now()) {
                            idem.abandoned(&e.topic, e.partition, e.producer, e.maybe_written);
                        }
                        tokio::time::sleep(backoff.backoff(0)).await;
                        continue;
                    }
                }
            }
        }
        // a partition whose batch failed unwritten is renumbered once nothing of it is out
        if let Some(producer) = idem.producer {
            for (t, p) in idem.pending_resequence() {
                if shared.acc.in_flight(&t, p) > 0 {
                    continue;
                }
                match shared.acc.resequence(&t, p, producer, idem.resequence_start(&t, p), false) {
                    Some(next) => idem.resequenced(&t, p, next),
                    None => idem.resequence_refused(&t, p),
                }
            }
        }
        let snapshot = shared.metadata.snapshot();
        let max_in_flight = shared.cfg.max_in_flight;
        let drained = shared.acc.drain(
            Instant::now(),
            |t, p| snapshot.partition(t, p).and_then(|p| p.leader),
            |node| per_node.get(&node).copied().unwrap_or(0) < max_in_flight,
            |t, p| if shared.cfg.idempotence { idem.limit(t, p, max_in_flight) } else { usize::MAX },
            shared.cfg.max_request_size,
            |t, p| shared.txn().is_none_or(|m| m.may_drain(t, p)),
        );
        for e in &drained.expired {
            idem.abandoned(&e.topic, e.partition, e.producer, e.maybe_written);
        }
        let next = drained.next;
        for (node, mut batches) in drained.batches {
            for b in &mut batches {
                idem.assign(b);
            }
            if let Some(f) = send(shared.clone(), &mut idem, node, batches) {
                *per_node.entry(node).or_default() += 1;
                in_flight.push(f);
            }
        }
        if shared.acc.closing.load(Ordering::Acquire)
            && in_flight.is_empty()
            && !shared.acc.has_queued()
            && shared.waiting_is_empty()
        {
            // closed (or the last handle dropped): nothing left, so the task ends
            shared.shutdown();
            return;
        }
        let next = match (next, add_retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = match (next, shared.waiting_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleep_until = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            Some((node, batches, result)) = in_flight.next() => {
                if let Some(n) = per_node.get_mut(&node) {
                    *n = n.saturating_sub(1);
                }
                response::handle(&shared, &mut idem, batches, result);
            }
            _ = shared.acc.wake.notified() => {}
            _ = shared.acc.pool.freed.notified(), if !shared.waiting_is_empty() => {}
            _ = meta_rx.changed() => {}
            // an authentication failure fails the waiting records at once
            _ = shared.metadata.failed(), if !shared.waiting_is_empty() => {}
            _ = tokio::time::sleep_until(sleep_until) => {}
        }
    }
}

async fn init_producer_id(shared: &Shared) -> kafka_client::Result<(i64, i16)> {
    let pool = shared.metadata.client();
    let node = pool
        .least_loaded_node()
        .ok_or(kafka_client::Error::NoBrokerAvailable { reason: "no broker for InitProducerId".into() })?;
    let req = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: -1,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let resp = pool.send(node, Purpose::Admin, &req).await?;
    let code = ErrorCode::from(resp.error_code);
    if code != ErrorCode::None {
        return Err(kafka_client::Error::Broker {
            api: kafka_protocol::ApiKey::InitProducerId,
            broker: None,
            topic: None,
            partition: None,
            code,
            message: None,
        });
    }
    tracing::debug!(producer_id = resp.producer_id, epoch = resp.producer_epoch, "producer id assigned");
    Ok((resp.producer_id, resp.producer_epoch))
}

/// Builds the produce request for `batches` (a batch that cannot be built fails alone) and
/// returns the future that sends it; `None` when no batch was left.
fn send(
    shared: Arc<Shared>,
    idem: &mut Idempotence,
    node: i32,
    batches: Vec<ProducerBatch>,
) -> Option<InFlight> {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut kept = Vec::with_capacity(batches.len());
    let mut sizes = Vec::with_capacity(batches.len());
    for mut b in batches {
        b.attempts += 1;
        let records = match b.wire() {
            Ok(r) => r,
            Err(e) => {
                idem.abandoned(&b.topic, b.partition, b.producer, b.maybe_written);
                shared.acc.done(&b.topic, b.partition);
                shared.record_outcome(&b, false);
                b.finish(&shared.acc.pool, Err(e));
                continue;
            }
        };
        idem.sent(&b);
        sizes.push(records.len());
        let data = PartitionProduceData { index: b.partition, records: Some(records), ..Default::default() };
        match topics.iter_mut().find(|t| *t.name == *b.topic) {
            Some(t) => t.partition_data.push(data),
            None => topics.push(TopicProduceData {
                name: b.topic.to_string(),
                partition_data: vec![data],
                ..Default::default()
            }),
        }
        kept.push(b);
    }
    if kept.is_empty() {
        return None;
    }
    let batches = kept;
    // a v1 transaction must not use Produce v12+, which would add partitions under v2 rules
    let (transactional_id, cap) = match shared.txn() {
        Some(t) => (Some(t.transactional_id.clone()), (!t.is_v2()).then_some(crate::txn::PRODUCE_V1_MAX)),
        None => (None, None),
    };
    let started = Instant::now();
    shared.metrics.request_sent(started, &batches, &sizes);
    let span = tracing::debug_span!(
        "produce",
        node,
        topics = topics.len(),
        partitions = batches.len(),
        records = batches.iter().map(|b| b.records as i64).sum::<i64>(),
        bytes = sizes.iter().sum::<usize>(),
    );
    let gauge = crate::metrics::InFlightGuard::new(shared.clone());
    Some(Box::pin(
        async move {
            let _gauge = gauge;
            let req = ProduceRequest {
                transactional_id,
                acks: shared.cfg.acks.wire(),
                timeout_ms: shared.cfg.client.request_timeout.as_millis().min(i32::MAX as u128) as i32,
                topic_data: topics,
                ..Default::default()
            };
            let pool = shared.metadata.client();
            let result = async {
                let conn = pool.connection(node, Purpose::Produce).await?;
                if shared.cfg.acks == Acks::None {
                    conn.send_oneway(&req, None)?;
                    return Ok(None);
                }
                let version = cap.and_then(|cap| conn.version(ApiKey::Produce).map(|v| v.min(cap)));
                let opts = RequestOptions { version, timeout: Some(shared.cfg.client.request_timeout) };
                conn.send_with(&req, opts).await.map(Some)
            }
            .await;
            let now = Instant::now();
            let throttle = result.as_ref().ok().and_then(|r| r.as_ref()).map(|r| r.throttle_time_ms);
            if let Err(e) = &result {
                tracing::debug!(error = %e, "produce request failed");
            }
            shared.metrics.request_done(
                now,
                now.saturating_duration_since(started),
                throttle,
                shared.totals(),
            );
            (node, batches, result)
        }
        .instrument(span),
    ))
}

/// After a new producer id or epoch: every queued batch that has a sequence (a retry, a split
/// piece) is renumbered from 0 under it, in queue order (KIP-360; Java's
/// `startSequencesAtBeginning`). Batches that may have been written move too: the new epoch is
/// the only way forward for them.
fn restamp_all(shared: &Shared, idem: &mut Idempotence, producer: (i64, i16)) {
    for (t, p) in shared.acc.sequenced_partitions() {
        if let Some(next) = shared.acc.resequence(&t, p, producer, 0, true) {
            idem.resequenced(&t, p, next);
        }
    }
}
