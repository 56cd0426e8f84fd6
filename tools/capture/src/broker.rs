//! A tiny Kafka-speaking listener built on `kafka-protocol`: just enough broker for a producer
//! to bootstrap, find the leader of `vectors`/0, get a producer id and produce. It records
//! every request frame it reads, byte for byte, before it decodes it.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::generated::api_versions_response::ApiVersion;
use kafka_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::generated::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::generated::{
    ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse,
};
use kafka_protocol::{ApiKey, ErrorCode, RequestKind, ResponseKind, Uuid, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The only topic this broker knows.
pub const TOPIC: &str = "vectors";
/// Its topic id (v10+ Metadata responses), fixed so that runs are repeatable.
pub const TOPIC_ID: Uuid = Uuid::from_halves(0x7665_6374_6f72_7321, 0x0000_0000_0000_0001);
/// This broker's node id.
pub const NODE_ID: i32 = 1;
/// The producer id handed out by InitProducerId.
pub const PRODUCER_ID: i64 = 1000;

/// `(api key, min, max)` that both Apache Kafka 3.9 and 4.0 brokers advertise (their
/// ApiVersions responses, intersected), for the client-facing APIs. The telemetry APIs (71, 72)
/// are absent because a broker only advertises them when a client-telemetry plugin is
/// configured. Intersected again with what our codec supports before use.
const KAFKA_3_9_AND_4_0: &[(i16, i16, i16)] = &[
    (0, 0, 11),
    (1, 4, 17),
    (2, 1, 9),
    (3, 0, 12),
    (8, 2, 9),
    (9, 1, 9),
    (10, 0, 6),
    (11, 2, 9),
    (12, 0, 4),
    (13, 0, 5),
    (14, 0, 5),
    (15, 0, 5),
    (16, 0, 5),
    (17, 0, 1),
    (18, 0, 4),
    (19, 2, 7),
    (20, 1, 6),
    (21, 0, 2),
    (22, 0, 5),
    (23, 2, 4),
    (24, 0, 5),
    (25, 0, 4),
    (26, 0, 4),
    (27, 1, 1),
    (28, 0, 4),
    (29, 1, 3),
    (30, 1, 3),
    (31, 1, 3),
    (32, 1, 4),
    (33, 0, 2),
    (34, 1, 2),
    (35, 1, 4),
    (36, 0, 2),
    (37, 0, 3),
    (38, 1, 3),
    (39, 1, 2),
    (40, 1, 2),
    (41, 1, 3),
    (42, 0, 2),
    (43, 0, 2),
    (44, 0, 1),
    (45, 0, 0),
    (46, 0, 0),
    (47, 0, 0),
    (48, 0, 1),
    (49, 0, 1),
    (50, 0, 0),
    (51, 0, 0),
    (57, 0, 1),
    (60, 0, 1),
    (61, 0, 0),
    (65, 0, 0),
    (66, 0, 1),
    (68, 0, 0),
    (69, 0, 0),
];

/// The version ranges this broker advertises: Kafka 3.9 ∩ Kafka 4.0 ∩ our codec.
pub fn advertised() -> Vec<ApiVersion> {
    KAFKA_3_9_AND_4_0
        .iter()
        .filter_map(|&(key, min, max)| {
            let ours = ApiKey::from_key(key)?.versions();
            let r = ours.intersect(&kafka_protocol::VersionRange { min, max })?;
            Some(ApiVersion { api_key: key, min_version: r.min, max_version: r.max, ..Default::default() })
        })
        .collect()
}

fn advertised_range(key: i16) -> Option<(i16, i16)> {
    advertised().into_iter().find(|v| v.api_key == key).map(|v| (v.min_version, v.max_version))
}

/// One request frame as read from the socket, without its 4-byte size prefix.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Which accepted connection it came from (1-based, in accept order).
    pub conn: u32,
    /// The API key and version from the first four bytes.
    pub api_key: i16,
    /// The request version.
    pub version: i16,
    /// The whole frame after the size prefix.
    pub frame: Bytes,
}

#[derive(Default)]
struct State {
    frames: Vec<Captured>,
    next_offset: i64,
    next_conn: u32,
}

/// A running capture broker. Dropping it (or [`CaptureBroker::stop`]) closes the listener and
/// every connection.
pub struct CaptureBroker {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: JoinSet<()>,
}

impl CaptureBroker {
    /// Binds 127.0.0.1 on a free port and starts accepting.
    pub async fn start() -> io::Result<CaptureBroker> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let mut tasks = JoinSet::new();
        let st = state.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let st = st.clone();
                let conn = {
                    let mut s = st.lock().unwrap();
                    s.next_conn += 1;
                    s.next_conn
                };
                conns.spawn(async move {
                    if let Err(e) = serve(stream, conn, addr.port(), st).await {
                        eprintln!("capture broker: connection {conn}: {e}");
                    }
                });
            }
        });
        Ok(CaptureBroker { addr, state, tasks })
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Stops accepting, closes every connection and returns the frames in arrival order.
    pub async fn stop(mut self) -> Vec<Captured> {
        self.tasks.shutdown().await;
        std::mem::take(&mut self.state.lock().unwrap().frames)
    }
}

