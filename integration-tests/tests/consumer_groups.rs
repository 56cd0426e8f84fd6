//! Consumer groups end to end, on the embedded test broker or a real cluster (`KAFKA_BOOTSTRAP`):
//! three members sharing twelve partitions, a member leaving, one crashing (dropped without
//! `close`, so only the session timeout removes it), one that stops polling
//! (`max.poll.interval.ms`), cooperative rebalancing keeping unaffected partitions, a static
//! member restarting without a rebalance, every assignor, the coordinator moving (test broker),
//! pattern subscriptions, and read_committed over interleaved
//! committed and aborted transactions (written with raw requests: the producer has no
//! transactional API yet).
//!
//! Only what both targets show is checked: records (through the members), listener calls,
//! assignments, and the group as `describe_consumer_groups` reports it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use integration_tests::{TxnWriter, create_topic, eventually, target, unique_topic};
use kafka_admin::{AdminClient, NewTopic};
use kafka_consumer::{Consumer, ConsumerRebalanceListener, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A fresh topic with `partitions` partitions whose leaders are known.
async fn topic(bootstrap: &str, prefix: &str, partitions: i32) -> String {
    create_topic(bootstrap, prefix, partitions, 1).await
}

async fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize, tag: &str) {
    let p = Producer::from_pairs([("bootstrap.servers", bootstrap), ("linger.ms", "1")]).unwrap();
    let futs = p.send_all((0..partitions).flat_map(|part| {
        (0..per_partition)
            .map(move |i| ProducerRecord::new(topic).partition(part).value(format!("{tag}-{part}-{i}")))
    }));
    for f in futs {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(10)).await.unwrap();
}

/// Group settings: session timeouts of 6 s (real Kafka's `group.min.session.timeout.ms`).
fn config(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), bootstrap.into()),
        ("group.id".into(), group.into()),
        ("auto.offset.reset".into(), "earliest".into()),
        ("session.timeout.ms".into(), "6000".into()),
        ("heartbeat.interval.ms".into(), "500".into()),
        ("auto.commit.interval.ms".into(), "200".into()),
        ("fetch.max.wait.ms".into(), "100".into()),
        ("metadata.max.age.ms".into(), "1000".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    pairs
}

/// What a member task reports (some fields are only read through `Debug` in failures).
#[derive(Debug)]
#[allow(dead_code)]
enum Event {
    Record { member: usize, tp: TopicPartition, offset: i64 },
    Assigned { member: usize, partitions: Vec<TopicPartition> },
    Revoked { member: usize, partitions: Vec<TopicPartition> },
    Lost { member: usize, partitions: Vec<TopicPartition> },
    Error { member: usize, error: String },
}

/// Sends listener calls to the test.
struct Reporter {
    member: usize,
    tx: mpsc::UnboundedSender<Event>,
}

impl ConsumerRebalanceListener for Reporter {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _: &'a mut Consumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        let _ = self.tx.send(Event::Revoked { member: self.member, partitions: p.to_vec() });
        Box::pin(async {})
    }
    fn on_partitions_assigned<'a>(
        &'a mut self,
        _: &'a mut Consumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        let _ = self.tx.send(Event::Assigned { member: self.member, partitions: p.to_vec() });
        Box::pin(async {})
    }
    fn on_partitions_lost<'a>(
        &'a mut self,
        _: &'a mut Consumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        let _ = self.tx.send(Event::Lost { member: self.member, partitions: p.to_vec() });
        Box::pin(async {})
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Poll,
    /// Keep the consumer (and its heartbeats) alive but stop calling poll.
    StopPolling,
    Close,
}

/// One group member polling on its own task.
struct Member {
    mode: watch::Sender<Mode>,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    task: JoinHandle<()>,
}

