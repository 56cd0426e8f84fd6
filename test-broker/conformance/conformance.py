"""Conformance checks: third-party clients against kafka-test-broker.

Each check asserts records, offsets and assignments and prints PASS/FAIL; the exit status is
the number of failures (capped at 1)."""

import sys
import time
import traceback
import uuid

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient as CkAdmin
import kafka
from kafka.admin import KafkaAdminClient, NewTopic, NewPartitions, ConfigResource, ConfigResourceType

BOOTSTRAP = sys.argv[1]
FAILURES = []


def check(name):
    def wrap(fn):
        start = time.time()
        try:
            fn()
            print(f"PASS {name} ({time.time() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure
            FAILURES.append(name)
            print(f"FAIL {name}: {e!r}", flush=True)
            traceback.print_exc()
        return fn
    return wrap


def topic(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(name, partitions=3, rf=3, **configs):
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(name, partitions, rf, topic_configs=configs)])
    admin.close()


def ck_consume(name, n, group=None, isolation="read_uncommitted", timeout=20):
    c = ck.Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group or topic("g"),
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
        "enable.partition.eof": False,
    })
    c.subscribe([name])
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise RuntimeError(m.error())
        out.append(m)
    # a little longer: nothing more must arrive
    end = time.time() + 1.0
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            out.append(m)
    c.close()
    return out


@check("librdkafka: produce with every codec, consume byte-exact")
def _():
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        name = topic(f"codec-{codec}")
        create(name, 1, 1)
        p = ck.Producer({"bootstrap.servers": BOOTSTRAP, "compression.type": codec, "linger.ms": 20})
        sent = [(f"k{i}".encode(), (f"{codec}-value-{i}-" + "x" * (i % 50)).encode()) for i in range(200)]
        for k, v in sent:
            p.produce(name, key=k, value=v, headers=[("h", k)])
        assert p.flush(20) == 0, "unflushed records"
        got = ck_consume(name, 200)
        assert [(m.key(), m.value()) for m in got] == sent, f"{codec}: records differ"
        assert [m.offset() for m in got] == list(range(200)), f"{codec}: offsets"
        assert all(m.headers() == [("h", m.key())] for m in got), f"{codec}: headers"


@check("librdkafka: idempotent producer, dense offsets, no duplicates")
def _():
    name = topic("idem")
    create(name, 3, 3)
    p = ck.Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "acks": "all"})
    delivered = []
    for i in range(3000):
        p.produce(name, key=str(i % 7).encode(), value=str(i).encode(),
                  on_delivery=lambda err, m: delivered.append((err, m.partition(), m.offset())))
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    assert all(err is None for err, _, _ in delivered), "delivery errors"
    by_part = {}
    for _, part, off in delivered:
        by_part.setdefault(part, []).append(off)
    for part, offs in by_part.items():
        assert sorted(offs) == list(range(len(offs))), f"partition {part}: offsets not dense"
    got = ck_consume(name, 3000)
    assert sorted(int(m.value()) for m in got) == list(range(3000)), "lost or duplicated records"


@check("librdkafka: transactions, read_committed never sees aborted records")
def _():
    name = topic("txn")
    create(name, 2, 3)
    p = ck.Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": topic("tx"), "enable.idempotence": True})
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(50):
        p.produce(name, value=f"aborted-{i}".encode())
    p.flush(10)
    p.abort_transaction(20)
    p.begin_transaction()
    for i in range(50):
        p.produce(name, value=f"committed-{i}".encode())
    p.commit_transaction(20)
    committed = ck_consume(name, 50, isolation="read_committed")
    values = sorted(m.value().decode() for m in committed)
    assert values == sorted(f"committed-{i}" for i in range(50)), f"read_committed saw {len(values)}: {values[:3]}"
    uncommitted = ck_consume(name, 100, isolation="read_uncommitted")
    assert len(uncommitted) == 100, f"read_uncommitted saw {len(uncommitted)}"


@check("librdkafka: consume-transform-produce with send_offsets_to_transaction")
def _():
    src, dst = topic("ctp-src"), topic("ctp-dst")
    create(src, 1, 3)
    create(dst, 1, 3)
    p = ck.Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(20):
        p.produce(src, value=str(i).encode())
    p.flush(10)
    group = topic("ctp-group")
    c = ck.Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "isolation.level": "read_committed"})
    c.subscribe([src])
    tp = ck.Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": topic("ctp-tx")})
    tp.init_transactions(20)
    seen = []
    deadline = time.time() + 20
    while len(seen) < 20 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        seen.append(m)
    assert len(seen) == 20, f"consumed {len(seen)}"
    tp.begin_transaction()
    for m in seen:
        tp.produce(dst, value=str(int(m.value()) * 10).encode())
    tp.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 20)
    tp.commit_transaction(20)
    committed = c.committed([ck.TopicPartition(src, 0)], 10)
    c.close()
    assert committed[0].offset == 20, f"committed offset {committed[0].offset}"
    out = ck_consume(dst, 20, isolation="read_committed")
    assert sorted(int(m.value()) for m in out) == [i * 10 for i in range(20)]


