#!/usr/bin/env bash
# Start, stop and break a real Apache Kafka cluster (KRaft, combined broker+controller nodes)
# on 127.0.0.1 for the integration tests.
#
#   kafka.sh start   [--brokers 1|3] [--dir DIR]   prints "bootstrap: 127.0.0.1:PORT[,...]"
#   kafka.sh stop    [--dir DIR]                   TERM, then KILL after a grace period
#   kafka.sh status  [--dir DIR]                   exit 0 when every node is up, 3 otherwise
#   kafka.sh bootstrap [--dir DIR]                 prints the bootstrap list alone
#   kafka.sh kill-broker N    [--dir DIR]          kill -9 node N (1-based)
#   kafka.sh restart-broker N [--dir DIR]          stop node N if running, start it, wait for it
#   kafka.sh resolve                               only fetch the jars
#   kafka.sh security-env [--dir DIR]              prints KAFKA_SASL_SSL_BOOTSTRAP=... lines
#                                                  (for a cluster started with KAFKA_SECURITY=1)
#
# Jars come from Maven Central through ../pom.xml into the cache
# ${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-sdk} (Maven's local repository is $CACHE/m2, the jars
# land in $CACHE/kafka-$KAFKA_VERSION/libs). Nothing is written inside the repository.
#
# DIR (default ${KAFKA_CLUSTER_DIR:-${TMPDIR:-/tmp}/kafka-sdk-cluster}) holds one node-N/ folder
# per node (server.properties, data/, server.log) and the state file `state` that lists what was
# started, so `stop` kills exactly those processes and nothing else.
#
# Environment:
#   KAFKA_VERSION        Kafka release (default 4.3.1, the newest with kafka-tools published)
#   KAFKA_CACHE_DIR      jar cache (default $HOME/.cache/kafka-sdk)
#   KAFKA_HEAP_OPTS      default "-Xms128m -Xmx512m" per node
#   KAFKA_JVM_OPTS       default small-machine JVM flags (serial GC, C1 only)
#   KAFKA_START_TIMEOUT  seconds to wait for the cluster (default 180)
#   KAFKA_STOP_GRACE     seconds between TERM and KILL on stop (default 10)
#   KAFKA_EXTRA_PROPS    extra server.properties lines, appended to every node's file
#   KAFKA_SKIP_VERIFY    set to 1 to skip the kafka-tools check that every broker is visible
#   KAFKA_SECURITY       set to 1 to add secured listeners to every node (for tests/security.rs):
#                        SASL_SSL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER unsecured JWS; certificate
#                        for DNS:localhost only, advertised as localhost), SASL_PLAINTEXT (PLAIN,
#                        SCRAM-SHA-256/512) and SSL with ssl.client.auth=required. Users: PLAIN
#                        alice/alice-secret and bob/bob-secret; SCRAM (both hashes, created at
#                        format time) alice/alice-secret. connections.max.reauth.ms=6000, so SASL
#                        sessions re-authenticate (KIP-368). A test CA and PEM files (ca.pem,
#                        client.pem = key + chain for mTLS) are made with openssl in DIR/tls.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/../pom.xml"
KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
CACHE_DIR="${KAFKA_CACHE_DIR:-${HOME:-/tmp}/.cache/kafka-sdk}"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData -Djava.awt.headless=true}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-180}"
STOP_GRACE="${KAFKA_STOP_GRACE:-10}"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- jars