impl Member {
    fn start(
        member: usize,
        topic: &str,
        pairs: Vec<(String, String)>,
        tx: mpsc::UnboundedSender<Event>,
    ) -> Member {
        let (mode, mut mode_rx) = watch::channel(Mode::Poll);
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let shared = assignment.clone();
        let topic = topic.to_owned();
        let task = tokio::spawn(async move {
            let mut con = Consumer::from_pairs(pairs).unwrap();
            con.subscribe_with_listener([topic], Reporter { member, tx: tx.clone() }).unwrap();
            loop {
                let m = *mode_rx.borrow();
                match m {
                    Mode::Poll => match con.poll(Duration::from_millis(100)).await {
                        Ok(records) => {
                            *shared.lock().unwrap() = con.assignment();
                            for r in records {
                                let tp = TopicPartition::new(r.topic.clone(), r.partition);
                                let _ = tx.send(Event::Record { member, tp, offset: r.offset });
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Event::Error { member, error: e.to_string() });
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    },
                    Mode::StopPolling => {
                        let _ = mode_rx.changed().await;
                    }
                    Mode::Close => {
                        if let Err(e) = con.close().await {
                            let _ = tx.send(Event::Error { member, error: format!("close: {e}") });
                        }
                        *shared.lock().unwrap() = Vec::new();
                        return;
                    }
                }
            }
        });
        Member { mode, assignment, task }
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.lock().unwrap().clone()
    }

    async fn close(self) {
        self.mode.send(Mode::Close).unwrap();
        self.task.await.unwrap();
    }
}

/// Collects events until `done` says so (or fails after `timeout`).
struct Collector {
    rx: mpsc::UnboundedReceiver<Event>,
    /// (partition, offset) → times consumed.
    records: BTreeMap<(i32, i64), usize>,
    events: Vec<Event>,
}

impl Collector {
    fn new() -> (Collector, mpsc::UnboundedSender<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Collector { rx, records: BTreeMap::new(), events: Vec::new() }, tx)
    }

    async fn until(&mut self, what: &str, timeout: Duration, mut done: impl FnMut(&Collector) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => self.push(e),
                Ok(None) => panic!("every member stopped before: {what}"),
                Err(_) => panic!("timed out waiting for: {what} ({} distinct records)", self.records.len()),
            }
        }
    }

    /// Takes what has arrived so far without waiting.
    fn drain(&mut self) {
        while let Ok(e) = self.rx.try_recv() {
            self.push(e);
        }
    }

    fn push(&mut self, e: Event) {
        if let Event::Record { tp, offset, .. } = &e {
            *self.records.entry((tp.partition, *offset)).or_default() += 1;
        }
        self.events.push(e);
    }

    fn duplicates(&self) -> usize {
        self.records.values().filter(|n| **n > 1).count()
    }

    fn errors(&self) -> Vec<&Event> {
        self.events.iter().filter(|e| matches!(e, Event::Error { .. })).collect()
    }

    /// Partitions missing any of offsets `0..per_partition`.
    fn gaps(&self, partitions: i32, per_partition: i64) -> Vec<i32> {
        (0..partitions).filter(|p| (0..per_partition).any(|o| !self.records.contains_key(&(*p, o)))).collect()
    }
}

