//! producer-perf: Kafka's `kafka-producer-perf-test` for kafka-producer (or librdkafka), and a
//! side-by-side matrix of the two.
//!
//! ```text
//! # one run, kafka-producer-perf-test's flags and output
//! producer-perf --topic T --num-records N --record-size S --throughput -1 \
//!     --producer-props bootstrap.servers=HOST:PORT acks=all linger.ms=5 ... [--client rdkafka]
//! # without bootstrap.servers (and KAFKA_BOOTSTRAP unset) an embedded test broker is started
//! # in a child process with topic T of --partitions P (default 1)
//!
//! # the matrix: value size × acks × compression × partitions, ours against librdkafka
//! producer-perf --compare [--rounds 3] [--sizes 100,1024] [--acks 1,all]
//!     [--compression none,lz4,zstd] [--partitions 1,16] [--records-100 N] [--records-1024 N]
//! ```
//!
//! In `--compare` every run is a fresh pair of processes: the embedded test broker
//! (`producer-perf --broker`) and one client (`producer-perf --client ours|rdkafka ...
//! --result`), so the client's CPU seconds (getrusage, `RUSAGE_SELF`, around the timed part)
//! and peak memory (`VmHWM`) are the client's alone. The two clients alternate (which goes
//! first alternates too) and the medians of the rounds are reported. Both get the same
//! producer properties: `linger.ms=5`, `batch.size=16384`, `acks` and `compression.type` from
//! the cell, `enable.idempotence` true with `acks=all` and false with `acks=1`.
//!
//! Latency is Java's: from `send` to the record's acknowledgement; for kafka-producer the
//! delivery futures are awaited in send order on a second task (an application's callbacks),
//! for librdkafka its delivery report carries the send time. `--client ours-callback` uses
//! `send_with_callback` instead (the latency is taken in the callback, on the producer's
//! sender task, like librdkafka's delivery report). Like the Java tool, the payload is one
//! random A–Z buffer reused for every record.
#![allow(clippy::print_stdout)]

use std::io::BufRead;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes_crate::Bytes;
use kafka_producer::{DeliveryFuture, Producer, ProducerRecord};
use rdkafka::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// This process's peak resident set (`VmHWM`), KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// One run's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    records: u64,
    bytes: u64,
    secs: f64,
    cpu: f64,
    peak_kib: u64,
    avg_ms: f64,
    max_ms: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    p999: f64,
}

impl Stats {
    fn new(records: u64, size: usize, secs: f64, cpu: f64, mut lat_us: Vec<u32>) -> Stats {
        lat_us.sort_unstable();
        let pct = |q: f64| {
            if lat_us.is_empty() {
                0.0
            } else {
                lat_us[((lat_us.len() as f64 * q) as usize).min(lat_us.len() - 1)] as f64 / 1000.0
            }
        };
        let sum: u64 = lat_us.iter().map(|&l| l as u64).sum();
        Stats {
            records,
            bytes: records * size as u64,
            secs,
            cpu,
            peak_kib: peak_kib(),
            avg_ms: sum as f64 / lat_us.len().max(1) as f64 / 1000.0,
            max_ms: lat_us.last().copied().unwrap_or(0) as f64 / 1000.0,
            p50: pct(0.5),
            p95: pct(0.95),
            p99: pct(0.99),
            p999: pct(0.999),
        }
    }
    fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.secs / 1024.0 / 1024.0
    }
    fn cpu_per_m(&self) -> f64 {
        self.cpu / self.records as f64 * 1e6
    }
    /// kafka-producer-perf-test's summary line, then the CPU and memory line.
    fn print(&self) {
        println!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.0} ms 50th, {:.0} ms 95th, {:.0} ms 99th, {:.0} ms 99.9th.",
            self.records,
            self.rate(),
            self.mb_s(),
            self.avg_ms,
            self.max_ms,
            self.p50,
            self.p95,
            self.p99,
            self.p999
        );
        println!(
            "client cpu {:.2} s ({:.2} cpu-s per million records), peak memory {} KiB (VmHWM)",
            self.cpu,
            self.cpu_per_m(),
            self.peak_kib
        );
    }
    fn result_line(&self) -> String {
        format!(
            "RESULT {} {} {} {} {} {} {} {} {} {} {}",
            self.records,
            self.bytes,
            self.secs,
            self.cpu,
            self.peak_kib,
            self.avg_ms,
            self.max_ms,
            self.p50,
            self.p95,
            self.p99,
            self.p999
        )
    }
    fn parse(line: &str) -> Option<Stats> {
        let v: Vec<&str> = line.strip_prefix("RESULT ")?.split_whitespace().collect();
        let f = |i: usize| v.get(i).and_then(|s| s.parse::<f64>().ok());
        Some(Stats {
            records: f(0)? as u64,
            bytes: f(1)? as u64,
            secs: f(2)?,
            cpu: f(3)?,
            peak_kib: f(4)? as u64,
            avg_ms: f(5)?,
            max_ms: f(6)?,
            p50: f(7)?,
            p95: f(8)?,
            p99: f(9)?,
            p999: f(10)?,
        })
    }
}

