//! The consumer against the embedded test broker, fed by the producer.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_consumer::{Consumer, ConsumerRecord, Error, OffsetAndMetadata, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;

async fn setup(topic: &str, partitions: i32) -> (TestCluster, Producer) {
    let c = TestCluster::builder().brokers(3).topic(topic, partitions, 3).start().await.unwrap();
    let p = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    (c, p)
}

fn consumer(c: &TestCluster, extra: &[(&str, &str)]) -> Consumer {
    let mut pairs = vec![("bootstrap.servers".to_string(), c.bootstrap_servers())];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Consumer::from_pairs(pairs).unwrap()
}

async fn poll_n(c: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {n} records arrived", out.len());
        out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

fn tps(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

#[tokio::test]
async fn consumes_exactly_what_was_produced_in_partition_order() {
    let (c, p) = setup("t", 3).await;
    let mut sent = BTreeMap::<(i32, i64), (Option<Bytes>, Bytes, String)>::new();
    let futs = p.send_all((0..500).map(|i| {
        let r = ProducerRecord::new("t")
            .value(format!("value-{i}"))
            .header("i", Some(Bytes::from(i.to_string())));
        if i % 2 == 0 { r.key(format!("k{i}")) } else { r }
    }));
    for (i, f) in futs.into_iter().enumerate() {
        let m = f.await.unwrap();
        let key = (i % 2 == 0).then(|| Bytes::from(format!("k{i}")));
        sent.insert((m.partition, m.offset), (key, Bytes::from(format!("value-{i}")), i.to_string()));
    }
    let mut con = consumer(&c, &[("auto.offset.reset", "earliest"), ("max.poll.records", "77")]);
    con.assign(tps("t", 3));
    let got = poll_n(&mut con, 500).await;
    assert_eq!(got.len(), 500);
    let mut last = BTreeMap::<i32, i64>::new();
    for r in &got {
        let (key, value, header) = &sent[&(r.partition, r.offset)];
        assert_eq!((&r.key, r.value.as_ref().unwrap()), (key, value));
        let h: Vec<_> = r.headers.iter().collect();
        assert_eq!(h, [("i", Some(Bytes::from(header.clone())))]);
        if let Some(prev) = last.insert(r.partition, r.offset) {
            assert_eq!(r.offset, prev + 1, "partition {} in order, no gaps", r.partition);
        }
    }
    for tp in tps("t", 3) {
        assert_eq!(con.position(&tp).await.unwrap(), last.get(&tp.partition).map_or(0, |o| o + 1));
    }
    assert!(con.poll(Duration::from_millis(100)).await.unwrap().is_empty(), "nothing twice");
}

#[tokio::test]
async fn seek_positions_and_offset_lookups() {
    let (c, p) = setup("s", 1).await;
    for i in 0..10 {
        p.send(ProducerRecord::new("s").value(format!("{i}")).timestamp(1_000 + i * 10)).await.unwrap();
    }
    let tp = TopicPartition::new("s", 0);
    let mut con = consumer(&c, &[]); // auto.offset.reset=latest
    con.assign([tp.clone()]);
    assert_eq!(con.position(&tp).await.unwrap(), 10, "latest");
    assert!(con.poll(Duration::from_millis(100)).await.unwrap().is_empty());
    con.seek(&tp, 7).unwrap();
    let got = poll_n(&mut con, 3).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8, 9]);
    con.seek_to_beginning(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(con.position(&tp).await.unwrap(), 0);
    assert_eq!(con.beginning_offsets(std::slice::from_ref(&tp)).await.unwrap()[&tp], 0);
    assert_eq!(con.end_offsets(std::slice::from_ref(&tp)).await.unwrap()[&tp], 10);
    let times = con.offsets_for_times(&[(tp.clone(), 1_045)].into()).await.unwrap();
    assert_eq!(times[&tp], Some((5, 1_050)));
    let times = con.offsets_for_times(&[(tp.clone(), 9_999)].into()).await.unwrap();
    assert_eq!(times[&tp], None);
    let e = con.seek(&TopicPartition::new("other", 0), 1).unwrap_err();
    assert_eq!(e.to_string(), "other-0 is not assigned to this consumer");
}

#[tokio::test]
async fn explicit_commits_keep_their_metadata_and_leader_epoch() {
    let (c, _p) = setup("md", 2).await;
    let mut con = consumer(&c, &[("group.id", "md-group"), ("enable.auto.commit", "false")]);
    con.assign(tps("md", 2));
    let (tp0, tp1) = (TopicPartition::new("md", 0), TopicPartition::new("md", 1));
    let with_all = OffsetAndMetadata::new(5).with_metadata("checkpoint-7").with_leader_epoch(0);
    let offsets = BTreeMap::from([(tp0.clone(), with_all.clone()), (tp1.clone(), 3.into())]);
    con.commit_sync(Some(offsets)).await.unwrap();
    let stored = &c.committed_offsets("md-group")[&("md".to_string(), 0)];
    assert_eq!((stored.offset, stored.leader_epoch), (5, 0));
    let committed = con.committed(&tps("md", 2)).await.unwrap();
    assert_eq!(committed[&tp0], Some(with_all));
    assert_eq!(committed[&tp1], Some(OffsetAndMetadata::new(3)), "no epoch, empty metadata");
}

#[tokio::test]
async fn committed_offsets_are_resumed_by_a_new_consumer_of_the_group() {
    let (c, p) = setup("g", 2).await;
    for i in 0..40 {
        p.send(ProducerRecord::new("g").key(format!("{i}")).value(format!("{i}"))).await.unwrap();
    }
    let cfg = [
        ("group.id", "readers"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("max.poll.records", "15"),
    ];
    let mut first = consumer(&c, &cfg);
    first.assign(tps("g", 2));
    let a = first.poll(Duration::from_secs(5)).await.unwrap();
    assert!(!a.is_empty() && a.len() <= 15);
    first.commit_sync(None).await.unwrap();
    let committed = first.committed(&tps("g", 2)).await.unwrap();
    for tp in tps("g", 2) {
        let pos = first.position(&tp).await.unwrap();
        assert_eq!(committed[&tp].as_ref().map_or(0, |o| o.offset), pos);
        assert_eq!(c.committed_offset("readers", "g", tp.partition).unwrap_or(0), pos);
    }
    drop(first);
    let mut second = consumer(&c, &cfg);
    second.assign(tps("g", 2));
    let b = poll_n(&mut second, 40 - a.len()).await;
    let mut all: Vec<String> =
        a.iter().chain(&b).map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    all.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(all, (0..40).map(|i| i.to_string()).collect::<Vec<_>>(), "nothing lost, nothing twice");
}

#[tokio::test]
async fn out_of_range_positions_follow_auto_offset_reset() {
    let (c, p) = setup("r", 1).await;
    for i in 0..5 {
        p.send(ProducerRecord::new("r").value(format!("{i}"))).await.unwrap();
    }
    let tp = TopicPartition::new("r", 0);
    let mut con = consumer(&c, &[("auto.offset.reset", "earliest")]);
    con.assign([tp.clone()]);
    con.seek(&tp, 1_000).unwrap();
    let got = poll_n(&mut con, 5).await;
    assert_eq!(got[0].offset, 0, "reset to earliest");
    let mut strict = consumer(&c, &[("auto.offset.reset", "none")]);
    strict.assign([tp.clone()]);
    let e = strict.poll(Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(e, Error::NoOffsetForPartition { .. }), "{e}");
    strict.seek(&tp, 1_000).unwrap();
    let e = strict.poll(Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(e.to_string(), "r-0: offset 1000 is out of range and auto.offset.reset is none");
}

#[tokio::test]
async fn a_dropped_poll_loses_nothing() {
    let (c, p) = setup("d", 1).await;
    let tp = TopicPartition::new("d", 0);
    let mut con = consumer(&c, &[("auto.offset.reset", "earliest"), ("fetch.max.wait.ms", "2000")]);
    con.assign([tp.clone()]);
    // cancel polls mid long-poll, several times, while records arrive; a poll that finished
    // before its timeout handed its records out, and they count
    let mut got = Vec::new();
    let mut cancelled = 0;
    for round in 0..5 {
        match tokio::time::timeout(Duration::from_millis(30), con.poll(Duration::from_secs(5))).await {
            Ok(records) => got.extend(records.unwrap()),
            Err(_) => cancelled += 1,
        }
        p.send(ProducerRecord::new("d").value(format!("{round}"))).await.unwrap();
    }
    assert!(cancelled >= 1, "at least one poll was dropped mid-fetch");
    let rest = 5 - got.len();
    got.extend(poll_n(&mut con, rest).await);
    let values: Vec<_> = got.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values, (0..5).map(|i| Bytes::from(i.to_string())).collect::<Vec<_>>());
}

#[tokio::test]
async fn pause_stops_fetching_a_partition_until_resume() {
    let (c, p) = setup("pz", 2).await;
    for part in 0..2 {
        p.send(ProducerRecord::new("pz").partition(part).value("x")).await.unwrap();
    }
    let mut con = consumer(&c, &[("auto.offset.reset", "earliest")]);
    con.assign(tps("pz", 2));
    con.pause(&[TopicPartition::new("pz", 1)]).unwrap();
    let got = poll_n(&mut con, 1).await;
    assert!(got.iter().all(|r| r.partition == 0));
    assert!(con.poll(Duration::from_millis(200)).await.unwrap().is_empty());
    con.resume(&[TopicPartition::new("pz", 1)]).unwrap();
    assert_eq!(poll_n(&mut con, 1).await[0].partition, 1);
}

#[tokio::test]
async fn auto_commit_never_commits_records_not_yet_returned() {
    let (c, p) = setup("ac", 1).await;
    for f in p.send_all((0..300).map(|i| ProducerRecord::new("ac").partition(0).value(format!("v{i}")))) {
        f.await.unwrap();
    }
    let mut con = consumer(
        &c,
        &[
            ("group.id", "g-ac"),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "10"),
            ("auto.commit.interval.ms", "0"),
        ],
    );
    con.subscribe(["ac"]).unwrap();
    let mut returned = 0i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while returned < 100 {
        assert!(tokio::time::Instant::now() < deadline);
        let got = con.poll(Duration::from_millis(100)).await.unwrap();
        returned += got.len() as i64;
        // the fetcher has prefetched far beyond what poll returned, yet the committed offset
        // (written by the auto-commit at the start of each poll) never passes what was returned
        let committed = c.committed_offset("g-ac", "ac", 0).unwrap_or(0);
        assert!(committed <= returned, "committed {committed} but only {returned} records were returned");
    }
    con.close().await.unwrap();
    assert_eq!(
        c.committed_offset("g-ac", "ac", 0),
        Some(returned),
        "close commits exactly what was returned"
    );
}

#[tokio::test]
async fn topics_partitions_paused_and_current_lag_are_answered_without_fetching_records() {
    let (c, p) = setup("info", 3).await;
    let mut con = consumer(&c, &[("max.poll.records", "4"), ("auto.offset.reset", "earliest")]);
    let parts = con.partitions_for("info").await.unwrap();
    assert_eq!(parts.iter().map(|p| p.partition).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(parts.iter().all(|p| p.leader.is_some() && p.replicas.len() == 3), "{parts:?}");
    let topics = con.list_topics().await.unwrap();
    assert_eq!(topics["info"].len(), 3, "{topics:?}");
    assert!(!topics.contains_key("no-such-topic"), "{topics:?}");

    for i in 0..10 {
        p.send(ProducerRecord::new("info").partition(1).value(format!("{i}"))).await.unwrap();
    }
    let tp = TopicPartition::new("info", 1);
    con.assign(tps("info", 3));
    assert_eq!(con.current_lag(&tp), None, "nothing fetched yet");
    assert_eq!(con.current_lag(&TopicPartition::new("other", 0)), None, "not assigned");
    let got = poll_n(&mut con, 4).await;
    let position = con.position(&tp).await.unwrap();
    assert_eq!(position, got.len() as i64);
    assert_eq!(con.current_lag(&tp), Some(10 - position), "high watermark 10");

    con.pause(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(con.paused(), [tp.clone()].into());
    con.resume(std::slice::from_ref(&tp)).unwrap();
    assert!(con.paused().is_empty());

    let strict = TestCluster::builder().brokers(1).auto_create_topics(false).start().await.unwrap();
    let con = consumer(&strict, &[("request.timeout.ms", "1000"), ("default.api.timeout.ms", "2000")]);
    let e = con.partitions_for("no-such-topic").await.unwrap_err();
    assert!(e.to_string().contains("no-such-topic"), "{e}");
}

#[tokio::test]
async fn enforce_rebalance_makes_the_member_rejoin_and_needs_a_subscription() {
    let (c, _p) = setup("er", 2).await;
    let mut assigned = consumer(&c, &[("group.id", "er-group")]);
    assigned.assign(tps("er", 2));
    let e = assigned.enforce_rebalance(None).unwrap_err();
    assert!(matches!(e, Error::NotSubscribed("enforce_rebalance")), "{e}");

    let mut con = consumer(&c, &[("group.id", "er-group-2")]);
    con.subscribe(["er"]).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while con.assignment().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no assignment");
        con.poll(Duration::from_millis(100)).await.unwrap();
    }
    let first = con.group_metadata().unwrap().generation_id;
    con.enforce_rebalance(Some("testing")).unwrap();
    while con.group_metadata().unwrap().generation_id == first {
        assert!(tokio::time::Instant::now() < deadline, "no rebalance after enforce_rebalance");
        con.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(con.assignment().len(), 2, "the only member keeps every partition");
}
