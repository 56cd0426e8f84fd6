//! The consumer end to end, on the embedded test broker or a real cluster (`KAFKA_BOOTSTRAP`):
//! records produced by our producer are consumed byte-exact, positions and end offsets agree,
//! and a group's committed offsets are resumed.

use std::time::Duration;

use integration_tests::{target, unique_topic};
use kafka_consumer::{Consumer, OffsetAndMetadata, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_consume_byte_exact_and_resume_from_committed() {
    let Some(t) = target(1).await else { return };
    let bootstrap = t.bootstrap();
    let topic = unique_topic("it-consumer");
    let producer = Producer::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    // auto-created (test broker: auto-create on; real Kafka: auto.create.topics.enable default)
    let mut sent = Vec::new();
    for i in 0..50 {
        let value = format!("value-{i}-{}", "x".repeat(i));
        let m = producer.send(ProducerRecord::new(topic.clone()).partition(0).value(value.clone())).await;
        let m = match m {
            Ok(m) => m,
            Err(e) => panic!("send {i}: {e}"),
        };
        assert_eq!(m.offset, i as i64);
        sent.push(value);
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let group = unique_topic("it-group");
    let cfg = |extra: &'static str| {
        vec![
            ("bootstrap.servers", bootstrap.clone()),
            ("group.id", group.clone()),
            ("auto.offset.reset", "earliest".to_string()),
            ("enable.auto.commit", "false".to_string()),
            ("max.poll.records", extra.to_string()),
        ]
    };
    let tp = TopicPartition::new(topic.clone(), 0);
    let mut first = Consumer::from_pairs(cfg("20")).unwrap();
    first.assign([tp.clone()]);
    let mut got = Vec::new();
    while got.len() < 20 {
        got.extend(first.poll(Duration::from_secs(1)).await.unwrap());
    }
    assert_eq!(got.len(), 20, "max.poll.records");
    first.commit_sync(None).await.unwrap();
    // the position is committed with the leader epoch of the last record handed out (KIP-320)
    let epoch = got.last().and_then(|r| r.leader_epoch);
    assert!(epoch.is_some(), "Kafka 4 records carry their leader epoch");
    let want = OffsetAndMetadata { offset: 20, leader_epoch: epoch, metadata: String::new() };
    assert_eq!(first.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp], Some(want));
    assert_eq!(first.end_offsets(std::slice::from_ref(&tp)).await.unwrap()[&tp], 50);
    first.close().await.unwrap();

    let mut second = Consumer::from_pairs(cfg("500")).unwrap();
    second.assign([tp.clone()]);
    while got.len() < 50 {
        got.extend(second.poll(Duration::from_secs(1)).await.unwrap());
    }
    let values: Vec<String> =
        got.iter().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    assert_eq!(values, sent);
    assert!(got.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    assert_eq!(second.position(&tp).await.unwrap(), 50);
}
