//! The client runtime end to end: bootstrap, version negotiation, metadata, coordinator lookup,
//! a produce/fetch round trip through `NetworkClient`, pipelining and metrics. The same code
//! runs on the embedded test broker and on a real cluster (`KAFKA_BOOTSTRAP`).

use std::time::Duration;

use bytes::BytesMut;
use integration_tests::{target, unique_topic};
use kafka_client::{ClientConfig, CoordinatorLookup, CoordinatorType, Metadata, NetworkClient, Purpose};
use kafka_protocol::generated::{
    CreateTopicsRequest, FetchRequest, ProduceRequest,
    create_topics_request::CreatableTopic,
    fetch_request::{FetchPartition, FetchTopic},
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::records::{Compression, DecodeOptions, RecordBatchBuilder, decode_batches};
use kafka_protocol::{ApiKey, ErrorCode};

const WAIT: Duration = Duration::from_secs(30);

fn client(bootstrap: &str) -> NetworkClient {
    let servers: Vec<&str> = bootstrap.split(',').collect();
    let config = ClientConfig::builder().bootstrap_servers(&servers).client_id("it-client").build().unwrap();
    NetworkClient::new(config)
}

async fn create_topic(pool: &NetworkClient, meta: &Metadata, name: &str, partitions: i32) {
    let node = meta.refresh(WAIT).await.unwrap().brokers().next().expect("a broker").id;
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: -1,
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    // CreateTopics must reach the controller on old clusters; any broker forwards it in 4.x.
    let resp = pool.send(node, Purpose::Admin, &req).await.unwrap();
    assert_eq!(resp.topics[0].error_code, 0, "creating {name}: {:?}", resp.topics[0].error_message);
}

#[tokio::test]
async fn bootstrap_metadata_versions_and_coordinator() {
    let Some(t) = target(1).await else { return };
    let pool = client(&t.bootstrap());
    let meta = Metadata::new(pool.clone(), false);
    let topic = unique_topic("it-client-meta");
    create_topic(&pool, &meta, &topic, 3).await;

    let tm = meta.wait_for_topic(&topic, WAIT).await.unwrap();
    assert_eq!(tm.partitions.len(), 3, "{tm:?}");
    assert_ne!(tm.topic_id, kafka_protocol::Uuid::ZERO, "topic id known");
    let snap = meta.snapshot();
    assert!(snap.cluster_id.is_some(), "cluster id");
    for p in tm.partitions.values() {
        let leader = p.leader.expect("leader");
        assert!(snap.broker(leader).is_some(), "leader {leader} is a known broker");
        assert!(p.leader_epoch.is_some() && p.replicas.contains(&leader) && p.isr.contains(&leader));
    }

    // negotiated versions: a 4.x broker (real or test) serves modern Produce and Fetch
    let leader = tm.partitions[&0].leader.unwrap();
    let conn = pool.connection(leader, Purpose::Produce).await.unwrap();
    assert!(conn.version(ApiKey::Produce).unwrap() >= 9, "flexible Produce");
    assert!(conn.version(ApiKey::Fetch).unwrap() >= 12, "flexible Fetch");
    assert!(conn.version(ApiKey::Metadata).unwrap() >= 12);

    let coordinators = CoordinatorLookup::new(pool.clone());
    let group = unique_topic("it-group");
    let c = coordinators.find(CoordinatorType::Group, &group).await.unwrap();
    assert!(snap.broker(c.node_id).is_some(), "coordinator {c:?} is a known broker");
    assert_eq!(coordinators.cached(CoordinatorType::Group, &group), Some(c));
}

#[tokio::test]
async fn produce_and_fetch_round_trip_pipelined_with_metrics() {
    let Some(t) = target(1).await else { return };
    let pool = client(&t.bootstrap());
    let meta = Metadata::new(pool.clone(), false);
    let topic = unique_topic("it-client-rt");
    create_topic(&pool, &meta, &topic, 1).await;
    let tm = meta.wait_for_topic(&topic, WAIT).await.unwrap();
    let leader = tm.partitions[&0].leader.unwrap();
    let conn = pool.connection(leader, Purpose::Produce).await.unwrap();

    // 20 produce requests in flight at once on one connection, one batch of 5 records each
    let produces = (0..20).map(|i| {
        let mut b = RecordBatchBuilder::new(Compression::Lz4);
        for j in 0..5 {
            let v = format!("value-{i}-{j}");
            b.append(1_700_000_000_000, Some(b"k"), Some(v.as_bytes()), &[]).unwrap();
        }
        let mut batch = BytesMut::new();
        b.build(&mut batch).unwrap();
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: topic.clone(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.freeze()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let conn = conn.clone();
        async move {
            // a brand-new partition's leader may not know it leads yet (real Kafka): retry
            for _ in 0..100 {
                let resp = conn.send(&req).await?;
                let code = ErrorCode::from(resp.responses[0].partition_responses[0].error_code);
                if !matches!(code, ErrorCode::NotLeaderOrFollower | ErrorCode::UnknownTopicOrPartition) {
                    return Ok(resp);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            conn.send(&req).await
        }
    });
    let mut offsets = Vec::new();
    for resp in futures::future::join_all(produces).await {
        let p = &resp.unwrap().responses[0].partition_responses[0];
        assert_eq!(ErrorCode::from(p.error_code), ErrorCode::None, "{:?}", p.error_message);
        offsets.push(p.base_offset);
    }
    offsets.sort();
    assert_eq!(offsets, (0..20).map(|i| i * 5).collect::<Vec<i64>>(), "each batch got its own offsets");

    let fetch = FetchRequest {
        replica_id: -1,
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.clone(),
            topic_id: tm.topic_id,
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = pool.send(leader, Purpose::Fetch, &fetch).await.unwrap();
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 100);
    let mut values = Vec::new();
    for batch in decode_batches(p.records.clone().unwrap(), &DecodeOptions::default()) {
        for r in batch.unwrap().records() {
            let r = r.unwrap();
            values.push((r.offset, String::from_utf8(r.value.unwrap().to_vec()).unwrap()));
        }
    }
    assert_eq!(values.len(), 100);
    assert!(values.iter().enumerate().all(|(i, (o, _))| *o == i as i64), "offsets 0..100 in order");

    let m = pool.metrics().snapshot();
    let l = &m[&leader];
    assert!(l.requests >= 22 && l.responses >= 22, "{l:?}");
    assert!(l.bytes_sent > 20 * 100 && l.bytes_received > 1000, "{l:?}");
}

/// Real-only: `kill -9` the leader of a replicated partition; the client's metadata moves to
/// the new leader and acknowledged (acks=all) records survive.
#[tokio::test]
async fn leader_killed_with_kill_9_fails_over_without_losing_acknowledged_records() {
    let Some(t) = target(3).await else { return };
    let Some(bootstrap) = t.real_only("leader failover after kill -9") else { return };
    let cluster_dir = std::env::var("KAFKA_CLUSTER_DIR").expect("run-suite.sh sets KAFKA_CLUSTER_DIR");
    let kafka_sh = concat!(env!("CARGO_MANIFEST_DIR"), "/real-kafka/kafka.sh");
    let pool = client(bootstrap);
    let meta = Metadata::new(pool.clone(), false);
    let topic = unique_topic("it-failover");
    create_topic(&pool, &meta, &topic, 1).await;
    let tm = meta.wait_for_topic(&topic, WAIT).await.unwrap();
    assert_eq!(tm.partitions[&0].replicas.len(), 3, "replicated on every broker: {tm:?}");
    let old_leader = tm.partitions[&0].leader.unwrap();

    let produce_to = |leader: i32, value: &'static str| {
        let pool = pool.clone();
        let topic = topic.clone();
        async move {
            let mut b = RecordBatchBuilder::new(Compression::None);
            b.append(1_700_000_000_000, None, Some(value.as_bytes()), &[]).unwrap();
            let mut batch = BytesMut::new();
            b.build(&mut batch).unwrap();
            let req = ProduceRequest {
                acks: -1,
                timeout_ms: 10_000,
                topic_data: vec![TopicProduceData {
                    name: topic,
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(batch.freeze()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let resp = pool.send(leader, Purpose::Produce, &req).await?;
            let p = &resp.responses[0].partition_responses[0];
            Ok::<_, kafka_client::Error>((ErrorCode::from(p.error_code), p.base_offset))
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match produce_to(old_leader, "before").await {
            Ok((ErrorCode::None, offset)) => {
                assert_eq!(offset, 0);
                break;
            }
            other if tokio::time::Instant::now() < deadline => {
                eprintln!("first produce: {other:?}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("first produce never succeeded: {other:?}"),
        }
    }

    let status = std::process::Command::new(kafka_sh)
        .args(["kill-broker", &old_leader.to_string(), "--dir", &cluster_dir])
        .status()
        .expect("running kafka.sh");
    assert!(status.success(), "kafka.sh kill-broker {old_leader}");

    // the client finds the new leader through metadata and produces there
    let mut new_leader = None;
    while tokio::time::Instant::now() < deadline {
        let snap = meta.refresh(WAIT).await.unwrap();
        if let Some(l) = snap.partition(&topic, 0).and_then(|p| p.leader).filter(|l| *l != old_leader) {
            if let Ok((ErrorCode::None, offset)) = produce_to(l, "after").await {
                assert_eq!(offset, 1, "the acknowledged record kept its offset");
                new_leader = Some(l);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let new_leader = new_leader.expect("a new leader took over within 60 s");

    let fetch = FetchRequest {
        replica_id: -1,
        max_wait_ms: 100,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.clone(),
            topic_id: tm.topic_id,
            partitions: vec![FetchPartition {
                partition: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = pool.send(new_leader, Purpose::Fetch, &fetch).await.unwrap();
    let p = &resp.responses[0].partitions[0];
    let values: Vec<String> = decode_batches(p.records.clone().unwrap(), &DecodeOptions::default())
        .flat_map(|b| {
            b.unwrap().records().map(|r| String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap())
        })
        .collect();
    assert_eq!(values, ["before", "after"]);

    let status = std::process::Command::new(kafka_sh)
        .args(["restart-broker", &old_leader.to_string(), "--dir", &cluster_dir])
        .status()
        .expect("running kafka.sh");
    assert!(status.success(), "kafka.sh restart-broker {old_leader}");
}
