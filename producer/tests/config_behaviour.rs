//! Every producer setting visibly changes what happens on the test broker: each test runs
//! the same traffic under two values of one key (or one value against a fault) and checks
//! the difference in stored batches, timings, request counts or errors.

use std::time::{Duration, Instant};

use kafka_producer::partitioner::partition_for_key;
use kafka_producer::{Error, Producer, ProducerRecord};
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_test_broker::{Fault, FaultAction, TestCluster};

async fn cluster(brokers: usize, topic: &str, partitions: i32, rf: i16) -> TestCluster {
    TestCluster::builder().brokers(brokers).topic(topic, partitions, rf).start().await.unwrap()
}

fn producer(c: &TestCluster, extra: &[(&str, &str)]) -> Producer {
    let mut pairs = vec![
        ("bootstrap.servers".to_string(), c.bootstrap_servers()),
        ("retry.backoff.ms".to_string(), "10".to_string()),
        ("reconnect.backoff.ms".to_string(), "10".to_string()),
        ("reconnect.backoff.max.ms".to_string(), "100".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Producer::from_pairs(pairs).unwrap()
}

async fn set_topic_config(c: &TestCluster, topic: &str, key: &str, value: &str) {
    use kafka_client::{ClientConfig, NetworkClient, Purpose};
    use kafka_protocol::generated::IncrementalAlterConfigsRequest;
    use kafka_protocol::generated::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let cfg = ClientConfig::builder().bootstrap_servers([c.bootstrap_servers()]).build().unwrap();
    let req = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: 2,
            resource_name: topic.into(),
            configs: vec![AlterableConfig {
                name: key.into(),
                config_operation: 0,
                value: Some(value.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = NetworkClient::new(cfg).send(-1, Purpose::Admin, &req).await.unwrap();
    assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0].error_message);
}

async fn all_ok(futs: Vec<kafka_producer::DeliveryFuture>) -> Vec<kafka_producer::RecordMetadata> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await.unwrap());
    }
    out
}

fn produce_requests(c: &TestCluster) -> usize {
    c.request_log().iter().filter(|r| r.api_key == ApiKey::Produce as i16).count()
}

#[tokio::test]
async fn buffer_memory_makes_send_wait_and_max_block_ms_bounds_the_wait() {
    for (max_block, should_fail) in [("5000", false), ("200", true)] {
        let c = cluster(1, "buf", 1, 1).await;
        // the first two produce requests hang for 800 ms, holding both batches' memory
        c.inject(Fault::new(ApiKey::Produce, 2, FaultAction::Delay(Duration::from_millis(800))));
        let p = producer(
            &c,
            &[
                ("buffer.memory", "4096"),
                ("batch.size", "2048"),
                ("max.block.ms", max_block),
                ("linger.ms", "0"),
            ],
        );
        p.partitions_for("buf").await.unwrap();
        let big = vec![b'x'; 1500];
        let first = p.send(ProducerRecord::new("buf").value(big.clone()));
        let second = p.send(ProducerRecord::new("buf").value(big.clone()));
        assert!(p.metrics().buffer_used >= 4096, "two batches hold the pool");
        let started = Instant::now();
        let third = p.send(ProducerRecord::new("buf").value(big.clone()));
        assert_eq!(p.metrics().records_waiting, 1, "the third record waits for memory");
        let r = third.await;
        let waited = started.elapsed();
        first.await.unwrap();
        second.await.unwrap();
        if should_fail {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::MaxBlock { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains("buffer memory") && msg.contains("max.block.ms"), "{msg}");
            assert!(
                waited >= Duration::from_millis(180) && waited < Duration::from_millis(750),
                "{waited:?}"
            );
        } else {
            r.unwrap();
            assert!(waited >= Duration::from_millis(700), "waited for memory: {waited:?}");
        }
    }
}

