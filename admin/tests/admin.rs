//! The admin client against the embedded test broker: real values, per-item errors.

use std::collections::BTreeMap;

use kafka_admin::*;
use kafka_protocol::ErrorCode;
use kafka_test_broker::TestCluster;

async fn setup() -> (TestCluster, AdminClient) {
    let c = TestCluster::builder().brokers(3).start().await.unwrap();
    let a = AdminClient::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    (c, a)
}

fn code(r: &Result<impl std::fmt::Debug>) -> ErrorCode {
    match r {
        Err(Error::Item { code, .. }) => *code,
        other => panic!("expected a per-item error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_describe_grow_and_delete_topics_with_per_topic_results() {
    let (c, a) = setup().await;
    let topics = [
        NewTopic::new("good", 3, 2).config("retention.ms", "1000"),
        NewTopic::new("too-replicated", 1, 5),
        NewTopic {
            name: "placed".into(),
            assignment: Some([(0, vec![2, 1]), (1, vec![1, 2])].into()),
            ..Default::default()
        },
    ];
    let r = a.create_topics(&topics, false).await.unwrap();
    assert!(r["good"].is_ok() && r["placed"].is_ok(), "{r:?}");
    assert_eq!(code(&r["too-replicated"]), ErrorCode::InvalidReplicationFactor);
    assert!(r["too-replicated"].as_ref().unwrap_err().to_string().contains("topic too-replicated"));
    let again = a.create_topics(&[NewTopic::new("good", 1, 1)], false).await.unwrap();
    assert_eq!(code(&again["good"]), ErrorCode::TopicAlreadyExists);
    let dry = a.create_topics(&[NewTopic::new("dry", 1, 1)], true).await.unwrap();
    assert!(dry["dry"].is_ok());

    assert_eq!(a.list_topics(false).await.unwrap(), ["good", "placed"], "validate-only created nothing");
    let d = a.describe_topics(&["good", "placed", "missing"]).await.unwrap();
    let good = d["good"].as_ref().unwrap();
    assert_eq!(good.partitions.len(), 3);
    assert!(good.partitions.iter().all(|p| p.replicas.len() == 2 && p.leader.is_some()));
    let placed = d["placed"].as_ref().unwrap();
    assert_eq!(placed.partitions[0].replicas, [2, 1]);
    assert_eq!(placed.partitions[0].leader, Some(2), "the first replica leads");
    assert_eq!(code(&d["missing"]), ErrorCode::UnknownTopicOrPartition);
    assert_eq!(c.partition("good", 2).unwrap().replicas.len(), 2);

    let grow = a
        .create_partitions(&[("good".to_string(), 5), ("placed".to_string(), 1)].into(), false)
        .await
        .unwrap();
    assert!(grow["good"].is_ok());
    assert_eq!(code(&grow["placed"]), ErrorCode::InvalidPartitions, "cannot shrink");
    assert_eq!(a.describe_topics(&["good"]).await.unwrap()["good"].as_ref().unwrap().partitions.len(), 5);

    let del = a.delete_topics(&["good", "missing"]).await.unwrap();
    assert!(del["good"].is_ok());
    assert_eq!(code(&del["missing"]), ErrorCode::UnknownTopicOrPartition);
    assert_eq!(a.list_topics(false).await.unwrap(), ["placed"]);
}

#[tokio::test]
async fn configs_are_described_with_sources_and_altered_incrementally() {
    let (_c, a) = setup().await;
    a.create_topics(&[NewTopic::new("t", 1, 1).config("cleanup.policy", "compact")], false).await.unwrap()["t"]
        .as_ref()
        .unwrap();
    let res = ConfigResource::topic("t");
    let d = a.describe_configs(&[res.clone(), ConfigResource::topic("nope")]).await.unwrap();
    let entries = d[&res].as_ref().unwrap();
    let get = |es: &[ConfigEntry], k: &str| es.iter().find(|e| e.name == k).cloned().unwrap();
    assert_eq!(get(entries, "cleanup.policy").value.as_deref(), Some("compact"));
    assert_eq!(get(entries, "cleanup.policy").source, ConfigSource::DynamicTopic);
    assert_eq!(get(entries, "retention.ms").source, ConfigSource::Default);
    assert_eq!(code(&d[&ConfigResource::topic("nope")]), ErrorCode::UnknownTopicOrPartition);

    let changes: BTreeMap<_, _> = [(
        res.clone(),
        vec![AlterConfigOp::set("retention.ms", "5000"), AlterConfigOp::delete("cleanup.policy")],
    )]
    .into();
    let r = a.incremental_alter_configs(&changes, false).await.unwrap();
    assert!(r[&res].is_ok(), "{r:?}");
    let entries =
        a.describe_configs(std::slice::from_ref(&res)).await.unwrap().remove(&res).unwrap().unwrap();
    assert_eq!(get(&entries, "retention.ms").value.as_deref(), Some("5000"));
    assert_eq!(get(&entries, "cleanup.policy").source, ConfigSource::Default);
}

#[tokio::test]
async fn cluster_offsets_and_delete_records() {
    let (c, a) = setup().await;
    let cluster = a.describe_cluster().await.unwrap();
    assert_eq!(cluster.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), c.broker_ids());
    assert!(cluster.controller.is_some() && !cluster.cluster_id.is_empty());

    a.create_topics(&[NewTopic::new("r", 2, 2)], false).await.unwrap();
    let producer =
        kafka_producer::Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    for i in 0..10 {
        producer
            .send(kafka_producer::ProducerRecord::new("r").partition(0).value("x").timestamp(1000 + i))
            .await
            .unwrap();
    }
    let tp = TopicPartition::new("r", 0);
    let missing = TopicPartition::new("r", 9);
    let specs: BTreeMap<_, _> =
        [(tp.clone(), OffsetSpec::Latest), (missing.clone(), OffsetSpec::Latest)].into();
    let o = a.list_offsets(&specs).await.unwrap();
    assert_eq!(o[&tp].as_ref().unwrap().offset, 10);
    assert_eq!(code(&o[&missing]), ErrorCode::UnknownTopicOrPartition);
    let o = a.list_offsets(&[(tp.clone(), OffsetSpec::ForTimestamp(1004))].into()).await.unwrap();
    assert_eq!(o[&tp].as_ref().unwrap().offset, 4);
    let o = a.list_offsets(&[(tp.clone(), OffsetSpec::MaxTimestamp)].into()).await.unwrap();
    assert_eq!((o[&tp].as_ref().unwrap().offset, o[&tp].as_ref().unwrap().timestamp), (9, 1009));

    let d = a.delete_records(&[(tp.clone(), 6), (TopicPartition::new("r", 1), 5)].into()).await.unwrap();
    assert_eq!(*d[&tp].as_ref().unwrap(), 6);
    assert_eq!(
        code(&d[&TopicPartition::new("r", 1)]),
        ErrorCode::OffsetOutOfRange,
        "beyond the high watermark"
    );
    assert_eq!(c.partition("r", 0).unwrap().log_start_offset, 6);
    let o = a.list_offsets(&[(tp.clone(), OffsetSpec::Earliest)].into()).await.unwrap();
    assert_eq!(o[&tp].as_ref().unwrap().offset, 6);
}

#[tokio::test]
async fn leader_routed_calls_retry_partitions_whose_leader_moved() {
    use kafka_protocol::ApiKey;
    use kafka_test_broker::{Fault, FaultAction};
    let c = TestCluster::builder().brokers(3).topic("moving", 2, 3).start().await.unwrap();
    let a = AdminClient::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    let p = kafka_producer::Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    for i in 0..10 {
        p.send(kafka_producer::ProducerRecord::new("moving").partition(i % 2).value("v")).await.unwrap();
    }
    let tps: Vec<TopicPartition> = (0..2).map(|i| TopicPartition::new("moving", i)).collect();
    // the leaders answer NOT_LEADER_OR_FOLLOWER twice; the admin retries those partitions
    c.inject(Fault::new(ApiKey::ListOffsets, 2, FaultAction::Error(ErrorCode::NotLeaderOrFollower)));
    let specs: BTreeMap<_, _> = tps.iter().map(|tp| (tp.clone(), OffsetSpec::Latest)).collect();
    let got = a.list_offsets(&specs).await.unwrap();
    for tp in &tps {
        assert_eq!(got[tp].as_ref().unwrap().offset, 5, "{tp}");
    }
    // a non-retriable answer is reported for its partition, not retried
    c.inject(Fault::new(ApiKey::ListOffsets, 1, FaultAction::Error(ErrorCode::TopicAuthorizationFailed)));
    let got = a.list_offsets(&specs).await.unwrap();
    assert!(
        got.values().any(|r| matches!(r, Err(Error::Item { code: ErrorCode::TopicAuthorizationFailed, .. })))
    );
    // DeleteRecords and DescribeProducers go the same way
    c.inject(Fault::new(ApiKey::DeleteRecords, 2, FaultAction::Error(ErrorCode::NotLeaderOrFollower)));
    let before: BTreeMap<_, _> = tps.iter().map(|tp| (tp.clone(), 2)).collect();
    let got = a.delete_records(&before).await.unwrap();
    for tp in &tps {
        assert_eq!(*got[tp].as_ref().unwrap(), 2, "{tp}");
    }
    c.inject(Fault::new(ApiKey::DescribeProducers, 2, FaultAction::Error(ErrorCode::NotLeaderOrFollower)));
    let got = a.describe_producers(&tps).await.unwrap();
    for tp in &tps {
        assert_eq!(got[tp].as_ref().unwrap().len(), 1, "{tp}: the idempotent producer");
    }
    c.shutdown();
}