/// Java's `ThroughputThrottler`, simplified: sleep when ahead of `per_sec`.
struct Throttle {
    per_sec: f64,
    start: Instant,
}
impl Throttle {
    fn ahead(&self, sent: u64) -> Option<Duration> {
        if self.per_sec <= 0.0 {
            return None;
        }
        let due = Duration::from_secs_f64(sent as f64 / self.per_sec);
        due.checked_sub(self.start.elapsed()).filter(|d| *d > Duration::from_micros(100))
    }
}

/// The options of one run.
#[derive(Debug, Clone)]
struct RunArgs {
    client: String,
    topic: String,
    num_records: u64,
    record_size: usize,
    throughput: f64,
    props: Vec<(String, String)>,
    partitions: i32,
    result: bool,
}

fn payload(size: usize) -> Vec<u8> {
    // random A–Z, as kafka-producer-perf-test
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'A' + (x % 26) as u8
        })
        .collect()
}

async fn run_ours(a: &RunArgs) -> Stats {
    let p = Producer::from_pairs(a.props.clone()).unwrap_or_else(|e| panic!("producer config: {e}"));
    // metadata and connection first, outside the timing (librdkafka gets the same)
    p.send(ProducerRecord::new(a.topic.clone()).value("warm-up")).await.unwrap();
    let value = Bytes::from(payload(a.record_size));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, DeliveryFuture)>();
    let n = a.num_records;
    let collector = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(n as usize);
        let mut failed = 0u64;
        while let Some((sent, f)) = rx.recv().await {
            match f.await {
                Ok(_) => lat.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
                Err(e) => {
                    if failed == 0 {
                        eprintln!("send failed: {e}");
                    }
                    failed += 1;
                }
            }
        }
        (lat, failed)
    });
    let (c0, start) = (cpu_seconds(), Instant::now());
    let throttle = Throttle { per_sec: a.throughput, start };
    for i in 0..n {
        if let Some(d) = throttle.ahead(i) {
            tokio::time::sleep(d).await;
        }
        let f = p.send(ProducerRecord::new(a.topic.clone()).value(value.clone()));
        tx.send((Instant::now(), f)).unwrap();
        // back-pressure: records waiting for buffer memory mean the pool is full
        if i % 1024 == 0 {
            while p.metrics().records_waiting > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    drop(tx);
    let (lat, failed) = collector.await.unwrap();
    p.flush().await;
    let (secs, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - c0);
    assert_eq!(failed, 0, "every record acknowledged");
    p.close(Duration::from_secs(10)).await.unwrap();
    Stats::new(n, a.record_size, secs, cpu, lat)
}

/// kafka-producer with `send_with_callback`: each callback records its latency (one mutex per
/// record, as the librdkafka delivery report below).
async fn run_ours_callbacks(a: &RunArgs) -> Stats {
    struct Outcomes {
        lat: Mutex<Vec<u32>>,
        failed: AtomicUsize,
    }
    let p = Producer::from_pairs(a.props.clone()).unwrap_or_else(|e| panic!("producer config: {e}"));
    p.send(ProducerRecord::new(a.topic.clone()).value("warm-up")).await.unwrap();
    let value = Bytes::from(payload(a.record_size));
    let n = a.num_records;
    let out = std::sync::Arc::new(Outcomes {
        lat: Mutex::new(Vec::with_capacity(n as usize)),
        failed: AtomicUsize::new(0),
    });
    let (c0, start) = (cpu_seconds(), Instant::now());
    let throttle = Throttle { per_sec: a.throughput, start };
    for i in 0..n {
        if let Some(d) = throttle.ahead(i) {
            tokio::time::sleep(d).await;
        }
        let (sent, out) = (Instant::now(), out.clone());
        let _ =
            p.send_with_callback(
                ProducerRecord::new(a.topic.clone()).value(value.clone()),
                move |r| match r {
                    Ok(_) => {
                        let us = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        out.lat.lock().unwrap().push(us);
                    }
                    Err(e) => {
                        if out.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("send failed: {e}");
                        }
                    }
                },
            );
        if i % 1024 == 0 {
            while p.metrics().records_waiting > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    p.flush().await;
    let (secs, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - c0);
    assert_eq!(out.failed.load(Ordering::Relaxed), 0, "every record acknowledged");
    p.close(Duration::from_secs(10)).await.unwrap();
    let lat = std::mem::take(&mut *out.lat.lock().unwrap());
    assert_eq!(lat.len() as u64, n, "one callback per record");
    Stats::new(n, a.record_size, secs, cpu, lat)
}

/// librdkafka's delivery reports: counts and latencies (the opaque is the send time, ns since
/// `base`).
struct Reports {
    base: Instant,
    ok: AtomicUsize,
    failed: AtomicUsize,
    lat: Mutex<Vec<u32>>,
}
impl ClientContext for Reports {}
impl ProducerContext for Reports {
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, sent_ns: usize) {
        if r.is_ok() {
            self.ok.fetch_add(1, Ordering::Relaxed);
            let now = self.base.elapsed().as_nanos() as usize;
            let us = (now.saturating_sub(sent_ns) / 1000).min(u32::MAX as usize) as u32;
            self.lat.lock().unwrap().push(us);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn run_rdkafka(a: &RunArgs) -> Stats {
    let mut cfg = rdkafka::ClientConfig::new();
    cfg.set("queue.buffering.max.messages", "1000000");
    for (k, v) in &a.props {
        cfg.set(k, v);
    }
    let n = a.num_records;
    let ctx = Reports {
        base: Instant::now(),
        ok: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        lat: Mutex::new(Vec::with_capacity(n as usize + 1)),
    };
    let p: ThreadedProducer<Reports> = cfg.create_with_context(ctx).unwrap();
    p.send(BaseRecord::<(), [u8], usize>::with_opaque_to(&a.topic, 0).payload(b"warm-up"))
        .map_err(|(e, _)| e)
        .unwrap();
    p.flush(Duration::from_secs(30)).unwrap();
    p.context().lat.lock().unwrap().clear();
    let value = payload(a.record_size);
    let (c0, start) = (cpu_seconds(), Instant::now());
    let throttle = Throttle { per_sec: a.throughput, start };
    for i in 0..n {
        if let Some(d) = throttle.ahead(i) {
            std::thread::sleep(d);
        }
        let sent = p.context().base.elapsed().as_nanos() as usize;
        let mut rec = BaseRecord::<(), [u8], usize>::with_opaque_to(&a.topic, sent).payload(&value);
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
    p.flush(Duration::from_secs(300)).unwrap();
    let (secs, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let c = p.context();
    assert_eq!(
        (c.ok.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed)),
        (n as usize + 1, 0),
        "every record acknowledged"
    );
    let lat = std::mem::take(&mut *c.lat.lock().unwrap());
    Stats::new(n, a.record_size, secs, cpu, lat)
}

/// A test-broker child process with topic `topic` of `partitions`; killed on drop.
struct BrokerChild {
    child: std::process::Child,
    bootstrap: String,
}
impl BrokerChild {
    fn start(topic: &str, partitions: i32) -> BrokerChild {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--broker", "--topic", topic, "--partitions", &partitions.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting the broker child");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let bootstrap = line.trim().trim_start_matches("bootstrap: ").to_owned();
        assert!(!bootstrap.is_empty(), "the broker child printed no address");
        BrokerChild { child, bootstrap }
    }
}
impl Drop for BrokerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_broker(topic: &str, partitions: i32) {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a signal number for this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = kafka_test_broker::TestCluster::builder()
            .brokers(1)
            .topic(topic, partitions, 1)
            .start()
            .await
            .unwrap();
        println!("bootstrap: {}", c.bootstrap_servers());
        std::future::pending::<()>().await;
    });
}

fn usage() -> ! {
    eprintln!(
        "usage: producer-perf --topic T --num-records N --record-size S --throughput T \
         --producer-props k=v ... [--client ours|ours-callback|rdkafka] [--partitions P] [--result]\n       \
         producer-perf --compare [--rounds R] [--sizes 100,1024] [--acks 1,all] \
         [--compression none,lz4,zstd] [--partitions 1,16] [--records-100 N] [--records-1024 N]"
    );
    std::process::exit(2)
}

fn parse_run(args: &[String]) -> RunArgs {
    let mut a = RunArgs {
        client: "ours".into(),
        topic: "perf".into(),
        num_records: 0,
        record_size: 100,
        throughput: -1.0,
        props: Vec::new(),
        partitions: 1,
        result: false,
    };
    let mut i = 0;
    let val = |i: &mut usize| -> String {
        *i += 1;
        args.get(*i).cloned().unwrap_or_else(|| usage())
    };
    while i < args.len() {
        match args[i].as_str() {
            "--client" => a.client = val(&mut i),
            "--topic" => a.topic = val(&mut i),
            "--num-records" => a.num_records = val(&mut i).parse().unwrap_or_else(|_| usage()),
            "--record-size" => a.record_size = val(&mut i).parse().unwrap_or_else(|_| usage()),
            "--throughput" => a.throughput = val(&mut i).parse().unwrap_or_else(|_| usage()),
            "--partitions" => a.partitions = val(&mut i).parse().unwrap_or_else(|_| usage()),
            "--result" => a.result = true,
            "--producer-props" => {
                while let Some(kv) = args.get(i + 1).filter(|s| !s.starts_with("--")) {
                    let (k, v) = kv.split_once('=').unwrap_or_else(|| usage());
                    a.props.push((k.to_owned(), v.to_owned()));
                    i += 1;
                }
            }
            _ => usage(),
        }
        i += 1;
    }
    if a.num_records == 0 {
        usage();
    }
    a
}

fn run_one(mut a: RunArgs) {
    let mut _broker = None;
    if !a.props.iter().any(|(k, _)| k == "bootstrap.servers") {
        let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
            Ok(b) => b,
            Err(_) => {
                let b = BrokerChild::start(&a.topic, a.partitions);
                let s = b.bootstrap.clone();
                _broker = Some(b);
                s
            }
        };
        a.props.insert(0, ("bootstrap.servers".into(), bootstrap));
    }
    let stats = match a.client.as_str() {
        "ours" | "kafka-producer" => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(run_ours(&a))
        }
        "ours-callback" => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(run_ours_callbacks(&a))
        }
        "rdkafka" | "librdkafka" => run_rdkafka(&a),
        _ => usage(),
    };
    if a.result {
        println!("{}", stats.result_line());
    } else {
        stats.print();
    }
}

