//! Record batch encode/decode and a 1 MiB Fetch response decode: our `kafka-protocol`
//! against the crates.io `kafka-protocol` crate, in one run.
//!
//! `cd benchmarks/codec && cargo bench --bench codec`

use bytes::{Bytes, BytesMut};
use codec_bench::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::Compression;

const CODECS: [(Compression, &str); 5] = [
    (Compression::None, "none"),
    (Compression::Gzip, "gzip"),
    (Compression::Snappy, "snappy"),
    (Compression::Lz4, "lz4"),
    (Compression::Zstd, "zstd"),
];
/// (value size, records per batch): about 64 KiB of values per batch.
const SHAPES: [(usize, usize); 2] = [(100, 640), (1024, 64)];

fn batches(c: &mut Criterion) {
    for (size, count) in SHAPES {
        let inputs = inputs(count, size);
        let peer_in = peer_records(&inputs);
        for (codec, name) in CODECS {
            let mut g = c.benchmark_group(format!("encode/{size}B/{name}"));
            g.throughput(Throughput::Elements(count as u64));
            let mut out = BytesMut::with_capacity(1 << 20);
            g.bench_function(BenchmarkId::new("ours", count), |b| {
                b.iter(|| {
                    out.clear();
                    encode_ours(&inputs, codec, &mut out);
                    out.len()
                })
            });
            g.bench_function(BenchmarkId::new("kafka-protocol-0.18", count), |b| {
                b.iter(|| {
                    out.clear();
                    encode_peer(&peer_in, peer_compression(codec), &mut out);
                    out.len()
                })
            });
            g.finish();

            // 16 batches in one buffer, as a fetch returns them
            let mut buf = BytesMut::new();
            for _ in 0..16 {
                encode_ours(&inputs, codec, &mut buf);
            }
            let buf = buf.freeze();
            assert_eq!(decode_ours(buf.clone()), decode_peer(buf.clone()), "both decode the same bytes");
            let mut g = c.benchmark_group(format!("decode/{size}B/{name}"));
            g.throughput(Throughput::Elements(16 * count as u64));
            g.bench_function(BenchmarkId::new("ours", count * 16), |b| b.iter(|| decode_ours(buf.clone())));
            g.bench_function(BenchmarkId::new("kafka-protocol-0.18", count * 16), |b| {
                b.iter(|| decode_peer(buf.clone()))
            });
            g.finish();
        }
    }
}

/// A v12 Fetch response carrying ~1 MiB of uncompressed 100-byte records in 4 partitions,
/// decoded as a message and then every record.
fn fetch_response(c: &mut Criterion) {
    use kafka_protocol::Encodable;
    use kafka_protocol::generated::FetchResponse;
    use kafka_protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
    const VERSION: i16 = 12;
    let inputs = inputs(640, 100);
    let mut partitions = Vec::new();
    for p in 0..4 {
        let mut records = BytesMut::new();
        for _ in 0..4 {
            encode_ours(&inputs, Compression::None, &mut records);
        }
        partitions.push(PartitionData {
            partition_index: p,
            high_watermark: 1 << 20,
            records: Some(records.freeze()),
            ..Default::default()
        });
    }
    let resp = FetchResponse {
        responses: vec![FetchableTopicResponse { topic: "bench".into(), partitions, ..Default::default() }],
        ..Default::default()
    };
    let mut body = BytesMut::new();
    resp.encode(&mut body, VERSION).expect("encode fetch response");
    let body: Bytes = body.freeze();

    let mut g = c.benchmark_group(format!("fetch-response-decode/{}KiB", body.len() / 1024));
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("ours", |b| {
        b.iter(|| {
            use kafka_protocol::Decodable;
            let mut buf = body.clone();
            let r = FetchResponse::decode(&mut buf, VERSION).expect("decode");
            r.responses[0].partitions.iter().map(|p| decode_ours(p.records.clone().unwrap())).sum::<usize>()
        })
    });
    g.bench_function("kafka-protocol-0.18", |b| {
        b.iter(|| {
            use kp_peer::protocol::Decodable;
            let mut buf = body.clone();
            let r = kp_peer::messages::FetchResponse::decode(&mut buf, VERSION).expect("peer decode");
            r.responses[0].partitions.iter().map(|p| decode_peer(p.records.clone().unwrap())).sum::<usize>()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = batches, fetch_response
}
criterion_main!(benches);
