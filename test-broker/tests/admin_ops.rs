//! ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments and DescribeLogDirs
//! over real TCP connections.

mod raw_client;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::generated::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::generated::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::generated::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::generated::elect_leaders_request::TopicPartitions;
use kafka_protocol::generated::elect_leaders_response::PartitionResult;
use kafka_protocol::generated::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::generated::metadata_request::MetadataRequestTopic;
use kafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::generated::{
    AlterPartitionReassignmentsRequest, ApiVersionsRequest, CreateTopicsRequest, DescribeLogDirsRequest,
    ElectLeadersRequest, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    MetadataRequest, ProduceRequest,
};
use kafka_protocol::records::RecordBatchBuilder;
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_test_broker::TestCluster;
use raw_client::RawClient;

async fn client(cluster: &TestCluster, broker: i32) -> RawClient {
    RawClient::connect(cluster.broker_addr(broker).unwrap()).await.unwrap()
}

/// Creates `topic` with an explicit replica assignment per partition.
async fn create(c: &mut RawClient, topic: &str, assignment: &[&[i32]]) {
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: topic.into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: assignment
                .iter()
                .enumerate()
                .map(|(i, r)| CreatableReplicaAssignment {
                    partition_index: i as i32,
                    broker_ids: r.to_vec(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: 5_000,
        ..Default::default()
    };
    let r = c.call(7, &req).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

fn batch(values: &[&str]) -> Bytes {
    let mut b = RecordBatchBuilder::default();
    for v in values {
        b.append(1_700_000_000_000, None, Some(v.as_bytes()), &[]).unwrap();
    }
    let mut out = BytesMut::new();
    b.build(&mut out).unwrap();
    out.freeze()
}

async fn produce(c: &mut RawClient, topic: &str, partition: i32, records: Bytes) {
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = c.call(11, &req).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

/// (leader, leader epoch, replicas, isr) of a partition, from Metadata.
async fn metadata(c: &mut RawClient, topic: &str, partition: i32) -> (i32, i32, Vec<i32>, Vec<i32>) {
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.into()), ..Default::default() }]),
        ..Default::default()
    };
    let r = c.call(12, &req).await;
    let p = r.topics[0].partitions.iter().find(|p| p.partition_index == partition).expect("partition");
    (p.leader_id, p.leader_epoch, p.replica_nodes.clone(), p.isr_nodes.clone())
}

fn elect(election_type: i8, topics: Option<&[(&str, &[i32])]>) -> ElectLeadersRequest {
    ElectLeadersRequest {
        election_type,
        topic_partitions: topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| TopicPartitions {
                    topic: (*t).into(),
                    partitions: ps.to_vec(),
                    ..Default::default()
                })
                .collect()
        }),
        timeout_ms: 5_000,
        ..Default::default()
    }
}

/// The per-partition results of an ElectLeaders call: (topic, partition) → result.
async fn elect_call(
    c: &mut RawClient,
    version: i16,
    req: &ElectLeadersRequest,
) -> Vec<(String, PartitionResult)> {
    let r = c.call(version, req).await;
    assert_eq!(r.error_code, 0);
    r.replica_election_results
        .into_iter()
        .flat_map(|t| t.partition_result.into_iter().map(move |p| (t.topic.clone(), p)))
        .collect()
}

#[tokio::test]
async fn api_versions_advertise_the_admin_and_sasl_apis() {
    let cluster = TestCluster::builder().start().await.unwrap();
    let mut c = client(&cluster, 1).await;
    let req = ApiVersionsRequest {
        client_software_name: "raw-test".into(),
        client_software_version: "1".into(),
        ..Default::default()
    };
    let r = c.call(3, &req).await;
    let range = |api: ApiKey| {
        let v = r.find_api_keys(api.key()).unwrap_or_else(|| panic!("{} not advertised", api.name()));
        (v.min_version, v.max_version)
    };
    assert_eq!(range(ApiKey::ElectLeaders), (0, 2));
    assert_eq!(range(ApiKey::AlterPartitionReassignments), (0, 0));
    assert_eq!(range(ApiKey::ListPartitionReassignments), (0, 0));
    assert_eq!(range(ApiKey::DescribeLogDirs), (1, 4));
    assert_eq!(range(ApiKey::SaslHandshake), (0, 1));
    assert_eq!(range(ApiKey::SaslAuthenticate), (0, 2));
}