fn list<T: std::str::FromStr>(s: &str) -> Vec<T> {
    s.split(',').map(|v| v.parse().unwrap_or_else(|_| usage())).collect()
}

fn median(mut v: Vec<Stats>, key: impl Fn(&Stats) -> f64) -> f64 {
    v.sort_by(|a, b| key(a).total_cmp(&key(b)));
    key(&v[v.len() / 2])
}

fn compare(args: &[String]) {
    let mut rounds = 3usize;
    let mut sizes: Vec<usize> = vec![100, 1024];
    let mut acks: Vec<String> = vec!["1".into(), "all".into()];
    let mut codecs: Vec<String> = vec!["none".into(), "lz4".into(), "zstd".into()];
    let mut partitions: Vec<i32> = vec![1, 16];
    let (mut n100, mut n1k) = (500_000u64, 150_000u64);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--rounds" => rounds = v.parse().unwrap_or_else(|_| usage()),
            "--sizes" => sizes = list(&v),
            "--acks" => acks = list(&v),
            "--compression" => codecs = list(&v),
            "--partitions" => partitions = list(&v),
            "--records-100" => n100 = v.parse().unwrap_or_else(|_| usage()),
            "--records-1024" => n1k = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
        i += 2;
    }
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    println!(
        "| size | acks | compression | partitions | ours rec/s | librdkafka rec/s | ratio | ours cpu-s/M | librdkafka cpu-s/M | cpu ratio | ours p99 ms | librdkafka p99 ms | ours peak MiB | librdkafka peak MiB |"
    );
    println!("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &size in &sizes {
        let n = if size <= 100 { n100 } else { n1k };
        for ack in &acks {
            for codec in &codecs {
                for &parts in &partitions {
                    let idem = if ack == "all" { "true" } else { "false" };
                    // max.in.flight: Java's default and librdkafka's idempotent limit, set on
                    // both (librdkafka's own default, 1000000, would differ with acks=1)
                    let props = [
                        ("max.in.flight.requests.per.connection", "5"),
                        ("acks", ack.as_str()),
                        ("enable.idempotence", idem),
                        ("linger.ms", "5"),
                        ("batch.size", "16384"),
                        ("compression.type", codec.as_str()),
                    ];
                    let mut results: [Vec<Stats>; 2] = [Vec::new(), Vec::new()];
                    for round in 0..rounds {
                        for k in 0..2 {
                            let which = (round + k) % 2; // alternate who goes first
                            let client = ["ours", "rdkafka"][which];
                            let broker = BrokerChild::start("perf", parts);
                            let mut cmd = std::process::Command::new(&exe);
                            cmd.args(["--client", client, "--topic", "perf", "--result"])
                                .args(["--num-records", &n.to_string(), "--record-size", &size.to_string()])
                                .args(["--throughput", "-1", "--producer-props"])
                                .arg(format!("bootstrap.servers={}", broker.bootstrap));
                            for (k, v) in props {
                                cmd.arg(format!("{k}={v}"));
                            }
                            let out = cmd.output().expect("running a client child");
                            let stdout = String::from_utf8_lossy(&out.stdout);
                            let stats = stdout.lines().find_map(Stats::parse).unwrap_or_else(|| {
                                panic!(
                                    "{client} run failed: {}\n{stdout}\n{}",
                                    out.status,
                                    String::from_utf8_lossy(&out.stderr)
                                )
                            });
                            results[which].push(stats);
                        }
                    }
                    let [ours, theirs] = results;
                    let (ro, rt) = (median(ours.clone(), Stats::rate), median(theirs.clone(), Stats::rate));
                    let (co, ct) =
                        (median(ours.clone(), Stats::cpu_per_m), median(theirs.clone(), Stats::cpu_per_m));
                    println!(
                        "| {size} B | {ack} | {codec} | {parts} | {ro:.0} | {rt:.0} | {:.2}× | {co:.2} | {ct:.2} | {:.2}× | {:.0} | {:.0} | {:.0} | {:.0} |",
                        ro / rt,
                        co / ct,
                        median(ours.clone(), |s| s.p99),
                        median(theirs.clone(), |s| s.p99),
                        median(ours, |s| s.peak_kib as f64) / 1024.0,
                        median(theirs, |s| s.peak_kib as f64) / 1024.0,
                    );
                }
            }
        }
    }
    println!("matrix done in {:.0} s ({rounds} rounds per cell, medians)", started.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--broker") => {
            let a = parse_run(&[args[1..].to_vec(), vec!["--num-records".into(), "1".into()]].concat());
            serve_broker(&a.topic, a.partitions);
        }
        Some("--compare") => compare(&args[1..]),
        Some(_) => run_one(parse_run(&args)),
        None => usage(),
    }
}
