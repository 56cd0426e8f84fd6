//! KIP-392 fetch from the closest replica, on the test broker (racks `rack-<id>`, rack-aware
//! replica selector) or on a real cluster from `real-kafka/kafka.sh`, which gives each node
//! `broker.rack=rack-<node id>` and `replica.selector.class=RackAwareReplicaSelector`.

use std::time::Duration;

use integration_tests::{Target, eventually, target, unique_topic};
use kafka_admin::{AdminClient, NewTopic};
use kafka_consumer::{Consumer, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;

const RECORDS: usize = 1000;
const VALUE_BYTES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_in_a_followers_rack_reads_from_that_follower() {
    let Some(t) = target(3).await else { return };
    // the embedded target has no racks: start one that has
    let embedded;
    let bootstrap = match &t {
        Target::External { bootstrap, .. } => bootstrap.clone(),
        Target::Embedded(_) => {
            embedded = TestCluster::builder()
                .brokers(3)
                .racks(true)
                .rack_aware_replica_selector(true)
                .start()
                .await
                .unwrap();
            embedded.bootstrap_servers()
        }
    };
    let topic = unique_topic("it-rack");
    let admin = AdminClient::from_pairs([("bootstrap.servers", bootstrap.clone())]).unwrap();
    let created = admin.create_topics(&[NewTopic::new(topic.clone(), 1, 3)], false).await.unwrap();
    assert!(created[&topic].is_ok(), "{created:?}");
    let (leader, replicas) = eventually("the partition has a leader and 3 in-sync replicas", || async {
        let d = admin.describe_topics(&[topic.as_str()]).await.ok()?;
        let p = d.get(&topic)?.as_ref().ok()?.partitions.first()?.clone();
        (p.isr.len() == 3).then_some((p.leader?, p.replicas))
    })
    .await;
    let follower = replicas.iter().copied().find(|r| *r != leader).unwrap();

    let producer = Producer::from_pairs([("bootstrap.servers", bootstrap.clone())]).unwrap();
    let value = "v".repeat(VALUE_BYTES);
    for f in producer
        .send_all((0..RECORDS).map(|_| ProducerRecord::new(topic.clone()).partition(0).value(value.clone())))
    {
        f.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let mut consumer = Consumer::from_pairs([
        ("bootstrap.servers", bootstrap.clone()),
        ("auto.offset.reset", "earliest".to_string()),
        ("client.rack", format!("rack-{follower}")),
    ])
    .unwrap();
    consumer.assign([TopicPartition::new(topic.clone(), 0)]);
    let mut offsets = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while offsets.len() < RECORDS {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {RECORDS} records", offsets.len());
        offsets.extend(consumer.poll(Duration::from_millis(500)).await.unwrap().iter().map(|r| r.offset));
    }
    assert_eq!(offsets, (0..RECORDS as i64).collect::<Vec<_>>());
    let nodes = consumer.metrics().nodes;
    let received = |id: i32| nodes.get(&id).map_or(0, |m| m.bytes_received);
    let payload = (RECORDS * VALUE_BYTES) as u64;
    assert!(received(follower) >= payload, "the follower in our rack served the records: {nodes:?}");
    assert!(received(leader) < payload / 10, "the leader only named the replica: {nodes:?}");
    consumer.close().await.unwrap();
}
