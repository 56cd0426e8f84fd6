#!/usr/bin/env bash
# Conformance: real third-party clients (librdkafka through confluent-kafka, and kafka-python)
# against the kafka-test-broker binary. Prints one PASS/FAIL line per check; exits non-zero
# on any failure. Stops the broker it started, whatever happens.
#
#   test-broker/conformance/run.sh
#
# Python packages go to a venv under ${XDG_CACHE_HOME:-$HOME/.cache}/kafka-sdk/conformance-venv.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/kafka-sdk/conformance-venv"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import kafka, confluent_kafka' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
fi

cargo build -q --manifest-path "$ROOT/Cargo.toml" -p kafka-test-broker --bin kafka-test-broker
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/kafka-test-broker"

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$(mktemp "${TMPDIR:-/tmp}/test-broker-conformance.XXXXXX")"
"$BIN" --brokers 3 --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
    grep -q '^bootstrap: ' "$LOG" && break
    kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "the broker exited"; exit 1; }
    sleep 0.1
done
BOOTSTRAP="$(sed -n 's/^bootstrap: //p' "$LOG")"
echo "kafka-test-broker (3 brokers) at $BOOTSTRAP"
"$VENV/bin/python" "$HERE/conformance.py" "$BOOTSTRAP"