#[tokio::test]
async fn delivery_timeout_fails_records_of_a_slow_broker_naming_the_partition() {
    let c = cluster(1, "slowdt", 2, 1).await;
    c.inject(
        Fault::new(ApiKey::Produce, 50, FaultAction::Delay(Duration::from_secs(3)))
            .on_partition("slowdt", Some(1)),
    );
    let p =
        producer(&c, &[("request.timeout.ms", "300"), ("delivery.timeout.ms", "1000"), ("linger.ms", "0")]);
    p.partitions_for("slowdt").await.unwrap();
    let started = Instant::now();
    let e = p.send(ProducerRecord::new("slowdt").partition(1).value("late")).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, Error::DeliveryTimeout { partition: 1, .. }), "{e}");
    assert!(e.to_string().starts_with("slowdt-1: record expired"), "{e}");
    assert!(e.to_string().contains("delivery.timeout.ms"), "{e}");
    assert!(took >= Duration::from_millis(950) && took < Duration::from_millis(2500), "{took:?}");
}

#[tokio::test]
async fn delivery_timeout_fails_records_of_a_leaderless_partition_and_others_go_through() {
    let c = cluster(2, "nolead", 2, 1).await;
    let p =
        producer(&c, &[("request.timeout.ms", "300"), ("delivery.timeout.ms", "800"), ("linger.ms", "0")]);
    p.partitions_for("nolead").await.unwrap();
    let info0 = c.partition("nolead", 0).unwrap();
    let info1 = c.partition("nolead", 1).unwrap();
    assert_ne!(info0.leader, info1.leader, "the two partitions have different leaders");
    c.stop_broker(info0.leader).unwrap();
    assert_eq!(c.partition("nolead", 0).unwrap().leader, -1, "no other replica: leaderless");
    let started = Instant::now();
    let stuck = p.send(ProducerRecord::new("nolead").partition(0).value("x"));
    let fine = p.send(ProducerRecord::new("nolead").partition(1).value("y"));
    fine.await.unwrap();
    let e = stuck.await.unwrap_err();
    assert!(matches!(e, Error::DeliveryTimeout { partition: 0, .. }), "{e}");
    assert!(e.to_string().starts_with("nolead-0: record expired"), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(750), "{:?}", started.elapsed());
}

#[tokio::test]
async fn max_request_size_rejects_a_large_record_before_sending() {
    let c = cluster(1, "big", 1, 1).await;
    let p = producer(&c, &[("max.request.size", "1000")]);
    let e = p.send(ProducerRecord::new("big").value(vec![0u8; 1200])).await.unwrap_err();
    assert!(matches!(e, Error::RecordTooLarge { limit_key: "max.request.size", limit: 1000, .. }), "{e}");
    assert!(e.to_string().contains("exceeds max.request.size (1000)"), "{e}");
    assert_eq!(produce_requests(&c), 0, "nothing was sent");
    // the default (1 MiB) takes the same record
    let p = producer(&c, &[]);
    p.send(ProducerRecord::new("big").value(vec![0u8; 1200])).await.unwrap();
}

#[tokio::test]
async fn the_brokers_message_too_large_fails_a_single_record_batch() {
    let c = cluster(1, "mtl", 1, 1).await;
    set_topic_config(&c, "mtl", "max.message.bytes", "1000").await;
    let p = producer(&c, &[]);
    let e = p.send(ProducerRecord::new("mtl").value(vec![0u8; 1500])).await.unwrap_err();
    assert!(matches!(e, Error::Broker { code: ErrorCode::MessageTooLarge, partition: 0, .. }), "{e}");
    assert!(e.to_string().starts_with("mtl-0:") && e.to_string().contains("max.message.bytes"), "{e}");
    p.send(ProducerRecord::new("mtl").value(vec![0u8; 100])).await.unwrap();
}

