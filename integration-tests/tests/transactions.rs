//! Transactions end to end, on the embedded test broker or a real cluster (`KAFKA_BOOTSTRAP`):
//! what `read_committed` and `read_uncommitted` consumers see of interleaved committed and
//! aborted transactions, fencing by a second producer with the same `transactional.id`, a
//! transaction aborted by the coordinator after `transaction.timeout.ms`, and an exactly-once
//! copier (Kafka's `TransactionalMessageCopier`) crashed and restarted mid-transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use integration_tests::{Target, target, unique_topic};
use kafka_admin::{AdminClient, NewTopic};
use kafka_consumer::{Consumer, ConsumerRecord, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use tokio::time::Instant;

const T: Duration = Duration::from_secs(30);

fn brokers(t: &Target) -> usize {
    match t {
        Target::Embedded(_) => 1,
        Target::External { brokers, .. } => *brokers,
    }
}

/// A topic with `partitions` partitions (replicated 3 times on a cluster of 3 or more), with
/// every leader known.
async fn topic(t: &Target, prefix: &str, partitions: i32) -> String {
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    let name = unique_topic(prefix);
    let rf = if brokers(t) >= 3 { 3 } else { 1 };
    let r = a.create_topics(&[NewTopic::new(name.clone(), partitions, rf)], false).await.unwrap();
    r[&name].as_ref().unwrap();
    let deadline = Instant::now() + T;
    loop {
        let d = a.describe_topics(&[name.as_str()]).await.unwrap();
        if d[&name].as_ref().is_ok_and(|t| t.partitions.iter().all(|p| p.leader.is_some())) {
            return name;
        }
        assert!(Instant::now() < deadline, "topic {name} has no leaders after {T:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn producer(bootstrap: &str, txn_id: Option<&str>, extra: &[(&str, &str)]) -> Producer {
    let mut pairs = vec![("bootstrap.servers".to_string(), bootstrap.to_string())];
    if let Some(id) = txn_id {
        pairs.push(("transactional.id".to_string(), id.to_string()));
    }
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Producer::from_pairs(pairs).unwrap()
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.clone().unwrap_or_default().to_vec()).unwrap()
}

/// Reads `topic`'s `partitions` from the beginning (no group) until `expect` records arrived,
/// then for `quiet` more to catch extras. Checks offsets grow within each partition.
async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    read_committed: bool,
    expect: usize,
    quiet: Duration,
) -> Vec<ConsumerRecord> {
    let isolation = if read_committed { "read_committed" } else { "read_uncommitted" };
    let mut c = Consumer::from_pairs([
        ("bootstrap.servers", bootstrap),
        ("isolation.level", isolation),
        ("auto.offset.reset", "earliest"),
    ])
    .unwrap();
    c.assign((0..partitions).map(|p| TopicPartition::new(topic, p)));
    let mut got: Vec<ConsumerRecord> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.len() < expect {
        assert!(
            Instant::now() < deadline,
            "{isolation}: {} of {expect} records of {topic} after 120 s",
            got.len()
        );
        got.extend(c.poll(Duration::from_millis(500)).await.unwrap());
    }
    let quiet_until = Instant::now() + quiet;
    while Instant::now() < quiet_until {
        got.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &got {
        let prev = last.insert(r.partition, r.offset);
        assert!(prev.is_none_or(|p| p < r.offset), "{isolation}: offsets go back in {topic}-{}", r.partition);
    }
    got
}

fn sorted_values(rs: &[ConsumerRecord]) -> Vec<String> {
    let mut v: Vec<String> = rs.iter().map(value).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_committed_transactions_only_read_uncommitted_sees_all() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-vis", 2).await;
    let id = unique_topic("it-txn-vis-id");
    let p = producer(&bs, Some(&id), &[]);
    let plain = producer(&bs, None, &[]);
    p.init_transactions(T).await.unwrap();
    let (mut committed, mut aborted) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let commit = round % 3 != 1; // commit, abort, commit, commit, abort, commit
        p.begin_transaction().unwrap();
        let mut futs = Vec::new();
        for partition in 0..2 {
            for i in 0..5 {
                let v = format!("{}{round}-{partition}-{i}", if commit { "c" } else { "a" });
                futs.push(p.send(ProducerRecord::new(&topic).partition(partition).value(v.clone())));
                if commit { committed.push(v) } else { aborted.push(v) }
            }
        }
        for f in futs {
            f.await.unwrap();
        }
        // a non-transactional record between the transaction's records and its marker
        let v = format!("plain{round}");
        plain.send(ProducerRecord::new(&topic).partition(round % 2).value(v.clone())).await.unwrap();
        committed.push(v);
        if commit {
            p.commit_transaction(T).await.unwrap();
        } else {
            p.abort_transaction(T).await.unwrap();
        }
    }
    // one transaction left open, with a plain record after it
    p.begin_transaction().unwrap();
    let open: Vec<String> = (0..3).map(|i| format!("open-{i}")).collect();
    for v in &open {
        p.send(ProducerRecord::new(&topic).partition(0).value(v.clone())).await.unwrap();
    }
    plain.send(ProducerRecord::new(&topic).partition(0).value("plain-after-open")).await.unwrap();

    // read_committed stops at the last stable offset: the open transaction and the plain
    // record after it stay invisible; aborted records never show
    let mut rc_expect = committed.clone();
    let got = read_all(&bs, &topic, 2, true, rc_expect.len(), Duration::from_secs(2)).await;
    rc_expect.sort();
    assert_eq!(sorted_values(&got), rc_expect);

    // read_uncommitted sees everything that was written, aborted and open included
    let mut all: Vec<String> = committed.iter().chain(&aborted).chain(&open).cloned().collect();
    all.push("plain-after-open".into());
    let got = read_all(&bs, &topic, 2, false, all.len(), Duration::from_secs(1)).await;
    all.sort();
    assert_eq!(sorted_values(&got), all);

    // committing the open transaction releases it and the plain record behind it
    p.commit_transaction(T).await.unwrap();
    rc_expect.extend(open.iter().cloned());
    rc_expect.push("plain-after-open".into());
    let got = read_all(&bs, &topic, 2, true, rc_expect.len(), Duration::from_secs(1)).await;
    rc_expect.sort();
    assert_eq!(sorted_values(&got), rc_expect);
    assert!(got.iter().all(|r| !value(r).starts_with('a')), "no aborted record is visible");
    p.close(T).await.unwrap();
    plain.close(T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-fence", 2).await;
    let id = unique_topic("it-txn-fence-id");
    let send = |p: &Producer, partition: i32, v: &str| {
        p.send(ProducerRecord::new(&topic).partition(partition).value(v.to_string()))
    };

    // 1: the zombie's next operation is commit_transaction
    let p1 = producer(&bs, Some(&id), &[]);
    p1.init_transactions(T).await.unwrap();
    p1.begin_transaction().unwrap();
    send(&p1, 0, "zombie-1").await.unwrap();
    let p2 = producer(&bs, Some(&id), &[]);
    p2.init_transactions(T).await.unwrap();
    let e = p1.commit_transaction(T).await.unwrap_err();
    assert!(e.is_fatal() && !e.is_abortable(), "commit after being fenced: {e}");
    assert!(e.to_string().contains("fenced"), "{e}");
    let e = p1.begin_transaction().unwrap_err();
    assert!(e.is_fatal(), "{e}");

    // 2: the zombie's next operation is a send to a partition not yet in its transaction
    p2.begin_transaction().unwrap();
    send(&p2, 0, "zombie-2").await.unwrap();
    let p3 = producer(&bs, Some(&id), &[]);
    p3.init_transactions(T).await.unwrap();
    let e = send(&p2, 1, "zombie-3").await.unwrap_err();
    assert!(e.is_fatal(), "send after being fenced: {e}");
    let e = p2.commit_transaction(T).await.unwrap_err();
    assert!(e.is_fatal(), "{e}");

    // 3: the zombie's next operation is a send to a partition already in its transaction
    p3.begin_transaction().unwrap();
    send(&p3, 0, "zombie-4").await.unwrap();
    let p4 = producer(&bs, Some(&id), &[]);
    p4.init_transactions(T).await.unwrap();
    let e = send(&p3, 0, "zombie-5").await.unwrap_err();
    assert!(e.is_fatal(), "produce after being fenced: {e}");

    // the newest producer works, and only its transaction is visible
    p4.begin_transaction().unwrap();
    send(&p4, 0, "live-0").await.unwrap();
    send(&p4, 1, "live-1").await.unwrap();
    p4.commit_transaction(T).await.unwrap();
    let got = read_all(&bs, &topic, 2, true, 2, Duration::from_secs(2)).await;
    assert_eq!(sorted_values(&got), ["live-0", "live-1"]);
    p4.close(T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_outliving_its_timeout_is_aborted_and_a_new_producer_carries_on() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-timeout", 1).await;
    let id = unique_topic("it-txn-timeout-id");
    let admin = AdminClient::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap();
    let p = producer(&bs, Some(&id), &[("transaction.timeout.ms", "1000")]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    for i in 0..2 {
        p.send(ProducerRecord::new(&topic).partition(0).value(format!("timed-out-{i}"))).await.unwrap();
    }
    // Kafka looks for timed-out transactions every
    // transaction.abort.timed.out.transaction.cleanup.interval.ms (10 s by default)
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let d = admin.describe_transactions(&[id.as_str()]).await.unwrap();
        let state = d[&id].as_ref().unwrap().state.clone();
        if state != "Ongoing" {
            break;
        }
        assert!(Instant::now() < deadline, "the coordinator did not abort the transaction in 40 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let e = p.commit_transaction(T).await.unwrap_err();
    assert!(e.is_fatal(), "{e}");
    assert!(e.to_string().contains("transaction.timeout.ms"), "the error names the cause: {e}");

    let p = producer(&bs, Some(&id), &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(&topic).partition(0).value("after")).await.unwrap();
    p.commit_transaction(T).await.unwrap();
    let got = read_all(&bs, &topic, 1, true, 1, Duration::from_secs(2)).await;
    assert_eq!(sorted_values(&got), ["after"]);
    let got = read_all(&bs, &topic, 1, false, 3, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 3, "the aborted records are still in the log");
    p.close(T).await.unwrap();
}

/// xorshift64*: reproducible random crash points (the seed is printed; `TXN_COPIER_SEED` sets it).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below
    }
}

/// How a copier run ends.
enum Crash {
    /// Dropped after sending the transaction's records, without waiting for them.
    AfterSend,
    /// Dropped after the records were acknowledged.
    AfterAck,
    /// Dropped after `send_offsets_to_transaction`, just before the commit.
    BeforeCommit,
}

struct Copier<'a> {
    bootstrap: &'a str,
    input: &'a str,
    output: &'a str,
    group: &'a str,
    txn_id: &'a str,
}

impl Copier<'_> {
    /// Copies until `copied` reaches `total`, or crashes (drops the producer and consumer without
    /// closing them) in the middle of the transaction holding input record number `crash_at`.
    /// Returns whether it finished.
    async fn run(&self, copied: &mut usize, total: usize, crash_at: Option<(usize, Crash)>) -> bool {
        let producer = producer(self.bootstrap, Some(self.txn_id), &[]);
        // first: fence the previous incarnation and abort its open transaction, so its
        // offsets are settled before this consumer fetches them
        producer.init_transactions(T).await.unwrap();
        let mut consumer = Consumer::from_pairs([
            ("bootstrap.servers", self.bootstrap),
            ("group.id", self.group),
            ("isolation.level", "read_committed"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
        ])
        .unwrap();
        consumer.subscribe([self.input]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while *copied < total {
            assert!(Instant::now() < deadline, "copier: {copied} of {total} after 300 s");
            let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
            if records.is_empty() {
                continue;
            }
            producer.begin_transaction().unwrap();
            let mut offsets: BTreeMap<TopicPartition, i64> = BTreeMap::new();
            let mut futs = Vec::new();
            for r in &records {
                let mut out = ProducerRecord::new(self.output).value(r.value.clone().unwrap_or_default());
                if let Some(k) = &r.key {
                    out = out.key(k.clone());
                }
                futs.push(producer.send(out));
                offsets.insert(TopicPartition::new(&r.topic, r.partition), r.offset + 1);
            }
            let crash = crash_at.as_ref().filter(|(at, _)| *copied + records.len() > *at).map(|(_, c)| c);
            if let Some(Crash::AfterSend) = crash {
                return false;
            }
            for f in futs {
                f.await.unwrap();
            }
            if let Some(Crash::AfterAck) = crash {
                return false;
            }
            producer
                .send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap())
                .await
                .unwrap();
            if let Some(Crash::BeforeCommit) = crash {
                return false;
            }
            producer.commit_transaction(T).await.unwrap();
            *copied += records.len();
        }
        producer.close(T).await.unwrap();
        consumer.close().await.unwrap();
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_copier_crashed_three_times_copies_every_record_once() {
    const N: usize = 100_000;
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let input = topic(&t, "it-txn-copy-in", 3).await;
    let output = topic(&t, "it-txn-copy-out", 3).await;
    let seed = std::env::var("TXN_COPIER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("copier crash points from TXN_COPIER_SEED={seed}");
    let mut rng = Rng(seed);

    let plain = producer(&bs, None, &[("linger.ms", "20")]);
    let futs: Vec<_> = (0..N)
        .map(|i| plain.send(ProducerRecord::new(&input).key(format!("k{i}")).value(format!("rec-{i:06}"))))
        .collect();
    for f in futs {
        f.await.unwrap();
    }
    plain.close(T).await.unwrap();

    let mut crash_points: Vec<usize> = (0..3).map(|_| 1 + rng.next(N as u64 - 1) as usize).collect();
    crash_points.sort();
    let copier = Copier {
        bootstrap: &bs,
        input: &input,
        output: &output,
        group: &unique_topic("it-txn-copier-group"),
        txn_id: &unique_topic("it-txn-copier"),
    };
    let mut copied = 0;
    for at in crash_points {
        let how = match rng.next(3) {
            0 => Crash::AfterSend,
            1 => Crash::AfterAck,
            _ => Crash::BeforeCommit,
        };
        // an earlier crash may already have passed this point
        let at = at.max(copied);
        let finished = copier.run(&mut copied, N, Some((at, how))).await;
        assert!(!finished, "the copier crashed at record {at}");
        eprintln!("copier crashed with {copied} records committed");
    }
    assert!(copier.run(&mut copied, N, None).await);
    assert_eq!(copied, N);

    let got = read_all(&bs, &output, 3, true, N, Duration::from_secs(3)).await;
    let values: Vec<String> = got.iter().map(value).collect();
    let distinct: BTreeSet<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(values.len(), N, "every record once: {} records, {} distinct", values.len(), distinct.len());
    assert_eq!(distinct.len(), N);
    assert!((0..N).all(|i| distinct.contains(format!("rec-{i:06}").as_str())));
    // the aborted attempts are in the log, invisible to read_committed
    let raw = read_all(&bs, &output, 3, false, N, Duration::from_secs(1)).await;
    eprintln!("output log holds {} records, {} of them aborted", raw.len(), raw.len() - N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_consumer_waits_for_pending_transactional_offsets() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-unstable", 1).await;
    let plain = producer(&bs, None, &[]);
    for i in 0..10 {
        plain.send(ProducerRecord::new(&topic).partition(0).value(format!("r{i}"))).await.unwrap();
    }
    let group = unique_topic("it-txn-unstable-group");
    let p = producer(&bs, Some(&unique_topic("it-txn-unstable-id")), &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    let mut offsets = BTreeMap::new();
    offsets.insert(TopicPartition::new(&topic, 0), 6i64);
    p.send_offsets_to_transaction(&offsets, &kafka_consumer::ConsumerGroupMetadata::new(&group))
        .await
        .unwrap();
    // OffsetFetch(require_stable) answers UNSTABLE_OFFSET_COMMIT until the commit: the consumer
    // retries instead of failing, and starts at the transaction's offset
    let reader = {
        let (bs, topic, group) = (bs.clone(), topic.clone(), group.clone());
        tokio::spawn(async move {
            let mut c = Consumer::from_pairs([
                ("bootstrap.servers", bs.as_str()),
                ("group.id", group.as_str()),
                ("isolation.level", "read_committed"),
                ("auto.offset.reset", "earliest"),
            ])
            .unwrap();
            c.assign([TopicPartition::new(&topic, 0)]);
            loop {
                let rs = c.poll(Duration::from_millis(200)).await.unwrap();
                if let Some(r) = rs.first() {
                    return r.offset;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!reader.is_finished(), "the consumer must not start before the offsets are stable");
    p.commit_transaction(T).await.unwrap();
    let first = tokio::time::timeout(T, reader).await.expect("the consumer starts after the commit").unwrap();
    assert_eq!(first, 6);
    p.close(T).await.unwrap();
    plain.close(T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_from_a_stale_generation_are_rejected() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-generation", 2).await;
    let group = unique_topic("it-txn-generation-group");
    let consumer = || {
        Consumer::from_pairs([
            ("bootstrap.servers", bs.as_str()),
            ("group.id", group.as_str()),
            ("isolation.level", "read_committed"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ])
        .unwrap()
    };
    let mut c1 = consumer();
    c1.subscribe([topic.as_str()]).unwrap();
    // generous: after the suite's kill -9 tests a restarted broker may still be loading the
    // group coordinator's __consumer_offsets partition (COORDINATOR_LOAD_IN_PROGRESS)
    let deadline = Instant::now() + Duration::from_secs(90);
    while c1.assignment().is_empty() {
        assert!(Instant::now() < deadline, "c1 got no assignment");
        c1.poll(Duration::from_millis(100)).await.unwrap();
    }
    let old = c1.group_metadata().unwrap();
    // c1 leaves; c2 forms the next generation alone
    c1.close().await.unwrap();
    let mut c2 = consumer();
    c2.subscribe([topic.as_str()]).unwrap();
    while c2.assignment().is_empty() {
        assert!(Instant::now() < deadline, "c2 got no assignment");
        c2.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert!(c2.group_metadata().unwrap().generation_id > old.generation_id);

    let p = producer(&bs, Some(&unique_topic("it-txn-generation-id")), &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    let mut offsets = BTreeMap::new();
    offsets.insert(TopicPartition::new(&topic, 0), 1i64);
    // KIP-447: a consumer that missed a rebalance is a zombie; its offsets are refused
    let e = p.send_offsets_to_transaction(&offsets, &old).await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_abortable() && (msg.contains("IllegalGeneration") || msg.contains("UnknownMember")), "{e}");
    p.abort_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&offsets, &c2.group_metadata().unwrap()).await.unwrap();
    p.commit_transaction(T).await.unwrap();
    p.close(T).await.unwrap();
    c2.close().await.unwrap();
}

/// The cluster's finalized `transaction.version` (ApiVersions v3+), 0 when not reported.
async fn transaction_version(bootstrap: &str) -> i16 {
    use kafka_client::{ClientConfig, NetworkClient, Purpose};
    let cfg = ClientConfig::builder().bootstrap_servers(bootstrap.split(',')).build().unwrap();
    let pool = NetworkClient::new(cfg);
    let node = pool.least_loaded_node().expect("a bootstrap node");
    let conn = pool.connection(node, Purpose::Admin).await.unwrap();
    conn.api_versions().finalized_feature("transaction.version").unwrap_or(0)
}

/// Transactions v2 (KIP-890) where the cluster finalizes `transaction.version` 2 (the test
/// broker's default, and a Kafka 4.x cluster formatted fresh): every commit and abort bumps
/// the producer epoch, which the coordinator reports; under v1 the epoch stays.
#[tokio::test]
async fn every_transaction_bumps_the_epoch_under_transactions_v2() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let tv = transaction_version(&bs).await;
    eprintln!("cluster transaction.version = {tv}");
    if let Target::External { .. } = t {
        // Kafka 4.x formats a new cluster at the newest transaction.version
        assert!(tv >= 2, "the real cluster finalizes transaction.version {tv}");
    }
    let topic = topic(&t, "it-txn-v2", 1).await;
    let id = unique_topic("it-txn-v2-id");
    let p = producer(&bs, Some(&id), &[]);
    let admin = AdminClient::from_pairs([("bootstrap.servers", bs.as_str())]).unwrap();
    let epoch = || async {
        let d = admin.describe_transactions(&[id.as_str()]).await.unwrap();
        let d = d[&id].as_ref().unwrap();
        (d.producer_id, d.producer_epoch)
    };
    p.init_transactions(T).await.unwrap();
    let (pid, first) = epoch().await;
    for (i, commit) in [true, false, true].into_iter().enumerate() {
        p.begin_transaction().unwrap();
        p.send(ProducerRecord::new(&topic).value(format!("r{i}"))).await.unwrap();
        if commit {
            p.commit_transaction(T).await.unwrap();
        } else {
            p.abort_transaction(T).await.unwrap();
        }
        let expected = if tv >= 2 { first + i as i16 + 1 } else { first };
        assert_eq!(epoch().await, (pid, expected), "after transaction {i} (transaction.version {tv})");
    }
    let got = read_all(&bs, &topic, 1, true, 2, Duration::from_millis(500)).await;
    assert_eq!(sorted_values(&got), ["r0", "r2"]);
    p.close(T).await.unwrap();
}

/// An abort of a transaction whose records never left the producer (a long linger): the
/// coordinator never heard of it. Then a commit of one that did. Both must work on every
/// protocol, right after `init_transactions` and after a completed transaction.
#[tokio::test]
async fn aborting_a_transaction_nothing_was_sent_in() {
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-unsent", 1).await;
    let id = unique_topic("it-txn-unsent-id");
    let p = producer(&bs, Some(&id), &[("linger.ms", "60000")]);
    p.init_transactions(T).await.unwrap();
    for round in 0..2 {
        p.begin_transaction().unwrap();
        let unsent = p.send(ProducerRecord::new(&topic).value(format!("aborted-{round}")));
        // the sender sees the partition (v1 adds it; v2 counts the transaction as started)
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.abort_transaction(T).await.unwrap();
        assert!(unsent.await.is_err(), "round {round}: the unsent record fails with the abort");
        p.begin_transaction().unwrap();
        let sent = p.send(ProducerRecord::new(&topic).value(format!("kept-{round}")));
        p.commit_transaction(T).await.unwrap();
        sent.await.unwrap();
    }
    let got = read_all(&bs, &topic, 1, true, 2, Duration::from_millis(500)).await;
    assert_eq!(sorted_values(&got), ["kept-0", "kept-1"]);
    p.close(T).await.unwrap();
}

/// The jars of the Kafka release `kafka.sh` resolved (`$KAFKA_CACHE_DIR/kafka-$KAFKA_VERSION/
/// libs`), if they and `java` are there.
fn kafka_libs() -> Option<std::path::PathBuf> {
    let cache = std::env::var("KAFKA_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| std::path::Path::new(&h).join(".cache/kafka-sdk")))
        .ok()?;
    let version = std::env::var("KAFKA_VERSION").unwrap_or_else(|_| "4.3.1".into());
    let libs = cache.join(format!("kafka-{version}/libs"));
    let java = std::process::Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
    (java && libs.join(format!("kafka-clients-{version}.jar")).exists()).then_some(libs)
}

/// Runs integration-tests/java/ConsumeAll.java and returns the values it printed, sorted.
async fn java_consume(
    libs: &std::path::Path,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
    expect: usize,
) -> Vec<String> {
    let program = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("java/ConsumeAll.java");
    let args = [
        "-cp".to_string(),
        format!("{}/*", libs.display()),
        program.display().to_string(),
        bootstrap.to_string(),
        topic.to_string(),
        partitions.to_string(),
        isolation.to_string(),
        expect.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("java").args(args).output())
        .await
        .unwrap()
        .expect("running java");
    assert!(out.status.success(), "java failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut values: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("REC "))
        .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default().to_string())
        .collect();
    values.sort();
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_consumer_reads_exactly_our_committed_records() {
    let Some(libs) = kafka_libs() else {
        eprintln!("skipped: needs java and the Kafka jars kafka.sh fetches");
        return;
    };
    let Some(t) = target(1).await else { return };
    let bs = t.bootstrap();
    let topic = topic(&t, "it-txn-java", 2).await;
    let p = producer(&bs, Some(&unique_topic("it-txn-java-id")), &[]);
    p.init_transactions(T).await.unwrap();
    let (mut committed, mut all) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let commit = round % 2 == 0;
        p.begin_transaction().unwrap();
        for partition in 0..2 {
            for i in 0..4 {
                let v = format!("{}{round}-{partition}-{i}", if commit { "c" } else { "a" });
                p.send(ProducerRecord::new(&topic).partition(partition).value(v.clone())).await.unwrap();
                all.push(v.clone());
                if commit {
                    committed.push(v);
                }
            }
        }
        if commit {
            p.commit_transaction(T).await.unwrap();
        } else {
            p.abort_transaction(T).await.unwrap();
        }
    }
    // an open transaction at the end: below the LSO for nobody
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(&topic).partition(1).value("open")).await.unwrap();
    all.push("open".into());
    committed.sort();
    all.sort();
    let got = java_consume(&libs, &bs, &topic, 2, "read_committed", committed.len()).await;
    assert_eq!(got, committed, "Java read_committed sees exactly the committed records");
    let got = java_consume(&libs, &bs, &topic, 2, "read_uncommitted", all.len()).await;
    assert_eq!(got, all, "Java read_uncommitted sees every record");
    p.abort_transaction(T).await.unwrap();
    p.close(T).await.unwrap();
}
