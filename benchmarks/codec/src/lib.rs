//! Inputs shared by the codec benchmarks: deterministic records of a given value size, in a
//! form each codec accepts (slices for ours, `Record` structs for the peer).

use bytes::{Bytes, BytesMut};

/// One test record: key, value and one header.
pub struct Input {
    /// The record key (16 bytes).
    pub key: Bytes,
    /// The record value (`value_size` bytes of log-line-like text, compressible like real data).
    pub value: Bytes,
    /// The header value.
    pub header: Bytes,
}

/// `count` records with values of `value_size` bytes.
pub fn inputs(count: usize, value_size: usize) -> Vec<Input> {
    const WORDS: [&str; 12] = [
        "user",
        "order",
        "GET",
        "/api/v1/items",
        "200",
        "latency_ms",
        "eu-west-1",
        "ok",
        "id",
        "=",
        "{",
        "}",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let mut value = Vec::with_capacity(value_size + 16);
            while value.len() < value_size {
                let r = next();
                if r % 3 == 0 {
                    value.extend_from_slice(format!("{:x}", r >> 20).as_bytes());
                } else {
                    value.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
                }
                value.push(b' ');
            }
            value.truncate(value_size);
            Input {
                key: Bytes::from(format!("key-{i:012}")),
                value: Bytes::from(value),
                header: Bytes::from_static(b"trace-0123456789"),
            }
        })
        .collect()
}

/// Our codec: one batch of `inputs` at `compression`.
pub fn encode_ours(inputs: &[Input], compression: kafka_protocol::records::Compression, out: &mut BytesMut) {
    let mut b = kafka_protocol::records::RecordBatchBuilder::with_capacity(compression, 128 << 10);
    for (i, r) in inputs.iter().enumerate() {
        b.append(1_700_000_000_000 + i as i64, Some(&r.key), Some(&r.value), &[("trace", Some(&r.header))])
            .expect("append");
    }
    b.build(out).expect("build");
}

/// Our codec: decodes every batch and record of `buf`, returning the total key+value bytes.
pub fn decode_ours(buf: Bytes) -> usize {
    let opts = kafka_protocol::records::DecodeOptions::default();
    let mut total = 0;
    for batch in kafka_protocol::records::decode_batches(buf, &opts) {
        let batch = batch.expect("batch");
        for r in batch.records() {
            let r = r.expect("record");
            total += r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len()) + r.headers.len();
        }
    }
    total
}

/// The peer's records for `inputs`.
pub fn peer_records(inputs: &[Input]) -> Vec<kp_peer::records::Record> {
    use kp_peer::records::{Record, TimestampType};
    inputs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut headers = kp_peer::indexmap::IndexMap::new();
            headers.insert(kp_peer::protocol::StrBytes::from_static_str("trace"), Some(r.header.clone()));
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // the peer starts a new batch wherever offset - sequence changes
                sequence: i as i32,
                timestamp: 1_700_000_000_000 + i as i64,
                key: Some(r.key.clone()),
                value: Some(r.value.clone()),
                headers,
            }
        })
        .collect()
}

/// The peer's compression for ours.
pub fn peer_compression(c: kafka_protocol::records::Compression) -> kp_peer::records::Compression {
    use kafka_protocol::records::Compression as C;
    use kp_peer::records::Compression as P;
    match c {
        C::None => P::None,
        C::Gzip => P::Gzip,
        C::Snappy => P::Snappy,
        C::Lz4 => P::Lz4,
        C::Zstd => P::Zstd,
    }
}

/// The peer: one batch of `records` at `compression`.
pub fn encode_peer(
    records: &[kp_peer::records::Record],
    compression: kp_peer::records::Compression,
    out: &mut BytesMut,
) {
    let opts = kp_peer::records::RecordEncodeOptions { version: 2, compression };
    kp_peer::records::RecordBatchEncoder::encode(out, records, &opts).expect("peer encode");
}

/// The peer: decodes every batch and record of `buf`, returning the total key+value bytes.
pub fn decode_peer(buf: Bytes) -> usize {
    let mut buf = buf;
    let sets = kp_peer::records::RecordBatchDecoder::decode_all(&mut buf).expect("peer decode");
    sets.iter()
        .flat_map(|s| s.records.iter())
        .map(|r| {
            r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len()) + r.headers.len()
        })
        .sum()
}
