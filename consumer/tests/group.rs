//! Consumer groups against the embedded test broker: joins, leaves, crashes, poll timeouts,
//! static members, every assignor, cooperative rebalancing and coordinator moves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use kafka_consumer::{Consumer, ConsumerRebalanceListener, Error, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const TOPIC: &str = "orders";

async fn cluster(partitions: i32) -> TestCluster {
    TestCluster::builder().brokers(3).topic(TOPIC, partitions, 3).start().await.unwrap()
}

async fn produce(c: &TestCluster, partitions: i32, per_partition: usize, tag: &str) {
    let p = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers()), ("linger.ms", "1".into())])
        .unwrap();
    let futs = p.send_all((0..partitions).flat_map(|part| {
        (0..per_partition)
            .map(move |i| ProducerRecord::new(TOPIC).partition(part).value(format!("{tag}-{part}-{i}")))
    }));
    for f in futs {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.ok();
}

fn config(c: &TestCluster, group: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), c.bootstrap_servers()),
        ("group.id".into(), group.into()),
        ("auto.offset.reset".into(), "earliest".into()),
        ("session.timeout.ms".into(), "6000".into()),
        ("heartbeat.interval.ms".into(), "300".into()),
        ("auto.commit.interval.ms".into(), "200".into()),
        ("fetch.max.wait.ms".into(), "100".into()),
        ("metadata.max.age.ms".into(), "500".into()),
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

struct Member {
    mode: watch::Sender<Mode>,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    task: JoinHandle<()>,
}

