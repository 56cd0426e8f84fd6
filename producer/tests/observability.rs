//! Interceptors, send callbacks, metrics, close-on-drop and authentication failures, against
//! the embedded test broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_producer::{
    Error, InterceptorError, Producer, ProducerConfig, ProducerInterceptor, ProducerRecord, RecordMetadata,
};
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_test_broker::{Fault, FaultAction, TestCluster};

async fn cluster(topic: &str, partitions: i32) -> TestCluster {
    TestCluster::builder().brokers(1).topic(topic, partitions, 1).start().await.unwrap()
}

fn config(c: &TestCluster, extra: &[(&str, &str)]) -> kafka_producer::ProducerConfigBuilder {
    let mut b = ProducerConfig::builder().bootstrap_servers(c.bootstrap_servers());
    for (k, v) in extra {
        b = b.set(*k, *v);
    }
    b
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// (topic, partition, offset, error text) of one acknowledgement.
type Ack = (String, i32, i64, Option<String>);

/// Records what it sees; tags records; can be told to fail or panic.
#[derive(Default)]
struct Recorder {
    name: &'static str,
    /// (topic, partition, offset, error text) per acknowledgement, in call order.
    acks: Mutex<Vec<Ack>>,
    /// Header names present when `on_send` saw the record.
    seen_headers: Mutex<Vec<Vec<String>>>,
    fail_send: bool,
    panic_ack: bool,
    closed: AtomicUsize,
}

impl ProducerInterceptor for Recorder {
    fn on_send(&self, record: &mut ProducerRecord) -> Result<(), InterceptorError> {
        self.seen_headers.lock().unwrap().push(record.headers.iter().map(|(k, _)| k.clone()).collect());
        record.headers.push((self.name.to_string(), None));
        if self.fail_send {
            return Err("on_send refuses".into());
        }
        Ok(())
    }

    fn on_acknowledgement(&self, m: &RecordMetadata, error: Option<&Error>) -> Result<(), InterceptorError> {
        self.acks.lock().unwrap().push((
            m.topic.clone(),
            m.partition,
            m.offset,
            error.map(|e| e.to_string()),
        ));
        if self.panic_ack {
            panic!("on_acknowledgement panics");
        }
        Err("and fails".into())
    }

    fn close(&self) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// A [`Recorder`] the test keeps a handle to while the producer owns the interceptor.
struct Shared(Arc<Recorder>);

impl ProducerInterceptor for Shared {
    fn on_send(&self, r: &mut ProducerRecord) -> Result<(), InterceptorError> {
        self.0.on_send(r)
    }
    fn on_acknowledgement(&self, m: &RecordMetadata, e: Option<&Error>) -> Result<(), InterceptorError> {
        self.0.on_acknowledgement(m, e)
    }
    fn close(&self) {
        self.0.close()
    }
}

#[tokio::test]
async fn interceptors_run_in_order_change_records_see_every_outcome_and_never_fail_a_send() {
    let c =
        TestCluster::builder().brokers(1).topic("i", 1, 1).auto_create_topics(false).start().await.unwrap();
    let first = Arc::new(Recorder { name: "first", fail_send: true, ..Default::default() });
    let second = Arc::new(Recorder { name: "second", panic_ack: true, ..Default::default() });
    let cfg = config(&c, &[("max.request.size", "1000"), ("max.block.ms", "300")])
        .interceptor(Shared(first.clone()))
        .interceptor(Shared(second.clone()))
        .build()
        .unwrap();
    let p = Producer::new(cfg);
    for i in 0..5 {
        p.send(ProducerRecord::new("i").value(format!("v{i}"))).await.unwrap();
    }
    // refused before it is queued: too large, and a topic that never gets metadata
    let big = p.send(ProducerRecord::new("i").value(vec![0u8; 2000])).await.unwrap_err();
    assert!(matches!(big, Error::RecordTooLarge { .. }), "{big}");
    let lost = p.send(ProducerRecord::new("nowhere").value("x")).await.unwrap_err();
    assert!(matches!(lost, Error::MaxBlock { .. }), "{lost}");
    assert_eq!(p.metrics().record_errors, 2, "refused sends count as errors (as in Java)");
    p.close(Duration::from_secs(5)).await.unwrap();

    // the second interceptor saw the first one's header (its error did not undo the change)
    assert_eq!(second.seen_headers.lock().unwrap()[0], ["first"]);
    let stored = c.records("i", 0);
    assert_eq!(stored.len(), 5);
    let names: Vec<&str> = stored[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    for r in [&first, &second] {
        let acks = r.acks.lock().unwrap().clone();
        assert_eq!(acks.len(), 7, "{}: every outcome once: {acks:?}", r.name);
        let ok: Vec<i64> = acks.iter().filter(|a| a.3.is_none()).map(|a| a.2).collect();
        assert_eq!(ok, [0, 1, 2, 3, 4]);
        assert!(acks[5].3.as_deref().unwrap().contains("max.request.size"), "{acks:?}");
        assert_eq!((acks[6].0.as_str(), acks[6].1, acks[6].2), ("nowhere", -1, -1));
        assert!(acks[6].3.as_deref().unwrap().contains("max.block.ms"), "{acks:?}");
        assert_eq!(r.closed.load(Ordering::SeqCst), 1, "close runs once");
    }
}

#[tokio::test]
async fn callbacks_run_once_per_record_in_send_order_even_when_one_panics() {
    let c = cluster("cb", 2).await;
    let p = Producer::new(config(&c, &[("linger.ms", "20"), ("max.request.size", "1000")]).build().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..300 {
        let seen = seen.clone();
        let rec = ProducerRecord::new("cb").partition(i % 2).value(format!("{i}"));
        let _ = p.send_with_callback(rec, move |r| {
            let m = r.unwrap();
            seen.lock().unwrap().push((m.partition, m.offset, i));
            if i == 7 {
                panic!("a callback panics");
            }
        });
    }
    // a record refused at once gets its callback before send returns
    let refused = Arc::new(Mutex::new(None));
    let r2 = refused.clone();
    let fut = p.send_with_callback(ProducerRecord::new("cb").value(vec![0u8; 5000]), move |r| {
        *r2.lock().unwrap() = Some(r.unwrap_err().to_string());
    });
    assert!(refused.lock().unwrap().as_deref().unwrap().contains("max.request.size"));
    assert!(fut.await.is_err());
    p.flush().await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 300, "each callback ran once");
    for part in 0..2 {
        let sends: Vec<i32> = seen.iter().filter(|s| s.0 == part).map(|s| s.2).collect();
        let offsets: Vec<i64> = seen.iter().filter(|s| s.0 == part).map(|s| s.1).collect();
        assert_eq!(sends, (0..300).filter(|i| i % 2 == part).collect::<Vec<_>>(), "send order");
        assert_eq!(offsets, (0..150).collect::<Vec<i64>>());
    }
    // the sender survived the panic
    p.send(ProducerRecord::new("cb").value("after")).await.unwrap();
}

#[test]
fn a_callback_may_send_from_a_failing_batch() {
    // A batch that expires finishes outside the accumulator's locks, so its callback can
    // send. The producer runs on its own thread: a deadlock there fails this test by timeout.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let c = cluster("x", 1).await;
            c.inject(Fault::new(ApiKey::Produce, 1000, FaultAction::Error(ErrorCode::NotEnoughReplicas)));
            let p = Producer::new(
                config(
                    &c,
                    &[("delivery.timeout.ms", "1500"), ("request.timeout.ms", "1000"), ("linger.ms", "0")],
                )
                .build()
                .unwrap(),
            );
            let (tx, rx) = tokio::sync::oneshot::channel();
            let p2 = p.clone();
            let _ = p.send_with_callback(ProducerRecord::new("x").value("a"), move |r| {
                assert!(r.is_err());
                let _ = tx.send(p2.send(ProducerRecord::new("x").value("b")));
            });
            let next = rx.await.unwrap();
            c.clear_faults();
            next.await.unwrap();
            done_tx.send(()).unwrap();
        });
    });
    done_rx.recv_timeout(Duration::from_secs(60)).expect("a callback that sends must not deadlock");
}

