//! The cluster seen by a client: ApiVersions, Metadata, topic administration, faults and bad
//! input, over real TCP connections.

mod raw_client;

use kafka_protocol::generated::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::generated::metadata_request::MetadataRequestTopic;
use kafka_protocol::generated::{
    ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DescribeConfigsRequest,
    MetadataRequest, create_partitions_request::CreatePartitionsTopic,
    describe_configs_request::DescribeConfigsResource,
};
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_test_broker::{Fault, FaultAction, TestCluster};
use raw_client::RawClient;

fn metadata_for(topics: &[&str]) -> MetadataRequest {
    MetadataRequest {
        topics: Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic { name: Some((*t).into()), ..Default::default() })
                .collect(),
        ),
        allow_auto_topic_creation: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn api_versions_advertises_served_ranges_and_answers_unknown_versions_at_v0() {
    let cluster = TestCluster::builder().start().await.unwrap();
    let mut c = RawClient::connect(cluster.broker_addr(1).unwrap()).await.unwrap();
    let req = ApiVersionsRequest {
        client_software_name: "raw-test".into(),
        client_software_version: "1.0".into(),
        ..Default::default()
    };
    let resp = c.call(3, &req).await;
    assert_eq!(resp.error_code, 0);
    let produce = resp.find_api_keys(ApiKey::Produce.key()).expect("produce advertised");
    assert_eq!((produce.min_version, produce.max_version), (3, ApiKey::Produce.versions().max));
    assert!(resp.find_api_keys(ApiKey::Fetch.key()).is_some());
    // a version above ours: Kafka answers at v0 with UNSUPPORTED_VERSION and its ranges
    #[rustfmt::skip]
    let v99: &[u8] = &[
        0, 0, 0, 16,                // size
        0, 18, 0, 99, 0, 0, 0, 9,   // ApiVersions v99, correlation id 9
        0, 1, b'x', 0,              // client id "x", header tagged fields
        2, b'y', 2, b'1',           // (a body we cannot know the layout of)
    ];
    c.send_raw(v99).await.unwrap();
    let frame = c.read_frame().await.expect("answered");
    let (_, v0) = kafka_protocol::frame::decode_response::<ApiVersionsRequest>(frame, 0).unwrap();
    assert_eq!(v0.error_code, ErrorCode::UnsupportedVersion.code());
    assert!(v0.api_keys.len() > 5);
    // invalid client software name (KIP-511)
    let bad = ApiVersionsRequest {
        client_software_name: "-bad".into(),
        client_software_version: "1".into(),
        ..Default::default()
    };
    assert_eq!(c.call(3, &bad).await.error_code, ErrorCode::InvalidRequest.code());
}

#[tokio::test]
async fn metadata_auto_creates_and_spreads_leaders() {
    let cluster = TestCluster::builder().brokers(3).default_partitions(6).start().await.unwrap();
    let mut c = RawClient::connect(cluster.broker_addr(2).unwrap()).await.unwrap();
    let resp = c.call(12, &metadata_for(&["orders"])).await;
    assert_eq!(resp.brokers.len(), 3);
    assert_eq!(resp.cluster_id.as_deref(), Some("kafka-test-broker-cluster"));
    let t = resp.find_topics(Some("orders")).expect("created");
    assert_eq!(t.error_code, 0);
    assert_ne!(t.topic_id, kafka_protocol::Uuid::ZERO);
    assert_eq!(t.partitions.len(), 6);
    let mut leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader_id).collect();
    leaders.sort();
    leaders.dedup();
    assert_eq!(leaders, vec![1, 2, 3], "leaders spread over every broker");
    assert!(t.partitions.iter().all(|p| p.replica_nodes.len() == 3 && p.isr_nodes.len() == 3));
    // without auto-creation the topic stays unknown
    let mut no_auto = metadata_for(&["nope"]);
    no_auto.allow_auto_topic_creation = false;
    let resp = c.call(12, &no_auto).await;
    assert_eq!(resp.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
    let resp = c.call(12, &metadata_for(&["bad name!"])).await;
    assert_eq!(resp.topics[0].error_code, ErrorCode::InvalidTopicException.code());
}