#[tokio::test]
async fn the_brokers_message_too_large_splits_a_batch_of_small_records() {
    let c = cluster(1, "split", 1, 1).await;
    set_topic_config(&c, "split", "max.message.bytes", "2000").await;
    let p = producer(&c, &[("linger.ms", "100")]);
    p.partitions_for("split").await.unwrap();
    // 40 × 100-byte records: one ~4.5 KB batch, each record fits on its own
    let futs = p.send_all((0..40).map(|i| ProducerRecord::new("split").value(format!("{i:0>100}"))));
    let metas = all_ok(futs).await;
    assert_eq!(metas.iter().map(|m| m.offset).collect::<Vec<_>>(), (0..40).collect::<Vec<i64>>());
    assert_eq!(c.records("split", 0).len(), 40);
    // the pieces kept the batch's sequences (idempotence is on by default): the next batches
    // of the partition follow without a gap, and are split in turn
    let futs = p.send_all((40..100).map(|i| ProducerRecord::new("split").value(format!("{i:0>100}"))));
    let metas = all_ok(futs).await;
    assert_eq!(metas.iter().map(|m| m.offset).collect::<Vec<_>>(), (40..100).collect::<Vec<i64>>());
    let stored: Vec<String> = c
        .records("split", 0)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(stored, (0..100).map(|i| format!("{i:0>100}")).collect::<Vec<_>>(), "in send order, once");
    assert!(c.batches("split", 0).len() >= 4, "split into several batches");
}

