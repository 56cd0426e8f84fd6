//! `kafka-test-broker --brokers N --listen 127.0.0.1:PORT [--partitions N]`: runs an in-memory
//! Kafka-compatible cluster until SIGINT or SIGTERM. Brokers listen on PORT, PORT+1, …; one line
//! `bootstrap: 127.0.0.1:PORT` is printed when the cluster is ready.
//!
//! `--sasl-user NAME:PASSWORD` (repeatable) requires SASL (PLAIN, SCRAM-SHA-256/512) on every
//! listener, `--sasl-session-lifetime-ms MS` makes sessions expire (KIP-368 re-authentication);
//! `--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]` serves TLS (mTLS with a client CA);
//! `--transaction-version 0|1|2` sets the finalized `transaction.version` feature (default 2:
//! transactions v2, KIP-890; 0 or 1 serve the pre-KIP-890 protocol to clients).

use std::io::Write;
use std::process::ExitCode;

use kafka_test_broker::{TestCluster, TlsServerConfig};

fn usage(msg: &str) -> ExitCode {
    eprintln!(
        "{msg}\nusage: kafka-test-broker [--brokers N] [--listen 127.0.0.1:PORT] [--partitions N] [--replication-factor N]\n\
         \x20                        [--sasl-user NAME:PASSWORD]... [--sasl-session-lifetime-ms MS]\n\
         \x20                        [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--transaction-version 0|1|2]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut brokers = 1usize;
    let mut port = 9092u16;
    let mut partitions = 1i32;
    let mut rf: Option<i16> = None;
    let mut users: Vec<(String, String)> = Vec::new();
    let mut session_lifetime_ms: Option<u64> = None;
    let mut transaction_version: Option<i16> = None;
    let (mut tls_cert, mut tls_key, mut tls_ca) = (None, None, None);
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
            "--sasl-user" => match value().split_once(':') {
                Some((name, password)) if !name.is_empty() && !password.is_empty() => {
                    users.push((name.to_owned(), password.to_owned()))
                }
                _ => return usage("--sasl-user needs NAME:PASSWORD"),
            },
            "--sasl-session-lifetime-ms" => match value().parse() {
                Ok(ms) if ms > 0 => session_lifetime_ms = Some(ms),
                _ => return usage("--sasl-session-lifetime-ms needs a positive number"),
            },
            "--transaction-version" => match value().parse() {
                Ok(v @ 0..=2) => transaction_version = Some(v),
                _ => return usage("--transaction-version needs 0, 1 or 2"),
            },
            "--tls-cert" => tls_cert = Some(value()),
            "--tls-key" => tls_key = Some(value()),
            "--tls-client-ca" => tls_ca = Some(value()),
            "-h" | "--help" => return usage("kafka-test-broker: an in-memory Kafka-compatible cluster"),
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let mut builder = TestCluster::builder().brokers(brokers).base_port(port).default_partitions(partitions);
    builder = builder.default_replication_factor(rf.unwrap_or(brokers.min(3) as i16));
    for (name, password) in users {
        builder = builder.sasl_user(name, password);
    }
    if let Some(v) = transaction_version {
        builder = builder.transaction_version(v);
    }
    if let Some(ms) = session_lifetime_ms {
        builder = builder.sasl_session_lifetime(std::time::Duration::from_millis(ms));
    }
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|e| format!("kafka-test-broker: cannot read {path}: {e}"))
    };
    match (tls_cert, tls_key, tls_ca) {
        (None, None, None) => {}
        (Some(cert), Some(key), ca) => {
            let config = (|| {
                Ok::<_, String>(TlsServerConfig {
                    cert_chain_pem: read(&cert)?,
                    key_pem: read(&key)?,
                    client_ca_pem: ca.as_deref().map(read).transpose()?,
                })
            })();
            match config {
                Ok(c) => builder = builder.tls(c),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => return usage("--tls-cert and --tls-key go together (--tls-client-ca needs both)"),
    }
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