#[tokio::test]
async fn metrics_move_when_traffic_happens() {
    let c = cluster("m", 1).await;
    let p = Producer::new(
        config(&c, &[("compression.type", "gzip"), ("linger.ms", "10"), ("retry.backoff.ms", "10")])
            .build()
            .unwrap(),
    );
    let before = p.metrics();
    assert_eq!(before.record_send_rate, 0.0);
    assert_eq!((before.batch_size_avg, before.request_latency_avg), (None, None));
    assert_eq!(before.buffer_total_bytes, 32 << 20);
    assert_eq!(before.buffer_available_bytes, 32 << 20);
    p.send(ProducerRecord::new("m").value("metadata")).await.unwrap();
    let futs = p.send_all((0..200).map(|i| ProducerRecord::new("m").value(format!("{i:0>100}"))));
    assert!(p.metrics().buffer_available_bytes < 32 << 20, "batches hold memory");
    for f in futs {
        f.await.unwrap();
    }
    let m = p.metrics();
    assert!(m.record_send_rate > 0.0, "{m:?}");
    assert!(m.outgoing_byte_rate > 0.0, "{m:?}");
    assert!(m.batch_size_avg.unwrap() > 0.0 && m.batch_size_max.unwrap() > 0, "{m:?}");
    assert!(m.records_per_request_avg.unwrap() >= 1.0, "{m:?}");
    assert!(m.compression_rate_avg.unwrap() < 0.5, "zero-padded values compress: {m:?}");
    assert!(m.record_queue_time_max.is_some() && m.request_latency_max.is_some(), "{m:?}");
    assert_eq!((m.requests_in_flight, m.record_error_rate), (0, 0.0));
    assert_eq!(m.buffer_available_bytes, 32 << 20, "memory is back");
    // a request the broker holds is in flight until it answers
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::Delay(Duration::from_millis(500))));
    let held = p.send(ProducerRecord::new("m").value("held"));
    eventually("a request in flight", || p.metrics().requests_in_flight == 1).await;
    held.await.unwrap();
    assert_eq!(p.metrics().requests_in_flight, 0);
    // retries and errors
    c.inject(Fault::new(ApiKey::Produce, 2, FaultAction::Error(ErrorCode::NotLeaderOrFollower)));
    p.send(ProducerRecord::new("m").value("r")).await.unwrap();
    let m = p.metrics();
    assert!(m.record_retries >= 2 && m.record_retry_rate > 0.0, "{m:?}");
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::Error(ErrorCode::RecordListTooLarge)));
    p.send(ProducerRecord::new("m").value("e")).await.unwrap_err();
    let m = p.metrics();
    assert!(m.record_errors == 1 && m.record_error_rate > 0.0, "{m:?}");
}

