//! Project tasks.
//!
//! `cargo run -p xtask -- codegen [--schemas DIR] [--check]` reads Kafka's JSON message
//! definitions and writes `kafka-protocol/src/generated/`. With `--check` it writes nothing and
//! fails if the committed files differ from what it would write (CI uses this).

mod codegen;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let mut schemas = "../shared/kafka-message-schemas".to_owned();
            let mut check = false;
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--schemas" => match it.next() {
                        Some(d) => schemas = d.clone(),
                        None => return usage("--schemas needs a directory"),
                    },
                    "--check" => check = true,
                    other => return usage(&format!("unknown argument {other}")),
                }
            }
            let root = workspace_root();
            let dir = if PathBuf::from(&schemas).is_absolute() {
                PathBuf::from(&schemas)
            } else {
                root.join(&schemas)
            };
            match codegen::run(&dir, &schemas, &root.join("kafka-protocol/src/generated"), check) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("codegen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage("no task given"),
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("{why}\nusage: cargo run -p xtask -- codegen [--schemas DIR] [--check]");
    ExitCode::from(2)
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
