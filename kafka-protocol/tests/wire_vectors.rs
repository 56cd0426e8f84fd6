//! Hand-checked byte vectors: header versions, flexible encodings, tagged fields, nullable
//! structs, and the errors the codec must raise instead of losing data or allocating.

use bytes::{Bytes, BytesMut};
use kafka_protocol::generated::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::generated::metadata_response::MetadataResponseTopic;
use kafka_protocol::generated::{
    ConsumerGroupHeartbeatResponse, FetchRequest, JoinGroupRequest, MetadataRequest, MetadataResponse,
};
use kafka_protocol::{
    Decodable, Encodable, Error, ErrorCode, Message, RawTaggedField, RequestHeader, ResponseHeader, Uuid,
};

fn enc<T: Encodable>(v: &T, version: i16) -> Vec<u8> {
    let mut b = BytesMut::new();
    v.encode(&mut b, version).unwrap();
    b.to_vec()
}

fn dec<T: Decodable>(bytes: &[u8], version: i16) -> kafka_protocol::Result<T> {
    let mut b = Bytes::copy_from_slice(bytes);
    let v = T::decode(&mut b, version)?;
    assert!(b.is_empty(), "{} bytes left", b.len());
    Ok(v)
}

#[test]
fn request_header_versions() {
    let h = RequestHeader {
        request_api_key: 1,
        request_api_version: 12,
        correlation_id: 0x0102_0304,
        client_id: Some("c".into()),
        ..Default::default()
    };
    // v0 has no client id; the schema marks it ignorable, so v0 omits it (as Kafka does)
    assert_eq!(enc(&h, 0), [0, 1, 0, 12, 1, 2, 3, 4]);
    assert_eq!(enc(&h, 1), [0, 1, 0, 12, 1, 2, 3, 4, 0, 1, b'c']);
    // v2: client id stays an int16-prefixed string (flexibleVersions "none"), then tagged fields
    assert_eq!(enc(&h, 2), [0, 1, 0, 12, 1, 2, 3, 4, 0, 1, b'c', 0]);
    let null_client = RequestHeader { client_id: None, ..h.clone() };
    assert_eq!(enc(&null_client, 1), [0, 1, 0, 12, 1, 2, 3, 4, 0xff, 0xff]);
    assert_eq!(dec::<RequestHeader>(&enc(&h, 2), 2).unwrap(), h);
}

#[test]
fn response_header_versions() {
    let h = ResponseHeader { correlation_id: 7, ..Default::default() };
    assert_eq!(enc(&h, 0), [0, 0, 0, 7]);
    assert_eq!(enc(&h, 1), [0, 0, 0, 7, 0]);
    // an unknown tagged field in the header survives a round trip
    let with_tag = ResponseHeader {
        correlation_id: 7,
        unknown_tagged_fields: vec![RawTaggedField { tag: 5, data: Bytes::from_static(&[9, 9]) }],
    };
    let bytes = enc(&with_tag, 1);
    assert_eq!(bytes, [0, 0, 0, 7, 1, 5, 2, 9, 9]);
    assert_eq!(dec::<ResponseHeader>(&bytes, 1).unwrap(), with_tag);
    // ...but cannot be sent in a version without tagged fields
    assert!(matches!(with_tag.encode(&mut BytesMut::new(), 0), Err(Error::FieldNotSupported { .. })));
}

#[test]
fn fetch_v12_compact_fields_and_tagged_cluster_id() {
    let req = FetchRequest {
        cluster_id: Some("c".into()),
        max_wait_ms: 500,
        min_bytes: 1,
        session_epoch: -1,
        ..Default::default()
    };
    #[rustfmt::skip]
    let expected = [
        0xff, 0xff, 0xff, 0xff, // replica id -1 (default)
        0, 0, 0x01, 0xf4,       // max wait 500
        0, 0, 0, 1,             // min bytes
        0x7f, 0xff, 0xff, 0xff, // max bytes default
        0,                      // isolation level
        0, 0, 0, 0,             // session id
        0xff, 0xff, 0xff, 0xff, // session epoch
        1,                      // topics: compact array, 0 elements
        1,                      // forgotten topics
        1,                      // rack id: compact string ""
        1, 0, 2, 2, b'c',       // 1 tagged field: tag 0, size 2, compact string "c"
    ];
    assert_eq!(enc(&req, 12), expected);
    assert_eq!(dec::<FetchRequest>(&expected, 12).unwrap(), req);
    // the same request without the cluster id has an empty tagged section
    let plain = FetchRequest { cluster_id: None, ..req.clone() };
    assert_eq!(enc(&plain, 12).last(), Some(&0));
    // an unknown tag between known ones is kept and written back in tag order
    let mut with_unknown = expected.to_vec();
    let n = with_unknown.len();
    with_unknown.truncate(n - 5);
    with_unknown.extend_from_slice(&[2, 0, 2, 2, b'c', 9, 1, 0x42]);
    let decoded = dec::<FetchRequest>(&with_unknown, 12).unwrap();
    assert_eq!(
        decoded.unknown_tagged_fields,
        vec![RawTaggedField { tag: 9, data: Bytes::from_static(&[0x42]) }]
    );
    assert_eq!(enc(&decoded, 12), with_unknown);
    // the cluster id is marked ignorable: v11 drops it, as the Java client does
    // (25 bytes of fixed fields, two int32 array lengths, an int16 empty rack id)
    assert_eq!(enc(&req, 11).len(), 25 + 4 + 4 + 2);
    // the replica state exists only from v15 and is not ignorable: v14 must refuse it
    let mut follower = plain.clone();
    follower.replica_state.replica_id = 5;
    assert!(matches!(
        follower.encode(&mut BytesMut::new(), 14),
        Err(Error::FieldNotSupported { at: "FetchRequest.ReplicaState", version: 14 })
    ));
}