#[tokio::test]
async fn preferred_election_moves_leadership_back_to_the_first_replica() {
    let cluster = TestCluster::builder().brokers(3).start().await.unwrap();
    let mut c = client(&cluster, 3).await;
    create(&mut c, "pref", &[&[1, 2, 3], &[2, 3, 1]]).await;
    cluster.move_leader("pref", 0, 2).unwrap();
    assert_eq!(metadata(&mut c, "pref", 0).await.0, 2);

    // the request goes to broker 3 (not the controller): controller APIs are forwarded
    let results = elect_call(&mut c, 2, &elect(0, Some(&[("pref", &[0, 1]), ("nope", &[0])]))).await;
    assert_eq!(results.len(), 3);
    assert_eq!((results[0].1.partition_id, results[0].1.error_code), (0, 0));
    assert_eq!(results[0].1.error_message, None);
    assert_eq!(results[1].1.error_code, ErrorCode::ElectionNotNeeded.code());
    assert!(results[1].1.error_message.as_deref().unwrap().contains("not needed"));
    assert_eq!(results[2].1.error_code, ErrorCode::UnknownTopicOrPartition.code());
    assert_eq!(results[2].1.error_message.as_deref(), Some("No such topic as nope"));
    let (leader, epoch, _, _) = metadata(&mut c, "pref", 0).await;
    assert_eq!((leader, epoch), (1, 2), "preferred replica leads again, epoch bumped");

    // the preferred replica is down: not available
    cluster.move_leader("pref", 0, 2).unwrap();
    cluster.stop_broker(1).unwrap();
    let results = elect_call(&mut c, 1, &elect(0, Some(&[("pref", &[0, 7])]))).await;
    assert_eq!(results[0].1.error_code, ErrorCode::PreferredLeaderNotAvailable.code());
    assert_eq!(results[1].1.error_code, ErrorCode::UnknownTopicOrPartition.code());
    assert_eq!(results[1].1.error_message.as_deref(), Some("No such partition as pref-7"));
    assert_eq!(metadata(&mut c, "pref", 0).await.0, 2);

    // all partitions (null list): partitions already led by their preferred replica are left out
    cluster.start_broker(1).await.unwrap();
    cluster.move_leader("pref", 1, 3).unwrap();
    let results = elect_call(&mut c, 0, &elect(0, None)).await;
    let mut elected: Vec<(String, i32, i16)> =
        results.iter().map(|(t, p)| (t.clone(), p.partition_id, p.error_code)).collect();
    elected.sort();
    assert_eq!(elected, vec![("pref".into(), 0, 0), ("pref".into(), 1, 0)]);
    assert_eq!(metadata(&mut c, "pref", 0).await.0, 1);
    assert_eq!(metadata(&mut c, "pref", 1).await.0, 2);
    assert!(elect_call(&mut c, 2, &elect(0, None)).await.is_empty(), "nothing left to elect");
}

#[tokio::test]
async fn unclean_election_picks_any_alive_replica() {
    let cluster = TestCluster::builder().brokers(3).start().await.unwrap();
    let mut c = client(&cluster, 1).await;
    create(&mut c, "unclean", &[&[2, 3], &[2, 3]]).await;
    assert_eq!(
        elect_call(&mut c, 2, &elect(1, Some(&[("unclean", &[0])]))).await[0].1.error_code,
        ErrorCode::ElectionNotNeeded.code(),
        "a partition with a leader needs no unclean election"
    );
    cluster.set_isr("unclean", 0, vec![2]).unwrap();
    cluster.set_isr("unclean", 1, vec![2]).unwrap();
    cluster.stop_broker(2).unwrap();
    let (leader, epoch, _, isr) = metadata(&mut c, "unclean", 0).await;
    assert_eq!((leader, epoch, isr), (-1, 1, vec![]), "offline: the only in-sync replica is down");

    let results = elect_call(&mut c, 2, &elect(0, Some(&[("unclean", &[0])]))).await;
    assert_eq!(results[0].1.error_code, ErrorCode::PreferredLeaderNotAvailable.code());
    let results = elect_call(&mut c, 2, &elect(1, Some(&[("unclean", &[0])]))).await;
    assert_eq!(results[0].1.error_code, 0);
    let (leader, epoch, _, isr) = metadata(&mut c, "unclean", 0).await;
    assert_eq!((leader, epoch, isr), (3, 2, vec![3]), "the out-of-sync replica leads alone");

    cluster.stop_broker(3).unwrap();
    let results = elect_call(&mut c, 2, &elect(1, Some(&[("unclean", &[1])]))).await;
    assert_eq!(results[0].1.error_code, ErrorCode::EligibleLeadersNotAvailable.code());

    let bad = c.call(2, &elect(5, Some(&[("unclean", &[1])]))).await;
    assert_eq!(bad.error_code, ErrorCode::InvalidRequest.code());
}