async fn serve(mut stream: TcpStream, conn: u32, port: u16, state: Arc<Mutex<State>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let mut prefix = [0u8; 4];
        match stream.read_exact(&mut prefix).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = frame::frame_length(&prefix, frame::DEFAULT_MAX_FRAME_SIZE)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await?;
        let frame = Bytes::from(body);
        if frame.len() < 8 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request frame shorter than its header"));
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        state.lock().unwrap().frames.push(Captured { conn, api_key, version, frame: frame.clone() });

        let mut out = BytesMut::new();
        match advertised_range(api_key) {
            // Like Kafka: a too-new ApiVersions gets UNSUPPORTED_VERSION at v0 listing our
            // ranges, so the client can retry at a version we support.
            Some((_, max)) if api_key == ApiKey::ApiVersions.key() && version > max => {
                eprintln!("capture broker: ApiVersions v{version} > v{max}: UNSUPPORTED_VERSION");
                let body = ApiVersionsResponse {
                    error_code: ErrorCode::UnsupportedVersion.code(),
                    api_keys: advertised(),
                    ..Default::default()
                };
                frame::encode_response(&mut out, correlation_id, 0, &body).map_err(invalid)?;
            }
            Some((min, max)) if (min..=max).contains(&version) => {
                let (_, request) = frame::decode_request(frame).map_err(invalid)?;
                let Some(response) = respond(request, version, port, &state) else { continue };
                frame::encode_response_kind(&mut out, correlation_id, version, &response).map_err(invalid)?;
            }
            _ => {
                // Kafka closes the connection on a request it cannot handle.
                let msg = format!("unsupported request: api key {api_key} v{version}; closing");
                return Err(io::Error::new(io::ErrorKind::Unsupported, msg));
            }
        }
        stream.write_all(&out).await?;
    }
}

fn invalid(e: kafka_protocol::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The response to one decoded request, `None` for none (acks=0 produce).
fn respond(request: RequestKind, version: i16, port: u16, state: &Mutex<State>) -> Option<ResponseKind> {
    Some(match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions(&r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata(&r, version, port)),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(init_producer_id(&r)),
        RequestKind::Produce(r) => {
            if r.acks == 0 {
                return None;
            }
            ResponseKind::Produce(produce(&r, version, state))
        }
        other => {
            eprintln!("capture broker: no handler for {:?} v{version}; not answering", other.api_key());
            return None;
        }
    })
}

fn api_versions(_: &ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse { api_keys: advertised(), ..Default::default() }
}

fn metadata(r: &MetadataRequest, version: i16, port: u16) -> MetadataResponse {
    // A null list (or, at v0, an empty one) asks for every topic.
    let names: Vec<Option<String>> = match &r.topics {
        None => vec![Some(TOPIC.to_owned())],
        Some(t) if t.is_empty() && version == 0 => vec![Some(TOPIC.to_owned())],
        Some(t) => t.iter().map(|t| t.name.clone()).collect(),
    };
    let topics = names
        .into_iter()
        .map(|name| {
            let known = name.as_deref() == Some(TOPIC);
            let mut t = MetadataResponseTopic { name, ..Default::default() };
            if !known {
                t.error_code = ErrorCode::UnknownTopicOrPartition.code();
                return t;
            }
            if version >= 10 {
                t.topic_id = TOPIC_ID;
            }
            let mut p = MetadataResponsePartition {
                partition_index: 0,
                leader_id: NODE_ID,
                replica_nodes: vec![NODE_ID],
                isr_nodes: vec![NODE_ID],
                ..Default::default()
            };
            if version >= 7 {
                p.leader_epoch = 0;
            }
            t.partitions = vec![p];
            t
        })
        .collect();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: NODE_ID,
            host: "127.0.0.1".into(),
            port: port.into(),
            rack: None,
            ..Default::default()
        }],
        cluster_id: (version >= 2).then(|| "capture-cluster".to_owned()),
        controller_id: if version >= 1 { NODE_ID } else { -1 },
        topics,
        ..Default::default()
    }
}

fn init_producer_id(_: &InitProducerIdRequest) -> InitProducerIdResponse {
    InitProducerIdResponse { producer_id: PRODUCER_ID, producer_epoch: 0, ..Default::default() }
}