async fn wait_for_assignments(members: &[&Member], partitions: i32, what: &str) -> Vec<Vec<TopicPartition>> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let all: Vec<Vec<TopicPartition>> = members.iter().map(|m| m.assignment()).collect();
        let union: BTreeSet<&TopicPartition> = all.iter().flatten().collect();
        let total: usize = all.iter().map(Vec::len).sum();
        if union.len() == partitions as usize
            && total == partitions as usize
            && all.iter().all(|a| !a.is_empty())
        {
            return all;
        }
        assert!(Instant::now() < deadline, "{what}: assignments never settled: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The group's member count as the coordinator reports it.
async fn group_size(bootstrap: &str, group: &str) -> usize {
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap)]).unwrap();
    let d = a.describe_consumer_groups(&[group]).await.unwrap();
    d[group].as_ref().map(|g| g.members.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_twelve_partitions_then_one_leaves_and_one_crashes() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-life", 12).await;
    let group = unique_topic("cg-life");
    produce(&b, &topic, 12, 50, "a").await;
    let (mut col, tx) = Collector::new();
    let members: Vec<Member> =
        (0..3).map(|i| Member::start(i, &topic, config(&b, &group, &[]), tx.clone())).collect();
    col.until("600 records", Duration::from_secs(40), |c| c.records.len() == 600).await;
    let a = wait_for_assignments(&members.iter().collect::<Vec<_>>(), 12, "three members").await;
    for x in &a {
        assert_eq!(x.len(), 4, "range over 12 partitions and 3 members: 4 each, got {a:?}");
    }
    assert_eq!(group_size(&b, &group).await, 3);

    // a member leaves cleanly: its partitions go to the others, nothing is lost or duplicated
    let mut members = members.into_iter();
    members.next().unwrap().close().await;
    let (m1, m2) = (members.next().unwrap(), members.next().unwrap());
    wait_for_assignments(&[&m1, &m2], 12, "after a leave").await;
    produce(&b, &topic, 12, 10, "b").await;
    col.until("720 records", Duration::from_secs(40), |c| c.records.len() == 720).await;
    col.drain();
    assert_eq!(col.duplicates(), 0, "a clean leave commits first");
    assert_eq!(group_size(&b, &group).await, 2);

    // a member crashes (dropped: no LeaveGroup, no commit): after the session timeout the
    // survivor owns every partition and consumes on; duplicates are allowed only now
    m1.task.abort();
    let crashed_at = Instant::now();
    let all = wait_for_assignments(&[&m2], 12, "after a crash").await;
    assert_eq!(all[0].len(), 12);
    assert!(crashed_at.elapsed() >= Duration::from_secs(3), "taken over only after the session timeout");
    produce(&b, &topic, 12, 10, "c").await;
    col.until("840 records", Duration::from_secs(40), |c| c.records.len() == 840).await;
    assert!(col.gaps(12, 70).is_empty(), "every record at least once; gaps in {:?}", col.gaps(12, 70));
    assert_eq!(col.records.len(), 840, "nothing beyond what was produced");
    assert!(col.errors().is_empty(), "{:?}", col.errors());
    m2.close().await;
    col.drain();
    assert!(col.errors().is_empty(), "{:?}", col.errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_leaves_after_max_poll_interval() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-poll", 6).await;
    let group = unique_topic("cg-poll");
    let (mut col, tx) = Collector::new();
    let extra = [("max.poll.interval.ms", "2000")];
    let members: Vec<Member> =
        (0..2).map(|i| Member::start(i, &topic, config(&b, &group, &extra), tx.clone())).collect();
    wait_for_assignments(&members.iter().collect::<Vec<_>>(), 6, "two members").await;
    members[0].mode.send(Mode::StopPolling).unwrap();
    // its heartbeats keep running, yet after max.poll.interval.ms it leaves and member 1 takes over
    let deadline = Instant::now() + Duration::from_secs(20);
    while members[1].assignment().len() != 6 {
        assert!(
            Instant::now() < deadline,
            "member 1 never got every partition: {:?}",
            members[1].assignment()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(group_size(&b, &group).await, 1, "the idle member left the group");
    produce(&b, &topic, 6, 5, "p").await;
    col.until("30 records by member 1", Duration::from_secs(20), |c| c.records.len() == 30).await;
    // when it polls again it finds its partitions lost and rejoins
    members[0].mode.send(Mode::Poll).unwrap();
    wait_for_assignments(&members.iter().collect::<Vec<_>>(), 6, "after rejoining").await;
    col.until("a lost callback", Duration::from_secs(10), |c| {
        c.events.iter().any(|e| matches!(e, Event::Lost { member: 0, partitions } if !partitions.is_empty()))
    })
    .await;
    for m in members {
        m.close().await;
    }
    col.drain();
    assert!(col.errors().is_empty(), "{:?}", col.errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalancing_keeps_unaffected_partitions_consuming() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-coop", 6).await;
    let group = unique_topic("cg-coop");
    let (mut col, tx) = Collector::new();
    let extra = [("partition.assignment.strategy", "cooperative-sticky")];
    let m0 = Member::start(0, &topic, config(&b, &group, &extra), tx.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while m0.assignment().len() != 6 {
        assert!(Instant::now() < deadline, "the first member never got all six");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    produce(&b, &topic, 6, 10, "x").await;
    col.until("60 records", Duration::from_secs(20), |c| c.records.len() == 60).await;
    let m1 = Member::start(1, &topic, config(&b, &group, &extra), tx.clone());
    let after = wait_for_assignments(&[&m0, &m1], 6, "two cooperative members").await;
    assert_eq!(after[0].len(), 3);
    produce(&b, &topic, 6, 20, "y").await;
    col.until("180 records", Duration::from_secs(20), |c| c.records.len() == 180).await;
    let revoked: Vec<&TopicPartition> = col
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Revoked { member: 0, partitions } => Some(partitions.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(revoked.len(), 3, "only the three partitions that moved were revoked: {revoked:?}");
    for tp in &after[0] {
        assert!(!revoked.contains(&tp), "{tp} stayed with member 0 yet was revoked");
    }
    // the kept partitions were consumed by member 0 throughout, never handed to member 1
    for e in &col.events {
        if let Event::Record { member: 1, tp, .. } = e {
            assert!(!after[0].contains(tp), "{tp} stayed with member 0 yet member 1 consumed it");
        }
    }
    assert_eq!(col.duplicates(), 0);
    m0.close().await;
    m1.close().await;
    col.drain();
    assert!(col.errors().is_empty(), "{:?}", col.errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_the_session_timeout_causes_no_rebalance() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-static", 4).await;
    let group = unique_topic("cg-static");
    let (mut col, tx) = Collector::new();
    let cfg = |i: &str| config(&b, &group, &[("group.instance.id", i), ("session.timeout.ms", "10000")]);
    let m0 = Member::start(0, &topic, cfg("i-0"), tx.clone());
    let m1 = Member::start(1, &topic, cfg("i-1"), tx.clone());
    let before = wait_for_assignments(&[&m0, &m1], 4, "two static members").await;
    // let the group settle (the first member may have seen a second rebalance)
    tokio::time::sleep(Duration::from_secs(1)).await;
    col.drain();
    let m1_events_before = col.events.iter().filter(|e| !matches!(e, Event::Record { .. })).count();
    m0.close().await;
    assert_eq!(group_size(&b, &group).await, 2, "a static member does not leave on close");
    let m0 = Member::start(0, &topic, cfg("i-0"), tx.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while m0.assignment() != before[0] {
        assert!(Instant::now() < deadline, "the restarted member did not get its partitions back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    produce(&b, &topic, 4, 5, "s").await;
    col.until("20 records", Duration::from_secs(20), |c| c.records.len() == 20).await;
    assert_eq!(m1.assignment(), before[1]);
    col.drain();
    let m1_calls: Vec<&Event> = col.events[m1_events_before..]
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Revoked { member: 1, .. }
                    | Event::Assigned { member: 1, .. }
                    | Event::Lost { member: 1, .. }
            )
        })
        .collect();
    assert!(m1_calls.is_empty(), "the other member saw a rebalance: {m1_calls:?}");
    m0.close().await;
    m1.close().await;
    col.drain();
    assert!(col.errors().is_empty(), "{:?}", col.errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_assignor_covers_every_partition_balanced() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    for strategy in ["range", "roundrobin", "sticky", "cooperative-sticky"] {
        let topic = topic(&b, "cg-assignor", 7).await;
        let group = unique_topic(&format!("cg-{strategy}"));
        produce(&b, &topic, 7, 5, "x").await;
        let (mut col, tx) = Collector::new();
        let extra = [("partition.assignment.strategy", strategy)];
        let members: Vec<Member> =
            (0..3).map(|i| Member::start(i, &topic, config(&b, &group, &extra), tx.clone())).collect();
        let a = wait_for_assignments(&members.iter().collect::<Vec<_>>(), 7, strategy).await;
        col.until("every record", Duration::from_secs(30), |c| c.records.len() == 35).await;
        let mut sizes: Vec<usize> = a.iter().map(Vec::len).collect();
        sizes.sort();
        assert_eq!(sizes, vec![2, 2, 3], "{strategy}: {a:?}");
        let admin = AdminClient::from_pairs([("bootstrap.servers", b.as_str())]).unwrap();
        let d = admin.describe_consumer_groups(&[group.as_str()]).await.unwrap();
        assert_eq!(d[&group].as_ref().unwrap().partition_assignor, strategy);
        for m in members {
            m.close().await;
        }
        col.drain();
        assert!(col.errors().is_empty(), "{strategy}: {:?}", col.errors());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_skips_interleaved_aborted_transactions() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-txn", 1).await;
    let tp = TopicPartition::new(topic.clone(), 0);
    let admin = AdminClient::from_pairs([("bootstrap.servers", b.as_str())]).unwrap();
    let d = admin.describe_topics(&[topic.as_str()]).await.unwrap();
    let leader = d[&topic].as_ref().unwrap().partitions[0].leader.unwrap();
    produce(&b, &topic, 1, 2, "plain").await;
    let mut aborted = TxnWriter::new(&b, &unique_topic("txn-abort"), &tp.topic, tp.partition, leader).await;
    let mut committed =
        TxnWriter::new(&b, &unique_topic("txn-commit"), &tp.topic, tp.partition, leader).await;
    // interleaved in the log: A A C A C C, then A aborts and C commits
    aborted.write(&["abort-0", "abort-1"]).await;
    committed.write(&["commit-0"]).await;
    aborted.write(&["abort-2"]).await;
    committed.write(&["commit-1", "commit-2"]).await;
    aborted.end(false).await;
    committed.end(true).await;
    produce(&b, &topic, 1, 1, "after").await;

    let read = |isolation: &'static str| {
        let b = b.clone();
        let tp = tp.clone();
        async move {
            let mut c = Consumer::from_pairs([
                ("bootstrap.servers", b.as_str()),
                ("auto.offset.reset", "earliest"),
                ("isolation.level", isolation),
                ("fetch.max.wait.ms", "100"),
            ])
            .unwrap();
            c.assign([tp]);
            let mut values = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !values.iter().any(|v: &String| v.starts_with("after")) {
                assert!(Instant::now() < deadline, "{isolation}: never reached the last record: {values:?}");
                for r in c.poll(Duration::from_millis(200)).await.unwrap() {
                    values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
                }
            }
            c.close().await.unwrap();
            values
        }
    };
    let values = read("read_committed").await;
    assert_eq!(values, ["plain-0-0", "plain-0-1", "commit-0", "commit-1", "commit-2", "after-0-0"]);
    let all = read("read_uncommitted").await;
    assert_eq!(
        all,
        [
            "plain-0-0",
            "plain-0-1",
            "abort-0",
            "abort-1",
            "commit-0",
            "abort-2",
            "commit-1",
            "commit-2",
            "after-0-0"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_survives_its_coordinator_moving() {
    let Some(t) = target(3).await else { return };
    let Some(c) = t.test_broker("the_group_survives_its_coordinator_moving") else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-move", 4).await;
    let group = unique_topic("cg-move");
    produce(&b, &topic, 4, 10, "p").await;
    let (mut col, tx) = Collector::new();
    let m0 = Member::start(0, &topic, config(&b, &group, &[]), tx.clone());
    let m1 = Member::start(1, &topic, config(&b, &group, &[]), tx.clone());
    wait_for_assignments(&[&m0, &m1], 4, "two members").await;
    col.until("40 records", Duration::from_secs(20), |c| c.records.len() == 40).await;
    let old = c.coordinator(0, &group).unwrap();
    let new = c.broker_ids().into_iter().find(|id| *id != old).unwrap();
    c.move_coordinator(0, &group, new);
    produce(&b, &topic, 4, 10, "q").await;
    col.until("80 records", Duration::from_secs(20), |c| c.records.len() == 80).await;
    wait_for_assignments(&[&m0, &m1], 4, "after the move").await;
    // auto-commits reach the new coordinator
    eventually("commits at the new coordinator", || async {
        ((0..4).map(|p| c.committed_offset(&group, &topic, p).unwrap_or(0)).sum::<i64>() == 80).then_some(())
    })
    .await;
    m0.mode.send(Mode::Close).unwrap();
    m1.mode.send(Mode::Close).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscriptions_pick_up_new_topics() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let stem = unique_topic("cg-pattern");
    let admin = AdminClient::from_pairs([("bootstrap.servers", b.as_str())]).unwrap();
    let create = |name: String, partitions: i32| {
        let admin = &admin;
        async move {
            let r = admin.create_topics(&[NewTopic::new(name.clone(), partitions, 1)], false).await.unwrap();
            r[&name].as_ref().unwrap();
        }
    };
    create(format!("{stem}-a"), 2).await;
    let mut con = Consumer::from_pairs(config(&b, &unique_topic("cg-pattern"), &[])).unwrap();
    con.subscribe_pattern(&format!("{stem}-.*")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while con.assignment().len() != 2 {
        assert!(Instant::now() < deadline, "the pattern never matched {stem}-a");
        con.poll(Duration::from_millis(100)).await.unwrap();
    }
    create(format!("{stem}-b"), 3).await;
    create(format!("{stem}x-other"), 3).await;
    while con.assignment().len() != 5 {
        assert!(Instant::now() < deadline, "the new topic never joined: {:?}", con.assignment());
        con.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(con.subscription(), BTreeSet::from([format!("{stem}-a"), format!("{stem}-b")]));
    con.close().await.unwrap();
}

#[tokio::test]
async fn subscribe_needs_a_group_and_bad_group_settings_are_named() {
    let mut con = Consumer::from_pairs([("bootstrap.servers", "127.0.0.1:9")]).unwrap();
    assert!(matches!(con.subscribe(["t"]), Err(kafka_consumer::Error::NoGroup(_))));
    let e = Consumer::from_pairs([
        ("bootstrap.servers", "127.0.0.1:9"),
        ("group.id", "g"),
        ("partition.assignment.strategy", "fair"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("partition.assignment.strategy"), "{e}");
    let e = Consumer::from_pairs([("bootstrap.servers", "127.0.0.1:9"), ("heartbeat.interval.ms", "50000")])
        .unwrap_err();
    assert!(e.to_string().contains("heartbeat.interval.ms"), "{e}");
}

/// Two members driven from one task, each polled in turn with a short timeout (as a test or a
/// small service might): `poll` must return at its timeout while its join waits for the other
/// member, or the other member never gets polled and the rebalance stalls until
/// max.poll.interval.ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_polled_in_turn_from_one_task_complete_their_rebalances() {
    let Some(t) = target(1).await else { return };
    let b = t.bootstrap();
    let topic = topic(&b, "cg-turns", 4).await;
    let group = unique_topic("cg-turns");
    let mut a = Consumer::from_pairs(config(&b, &group, &[])).unwrap();
    let mut c = Consumer::from_pairs(config(&b, &group, &[])).unwrap();
    a.subscribe([topic.as_str()]).unwrap();
    c.subscribe([topic.as_str()]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        for (name, con) in [("a", &mut a), ("c", &mut c)] {
            let polled =
                tokio::time::timeout(Duration::from_secs(5), con.poll(Duration::from_millis(100))).await;
            polled.unwrap_or_else(|_| panic!("{name}.poll(100 ms) overran its timeout by seconds")).unwrap();
        }
        if a.assignment().len() == 2 && c.assignment().len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rebalance never completed: {:?} / {:?}",
            a.assignment(),
            c.assignment()
        );
    }
    a.close().await.unwrap();
    c.close().await.unwrap();
}
