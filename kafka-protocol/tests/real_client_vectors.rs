//! Request frames captured from real third-party clients (librdkafka through the rdkafka
//! crate, and kafka-python) by tools/capture; see tests/vectors/README.md.
//!
//! Every frame must decode, carry the API key and version its manifest line names, and
//! re-encode (header and body) to exactly the captured bytes. Decoded values are checked
//! against what the capture asked each client to send, and every Produce request's record
//! batches are decoded and compared record by record with the capture fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::generated::{InitProducerIdRequest, MetadataRequest, ProduceRequest};
use kafka_protocol::records::{Compression, DecodeOptions, RecordBatch, decode_batches};
use kafka_protocol::{ApiKey, Encodable, RequestHeader, RequestKind, frame};

/// What each captured client was configured to send, or sends by default.
struct Client {
    /// The directory and manifest name.
    name: &'static str,
    /// `client.id` as configured.
    client_id: &'static str,
    /// The software name it reports in ApiVersions v3+.
    software: &'static str,
    /// Produce `timeout_ms`: its request timeout (librdkafka's default `request.timeout.ms`;
    /// the capture script sets kafka-python's).
    produce_timeout_ms: i32,
    /// InitProducerId `transaction_timeout_ms` from a non-transactional producer.
    init_producer_id_txn_timeout_ms: i32,
}

const CLIENTS: &[Client] = &[
    Client {
        name: "rdkafka",
        client_id: "capture-rdkafka",
        software: "librdkafka",
        produce_timeout_ms: 30_000,
        init_producer_id_txn_timeout_ms: -1,
    },
    Client {
        name: "kafka-python",
        client_id: "capture-kafka-python",
        software: "kafka-python",
        produce_timeout_ms: 10_000,
        init_producer_id_txn_timeout_ms: 0,
    },
];

fn client(e: &Entry) -> &'static Client {
    CLIENTS
        .iter()
        .find(|c| c.name == e.client)
        .unwrap_or_else(|| panic!("{}: unknown client {}", e.file, e.client))
}

/// Every codec, as `compression.type` names it.
const CODECS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

/// The capture fixture (tools/capture/src/clients.rs, capture_kafka_python.py): five records
/// with these keys, values, headers and timestamps.
const RECORDS: usize = 5;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
/// The producer id the capture broker hands out.
const PRODUCER_ID: i64 = 1000;

fn fixture_value(i: usize) -> String {
    let mut v = format!("value-{i} ").repeat(13);
    v.truncate(100);
    v
}

/// One line of tests/vectors/manifest.txt.
#[derive(Debug, Clone)]
struct Entry {
    file: String,
    api_key: i16,
    version: i16,
    client: String,
    /// The codec the client was configured with, for Produce requests.
    codec: Option<String>,
    /// Whether the producer was idempotent, for Produce and InitProducerId requests.
    idempotent: Option<bool>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn manifest_text() -> String {
    std::fs::read_to_string(vectors_dir().join("manifest.txt")).expect("tests/vectors/manifest.txt")
}

fn manifest() -> Vec<Entry> {
    let entries: Vec<Entry> = manifest_text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 6, "manifest line {l:?}");
            let opt = |s: &str| (s != "-").then(|| s.to_owned());
            Entry {
                file: cols[0].to_owned(),
                api_key: cols[1].parse().unwrap(),
                version: cols[2].parse().unwrap(),
                client: cols[3].to_owned(),
                codec: opt(cols[4]),
                idempotent: opt(cols[5]).map(|s| s.parse().unwrap()),
            }
        })
        .collect();
    assert!(!entries.is_empty(), "the manifest lists no vectors");
    entries
}

fn load(e: &Entry) -> Bytes {
    let path = vectors_dir().join(&e.file);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display())))
}

fn decode(e: &Entry) -> (RequestHeader, RequestKind) {
    frame::decode_request(load(e)).unwrap_or_else(|err| panic!("{}: decode_request: {err}", e.file))
}

/// Header and body re-encoded the way `frame::encode_request` does, for a run-time-typed body.
fn reencode(header: &RequestHeader, body: &RequestKind) -> kafka_protocol::Result<Vec<u8>> {
    let api = body.api_key();
    let version = header.request_api_version;
    let mut buf = BytesMut::new();
    header.encode(&mut buf, frame::request_header_version(api, version))?;
    body.encode(&mut buf, version)?;
    Ok(buf.to_vec())
}

