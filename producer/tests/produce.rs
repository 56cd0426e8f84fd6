//! The producer against the embedded test broker: delivery, partitioning, codecs, and the
//! failures a producer must survive (injected by the test broker).

use std::time::Duration;

use bytes::Bytes;
use kafka_producer::partitioner::partition_for_key;
use kafka_producer::{Error, Producer, ProducerConfig, ProducerRecord};
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_test_broker::{Fault, FaultAction, TestCluster};

async fn cluster(brokers: usize, topic: &str, partitions: i32) -> TestCluster {
    TestCluster::builder().brokers(brokers).topic(topic, partitions, brokers as i16).start().await.unwrap()
}

fn producer(c: &TestCluster, extra: &[(&str, &str)]) -> Producer {
    let mut pairs = vec![("bootstrap.servers".to_string(), c.bootstrap_servers())];
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
    let pool = NetworkClient::new(cfg);
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
    let resp = pool.send(-1, Purpose::Admin, &req).await.unwrap();
    assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0].error_message);
}

fn values(c: &TestCluster, topic: &str, partition: i32) -> Vec<String> {
    c.records(topic, partition)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

// multi-threaded, as applications run it (this found a lost metadata update)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_where_java_puts_them_with_offsets_headers_and_timestamps() {
    let c = cluster(3, "orders", 5).await;
    let p = producer(&c, &[]);
    let mut futures = Vec::new();
    for i in 0..200 {
        let rec = ProducerRecord::new("orders")
            .key(format!("key-{}", i % 17))
            .value(format!("v{i}"))
            .header("n", Some(Bytes::from(i.to_string())))
            .timestamp(1_700_000_000_000 + i);
        futures.push(p.send(rec));
    }
    let mut per_partition = std::collections::BTreeMap::<i32, Vec<i64>>::new();
    for (i, f) in futures.into_iter().enumerate() {
        let m = f.await.unwrap();
        let key = format!("key-{}", i % 17);
        assert_eq!(m.partition, partition_for_key(key.as_bytes(), 5), "{key}");
        assert_eq!(m.timestamp, 1_700_000_000_000 + i as i64);
        assert_eq!((m.serialized_key_size, m.topic.as_str()), (key.len() as i32, "orders"));
        per_partition.entry(m.partition).or_default().push(m.offset);
    }
    for (partition, offsets) in per_partition {
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>(), "dense offsets in send order");
        for r in c.records("orders", partition) {
            let i: i64 =
                String::from_utf8(r.headers[0].1.clone().unwrap().to_vec()).unwrap().parse().unwrap();
            assert_eq!(r.value.as_deref(), Some(format!("v{i}").as_bytes()));
            assert_eq!(r.timestamp, 1_700_000_000_000 + i);
        }
    }
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn every_codec_round_trips_through_the_broker() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let c = cluster(1, "t", 1).await;
        let p = producer(&c, &[("compression.type", codec), ("linger.ms", "20")]);
        let futs = p.send_all((0..100).map(|i| ProducerRecord::new("t").value(format!("{codec}-{i}"))));
        for f in futs {
            f.await.unwrap();
        }
        let want: Vec<String> = (0..100).map(|i| format!("{codec}-{i}")).collect();
        assert_eq!(values(&c, "t", 0), want, "{codec}");
        assert!(c.batches("t", 0).len() < 100, "{codec}: records were batched");
    }
}

#[tokio::test]
async fn fire_and_forget_sends_go_out_and_flush_waits_for_them() {
    let c = cluster(1, "ff", 3).await;
    let p = producer(&c, &[("linger.ms", "1000")]);
    for i in 0..3000 {
        let _ = p.send(ProducerRecord::new("ff").value(format!("{i}")));
    }
    p.flush().await;
    let total: usize = (0..3).map(|i| c.records("ff", i).len()).sum();
    assert_eq!(total, 3000);
    assert_eq!(p.metrics().records_sent, 3000);
    // unkeyed records stick to one partition for a batch.size worth of bytes at a time
    let batches: usize = (0..3).map(|i| c.batches("ff", i).len()).sum();
    assert!(batches < 100, "{batches} batches for 3000 small records");
}

