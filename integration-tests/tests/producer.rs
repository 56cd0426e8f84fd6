//! The producer end to end, on the embedded test broker or a real cluster (`KAFKA_BOOTSTRAP`):
//! idempotent keyed sends land where the Java client puts them, with dense offsets, for every
//! codec; the records read back with a raw Fetch are byte-identical. A batch larger than the
//! topic's max.message.bytes is split; keyless records on a compacted topic fail alone
//! (KIP-467 record errors) while the rest of their batch is written.

use std::time::Duration;

use integration_tests::{target, unique_topic};
use kafka_client::{ClientConfig, Metadata, NetworkClient, Purpose};
use kafka_producer::partitioner::partition_for_key;
use kafka_producer::{Producer, ProducerRecord};
use kafka_protocol::generated::{
    CreateTopicsRequest, FetchRequest,
    create_topics_request::{CreatableTopic, CreatableTopicConfig},
    fetch_request::{FetchPartition, FetchTopic},
};
use kafka_protocol::records::{DecodeOptions, decode_batches};

#[tokio::test]
async fn idempotent_keyed_sends_with_every_codec_read_back_byte_exact() {
    let Some(t) = target(1).await else { return };
    let servers: Vec<String> = t.bootstrap().split(',').map(str::to_owned).collect();
    let pool = NetworkClient::new(ClientConfig::builder().bootstrap_servers(&servers).build().unwrap());
    let meta = Metadata::new(pool.clone(), false);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique_topic(&format!("it-producer-{codec}"));
        let node = meta.refresh(Duration::from_secs(30)).await.unwrap().brokers().next().unwrap().id;
        let create = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: topic.clone(),
                num_partitions: 3,
                replication_factor: -1,
                ..Default::default()
            }],
            timeout_ms: 30_000,
            ..Default::default()
        };
        let resp = pool.send(node, Purpose::Admin, &create).await.unwrap();
        assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0].error_message);

        let producer = Producer::from_pairs([
            ("bootstrap.servers", t.bootstrap().as_str()),
            ("compression.type", codec),
            ("linger.ms", "10"),
        ])
        .unwrap();
        let futs = producer.send_all((0..300).map(|i| {
            ProducerRecord::new(topic.clone()).key(format!("k{}", i % 10)).value(format!("{codec}-value-{i}"))
        }));
        let mut expected = vec![Vec::new(); 3];
        for (i, f) in futs.into_iter().enumerate() {
            let m = f.await.unwrap_or_else(|e| panic!("{codec}: record {i}: {e}"));
            assert_eq!(m.partition, partition_for_key(format!("k{}", i % 10).as_bytes(), 3));
            assert_eq!(m.offset, expected[m.partition as usize].len() as i64, "dense offsets");
            expected[m.partition as usize].push(format!("{codec}-value-{i}"));
        }
        producer.close(Duration::from_secs(10)).await.unwrap();

        let tm = meta.wait_for_topic(&topic, Duration::from_secs(30)).await.unwrap();
        for (partition, want) in expected.iter().enumerate() {
            let leader = tm.partitions[&(partition as i32)].leader.unwrap();
            let fetch = FetchRequest {
                replica_id: -1,
                max_wait_ms: 100,
                max_bytes: 1 << 22,
                topics: vec![FetchTopic {
                    topic: topic.clone(),
                    topic_id: tm.topic_id,
                    partitions: vec![FetchPartition {
                        partition: partition as i32,
                        partition_max_bytes: 1 << 22,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let resp = pool.send(leader, Purpose::Fetch, &fetch).await.unwrap();
            let p = &resp.responses[0].partitions[0];
            let mut got = Vec::new();
            for batch in decode_batches(p.records.clone().unwrap_or_default(), &DecodeOptions::default()) {
                let batch = batch.unwrap();
                assert!(batch.producer_id >= 0, "{codec}: idempotent batches carry a producer id");
                for r in batch.records() {
                    got.push(String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap());
                }
            }
            assert_eq!(&got, want, "{codec}: partition {partition}");
        }
    }
}

/// Creates a one-partition topic with `configs` through CreateTopics.
async fn create_topic(bootstrap: &str, topic: &str, configs: &[(&str, &str)]) {
    let servers: Vec<String> = bootstrap.split(',').map(str::to_owned).collect();
    let pool = NetworkClient::new(ClientConfig::builder().bootstrap_servers(&servers).build().unwrap());
    let meta = Metadata::new(pool.clone(), false);
    let node = meta.refresh(Duration::from_secs(30)).await.unwrap().brokers().next().unwrap().id;
    let create = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: topic.to_owned(),
            num_partitions: 1,
            replication_factor: -1,
            configs: configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig {
                    name: (*k).to_owned(),
                    value: Some((*v).to_owned()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let resp = pool.send(node, Purpose::Admin, &create).await.unwrap();
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0].error_message);
    meta.wait_for_topic(topic, Duration::from_secs(30)).await.unwrap();
}

#[tokio::test]
async fn a_batch_over_max_message_bytes_is_split_and_keyless_records_on_a_compacted_topic_fail_alone() {
    let Some(t) = target(1).await else { return };
    let big = unique_topic("it-split");
    create_topic(&t.bootstrap(), &big, &[("max.message.bytes", "2000")]).await;
    let compacted = unique_topic("it-kip467");
    create_topic(&t.bootstrap(), &compacted, &[("cleanup.policy", "compact")]).await;
    let producer =
        Producer::from_pairs([("bootstrap.servers", t.bootstrap().as_str()), ("linger.ms", "200")]).unwrap();

    // 40 x 100 B in one ~4.4 KB batch: MESSAGE_TOO_LARGE, split, all written in order
    let futs =
        producer.send_all((0..40).map(|i| ProducerRecord::new(big.clone()).value(format!("{i:0>100}"))));
    for (i, f) in futs.into_iter().enumerate() {
        let m = f.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert_eq!(m.offset, i as i64, "record {i}");
    }

    // records 3 and 7 have no key: the broker names them; the others are written
    let futs = producer.send_all((0..10).map(|i| {
        let r = ProducerRecord::new(compacted.clone()).value(format!("v{i}"));
        if i == 3 || i == 7 { r } else { r.key(format!("k{i}")) }
    }));
    let mut offsets = Vec::new();
    for (i, f) in futs.into_iter().enumerate() {
        match f.await {
            Ok(m) => offsets.push(m.offset),
            Err(e) => {
                let msg = e.to_string();
                assert!([3, 7].contains(&i), "record {i}: {msg}");
                assert!(msg.starts_with(&format!("{compacted}-0:")), "{msg}");
                assert!(msg.contains(&format!("record {i} of its batch")), "{msg}");
            }
        }
    }
    assert_eq!(offsets, (0..8).collect::<Vec<i64>>());
    let m = producer.send(ProducerRecord::new(compacted.clone()).key("k").value("after")).await.unwrap();
    assert_eq!(m.offset, 8);
    producer.close(Duration::from_secs(10)).await.unwrap();
}

/// Counts acknowledgements and closes.
#[derive(Default)]
struct Counting {
    acks: std::sync::atomic::AtomicUsize,
    errors: std::sync::atomic::AtomicUsize,
    closed: std::sync::atomic::AtomicUsize,
}

struct CountingInterceptor(std::sync::Arc<Counting>);

impl kafka_producer::ProducerInterceptor for CountingInterceptor {
    fn on_send(&self, record: &mut ProducerRecord) -> Result<(), kafka_producer::InterceptorError> {
        record.headers.push(("intercepted".into(), None));
        Ok(())
    }
    fn on_acknowledgement(
        &self,
        _: &kafka_producer::RecordMetadata,
        error: Option<&kafka_producer::Error>,
    ) -> Result<(), kafka_producer::InterceptorError> {
        let n = if error.is_some() { &self.0.errors } else { &self.0.acks };
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn close(&self) {
        self.0.closed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn callbacks_interceptors_metrics_and_close_on_drop() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::{Arc, Mutex};
    let Some(t) = target(1).await else { return };
    let admin =
        kafka_admin::AdminClient::from_pairs([("bootstrap.servers", t.bootstrap().as_str())]).unwrap();
    let topic = unique_topic("it-producer-hooks");
    let r = admin.create_topics(&[kafka_admin::NewTopic::new(topic.clone(), 3, 1)], false).await.unwrap();
    r[&topic].as_ref().unwrap();
    let counting = Arc::new(Counting::default());
    let cfg = kafka_producer::ProducerConfig::builder()
        .bootstrap_servers(t.bootstrap())
        .set("linger.ms", "10")
        .interceptor(CountingInterceptor(counting.clone()))
        .build()
        .unwrap();
    let producer = Producer::new(cfg);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..300 {
        let seen = seen.clone();
        let rec = ProducerRecord::new(topic.clone()).key(format!("k{}", i % 7)).value(format!("{i}"));
        let _ = producer.send_with_callback(rec, move |r| {
            let m = r.unwrap_or_else(|e| panic!("record {i}: {e}"));
            seen.lock().unwrap().push((m.partition, m.offset, i));
        });
    }
    producer.flush().await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 300, "one callback per record");
    for partition in 0..3 {
        let mine: Vec<_> = seen.iter().filter(|s| s.0 == partition).collect();
        assert!(mine.windows(2).all(|w| w[0].1 < w[1].1 && w[0].2 < w[1].2), "send order in {partition}");
    }
    assert_eq!((counting.acks.load(SeqCst), counting.errors.load(SeqCst)), (300, 0));
    let m = producer.metrics();
    assert!(m.record_send_rate > 0.0 && m.outgoing_byte_rate > 0.0, "{m:?}");
    assert!(m.request_latency_avg.is_some() && m.batch_size_avg.is_some(), "{m:?}");
    assert!(m.records_per_request_avg.unwrap() >= 1.0 && m.record_queue_time_max.is_some(), "{m:?}");
    assert_eq!((m.requests_in_flight, m.record_errors), (0, 0), "{m:?}");

    // unawaited sends, then the last handle goes: they are delivered and the sender ends
    for i in 0..20 {
        let _ = producer.send(ProducerRecord::new(topic.clone()).value(format!("late-{i}")));
    }
    drop(producer);
    integration_tests::eventually("the sender task to end", || async {
        (Arc::strong_count(&counting) == 1).then_some(())
    })
    .await;
    assert_eq!(counting.closed.load(SeqCst), 1);
    assert_eq!(counting.acks.load(SeqCst), 320, "records sent before the drop were delivered");
}