/// The same through `frame::encode_request` itself, for the statically typed bodies; the
/// returned bytes are the frame without its size prefix (which is checked here).
fn reencode_typed(header: &RequestHeader, body: &RequestKind) -> Option<kafka_protocol::Result<Vec<u8>>> {
    let mut buf = BytesMut::new();
    let r = match body {
        RequestKind::ApiVersions(b) => frame::encode_request(&mut buf, header, b),
        RequestKind::Metadata(b) => frame::encode_request(&mut buf, header, b),
        RequestKind::InitProducerId(b) => frame::encode_request(&mut buf, header, b),
        RequestKind::Produce(b) => frame::encode_request(&mut buf, header, b),
        _ => return None,
    };
    Some(r.map(|()| {
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        assert_eq!(size as usize, buf.len() - 4, "size prefix");
        buf[4..].to_vec()
    }))
}

/// Where two encodings first differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let show = |s: &[u8]| format!("{:02x?}", &s[i.saturating_sub(4).min(s.len())..(i + 8).min(s.len())]);
    format!(
        "first difference at byte {i} of {} captured / {} re-encoded bytes: captured ..{} re-encoded ..{}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    )
}

fn entries_of(api: ApiKey) -> Vec<Entry> {
    manifest().into_iter().filter(|e| e.api_key == api.key()).collect()
}

#[test]
fn manifest_and_vector_files_match() {
    let entries = manifest();
    let listed: BTreeSet<String> = entries.iter().map(|e| e.file.clone()).collect();
    assert_eq!(listed.len(), entries.len(), "a file is listed twice");
    let mut on_disk = BTreeSet::new();
    for Client { name: client, .. } in CLIENTS {
        for f in std::fs::read_dir(vectors_dir().join(client)).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            on_disk.insert(format!("{client}/{name}"));
        }
    }
    assert_eq!(listed, on_disk, "manifest.txt and the .bin files disagree");
    for e in &entries {
        client(e);
        assert!(e.file.starts_with(&format!("{}/", e.client)), "{}: not under {}/", e.file, e.client);
        let api = ApiKey::from_key(e.api_key).unwrap_or_else(|| panic!("{}: unknown api key", e.file));
        assert!(e.file.ends_with(&format!("-{}-v{}.bin", api.name(), e.version)), "{}: name", e.file);
    }
    // every client, every codec, idempotent and not
    for Client { name: client, .. } in CLIENTS {
        let produce: Vec<&Entry> =
            entries.iter().filter(|e| &e.client == client && e.api_key == ApiKey::Produce.key()).collect();
        for codec in CODECS {
            assert!(
                produce.iter().any(|e| e.codec.as_deref() == Some(codec) && e.idempotent == Some(false)),
                "{client}: no {codec} Produce vector"
            );
        }
        assert!(produce.iter().any(|e| e.idempotent == Some(true)), "{client}: no idempotent Produce vector");
        for api in [ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::InitProducerId] {
            assert!(
                entries.iter().any(|e| &e.client == client && e.api_key == api.key()),
                "{client}: no {} vector",
                api.name()
            );
        }
    }
}

