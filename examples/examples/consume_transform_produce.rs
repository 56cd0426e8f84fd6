//! Exactly-once consume-transform-produce: reads topic A with `read_committed` as a member of
//! a group, upper-cases each value, and writes topic B in transactions that also carry the
//! consumed offsets (`send_offsets_to_transaction`), so output and input progress commit
//! together. Runs against the embedded test broker, or the cluster in `KAFKA_BOOTSTRAP`.
//!
//! `cargo run -p examples --example consume_transform_produce`

#![allow(clippy::print_stdout)] // an example prints what it does

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_consumer::{Consumer, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_test_broker::TestCluster;

const RECORDS: usize = 1000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (a, b) = (format!("ctp-in-{}", std::process::id()), format!("ctp-out-{}", std::process::id()));
    let embedded;
    let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            embedded = TestCluster::builder().brokers(1).topic(&a, 3, 1).topic(&b, 3, 1).start().await?;
            embedded.bootstrap_servers()
        }
    };
    // some input
    let input = Producer::from_pairs([("bootstrap.servers", bootstrap.as_str())])?;
    for i in 0..RECORDS {
        input.send(ProducerRecord::new(&a).key(format!("{i}")).value(format!("record {i}")));
    }
    input.flush().await;

    let mut consumer = Consumer::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "ctp"),
        ("isolation.level", "read_committed"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ])?;
    consumer.subscribe([a.as_str()])?;
    let producer = Producer::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("transactional.id", "ctp-copier"),
    ])?;
    let t = Duration::from_secs(30);
    producer.init_transactions(t).await?;
    let mut copied = 0;
    while copied < RECORDS {
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction()?;
        let mut offsets: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for r in &records {
            let value = r.value.as_deref().map(|v| String::from_utf8_lossy(v).to_uppercase());
            let mut out = ProducerRecord::new(&b).value(value.unwrap_or_default());
            if let Some(k) = &r.key {
                out = out.key(k.clone());
            }
            producer.send(out);
            offsets.insert(TopicPartition::new(&r.topic, r.partition), r.offset + 1);
        }
        producer.send_offsets_to_transaction(&offsets, &consumer.group_metadata()?).await?;
        match producer.commit_transaction(t).await {
            Ok(()) => copied += records.len(),
            Err(e) if e.is_abortable() => {
                // the batch is consumed again after a rewind in a real program; here we stop
                producer.abort_transaction(t).await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!("copied {copied} records from {a} to {b} exactly once");
    producer.close(t).await?;
    Ok(())
}