fn produce(r: &ProduceRequest, version: i16, state: &Mutex<State>) -> ProduceResponse {
    let mut st = state.lock().unwrap();
    let responses = r
        .topic_data
        .iter()
        .map(|t| TopicProduceResponse {
            name: t.name.clone(),
            partition_responses: t
                .partition_data
                .iter()
                .map(|p| {
                    let mut resp = PartitionProduceResponse { index: p.index, ..Default::default() };
                    if t.name != TOPIC || p.index != 0 {
                        resp.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return resp;
                    }
                    resp.base_offset = st.next_offset;
                    st.next_offset += p.records.as_deref().map_or(0, record_count);
                    if version >= 5 {
                        resp.log_start_offset = 0;
                    }
                    resp
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ProduceResponse { responses, ..Default::default() }
}

/// How many offsets a records field takes: `lastOffsetDelta + 1` per magic-2 batch, one per
/// legacy message (a compressed legacy wrapper counts as one; good enough for a capture).
fn record_count(mut records: &[u8]) -> i64 {
    let mut n = 0;
    while records.len() >= 17 {
        let len = i32::from_be_bytes([records[8], records[9], records[10], records[11]]).max(0) as usize;
        let magic = records[16];
        if magic == 2 && records.len() >= 27 {
            n += i64::from(i32::from_be_bytes([records[23], records[24], records[25], records[26]])) + 1;
        } else {
            n += 1;
        }
        records = &records[(12 + len).min(records.len())..];
    }
    n
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;
    use kafka_protocol::generated::metadata_request::MetadataRequestTopic;
    use kafka_protocol::{Encodable, RequestHeader};

    use super::*;

    async fn roundtrip(stream: &mut TcpStream, request: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i32(request.len() as i32);
        buf.put_slice(request);
        stream.write_all(&buf).await.unwrap();
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).await.unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
        stream.read_exact(&mut body).await.unwrap();
        Bytes::from(body)
    }

    fn header(api: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
        RequestHeader {
            request_api_key: api.key(),
            request_api_version: version,
            correlation_id,
            client_id: Some("t".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn too_new_api_versions_gets_unsupported_version_at_v0_then_metadata_works() {
        let broker = CaptureBroker::start().await.unwrap();
        let mut s = TcpStream::connect(broker.bootstrap()).await.unwrap();

        // ApiVersions v9: a body we cannot even parse; Kafka answers at v0.
        let mut v9 = BytesMut::new();
        header(ApiKey::ApiVersions, 9, 7).encode(&mut v9, 2).unwrap();
        v9.put_slice(&[0x42; 5]);
        let resp = roundtrip(&mut s, &v9).await;
        let (h, body) = frame::decode_response::<ApiVersionsRequest>(resp, 0).unwrap();
        assert_eq!(h.correlation_id, 7);
        assert_eq!(body.error_code, ErrorCode::UnsupportedVersion.code());
        let ours = body.find_api_keys(ApiKey::ApiVersions.key()).unwrap();
        assert_eq!((ours.min_version, ours.max_version), (0, 4));

        // ...then the client retries at v3.
        let mut req = BytesMut::new();
        frame::encode_request(&mut req, &header(ApiKey::ApiVersions, 3, 8), &ApiVersionsRequest::default())
            .unwrap();
        let (h, body) =
            frame::decode_response::<ApiVersionsRequest>(roundtrip(&mut s, &req[4..]).await, 3).unwrap();
        assert_eq!((h.correlation_id, body.error_code), (8, 0));
        assert_eq!(body.api_keys, advertised());
        let produce = body.find_api_keys(ApiKey::Produce.key()).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (0, 11));

        let request = MetadataRequest {
            topics: Some(vec![
                MetadataRequestTopic { name: Some(TOPIC.into()), ..Default::default() },
                MetadataRequestTopic { name: Some("other".into()), ..Default::default() },
            ]),
            ..Default::default()
        };
        let mut req = BytesMut::new();
        frame::encode_request(&mut req, &header(ApiKey::Metadata, 12, 9), &request).unwrap();
        let (_, body) =
            frame::decode_response::<MetadataRequest>(roundtrip(&mut s, &req[4..]).await, 12).unwrap();
        assert_eq!(body.brokers[0].node_id, NODE_ID);
        assert_eq!(body.brokers[0].port, i32::from(broker.addr.port()));
        let t = body.find_topics(Some(TOPIC)).unwrap();
        assert_eq!((t.error_code, t.topic_id, t.partitions[0].leader_id), (0, TOPIC_ID, NODE_ID));
        let other = body.find_topics(Some("other")).unwrap();
        assert_eq!(other.error_code, ErrorCode::UnknownTopicOrPartition.code());

        let frames = broker.stop().await;
        let seen: Vec<(i16, i16)> = frames.iter().map(|f| (f.api_key, f.version)).collect();
        assert_eq!(seen, [(18, 9), (18, 3), (3, 12)]);
        assert_eq!(&frames[0].frame[..], &v9[..], "recorded byte for byte");
    }
}
