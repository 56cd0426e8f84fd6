//! Quickstart: an embedded 3-broker Kafka-compatible cluster in this process, a topic created
//! with the admin client, 1,000,000 records produced by the idempotent producer while a group
//! of 3 consumers consumes them, offsets committed, and a check that every record arrived
//! exactly once.
//!
//! `cargo run --release -p examples --example quickstart`
//! (`QUICKSTART_RECORDS=N` changes the count; `KAFKA_BOOTSTRAP=host:port` uses a real
//! cluster instead of the embedded one.)

#![allow(clippy::print_stdout)] // an example prints what it does

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_admin::{AdminClient, NewTopic};
use kafka_consumer::Consumer;
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;

const PARTITIONS: i32 = 6;
const CONSUMERS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let total: u64 =
        std::env::var("QUICKSTART_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let topic = format!("quickstart-{}", std::process::id());

    // 1. a cluster: the embedded test broker (in this process, 3 brokers), or yours
    let embedded;
    let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            embedded = TestCluster::builder().brokers(3).auto_create_topics(false).start().await?;
            embedded.bootstrap_servers()
        }
    };
    println!("cluster at {bootstrap}");

    // 2. a topic, created with the admin client
    let admin = AdminClient::from_pairs([("bootstrap.servers", bootstrap.as_str())])?;
    for (name, result) in admin.create_topics(&[NewTopic::new(&topic, PARTITIONS, 3)], false).await? {
        result?;
        println!("created topic {name} ({PARTITIONS} partitions, replication factor 3)");
    }

    // 3. a group of consumers, each on its own task; they record which value they saw
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..total.div_ceil(64)).map(|_| AtomicU64::new(0)).collect());
    let consumed = Arc::new(AtomicU64::new(0));
    let duplicates = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut members = Vec::new();
    for i in 0..CONSUMERS {
        let mut consumer = Consumer::from_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", "quickstart"),
            ("client.id", &format!("quickstart-consumer-{i}")),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "2000"),
        ])?;
        consumer.subscribe([topic.as_str()])?;
        let (seen, consumed, duplicates, stop) =
            (seen.clone(), consumed.clone(), duplicates.clone(), stop.clone());
        members.push(tokio::spawn(async move {
            let mut mine = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for r in consumer.poll(Duration::from_millis(100)).await? {
                    let n = parse_number(r.value.as_deref().unwrap_or_default());
                    let Some(slot) = seen.get((n / 64) as usize) else { continue };
                    if slot.fetch_or(1 << (n % 64), Ordering::Relaxed) & (1 << (n % 64)) != 0 {
                        duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    consumed.fetch_add(1, Ordering::Relaxed);
                    mine += 1;
                }
            }
            consumer.commit_sync(None).await?;
            let assignment = consumer.assignment().len();
            consumer.close().await?;
            Ok::<_, kafka_consumer::Error>((mine, assignment))
        }));
    }

    // 4. produce with the idempotent producer (the default), fire-and-forget with a final flush
    let producer = Producer::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("compression.type", "lz4"),
        ("linger.ms", "5"),
        ("batch.size", "65536"),
    ])?;
    let start = Instant::now();
    let progress = {
        let consumed = consumed.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                println!(
                    "  {:>5.1}s  consumed {:>9} of {total}",
                    start.elapsed().as_secs_f64(),
                    consumed.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut delivery = Vec::new();
    for chunk_start in (0..total).step_by(10_000) {
        let end = (chunk_start + 10_000).min(total);
        delivery.extend(producer.send_all((chunk_start..end).map(|n| {
            ProducerRecord::new(topic.as_str())
                .key(format!("key-{}", n % 1000))
                .value(format!("record {n:>9}"))
        })));
        // keep the number of pending acknowledgement futures bounded
        if delivery.len() >= 200_000 {
            for f in delivery.drain(..) {
                f.await?;
            }
        }
    }
    for f in delivery {
        f.await?;
    }
    producer.flush().await;
    let produced_in = start.elapsed();
    println!(
        "produced {total} records in {:.2}s ({:.0} records/s)",
        produced_in.as_secs_f64(),
        total as f64 / produced_in.as_secs_f64()
    );

    // 5. wait for the group to consume everything, then stop, commit and leave
    let deadline = Instant::now() + Duration::from_secs(120);
    while consumed.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let consumed_in = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    progress.abort();
    let mut per_member = Vec::new();
    for m in members {
        per_member.push(m.await??);
    }
    producer.close(Duration::from_secs(5)).await?;

    // 6. verify: every record exactly once, and the group's committed offsets at the end
    let missing: u64 = (0..total)
        .filter(|n| seen[(n / 64) as usize].load(Ordering::Relaxed) & (1 << (n % 64)) == 0)
        .count() as u64;
    let dups = duplicates.load(Ordering::Relaxed);
    let group = admin.list_offsets_end(&topic, PARTITIONS).await?;
    let committed =
        Consumer::from_pairs([("bootstrap.servers", bootstrap.as_str()), ("group.id", "quickstart")])?
            .committed(
                &(0..PARTITIONS).map(|p| kafka_consumer::TopicPartition::new(&topic, p)).collect::<Vec<_>>(),
            )
            .await?;
    let committed_total: i64 = committed.values().map(|o| o.as_ref().map_or(0, |o| o.offset)).sum();
    for (i, (n, partitions)) in per_member.iter().enumerate() {
        println!("consumer {i}: {n} records, {partitions} partitions at the end");
    }
    println!(
        "consumed {} records in {:.2}s ({:.0} records/s end to end)",
        consumed.load(Ordering::Relaxed),
        consumed_in.as_secs_f64(),
        total as f64 / consumed_in.as_secs_f64()
    );
    println!("committed offsets sum to {committed_total} (log end offsets sum to {group})");
    if missing == 0 && dups == 0 && committed_total == group {
        println!("verified: all {total} records consumed exactly once by the group of {CONSUMERS}");
        Ok(())
    } else {
        Err(format!("verification FAILED: {missing} missing, {dups} duplicates, committed {committed_total} of {group}").into())
    }
}

/// The record number in "record NNNNNNNNN".
fn parse_number(value: &[u8]) -> u64 {
    value.iter().skip(7).filter(|b| b.is_ascii_digit()).fold(0, |n, b| n * 10 + u64::from(b - b'0'))
}

/// Sums the log end offsets of a topic's partitions.
trait EndOffsets {
    async fn list_offsets_end(&self, topic: &str, partitions: i32) -> Result<i64, kafka_admin::Error>;
}

impl EndOffsets for AdminClient {
    async fn list_offsets_end(&self, topic: &str, partitions: i32) -> Result<i64, kafka_admin::Error> {
        let spec: std::collections::BTreeMap<_, _> = (0..partitions)
            .map(|p| (kafka_admin::TopicPartition::new(topic, p), kafka_admin::OffsetSpec::Latest))
            .collect();
        let mut sum = 0;
        for (_, r) in self.list_offsets(&spec).await? {
            sum += r?.offset;
        }
        Ok(sum)
    }
}
