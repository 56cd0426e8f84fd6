//! Quickstart: start an embedded 3-broker Kafka-compatible cluster, produce keyed records
//! with the producer, and read them back with the consumer.
//!
//! `cargo run -p examples --example quickstart`
//! (set `KAFKA_BOOTSTRAP=host:port` to use a real cluster with a topic named `quickstart`
//! of 3 partitions instead of the embedded one).

#![allow(clippy::print_stdout)] // an example prints what it does

use std::time::Duration;

use kafka_consumer::{Consumer, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. a cluster: the embedded test broker (in this process), or yours
    let embedded;
    let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            embedded = TestCluster::builder().brokers(3).topic("quickstart", 3, 3).start().await?;
            embedded.bootstrap_servers()
        }
    };
    println!("cluster at {bootstrap}");

    // 2. produce: send() enqueues at once; awaiting the future waits for the acknowledgement
    let producer = Producer::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("compression.type", "zstd"),
        ("linger.ms", "5"),
    ])?;
    let futures = producer.send_all((0..9).map(|i| {
        ProducerRecord::new("quickstart").key(format!("user-{}", i % 3)).value(format!("event {i}"))
    }));
    for f in futures {
        let m = f.await?;
        println!("produced {}-{}@{}", m.topic, m.partition, m.offset);
    }
    producer.close(Duration::from_secs(5)).await?;

    // 3. consume every partition from the beginning
    let mut consumer =
        Consumer::from_pairs([("bootstrap.servers", bootstrap.as_str()), ("auto.offset.reset", "earliest")])?;
    consumer.assign((0..3).map(|p| TopicPartition::new("quickstart", p)));
    let mut seen = 0;
    while seen < 9 {
        for r in consumer.poll(Duration::from_secs(1)).await? {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            println!("consumed {}-{}@{}: {key} = {value}", r.topic, r.partition, r.offset);
            seen += 1;
        }
    }
    consumer.close().await?;
    println!("done: 9 records produced and consumed");
    Ok(())
}