#[tokio::test]
async fn create_topics_validates_like_kafka() {
    let cluster = TestCluster::builder().brokers(2).start().await.unwrap();
    let mut c = RawClient::connect(cluster.broker_addr(1).unwrap()).await.unwrap();
    let topic = |name: &str, p: i32, rf: i16| CreatableTopic {
        name: name.into(),
        num_partitions: p,
        replication_factor: rf,
        ..Default::default()
    };
    let req = CreateTopicsRequest {
        topics: vec![
            topic("a", 3, 2),
            topic("too-many-replicas", 1, 3),
            CreatableTopic {
                name: "manual".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![CreatableReplicaAssignment {
                    partition_index: 0,
                    broker_ids: vec![2, 1],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        timeout_ms: 1000,
        ..Default::default()
    };
    let resp = c.call(7, &req).await;
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!((resp.topics[0].num_partitions, resp.topics[0].replication_factor), (3, 2));
    assert_eq!(resp.topics[1].error_code, ErrorCode::InvalidReplicationFactor.code());
    assert!(resp.topics[1].error_message.as_deref().unwrap().contains("only 2 broker(s)"));
    assert_eq!(resp.topics[2].error_code, 0);
    assert_eq!(cluster.partition("manual", 0).unwrap().leader, 2, "explicit assignment: first replica leads");
    // again: already exists; validate_only creates nothing
    let again =
        c.call(7, &CreateTopicsRequest { topics: vec![topic("a", 1, 1)], ..Default::default() }).await;
    assert_eq!(again.topics[0].error_code, ErrorCode::TopicAlreadyExists.code());
    let dry =
        CreateTopicsRequest { topics: vec![topic("dry", 1, 1)], validate_only: true, ..Default::default() };
    assert_eq!(c.call(7, &dry).await.topics[0].error_code, 0);
    assert!(cluster.partition("dry", 0).is_none());
    // grow only
    let grow = |count| CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: "a".into(),
            count,
            assignments: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(c.call(3, &grow(5)).await.results[0].error_code, 0);
    assert!(cluster.partition("a", 4).is_some());
    assert_eq!(c.call(3, &grow(2)).await.results[0].error_code, ErrorCode::InvalidPartitions.code());
    // every topic config with its default and source
    let desc = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: "a".into(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let configs = c.call(4, &desc).await;
    let retention = configs.results[0].configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("604800000"));
    assert_eq!(retention.config_source, 5, "DEFAULT_CONFIG");
}

#[tokio::test]
async fn faults_fail_delay_close_and_stop_brokers() {
    let cluster = TestCluster::builder().brokers(2).start().await.unwrap();
    let addr = cluster.broker_addr(1).unwrap();
    let mut c = RawClient::connect(addr).await.unwrap();
    cluster.inject(
        Fault::new(ApiKey::Metadata, 2, FaultAction::Error(ErrorCode::UnknownTopicOrPartition)).on_broker(1),
    );
    for _ in 0..2 {
        let r = c.call(12, &metadata_for(&["t"])).await;
        assert_eq!(r.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
    }
    assert_eq!(c.call(12, &metadata_for(&["t"])).await.topics[0].error_code, 0, "only the next 2 fail");
    cluster.inject(Fault::new(ApiKey::Metadata, 1, FaultAction::CloseConnection));
    c.send(12, &metadata_for(&["t"])).await;
    assert!(c.is_closed().await);
    // an error injected into an API with no error answer to build closes the connection
    // instead of leaving the client waiting for its request timeout
    let mut c = RawClient::connect(addr).await.unwrap();
    cluster.inject(Fault::new(ApiKey::DescribeConfigs, 1, FaultAction::Error(ErrorCode::NotController)));
    c.send(4, &DescribeConfigsRequest::default()).await;
    assert!(c.is_closed().await, "closed, not left waiting");
    let mut c = RawClient::connect(addr).await.unwrap();
    let answered = c.call(4, &DescribeConfigsRequest::default()).await;
    assert!(answered.results.is_empty(), "the next DescribeConfigs is answered: {answered:?}");
    // broker down: port refuses, leadership moves with an epoch bump; back up with its data
    let before = cluster.partition("t", 0).unwrap();
    let leader = before.leader;
    cluster.stop_broker(leader).unwrap();
    assert!(RawClient::connect(cluster.broker_addr(leader).unwrap()).await.is_err());
    let after = cluster.partition("t", 0).unwrap();
    assert_ne!(after.leader, leader);
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    cluster.start_broker(leader).await.unwrap();
    assert!(RawClient::connect(cluster.broker_addr(leader).unwrap()).await.is_ok());
    assert!(cluster.partition("t", 0).unwrap().isr.contains(&leader));
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let cluster = TestCluster::builder().max_frame_size(1024 * 1024).start().await.unwrap();
    let addr = cluster.broker_addr(1).unwrap();
    let mut good = RawClient::connect(addr).await.unwrap();
    let cases: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),                     // not Kafka
        vec![0x7f, 0xff, 0xff, 0xff],                           // oversized frame
        vec![0, 0, 0, 8, 0x7f, 0x00, 0, 0, 0, 0, 0, 1],         // unknown API key
        vec![0, 0, 0, 10, 0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff], // truncated Metadata
        vec![0, 0, 0, 2, 0, 3],                                 // shorter than a header
    ];
    for bytes in cases {
        let mut bad = RawClient::connect(addr).await.unwrap();
        bad.send_raw(&bytes).await.unwrap();
        assert!(bad.is_closed().await, "connection closed after {bytes:02x?}");
        assert_eq!(good.call(12, &metadata_for(&["x"])).await.topics[0].error_code, 0, "others unaffected");
    }
}

/// Every served Produce and Fetch version gets an answer (kafka-python speaks Produce v9 and
/// found the broker setting a v10-only field, which made the encoder refuse and the
/// connection close).
#[tokio::test]
async fn produce_and_fetch_answer_at_every_served_version() {
    use kafka_protocol::generated::{
        FetchRequest, ProduceRequest,
        fetch_request::{FetchPartition, FetchTopic},
        produce_request::{PartitionProduceData, TopicProduceData},
    };
    use kafka_protocol::records::{Compression, RecordBatchBuilder};
    let cluster = TestCluster::builder().brokers(1).topic("v", 1, 1).start().await.unwrap();
    let mut c = RawClient::connect(cluster.broker_addr(cluster.broker_ids()[0]).unwrap()).await.unwrap();
    let produce = kafka_test_broker_served(ApiKey::Produce);
    for version in produce.min..=produce.max {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.append(0, None, Some(b"x"), &[]).unwrap();
        let mut batch = bytes::BytesMut::new();
        b.build(&mut batch).unwrap();
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "v".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.freeze()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = c.call(version, &req).await;
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0, "Produce v{version}");
    }
    let fetch = kafka_test_broker_served(ApiKey::Fetch);
    let topic_id = c.call(12, &metadata_for(&["v"])).await.topics[0].topic_id;
    for version in fetch.min..=fetch.max {
        let req = FetchRequest {
            max_wait_ms: 0,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: if version < 13 { "v".into() } else { String::new() },
                topic_id: if version >= 13 { topic_id } else { kafka_protocol::Uuid::ZERO },
                partitions: vec![FetchPartition {
                    partition: 7,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = c.call(version, &req).await;
        assert_ne!(resp.responses[0].partitions[0].error_code, 0, "Fetch v{version}: unknown partition");
    }
}

fn kafka_test_broker_served(api: ApiKey) -> kafka_protocol::VersionRange {
    kafka_test_broker::supported_versions(api).expect("served")
}