resolve_jars() {
    if [[ -f "$LIBS/.complete" ]]; then
        return
    fi
    command -v mvn >/dev/null || die "mvn not found: install Maven 3.8+ (and Java 17+) to fetch Kafka $KAFKA_VERSION"
    command -v java >/dev/null || die "java not found: install Java 17+"
    log "resolving Kafka $KAFKA_VERSION jars into $LIBS (first run only)"
    rm -rf "$LIBS"
    mkdir -p "$CACHE_DIR/m2"
    local mvn_log="$CACHE_DIR/mvn-$KAFKA_VERSION.log"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" \
        -Dmaven.repo.local="$CACHE_DIR/m2" \
        -Dkafka.cache.dir="$CACHE_DIR" \
        -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies >"$mvn_log" 2>&1; then
        tail -n 30 "$mvn_log" >&2
        die "Maven could not resolve Kafka $KAFKA_VERSION (full log: $mvn_log)"
    fi
    [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "Maven ran but $LIBS has no kafka_2.13 jar"
    touch "$LIBS/.complete"
}

# java with Kafka's classpath; log4j2 configuration in $1, then the main class and arguments.
kafka_java() {
    local log_config="$1"
    shift
    # shellcheck disable=SC2086 # the option strings are meant to split into words
    java $HEAP_OPTS $JVM_OPTS -Dlog4j2.configurationFile="$log_config" -cp "$LIBS/*" "$@"
}

# ---------------------------------------------------------------- state file

state_file() { printf '%s/state' "$CLUSTER_DIR"; }

state_get() {
    local key="$1" file
    file="$(state_file)"
    [[ -f "$file" ]] || return 1
    local line
    line="$(grep -m1 "^$key=" "$file")" || return 1
    printf '%s\n' "${line#*=}"
}

state_set() {
    local key="$1" value="$2" file tmp
    file="$(state_file)"
    tmp="$file.tmp"
    touch "$file"
    { grep -v "^$key=" "$file" || true; printf '%s=%s\n' "$key" "$value"; } >"$tmp"
    mv "$tmp" "$file"
}

# True when $1 is alive and is the java process we started for node $2 (guards against pid reuse).
is_our_node() {
    local pid="$1" node="$2"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CLUSTER_DIR/node-$node/server.properties"
}

# ---------------------------------------------------------------- ports and ids

declare -a TAKEN_PORTS=()

port_in_use() {
    local port="$1"
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Sets FREE_PORT to a port nobody listens on, below Linux's ephemeral range (32768+) so outgoing
# connections never take it. Not a $(subshell): TAKEN_PORTS must remember it.
FREE_PORT=""
free_port() {
    local port taken tries=0
    while ((tries < 500)); do
        tries=$((tries + 1))
        port=$((20000 + RANDOM % 12000))
        for taken in "${TAKEN_PORTS[@]}"; do
            [[ "$taken" == "$port" ]] && continue 2
        done
        port_in_use "$port" && continue
        TAKEN_PORTS+=("$port")
        FREE_PORT="$port"
        return
    done
    die "no free port found on 127.0.0.1"
}

# A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" != -* ]] && break
    done
    printf '%s\n' "$id"
}

# ---------------------------------------------------------------- node files

write_log_config() {
    local file="$1" level="$2"
    cat >"$file" <<EOF
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $level
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = $level
logger.apache.name = org.apache.kafka
logger.apache.level = $level
EOF
}

SECURITY="${KAFKA_SECURITY:-0}"
SCRAM_USERS=(alice:alice-secret)
PLAIN_JAAS='org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";'
SCRAM_JAAS='org.apache.kafka.common.security.scram.ScramLoginModule required;'
OAUTH_JAAS='org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";'

# Makes a throwaway CA, a broker certificate for DNS:localhost (its key encrypted: Kafka's
# file-based PEM key store needs ssl.key.password) and a client certificate for mutual TLS.
make_tls_files() {
    local dir="$CLUSTER_DIR/tls"
    mkdir -p "$dir"
    command -v openssl >/dev/null || die "openssl not found (needed for KAFKA_SECURITY=1)"
    (
        cd "$dir"
        local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3 -subj "/CN=kafka-sdk test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        local who san
        for who in broker client; do
            san="DNS:$who"
            [[ "$who" == broker ]] && san="DNS:localhost"
            openssl req "${ec[@]}" -keyout "$who.key" -out "$who.csr" -subj "/CN=$who"
            printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
                "$san" >"$who.ext"
            openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3 \
                -extfile "$who.ext" -out "$who.crt"
        done
        openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in broker.key -passout pass:broker-key-secret \
            -out broker-enc.key
        cat broker-enc.key broker.crt >broker.pem
        cat client.key client.crt >client.pem
    ) >"$dir/openssl.log" 2>&1 || {
        cat "$dir/openssl.log" >&2
        die "making the test certificates failed"
    }
}

# The secured listeners' server.properties lines for node $1 (ports from the state file).
security_props() {
    local node="$1" tls="$CLUSTER_DIR/tls" l m
    local port cport sasl_ssl sasl_plain ssl
    port="$(state_get "port.$node")"
    cport="$(state_get "controller_port.$node")"
    sasl_ssl="$(state_get "sasl_ssl_port.$node")"
    sasl_plain="$(state_get "sasl_plaintext_port.$node")"
    ssl="$(state_get "ssl_port.$node")"
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_SSL://127.0.0.1:$sasl_ssl,SASL_PLAINTEXT://127.0.0.1:$sasl_plain,SSL://127.0.0.1:$ssl
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://localhost:$sasl_ssl,SASL_PLAINTEXT://127.0.0.1:$sasl_plain,SSL://localhost:$ssl
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
ssl.key.password=broker-key-secret
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
listener.name.ssl.ssl.client.auth=required
connections.max.reauth.ms=6000
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=$OAUTH_JAAS
PROPS
    for l in sasl_ssl sasl_plaintext; do
        printf 'listener.name.%s.plain.sasl.jaas.config=%s\n' "$l" "$PLAIN_JAAS"
        for m in scram-sha-256 scram-sha-512; do
            printf 'listener.name.%s.%s.sasl.jaas.config=%s\n' "$l" "$m" "$SCRAM_JAAS"
        done
    done
}

write_node_config() {
    local node="$1" brokers="$2" port="$3" voters="$4" cport="$5"
    local rf=1 min_isr=1
    if ((brokers >= 3)); then
        rf=3
        min_isr=2
    fi
    local dir="$CLUSTER_DIR/node-$node"
    mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<EOF
# Generated by integration-tests/real-kafka/kafka.sh for a throwaway test cluster.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.retention.check.interval.ms=300000
# KIP-392: each node its own rack (named as the test broker's racks(true)), and leaders point
# consumers that send client.rack at a replica in their rack
broker.rack=rack-$node
replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector
EOF
    if [[ "$SECURITY" == 1 ]]; then
        # Later lines win in a properties file: these replace the listener lines above.
        security_props "$node" >>"$dir/server.properties"
    fi
    if [[ -n "${KAFKA_EXTRA_PROPS:-}" ]]; then
        printf '%s\n' "$KAFKA_EXTRA_PROPS" >>"$dir/server.properties"
    fi
    write_log_config "$dir/log4j2.properties" INFO
}

format_node() {
    local node="$1" cluster="$2"
    local dir="$CLUSTER_DIR/node-$node"
    local -a scram=()
    if [[ "$SECURITY" == 1 ]]; then
        local u m
        for u in "${SCRAM_USERS[@]}"; do
            for m in SCRAM-SHA-256 SCRAM-SHA-512; do
                scram+=(--add-scram "$m=[name=${u%%:*},password=${u#*:}]")
            done
        done
    fi
    if ! kafka_java "$CLUSTER_DIR/tools-log4j2.properties" kafka.tools.StorageTool format \
        -t "$cluster" -c "$dir/server.properties" "${scram[@]+"${scram[@]}"}" >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        die "formatting node $node failed"
    fi
}

# Launches node $1 in its own session (so it outlives this script and a Ctrl-C of the caller's
# terminal) and records its pid and the log offset its readiness line must follow.
launch_node() {
    local node="$1"
    local dir="$CLUSTER_DIR/node-$node"
    local offset=0
    [[ -f "$dir/server.log" ]] && offset="$(wc -c <"$dir/server.log")"
    # shellcheck disable=SC2086 # the option strings are meant to split into words
    setsid java $HEAP_OPTS $JVM_OPTS \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -Dkafka.logs.dir="$dir" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/server.log" 2>&1 </dev/null &
    local pid=$!
    state_set "pid.$node" "$pid"
    state_set "log_offset.$node" "$offset"
}

# Waits until node $1 logged that it started (after its launch) and accepts connections.
node_ready() {
    local node="$1" pid port offset
    local dir="$CLUSTER_DIR/node-$node"
    pid="$(state_get "pid.$node")"
    port="$(state_get "port.$node")"
    offset="$(state_get "log_offset.$node")"
    if ! kill -0 "$pid" 2>/dev/null; then
        log "node $node (pid $pid) exited during startup; last log lines:"
        tail -n 40 "$dir/server.log" >&2 || true
        return 2
    fi
    tail -c "+$((offset + 1))" "$dir/server.log" 2>/dev/null | grep -q 'Kafka Server started' || return 1
    port_in_use "$port"
}

wait_nodes_ready() {
    local deadline=$((SECONDS + START_TIMEOUT)) node rc
    local -a pending
    local -a nodes=("$@")
    while :; do
        pending=()
        for node in "${nodes[@]}"; do
            rc=0
            node_ready "$node" || rc=$?
            if ((rc == 2)); then
                return 1
            elif ((rc != 0)); then
                pending+=("$node")
            fi
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            log "timed out after ${START_TIMEOUT}s waiting for node(s) ${pending[*]}"
            for node in "${pending[@]}"; do
                log "--- node $node: last log lines"
                tail -n 40 "$CLUSTER_DIR/node-$node/server.log" >&2 || true
            done
            return 1
        fi
        nodes=("${pending[@]}")
        sleep 0.5
    done
}

# Asks the cluster (with Kafka's own kafka-broker-api-versions tool) which brokers its metadata
# lists, and checks that every node is there.
verify_cluster() {
    [[ "${KAFKA_SKIP_VERIFY:-0}" == 1 ]] && return 0
    local brokers="$1" bootstrap="$2" out count
    if ! out="$(kafka_java "$CLUSTER_DIR/tools-log4j2.properties" \
        org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$bootstrap" 2>&1)"; then
        printf '%s\n' "$out" | tail -n 20 >&2
        log "kafka-broker-api-versions failed against $bootstrap"
        return 1
    fi
    count="$(printf '%s\n' "$out" | grep -c '(id: [0-9]* rack: ' || true)"
    if ((count != brokers)); then
        printf '%s\n' "$out" | grep '(id: ' >&2 || true
        log "metadata lists $count broker(s), expected $brokers"
        return 1
    fi
}

