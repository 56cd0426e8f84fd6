#!/usr/bin/env bash
# Conformance: real third-party clients (librdkafka through confluent-kafka, kafka-python, and
# the Java kafka-clients 4.x) against the kafka-test-broker binary. Prints one PASS/FAIL line
# per check; exits non-zero on any failure. Stops the brokers it started, whatever happens.
#
# Two brokers run: a 3-broker PLAINTEXT cluster for most checks, and a 1-broker SASL_SSL one
# (user alice, a CA and certificate made here with openssl, 1.5 s sessions so clients must
# re-authenticate, KIP-368) for the security checks.
#
#   test-broker/conformance/run.sh
#
# Python packages go to a venv under ${XDG_CACHE_HOME:-$HOME/.cache}/kafka-sdk/conformance-venv;
# Maven's local repository is ${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-sdk}/m2 (shared with
# integration-tests/real-kafka/kafka.sh). The Java program is java/src/main/java/Conformance.java.
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

# the Java checks: resolve kafka-clients and compile before the broker starts
M2="${KAFKA_CACHE_DIR:-${HOME:-/tmp}/.cache/kafka-sdk}/m2"
mkdir -p "$M2"
JAVA_OK=1
MVN_LOG="$(mktemp "${TMPDIR:-/tmp}/test-broker-conformance-mvn.XXXXXX")"
if ! mvn -q -B -Dstyle.color=never -f "$HERE/java/pom.xml" -Dmaven.repo.local="$M2" \
        compile dependency:build-classpath -Dmdep.outputFile="$HERE/java/target/classpath.txt" \
        >"$MVN_LOG" 2>&1; then
    cat "$MVN_LOG"
    JAVA_OK=0
fi
rm -f "$MVN_LOG"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/test-broker-conformance.XXXXXX")"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_broker VAR NAME ARGS...: starts the binary, waits for its bootstrap line, and sets VAR to
# the address (not in a subshell, so its pid reaches cleanup)
start_broker() {
    local var="$1" name="$2"; shift 2
    local log="$WORK/$name.log"
    "$BIN" "$@" >"$log" 2>&1 &
    PIDS+=("$!")
    local pid="$!"
    for _ in $(seq 1 100); do
        grep -q '^bootstrap: ' "$log" && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "the $name broker exited" >&2; return 1; }
        sleep 0.1
    done
    printf -v "$var" '%s' "$(sed -n 's/^bootstrap: //p' "$log")"
    [[ -n "${!var}" ]] || { cat "$log" >&2; echo "the $name broker did not start" >&2; return 1; }
}

# a CA and a broker certificate for 127.0.0.1 / localhost
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=conformance-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$WORK/broker.key" -out "$WORK/broker.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
    >"$WORK/broker.ext"
openssl x509 -req -in "$WORK/broker.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
    -extfile "$WORK/broker.ext" -out "$WORK/broker.pem" 2>/dev/null

# port 0: each broker takes its own kernel-assigned port (a free base port's neighbours, PORT+1
# and PORT+2, could meanwhile be taken by an outgoing connection: seen once in CI)
start_broker BOOTSTRAP plain --brokers 3 --listen "127.0.0.1:0"
echo "kafka-test-broker (3 brokers) at $BOOTSTRAP"
start_broker SECURE secure --brokers 1 --listen "127.0.0.1:0" \
    --sasl-user alice:alice-secret --sasl-session-lifetime-ms 1500 \
    --tls-cert "$WORK/broker.pem" --tls-key "$WORK/broker.key"
echo "kafka-test-broker (SASL_SSL, 1 broker) at $SECURE"
start_broker TXV1 txv1 --brokers 1 --listen "127.0.0.1:0" --transaction-version 1
echo "kafka-test-broker (transaction.version=1, 1 broker) at $TXV1"

STATUS=0
"$VENV/bin/python" "$HERE/conformance.py" "$BOOTSTRAP" "$SECURE" "$WORK/ca.pem" || STATUS=1
if [[ "$JAVA_OK" == 1 ]]; then
    java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$HERE/java/target/classes:$(cat "$HERE/java/target/classpath.txt")" \
        Conformance "$BOOTSTRAP" "$SECURE" "$WORK/ca.pem" "$TXV1" || STATUS=1
else
    echo "FAIL java: build the conformance program with Maven (its output is above)"
    STATUS=1
fi
exit "$STATUS"
