//! KIP-392 fetch from the closest replica, against the embedded test broker with racks and
//! the rack-aware replica selector: with `client.rack` set, fetches move to the in-rack
//! follower the leader names, and back to the leader when that follower dies.

use std::time::Duration;

use kafka_consumer::{Consumer, ConsumerRecord, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_protocol::ApiKey;
use kafka_test_broker::TestCluster;

/// Fetch requests each broker received.
fn fetches_at(c: &TestCluster, broker: i32) -> usize {
    c.request_log().iter().filter(|r| r.api_key == ApiKey::Fetch as i16 && r.broker == broker).count()
}

async fn produce(p: &Producer, range: std::ops::Range<i32>) {
    let futs = p.send_all(range.map(|i| ProducerRecord::new("t").partition(0).value(format!("v{i}"))));
    for f in futs {
        f.await.unwrap();
    }
}

async fn poll_n(con: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {n} records arrived", out.len());
        out.extend(con.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

/// Three brokers in three racks, leaders choosing read replicas by rack, topic `t` with one
/// partition on all three.
async fn rack_aware_cluster() -> TestCluster {
    TestCluster::builder()
        .brokers(3)
        .racks(true)
        .rack_aware_replica_selector(true)
        .topic("t", 1, 3)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_consumer_with_client_rack_fetches_from_its_racks_replica_and_falls_back_to_the_leader() {
    let c = rack_aware_cluster().await;
    let info = c.partition("t", 0).unwrap();
    let leader = info.leader;
    let follower = info.replicas.iter().copied().find(|r| *r != leader).unwrap();
    let p = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    produce(&p, 0..100).await;

    let mut con = Consumer::from_pairs([
        ("bootstrap.servers", c.bootstrap_servers()),
        ("auto.offset.reset", "earliest".to_string()),
        ("client.rack", format!("rack-{follower}")),
        ("max.poll.records", "30".to_string()),
    ])
    .unwrap();
    con.assign([TopicPartition::new("t", 0)]);
    let got = poll_n(&mut con, 100).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..100).collect::<Vec<i64>>());
    assert_eq!(
        fetches_at(&c, leader),
        1,
        "only the first fetch, which names the replica, goes to the leader"
    );
    assert!(fetches_at(&c, follower) >= 1, "the rest go to the rack's replica");
    let third = info.replicas.iter().copied().find(|r| *r != leader && *r != follower).unwrap();
    assert_eq!(fetches_at(&c, third), 0);

    // the replica dies: the consumer goes back to the leader and misses nothing
    c.stop_broker(follower).unwrap();
    let at_leader = fetches_at(&c, leader);
    produce(&p, 100..150).await;
    let got = poll_n(&mut con, 50).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), (100..150).collect::<Vec<i64>>());
    assert!(fetches_at(&c, leader) > at_leader, "fetches went back to the leader");
}

#[tokio::test]
async fn without_client_rack_every_fetch_goes_to_the_leader() {
    let c = rack_aware_cluster().await;
    let leader = c.partition("t", 0).unwrap().leader;
    let p = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    produce(&p, 0..20).await;
    let mut con = Consumer::from_pairs([
        ("bootstrap.servers", c.bootstrap_servers()),
        ("auto.offset.reset", "earliest".to_string()),
    ])
    .unwrap();
    con.assign([TopicPartition::new("t", 0)]);
    assert_eq!(poll_n(&mut con, 20).await.len(), 20);
    let total: usize = c.broker_ids().iter().map(|b| fetches_at(&c, *b)).sum();
    assert_eq!(fetches_at(&c, leader), total);
}