@check("kafka-python: 2-member group rebalances on join and leave, nothing lost")
def _():
    name = topic("group")
    create(name, 4, 3)
    group = topic("kp-group")
    prod = kafka.KafkaProducer(bootstrap_servers=BOOTSTRAP)
    for i in range(400):
        prod.send(name, value=str(i).encode())
    prod.flush()

    def member():
        return kafka.KafkaConsumer(name, bootstrap_servers=BOOTSTRAP, group_id=group, auto_offset_reset="earliest",
                                   enable_auto_commit=False, max_poll_records=25, session_timeout_ms=10000,
                                   heartbeat_interval_ms=500)
    a = member()
    seen = []

    def drain(c, rounds):
        for _ in range(rounds):
            for recs in c.poll(timeout_ms=200).values():
                seen.extend(int(r.value) for r in recs)
            c.commit()

    drain(a, 5)
    assert len(a.assignment()) == 4, f"alone, A has {a.assignment()}"
    b = member()
    deadline = time.time() + 30
    while time.time() < deadline and not (a.assignment() and b.assignment() and len(a.assignment()) + len(b.assignment()) == 4):
        drain(a, 1)
        drain(b, 1)
    assert len(a.assignment()) == 2 and len(b.assignment()) == 2, f"split {a.assignment()} / {b.assignment()}"
    assert not (a.assignment() & b.assignment()), "a partition assigned twice"
    b.close()
    deadline = time.time() + 30
    while time.time() < deadline and (len(a.assignment()) != 4 or len(set(seen)) < 400):
        drain(a, 1)
    a.close()
    assert len(set(seen)) == 400, f"{len(set(seen))} distinct of 400"


@check("kafka-python: committed offsets are resumed by a new consumer")
def _():
    name = topic("resume")
    create(name, 1, 1)
    group = topic("resume-group")
    prod = kafka.KafkaProducer(bootstrap_servers=BOOTSTRAP)
    for i in range(30):
        prod.send(name, value=str(i).encode())
    prod.flush()
    c = kafka.KafkaConsumer(name, bootstrap_servers=BOOTSTRAP, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False, max_poll_records=10)
    first = []
    while len(first) < 10:
        for recs in c.poll(timeout_ms=500, max_records=10 - len(first)).values():
            first.extend(int(r.value) for r in recs)
    c.commit()
    c.close()
    c = kafka.KafkaConsumer(name, bootstrap_servers=BOOTSTRAP, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False)
    rest = []
    deadline = time.time() + 20
    while len(rest) < 20 and time.time() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            rest.extend(int(r.value) for r in recs)
    c.close()
    assert first == list(range(10)) and rest == list(range(10, 30)), f"{first} then {rest}"


@check("kafka-python: admin create / describe / alter config / grow / delete records / delete")
def _():
    name = topic("admin")
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(name, 2, 3, topic_configs={"retention.ms": "3600000"})])
    desc = admin.describe_topics([name])
    assert len(desc[0]["partitions"]) == 2 and all(len(p["replica_nodes"]) == 3 for p in desc[0]["partitions"]), desc
    entries = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])["topic"][name]
    assert entries["retention.ms"]["value"] == "3600000", entries.get("retention.ms")
    assert entries["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG", entries["retention.ms"]
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": "7200000"})])
    entries = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])["topic"][name]
    assert entries["retention.ms"]["value"] == "7200000", entries.get("retention.ms")
    admin.create_partitions({name: NewPartitions(total_count=4)})
    assert len(admin.describe_topics([name])[0]["partitions"]) == 4
    prod = kafka.KafkaProducer(bootstrap_servers=BOOTSTRAP)
    for i in range(10):
        prod.send(name, value=b"x", partition=0)
    prod.flush()
    tp = kafka.TopicPartition(name, 0)
    low = admin.delete_records({tp: 6})
    assert low[tp]["low_watermark"] == 6, low
    c = kafka.KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    assert c.beginning_offsets([tp])[tp] == 6
    c.close()
    admin.delete_topics([name])
    assert name not in admin.list_topics()
    admin.close()


# The SASL_SSL broker (run.sh passes its address and CA): user alice, 1.5 s sessions.
SECURE, CA = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else (None, None)


def secure_conf(mechanism, password="alice-secret"):
    return {
        "bootstrap.servers": SECURE,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": mechanism,
        "sasl.username": "alice",
        "sasl.password": password,
        "ssl.ca.location": CA,
    }


if SECURE:
    @check("librdkafka: SASL_SSL with SCRAM-SHA-256/512, across session expiry (KIP-368)")
    def _():
        name = topic("secure")
        p = ck.Producer({**secure_conf("SCRAM-SHA-256"), "enable.idempotence": True})
        results = []
        deadline = time.time() + 4  # more than two 1.5 s sessions
        while time.time() < deadline:
            p.produce(name, value=f"v{len(results)}".encode(), on_delivery=lambda err, m: results.append(err))
            p.flush(10)
            time.sleep(0.2)
        assert results and all(e is None for e in results), results
        c = ck.Consumer({**secure_conf("SCRAM-SHA-512"), "group.id": topic("g"), "auto.offset.reset": "earliest"})
        c.subscribe([name])
        got = []
        deadline = time.time() + 20
        while len(got) < len(results) and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value().decode())
        c.close()
        assert got == [f"v{i}" for i in range(len(results))], got

    @check("librdkafka: SASL_SSL refuses a wrong password")
    def _():
        errors = []
        # log_level 2: the expected authentication errors are not logged at every retry
        admin = CkAdmin({**secure_conf("PLAIN", "wrong"), "error_cb": errors.append, "log_level": 2})
        try:
            admin.list_topics(timeout=5)
            raise AssertionError("listed topics with a wrong password")
        except ck.KafkaException:
            pass
        admin.poll(1)  # serves error_cb
        assert any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors), errors


print(f"{len(FAILURES)} failure(s)" if FAILURES else "all checks passed")
sys.exit(1 if FAILURES else 0)