fn reassign(topic: &str, partitions: &[(i32, Option<&[i32]>)]) -> AlterPartitionReassignmentsRequest {
    AlterPartitionReassignmentsRequest {
        timeout_ms: 5_000,
        topics: vec![ReassignableTopic {
            name: topic.into(),
            partitions: partitions
                .iter()
                .map(|(p, r)| ReassignablePartition {
                    partition_index: *p,
                    replicas: r.map(<[i32]>::to_vec),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// (error code, message) per partition of an AlterPartitionReassignments call.
async fn reassign_call(
    c: &mut RawClient,
    req: &AlterPartitionReassignmentsRequest,
) -> Vec<(i16, Option<String>)> {
    let r = c.call(0, req).await;
    assert_eq!(r.error_code, 0);
    r.responses.into_iter().flat_map(|t| t.partitions).map(|p| (p.error_code, p.error_message)).collect()
}

/// (topic, partition, replicas, adding, removing).
type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

/// Every ongoing reassignment in a ListPartitionReassignments response.
fn ongoing(r: &ListPartitionReassignmentsResponse) -> Vec<Ongoing> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.clone(),
                    p.partition_index,
                    p.replicas.clone(),
                    p.adding_replicas.clone(),
                    p.removing_replicas.clone(),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn reassignment_moves_replicas_and_leader_and_keeps_the_data() {
    let cluster = TestCluster::builder().brokers(4).start().await.unwrap();
    let mut c = client(&cluster, 2).await;
    create(&mut c, "moving", &[&[1, 2], &[2, 1]]).await;
    let mut leader = client(&cluster, 1).await;
    produce(&mut leader, "moving", 0, batch(&["a", "b"])).await;

    let results = reassign_call(&mut c, &reassign("moving", &[(0, Some(&[3, 4])), (1, Some(&[1, 2]))])).await;
    assert_eq!(results, vec![(0, None), (0, None)]);
    let (leader_id, epoch, replicas, isr) = metadata(&mut c, "moving", 0).await;
    assert_eq!((leader_id, epoch, replicas, isr), (3, 1, vec![3, 4], vec![3, 4]));
    let (leader_id, epoch, replicas, _) = metadata(&mut c, "moving", 1).await;
    assert_eq!((leader_id, epoch, replicas), (2, 0, vec![1, 2]), "the leader is still a replica: it stays");
    let values: Vec<_> = cluster.records("moving", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values, vec![Bytes::from("a"), Bytes::from("b")]);
    // the new leader serves the old data and takes new records after it
    let mut new_leader = client(&cluster, 3).await;
    produce(&mut new_leader, "moving", 0, batch(&["c"])).await;
    assert_eq!(cluster.partition("moving", 0).unwrap().high_watermark, 3);

    // completed at once: nothing to list, nothing to cancel
    let list = c.call(0, &ListPartitionReassignmentsRequest { topics: None, ..Default::default() }).await;
    assert!(ongoing(&list).is_empty());
    let results = reassign_call(&mut c, &reassign("moving", &[(0, None)])).await;
    assert_eq!(results[0].0, ErrorCode::NoReassignmentInProgress.code());

    // validation, as Kafka's controller words it
    let results = reassign_call(
        &mut c,
        &reassign("moving", &[(0, Some(&[3, 9])), (0, Some(&[3, 3])), (0, Some(&[])), (5, Some(&[1]))]),
    )
    .await;
    let codes: Vec<i16> = results.iter().map(|r| r.0).collect();
    let invalid = ErrorCode::InvalidReplicaAssignment.code();
    assert_eq!(codes, vec![invalid, invalid, invalid, ErrorCode::UnknownTopicOrPartition.code()]);
    assert_eq!(
        results[0].1.as_deref(),
        Some("The manual partition assignment includes broker 9, but no such broker is registered.")
    );
    assert_eq!(
        results[1].1.as_deref(),
        Some("The manual partition assignment includes the broker 3 more than once.")
    );
    assert_eq!(
        results[2].1.as_deref(),
        Some("The manual partition assignment includes an empty replica list.")
    );
    assert_eq!(results[3].1.as_deref(), Some("Unable to find partition moving:5."));
    let results = reassign_call(&mut c, &reassign("ghost", &[(0, Some(&[1]))])).await;
    assert_eq!(
        results[0],
        (ErrorCode::UnknownTopicOrPartition.code(), Some("Unable to find a topic named ghost.".into()))
    );
    assert_eq!(metadata(&mut c, "moving", 0).await.2, vec![3, 4], "refused reassignments change nothing");
}

#[tokio::test]
async fn a_reassignment_delay_makes_reassignments_observable_and_cancellable() {
    let cluster = TestCluster::builder()
        .brokers(3)
        .reassignment_delay(Duration::from_millis(600))
        .start()
        .await
        .unwrap();
    let mut c = client(&cluster, 1).await;
    create(&mut c, "slow", &[&[1, 2], &[1, 2]]).await;
    let results = reassign_call(&mut c, &reassign("slow", &[(0, Some(&[2, 3])), (1, Some(&[3, 1]))])).await;
    assert_eq!(results, vec![(0, None), (0, None)]);
    let list = c.call(0, &ListPartitionReassignmentsRequest { topics: None, ..Default::default() }).await;
    assert_eq!(
        ongoing(&list),
        vec![
            ("slow".into(), 0, vec![2, 3, 1], vec![3], vec![1]),
            ("slow".into(), 1, vec![3, 1, 2], vec![3], vec![2]),
        ]
    );
    let (leader, _, replicas, isr) = metadata(&mut c, "slow", 0).await;
    assert_eq!(
        (leader, replicas, isr),
        (1, vec![2, 3, 1], vec![1, 2]),
        "the added replica is not in sync yet"
    );
    // listing one partition
    let one = ListPartitionReassignmentsRequest {
        topics: Some(vec![ListPartitionReassignmentsTopics {
            name: "slow".into(),
            partition_indexes: vec![1],
            ..Default::default()
        }]),
        ..Default::default()
    };
    assert_eq!(ongoing(&c.call(0, &one).await).len(), 1);
    // cancel partition 1: back to its original replicas
    assert_eq!(reassign_call(&mut c, &reassign("slow", &[(1, None)])).await, vec![(0, None)]);
    assert_eq!(metadata(&mut c, "slow", 1).await.2, vec![1, 2]);
    assert!(ongoing(&c.call(0, &one).await).is_empty());

    // partition 0 completes by itself: the removed leader hands over to the target's first
    tokio::time::sleep(Duration::from_millis(900)).await;
    let list = c.call(0, &ListPartitionReassignmentsRequest { topics: None, ..Default::default() }).await;
    assert!(ongoing(&list).is_empty());
    let (leader, epoch, replicas, isr) = metadata(&mut c, "slow", 0).await;
    assert_eq!((leader, epoch, replicas, isr), (2, 1, vec![2, 3], vec![2, 3]));
}

#[tokio::test]
async fn describe_log_dirs_reports_each_brokers_partitions_and_sizes() {
    let cluster = TestCluster::builder().brokers(2).start().await.unwrap();
    let mut c1 = client(&cluster, 1).await;
    create(&mut c1, "logs", &[&[1], &[2, 1]]).await;
    let (b1, b2) = (batch(&["x", "y"]), batch(&["zzzz"]));
    let size = (b1.len() + b2.len()) as i64;
    produce(&mut c1, "logs", 0, b1).await;
    produce(&mut c1, "logs", 0, b2).await;

    for version in [1, 2, 3, 4] {
        let r = c1.call(version, &DescribeLogDirsRequest { topics: None, ..Default::default() }).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.results.len(), 1, "one log dir per broker");
        let dir = &r.results[0];
        assert_eq!(dir.log_dir, "/tmp/kafka-test-broker/1");
        assert_eq!(dir.log_dir, kafka_test_broker::log_dir(1));
        let t = dir.topics.iter().find(|t| t.name == "logs").expect("topic listed");
        let parts: Vec<(i32, i64, i64)> =
            t.partitions.iter().map(|p| (p.partition_index, p.partition_size, p.offset_lag)).collect();
        assert_eq!(parts, vec![(0, size, 0), (1, 0, 0)], "v{version}");
    }
    // broker 2 holds only partition 1; a topic filter narrows the answer
    let mut c2 = client(&cluster, 2).await;
    let req = DescribeLogDirsRequest {
        topics: Some(vec![DescribableLogDirTopic {
            topic: "logs".into(),
            partitions: vec![0, 1],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let r = c2.call(4, &req).await;
    assert_eq!(r.results[0].log_dir, "/tmp/kafka-test-broker/2");
    let topics: Vec<(String, Vec<i32>)> = r.results[0]
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.partition_index).collect()))
        .collect();
    assert_eq!(topics, vec![("logs".into(), vec![1])]);
}
