//! KIP-320 position validation across a leader change, on the embedded test broker or a real
//! cluster: after a preferred-leader election the consumer validates its position with
//! OffsetForLeaderEpoch at the new leader and goes on without losing or repeating a record,
//! and a committed offset restored with its leader epoch is validated too. (Truncation itself
//! needs an unclean election, which only the test broker can force: consumer/tests/truncation.rs.)

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{eventually_within, target, unique_topic};
use kafka_admin::{AdminClient, ElectionType, NewTopic};
use kafka_consumer::{Consumer, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};

async fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<i32>) {
    let p = Producer::from_pairs([("bootstrap.servers", bootstrap)]).unwrap();
    for f in
        p.send_all(range.map(|i| ProducerRecord::new(topic.to_owned()).partition(0).value(format!("v{i}"))))
    {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(10)).await.unwrap();
}

async fn poll_offsets(c: &mut Consumer, n: usize) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(tokio::time::Instant::now() < deadline, "only {out:?} of {n} records arrived");
        out.extend(c.poll(Duration::from_millis(500)).await.unwrap().iter().map(|r| r.offset));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_survive_a_leader_change_validated_and_exact() {
    let Some(t) = target(3).await else { return };
    let bootstrap = t.bootstrap();
    let topic = unique_topic("it-epochs");
    let group = unique_topic("it-epochs-group");
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap.clone())]).unwrap();
    let created = a.create_topics(&[NewTopic::new(topic.clone(), 1, 3)], false).await.unwrap();
    assert!(created[&topic].is_ok(), "{created:?}");
    let describe = || async {
        let d = a.describe_topics(&[topic.as_str()]).await.ok()?;
        d.get(&topic)?.as_ref().ok()?.partitions.first().cloned()
    };
    let before =
        eventually_within("the partition has 3 in-sync replicas", Duration::from_secs(60), || async {
            describe().await.filter(|p| p.isr.len() == 3 && p.leader.is_some())
        })
        .await;
    let old_leader = before.leader.unwrap();

    produce(&bootstrap, &topic, 0..20).await;
    let cfg = [
        ("bootstrap.servers", bootstrap.clone()),
        ("group.id", group.clone()),
        ("enable.auto.commit", "false".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
    ];
    let tp = TopicPartition::new(topic.clone(), 0);
    let mut c = Consumer::from_pairs(cfg.clone()).unwrap();
    c.assign([tp.clone()]);
    assert_eq!(poll_offsets(&mut c, 20).await, (0..20).collect::<Vec<i64>>());
    c.commit_sync(None).await.unwrap();

    // another replica becomes preferred, then leader: the leader epoch grows
    let mut order = before.replicas.clone();
    order.rotate_left(1);
    let new_leader = order[0];
    let ktp = kafka_admin::TopicPartition::new(topic.clone(), 0);
    let r =
        a.alter_partition_reassignments(&BTreeMap::from([(ktp.clone(), Some(order.clone()))])).await.unwrap();
    assert!(r[&ktp].is_ok(), "{r:?}");
    eventually_within("the new replica order is in place", Duration::from_secs(60), || async {
        describe().await.filter(|p| p.replicas == order && p.isr.len() == 3)
    })
    .await;
    let e = a.elect_leaders(ElectionType::Preferred, Some(std::slice::from_ref(&ktp))).await.unwrap();
    assert!(e[&ktp].is_ok(), "{e:?}");
    let after = eventually_within("the preferred replica leads", Duration::from_secs(60), || async {
        describe().await.filter(|p| p.leader == Some(new_leader))
    })
    .await;
    assert_ne!(new_leader, old_leader);
    assert!(after.leader_epoch > before.leader_epoch, "{before:?} -> {after:?}");

    // the running consumer validates at the new leader and goes on exactly where it was
    produce(&bootstrap, &topic, 20..40).await;
    assert_eq!(poll_offsets(&mut c, 20).await, (20..40).collect::<Vec<i64>>());
    c.close().await.unwrap();

    // a new member restores the committed offset (20, with its epoch) and validates it
    let mut d = Consumer::from_pairs(cfg).unwrap();
    d.assign([tp.clone()]);
    assert_eq!(poll_offsets(&mut d, 20).await, (20..40).collect::<Vec<i64>>());
    d.close().await.unwrap();
}