#[tokio::test]
async fn unknown_topic_is_auto_created_and_sends_wait_for_its_metadata() {
    let c = TestCluster::builder().brokers(1).auto_create_topics(true).start().await.unwrap();
    let p = producer(&c, &[]);
    let m = p.send(ProducerRecord::new("fresh").value("x")).await.unwrap();
    assert_eq!(m.offset, 0);
    assert!(!p.partitions_for("fresh").await.unwrap().is_empty());
    assert_eq!(values(&c, "fresh", m.partition), ["x"]);
}

/// More records wait than one wait chunk holds (32): every future resolves with its own
/// record's topic and offset, in send order, dropped futures lose nothing.
#[tokio::test]
async fn records_waiting_for_metadata_resolve_in_send_order_with_their_own_topics() {
    let c = TestCluster::builder().brokers(1).auto_create_topics(true).start().await.unwrap();
    let p = producer(&c, &[("linger.ms", "0")]);
    let topics = ["wait-a", "wait-b"];
    let mut futures = Vec::new();
    for i in 0..150usize {
        let topic = topics[i % 3 / 2];
        let f = p.send(ProducerRecord::new(topic).partition(0).value(format!("{topic}-{i}")));
        if i % 5 == 4 {
            drop(f); // fire-and-forget
        } else {
            futures.push((i, topic, f));
        }
    }
    assert!(p.metrics().records_waiting > 32, "records wait for the new topics' metadata");
    let mut next = [0i64; 2];
    let mut sent: [Vec<String>; 2] = Default::default();
    for i in 0..150usize {
        let t = i % 3 / 2;
        sent[t].push(format!("{}-{i}", topics[t]));
    }
    for (i, topic, f) in futures {
        let m = tokio::time::timeout(Duration::from_secs(10), f).await.expect("resolved").unwrap();
        let t = i % 3 / 2;
        assert_eq!(m.topic, topic, "record {i}");
        assert!(m.offset >= next[t], "record {i}: offset {} after {}", m.offset, next[t]);
        assert_eq!(values(&c, topic, 0)[m.offset as usize], format!("{topic}-{i}"));
        next[t] = m.offset + 1;
    }
    p.flush().await;
    for t in 0..2 {
        assert_eq!(values(&c, topics[t], 0), sent[t], "{}", topics[t]);
    }
}

#[tokio::test]
async fn retriable_errors_are_retried_and_written_once() {
    let c = cluster(1, "r", 1).await;
    c.inject(Fault::new(ApiKey::Produce, 3, FaultAction::Error(ErrorCode::NotLeaderOrFollower)));
    let p = producer(&c, &[("retry.backoff.ms", "10")]);
    let m = p.send(ProducerRecord::new("r").value("once")).await.unwrap();
    assert_eq!(m.offset, 0);
    assert_eq!(values(&c, "r", 0), ["once"]);
    assert!(p.metrics().retries >= 3);
}

#[tokio::test]
async fn non_retriable_errors_fail_the_record_naming_topic_and_partition() {
    let c = cluster(1, "bad", 1).await;
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::Error(ErrorCode::RecordListTooLarge)));
    let p = producer(&c, &[]);
    let e = p.send(ProducerRecord::new("bad").value("x")).await.unwrap_err();
    assert!(matches!(e, Error::Broker { code: ErrorCode::RecordListTooLarge, .. }), "{e}");
    assert!(e.to_string().starts_with("bad-0:"), "{e}");
    // the next record goes through
    p.send(ProducerRecord::new("bad").value("y")).await.unwrap();
}

