//! Observability and commit hooks against the embedded test broker: metrics that move with
//! fetches, commits and rebalances; `commit_async` (sent unawaited, ordered); interceptors
//! (filtering, order, errors and panics contained, `on_commit`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kafka_consumer::{
    Consumer, ConsumerInterceptor, ConsumerRecord, InterceptorError, OffsetAndMetadata, TopicPartition,
};
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;
use tokio::time::Instant;

async fn setup(topic: &str, per_partition: &[usize]) -> TestCluster {
    let c =
        TestCluster::builder().brokers(1).topic(topic, per_partition.len() as i32, 1).start().await.unwrap();
    let p = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    let futs = p.send_all(per_partition.iter().enumerate().flat_map(|(part, n)| {
        (0..*n).map(move |i| ProducerRecord::new(topic).partition(part as i32).value(format!("v-{part}-{i}")))
    }));
    for f in futs {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    c
}

fn consumer(c: &TestCluster, extra: &[(&str, &str)]) -> Consumer {
    let mut pairs = vec![
        ("bootstrap.servers".to_string(), c.bootstrap_servers()),
        ("auto.offset.reset".to_string(), "earliest".to_string()),
        ("fetch.max.wait.ms".to_string(), "50".to_string()),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    Consumer::from_pairs(pairs).unwrap()
}

async fn poll_until(c: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} records arrived", out.len());
        out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_fetches_commits_and_rebalances() {
    let c = setup("m", &[60, 40]).await;
    let mut con = consumer(
        &c,
        &[("group.id", "g-metrics"), ("max.poll.records", "10"), ("enable.auto.commit", "false")],
    );
    let m0 = con.metrics();
    assert_eq!((m0.records_consumed_total, m0.fetch_total, m0.rebalance_total), (0, 0, 0));
    assert_eq!(m0.fetch_latency_avg, None);
    con.subscribe(["m"]).unwrap();
    let first = poll_until(&mut con, 1).await;
    let m1 = con.metrics();
    assert_eq!(m1.rebalance_total, 1, "{m1:?}");
    assert!(m1.last_rebalance_latency.is_some() && m1.last_rebalance_ago.is_some());
    assert_eq!(m1.assigned_partitions, 2);
    assert_eq!(m1.records_consumed_total, first.len() as u64);
    assert!(m1.fetch_total >= 1 && m1.fetch_rate > 0.0, "{m1:?}");
    assert!(m1.fetch_latency_avg.is_some() && m1.fetch_latency_max >= m1.fetch_latency_avg);
    assert!(m1.bytes_consumed_total > 0 && m1.bytes_consumed_rate > 0.0);
    // lag: high watermark minus position, per fetched partition
    let tp = TopicPartition::new("m", first[0].partition);
    let end = if tp.partition == 0 { 60 } else { 40 };
    let pos = con.position(&tp).await.unwrap();
    assert_eq!(con.metrics().records_lag[&tp], end - pos, "{:?}", con.metrics().records_lag);
    assert!(con.metrics().records_lag_max.unwrap() > 0);

    let rest = poll_until(&mut con, 100 - first.len()).await;
    let m2 = con.metrics();
    assert_eq!(m2.records_consumed_total, 100);
    assert!(m2.records_consumed_rate > 0.0);
    assert!(m2.fetch_total >= m1.fetch_total);
    assert!(m2.bytes_consumed_total >= m1.bytes_consumed_total);
    assert_eq!(rest.len() + first.len(), 100);
    // every record consumed: no lag anywhere
    assert_eq!(m2.records_lag.len(), 2, "{m2:?}");
    assert!(m2.records_lag.values().all(|l| *l == 0), "{m2:?}");
    assert_eq!(m2.records_lag_max, Some(0));

    assert_eq!(m2.commit_total, 0);
    con.commit_sync(None).await.unwrap();
    let m3 = con.metrics();
    assert_eq!(m3.commit_total, 1);
    assert!(m3.commit_latency_avg.is_some() && m3.commit_latency_max.is_some());
    con.close().await.unwrap();
    c.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_async_goes_out_unawaited_and_in_order() {
    let c = setup("a", &[10]).await;
    let tp = TopicPartition::new("a", 0);
    let mut con = consumer(&c, &[("group.id", "g-async"), ("enable.auto.commit", "false")]);
    con.assign([tp.clone()]);
    // many commits, none awaited but the last: the last one made is the one that stays
    for offset in 1..=40 {
        drop(con.commit_async(Some(BTreeMap::from([(tp.clone(), offset.into())]))));
    }
    con.commit_async(Some(BTreeMap::from([(tp.clone(), 3.into())]))).await.unwrap();
    assert_eq!(c.committed_offset("g-async", "a", 0), Some(3), "commits were reordered");
    // a commit nobody awaits still reaches the coordinator
    drop(con.commit_async(Some(BTreeMap::from([(tp.clone(), 7.into())]))));
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.committed_offset("g-async", "a", 0) != Some(7) {
        assert!(Instant::now() < deadline, "the unawaited commit never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // positions: the default commits them, with a sync commit ordered behind async ones
    con.seek(&tp, 0).unwrap();
    poll_until(&mut con, 10).await;
    drop(con.commit_async(None));
    con.commit_sync(Some(BTreeMap::from([(tp.clone(), 9.into())]))).await.unwrap();
    assert_eq!(c.committed_offset("g-async", "a", 0), Some(9));
    con.commit_async(None).await.unwrap();
    assert_eq!(
        con.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp].as_ref().map(|o| o.offset),
        Some(10)
    );
    // without a group the handle reports the error
    let mut plain = consumer(&c, &[]);
    plain.assign([tp.clone()]);
    assert!(plain.commit_async(Some(BTreeMap::from([(tp.clone(), 1.into())]))).await.is_err());
    con.close().await.unwrap();
    c.shutdown();
}

/// Records what each interceptor saw, in call order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

struct DropOdd(Arc<Log>);

impl ConsumerInterceptor for DropOdd {
    fn on_consume(&self, records: &mut Vec<ConsumerRecord>) -> Result<(), InterceptorError> {
        self.0.0.lock().unwrap().push(format!("drop-odd saw {}", records.len()));
        records.retain(|r| r.offset % 2 == 0);
        Ok(())
    }
    fn on_commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), InterceptorError> {
        let offsets: Vec<i64> = offsets.values().map(|o| o.offset).collect();
        self.0.0.lock().unwrap().push(format!("drop-odd commit {offsets:?}"));
        Ok(())
    }
}

struct Failing(Arc<Log>);

impl ConsumerInterceptor for Failing {
    fn on_consume(&self, records: &mut Vec<ConsumerRecord>) -> Result<(), InterceptorError> {
        self.0.0.lock().unwrap().push(format!("failing saw {}", records.len()));
        if records.iter().any(|r| r.offset == 4) {
            panic!("an interceptor bug");
        }
        Err("on_consume refuses".into())
    }
    fn on_commit(&self, _: &BTreeMap<TopicPartition, OffsetAndMetadata>) -> Result<(), InterceptorError> {
        self.0.0.lock().unwrap().push("failing commit".into());
        Err("on_commit refuses".into())
    }
    fn on_close(&self) {
        self.0.0.lock().unwrap().push("failing close".into());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_filter_in_order_and_their_errors_stay_contained() {
    let c = setup("i", &[10]).await;
    let tp = TopicPartition::new("i", 0);
    let log = Arc::new(Log::default());
    let mut con =
        consumer(&c, &[("group.id", "g-int"), ("enable.auto.commit", "false"), ("max.poll.records", "4")]);
    con.add_interceptor(DropOdd(log.clone()));
    con.add_interceptor(Failing(log.clone()));
    con.assign([tp.clone()]);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while con.position(&tp).await.unwrap() < 8 {
        assert!(Instant::now() < deadline);
        got.extend(con.poll(Duration::from_millis(200)).await.unwrap().into_iter().map(|r| r.offset));
    }
    assert_eq!(got, [0, 2, 4, 6], "odd offsets filtered, positions still advanced");
    {
        let log = log.0.lock().unwrap();
        let consume: Vec<&String> = log.iter().filter(|l| l.contains("saw")).collect();
        assert_eq!(
            consume,
            ["drop-odd saw 4", "failing saw 2", "drop-odd saw 4", "failing saw 2"],
            "chained in order"
        );
    }
    // the stream runs them per record (the panic at offset 4 is behind us)
    let rest: Vec<i64> = con.stream().take(1).map(|r| r.unwrap().offset).collect().await;
    assert_eq!(rest, [8], "offset 9 would be filtered; 8 is the next even one");
    con.commit_sync(None).await.unwrap();
    assert_eq!(c.committed_offset("g-int", "i", 0), Some(9));
    con.close().await.unwrap();
    let log = log.0.lock().unwrap();
    let tail: Vec<&String> = log.iter().filter(|l| !l.contains("saw")).collect();
    assert_eq!(tail, ["drop-odd commit [9]", "failing commit", "failing close"]);
    c.shutdown();
}
