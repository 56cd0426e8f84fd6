//! Our codec against a real Apache Kafka cluster, over raw TCP.
//!
//! Every request here is encoded by `kafka_protocol` and every reply decoded by it, in full:
//! a reply that leaves bytes over, or that our decoder cannot read, fails the test with the
//! API, the version and the bytes. Each API is exercised at the lowest and the highest version
//! that both we and the broker support, and the core APIs (ApiVersions, Metadata, CreateTopics,
//! Produce, ListOffsets, Fetch, FindCoordinator, DescribeConfigs, DescribeCluster,
//! DeleteTopics) at every common version, with the error codes real Kafka gives. Record batches
//! from our `records` builder go through Kafka with every codec, and Kafka's own (Java)
//! compression of our batches is read back by our decoder.
//!
//! The target is the comma-separated `KAFKA_BOOTSTRAP` list (`host:port,...`); without it each
//! test prints a note and passes. `integration-tests/real-kafka/run-suite.sh` starts a KRaft
//! cluster (1 or 3 nodes), sets the variable and runs these tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::frame::{self, DEFAULT_MAX_FRAME_SIZE};
use kafka_protocol::generated::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddRaftVoterRequest, AlterClientQuotasRequest,
    AlterConfigsRequest, AlterPartitionReassignmentsRequest, AlterReplicaLogDirsRequest,
    AlterUserScramCredentialsRequest, ApiVersionsRequest, ApiVersionsResponse, ConsumerGroupDescribeRequest,
    ConsumerGroupHeartbeatRequest, CreateAclsRequest, CreateDelegationTokenRequest, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteAclsRequest, DeleteGroupsRequest, DeleteRecordsRequest,
    DeleteShareGroupStateRequest, DeleteTopicsRequest, DescribeAclsRequest, DescribeClientQuotasRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeDelegationTokenRequest, DescribeGroupsRequest,
    DescribeLogDirsRequest, DescribeProducersRequest, DescribeQuorumRequest, DescribeTopicPartitionsRequest,
    DescribeTransactionsRequest, DescribeUserScramCredentialsRequest, ElectLeadersRequest, EndTxnRequest,
    ExpireDelegationTokenRequest, FetchRequest, FindCoordinatorRequest, GetTelemetrySubscriptionsRequest,
    HeartbeatRequest, IncrementalAlterConfigsRequest, InitProducerIdRequest,
    InitializeShareGroupStateRequest, JoinGroupRequest, LeaveGroupRequest, ListClientMetricsResourcesRequest,
    ListGroupsRequest, ListOffsetsRequest, ListPartitionReassignmentsRequest, ListTransactionsRequest,
    MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    OffsetForLeaderEpochRequest, ProduceRequest, PushTelemetryRequest, ReadShareGroupStateRequest,
    ReadShareGroupStateSummaryRequest, RemoveRaftVoterRequest, RenewDelegationTokenRequest,
    SaslAuthenticateRequest, SaslHandshakeRequest, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupDescribeRequest, ShareGroupHeartbeatRequest, SyncGroupRequest, TxnOffsetCommitRequest,
    UnregisterBrokerRequest, UpdateFeaturesRequest, WriteShareGroupStateRequest, WriteTxnMarkersRequest,
    add_partitions_to_txn_request::AddPartitionsToTxnTransaction,
    create_topics_request::{CreatableTopic, CreatableTopicConfig},
    delete_topics_request::DeleteTopicState,
    describe_configs_request::DescribeConfigsResource,
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::primitives::{write_varint, write_varlong};
use kafka_protocol::records::{Compression, DecodeOptions, RecordBatchBuilder, decode_batches};
use kafka_protocol::{ApiKey, ErrorCode, Request, RequestHeader, Uuid, VersionRange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take before the test fails naming it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the cluster to settle (leaders elected, coordinators loaded).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `retention.ms` set on created topics, read back by DescribeConfigs.
const RETENTION_MS: &str = "123456789";

// ------------------------------------------------------------------------------------------
// Target and skipping

/// The bootstrap addresses from `KAFKA_BOOTSTRAP`, or `None` (after a note) when it is unset.
fn bootstrap(test: &str) -> Option<Vec<String>> {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(v) if !v.trim().is_empty() => {
            Some(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        }
        _ => {
            eprintln!(
                "skipping {test}: KAFKA_BOOTSTRAP is not set \
                 (run integration-tests/real-kafka/run-suite.sh to test against real Kafka)"
            );
            None
        }
    }
}

macro_rules! require_kafka {
    ($test:literal) => {
        match bootstrap($test) {
            Some(addrs) => addrs,
            None => return,
        }
    };
}

/// A topic name no other test (or earlier run) uses.
fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!(
        "rk-{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

// ------------------------------------------------------------------------------------------
// One connection, one request at a time

/// Why a request failed: each names the API and version and carries the bytes involved.
#[derive(Debug)]
enum CallError {
    /// Our encoder refused the request.
    Encode(String),
    /// The broker closed the connection or the socket failed: usually Kafka could not parse
    /// our request (its log says why).
    Io(String),
    /// The reply could not be decoded, or left bytes over.
    Decode(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Encode(s) => write!(f, "encode: {s}"),
            CallError::Io(s) => write!(f, "io: {s}"),
            CallError::Decode(s) => write!(f, "decode: {s}"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const MAX: usize = 512;
    let mut s = String::with_capacity(bytes.len().min(MAX) * 3);
    for (i, b) in bytes.iter().take(MAX).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    if bytes.len() > MAX {
        let _ = write!(s, " ... ({} bytes in all)", bytes.len());
    }
    s
}

struct Conn {
    addr: String,
    stream: TcpStream,
    correlation_id: i32,
}

impl Conn {
    async fn connect(addr: &str) -> Conn {
        let stream = tokio::time::timeout(CALL_TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).expect("set_nodelay");
        Conn { addr: addr.to_string(), stream, correlation_id: 0 }
    }

    /// Sends `body` at `version`, reads the reply and decodes all of it.
    async fn try_call<R: Request>(&mut self, version: i16, body: &R) -> Result<R::Response, CallError> {
        self.correlation_id += 1;
        let correlation_id = self.correlation_id;
        let what = format!("{} v{version} (correlation id {correlation_id}) to {}", R::NAME, self.addr);
        let header = RequestHeader {
            request_api_key: R::API_KEY.key(),
            request_api_version: version,
            correlation_id,
            client_id: Some("kafka-rust-sdk-real-kafka-test".into()),
            ..Default::default()
        };
        let mut out = BytesMut::new();
        frame::encode_request(&mut out, &header, body)
            .map_err(|e| CallError::Encode(format!("{what}: {e}; body {body:?}")))?;
        let io = async {
            self.stream.write_all(&out).await?;
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await?;
            let len = frame::frame_length(&size, DEFAULT_MAX_FRAME_SIZE)
                .map_err(std::io::Error::other)?
                .expect("four bytes were read");
            let mut reply = vec![0u8; len];
            self.stream.read_exact(&mut reply).await?;
            Ok::<_, std::io::Error>(Bytes::from(reply))
        };
        let reply = match tokio::time::timeout(CALL_TIMEOUT, io).await {
            Err(_) => return Err(CallError::Io(format!("{what}: no reply in {CALL_TIMEOUT:?}"))),
            Ok(Err(e)) => {
                return Err(CallError::Io(format!(
                    "{what}: {e} (the broker probably rejected our request; its log says why); \
                     request frame: {}",
                    hex(&out)
                )));
            }
            Ok(Ok(reply)) => reply,
        };
        let got =
            frame::peek_correlation_id(&reply).map_err(|e| CallError::Decode(format!("{what}: {e}")))?;
        if got != correlation_id {
            return Err(CallError::Decode(format!("{what}: reply carries correlation id {got}")));
        }
        let (_, response) = frame::decode_response::<R>(reply.clone(), version).map_err(|e| {
            CallError::Decode(format!(
                "{what}: {e}; request frame: {}; reply frame: {}",
                hex(&out),
                hex(&reply)
            ))
        })?;
        Ok(response)
    }

    /// [`Conn::try_call`], failing the test on any error.
    async fn call<R: Request>(&mut self, version: i16, body: &R) -> R::Response {
        match self.try_call(version, body).await {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Versions and error codes

/// The broker's advertised versions, by API key.
type BrokerVersions = BTreeMap<i16, VersionRange>;

async fn broker_versions(conn: &mut Conn) -> BrokerVersions {
    let ours = ApiKey::ApiVersions.versions();
    // v0 is understood by every broker; then ask again at the highest common version.
    let v0: ApiVersionsResponse = conn.call(0, &ApiVersionsRequest::default()).await;
    assert_code(v0.error_code, ErrorCode::None, "ApiVersions v0");
    let theirs = v0.find_api_keys(ApiKey::ApiVersions.key()).expect("broker lists ApiVersions");
    let max = ours.max.min(theirs.max_version);
    let resp = conn.call(max, &api_versions_request()).await;
    assert_code(resp.error_code, ErrorCode::None, &format!("ApiVersions v{max}"));
    resp.api_keys
        .iter()
        .map(|k| (k.api_key, VersionRange { min: k.min_version, max: k.max_version }))
        .collect()
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest {
        client_software_name: "kafka-rust-sdk".into(),
        client_software_version: "0.1.0".into(),
        ..Default::default()
    }
}

/// The versions of `api` both we and the broker support; fails if the broker lacks `api`.
fn common(versions: &BrokerVersions, api: ApiKey) -> VersionRange {
    let theirs = versions.get(&api.key()).unwrap_or_else(|| panic!("the broker does not advertise {api:?}"));
    usable(
        api,
        api.versions().intersect(theirs).unwrap_or_else(|| {
            panic!("{api:?}: our versions {:?} and the broker's {theirs:?} do not overlap", api.versions())
        }),
    )
}

/// Narrows an advertised range to what the broker really accepts. Kafka 4.x removed Produce
/// v0-v2 (KIP-896) but still advertises min 0 in ApiVersions (KAFKA-18659, kept for
/// librdkafka's sake) and drops the connection on a v0-v2 Produce request.
fn usable(api: ApiKey, range: VersionRange) -> VersionRange {
    match api {
        ApiKey::Produce => VersionRange { min: range.min.max(3), max: range.max },
        _ => range,
    }
}

/// Whether our codec knows `api` only at versions its schema marks unstable (the share-group
/// APIs were early access at v0 in the schemas we generate from, and Kafka 4.1+ serves them
/// from v1): such an API cannot overlap a newer broker, and is reported, not failed.
fn early_access_only(api: ApiKey) -> bool {
    api.latest_version_unstable() && api.versions().min == api.versions().max
}

fn all_versions(range: VersionRange) -> impl Iterator<Item = i16> {
    range.min..=range.max
}

fn assert_code(actual: i16, expected: ErrorCode, context: &str) {
    let got = ErrorCode::from_code(actual);
    assert_eq!(got, expected, "{context}: error {actual} ({}), expected {}", got.name(), expected.name());
}

// ------------------------------------------------------------------------------------------
// Cluster helpers

struct Cluster {
    bootstrap: Conn,
    versions: BrokerVersions,
    /// node id -> "host:port"
    brokers: BTreeMap<i32, String>,
}

impl Cluster {
    async fn connect(addrs: &[String]) -> Cluster {
        let mut bootstrap = Conn::connect(&addrs[0]).await;
        let versions = broker_versions(&mut bootstrap).await;
        let mut cluster = Cluster { bootstrap, versions, brokers: BTreeMap::new() };
        let md = cluster.metadata(None).await;
        cluster.brokers = md.brokers.iter().map(|b| (b.node_id, format!("{}:{}", b.host, b.port))).collect();
        assert!(!cluster.brokers.is_empty(), "metadata lists no brokers");
        cluster
    }

    fn common(&self, api: ApiKey) -> VersionRange {
        common(&self.versions, api)
    }

    /// Replication factor for new topics: every broker, up to 3.
    fn replication_factor(&self) -> i16 {
        self.brokers.len().min(3) as i16
    }

    async fn metadata(&mut self, topics: Option<&[&str]>) -> MetadataResponse {
        let version = common(&self.versions, ApiKey::Metadata).max;
        let request = MetadataRequest {
            topics: topics.map(|t| {
                t.iter()
                    .map(|name| MetadataRequestTopic { name: Some(name.to_string()), ..Default::default() })
                    .collect()
            }),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        self.bootstrap.call(version, &request).await
    }

    /// Creates `name` at the highest common CreateTopics version.
    async fn create_topic(&mut self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &[]).await;
    }

    /// Creates `name` with extra topic configs at the highest common CreateTopics version.
    async fn create_topic_with(&mut self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let version = self.common(ApiKey::CreateTopics).max;
        let mut request = create_topics_request(name, partitions, self.replication_factor());
        request.topics[0].configs.extend(configs.iter().map(|(k, v)| CreatableTopicConfig {
            name: k.to_string(),
            value: Some(v.to_string()),
            ..Default::default()
        }));
        let resp = self.bootstrap.call(version, &request).await;
        assert_code(resp.topics[0].error_code, ErrorCode::None, &format!("CreateTopics v{version} {name}"));
    }

    /// Waits until every partition of `topic` has a leader that the metadata lists, and
    /// returns (topic id, leader id and leader epoch per partition).
    async fn wait_for_leaders(&mut self, topic: &str, partitions: i32) -> (Uuid, Vec<(i32, i32)>) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let md = self.metadata(Some(&[topic])).await;
            let t = &md.topics[0];
            let leaders: Vec<(i32, i32)> =
                t.partitions.iter().map(|p| (p.leader_id, p.leader_epoch)).collect();
            let ready = t.error_code == 0
                && t.partitions.len() == partitions as usize
                && t.partitions.iter().all(|p| {
                    p.error_code == 0
                        && p.leader_id >= 0
                        && p.isr_nodes.len() == self.replication_factor() as usize
                });
            if ready {
                let mut by_index = t.partitions.clone();
                by_index.sort_by_key(|p| p.partition_index);
                return (t.topic_id, by_index.iter().map(|p| (p.leader_id, p.leader_epoch)).collect());
            }
            assert!(Instant::now() < deadline, "{topic}: no leaders after {SETTLE_TIMEOUT:?}: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn connect_to(&self, node: i32) -> Conn {
        let addr = self.brokers.get(&node).unwrap_or_else(|| panic!("node {node} is not in the metadata"));
        Conn::connect(addr).await
    }

    async fn delete_topic(&mut self, name: &str) {
        let version = self.common(ApiKey::DeleteTopics).max;
        let resp = self.bootstrap.call(version, &delete_topics_request(version, name)).await;
        assert_code(
            resp.responses[0].error_code,
            ErrorCode::None,
            &format!("DeleteTopics v{version} {name}"),
        );
    }
}

fn create_topics_request(name: &str, partitions: i32, replication_factor: i16) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor,
            configs: vec![CreatableTopicConfig {
                name: "retention.ms".into(),
                value: Some(RETENTION_MS.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    }
}

fn delete_topics_request(version: i16, name: &str) -> DeleteTopicsRequest {
    if version >= 6 {
        DeleteTopicsRequest {
            topics: vec![DeleteTopicState { name: Some(name.to_string()), ..Default::default() }],
            timeout_ms: 30_000,
            ..Default::default()
        }
    } else {
        DeleteTopicsRequest { topic_names: vec![name.to_string()], timeout_ms: 30_000, ..Default::default() }
    }
}

// ------------------------------------------------------------------------------------------
// A hand-built record batch (magic 2, uncompressed). Replace with the records module's builder
// once it lands; building it here keeps this test independent of the code it checks.

/// A batch of `values` (no keys, one header on the first record) with CreateTime timestamps.
fn record_batch(values: &[&[u8]], timestamp: i64) -> Bytes {
    let mut records = BytesMut::new();
    for (i, value) in values.iter().enumerate() {
        let mut r = BytesMut::new();
        r.put_i8(0); // attributes
        write_varlong(&mut r, i as i64); // timestamp delta
        write_varint(&mut r, i as i32); // offset delta
        write_varint(&mut r, -1); // null key
        write_varint(&mut r, value.len() as i32);
        r.put_slice(value);
        if i == 0 {
            write_varint(&mut r, 1);
            write_varint(&mut r, 1);
            r.put_slice(b"h");
            write_varint(&mut r, 1);
            r.put_slice(b"v");
        } else {
            write_varint(&mut r, 0);
        }
        write_varint(&mut records, r.len() as i32);
        records.put_slice(&r);
    }
    let n = values.len() as i32;
    // Everything the CRC covers: attributes to the end.
    let mut tail = BytesMut::new();
    tail.put_i16(0); // attributes: no compression, CreateTime, not transactional
    tail.put_i32(n - 1); // last offset delta
    tail.put_i64(timestamp); // base timestamp
    tail.put_i64(timestamp + i64::from(n - 1)); // max timestamp
    tail.put_i64(-1); // producer id
    tail.put_i16(-1); // producer epoch
    tail.put_i32(-1); // base sequence
    tail.put_i32(n);
    tail.put_slice(&records);
    let mut batch = BytesMut::new();
    batch.put_i64(0); // base offset (the broker assigns it)
    batch.put_i32((4 + 1 + 4 + tail.len()) as i32); // batch length: after this field
    batch.put_i32(-1); // partition leader epoch (the broker sets it)
    batch.put_i8(2); // magic
    batch.put_u32(crc32c::crc32c(&tail));
    batch.put_slice(&tail);
    batch.freeze()
}

/// Splits a fetched `records` field into (base offset, batch bytes) pairs; a trailing partial
/// batch (allowed by Kafka when max bytes cut it) is dropped.
fn split_batches(mut records: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    while records.len() >= 12 {
        let base = i64::from_be_bytes(records[..8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(records[8..12].try_into().expect("4 bytes")) as usize;
        if records.len() < 12 + len {
            break;
        }
        out.push((base, records[..12 + len].to_vec()));
        records = &records[12 + len..];
    }
    out
}

/// The bytes a broker does not rewrite: from the magic byte on (it sets the base offset and
/// the partition leader epoch, which lie outside the CRC).
fn invariant_part(batch: &[u8]) -> &[u8] {
    &batch[16..]
}

// ------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn api_versions_overlap_ours_at_every_version() {
    let addrs = require_kafka!("api_versions_overlap_ours_at_every_version");
    let mut conn = Conn::connect(&addrs[0]).await;
    let versions = broker_versions(&mut conn).await;

    let mut known = 0;
    let mut unknown = Vec::new();
    let mut disjoint = Vec::new();
    let mut early = Vec::new();
    for (&key, theirs) in &versions {
        let Some(api) = ApiKey::from_key(key) else {
            unknown.push(format!("{key} {}..{}", theirs.min, theirs.max));
            continue;
        };
        known += 1;
        if api.versions().intersect(theirs).is_none() && early_access_only(api) {
            early.push(format!(
                "{api:?} (ours v{}, broker v{}..v{})",
                api.versions().max,
                theirs.min,
                theirs.max
            ));
        } else if api.versions().intersect(theirs).is_none() {
            disjoint.push(format!(
                "{api:?}: the broker supports v{}..v{}, we support v{}..v{}",
                theirs.min,
                theirs.max,
                api.versions().min,
                api.versions().max
            ));
        }
    }
    eprintln!(
        "broker advertises {} APIs, {known} known to our codec; unknown to us (key versions): [{}]",
        versions.len(),
        unknown.join(", ")
    );
    eprintln!("known only at early-access versions, so not compared: [{}]", early.join(", "));
    assert!(known >= 40, "only {known} APIs in common: is this a Kafka 4.x broker?");
    assert!(disjoint.is_empty(), "APIs with no common version:\n{}", disjoint.join("\n"));

    for version in all_versions(common(&versions, ApiKey::ApiVersions)) {
        let resp = conn.call(version, &api_versions_request()).await;
        assert_code(resp.error_code, ErrorCode::None, &format!("ApiVersions v{version}"));
        let again: BrokerVersions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, VersionRange { min: k.min_version, max: k.max_version }))
            .collect();
        assert_eq!(again, versions, "ApiVersions v{version} lists other versions");
        if version >= 3 {
            assert!(
                resp.finalized_features.iter().any(|f| f.name == "metadata.version"),
                "ApiVersions v{version}: no finalized metadata.version feature: {:?}",
                resp.finalized_features
            );
        }
    }
}

/// Sends a probe of `api` at `version` on `conn` and decodes the reply; `None` for an API
/// without a probe. The body is the default except where Kafka would not answer it: Produce
/// (default acks=0 gets no reply), DescribeAcls (Kafka drops the connection on the default
/// UNKNOWN filters) and AddPartitionsToTxn v4+ (Kafka never answers an empty batch).
async fn probe(conn: &mut Conn, api: ApiKey, version: i16) -> Option<Result<(), CallError>> {
    macro_rules! probe {
        ($($variant:ident => $ty:ty),* $(,)?) => {
            match api {
                ApiKey::Produce => {
                    let body = ProduceRequest { acks: -1, timeout_ms: 5_000, ..Default::default() };
                    conn.try_call(version, &body).await.map(|_| ())
                }
                ApiKey::DescribeAcls => {
                    // ANY resource, pattern, operation and permission.
                    let body = DescribeAclsRequest {
                        resource_type_filter: 1,
                        pattern_type_filter: 1,
                        operation: 1,
                        permission_type: 1,
                        ..Default::default()
                    };
                    conn.try_call(version, &body).await.map(|_| ())
                }
                ApiKey::AddPartitionsToTxn if version >= 4 => {
                    let body = AddPartitionsToTxnRequest {
                        transactions: vec![AddPartitionsToTxnTransaction {
                            transactional_id: "rk-probe".into(),
                            verify_only: true,
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    conn.try_call(version, &body).await.map(|_| ())
                }
                $(ApiKey::$variant => conn.try_call(version, &<$ty>::default()).await.map(|_| ()),)*
                _ => return None,
            }
        };
    }
    Some(probe! {
        Fetch => FetchRequest,
        ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest,
        DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest,
        SaslHandshake => SaslHandshakeRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest,
        WriteTxnMarkers => WriteTxnMarkersRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
        CreateAcls => CreateAclsRequest,
        DeleteAcls => DeleteAclsRequest,
        DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest,
        AlterReplicaLogDirs => AlterReplicaLogDirsRequest,
        DescribeLogDirs => DescribeLogDirsRequest,
        SaslAuthenticate => SaslAuthenticateRequest,
        CreatePartitions => CreatePartitionsRequest,
        CreateDelegationToken => CreateDelegationTokenRequest,
        RenewDelegationToken => RenewDelegationTokenRequest,
        ExpireDelegationToken => ExpireDelegationTokenRequest,
        DescribeDelegationToken => DescribeDelegationTokenRequest,
        DeleteGroups => DeleteGroupsRequest,
        ElectLeaders => ElectLeadersRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest,
        OffsetDelete => OffsetDeleteRequest,
        DescribeClientQuotas => DescribeClientQuotasRequest,
        AlterClientQuotas => AlterClientQuotasRequest,
        DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest,
        DescribeQuorum => DescribeQuorumRequest,
        UpdateFeatures => UpdateFeaturesRequest,
        DescribeCluster => DescribeClusterRequest,
        DescribeProducers => DescribeProducersRequest,
        UnregisterBroker => UnregisterBrokerRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        ListTransactions => ListTransactionsRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
        ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
        GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest,
        PushTelemetry => PushTelemetryRequest,
        ListClientMetricsResources => ListClientMetricsResourcesRequest,
        DescribeTopicPartitions => DescribeTopicPartitionsRequest,
        ShareGroupHeartbeat => ShareGroupHeartbeatRequest,
        ShareGroupDescribe => ShareGroupDescribeRequest,
        ShareFetch => ShareFetchRequest,
        ShareAcknowledge => ShareAcknowledgeRequest,
        AddRaftVoter => AddRaftVoterRequest,
        RemoveRaftVoter => RemoveRaftVoterRequest,
        InitializeShareGroupState => InitializeShareGroupStateRequest,
        ReadShareGroupState => ReadShareGroupStateRequest,
        WriteShareGroupState => WriteShareGroupStateRequest,
        DeleteShareGroupState => DeleteShareGroupStateRequest,
        ReadShareGroupStateSummary => ReadShareGroupStateSummaryRequest,
    })
}

/// Every API the broker advertises and we know, at the lowest and the highest common version,
/// with a default body: Kafka must parse our request (else it drops the connection) and we must
/// decode all of its reply (error replies included: their shape is the version's).
#[tokio::test]
async fn every_common_api_round_trips_at_lowest_and_highest_common_version() {
    let addrs = require_kafka!("every_common_api_round_trips_at_lowest_and_highest_common_version");
    let mut conn = Conn::connect(&addrs[0]).await;
    let versions = broker_versions(&mut conn).await;
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for (&key, theirs) in &versions {
        let Some(api) = ApiKey::from_key(key) else { continue };
        let Some(range) = api.versions().intersect(theirs).map(|r| usable(api, r)) else {
            if early_access_only(api) {
                eprintln!("not probed: {api:?} is known to our codec only at an early-access version");
                continue;
            }
            failures
                .push(format!("{api:?}: no common version (ours {:?}, broker {theirs:?})", api.versions()));
            continue;
        };
        let mut bounds = vec![range.min];
        if range.max != range.min {
            bounds.push(range.max);
        }
        for version in bounds {
            match probe(&mut conn, api, version).await {
                None => failures.push(format!("{api:?}: no probe written for this API")),
                Some(Ok(())) => passed.push(format!("{}v{version}", api.name())),
                Some(Err(e)) => {
                    failures.push(e.to_string());
                    if matches!(e, CallError::Io(_)) {
                        conn = Conn::connect(&addrs[0]).await;
                    }
                }
            }
        }
    }
    eprintln!("round-tripped {} (api, version) pairs: {}", passed.len(), passed.join(" "));
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn metadata_at_every_version() {
    let addrs = require_kafka!("metadata_at_every_version");
    let mut cluster = Cluster::connect(&addrs).await;
    let missing = unique_topic("missing");
    for version in all_versions(cluster.common(ApiKey::Metadata)) {
        // All topics: an empty list in v0, null from v1.
        let all = MetadataRequest {
            topics: if version == 0 { Some(Vec::new()) } else { None },
            ..Default::default()
        };
        let resp = cluster.bootstrap.call(version, &all).await;
        let brokers: BTreeMap<i32, String> =
            resp.brokers.iter().map(|b| (b.node_id, format!("{}:{}", b.host, b.port))).collect();
        assert_eq!(brokers, cluster.brokers, "Metadata v{version} brokers");
        if version >= 1 {
            assert!(cluster.brokers.contains_key(&resp.controller_id), "Metadata v{version} controller id");
        }
        if version >= 2 {
            assert!(
                resp.cluster_id.as_deref().is_some_and(|id| !id.is_empty()),
                "Metadata v{version} cluster id"
            );
        }
        // A topic that does not exist, without auto-creation (which v0-v3 cannot turn off).
        if version >= 4 {
            let one = MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some(missing.clone()),
                    ..Default::default()
                }]),
                allow_auto_topic_creation: false,
                ..Default::default()
            };
            let resp = cluster.bootstrap.call(version, &one).await;
            assert_eq!(resp.topics.len(), 1, "Metadata v{version}");
            assert_code(
                resp.topics[0].error_code,
                ErrorCode::UnknownTopicOrPartition,
                &format!("Metadata v{version} {missing}"),
            );
        }
    }
}

#[tokio::test]
async fn create_and_delete_topics_at_every_version() {
    let addrs = require_kafka!("create_and_delete_topics_at_every_version");
    let mut cluster = Cluster::connect(&addrs).await;
    let rf = cluster.replication_factor();
    let mut created = Vec::new();
    for version in all_versions(cluster.common(ApiKey::CreateTopics)) {
        let name = unique_topic(&format!("create-v{version}"));
        let request = create_topics_request(&name, 2, rf);
        let resp = cluster.bootstrap.call(version, &request).await;
        assert_eq!(resp.topics.len(), 1);
        let t = &resp.topics[0];
        assert_eq!(t.name, name);
        assert_code(
            t.error_code,
            ErrorCode::None,
            &format!("CreateTopics v{version} {name}: {:?}", t.error_message),
        );
        if version >= 5 {
            assert_eq!((t.num_partitions, t.replication_factor), (2, rf), "CreateTopics v{version}");
            let configs = t.configs.as_deref().unwrap_or_default();
            let retention = configs.iter().find(|c| c.name == "retention.ms");
            assert_eq!(
                retention.and_then(|c| c.value.as_deref()),
                Some(RETENTION_MS),
                "CreateTopics v{version}"
            );
        }
        if version >= 7 {
            assert_ne!(t.topic_id, Uuid::ZERO, "CreateTopics v{version} topic id");
        }
        let again = cluster.bootstrap.call(version, &request).await;
        assert_code(
            again.topics[0].error_code,
            ErrorCode::TopicAlreadyExists,
            &format!("CreateTopics v{version} again"),
        );
        created.push(name);
    }

    // One created topic per DeleteTopics version (reusing those, plus new ones if needed).
    let delete_versions = cluster.common(ApiKey::DeleteTopics);
    for version in all_versions(delete_versions) {
        let name = match created.pop() {
            Some(n) => n,
            None => {
                let n = unique_topic(&format!("delete-v{version}"));
                cluster.create_topic(&n, 1).await;
                n
            }
        };
        let resp = cluster.bootstrap.call(version, &delete_topics_request(version, &name)).await;
        assert_eq!(resp.responses.len(), 1, "DeleteTopics v{version}");
        assert_eq!(resp.responses[0].name.as_deref(), Some(name.as_str()), "DeleteTopics v{version}");
        assert_code(
            resp.responses[0].error_code,
            ErrorCode::None,
            &format!("DeleteTopics v{version} {name}"),
        );

        let missing = unique_topic("never-created");
        let resp = cluster.bootstrap.call(version, &delete_topics_request(version, &missing)).await;
        assert_code(
            resp.responses[0].error_code,
            ErrorCode::UnknownTopicOrPartition,
            &format!("DeleteTopics v{version} {missing}"),
        );
    }
    for name in created {
        cluster.delete_topic(&name).await;
    }
}

#[tokio::test]
async fn produce_list_offsets_and_fetch_at_every_version() {
    let addrs = require_kafka!("produce_list_offsets_and_fetch_at_every_version");
    let mut cluster = Cluster::connect(&addrs).await;
    let topic = unique_topic("produce");
    cluster.create_topic(&topic, 1).await;
    let (topic_id, leaders) = cluster.wait_for_leaders(&topic, 1).await;
    let (leader, leader_epoch) = leaders[0];
    let mut conn = cluster.connect_to(leader).await;

    // Produce: one two-record batch per version, offsets consecutive.
    let mut sent = Vec::new();
    let mut next_offset = 0i64;
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
    for version in all_versions(cluster.common(ApiKey::Produce)) {
        let value_a = format!("v{version}-a");
        let batch = record_batch(&[value_a.as_bytes(), b"second"], timestamp + i64::from(version));
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: topic.clone(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.clone()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.call(version, &request).await;
        let p = &resp.responses[0].partition_responses[0];
        assert_code(p.error_code, ErrorCode::None, &format!("Produce v{version}: {:?}", p.error_message));
        assert_eq!(p.base_offset, next_offset, "Produce v{version} base offset");
        if version >= 2 {
            assert_eq!(p.log_append_time_ms, -1, "Produce v{version}: CreateTime topic");
        }
        if version >= 5 {
            assert_eq!(p.log_start_offset, 0, "Produce v{version} log start offset");
        }
        sent.push((next_offset, batch));
        next_offset += 2;

        // Produce to a topic that does not exist.
        let mut missing = request.clone();
        missing.topic_data[0].name = unique_topic("no-such-topic");
        let resp = conn.call(version, &missing).await;
        assert_code(
            resp.responses[0].partition_responses[0].error_code,
            ErrorCode::UnknownTopicOrPartition,
            &format!("Produce v{version} to a missing topic"),
        );
    }

    // ListOffsets: earliest is 0, latest is what we wrote.
    for version in all_versions(cluster.common(ApiKey::ListOffsets)) {
        for (timestamp, expected) in [(-2i64, 0i64), (-1, next_offset)] {
            let request = ListOffsetsRequest {
                replica_id: -1,
                topics: vec![ListOffsetsTopic {
                    name: topic.clone(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        timestamp,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                timeout_ms: 10_000,
                ..Default::default()
            };
            let resp = conn.call(version, &request).await;
            let p = &resp.topics[0].partitions[0];
            assert_code(
                p.error_code,
                ErrorCode::None,
                &format!("ListOffsets v{version} timestamp {timestamp}"),
            );
            let offset =
                if version == 0 { p.old_style_offsets.first().copied().unwrap_or(-1) } else { p.offset };
            assert_eq!(offset, expected, "ListOffsets v{version} timestamp {timestamp}");
            if version >= 4 {
                assert_eq!(p.leader_epoch, leader_epoch, "ListOffsets v{version} leader epoch");
            }
        }
        let mut request = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: unique_topic("no-such-topic"),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        request.timeout_ms = 10_000;
        let resp = conn.call(version, &request).await;
        assert_code(
            resp.topics[0].partitions[0].error_code,
            ErrorCode::UnknownTopicOrPartition,
            &format!("ListOffsets v{version} of a missing topic"),
        );
    }

    // Fetch from 0: every batch comes back as we wrote it (bar offset and leader epoch).
    for version in all_versions(cluster.common(ApiKey::Fetch)) {
        let fetch = |name: &str, id: Uuid| FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: name.to_string(),
                topic_id: id,
                partitions: vec![FetchPartition {
                    partition: 0,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.call(version, &fetch(&topic, topic_id)).await;
        if version >= 7 {
            assert_code(resp.error_code, ErrorCode::None, &format!("Fetch v{version}"));
        }
        assert_eq!(resp.responses.len(), 1, "Fetch v{version}");
        let p = &resp.responses[0].partitions[0];
        assert_code(p.error_code, ErrorCode::None, &format!("Fetch v{version}"));
        assert_eq!(p.high_watermark, next_offset, "Fetch v{version} high watermark");
        let batches = split_batches(p.records.as_deref().unwrap_or_default());
        assert_eq!(batches.len(), sent.len(), "Fetch v{version}: batches returned");
        for ((offset, got), (want_offset, want)) in batches.iter().zip(&sent) {
            assert_eq!(offset, want_offset, "Fetch v{version} batch base offset");
            assert_eq!(invariant_part(got), invariant_part(want), "Fetch v{version} batch at {offset}");
        }

        // A topic that does not exist: by name before v13, by id from v13.
        let missing = fetch(&unique_topic("no-such-topic"), Uuid::from_halves(0x1234, 0x5678));
        let resp = conn.call(version, &missing).await;
        let expected =
            if version >= 13 { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
        let code = if version >= 13 && resp.responses.is_empty() {
            resp.error_code
        } else {
            resp.responses[0].partitions[0].error_code
        };
        assert_code(code, expected, &format!("Fetch v{version} of a missing topic"));
    }
    cluster.delete_topic(&topic).await;
}

#[tokio::test]
async fn find_coordinator_at_every_version() {
    let addrs = require_kafka!("find_coordinator_at_every_version");
    let mut cluster = Cluster::connect(&addrs).await;
    let group = unique_topic("group");
    for version in all_versions(cluster.common(ApiKey::FindCoordinator)) {
        let request = if version >= 4 {
            FindCoordinatorRequest {
                key_type: 0,
                coordinator_keys: vec![group.clone()],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest { key: group.clone(), key_type: 0, ..Default::default() }
        };
        // The first lookup creates __consumer_offsets; until it has leaders the answer is
        // COORDINATOR_NOT_AVAILABLE.
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let (node, host, port) = loop {
            let resp = cluster.bootstrap.call(version, &request).await;
            let (code, node, host, port) = if version >= 4 {
                assert_eq!(resp.coordinators.len(), 1, "FindCoordinator v{version}");
                let c = &resp.coordinators[0];
                assert_eq!(c.key, group, "FindCoordinator v{version} key");
                (c.error_code, c.node_id, c.host.clone(), c.port)
            } else {
                (resp.error_code, resp.node_id, resp.host.clone(), resp.port)
            };
            if ErrorCode::from_code(code) == ErrorCode::CoordinatorNotAvailable && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert_code(code, ErrorCode::None, &format!("FindCoordinator v{version}"));
            break (node, host, port);
        };
        assert_eq!(cluster.brokers.get(&node), Some(&format!("{host}:{port}")), "FindCoordinator v{version}");
    }
}

#[tokio::test]
async fn describe_configs_at_every_version() {
    let addrs = require_kafka!("describe_configs_at_every_version");
    let mut cluster = Cluster::connect(&addrs).await;
    let topic = unique_topic("configs");
    cluster.create_topic(&topic, 1).await;
    let broker = *cluster.brokers.keys().next().expect("a broker");
    let mut conn = cluster.connect_to(broker).await;
    // the topic was created through another broker: wait until this one's metadata has it
    // (on a 3-node cluster it can answer UNKNOWN_TOPIC_OR_PARTITION for a moment)
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let latest = cluster.common(ApiKey::DescribeConfigs).max;
    loop {
        let probe = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 2,
                resource_name: topic.clone(),
                configuration_keys: Some(vec!["retention.ms".into()]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let code = conn.call(latest, &probe).await.results[0].error_code;
        if ErrorCode::from_code(code) != ErrorCode::UnknownTopicOrPartition {
            break;
        }
        assert!(Instant::now() < deadline, "broker {broker} does not know {topic} after {SETTLE_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for version in all_versions(cluster.common(ApiKey::DescribeConfigs)) {
        let request = DescribeConfigsRequest {
            resources: vec![
                DescribeConfigsResource {
                    resource_type: 2, // topic
                    resource_name: topic.clone(),
                    configuration_keys: None,
                    ..Default::default()
                },
                DescribeConfigsResource {
                    resource_type: 4, // broker
                    resource_name: broker.to_string(),
                    configuration_keys: Some(vec!["num.io.threads".into()]),
                    ..Default::default()
                },
                DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: unique_topic("no-such-topic"),
                    configuration_keys: None,
                    ..Default::default()
                },
            ],
            include_synonyms: version >= 1,
            include_documentation: version >= 3,
            ..Default::default()
        };
        let resp = conn.call(version, &request).await;
        assert_eq!(resp.results.len(), 3, "DescribeConfigs v{version}");
        let t = &resp.results[0];
        assert_code(t.error_code, ErrorCode::None, &format!("DescribeConfigs v{version} topic"));
        let retention = t.configs.iter().find(|c| c.name == "retention.ms");
        let retention = retention.unwrap_or_else(|| panic!("DescribeConfigs v{version}: no retention.ms"));
        assert_eq!(retention.value.as_deref(), Some(RETENTION_MS), "DescribeConfigs v{version}");
        if version >= 1 {
            assert_eq!(retention.config_source, 1, "DescribeConfigs v{version}: DYNAMIC_TOPIC_CONFIG");
            assert!(!retention.synonyms.is_empty(), "DescribeConfigs v{version}: synonyms requested");
        } else {
            assert!(!retention.is_default, "DescribeConfigs v0: retention.ms was set");
        }
        if version >= 3 {
            assert!(
                retention.documentation.as_deref().is_some_and(|d| !d.is_empty()),
                "DescribeConfigs v{version} doc"
            );
        }
        let b = &resp.results[1];
        assert_code(b.error_code, ErrorCode::None, &format!("DescribeConfigs v{version} broker"));
        assert_eq!(b.configs.len(), 1, "DescribeConfigs v{version} broker keys");
        assert_eq!(b.configs[0].name, "num.io.threads");
        assert_code(
            resp.results[2].error_code,
            ErrorCode::UnknownTopicOrPartition,
            &format!("DescribeConfigs v{version} missing topic"),
        );
    }
    cluster.delete_topic(&topic).await;
}

#[tokio::test]
async fn describe_cluster_at_every_version() {
    let addrs = require_kafka!("describe_cluster_at_every_version");
    let mut cluster = Cluster::connect(&addrs).await;
    let md = cluster.metadata(None).await;
    for version in all_versions(cluster.common(ApiKey::DescribeCluster)) {
        let resp = cluster.bootstrap.call(version, &DescribeClusterRequest::default()).await;
        assert_code(resp.error_code, ErrorCode::None, &format!("DescribeCluster v{version}"));
        assert_eq!(Some(resp.cluster_id.as_str()), md.cluster_id.as_deref(), "DescribeCluster v{version}");
        let brokers: BTreeMap<i32, String> =
            resp.brokers.iter().map(|b| (b.broker_id, format!("{}:{}", b.host, b.port))).collect();
        assert_eq!(brokers, cluster.brokers, "DescribeCluster v{version} brokers");
        assert!(cluster.brokers.contains_key(&resp.controller_id), "DescribeCluster v{version} controller");
    }
}

/// One record as the test writes and expects it back: (timestamp, key, value, headers).
type TestRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>);

fn test_records(n: usize, timestamp: i64) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let key = (i % 2 == 0).then(|| format!("key-{i}").into_bytes());
            // Compressible, and one null value.
            let value = (i != 3).then(|| format!("value {i} {}", "abcdefgh".repeat(i % 7 + 1)).into_bytes());
            let headers = if i % 3 == 0 {
                vec![("h1".to_string(), Some(format!("{i}").into_bytes())), ("h2".to_string(), None)]
            } else {
                Vec::new()
            };
            (timestamp + i as i64, key, value, headers)
        })
        .collect()
}

fn build_batch(compression: Compression, records: &[TestRecord]) -> Bytes {
    let mut builder = RecordBatchBuilder::new(compression);
    for (timestamp, key, value, headers) in records {
        let headers: Vec<(&str, Option<&[u8]>)> =
            headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        builder.append(*timestamp, key.as_deref(), value.as_deref(), &headers).expect("append");
    }
    let mut buf = BytesMut::new();
    builder.build(&mut buf).expect("build");
    buf.freeze()
}

/// Record batches built by our `RecordBatchBuilder` with every codec, produced to real Kafka
/// (which decompresses them to validate them), fetched back and decoded by our
/// `decode_batches`; and uncompressed batches produced to topics whose `compression.type`
/// makes Kafka recompress them with Java's codecs, which our decompressors must read.
#[tokio::test]
async fn record_batches_with_every_codec_round_trip_through_kafka() {
    let addrs = require_kafka!("record_batches_with_every_codec_round_trip_through_kafka");
    let mut cluster = Cluster::connect(&addrs).await;
    let produce_version = cluster.common(ApiKey::Produce).max;
    let fetch_version = cluster.common(ApiKey::Fetch).max;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
    let codecs = [
        (Compression::None, "uncompressed"),
        (Compression::Gzip, "gzip"),
        (Compression::Snappy, "snappy"),
        (Compression::Lz4, "lz4"),
        (Compression::Zstd, "zstd"),
    ];
    // (ours, the topic's compression.type, what Kafka stores)
    let mut cases = Vec::new();
    for (codec, name) in codecs {
        cases.push((codec, "producer", codec, format!("ours-{name}")));
        if codec != Compression::None {
            cases.push((Compression::None, name, codec, format!("kafkas-{name}")));
        }
    }
    for (ours, topic_compression, stored, label) in cases {
        let context = format!("{label} (batch {ours:?}, topic compression.type={topic_compression})");
        let topic = unique_topic(&label);
        cluster.create_topic_with(&topic, 1, &[("compression.type", topic_compression)]).await;
        let (topic_id, leaders) = cluster.wait_for_leaders(&topic, 1).await;
        let mut conn = cluster.connect_to(leaders[0].0).await;

        let records = test_records(40, now);
        let batch = build_batch(ours, &records);
        let produce = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: topic.clone(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        // A new partition's leader may not have applied the metadata that makes it leader
        // yet (other brokers can be ahead): Kafka answers NOT_LEADER_OR_FOLLOWER, clients retry.
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let resp = loop {
            let resp = conn.call(produce_version, &produce).await;
            let code = resp.responses[0].partition_responses[0].error_code;
            let settling = code == ErrorCode::NotLeaderOrFollower.code()
                || code == ErrorCode::UnknownTopicOrPartition.code();
            if !settling || Instant::now() > deadline {
                break resp;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let p = &resp.responses[0].partition_responses[0];
        assert_code(
            p.error_code,
            ErrorCode::None,
            &format!("{context}: Produce v{produce_version}: {:?}", p.error_message),
        );
        assert_eq!(p.base_offset, 0, "{context}");

        let fetch = FetchRequest {
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: topic.clone(),
                topic_id,
                partitions: vec![FetchPartition {
                    partition: 0,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.call(fetch_version, &fetch).await;
        let p = &resp.responses[0].partitions[0];
        assert_code(p.error_code, ErrorCode::None, &format!("{context}: Fetch v{fetch_version}"));
        let raw = p.records.clone().unwrap_or_default();
        let mut got = Vec::new();
        let mut batches = decode_batches(raw.clone(), &DecodeOptions::default());
        for batch in batches.by_ref() {
            let batch = batch
                .unwrap_or_else(|e| panic!("{context}: decoding Kafka's batch: {e}; bytes {}", hex(&raw)));
            assert_eq!(batch.compression(), stored, "{context}: stored codec");
            for record in batch.records() {
                let r = record
                    .unwrap_or_else(|e| panic!("{context}: decoding a record: {e}; bytes {}", hex(&raw)));
                let headers = r.headers.iter().map(|(k, v)| (k.to_string(), v.map(|v| v.to_vec()))).collect();
                got.push((
                    r.offset,
                    (r.timestamp, r.key.map(|k| k.to_vec()), r.value.map(|v| v.to_vec()), headers),
                ));
            }
        }
        assert!(batches.truncated_tail().is_none(), "{context}: a partial batch in a 1 MiB fetch");
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, (0..records.len() as i64).collect::<Vec<_>>(), "{context}: offsets");
        let got: Vec<TestRecord> = got.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, records, "{context}: records");
        cluster.delete_topic(&topic).await;
    }
}