#[tokio::test]
async fn records_waiting_for_buffer_memory_count_their_wait() {
    let c = cluster("w", 1).await;
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::Delay(Duration::from_millis(300))));
    let p = Producer::new(
        config(&c, &[("buffer.memory", "40000"), ("batch.size", "16384"), ("linger.ms", "0")])
            .build()
            .unwrap(),
    );
    // two 16 KiB batches fit in 40000 bytes; the records after them wait for memory
    let futs = p.send_all((0..36).map(|_| ProducerRecord::new("w").value(vec![1u8; 1000])));
    for f in futs {
        f.await.unwrap();
    }
    let m = p.metrics();
    assert!(m.bufferpool_wait_time_total > Duration::ZERO, "{m:?}");
}

#[tokio::test]
async fn dropping_the_last_handle_delivers_what_was_sent_then_ends_the_sender_task() {
    let c = cluster("d", 1).await;
    let rec = Arc::new(Recorder { name: "d", ..Default::default() });
    let p =
        Producer::new(config(&c, &[("linger.ms", "500")]).interceptor(Shared(rec.clone())).build().unwrap());
    p.send(ProducerRecord::new("d").value("warm-up")).await.unwrap();
    let network = p.network_metrics().clone();
    let clone = p.clone();
    for i in 0..50 {
        let _ = clone.send(ProducerRecord::new("d").value(Bytes::from(format!("{i}"))));
    }
    drop(p);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rec.closed.load(Ordering::SeqCst), 0, "a clone still lives");
    drop(clone);
    // the interceptor is closed and released: the sender task (which owned the last
    // reference to the producer's state) has ended
    eventually("the sender task to end", || Arc::strong_count(&rec) == 1).await;
    assert_eq!(rec.closed.load(Ordering::SeqCst), 1);
    assert_eq!(c.records("d", 0).len(), 51, "records sent before the drop were delivered");
    assert_eq!(rec.acks.lock().unwrap().len(), 51);
    eventually("connections to close", || {
        let t = network.total();
        t.connections_created > 0 && t.connections_closed == t.connections_created
    })
    .await;
}

#[tokio::test]
async fn a_wrong_sasl_password_fails_sends_at_once_not_after_max_block() {
    let c =
        TestCluster::builder().brokers(1).topic("s", 1, 1).sasl_user("alice", "right").start().await.unwrap();
    let p = Producer::new(
        config(
            &c,
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "alice"),
                ("sasl.password", "wrong"),
                ("max.block.ms", "120000"),
            ],
        )
        .build()
        .unwrap(),
    );
    let started = std::time::Instant::now();
    let pending = p.send(ProducerRecord::new("s").value("a"));
    let e = tokio::time::timeout(Duration::from_secs(30), pending).await.expect("not after max.block.ms");
    let e = e.unwrap_err();
    assert!(matches!(&e, Error::Client(k) if k.is_authentication_failure()), "{e}");
    // and the sends that follow fail at once too
    let e = tokio::time::timeout(Duration::from_secs(30), p.send(ProducerRecord::new("s").value("b")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(&e, Error::Client(k) if k.is_authentication_failure()), "{e}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn a_dropped_producer_whose_broker_is_gone_ends_after_delivery_timeout() {
    let c = cluster("g", 1).await;
    let rec = Arc::new(Recorder { name: "g", ..Default::default() });
    let p = Producer::new(
        config(&c, &[("delivery.timeout.ms", "1500"), ("request.timeout.ms", "1000"), ("linger.ms", "0")])
            .interceptor(Shared(rec.clone()))
            .build()
            .unwrap(),
    );
    // metadata but no producer id yet: the sender is stuck asking for one once the broker is gone
    p.partitions_for("g").await.unwrap();
    c.stop_broker(1).unwrap();
    for i in 0..5 {
        let _ = p.send(ProducerRecord::new("g").value(format!("{i}")));
    }
    drop(p);
    eventually("the sender task to end", || Arc::strong_count(&rec) == 1).await;
    let acks = rec.acks.lock().unwrap().clone();
    assert_eq!(acks.len(), 5, "{acks:?}");
    assert!(
        acks.iter().all(|a| a.3.as_deref().is_some_and(|e| e.contains("delivery.timeout.ms"))),
        "{acks:?}"
    );
}
