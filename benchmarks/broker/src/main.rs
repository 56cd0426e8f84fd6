//! Start-up (and shutdown) time of an embedded 3-broker test cluster, until every listener
//! accepts: `cd benchmarks/broker && cargo run --release -- [RUNS]`.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut starts = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let c = kafka_test_broker::TestCluster::builder().brokers(3).topic("t", 12, 3).start().await.unwrap();
        for id in c.broker_ids() {
            tokio::net::TcpStream::connect(c.broker_addr(id).unwrap()).await.unwrap();
        }
        starts.push(t.elapsed());
        c.shutdown();
    }
    starts.sort();
    let pct = |p: f64| starts[((starts.len() as f64 - 1.0) * p) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "3-broker cluster with a 12-partition topic, {runs} starts: median {:.3} ms, p90 {:.3} ms, max {:.3} ms",
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(pct(1.0))
    );
}