impl Member {
    fn start(member: usize, pairs: Vec<(String, String)>, tx: mpsc::UnboundedSender<Event>) -> Member {
        let (mode, mut mode_rx) = watch::channel(Mode::Poll);
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let shared = assignment.clone();
        let task = tokio::spawn(async move {
            let mut con = Consumer::from_pairs(pairs).unwrap();
            con.subscribe_with_listener([TOPIC], Reporter { member, tx: tx.clone() }).unwrap();
            loop {
                let m = *mode_rx.borrow();
                match m {
                    Mode::Poll => {
                        let records = con.poll(Duration::from_millis(100)).await.unwrap();
                        *shared.lock().unwrap() = con.assignment();
                        for r in records {
                            let tp = TopicPartition::new(r.topic.clone(), r.partition);
                            let _ = tx.send(Event::Record { member, tp, offset: r.offset });
                        }
                    }
                    Mode::StopPolling => {
                        let _ = mode_rx.changed().await;
                    }
                    Mode::Close => {
                        con.close().await.unwrap();
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
}

/// Collects events until `done` says so (or fails after `timeout`).
struct Collector {
    rx: mpsc::UnboundedReceiver<Event>,
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
                Ok(Some(e)) => {
                    if let Event::Record { tp, offset, .. } = &e {
                        *self.records.entry((tp.partition, *offset)).or_default() += 1;
                    }
                    self.events.push(e);
                }
                Ok(None) => panic!("every member stopped before: {what}"),
                Err(_) => panic!("timed out waiting for: {what} ({} distinct records)", self.records.len()),
            }
        }
    }

    fn duplicates(&self) -> usize {
        self.records.values().filter(|n| **n > 1).count()
    }
}

async fn wait_for_assignments(members: &[&Member], partitions: i32, what: &str) -> Vec<Vec<TopicPartition>> {
    let deadline = Instant::now() + Duration::from_secs(30);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_twelve_partitions_then_one_leaves_and_one_crashes() {
    let c = cluster(12).await;
    produce(&c, 12, 50, "a").await;
    let (mut col, tx) = Collector::new();
    let members: Vec<Member> =
        (0..3).map(|i| Member::start(i, config(&c, "g-life", &[]), tx.clone())).collect();
    col.until("600 records", Duration::from_secs(30), |c| c.records.len() == 600).await;
    let a = wait_for_assignments(&members.iter().collect::<Vec<_>>(), 12, "three members").await;
    for x in &a {
        assert_eq!(x.len(), 4, "range over 12 partitions and 3 members: 4 each, got {a:?}");
    }
    assert_eq!(col.duplicates(), 0, "no crash yet, so no duplicates");
    assert_eq!(c.group_members("g-life").len(), 3);

    // a member leaves cleanly: its partitions go to the others, nothing is lost or duplicated
    members[0].mode.send(Mode::Close).unwrap();
    let rest: Vec<&Member> = members[1..].iter().collect();
    wait_for_assignments(&rest, 12, "after a leave").await;
    produce(&c, 12, 10, "b").await;
    col.until("720 records", Duration::from_secs(30), |c| c.records.len() == 720).await;
    assert_eq!(col.duplicates(), 0, "a clean leave commits first");

    // a member crashes (no LeaveGroup, no commit): after the session timeout the survivor
    // owns every partition and consumes on; duplicates are allowed only now
    members[1].task.abort();
    let survivor = [&members[2]];
    let all = wait_for_assignments(&survivor, 12, "after a crash").await;
    assert_eq!(all[0].len(), 12);
    produce(&c, 12, 10, "c").await;
    col.until("840 records", Duration::from_secs(30), |c| c.records.len() == 840).await;
    let missing: Vec<_> = (0..12).filter(|p| (0..70).any(|o| !col.records.contains_key(&(*p, o)))).collect();
    assert!(missing.is_empty(), "every record consumed at least once; partitions with gaps: {missing:?}");
    members[2].mode.send(Mode::Close).unwrap();
    c.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_leaves_after_max_poll_interval() {
    let c = cluster(6).await;
    let (mut col, tx) = Collector::new();
    let extra = [("max.poll.interval.ms", "1500")];
    let members: Vec<Member> =
        (0..2).map(|i| Member::start(i, config(&c, "g-poll", &extra), tx.clone())).collect();
    wait_for_assignments(&members.iter().collect::<Vec<_>>(), 6, "two members").await;
    members[0].mode.send(Mode::StopPolling).unwrap();
    // its heartbeats keep running, yet after max.poll.interval.ms it leaves and member 1 takes over
    let deadline = Instant::now() + Duration::from_secs(15);
    while members[1].assignment().len() != 6 {
        assert!(
            Instant::now() < deadline,
            "member 1 never got every partition: {:?}",
            members[1].assignment()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.group_members("g-poll").len(), 1, "the idle member left the group");
    // when it polls again it finds its partitions lost and rejoins
    members[0].mode.send(Mode::Poll).unwrap();
    wait_for_assignments(&members.iter().collect::<Vec<_>>(), 6, "after rejoining").await;
    col.until("a lost callback", Duration::from_secs(10), |c| {
        c.events.iter().any(|e| matches!(e, Event::Lost { member: 0, partitions } if !partitions.is_empty()))
    })
    .await;
    for m in &members {
        m.mode.send(Mode::Close).unwrap();
    }
    c.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_the_session_timeout_causes_no_rebalance() {
    let c = cluster(4).await;
    let (_col, tx) = Collector::new();
    let m0 = Member::start(0, config(&c, "g-static", &[("group.instance.id", "i-0")]), tx.clone());
    let m1 = Member::start(1, config(&c, "g-static", &[("group.instance.id", "i-1")]), tx.clone());
    let before = wait_for_assignments(&[&m0, &m1], 4, "two static members").await;
    let generation = c.group_generation("g-static").unwrap();
    m0.mode.send(Mode::Close).unwrap();
    m0.task.await.unwrap();
    assert_eq!(c.group_members("g-static").len(), 2, "a static member does not leave on close");
    let m0 = Member::start(0, config(&c, "g-static", &[("group.instance.id", "i-0")]), tx.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while m0.assignment() != before[0] {
        assert!(Instant::now() < deadline, "the restarted member did not get its partitions back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.group_generation("g-static").unwrap(), generation, "no rebalance happened");
    assert_eq!(m1.assignment(), before[1]);
    m0.mode.send(Mode::Close).unwrap();
    m1.mode.send(Mode::Close).unwrap();
    c.shutdown();
}

async fn assignor_run(strategy: &str) -> Vec<Vec<TopicPartition>> {
    let c = cluster(7).await;
    produce(&c, 7, 5, "x").await;
    let (mut col, tx) = Collector::new();
    let group = format!("g-{strategy}");
    let extra = [("partition.assignment.strategy", strategy)];
    let members: Vec<Member> =
        (0..3).map(|i| Member::start(i, config(&c, &group, &extra), tx.clone())).collect();
    let a = wait_for_assignments(&members.iter().collect::<Vec<_>>(), 7, strategy).await;
    col.until("every record", Duration::from_secs(20), |c| c.records.len() == 35).await;
    let (protocol_type, protocol) = c.group_protocol(&group).unwrap();
    assert_eq!(protocol_type.as_deref(), Some("consumer"));
    assert_eq!(protocol.as_deref(), Some(strategy));
    for m in &members {
        m.mode.send(Mode::Close).unwrap();
    }
    c.shutdown();
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_assignor_covers_every_partition_balanced() {
    for strategy in ["range", "roundrobin", "sticky", "cooperative-sticky"] {
        let a = assignor_run(strategy).await;
        let mut sizes: Vec<usize> = a.iter().map(Vec::len).collect();
        sizes.sort();
        assert_eq!(sizes, vec![2, 2, 3], "{strategy}: {a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalancing_revokes_only_partitions_that_move() {
    let c = cluster(6).await;
    let (mut col, tx) = Collector::new();
    let extra = [("partition.assignment.strategy", "cooperative-sticky")];
    let m0 = Member::start(0, config(&c, "g-coop", &extra), tx.clone());
    let deadline = Instant::now() + Duration::from_secs(15);
    while m0.assignment().len() != 6 {
        assert!(Instant::now() < deadline, "the first member never got all six");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m1 = Member::start(1, config(&c, "g-coop", &extra), tx.clone());
    let after = wait_for_assignments(&[&m0, &m1], 6, "two cooperative members").await;
    assert_eq!(after[0].len(), 3);
    produce(&c, 6, 20, "y").await;
    col.until("120 records", Duration::from_secs(20), |c| c.records.len() == 120).await;
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
    assert_eq!(col.duplicates(), 0);
    m0.mode.send(Mode::Close).unwrap();
    m1.mode.send(Mode::Close).unwrap();
    c.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_survives_its_coordinator_moving() {
    let c = cluster(4).await;
    produce(&c, 4, 10, "p").await;
    let (mut col, tx) = Collector::new();
    let m0 = Member::start(0, config(&c, "g-move", &[]), tx.clone());
    let m1 = Member::start(1, config(&c, "g-move", &[]), tx.clone());
    wait_for_assignments(&[&m0, &m1], 4, "two members").await;
    col.until("40 records", Duration::from_secs(20), |c| c.records.len() == 40).await;
    let old = c.coordinator(0, "g-move").unwrap();
    let new = c.broker_ids().into_iter().find(|b| *b != old).unwrap();
    c.move_coordinator(0, "g-move", new);
    produce(&c, 4, 10, "q").await;
    col.until("80 records", Duration::from_secs(20), |c| c.records.len() == 80).await;
    wait_for_assignments(&[&m0, &m1], 4, "after the move").await;
    // commits reach the new coordinator
    let deadline = Instant::now() + Duration::from_secs(10);
    while (0..4).map(|p| c.committed_offset("g-move", TOPIC, p).unwrap_or(0)).sum::<i64>() != 80 {
        assert!(Instant::now() < deadline, "auto-commits never reached the new coordinator");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m0.mode.send(Mode::Close).unwrap();
    m1.mode.send(Mode::Close).unwrap();
    c.shutdown();
}

#[tokio::test]
async fn subscribe_needs_a_group_and_bad_settings_are_named() {
    let c = cluster(1).await;
    let mut con = Consumer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    assert!(matches!(con.subscribe([TOPIC]), Err(Error::NoGroup(_))));
    let e = Consumer::from_pairs([
        ("bootstrap.servers", c.bootstrap_servers()),
        ("group.id", "g".into()),
        ("partition.assignment.strategy", "fair".into()),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("partition.assignment.strategy"), "{e}");
    let e = Consumer::from_pairs([
        ("bootstrap.servers", c.bootstrap_servers()),
        ("heartbeat.interval.ms", "50000".into()),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("heartbeat.interval.ms"), "{e}");
    c.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscriptions_pick_up_new_topics() {
    let c = TestCluster::builder().brokers(1).topic("metrics-a", 2, 1).start().await.unwrap();
    let mut con = Consumer::from_pairs(config(&c, "g-pattern", &[])).unwrap();
    con.subscribe_pattern("metrics-.*").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while con.assignment().len() != 2 {
        assert!(Instant::now() < deadline, "pattern never matched metrics-a");
        con.poll(Duration::from_millis(100)).await.unwrap();
    }
    c.create_topic("metrics-b", 3, 1).unwrap();
    c.create_topic("other", 3, 1).unwrap();
    while con.assignment().len() != 5 {
        assert!(Instant::now() < deadline, "new topic never joined: {:?}", con.assignment());
        con.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(con.subscription(), BTreeSet::from(["metrics-a".to_string(), "metrics-b".to_string()]));
    con.close().await.unwrap();
    c.shutdown();
}
