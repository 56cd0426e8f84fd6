//! What a produce outcome does to each batch of the request: acknowledged, retried (in
//! sequence order), split after MESSAGE_TOO_LARGE, partly failed (KIP-467 record errors, the
//! other records sent again), or failed.

use std::sync::atomic::Ordering;

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::ProduceResponse;
use kafka_protocol::generated::produce_response::PartitionProduceResponse;
use tokio::time::Instant;

use super::idempotence::{Idempotence, SeqVerdict};
use crate::accumulator::{Ack, ProducerBatch, Target};
use crate::error::Error;
use crate::producer::Shared;

/// Applies a produce outcome to its batches: done, retried, split, partly failed, or failed.
pub(super) fn handle(
    shared: &Shared,
    idem: &mut Idempotence,
    batches: Vec<ProducerBatch>,
    result: kafka_client::Result<Option<ProduceResponse>>,
) {
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            // the whole request failed (connection lost, timeout): retriable for every
            // batch, and the broker may or may not have written them
            shared.metadata.request_update();
            let retriable = e.is_retriable();
            for mut b in batches {
                idem.returned(&b);
                b.maybe_written = true;
                let err = Error::Client(e.clone());
                retry_or_fail(shared, idem, b, err, retriable);
            }
            return;
        }
    };
    for b in batches {
        idem.returned(&b);
        let Some(resp) = &resp else {
            succeed(shared, idem, b, Ack { base_offset: -1, log_append_time: -1 });
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
            retry_or_fail(shared, idem, b, err, true);
            continue;
        };
        partition_outcome(shared, idem, b, p);
    }
}

fn succeed(shared: &Shared, idem: &mut Idempotence, b: ProducerBatch, ack: Ack) {
    idem.succeeded(&b);
    shared.acc.done(&b.topic, b.partition);
    shared.record_outcome(&b, true);
    b.finish(&shared.acc.pool, Ok(ack));
}

fn broker_error(b: &ProducerBatch, code: ErrorCode, p: &PartitionProduceResponse) -> Error {
    let message = match code {
        ErrorCode::MessageTooLarge => Some(format!(
            "a batch of {} record(s), {} bytes, is larger than the topic's max.message.bytes{}",
            b.records,
            b.size(),
            p.error_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        )),
        _ => p.error_message.clone(),
    };
    Error::Broker { topic: b.topic.to_string(), partition: b.partition, code, message }
}

fn partition_outcome(
    shared: &Shared,
    idem: &mut Idempotence,
    b: ProducerBatch,
    p: &PartitionProduceResponse,
) {
    let code = ErrorCode::from(p.error_code);
    let transactional = shared.txn.is_some();
    let sequenced = b.producer.is_some();
    match code {
        ErrorCode::None | ErrorCode::DuplicateSequenceNumber => {
            let ack = Ack { base_offset: p.base_offset, log_append_time: p.log_append_time_ms };
            succeed(shared, idem, b, ack);
        }
        // a sequence error on a batch behind one that failed (or of an older epoch) only
        // means the earlier one is missing: send it again after it (Java's canRetry)
        ErrorCode::OutOfOrderSequenceNumber
        | ErrorCode::UnknownProducerId
        | ErrorCode::InvalidProducerEpoch
            if sequenced
                && (!transactional || code != ErrorCode::InvalidProducerEpoch)
                && idem.sequence_error(&b, code) == SeqVerdict::Retry =>
        {
            let err = broker_error(&b, code, p);
            retry_or_fail(shared, idem, b, err, true);
        }
        ErrorCode::MessageTooLarge if b.records > 1 => split(shared, idem, b, p),
        _ if !transactional && !p.record_errors.is_empty() && !code.is_retriable() && b.records > 1 => {
            record_errors(shared, idem, b, code, p)
        }
        code if transactional && !code.is_retriable() => {
            // inside a transaction a failed batch fails the transaction: fenced or
            // unauthorized is fatal, anything else abortable (and a used sequence needs a
            // new epoch before the next transaction, KIP-360)
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
            let err = broker_error(&b, code, p);
            shared.with_txn(|t| {
                if sequenced {
                    t.epoch_bump_required = true;
                }
                t.fail(severity, err.clone())
            });
            idem.errored(&b);
            idem.settled(&b);
            shared.acc.done(&b.topic, b.partition);
            shared.record_outcome(&b, false);
            b.finish(&shared.acc.pool, Err(err));
        }
        ErrorCode::OutOfOrderSequenceNumber
        | ErrorCode::UnknownProducerId
        | ErrorCode::InvalidProducerEpoch
            if sequenced =>
        {
            // The broker lost or rejected our sequence state for the batch it expected next:
            // it fails, and `sequence_error` asked for a new epoch of the same producer id
            // (KIP-360, Java's bumpIdempotentProducerEpoch) or a new id (fenced / exhausted
            // epoch); the bump waits for the requests in flight, then renumbers the rest.
            let err = Error::SequenceLost { topic: b.topic.to_string(), partition: b.partition, code };
            shared.acc.done(&b.topic, b.partition);
            shared.record_outcome(&b, false);
            b.finish(&shared.acc.pool, Err(err));
        }
        code => {
            if kafka_client::metadata::needs_metadata_refresh(code) {
                shared.metadata.request_update();
            }
            let err = broker_error(&b, code, p);
            retry_or_fail(shared, idem, b, err, code.is_retriable());
        }
    }
}

