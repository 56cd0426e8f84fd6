//! consumer-perf: consume a pre-filled topic from the beginning to the end, ours against
//! librdkafka, in alternating rounds; records/s, MB/s and client CPU seconds per million
//! records (like kafka-consumer-perf-test).
//!
//! `cd benchmarks/consumer && cargo run --release -- [RECORDS] [VALUE_BYTES] [COMPRESSION] [ROUNDS]`
//!
//! The broker is the embedded test broker in a child process (`consumer-perf --broker`), so
//! the CPU time measured in this process (getrusage around each round) is the client's
//! alone; with `KAFKA_BOOTSTRAP` set, that cluster is used instead. The topic has 6
//! partitions and is filled once with the producer (COMPRESSION: none, lz4, zstd, ...).
//! Both clients use manual assignment of every partition from the beginning and their
//! defaults otherwise.
#![allow(clippy::print_stdout)]

use std::io::BufRead;
use std::time::{Duration, Instant};

use kafka_consumer::{Consumer, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--broker") {
        // SAFETY: prctl with PR_SET_PDEATHSIG only sets a signal number for this process.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = kafka_test_broker::TestCluster::builder().brokers(1).start().await.unwrap();
            println!("bootstrap: {}", c.bootstrap_servers());
            std::future::pending::<()>().await;
        });
        return;
    }
    let records: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let compression = args.get(3).cloned().unwrap_or_else(|| "none".into());
    let rounds: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(5);

    let mut child = None;
    let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            let mut c = std::process::Command::new(std::env::current_exe().unwrap())
                .arg("--broker")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufReader::new(c.stdout.take().unwrap()).read_line(&mut line).unwrap();
            child = Some(c);
            line.trim().trim_start_matches("bootstrap: ").to_owned()
        }
    };
    let topic = format!("perf-{size}-{compression}-{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    rt.block_on(fill(&bootstrap, &topic, records, size, &compression));
    println!(
        "target {bootstrap}: topic {topic}, {records} records × {size} B, compression {compression}, filled in {:.1}s; {rounds} alternating rounds",
        t.elapsed().as_secs_f64()
    );
    let mb = (records * size) as f64 / 1e6;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let n = rt.block_on(consume_ours(&bootstrap, &topic, records));
        let ours_r = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        assert_eq!(n, records, "ours consumed {n}");
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let n = consume_rdkafka(&bootstrap, &topic, records);
        let theirs_r = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        assert_eq!(n, records, "librdkafka consumed {n}");
        println!(
            "round {round}: kafka-consumer {:>9.0} rec/s {:>7.1} MB/s {:.2} cpu-s/M   librdkafka {:>9.0} rec/s {:>7.1} MB/s {:.2} cpu-s/M",
            records as f64 / ours_r.0,
            mb / ours_r.0,
            ours_r.1 / records as f64 * 1e6,
            records as f64 / theirs_r.0,
            mb / theirs_r.0,
            theirs_r.1 / records as f64 * 1e6,
        );
        ours.push(ours_r);
        theirs.push(theirs_r);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut ot, mut oc): (Vec<f64>, Vec<f64>) = ours.iter().copied().unzip();
    let (mut tt, mut tc): (Vec<f64>, Vec<f64>) = theirs.iter().copied().unzip();
    let (ot, oc, tt, tc) = (med(&mut ot), med(&mut oc), med(&mut tt), med(&mut tc));
    println!(
        "median: kafka-consumer {:.0} rec/s {:.1} MB/s {:.2} cpu-s/M | librdkafka {:.0} rec/s {:.1} MB/s {:.2} cpu-s/M | throughput ratio {:.2}x, CPU-per-record ratio {:.2}x",
        records as f64 / ot,
        mb / ot,
        oc / records as f64 * 1e6,
        records as f64 / tt,
        mb / tt,
        tc / records as f64 * 1e6,
        tt / ot,
        (oc / records as f64) / (tc / records as f64),
    );
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}

async fn fill(bootstrap: &str, topic: &str, records: usize, size: usize, compression: &str) {
    let admin = kafka_admin::AdminClient::from_pairs([("bootstrap.servers", bootstrap)]).unwrap();
    for (_, r) in admin.create_topics(&[kafka_admin::NewTopic::new(topic, PARTITIONS, 1)], false).await.unwrap() {
        r.unwrap();
    }
    let p = Producer::from_pairs([
        ("bootstrap.servers", bootstrap),
        ("compression.type", compression),
        ("linger.ms", "20"),
        ("batch.size", "262144"),
    ])
    .unwrap();
    let value = vec![b'v'; size];
    let mut pending = Vec::new();
    for i in 0..records {
        pending.push(p.send(ProducerRecord::new(topic).partition((i % PARTITIONS as usize) as i32).value(value.clone())));
        if pending.len() >= 100_000 {
            for f in pending.drain(..) {
                f.await.unwrap();
            }
        }
    }
    for f in pending {
        f.await.unwrap();
    }
    p.close(Duration::from_secs(10)).await.unwrap();
}

async fn consume_ours(bootstrap: &str, topic: &str, records: usize) -> usize {
    let mut c = Consumer::from_pairs([("bootstrap.servers", bootstrap), ("auto.offset.reset", "earliest")]).unwrap();
    c.assign((0..PARTITIONS).map(|p| TopicPartition::new(topic, p)));
    let (mut n, mut bytes) = (0usize, 0usize);
    while n < records {
        for r in c.poll(Duration::from_secs(1)).await.unwrap() {
            bytes += r.value.as_ref().map_or(0, |v| v.len());
            n += 1;
        }
    }
    std::hint::black_box(bytes);
    c.close().await.unwrap();
    n
}

fn consume_rdkafka(bootstrap: &str, topic: &str, records: usize) -> usize {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "consumer-perf-rdkafka")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let (mut n, mut bytes) = (0usize, 0usize);
    while n < records {
        if let Some(m) = c.poll(Duration::from_secs(1)) {
            let m = m.unwrap();
            bytes += m.payload().map_or(0, <[u8]>::len);
            n += 1;
        }
    }
    std::hint::black_box(bytes);
    n
}
