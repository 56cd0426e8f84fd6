//! KIP-320 truncation detection against the embedded test broker: an unclean leader election
//! (`TestCluster::unclean_leader_election`) truncates a partition below the consumer's
//! position and new records reuse the lost offsets under a new leader epoch.

use std::time::Duration;

use kafka_consumer::{Consumer, ConsumerRecord, Error, OffsetAndMetadata, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_protocol::ApiKey;
use kafka_test_broker::TestCluster;

/// OffsetForLeaderEpoch requests the cluster received.
fn validations(c: &TestCluster) -> usize {
    c.request_log().iter().filter(|r| r.api_key == ApiKey::OffsetForLeaderEpoch as i16).count()
}

async fn cluster() -> (TestCluster, Producer) {
    let c = TestCluster::builder().brokers(3).topic("t", 1, 3).start().await.unwrap();
    let p = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    (c, p)
}

/// Sends each value as its own batch (awaited one by one), so any offset is a batch boundary.
async fn produce(p: &Producer, values: impl IntoIterator<Item = String>) {
    for v in values {
        p.send(ProducerRecord::new("t").partition(0).value(v)).await.unwrap();
    }
}

fn consumer(c: &TestCluster, reset: &str) -> Consumer {
    let mut con = Consumer::from_pairs([
        ("bootstrap.servers", c.bootstrap_servers()),
        ("auto.offset.reset", reset.to_string()),
    ])
    .unwrap();
    con.assign([TopicPartition::new("t", 0)]);
    con
}

/// Polls until `n` records arrived or `limit` passed.
async fn poll_up_to(con: &mut Consumer, n: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(con.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

fn values(rs: &[ConsumerRecord]) -> Vec<(i64, String)> {
    rs.iter().map(|r| (r.offset, String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())).collect()
}

/// Consumes 0..10, then broker 1 takes over with a log ending at 6 and 6 new records land
/// at 6..=11.
async fn truncated_under(con: &mut Consumer, c: &TestCluster, p: &Producer) {
    produce(p, (0..10).map(|i| format!("old-{i}"))).await;
    let got = poll_up_to(con, 10, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 10);
    let old_leader = c.partition("t", 0).unwrap().leader;
    let new_leader = c.partition("t", 0).unwrap().replicas.into_iter().find(|r| *r != old_leader).unwrap();
    let epoch = c.unclean_leader_election("t", 0, 6, Some(new_leader)).unwrap();
    assert_eq!(epoch, 1);
    produce(p, (0..6).map(|i| format!("new-{i}"))).await;
    assert_eq!(c.partition("t", 0).unwrap().high_watermark, 12);
}

#[tokio::test]
async fn after_a_truncation_reset_earliest_resumes_at_the_divergence_and_skips_nothing() {
    let (c, p) = cluster().await;
    let mut con = consumer(&c, "earliest");
    truncated_under(&mut con, &c, &p).await;
    let got = poll_up_to(&mut con, 6, Duration::from_secs(10)).await;
    let want: Vec<(i64, String)> = (0..6).map(|i| (6 + i, format!("new-{i}"))).collect();
    assert_eq!(values(&got), want, "every record written after the truncation, from offset 6");
    assert_eq!(con.position(&TopicPartition::new("t", 0)).await.unwrap(), 12);
    assert!(validations(&c) >= 1, "the position was validated with OffsetForLeaderEpoch");
}

#[tokio::test]
async fn after_a_truncation_reset_none_fails_poll_with_log_truncation_naming_the_partition() {
    let (c, p) = cluster().await;
    let mut con = consumer(&c, "none");
    let tp = TopicPartition::new("t", 0);
    con.seek(&tp, 0).unwrap();
    truncated_under(&mut con, &c, &p).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let err = loop {
        match con.poll(Duration::from_millis(200)).await {
            Err(e) => break e,
            Ok(rs) => {
                assert!(rs.is_empty(), "no record after the truncation: {:?}", values(&rs));
                assert!(tokio::time::Instant::now() < deadline, "no LogTruncation error");
            }
        }
    };
    match &err {
        Error::LogTruncation { topic, partition, fetch_offset, divergent_offset } => {
            assert_eq!((topic.as_str(), *partition, *fetch_offset, *divergent_offset), ("t", 0, 10, Some(6)));
        }
        other => panic!("expected LogTruncation, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("t-0") && msg.contains("10") && msg.contains('6'), "{msg}");
    // a seek to the divergence point continues
    con.seek(&tp, 6).unwrap();
    let got = poll_up_to(&mut con, 6, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 6);
    assert_eq!(got[0].offset, 6);
}

#[tokio::test]
async fn positions_are_validated_once_per_leader_change_and_never_without_one() {
    let (c, p) = cluster().await;
    let mut con = consumer(&c, "earliest");
    for round in 0..3 {
        produce(&p, (0..5).map(|i| format!("r{round}-{i}"))).await;
        assert_eq!(poll_up_to(&mut con, 5, Duration::from_secs(20)).await.len(), 5);
    }
    // idle polls too
    for _ in 0..5 {
        assert!(con.poll(Duration::from_millis(100)).await.unwrap().is_empty());
    }
    assert_eq!(validations(&c), 0, "nothing changed, nothing to validate");

    // a clean leader change: validated once, nothing lost or repeated
    let info = c.partition("t", 0).unwrap();
    let next = info.replicas.into_iter().find(|r| *r != info.leader).unwrap();
    c.move_leader("t", 0, next).unwrap();
    produce(&p, (0..5).map(|i| format!("after-{i}"))).await;
    let got = poll_up_to(&mut con, 5, Duration::from_secs(20)).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![15, 16, 17, 18, 19]);
    for _ in 0..5 {
        assert!(con.poll(Duration::from_millis(100)).await.unwrap().is_empty());
    }
    assert_eq!(validations(&c), 1, "one OffsetForLeaderEpoch for one leader change");
}

#[tokio::test]
async fn a_committed_offset_is_validated_with_its_leader_epoch() {
    let (c, p) = cluster().await;
    let cfg = |reset: &str| {
        Consumer::from_pairs([
            ("bootstrap.servers", c.bootstrap_servers()),
            ("group.id", "g".to_string()),
            ("enable.auto.commit", "false".to_string()),
            ("auto.offset.reset", reset.to_string()),
        ])
        .unwrap()
    };
    let tp = TopicPartition::new("t", 0);
    let mut first = cfg("earliest");
    first.assign([tp.clone()]);
    truncated_under(&mut first, &c, &p).await;
    // committed at 10 with epoch 0 (the epoch of the records consumed)
    first.commit_sync(None).await.unwrap();
    let committed = &c.committed_offsets("g")[&("t".to_string(), 0)];
    assert_eq!((committed.offset, committed.leader_epoch), (10, 0));
    first.close().await.unwrap();
    let before = validations(&c);

    let mut second = cfg("earliest");
    second.assign([tp.clone()]);
    let got = poll_up_to(&mut second, 6, Duration::from_secs(10)).await;
    let want: Vec<(i64, String)> = (0..6).map(|i| (6 + i, format!("new-{i}"))).collect();
    assert_eq!(values(&got), want, "resumed at the divergence, not at the committed 10");
    assert_eq!(validations(&c), before + 1, "the committed position was validated once");
}

#[tokio::test]
async fn a_seek_with_a_leader_epoch_is_validated_and_a_plain_seek_is_not() {
    let (c, p) = cluster().await;
    let tp = TopicPartition::new("t", 0);
    let mut first = consumer(&c, "earliest");
    truncated_under(&mut first, &c, &p).await;

    // Java's seek(tp, OffsetAndMetadata): offset 10 was reached under epoch 0, which the new
    // leader's log ends at 6
    let before = validations(&c);
    let mut with_epoch = consumer(&c, "earliest");
    with_epoch.seek_with_metadata(&tp, &OffsetAndMetadata::new(10).with_leader_epoch(0)).unwrap();
    let got = poll_up_to(&mut with_epoch, 6, Duration::from_secs(10)).await;
    let want: Vec<(i64, String)> = (0..6).map(|i| (6 + i, format!("new-{i}"))).collect();
    assert_eq!(values(&got), want, "resumed at the divergence");
    assert_eq!(validations(&c), before + 1, "the position was validated once");

    // a plain seek has no epoch to validate: it reads from 10 as asked
    let before = validations(&c);
    let mut plain = consumer(&c, "earliest");
    plain.seek(&tp, 10).unwrap();
    let got = poll_up_to(&mut plain, 2, Duration::from_secs(10)).await;
    assert_eq!(values(&got), [(10, "new-4".to_string()), (11, "new-5".to_string())]);
    assert_eq!(validations(&c), before, "nothing to validate");
}
