//! The sender task: drains ready batches per leader, keeps up to
//! `max.in.flight.requests.per.connection` produce requests in flight per broker, retries
//! retriable failures with backoff within `delivery.timeout.ms`, refreshes metadata on
//! leadership errors, and (with idempotence) owns the producer id and per-partition sequences.
//! It also appends the records that had to wait for metadata or buffer space, in send order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use kafka_client::{Purpose, conn::RequestOptions};
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use tokio::time::Instant;
use tracing::Instrument;

use crate::accumulator::{Ack, ProducerBatch};
use crate::config::Acks;
use crate::error::Error;
use crate::producer::Shared;
use crate::txn::TxnState;

type InFlight = futures::future::BoxFuture<
    'static,
    (i32, Vec<ProducerBatch>, kafka_client::Result<Option<ProduceResponse>>),
>;

/// Idempotence state: the producer id and epoch, and each partition's next sequence.
#[derive(Debug, Default)]
pub(crate) struct Idempotence {
    producer: Option<(i64, i16)>,
    sequences: HashMap<(Arc<str>, i32), i32>,
}

/// Runs until the producer closes and every batch is done.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let mut per_node: HashMap<i32, usize> = HashMap::new();
    let mut idem = Idempotence::default();
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
                idem.producer = producer;
                idem.sequences.clear();
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
        } else if shared.cfg.idempotence && idem.producer.is_none() && shared.acc.has_queued() {
            match init_producer_id(&shared).await {
                Ok(p) => idem.producer = Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "InitProducerId failed; retrying");
                    // records still expire at delivery.timeout.ms (and a closing producer whose
                    // brokers are gone can end)
                    shared.acc.expire(Instant::now());
                    tokio::time::sleep(backoff.backoff(0)).await;
                    continue;
                }
            }
        }
        let snapshot = shared.metadata.snapshot();
        let max_in_flight = shared.cfg.max_in_flight;
        let (drained, next) = shared.acc.drain(
            Instant::now(),
            |t, p| snapshot.partition(t, p).and_then(|p| p.leader),
            |node| per_node.get(&node).copied().unwrap_or(0) < max_in_flight,
            shared.cfg.idempotence,
            shared.cfg.max_request_size,
            |t, p| shared.txn().is_none_or(|m| m.may_drain(t, p)),
        );
        for (node, mut batches) in drained {
            if let Some((id, epoch)) = idem.producer {
                for b in &mut batches {
                    if b.producer.is_none() {
                        let seq = idem.sequences.entry((b.topic.clone(), b.partition)).or_insert(0);
                        b.producer = Some((id, epoch, *seq));
                        *seq = seq.wrapping_add(b.records) & i32::MAX;
                    }
                }
            }
            if let Some(f) = send(shared.clone(), node, batches) {
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
                handle(&shared, &mut idem, batches, result);
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
fn send(shared: Arc<Shared>, node: i32, batches: Vec<ProducerBatch>) -> Option<InFlight> {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut kept = Vec::with_capacity(batches.len());
    let mut sizes = Vec::with_capacity(batches.len());
    for mut b in batches {
        b.attempts += 1;
        let records = match b.wire() {
            Ok(r) => r,
            Err(e) => {
                shared.acc.done(&b.topic, b.partition);
                shared.record_outcome(&b, false);
                b.finish(&shared.acc.pool, Err(e));
                continue;
            }
        };
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
                transactional_id: shared.txn().map(|t| t.transactional_id.clone()),
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
                let opts = RequestOptions { version: None, timeout: Some(shared.cfg.client.request_timeout) };
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

/// Applies a produce outcome to its batches: done, retried, or failed.
fn handle(
    shared: &Shared,
    idem: &mut Idempotence,
    batches: Vec<ProducerBatch>,
    result: kafka_client::Result<Option<ProduceResponse>>,
) {
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            // the whole request failed (connection lost, timeout): retriable for every batch
            shared.metadata.request_update();
            let retriable = e.is_retriable();
            for b in batches {
                let err = Error::Client(e.clone());
                retry_or_fail(shared, b, err, retriable);
            }
            return;
        }
    };
    for b in batches {
        let Some(resp) = &resp else {
            shared.acc.done(&b.topic, b.partition);
            shared.record_outcome(&b, true);
            b.finish(&shared.acc.pool, Ok(Ack { base_offset: -1, log_append_time: -1 }));
            continue;
        };
        let p = resp
            .responses
            .iter()
            .filter(|t| *t.name == *b.topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == b.partition);
        let Some(p) = p else {
            let err = Error::Topic {
                topic: b.topic.to_string(),
                reason: format!("partition {} missing from the produce response", b.partition),
            };
            retry_or_fail(shared, b, err, true);
            continue;
        };
        let code = ErrorCode::from(p.error_code);
        match code {
            ErrorCode::None | ErrorCode::DuplicateSequenceNumber => {
                shared.acc.done(&b.topic, b.partition);
                shared.record_outcome(&b, true);
                let ack = Ack { base_offset: p.base_offset, log_append_time: p.log_append_time_ms };
                b.finish(&shared.acc.pool, Ok(ack));
            }
            code if shared.txn.is_some() && !code.is_retriable() => {
                // inside a transaction a failed batch fails the transaction: fenced or
                // unauthorized is fatal, anything else abortable (and a sequence error needs
                // a new epoch before the next transaction, KIP-360)
                let severity = if matches!(
                    code,
                    ErrorCode::ProducerFenced
                        | ErrorCode::InvalidProducerEpoch
                        | ErrorCode::TransactionalIdAuthorizationFailed
                        | ErrorCode::ClusterAuthorizationFailed
                ) {
                    crate::txn::Severity::Fatal
                } else {
                    crate::txn::Severity::Abortable
                };
                let err = Error::Broker {
                    topic: b.topic.to_string(),
                    partition: b.partition,
                    code,
                    message: p.error_message.clone(),
                };
                shared.with_txn(|t| {
                    if matches!(code, ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId) {
                        t.epoch_bump_required = true;
                    }
                    t.fail(severity, err.clone())
                });
                shared.acc.done(&b.topic, b.partition);
                shared.record_outcome(&b, false);
                b.finish(&shared.acc.pool, Err(err));
            }
            ErrorCode::OutOfOrderSequenceNumber
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch
                if shared.cfg.idempotence =>
            {
                // The broker lost or rejected our sequence state: fail this batch and restart
                // every sequence at 0 under a new epoch. KIP-360 (Java's
                // bumpIdempotentProducerEpoch): a sequence error bumps the epoch of the same
                // producer id locally, which the broker accepts from sequence 0; a fenced epoch
                // (or an exhausted one) takes a new producer id. Only a batch of the current
                // id/epoch moves it on, so several failing batches bump once.
                let current = idem.producer;
                if current.is_some() && b.producer.map(|(id, epoch, _)| (id, epoch)) == current {
                    idem.producer = match (code, current) {
                        (
                            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId,
                            Some((id, epoch)),
                        ) if epoch < i16::MAX => Some((id, epoch + 1)),
                        _ => None,
                    };
                    tracing::info!(?current, next = ?idem.producer, ?code, "sequence state lost; new producer epoch");
                    idem.sequences.clear();
                }
                let err = Error::SequenceLost { topic: b.topic.to_string(), partition: b.partition, code };
                shared.acc.done(&b.topic, b.partition);
                shared.record_outcome(&b, false);
                b.finish(&shared.acc.pool, Err(err));
            }
            code => {
                if kafka_client::metadata::needs_metadata_refresh(code) {
                    shared.metadata.request_update();
                }
                let err = Error::Broker {
                    topic: b.topic.to_string(),
                    partition: b.partition,
                    code,
                    message: p.error_message.clone(),
                };
                retry_or_fail(shared, b, err, code.is_retriable());
            }
        }
    }
}

fn retry_or_fail(shared: &Shared, mut b: ProducerBatch, err: Error, retriable: bool) {
    let expired = b.created.elapsed() >= shared.cfg.delivery_timeout;
    if retriable && !expired && b.attempts <= shared.cfg.retries {
        tracing::debug!(topic = %b.topic, partition = b.partition, attempts = b.attempts, error = %err, "retrying batch");
        let backoff = shared.cfg.client.retry_backoff_policy().backoff(b.attempts.saturating_sub(1));
        b.retry_at = Some(Instant::now() + backoff);
        b.last_error = Some(err.to_string());
        shared.retries.fetch_add(1, Ordering::Relaxed);
        shared.metrics.retried_records.fetch_add(b.records.max(0) as u64, Ordering::Relaxed);
        shared.acc.reenqueue(b);
        return;
    }
    let err = if retriable && expired {
        Error::DeliveryTimeout {
            topic: b.topic.to_string(),
            partition: b.partition,
            elapsed: b.created.elapsed(),
            last: Some(err.to_string()),
        }
    } else {
        err
    };
    if shared.txn.is_some() {
        // an expired or exhausted batch of a transaction: its sequence may or may not have
        // been written, so the epoch must be bumped before the next transaction
        shared.with_txn(|t| {
            t.epoch_bump_required = true;
            t.fail(crate::txn::Severity::Abortable, err.clone())
        });
    }
    shared.acc.done(&b.topic, b.partition);
    shared.record_outcome(&b, false);
    b.finish(&shared.acc.pool, Err(err));
}