# ---------------------------------------------------------------- commands

cmd_start() {
    local brokers="$1"
    [[ "$brokers" =~ ^[1-9]$ ]] || die "--brokers must be 1..9 (1 or 3 are the tested sizes)"
    if [[ -f "$(state_file)" ]]; then
        local n alive=0
        for n in $(seq 1 "$(state_get brokers || echo 0)"); do
            is_our_node "$(state_get "pid.$n" || true)" "$n" && alive=1
        done
        ((alive == 0)) || die "a cluster from $CLUSTER_DIR is running: run 'kafka.sh stop --dir $CLUSTER_DIR' first"
    fi
    command -v java >/dev/null || die "java not found: install Java 17+"
    resolve_jars

    local started_at=$SECONDS
    rm -rf "$CLUSTER_DIR"
    mkdir -p "$CLUSTER_DIR"
    CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
    write_log_config "$CLUSTER_DIR/tools-log4j2.properties" WARN
    state_set brokers "$brokers"
    state_set kafka_version "$KAFKA_VERSION"

    # From here on a failure (or Ctrl-C) stops whatever was launched.
    trap 'log "start failed; stopping what was started"; cmd_stop >/dev/null 2>&1 || true' EXIT
    trap 'exit 130' INT TERM

    local n voters="" bootstrap=""
    local -a ports=() cports=()
    for n in $(seq 1 "$brokers"); do
        free_port
        ports[n]="$FREE_PORT"
        free_port
        cports[n]="$FREE_PORT"
        voters+="${voters:+,}$n@127.0.0.1:${cports[n]}"
        bootstrap+="${bootstrap:+,}127.0.0.1:${ports[n]}"
    done
    local cluster
    cluster="$(cluster_id)"
    state_set cluster_id "$cluster"
    state_set bootstrap "$bootstrap"
    if [[ "$SECURITY" == 1 ]]; then
        make_tls_files
        local kind sasl_ssl_bs="" sasl_plain_bs="" ssl_bs=""
        for n in $(seq 1 "$brokers"); do
            for kind in sasl_ssl sasl_plaintext ssl; do
                free_port
                state_set "${kind}_port.$n" "$FREE_PORT"
            done
            sasl_ssl_bs+="${sasl_ssl_bs:+,}localhost:$(state_get "sasl_ssl_port.$n")"
            sasl_plain_bs+="${sasl_plain_bs:+,}127.0.0.1:$(state_get "sasl_plaintext_port.$n")"
            ssl_bs+="${ssl_bs:+,}localhost:$(state_get "ssl_port.$n")"
        done
        state_set sasl_ssl_bootstrap "$sasl_ssl_bs"
        state_set sasl_plaintext_bootstrap "$sasl_plain_bs"
        state_set ssl_bootstrap "$ssl_bs"
        state_set tls_dir "$CLUSTER_DIR/tls"
    fi
    for n in $(seq 1 "$brokers"); do
        state_set "port.$n" "${ports[n]}"
        state_set "controller_port.$n" "${cports[n]}"
        write_node_config "$n" "$brokers" "${ports[n]}" "$voters" "${cports[n]}"
    done

    log "formatting $brokers node(s) in $CLUSTER_DIR (cluster id $cluster)"
    local -a fpids=()
    for n in $(seq 1 "$brokers"); do
        format_node "$n" "$cluster" &
        fpids+=("$!")
    done
    local p
    for p in "${fpids[@]}"; do
        wait "$p" || die "formatting failed"
    done

    log "starting Kafka $KAFKA_VERSION: $brokers node(s), bootstrap $bootstrap"
    for n in $(seq 1 "$brokers"); do
        launch_node "$n"
    done
    # shellcheck disable=SC2046 # node numbers
    wait_nodes_ready $(seq 1 "$brokers") || die "cluster did not start (logs in $CLUSTER_DIR/node-*/server.log)"
    verify_cluster "$brokers" "$bootstrap" || die "cluster started but is not healthy"

    trap - EXIT INT TERM
    log "cluster up in $((SECONDS - started_at))s (state: $(state_file))"
    printf 'bootstrap: %s\n' "$bootstrap"
    if [[ "$SECURITY" == 1 ]]; then
        cmd_security_env | sed 's/^/security: /'
    fi
}