#[tokio::test]
async fn a_lost_response_is_retried_and_deduplicated_by_idempotence() {
    let c = cluster(1, "dedup", 1).await;
    let p = producer(&c, &[("request.timeout.ms", "300"), ("retry.backoff.ms", "10"), ("linger.ms", "0")]);
    p.send(ProducerRecord::new("dedup").value("first")).await.unwrap();
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::DropResponse));
    let futs = p.send_all((0..20).map(|i| ProducerRecord::new("dedup").value(format!("r{i}"))));
    let mut offsets = Vec::new();
    for f in futs {
        offsets.push(f.await.unwrap().offset);
    }
    let mut want = vec!["first".to_string()];
    want.extend((0..20).map(|i| format!("r{i}")));
    assert_eq!(values(&c, "dedup", 0), want, "no duplicate, no reordering");
    assert_eq!(offsets, (1..21).collect::<Vec<i64>>());
}

#[tokio::test]
async fn without_idempotence_a_lost_response_duplicates_the_batch() {
    // The control for the test above: the same fault without idempotence writes twice.
    let c = cluster(1, "dup", 1).await;
    let p = producer(
        &c,
        &[("request.timeout.ms", "300"), ("retry.backoff.ms", "10"), ("enable.idempotence", "false")],
    );
    c.inject(Fault::new(ApiKey::Produce, 1, FaultAction::DropResponse));
    p.send(ProducerRecord::new("dup").value("x")).await.unwrap();
    assert_eq!(values(&c, "dup", 0), ["x", "x"]);
}

#[tokio::test]
async fn a_moved_leader_is_found_through_metadata() {
    let c = cluster(3, "moving", 1).await;
    let p = producer(&c, &[("retry.backoff.ms", "10")]);
    p.send(ProducerRecord::new("moving").value("a")).await.unwrap();
    let old = c.partition("moving", 0).unwrap().leader;
    let new = c.broker_ids().into_iter().find(|b| *b != old).unwrap();
    c.move_leader("moving", 0, new).unwrap();
    p.send(ProducerRecord::new("moving").value("b")).await.unwrap();
    assert_eq!(values(&c, "moving", 0), ["a", "b"]);
}

