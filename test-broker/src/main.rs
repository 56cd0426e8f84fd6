//! `kafka-test-broker --brokers N --listen 127.0.0.1:PORT [--partitions N]`: runs an in-memory
//! Kafka-compatible cluster until SIGINT or SIGTERM. Brokers listen on PORT, PORT+1, …; one line
//! `bootstrap: 127.0.0.1:PORT` is printed when the cluster is ready.

use std::io::Write;
use std::process::ExitCode;

use kafka_test_broker::TestCluster;

fn usage(msg: &str) -> ExitCode {
    eprintln!(
        "{msg}\nusage: kafka-test-broker [--brokers N] [--listen 127.0.0.1:PORT] [--partitions N] [--replication-factor N]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut brokers = 1usize;
    let mut port = 9092u16;
    let mut partitions = 1i32;
    let mut rf: Option<i16> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--brokers" => match value().parse() {
                Ok(n) if n > 0 => brokers = n,
                _ => return usage("--brokers needs a positive number"),
            },
            "--listen" => {
                let v = value();
                let Some((host, p)) = v.rsplit_once(':') else { return usage("--listen needs HOST:PORT") };
                if host != "127.0.0.1" && host != "localhost" {
                    return usage("the test broker listens on 127.0.0.1 only");
                }
                match p.parse() {
                    Ok(p) => port = p,
                    Err(_) => return usage("bad port in --listen"),
                }
            }
            "--partitions" => match value().parse() {
                Ok(n) if n > 0 => partitions = n,
                _ => return usage("--partitions needs a positive number"),
            },
            "--replication-factor" => match value().parse() {
                Ok(n) if n > 0 => rf = Some(n),
                _ => return usage("--replication-factor needs a positive number"),
            },
            "-h" | "--help" => return usage("kafka-test-broker: an in-memory Kafka-compatible cluster"),
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let mut builder = TestCluster::builder().brokers(brokers).base_port(port).default_partitions(partitions);
    builder = builder.default_replication_factor(rf.unwrap_or(brokers.min(3) as i16));
    let cluster = match builder.start().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafka-test-broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let first = cluster.bootstrap_servers().split(',').next().unwrap_or_default().to_owned();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "bootstrap: {first}");
    let _ = out.flush();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-test-broker: cannot install SIGTERM handler: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    cluster.shutdown();
    ExitCode::SUCCESS
}