#[test]
fn classic_vs_compact_strings_and_arrays() {
    let req = MetadataRequest { topics: None, allow_auto_topic_creation: true, ..Default::default() };
    // v4-v8: int32 array length, -1 = all topics, then AllowAutoTopicCreation
    assert_eq!(enc(&req, 4), [0xff, 0xff, 0xff, 0xff, 1]);
    // v9+: compact array, 0 = null; then the bool, two more bools (v8-v10), tagged fields
    assert_eq!(enc(&req, 9), [0, 1, 0, 0, 0]);
    // v0 cannot express "all topics" (null): an error, not an empty list
    assert!(matches!(req.encode(&mut BytesMut::new(), 0), Err(Error::UnexpectedNull { .. })));
    let resp = MetadataResponse {
        topics: vec![MetadataResponseTopic {
            name: Some("t".into()),
            topic_id: Uuid::ZERO,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(resp.find_topics(Some("t")).map(|t| t.name.as_deref()), Some(Some("t")));
    assert!(resp.find_topics(Some("u")).is_none());
}

#[test]
fn nullable_struct_marker() {
    let mut r = ConsumerGroupHeartbeatResponse { member_epoch: 3, ..Default::default() };
    let null_bytes = enc(&r, 0);
    // throttle, error code, error message (null), member id (null), epoch, interval,
    // assignment marker -1, tagged fields
    assert_eq!(null_bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0xff, 0]);
    r.assignment = Some(Assignment {
        topic_partitions: vec![TopicPartitions {
            topic_id: Uuid::from_halves(0, 1),
            partitions: vec![7],
            ..Default::default()
        }],
        ..Default::default()
    });
    let bytes = enc(&r, 0);
    assert_eq!(bytes[16], 1, "present marker");
    assert_eq!(dec::<ConsumerGroupHeartbeatResponse>(&bytes, 0).unwrap(), r);
}

#[test]
fn huge_claimed_lengths_fail_without_allocating() {
    // CVE-2022-34917: an array claiming 2^31-1 elements in a tiny frame (Fetch v3: replica id,
    // max wait, min bytes, max bytes, then the topics array)
    let mut frame = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    frame.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let e = dec::<FetchRequest>(&frame[..], 3).unwrap_err();
    assert!(matches!(e, Error::InvalidLength { at: "FetchRequest.Topics", length: 0x7fff_ffff, .. }), "{e}");
    // a string claiming 32767 bytes with 3 present
    let e = dec::<RequestHeader>(&[0, 1, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, b'a', b'b', b'c'], 1).unwrap_err();
    assert!(matches!(e, Error::InvalidLength { at: "RequestHeader.ClientId", .. }), "{e}");
    // an over-long varint
    let e = dec::<MetadataRequest>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 9).unwrap_err();
    assert!(matches!(e, Error::InvalidVarint { .. }), "{e}");
}

#[test]
fn null_in_non_nullable_field_is_an_error() {
    let mut bytes = BytesMut::new();
    JoinGroupRequest { group_id: "g".into(), ..Default::default() }.encode(&mut bytes, 5).unwrap();
    // group id "g" = [0, 1, 'g'], session timeout, rebalance timeout, then the member id
    let mut raw = bytes.to_vec();
    let member_id_at = 3 + 4 + 4;
    raw[member_id_at] = 0xff;
    raw[member_id_at + 1] = 0xff;
    let e = dec::<JoinGroupRequest>(&raw, 5).unwrap_err();
    assert!(matches!(e, Error::UnexpectedNull { at: "JoinGroupRequest.MemberId", version: 5 }), "{e}");
}

#[test]
fn unsupported_versions_are_named() {
    let e = MetadataRequest::default().encode(&mut BytesMut::new(), 99).unwrap_err();
    assert_eq!(e.to_string(), "MetadataRequest version 99 is not supported (this codec supports 0 to 12)");
    assert_eq!(MetadataRequest::VERSIONS.max, 12);
}

#[test]
fn error_codes() {
    assert_eq!(ErrorCode::from_code(6), ErrorCode::NotLeaderOrFollower);
    assert_eq!(ErrorCode::NotLeaderOrFollower.name(), "NOT_LEADER_OR_FOLLOWER");
    assert!(ErrorCode::NotLeaderOrFollower.is_retriable());
    assert!(!ErrorCode::TopicAuthorizationFailed.is_retriable());
    assert!(ErrorCode::from_code(0).is_ok());
    assert_eq!(ErrorCode::from_code(-1), ErrorCode::UnknownServerError);
    let unknown = ErrorCode::from_code(12345);
    assert_eq!(unknown, ErrorCode::Unknown(12345));
    assert_eq!(unknown.code(), 12345);
    assert!(ErrorCode::ProducerFenced.to_string().starts_with("PRODUCER_FENCED (90)"));
}