#[tokio::test]
async fn a_broker_down_and_back_loses_nothing() {
    let c = cluster(1, "down", 1).await;
    let p = producer(
        &c,
        &[("retry.backoff.ms", "20"), ("reconnect.backoff.ms", "20"), ("reconnect.backoff.max.ms", "100")],
    );
    p.send(ProducerRecord::new("down").value("before")).await.unwrap();
    c.stop_broker(0).unwrap_or_else(|_| c.stop_broker(c.broker_ids()[0]).unwrap());
    let fut = p.send(ProducerRecord::new("down").value("during"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.start_broker(c.broker_ids()[0]).await.unwrap();
    fut.await.unwrap();
    assert_eq!(values(&c, "down", 0), ["before", "during"]);
}

#[tokio::test]
async fn not_enough_replicas_is_retried_until_the_isr_recovers() {
    let c = cluster(3, "isr", 1).await;
    set_topic_config(&c, "isr", "min.insync.replicas", "2").await;
    let info = c.partition("isr", 0).unwrap();
    c.set_isr("isr", 0, vec![info.leader]).unwrap();
    let p = producer(&c, &[("retry.backoff.ms", "20")]);
    let fut = p.send(ProducerRecord::new("isr").value("x"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(c.records("isr", 0).is_empty(), "acks=all needs min.insync.replicas");
    c.set_isr("isr", 0, info.replicas.clone()).unwrap();
    fut.await.unwrap();
    assert_eq!(values(&c, "isr", 0), ["x"]);
}

#[tokio::test]
async fn a_full_buffer_makes_sends_wait_then_fail_after_max_block_naming_the_topic() {
    let c = cluster(1, "slow", 1).await;
    c.inject(Fault::new(ApiKey::Produce, 100, FaultAction::Delay(Duration::from_millis(1500))));
    let p = producer(
        &c,
        &[("buffer.memory", "4096"), ("batch.size", "2048"), ("max.block.ms", "200"), ("linger.ms", "0")],
    );
    p.partitions_for("slow").await.unwrap(); // metadata first: then sends append at once
    let big = vec![b'x'; 1500];
    // two batches take the whole pool while their requests hang; two more records wait for
    // memory; a fifth would push the waiting records past buffer.memory
    let futs: Vec<_> = (0..5).map(|_| p.send(ProducerRecord::new("slow").value(big.clone()))).collect();
    let results: Vec<_> = futures_join(futs).await;
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    for r in &results[2..4] {
        let e = r.as_ref().unwrap_err().to_string();
        assert!(e.contains("topic slow") && e.contains("max.block.ms"), "{e}");
    }
    assert!(matches!(results[4], Err(Error::BufferExhausted { .. })), "{:?}", results[4]);
    assert_eq!(c.records("slow", 0).len(), 2);
}

async fn futures_join(
    futs: Vec<kafka_producer::DeliveryFuture>,
) -> Vec<kafka_producer::Result<kafka_producer::RecordMetadata>> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await);
    }
    out
}

#[tokio::test]
async fn delivery_timeout_fails_records_naming_the_partition() {
    let c = cluster(1, "gone", 1).await;
    let p =
        producer(&c, &[("request.timeout.ms", "200"), ("delivery.timeout.ms", "500"), ("linger.ms", "0")]);
    p.send(ProducerRecord::new("gone").value("ok")).await.unwrap();
    c.stop_broker(c.broker_ids()[0]).unwrap();
    let e = p.send(ProducerRecord::new("gone").value("lost")).await.unwrap_err();
    assert!(matches!(e, Error::DeliveryTimeout { .. }), "{e}");
    assert!(e.to_string().starts_with("gone-0: record expired"), "{e}");
}

#[tokio::test]
async fn config_errors_and_bad_records_are_clear() {
    let e = ProducerConfig::from_pairs([("bootstrap.servers", "127.0.0.1:1"), ("acks", "2")]).unwrap_err();
    assert!(e.to_string().contains("acks"), "{e}");
    let c = cluster(1, "p", 2).await;
    let p = producer(&c, &[("max.request.size", "1000")]);
    let e = p.send(ProducerRecord::new("p").value(vec![0u8; 5000])).await.unwrap_err();
    assert!(e.to_string().contains("max.request.size"), "{e}");
    let e = p.send(ProducerRecord::new("p").partition(7).value("x")).await.unwrap_err();
    assert!(e.to_string().contains("partition 7 is out of range"), "{e}");
}

/// KIP-360: after a sequence error an idempotent producer bumps its epoch (same producer id,
/// sequences from 0) instead of asking for a new producer id.
#[tokio::test]
async fn a_sequence_error_bumps_the_epoch_of_the_same_producer_id() {
    let c = cluster(1, "t", 1).await;
    let p = producer(&c, &[("linger.ms", "0")]);
    p.send(ProducerRecord::new("t").partition(0).value("a")).await.unwrap();
    c.inject(
        Fault::new(ApiKey::Produce, 1, FaultAction::Error(ErrorCode::OutOfOrderSequenceNumber))
            .on_partition("t", Some(0)),
    );
    let e = p.send(ProducerRecord::new("t").partition(0).value("b")).await.unwrap_err();
    assert!(matches!(e, Error::SequenceLost { .. }), "{e}");
    p.send(ProducerRecord::new("t").partition(0).value("c")).await.unwrap();
    p.send(ProducerRecord::new("t").partition(0).value("d")).await.unwrap();
    let batches = c.batches("t", 0);
    let first = (batches[0].producer_id, batches[0].producer_epoch);
    let last = batches.last().map(|b| (b.producer_id, b.producer_epoch)).unwrap();
    assert_eq!(last, (first.0, first.1 + 1), "same producer id, next epoch");
    let inits = c.request_log().iter().filter(|r| r.api_key == ApiKey::InitProducerId as i16).count();
    assert_eq!(inits, 1, "no second InitProducerId");
}