#[tokio::test]
async fn callbacks_follow_their_records_through_a_split_and_record_errors() {
    // a split (MESSAGE_TOO_LARGE) and a partial resend (KIP-467) replace the batch a record
    // was appended to: its callback must run once, with its final offset or its own error
    let c = TestCluster::builder().topic("cb-split", 1, 1).topic("cb-467", 1, 1).start().await.unwrap();
    set_topic_config(&c, "cb-split", "max.message.bytes", "2000").await;
    set_topic_config(&c, "cb-467", "cleanup.policy", "compact").await;
    let p = producer(&c, &[("linger.ms", "100")]);
    p.partitions_for("cb-split").await.unwrap();
    p.partitions_for("cb-467").await.unwrap();
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, usize, Result<i64, String>)>>>;
    let seen: Seen = Default::default();
    let mut futs = Vec::new();
    for i in 0..40 {
        let s = seen.clone();
        let r = ProducerRecord::new("cb-split").value(format!("{i:0>100}"));
        futs.push(p.send_with_callback(r, move |r| {
            s.lock().unwrap().push(("cb-split".into(), i, r.map(|m| m.offset).map_err(|e| e.to_string())))
        }));
    }
    for i in 0..10 {
        let s = seen.clone();
        let r = ProducerRecord::new("cb-467").value(format!("v{i}"));
        let r = if i == 3 { r } else { r.key(format!("k{i}")) };
        futs.push(p.send_with_callback(r, move |r| {
            s.lock().unwrap().push(("cb-467".into(), i, r.map(|m| m.offset).map_err(|e| e.to_string())))
        }));
    }
    for f in futs {
        let _ = f.await;
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let split: Vec<_> = seen.iter().filter(|s| s.0 == "cb-split").map(|s| (s.1, s.2.clone())).collect();
    assert_eq!(
        split,
        (0..40).map(|i| (i, Ok(i as i64))).collect::<Vec<_>>(),
        "each split record's callback once"
    );
    let kip: Vec<_> = seen.iter().filter(|s| s.0 == "cb-467").collect();
    assert_eq!(kip.len(), 10, "{kip:?}");
    for (_, i, r) in kip {
        match (*i, r) {
            (3, Err(e)) => assert!(e.contains("record 3 of its batch"), "{e}"),
            (i, Ok(o)) if i < 3 => assert_eq!(*o, i as i64),
            (i, Ok(o)) => assert_eq!(*o, i as i64 - 1),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
}

#[tokio::test]
async fn record_errors_fail_only_the_rejected_records_and_the_others_are_written_in_order() {
    // a compacted topic rejects records without a key: Kafka answers INVALID_RECORD with one
    // record error (batch index + message) per such record (KIP-467)
    let c = cluster(1, "kip467", 1, 1).await;
    set_topic_config(&c, "kip467", "cleanup.policy", "compact").await;
    let p = producer(&c, &[("linger.ms", "100")]);
    p.partitions_for("kip467").await.unwrap();
    let record = |i: usize| {
        let r = ProducerRecord::new("kip467").value(format!("v{i}"));
        if i == 3 || i == 7 { r } else { r.key(format!("k{i}")) }
    };
    let futs = p.send_all((0..10).map(record));
    let mut ok = Vec::new();
    for (i, f) in futs.into_iter().enumerate() {
        match f.await {
            Ok(m) => ok.push((i, m.offset)),
            Err(e) => {
                assert!([3, 7].contains(&i), "record {i} failed: {e}");
                let msg = e.to_string();
                assert!(
                    matches!(e, Error::Broker { code: ErrorCode::InvalidRecord, partition: 0, .. }),
                    "{msg}"
                );
                assert!(msg.starts_with("kip467-0:"), "{msg}");
                assert!(msg.contains(&format!("record {i} of its batch")), "{msg}");
                assert!(msg.contains("without key"), "{msg}");
            }
        }
    }
    assert_eq!(ok.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2, 4, 5, 6, 8, 9]);
    assert_eq!(ok.iter().map(|(_, o)| *o).collect::<Vec<_>>(), (0..8).collect::<Vec<i64>>());
    // the sequences after the shortened batch were renumbered: the partition goes on
    let m = p.send(ProducerRecord::new("kip467").key("k").value("after")).await.unwrap();
    assert_eq!(m.offset, 8);
    let stored: Vec<String> = c
        .records("kip467", 0)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(stored, ["v0", "v1", "v2", "v4", "v5", "v6", "v8", "v9", "after"]);
    assert_eq!(p.metrics().record_errors, 2);
}

#[tokio::test]
async fn acks_zero_never_waits_for_a_response_and_reports_offset_minus_one() {
    let c = cluster(1, "a0", 1, 1).await;
    // every produce is answered after 3 s (and acks=0 requests get no answer at all)
    c.inject(Fault::new(ApiKey::Produce, 10, FaultAction::Delay(Duration::from_secs(3))));
    let p = producer(&c, &[("acks", "0"), ("linger.ms", "0")]);
    p.partitions_for("a0").await.unwrap();
    let started = Instant::now();
    let m = p.send(ProducerRecord::new("a0").value("fire")).await.unwrap();
    assert_eq!(m.offset, -1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "did not wait for the broker: {:?}",
        started.elapsed()
    );
    // the record arrives once the broker gets to it
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.records("a0", 0).is_empty() {
        assert!(Instant::now() < deadline, "the acks=0 record never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // acks=1 with the same slow broker waits for the answer
    c.clear_faults();
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::Delay(Duration::from_millis(600))));
    let p1 = producer(&c, &[("acks", "1"), ("linger.ms", "0")]);
    let started = Instant::now();
    let m = p1.send(ProducerRecord::new("a0").value("acked")).await.unwrap();
    assert_eq!(m.offset, 1);
    assert!(started.elapsed() >= Duration::from_millis(550), "{:?}", started.elapsed());
}

#[tokio::test]
async fn linger_ms_gathers_a_burst_into_one_batch_and_zero_does_not_wait() {
    let c = cluster(1, "linger", 1, 1).await;
    let p = producer(&c, &[("linger.ms", "500")]);
    p.partitions_for("linger").await.unwrap();
    let started = Instant::now();
    all_ok(p.send_all((0..50).map(|i| ProducerRecord::new("linger").value(format!("{i}"))))).await;
    assert!(started.elapsed() >= Duration::from_millis(450), "lingered: {:?}", started.elapsed());
    assert_eq!(c.batches("linger", 0).len(), 1, "one batch for the burst");

    let p = producer(&c, &[("linger.ms", "0")]);
    p.partitions_for("linger").await.unwrap();
    let started = Instant::now();
    p.send(ProducerRecord::new("linger").value("now")).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300), "no linger: {:?}", started.elapsed());
    // one at a time: one batch per record
    for i in 0..5 {
        p.send(ProducerRecord::new("linger").value(format!("{i}"))).await.unwrap();
    }
    assert_eq!(c.batches("linger", 0).len(), 7);
}

