#!/usr/bin/env bash
# Runs the integration tests against a real Apache Kafka cluster started for the run, and always
# stops it again, whatever happens (test failure, start failure, Ctrl-C).
#
#   integration-tests/real-kafka/run-suite.sh [--brokers N[,N...]] [-- COMMAND...]
#
# --brokers 1,3 runs COMMAND against a 1-node cluster and then a fresh 3-node one (default: 1).
# COMMAND defaults to `cargo test -p integration-tests -- --test-threads=1` and runs from the
# repository root with KAFKA_BOOTSTRAP=127.0.0.1:PORT[,...], KAFKA_BROKERS=N and KAFKA_CLUSTER_DIR (so a test can
# call `kafka.sh kill-broker N` / `restart-broker N` on the same cluster). The exit status is
# the first failing run's, else 0. Logs of a failed run are kept and their folder printed.
# Everything kafka.sh reads from the environment (KAFKA_VERSION, KAFKA_CACHE_DIR, ...) applies.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
KAFKA_SH="$SCRIPT_DIR/kafka.sh"

log() { printf 'run-suite.sh: %s\n' "$*" >&2; }

sizes="1"
while (($# > 0)); do
    case "$1" in
    --brokers)
        sizes="${2:?--brokers needs a value}"
        shift 2
        ;;
    --)
        shift
        break
        ;;
    -h | --help)
        sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
    *)
        log "unknown argument $1 (the command goes after --)"
        exit 2
        ;;
    esac
done
if (($# > 0)); then
    command=("$@")
else
    command=(cargo test -p integration-tests -- --test-threads=1)
fi

CLUSTER_DIR=""
CHILD=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        log "stopping the test command (pid $CHILD)"
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    if [[ -n "$CLUSTER_DIR" ]]; then
        "$KAFKA_SH" stop --dir "$CLUSTER_DIR" || log "stopping the cluster in $CLUSTER_DIR failed"
        CLUSTER_DIR=""
    fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

final_status=0
IFS=',' read -r -a size_list <<<"$sizes"
for brokers in "${size_list[@]}"; do
    CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kafka-sdk-suite.XXXXXX")"
    started=$SECONDS
    out="$("$KAFKA_SH" start --brokers "$brokers" --dir "$CLUSTER_DIR")" || {
        status=$?
        log "the $brokers-node cluster did not start (logs in $CLUSTER_DIR)"
        exit "$status"
    }
    bootstrap="$(printf '%s\n' "$out" | sed -n 's/^bootstrap: //p')"
    [[ -n "$bootstrap" ]] || {
        log "kafka.sh printed no bootstrap line"
        exit 1
    }
    log "$brokers-node Kafka cluster at $bootstrap (up in $((SECONDS - started))s); running: ${command[*]}"

    # In the background so that a signal to this script is handled at once (bash runs traps
    # only between foreground commands); stdin stays the terminal's.
    status=0
    (cd "$REPO_ROOT" && KAFKA_BOOTSTRAP="$bootstrap" KAFKA_BROKERS="$brokers" KAFKA_CLUSTER_DIR="$CLUSTER_DIR" exec "${command[@]}") <&0 &
    CHILD=$!
    wait "$CHILD" || status=$?
    CHILD=""

    "$KAFKA_SH" stop --dir "$CLUSTER_DIR"
    if ((status == 0)); then
        rm -rf "$CLUSTER_DIR"
        log "$brokers-node run passed"
    else
        log "$brokers-node run failed (exit $status); broker logs kept in $CLUSTER_DIR/node-*/server.log"
        ((final_status != 0)) || final_status=$status
    fi
    CLUSTER_DIR=""
done
exit "$final_status"