# KEY=VALUE lines for tests/security.rs (which also reads them from DIR/state itself).
cmd_security_env() {
    local b
    b="$(state_get sasl_ssl_bootstrap)" || die "no secured listeners in $CLUSTER_DIR (start with KAFKA_SECURITY=1)"
    printf 'KAFKA_SASL_SSL_BOOTSTRAP=%s\n' "$b"
    printf 'KAFKA_SASL_PLAINTEXT_BOOTSTRAP=%s\n' "$(state_get sasl_plaintext_bootstrap)"
    printf 'KAFKA_SSL_BOOTSTRAP=%s\n' "$(state_get ssl_bootstrap)"
    printf 'KAFKA_TLS_DIR=%s\n' "$(state_get tls_dir)"
}

# Sends TERM to the given nodes, waits up to the grace period, then KILLs what is left and
# waits for it to disappear.
stop_nodes() {
    local n pid
    local -a live=()
    for n in "$@"; do
        pid="$(state_get "pid.$n" || true)"
        if is_our_node "$pid" "$n"; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$n")
        fi
    done
    local deadline=$((SECONDS + STOP_GRACE))
    while ((${#live[@]} > 0)); do
        local -a still=()
        for n in "${live[@]}"; do
            is_our_node "$(state_get "pid.$n")" "$n" && still+=("$n")
        done
        live=("${still[@]+"${still[@]}"}")
        ((${#live[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            for n in "${live[@]}"; do
                pid="$(state_get "pid.$n")"
                log "node $n (pid $pid) still running after ${STOP_GRACE}s: kill -9"
                kill -KILL "$pid" 2>/dev/null || true
            done
            deadline=$((SECONDS + 3600))
        fi
        sleep 0.2
    done
}

cmd_stop() {
    if [[ ! -f "$(state_file)" ]]; then
        log "no cluster state in $CLUSTER_DIR: nothing to stop"
        return 0
    fi
    local brokers
    brokers="$(state_get brokers || echo 0)"
    if ((brokers > 0)); then
        # shellcheck disable=SC2046 # node numbers
        stop_nodes $(seq 1 "$brokers")
    fi
    # Keep the logs for post-mortems, drop the data and the state.
    rm -rf "$CLUSTER_DIR"/node-*/data
    rm -f "$(state_file)"
    log "stopped (logs kept in $CLUSTER_DIR/node-*/server.log)"
}

cmd_status() {
    if [[ ! -f "$(state_file)" ]]; then
        log "no cluster in $CLUSTER_DIR"
        return 3
    fi
    local brokers n pid up=0
    brokers="$(state_get brokers)"
    for n in $(seq 1 "$brokers"); do
        pid="$(state_get "pid.$n" || true)"
        if is_our_node "$pid" "$n"; then
            printf 'node %s: running (pid %s, 127.0.0.1:%s)\n' "$n" "$pid" "$(state_get "port.$n")"
            up=$((up + 1))
        else
            printf 'node %s: down (127.0.0.1:%s)\n' "$n" "$(state_get "port.$n")"
        fi
    done
    printf 'bootstrap: %s\n' "$(state_get bootstrap)"
    ((up == brokers)) || return 3
}

check_node_arg() {
    local n="$1" brokers
    [[ -f "$(state_file)" ]] || die "no cluster in $CLUSTER_DIR"
    brokers="$(state_get brokers)"
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1 || n > brokers)); then
        die "node must be 1..$brokers"
    fi
}

cmd_kill_broker() {
    local n="$1" pid
    check_node_arg "$n"
    pid="$(state_get "pid.$n")"
    is_our_node "$pid" "$n" || die "node $n is not running"
    kill -KILL "$pid"
    while is_our_node "$pid" "$n"; do sleep 0.1; done
    log "node $n (pid $pid) killed"
}

cmd_restart_broker() {
    local n="$1"
    check_node_arg "$n"
    resolve_jars
    stop_nodes "$n"
    local started_at=$SECONDS
    launch_node "$n"
    wait_nodes_ready "$n" || die "node $n did not come back (log: $CLUSTER_DIR/node-$n/server.log)"
    log "node $n back in $((SECONDS - started_at))s"
}

# ---------------------------------------------------------------- main

main() {
    (($# >= 1)) || usage
    local cmd="$1"
    shift
    local brokers=1 node=""
    CLUSTER_DIR="${KAFKA_CLUSTER_DIR:-${TMPDIR:-/tmp}/kafka-sdk-cluster}"
    while (($# > 0)); do
        case "$1" in
        --brokers)
            brokers="${2:?--brokers needs a value}"
            shift 2
            ;;
        --dir)
            CLUSTER_DIR="${2:?--dir needs a value}"
            shift 2
            ;;
        -h | --help) usage ;;
        -*) die "unknown option $1" ;;
        *)
            [[ -z "$node" ]] || die "unexpected argument $1"
            node="$1"
            shift
            ;;
        esac
    done
    case "$cmd" in
    start) cmd_start "$brokers" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    bootstrap) state_get bootstrap || die "no cluster in $CLUSTER_DIR" ;;
    kill-broker) cmd_kill_broker "${node:?kill-broker needs a node number}" ;;
    restart-broker) cmd_restart_broker "${node:?restart-broker needs a node number}" ;;
    resolve) resolve_jars ;;
    security-env) cmd_security_env ;;
    -h | --help | help) usage ;;
    *) die "unknown command $cmd" ;;
    esac
}

main "$@"