#[tokio::test]
async fn batch_size_bounds_stored_batches() {
    for (batch_size, min_batches, max_batches) in [(1024usize, 10, 20), (16384, 1, 1)] {
        let c = cluster(1, "bs", 1, 1).await;
        let p = producer(&c, &[("linger.ms", "200"), ("batch.size", &batch_size.to_string())]);
        p.partitions_for("bs").await.unwrap();
        all_ok(p.send_all((0..100).map(|i| ProducerRecord::new("bs").value(format!("{i:0>100}"))))).await;
        let batches = c.batches("bs", 0);
        assert!(
            (min_batches..=max_batches).contains(&batches.len()),
            "batch.size {batch_size}: {} batches",
            batches.len()
        );
        for b in &batches {
            assert!(b.bytes.len() <= batch_size, "batch.size {batch_size}: a {}-byte batch", b.bytes.len());
        }
        assert_eq!(c.records("bs", 0).len(), 100);
    }
}

#[tokio::test]
async fn compression_type_is_visible_in_stored_batch_attributes() {
    for (codec, id) in [("none", 0), ("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)] {
        let c = cluster(1, "codec", 1, 1).await;
        let p = producer(&c, &[("compression.type", codec), ("linger.ms", "50")]);
        all_ok(p.send_all((0..200).map(|i| ProducerRecord::new("codec").value(format!("{i:0>200}"))))).await;
        let batches = c.batches("codec", 0);
        let stored: usize = batches.iter().map(|b| b.bytes.len()).sum();
        for b in &batches {
            let attributes = i16::from_be_bytes([b.bytes[21], b.bytes[22]]);
            assert_eq!(attributes & 7, id, "{codec}");
        }
        // 200 × ~200 bytes of mostly zeros: every codec shrinks it a lot
        if id == 0 {
            assert!(stored > 40_000, "{codec}: {stored}");
        } else {
            assert!(stored < 10_000, "{codec}: {stored}");
        }
        assert_eq!(c.records("codec", 0).len(), 200, "{codec}");
    }
}

#[tokio::test]
async fn partitioner_ignore_keys_sticks_keyed_records_to_one_partition() {
    for ignore in [false, true] {
        let c = cluster(1, "keys", 6, 1).await;
        let p = producer(
            &c,
            &[("partitioner.ignore.keys", if ignore { "true" } else { "false" }), ("linger.ms", "50")],
        );
        p.partitions_for("keys").await.unwrap();
        let keys: Vec<String> = (0..60).map(|i| format!("key-{i}")).collect();
        let metas =
            all_ok(p.send_all(keys.iter().map(|k| ProducerRecord::new("keys").key(k.clone()).value("v"))))
                .await;
        let used: std::collections::BTreeSet<i32> = metas.iter().map(|m| m.partition).collect();
        if ignore {
            assert_eq!(used.len(), 1, "sticky for keyed records: {used:?}");
        } else {
            assert!(used.len() >= 4, "hashed: {used:?}");
            for (k, m) in keys.iter().zip(&metas) {
                assert_eq!(m.partition, partition_for_key(k.as_bytes(), 6), "{k}");
            }
        }
    }
}

#[tokio::test]
async fn max_in_flight_bounds_requests_sent_while_one_is_unanswered() {
    for (max_in_flight, min_sent, max_sent) in [(1usize, 1usize, 1usize), (5, 5, 100)] {
        let c = cluster(1, "mif", 1, 1).await;
        let p = producer(
            &c,
            &[
                ("enable.idempotence", "false"),
                ("acks", "1"),
                ("max.in.flight.requests.per.connection", &max_in_flight.to_string()),
                ("linger.ms", "0"),
                ("batch.size", "200"),
                ("request.timeout.ms", "1500"),
            ],
        );
        p.partitions_for("mif").await.unwrap();
        // the first produce is processed but never answered
        c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::DropResponse));
        let futs = p.send_all((0..10).map(|i| ProducerRecord::new("mif").value(format!("{i:0>150}"))));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = produce_requests(&c);
        assert!(
            (min_sent..=max_sent).contains(&sent),
            "max.in.flight {max_in_flight}: {sent} produce requests while the first is unanswered"
        );
        all_ok(futs).await;
    }
}

