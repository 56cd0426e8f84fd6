//! kafka-capture: records the exact request frames that real third-party Kafka clients send,
//! and writes them as test vectors for `kafka-protocol`.
//!
//! # Layout
//!
//! - `broker`: a tiny listener on 127.0.0.1 (ApiVersions, Metadata, InitProducerId, Produce)
//!   that records every frame before decoding it.
//! - `clients`: the clients: rdkafka in-process, kafka-python as a subprocess
//!   (`capture_kafka_python.py`), each producing the same five records once per codec.
//! - this file: arguments, one broker per client run, de-duplication, the output files and
//!   `manifest.txt`.
//!
//! Usage (see kafka-protocol/tests/vectors/README.md):
//!
//! ```text
//! cargo run --release -- [--out DIR] [--python PYTHON] [--only rdkafka|kafka-python]
//! ```

mod broker;
mod clients;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kafka_protocol::ApiKey;

use crate::broker::{CaptureBroker, Captured};
use crate::clients::{Client, Run};

/// The codecs, in capture order.
pub const CODECS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

struct Args {
    out: PathBuf,
    python: String,
    only: Option<Client>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kafka-protocol/tests/vectors"),
        python: "python3".into(),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => args.out = value()?.into(),
            "--python" => args.python = value()?,
            "--only" => {
                let v = value()?;
                args.only = Some(Client::from_name(&v).ok_or(format!("unknown client {v}"))?);
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(args)
}

/// One vector to write.
struct Vector {
    file: String,
    api_key: i16,
    version: i16,
    client: Client,
    codec: String,
    idempotent: String,
    frame: bytes::Bytes,
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kafka-capture: {e}");
            std::process::exit(2);
        }
    };
    let clients: Vec<Client> = match args.only {
        Some(c) => vec![c],
        None => vec![Client::Rdkafka, Client::KafkaPython],
    };
    let mut notes = Vec::new();
    let mut vectors = Vec::new();
    for client in &clients {
        let mut seen = HashSet::new();
        let mut seq = 0;
        let mut runs: Vec<Run> = CODECS.iter().map(|c| Run { codec: c, idempotent: false }).collect();
        runs.push(Run { codec: "none", idempotent: true });
        for run in runs {
            let broker = CaptureBroker::start().await.expect("bind 127.0.0.1:0");
            let result = client.run(&broker.bootstrap(), &run, &args.python).await;
            let frames = broker.stop().await;
            match result {
                Ok(version) => {
                    let note = format!("{}: {version}", client.name());
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
                Err(e) => {
                    eprintln!("kafka-capture: {} {}: skipped: {e}", client.name(), run.label());
                    notes.push(format!("{} {}: skipped: {e}", client.name(), run.label()));
                    continue;
                }
            }
            eprintln!("kafka-capture: {} {}: {} frames", client.name(), run.label(), frames.len());
            for f in frames {
                let api = ApiKey::from_key(f.api_key).map_or("Unknown", ApiKey::name);
                eprintln!("  connection {}: {api} v{} ({} bytes)", f.conn, f.version, f.frame.len());
                if !seen.insert(dedup_key(&f)) {
                    continue;
                }
                seq += 1;
                vectors.push(vector(*client, seq, &run, f));
            }
        }
    }
    if let Err(e) = write_out(&args.out, &clients, &vectors, &notes) {
        eprintln!("kafka-capture: writing {}: {e}", args.out.display());
        std::process::exit(1);
    }
    let out = args.out.canonicalize().unwrap_or(args.out);
    println!("wrote {} vectors to {}", vectors.len(), out.display());
    for n in &notes {
        println!("  {n}");
    }
}

/// Frames that differ only in their correlation id are the same vector.
fn dedup_key(f: &Captured) -> Vec<u8> {
    let mut k = f.frame.to_vec();
    k[4..8].fill(0);
    k
}

fn vector(client: Client, seq: u32, run: &Run, f: Captured) -> Vector {
    let name = ApiKey::from_key(f.api_key).map_or("Unknown", ApiKey::name);
    let produce = f.api_key == ApiKey::Produce.key();
    let producer_side = produce || f.api_key == ApiKey::InitProducerId.key();
    Vector {
        file: format!("{}/{seq:02}-{name}-v{}.bin", client.name(), f.version),
        api_key: f.api_key,
        version: f.version,
        client,
        codec: if produce { run.codec.to_owned() } else { "-".into() },
        idempotent: if producer_side { run.idempotent.to_string() } else { "-".into() },
        frame: f.frame,
    }
}

const MANIFEST_HEAD: &str = "\
# Real-client request frames (without the 4-byte size prefix), captured by tools/capture.
# Regenerate: see README.md. Columns: file api_key version client codec idempotent
# (codec and idempotent are `-` for requests that carry no records / no producer state).
";

/// Replaces the captured clients' directories and their manifest lines, keeping the others'.
fn write_out(out: &Path, clients: &[Client], vectors: &[Vector], notes: &[String]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let manifest_path = out.join("manifest.txt");
    let old = std::fs::read_to_string(&manifest_path).unwrap_or_default();
    let mut manifest = String::from(MANIFEST_HEAD);
    let kept = |line: &&str| {
        let client = line.split_whitespace().nth(3).unwrap_or("");
        !line.starts_with('#') && !line.trim().is_empty() && !clients.iter().any(|c| c.name() == client)
    };
    let kept_notes = |line: &&str| {
        line.starts_with("# client ")
            && !clients.iter().any(|c| line.starts_with(&format!("# client {}", c.name())))
    };
    for line in old.lines().filter(kept_notes) {
        writeln!(manifest, "{line}").unwrap();
    }
    for n in notes {
        writeln!(manifest, "# client {n}").unwrap();
    }
    for line in old.lines().filter(kept) {
        writeln!(manifest, "{line}").unwrap();
    }
    for c in clients {
        let dir = out.join(c.name());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
    }
    for v in vectors {
        std::fs::write(out.join(&v.file), &v.frame)?;
        writeln!(
            manifest,
            "{} {} {} {} {} {}",
            v.file,
            v.api_key,
            v.version,
            v.client.name(),
            v.codec,
            v.idempotent
        )
        .unwrap();
    }
    std::fs::write(manifest_path, manifest)
}