/// MESSAGE_TOO_LARGE for a batch of several records: split it into pieces of at most
/// batch.size that each at least halve it (Java's `splitAndReenqueue`; halving also ends the
/// loop Java has when batch.size exceeds the topic's max.message.bytes, KAFKA-8350) and put
/// them first in the queue, in order, with the batch's sequences.
fn split(shared: &Shared, idem: &mut Idempotence, b: ProducerBatch, p: &PartitionProduceResponse) {
    let max = shared.cfg.batch_size.min(b.size() / 2).max(1);
    match b.split(max) {
        Ok(pieces) if pieces.len() > 1 => {
            tracing::debug!(topic = %b.topic, partition = b.partition, records = b.records, pieces = pieces.len(), "MESSAGE_TOO_LARGE: splitting the batch");
            idem.errored(&b);
            idem.settled(&b);
            let mut targets = Vec::with_capacity(b.records as usize);
            for piece in &pieces {
                targets.extend((0..piece.records).map(|i| Target::Moved(piece.completion.clone(), i)));
            }
            shared.retries.fetch_add(1, Ordering::Relaxed);
            let (mut b, mut pieces) = (b, pieces);
            b.move_hooks(&mut pieces, &targets);
            shared.acc.replace(&b.topic, b.partition, pieces);
            b.redirect(&shared.acc.pool, targets);
        }
        Ok(_) => {
            let err = broker_error(&b, ErrorCode::MessageTooLarge, p);
            retry_or_fail(shared, idem, b, err, false);
        }
        Err(e) => retry_or_fail(shared, idem, b, e, false),
    }
}

/// KIP-467: the broker rejected some records of the batch (`record_errors`). Those fail with
/// their own message; the others go again as a new batch in the batch's place.
fn record_errors(
    shared: &Shared,
    idem: &mut Idempotence,
    b: ProducerBatch,
    code: ErrorCode,
    p: &PartitionProduceResponse,
) {
    let bad: std::collections::BTreeMap<i32, Option<&str>> = p
        .record_errors
        .iter()
        .filter(|e| (0..b.records).contains(&e.batch_index))
        .map(|e| (e.batch_index, e.batch_index_error_message.as_deref()))
        .collect();
    if bad.is_empty() {
        let err = broker_error(&b, code, p);
        return retry_or_fail(shared, idem, b, err, false);
    }
    let rejected = |i: i32| Error::Broker {
        topic: b.topic.to_string(),
        partition: b.partition,
        code,
        message: Some(format!(
            "record {i} of its batch was rejected: {}{}",
            bad.get(&i).copied().flatten().unwrap_or("(no message)"),
            p.error_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        )),
    };
    let kept = match b.retain(|i| !bad.contains_key(&i)) {
        Ok(k) => k,
        Err(e) => return retry_or_fail(shared, idem, b, e, false),
    };
    tracing::warn!(topic = %b.topic, partition = b.partition, rejected = bad.len(), records = b.records, ?code, "records rejected by the broker; resending the others");
    let mut targets: Vec<Target> = (0..b.records).map(|i| Target::Failed(rejected(i))).collect();
    // the batch was not written: the records after it are renumbered behind the new batch
    idem.errored(&b);
    idem.abandoned(&b.topic, b.partition, b.producer, false);
    shared.record_errors(bad.len() as u64);
    let mut b = b;
    match kept {
        Some((nb, kept)) => {
            for (new, old) in kept.into_iter().enumerate() {
                targets[old as usize] = Target::Moved(nb.completion.clone(), new as i32);
            }
            let mut pieces = vec![nb];
            b.move_hooks(&mut pieces, &targets);
            shared.acc.replace(&b.topic, b.partition, pieces);
        }
        None => {
            b.move_hooks(&mut [], &targets);
            shared.acc.done(&b.topic, b.partition);
        }
    }
    b.redirect(&shared.acc.pool, targets);
}

pub(super) fn retry_or_fail(
    shared: &Shared,
    idem: &mut Idempotence,
    mut b: ProducerBatch,
    err: Error,
    retriable: bool,
) {
    idem.errored(&b);
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
    // its sequence is now a gap (later batches are renumbered) or unresolved (new epoch)
    idem.abandoned(&b.topic, b.partition, b.producer, b.maybe_written);
    shared.acc.done(&b.topic, b.partition);
    shared.record_outcome(&b, false);
    b.finish(&shared.acc.pool, Err(err));
}