/// Several tasks on several threads send through a buffer far too small for them (and slow
/// produce answers), so many records wait for memory: each task's records to a partition keep
/// its send order, and every record is written once (the waiting queue's lock-free "anything
/// waiting?" check must never let a record overtake one its own task queued before it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_through_a_full_buffer_keep_each_tasks_order() {
    let c = cluster(1, "crowd", 2, 1).await;
    c.inject(Fault::new(ApiKey::Produce, 30, FaultAction::Delay(Duration::from_millis(30))));
    let p = producer(&c, &[("buffer.memory", "32768"), ("batch.size", "2048"), ("linger.ms", "1")]);
    p.partitions_for("crowd").await.unwrap();
    let waited = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let (p, waited) = (p.clone(), waited.clone());
            tokio::spawn(async move {
                let mut futures = Vec::new();
                for i in 0..3000 {
                    let rec = ProducerRecord::new("crowd").partition(i % 2).value(format!("{t}-{i:05}"));
                    futures.push(p.send(rec));
                    if i % 50 == 49 {
                        // waiting records are capped at buffer.memory too: let the sender drain
                        let n = p.metrics().records_waiting;
                        waited.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                        while p.metrics().records_waiting > 0 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
                let mut last = [-1i64; 2];
                for (i, f) in futures.into_iter().enumerate() {
                    let m = f.await.unwrap_or_else(|e| panic!("task {t} record {i}: {e}"));
                    let part = i % 2;
                    assert!(
                        m.offset > last[part],
                        "task {t} record {i}: offset {} after {}",
                        m.offset,
                        last[part]
                    );
                    last[part] = m.offset;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(waited.load(std::sync::atomic::Ordering::Relaxed) > 32, "records waited for memory");
    let mut total = 0;
    for part in 0..2 {
        let values: Vec<String> = c
            .records("crowd", part)
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        total += values.len();
        for t in 0..4 {
            let mine: Vec<&String> = values.iter().filter(|v| v.starts_with(&format!("{t}-"))).collect();
            let mut sorted = mine.clone();
            sorted.sort();
            assert_eq!(mine, sorted, "task {t}'s records in partition {part} in send order");
        }
    }
    assert_eq!(total, 4 * 3000, "every record written once");
}

/// A record sent while another waits (here for its new topic's metadata) queues behind it even
/// though it could be appended at once: `send` order is kept across the waiting queue.
#[tokio::test]
async fn a_record_sent_behind_a_waiting_one_waits_too() {
    let c = TestCluster::builder()
        .brokers(1)
        .topic("known", 1, 1)
        .auto_create_topics(false)
        .start()
        .await
        .unwrap();
    let p = producer(&c, &[("linger.ms", "0")]);
    p.partitions_for("known").await.unwrap();
    let first = p.send(ProducerRecord::new("later").value("first"));
    let second = p.send(ProducerRecord::new("known").value("second"));
    assert_eq!(p.metrics().records_waiting, 2, "the second record queued behind the first");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(c.records("known", 0).is_empty(), "nothing overtook the waiting record");
    c.create_topic("later", 1, 1).unwrap();
    first.await.unwrap();
    assert_eq!(second.await.unwrap().offset, 0);
}