#[test]
fn every_frame_decodes_and_reencodes_byte_identically() {
    let mut failures = Vec::new();
    for e in manifest() {
        let captured = load(&e);
        let (header, body) = match frame::decode_request(captured.clone()) {
            Ok(v) => v,
            Err(err) => {
                failures.push(format!("{}: decode_request: {err}", e.file));
                continue;
            }
        };
        assert_eq!(header.request_api_key, e.api_key, "{}: api key", e.file);
        assert_eq!(header.request_api_version, e.version, "{}: version", e.file);
        assert_eq!(body.api_key().key(), e.api_key, "{}: body type", e.file);
        let mut encodings = vec![("header + RequestKind", reencode(&header, &body))];
        if let Some(typed) = reencode_typed(&header, &body) {
            encodings.push(("frame::encode_request", typed));
        }
        for (how, encoded) in encodings {
            match encoded {
                Ok(bytes) if bytes[..] == captured[..] => {}
                Ok(bytes) => {
                    failures.push(format!("{} ({how}): {}", e.file, first_difference(&captured, &bytes)))
                }
                Err(err) => failures.push(format!("{} ({how}): encode: {err}", e.file)),
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn headers_carry_each_clients_id() {
    for e in manifest() {
        let (header, _) = decode(&e);
        assert_eq!(header.client_id.as_deref(), Some(client(&e).client_id), "{}", e.file);
        assert!(header.correlation_id >= 0, "{}: correlation id {}", e.file, header.correlation_id);
        assert!(header.unknown_tagged_fields.is_empty(), "{}", e.file);
    }
}

#[test]
fn api_versions_requests_name_the_client_software() {
    // the manifest's `# client NAME: ...` lines record each client's version
    let notes = manifest_text();
    for e in entries_of(ApiKey::ApiVersions) {
        let RequestKind::ApiVersions(body) = decode(&e).1 else { unreachable!() };
        assert!(e.version >= 3, "{}: both clients send a flexible ApiVersions", e.file);
        assert_eq!(body.client_software_name, client(&e).software, "{}", e.file);
        let note = notes
            .lines()
            .find(|l| l.starts_with(&format!("# client {}: ", e.client)))
            .unwrap_or_else(|| panic!("no `# client {}:` line in the manifest", e.client));
        assert!(
            !body.client_software_version.is_empty() && note.contains(&body.client_software_version),
            "{}: software version {:?} is not in {note:?}",
            e.file,
            body.client_software_version
        );
        assert!(body.unknown_tagged_fields.is_empty(), "{}", e.file);
    }
}

#[test]
fn metadata_requests_ask_for_vectors_or_nothing() {
    let mut asked = BTreeSet::new();
    for e in entries_of(ApiKey::Metadata) {
        let RequestKind::Metadata(body) = decode(&e).1 else { unreachable!() };
        let MetadataRequest {
            topics, allow_auto_topic_creation, include_topic_authorized_operations, ..
        } = body;
        let topics = topics.unwrap_or_else(|| panic!("{}: a producer never asks for every topic", e.file));
        // an empty list is a bootstrap probe (brokers only, at v1+)
        for t in &topics {
            assert_eq!(t.name.as_deref(), Some("vectors"), "{}", e.file);
            assert_eq!(t.topic_id, kafka_protocol::Uuid::ZERO, "{}: asked by name", e.file);
            asked.insert(e.client.clone());
        }
        assert!(allow_auto_topic_creation, "{}: producers allow auto-creation", e.file);
        assert!(!include_topic_authorized_operations, "{}", e.file);
    }
    for Client { name: client, .. } in CLIENTS {
        assert!(asked.contains(*client), "{client} never asked for topic `vectors`");
    }
}

#[test]
fn init_producer_id_requests_are_non_transactional() {
    for e in entries_of(ApiKey::InitProducerId) {
        let RequestKind::InitProducerId(body) = decode(&e).1 else { unreachable!() };
        let InitProducerIdRequest {
            transactional_id,
            transaction_timeout_ms,
            producer_id,
            producer_epoch,
            ..
        } = body;
        assert_eq!(e.idempotent, Some(true), "{}", e.file);
        assert_eq!(transactional_id, None, "{}", e.file);
        assert_eq!(transaction_timeout_ms, client(&e).init_producer_id_txn_timeout_ms, "{}", e.file);
        assert_eq!((producer_id, producer_epoch), (-1, -1), "{}: a new producer", e.file);
    }
}

/// The Produce request's single `vectors`/0 records field, after checking the request.
fn produce_records(e: &Entry) -> Bytes {
    let RequestKind::Produce(body) = decode(e).1 else { unreachable!() };
    let ProduceRequest { transactional_id, acks, timeout_ms, topic_data, .. } = body;
    assert_eq!(transactional_id, None, "{}", e.file);
    assert_eq!(acks, -1, "{}: acks=all", e.file);
    assert_eq!(timeout_ms, client(e).produce_timeout_ms, "{}: timeout", e.file);
    assert_eq!(topic_data.len(), 1, "{}", e.file);
    assert_eq!(topic_data[0].name, "vectors", "{}", e.file);
    let partitions = &topic_data[0].partition_data;
    assert_eq!(partitions.len(), 1, "{}", e.file);
    assert_eq!(partitions[0].index, 0, "{}", e.file);
    partitions[0].records.clone().unwrap_or_else(|| panic!("{}: null records", e.file))
}

#[test]
fn produce_requests_target_vectors_partition_0() {
    let mut versions = BTreeMap::new();
    for e in entries_of(ApiKey::Produce) {
        let records = produce_records(&e);
        assert!(records.len() > 61, "{}: at least a batch header", e.file);
        versions.entry(e.client.clone()).or_insert_with(BTreeSet::new).insert(e.version);
    }
    // each client picks one version against one broker
    for (client, v) in versions {
        assert_eq!(v.len(), 1, "{client}: Produce versions {v:?}");
    }
}

fn expected_compression(e: &Entry) -> Compression {
    match e.codec.as_deref() {
        Some("none") => Compression::None,
        Some("gzip") => Compression::Gzip,
        Some("snappy") => Compression::Snappy,
        Some("lz4") => Compression::Lz4,
        Some("zstd") => Compression::Zstd,
        other => panic!("{}: codec {other:?}", e.file),
    }
}

fn check_batch(e: &Entry, batch: &RecordBatch) {
    let f = &e.file;
    assert_eq!(batch.magic, 2, "{f}");
    assert_eq!(batch.compression(), expected_compression(e), "{f}: codec");
    assert_eq!(batch.base_offset, 0, "{f}: producers send base offset 0");
    // librdkafka and kafka-python write 0 here, where the Java producer writes "no epoch" (-1);
    // the broker overwrites it either way.
    assert_eq!(batch.partition_leader_epoch, 0, "{f}: partition leader epoch");
    assert_eq!(batch.record_count, RECORDS as i32, "{f}");
    assert_eq!(batch.last_offset_delta, RECORDS as i32 - 1, "{f}");
    assert_eq!(batch.base_timestamp, BASE_TIMESTAMP, "{f}");
    assert_eq!(batch.max_timestamp, BASE_TIMESTAMP + RECORDS as i64 - 1, "{f}");
    assert!(!batch.is_transactional() && !batch.is_control(), "{f}: attributes {:#x}", batch.attributes);
    if e.idempotent == Some(true) {
        assert_eq!(
            (batch.producer_id, batch.producer_epoch, batch.base_sequence),
            (PRODUCER_ID, 0, 0),
            "{f}"
        );
    } else {
        assert_eq!((batch.producer_id, batch.producer_epoch, batch.base_sequence), (-1, -1, -1), "{f}");
    }
    let records: Vec<_> =
        batch.records().collect::<Result<_, _>>().unwrap_or_else(|err| panic!("{f}: records: {err}"));
    assert_eq!(records.len(), RECORDS, "{f}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.offset, i as i64, "{f}: record {i} offset");
        assert_eq!(r.timestamp, BASE_TIMESTAMP + i as i64, "{f}: record {i} timestamp");
        assert_eq!(r.key.as_deref(), Some(format!("key-{i}").as_bytes()), "{f}: record {i} key");
        assert_eq!(r.value.as_deref(), Some(fixture_value(i).as_bytes()), "{f}: record {i} value");
        let headers: Vec<(&str, Option<Bytes>)> = r.headers.iter().collect();
        assert_eq!(headers, [("h", Some(Bytes::from(format!("v{i}"))))], "{f}: record {i} headers");
        let sequence = if e.idempotent == Some(true) { i as i32 } else { -1 };
        assert_eq!(r.sequence, sequence, "{f}: record {i} sequence");
    }
}

#[test]
fn produce_batches_hold_the_fixture_records_in_the_configured_codec() {
    let mut seen = BTreeSet::new();
    for e in entries_of(ApiKey::Produce) {
        let mut batches = decode_batches(produce_records(&e), &DecodeOptions::default());
        let batch = match batches.next() {
            Some(Ok(b)) => b,
            Some(Err(err)) => panic!("{}: batch: {err}", e.file),
            None => panic!("{}: no batch", e.file),
        };
        check_batch(&e, &batch);
        assert!(batches.next().is_none(), "{}: one batch per request", e.file);
        assert_eq!(batches.truncated_tail(), None, "{}", e.file);
        seen.insert((e.client.clone(), batch.compression().name()));
    }
    assert_eq!(seen.len(), CLIENTS.len() * CODECS.len(), "client x codec coverage: {seen:?}");
}
