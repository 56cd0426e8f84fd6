//! Produce (key 0): validation (magic, CRC, record count, offsets, size, keys on compacted
//! topics with KIP-467 per-record errors), idempotent sequence checks, acks 0/1/all with
//! min.insync.replicas, offsets assigned on append.

use bytes::Bytes;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::generated::{ProduceRequest, ProduceResponse};
use kafka_protocol::records::{DecodeOptions, decode_batches};

use super::{Ctx, leader_partition, now_ms, split_batches};
use crate::state::producers::{BatchMeta, ProducerEntry, SeqCheck};

/// The header fields of one incoming batch the broker needs (fixed v2 layout).
struct Incoming {
    raw: Bytes,
    magic: i8,
    attributes: i16,
    last_offset_delta: i32,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

impl Incoming {
    fn parse(raw: Bytes) -> Result<Self, (ErrorCode, String)> {
        if raw.len() < 61 {
            return Err((ErrorCode::CorruptMessage, "record batch shorter than its header".into()));
        }
        let i16_at = |o: usize| i16::from_be_bytes([raw[o], raw[o + 1]]);
        let i32_at = |o: usize| i32::from_be_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
        let i64_at = |o: usize| i64::from_be_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
        Ok(Incoming {
            magic: raw[16] as i8,
            attributes: i16_at(21),
            last_offset_delta: i32_at(23),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            record_count: i32_at(57),
            raw,
        })
    }
    fn transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    fn control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Full validation as Kafka's LogValidator does it for magic 2: CRC, decodable records, record
/// count and consecutive offset deltas.
fn validate(b: &Incoming, compacted: Option<&str>) -> Result<(), Rejected> {
    if b.magic != 2 {
        return Err(Rejected::from((
            ErrorCode::UnsupportedForMessageFormat,
            format!("record batch magic {} is not supported", b.magic),
        )));
    }
    if b.control() {
        return Err(Rejected::from((
            ErrorCode::InvalidRecord,
            "clients may not write control batches".into(),
        )));
    }
    if b.record_count <= 0 || b.last_offset_delta != b.record_count - 1 {
        return Err(Rejected::from((
            ErrorCode::InvalidRecord,
            format!(
                "record count {} does not match last offset delta {}",
                b.record_count, b.last_offset_delta
            ),
        )));
    }
    let opts = DecodeOptions::default();
    let mut batches = decode_batches(b.raw.clone(), &opts);
    let batch = match batches.next() {
        Some(Ok(batch)) => batch,
        Some(Err(e)) if matches!(e, kafka_protocol::Error::CrcMismatch { .. }) => {
            return Err(Rejected::from((ErrorCode::CorruptMessage, e.to_string())));
        }
        Some(Err(e)) => return Err(Rejected::from((ErrorCode::InvalidRecord, e.to_string()))),
        None => return Err(Rejected::from((ErrorCode::CorruptMessage, "incomplete record batch".into()))),
    };
    let mut n = 0i64;
    let mut record_errors = Vec::new();
    for r in batch.records() {
        let r = r.map_err(|e| (ErrorCode::InvalidRecord, e.to_string()))?;
        // Kafka's LogValidator: a compacted topic rejects records without a key, naming each
        // one (KIP-467), and the whole batch with INVALID_RECORD
        if let Some(tp) = compacted.filter(|_| r.key.is_none()) {
            record_errors.push((
                n as i32,
                format!("Compacted topic cannot accept message without key in topic partition {tp}."),
            ));
        }
        if r.offset != batch.base_offset + n {
            return Err(Rejected::from((
                ErrorCode::InvalidRecord,
                format!("inner record offset delta {} is not {n}", r.offset - batch.base_offset),
            )));
        }
        n += 1;
    }
    if n != b.record_count as i64 {
        return Err(Rejected::from((
            ErrorCode::InvalidRecord,
            format!("batch claims {} records but holds {n}", b.record_count),
        )));
    }
    if !record_errors.is_empty() {
        let shown: Vec<String> = record_errors.iter().take(3).map(|(i, m)| format!("{i}: {m}")).collect();
        return Err(Rejected {
            code: ErrorCode::InvalidRecord,
            message: format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                record_errors.len(),
                shown.join(", ")
            ),
            record_errors,
        });
    }
    Ok(())
}

/// Why a batch was refused: a code, a message and (KIP-467) the records at fault.
struct Rejected {
    code: ErrorCode,
    message: String,
    record_errors: Vec<(i32, String)>,
}

impl From<(ErrorCode, String)> for Rejected {
    fn from((code, message): (ErrorCode, String)) -> Self {
        Rejected { code, message, record_errors: Vec::new() }
    }
}

struct PartResult {
    code: ErrorCode,
    message: Option<String>,
    base_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
    leader: (i32, i32),
    /// KIP-467: batch index and message of each record at fault.
    record_errors: Vec<(i32, String)>,
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut appended = false;
    {
        let mut st = ctx.shared.state();
        for t in &req.topic_data {
            if !st.topics.contains_key(&t.name) {
                st.maybe_auto_create(&t.name);
            }
            let mut parts = Vec::with_capacity(t.partition_data.len());
            for p in &t.partition_data {
                let r = produce_partition(
                    &mut st,
                    ctx.broker,
                    &t.name,
                    p.index,
                    p.records.as_ref(),
                    acks,
                    ctx.version,
                );
                appended |= r.code == ErrorCode::None;
                parts.push(PartitionProduceResponse {
                    index: p.index,
                    error_code: r.code.code(),
                    base_offset: r.base_offset,
                    log_append_time_ms: r.log_append_time,
                    log_start_offset: r.log_start_offset,
                    record_errors: match (&r.message, r.code) {
                        _ if !r.record_errors.is_empty() => r
                            .record_errors
                            .iter()
                            .map(|(i, m)| BatchIndexAndErrorMessage {
                                batch_index: *i,
                                batch_index_error_message: Some(m.clone()),
                                ..Default::default()
                            })
                            .collect(),
                        (Some(m), ErrorCode::InvalidRecord) => vec![BatchIndexAndErrorMessage {
                            batch_index: 0,
                            batch_index_error_message: Some(m.clone()),
                            ..Default::default()
                        }],
                        _ => Vec::new(),
                    },
                    error_message: r.message,
                    // Kafka names the new leader only with a leadership error, and the field
                    // exists from v10: setting it below that is an encode error
                    current_leader: if ctx.version >= 10
                        && matches!(r.code, ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch)
                    {
                        LeaderIdAndEpoch {
                            leader_id: r.leader.0,
                            leader_epoch: r.leader.1,
                            ..Default::default()
                        }
                    } else {
                        LeaderIdAndEpoch::default()
                    },
                    ..Default::default()
                });
            }
            responses.push(TopicProduceResponse {
                name: t.name.clone(),
                partition_responses: parts,
                ..Default::default()
            });
        }
    }
    if appended {
        ctx.shared.data_changed.notify_waiters();
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse { responses, ..Default::default() })
}

fn produce_partition(
    st: &mut crate::state::State,
    broker: i32,
    topic: &str,
    partition: i32,
    records: Option<&Bytes>,
    acks: i16,
    version: i16,
) -> PartResult {
    let mut res = PartResult {
        code: ErrorCode::None,
        message: None,
        base_offset: -1,
        log_append_time: -1,
        log_start_offset: -1,
        leader: (-1, -1),
        record_errors: Vec::new(),
    };
    let fail = |mut r: PartResult, code: ErrorCode, message: String| {
        r.code = code;
        r.message = Some(message);
        r
    };
    if !matches!(acks, -1..=1) {
        return fail(res, ErrorCode::InvalidRequiredAcks, format!("acks={acks} is not one of -1, 0, 1"));
    }
    let (max_bytes, min_isr, append_time, compacted) = match st.topics.get(topic) {
        Some(t) => (t.max_message_bytes(), t.min_insync_replicas(), t.log_append_time(), t.compacted()),
        None => return fail(res, ErrorCode::UnknownTopicOrPartition, format!("unknown topic {topic}")),
    };
    if let Err((code, message)) =
        super::txn::check_transactional_produce(st, broker, topic, partition, records, version)
    {
        return fail(res, code, message);
    }
    let p = match leader_partition(st, broker, topic, partition, -1) {
        Ok(p) => p,
        Err(code) => {
            if let Some(p) = st.topics.get(topic).and_then(|t| t.partitions.get(partition.max(0) as usize)) {
                res.leader = (p.leader, p.leader_epoch);
            }
            return fail(res, code, format!("{topic}-{partition}: {}", code.name()));
        }
    };
    res.leader = (p.leader, p.leader_epoch);
    let Some(records) = records else {
        return fail(res, ErrorCode::CorruptMessage, "null records".into());
    };
    let batches = match split_batches(records) {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => return fail(res, ErrorCode::CorruptMessage, "no record batch in the request".into()),
        Err(m) => return fail(res, ErrorCode::CorruptMessage, m),
    };
    let mut parsed = Vec::with_capacity(batches.len());
    for raw in batches {
        if raw.len() > max_bytes {
            return fail(
                res,
                ErrorCode::MessageTooLarge,
                format!(
                    "record batch of {} bytes exceeds max.message.bytes {max_bytes} of {topic}",
                    raw.len()
                ),
            );
        }
        let b = match Incoming::parse(raw) {
            Ok(b) => b,
            Err((c, m)) => return fail(res, c, m),
        };
        let tp = format!("{topic}-{partition}");
        if let Err(r) = validate(&b, compacted.then_some(tp.as_str())) {
            res.record_errors = r.record_errors;
            return fail(res, r.code, r.message);
        }
        parsed.push(b);
    }
    if acks == -1 && p.isr.len() < min_isr {
        return fail(
            res,
            ErrorCode::NotEnoughReplicas,
            format!("{topic}-{partition}: ISR size {} is below min.insync.replicas {min_isr}", p.isr.len()),
        );
    }
    let now = now_ms();
    let mut first_base = -1;
    for b in parsed {
        let count = b.last_offset_delta as i64 + 1;
        if b.producer_id >= 0 && b.base_sequence >= 0 {
            let last_seq =
                ((b.base_sequence as i64 + b.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32;
            match ProducerEntry::check(
                p.producers.get(&b.producer_id),
                b.producer_epoch,
                b.base_sequence,
                last_seq,
            ) {
                Ok(SeqCheck::Duplicate(base)) => {
                    if first_base < 0 {
                        first_base = base;
                    }
                    continue;
                }
                Ok(SeqCheck::Append) => {}
                Err(code) => {
                    return fail(
                        res,
                        code,
                        format!(
                            "{topic}-{partition}: producer {} epoch {} sequence {}: {}",
                            b.producer_id,
                            b.producer_epoch,
                            b.base_sequence,
                            code.name()
                        ),
                    );
                }
            }
            let max_ts = if append_time { now } else { b.max_timestamp };
            let raw = if append_time { set_log_append_time(&b.raw, now) } else { b.raw.clone() };
            let base = p.log.append(
                &raw,
                count,
                p.leader_epoch,
                max_ts,
                b.producer_id,
                b.producer_epoch,
                b.transactional(),
                false,
            );
            p.producers.entry(b.producer_id).or_default().record(
                b.producer_epoch,
                BatchMeta { first_seq: b.base_sequence, last_seq, base_offset: base },
            );
            if first_base < 0 {
                first_base = base;
            }
        } else {
            let max_ts = if append_time { now } else { b.max_timestamp };
            let raw = if append_time { set_log_append_time(&b.raw, now) } else { b.raw.clone() };
            let base = p.log.append(
                &raw,
                count,
                p.leader_epoch,
                max_ts,
                b.producer_id,
                b.producer_epoch,
                b.transactional(),
                false,
            );
            if first_base < 0 {
                first_base = base;
            }
        }
    }
    res.base_offset = first_base;
    res.log_start_offset = p.log.log_start_offset;
    if append_time {
        res.log_append_time = now;
    }
    res
}

/// Rewrites a batch for a LogAppendTime topic: timestamp-type bit set, max timestamp = now,
/// CRC recomputed (both lie inside the CRC's range).
fn set_log_append_time(raw: &Bytes, now: i64) -> Bytes {
    let mut b = raw.to_vec();
    let attrs = i16::from_be_bytes([b[21], b[22]]) | 0x08;
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    b[35..43].copy_from_slice(&now.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

pub(crate) fn error_response(req: &ProduceRequest, code: i16) -> ProduceResponse {
    ProduceResponse {
        responses: req
            .topic_data
            .iter()
            .map(|t| TopicProduceResponse {
                name: t.name.clone(),
                partition_responses: t
                    .partition_data
                    .iter()
                    .map(|p| PartitionProduceResponse {
                        index: p.index,
                        error_code: code,
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
