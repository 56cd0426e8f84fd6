//! Producer throughput, ours against librdkafka, in one process with alternating rounds.
//!
//! `cd benchmarks/producer && cargo run --release -- [RECORDS] [ROUNDS] [VALUE_BYTES]`
//!
//! Each round produces RECORDS unkeyed records of VALUE_BYTES to a fresh 3-partition topic and
//! waits until every one is acknowledged (acks=all, idempotence on, linger.ms=5,
//! batch.size=16384, no compression — the Java defaults, set identically on both). The
//! target is `KAFKA_BOOTSTRAP` when set, else a 1-broker embedded test broker running on its
//! own runtime thread. Prints each round and the medians.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use kafka_producer::{Producer, ProducerRecord};
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts librdkafka's delivery reports, so its run is checked like ours.
#[derive(Default)]
struct Counting {
    ok: AtomicUsize,
    failed: AtomicUsize,
}
impl ClientContext for Counting {}
impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let c = if r.is_ok() { &self.ok } else { &self.failed };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let size: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);

    let (bootstrap, _broker) = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) => (b, None),
        Err(_) => {
            let (tx, rx) = std::sync::mpsc::channel();
            let handle = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let c = kafka_test_broker::TestCluster::builder()
                        .brokers(1)
                        .default_partitions(3)
                        .start()
                        .await
                        .unwrap();
                    tx.send(c.bootstrap_servers()).unwrap();
                    std::future::pending::<()>().await;
                });
            });
            (rx.recv().unwrap(), Some(handle))
        }
    };
    println!("target {bootstrap}: {records} records × {size} B, {rounds} alternating rounds");
    let value = vec![b'v'; size];
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let t = rt.block_on(run_ours(&bootstrap, &format!("ours-{round}"), records, &value));
        ours.push(t);
        let t = run_rdkafka(&bootstrap, &format!("rdkafka-{round}"), records, &value);
        theirs.push(t);
        println!(
            "round {round}: kafka-producer {:>9.0} rec/s   librdkafka {:>9.0} rec/s",
            rate(records, ours[round]),
            rate(records, theirs[round])
        );
    }
    let (mo, mt) = (median(&mut ours), median(&mut theirs));
    println!(
        "median: kafka-producer {:.0} rec/s ({:.1} MB/s), librdkafka {:.0} rec/s ({:.1} MB/s), ratio {:.2}",
        rate(records, mo),
        rate(records * size, mo) / 1e6,
        rate(records, mt),
        rate(records * size, mt) / 1e6,
        mt.as_secs_f64() / mo.as_secs_f64()
    );
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

const SETTINGS: [(&str, &str); 4] =
    [("acks", "all"), ("enable.idempotence", "true"), ("linger.ms", "5"), ("batch.size", "16384")];

async fn run_ours(bootstrap: &str, topic: &str, records: usize, value: &[u8]) -> Duration {
    let mut cfg = vec![("bootstrap.servers", bootstrap)];
    cfg.extend(SETTINGS);
    let p = Producer::from_pairs(cfg).unwrap();
    // warm metadata and connections, outside the timing (rdkafka gets the same below)
    p.send(ProducerRecord::new(topic).value("warm-up")).await.unwrap();
    let value = bytes_of(value);
    let start = Instant::now();
    for _ in 0..records {
        let _ = p.send(ProducerRecord::new(topic).value(value.clone()));
    }
    p.flush().await;
    let t = start.elapsed();
    let m = p.metrics();
    assert_eq!((m.records_sent as usize, m.record_errors), (records + 1, 0), "every record acknowledged");
    p.close(Duration::from_secs(10)).await.unwrap();
    t
}

fn bytes_of(v: &[u8]) -> kafka_producer_bytes::Bytes {
    kafka_producer_bytes::Bytes::copy_from_slice(v)
}

mod kafka_producer_bytes {
    pub use ::bytes_crate::Bytes;
}

fn run_rdkafka(bootstrap: &str, topic: &str, records: usize, value: &[u8]) -> Duration {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap).set("queue.buffering.max.messages", "1000000");
    for (k, v) in SETTINGS {
        cfg.set(k, v);
    }
    let p: ThreadedProducer<Counting> = cfg.create_with_context(Counting::default()).unwrap();
    p.send(BaseRecord::<(), [u8]>::to(topic).payload(b"warm-up")).map_err(|(e, _)| e).unwrap();
    p.flush(Duration::from_secs(30)).unwrap();
    let start = Instant::now();
    for _ in 0..records {
        let mut rec = BaseRecord::<(), [u8]>::to(topic).payload(value);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    // queue full: let the background thread drain
                    std::thread::sleep(Duration::from_micros(100));
                    rec = r;
                }
            }
        }
    }
    p.flush(Duration::from_secs(120)).unwrap();
    let t = start.elapsed();
    let c = p.context();
    assert_eq!(
        (c.ok.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed)),
        (records + 1, 0),
        "every record acknowledged"
    );
    t
}
