#!/usr/bin/env python3
"""kafka-python client for tools/capture (run by the capture tool, one process per run).

Produces the capture fixture -- five records to topic `vectors` partition 0, key `key-{i}`,
value "value-{i} " repeated and cut to 100 bytes, header h=v{i}, timestamp 1700000000000+i --
with the given compression codec, against the capture broker at --bootstrap, then exits.

Prints `client-version: kafka-python X.Y.Z (python A.B.C)` on success. Exits 3 when the codec's
compression library is not installed.
"""

import argparse
import platform
import sys

import kafka
from kafka import KafkaProducer

RECORDS = 5
BASE_TIMESTAMP = 1_700_000_000_000


def value(i):
    return (f"value-{i} " * 13)[:100].encode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--codec", default="none")
    p.add_argument("--client-id", default="capture-kafka-python")
    p.add_argument("--idempotence", action="store_true")
    args = p.parse_args()

    try:
        producer = KafkaProducer(
            bootstrap_servers=[args.bootstrap],
            client_id=args.client_id,
            compression_type=None if args.codec == "none" else args.codec,
            enable_idempotence=args.idempotence,
            acks="all",
            linger_ms=200,
            request_timeout_ms=10_000,
        )
    except RuntimeError as e:  # "Libraries for <codec> compression codec not found"
        print(f"codec {args.codec} unavailable: {e}", file=sys.stderr)
        sys.exit(3)

    futures = []
    for i in range(RECORDS):
        futures.append(
            producer.send(
                "vectors",
                key=f"key-{i}".encode(),
                value=value(i),
                headers=[("h", f"v{i}".encode())],
                partition=0,
                timestamp_ms=BASE_TIMESTAMP + i,
            )
        )
    producer.flush(timeout=15)
    for i, f in enumerate(futures):
        md = f.get(timeout=15)
        print(f"record {i} at offset {md.offset}", file=sys.stderr)
    producer.close(timeout=10)
    print(f"client-version: kafka-python {kafka.__version__} (python {platform.python_version()})")


if __name__ == "__main__":
    main()
