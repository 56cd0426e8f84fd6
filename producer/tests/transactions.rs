//! Transactions against the embedded test broker: commit/abort visibility (markers, LSO,
//! aborted-transaction index), state errors, fencing, coordinator failover, the transaction
//! timeout, and an EndTxn whose response is lost.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_producer::{ConsumerGroupMetadata, Producer, ProducerRecord, TxnState};
use kafka_protocol::ApiKey;
use kafka_test_broker::{Fault, FaultAction, TestCluster};

const T: Duration = Duration::from_secs(10);

async fn cluster(brokers: usize, topic: &str) -> TestCluster {
    TestCluster::builder().brokers(brokers).topic(topic, 2, brokers as i16).start().await.unwrap()
}

fn producer(c: &TestCluster, id: &str, extra: &[(&str, &str)]) -> Producer {
    let mut pairs = vec![
        ("bootstrap.servers".to_string(), c.bootstrap_servers()),
        ("transactional.id".to_string(), id.to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Producer::from_pairs(pairs).unwrap()
}

async fn send_n(p: &Producer, topic: &str, partition: i32, n: usize) {
    let futs: Vec<_> = (0..n)
        .map(|i| p.send(ProducerRecord::new(topic).partition(partition).value(format!("v{i}"))))
        .collect();
    for f in futs {
        f.await.unwrap();
    }
}

fn data_records(c: &TestCluster, topic: &str, partition: i32) -> usize {
    c.batches(topic, partition)
        .iter()
        .filter(|b| !b.control)
        .map(|b| (b.last_offset - b.base_offset + 1) as usize)
        .sum()
}

fn markers(c: &TestCluster, topic: &str, partition: i32) -> usize {
    c.batches(topic, partition).iter().filter(|b| b.control).count()
}

#[tokio::test]
async fn committed_and_aborted_transactions_leave_markers_and_an_aborted_index() {
    let c = cluster(1, "t").await;
    let p = producer(&c, "tx-1", &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 3).await;
    p.send(ProducerRecord::new("t").partition(1).value("x")).await.unwrap();
    assert_eq!(c.transaction_partitions("tx-1").len(), 2, "both partitions added before their produce");
    p.commit_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    p.abort_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 1).await;
    let mut offsets = BTreeMap::new();
    offsets.insert(("t".to_string(), 1), 42i64);
    p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new("g")).await.unwrap();
    assert_eq!(c.transactionally_committed_offset("g", "t", 1), None, "offsets wait for the commit");
    p.commit_transaction(T).await.unwrap();
    assert_eq!(c.transactionally_committed_offset("g", "t", 1), Some(42));
    assert_eq!(data_records(&c, "t", 0), 6);
    assert_eq!(markers(&c, "t", 0), 3, "one marker per transaction");
    let aborted = c.aborted_transactions("t", 0);
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].first_offset, aborted[0].last_offset), (4, 6), "records 4-5, marker 6");
    let info = c.partition("t", 0).unwrap();
    assert_eq!(info.last_stable_offset, info.high_watermark, "no open transaction");
    // an empty transaction needs no EndTxn
    p.begin_transaction().unwrap();
    p.commit_transaction(T).await.unwrap();
}

#[tokio::test]
async fn calls_in_the_wrong_state_name_the_state() {
    let c = cluster(1, "t").await;
    let p = producer(&c, "tx-2", &[]);
    let e = p.send(ProducerRecord::new("t").value("x")).await.unwrap_err().to_string();
    assert!(e.contains("Uninitialized"), "{e}");
    let e = p.begin_transaction().unwrap_err().to_string();
    assert!(e.contains("begin_transaction") && e.contains("Uninitialized"), "{e}");
    p.init_transactions(T).await.unwrap();
    let e = p.send(ProducerRecord::new("t").value("x")).await.unwrap_err().to_string();
    assert!(e.contains("send") && e.contains("Ready"), "{e}");
    let e = p.commit_transaction(T).await.unwrap_err().to_string();
    assert!(e.contains("Ready"), "{e}");
    p.begin_transaction().unwrap();
    let e = p.begin_transaction().unwrap_err().to_string();
    assert!(e.contains("InTransaction"), "{e}");
    let plain = Producer::from_pairs([("bootstrap.servers", c.bootstrap_servers())]).unwrap();
    assert!(plain.begin_transaction().unwrap_err().to_string().contains("transactional.id"));
}

#[tokio::test]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    let c = cluster(1, "t").await;
    let p1 = producer(&c, "tx-3", &[]);
    p1.init_transactions(T).await.unwrap();
    p1.begin_transaction().unwrap();
    send_n(&p1, "t", 0, 2).await;
    let p2 = producer(&c, "tx-3", &[]);
    p2.init_transactions(T).await.unwrap();
    let e = p1.commit_transaction(T).await.unwrap_err();
    assert!(e.is_fatal() && !e.is_abortable(), "{e}");
    assert!(e.to_string().contains("fenced"), "{e}");
    let e = p1.begin_transaction().unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("FatalError"), "{e}");
    // the zombie's records were aborted by p2's InitProducerId; p2 works
    p2.begin_transaction().unwrap();
    send_n(&p2, "t", 0, 1).await;
    p2.commit_transaction(T).await.unwrap();
    assert_eq!(c.aborted_transactions("t", 0).len(), 1);
}

#[tokio::test]
async fn the_coordinator_moves_mid_transaction() {
    let c = cluster(3, "t").await;
    let p = producer(&c, "tx-4", &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    let old = c.coordinator(1, "tx-4").unwrap();
    c.move_coordinator(1, "tx-4", (old + 1) % 3);
    send_n(&p, "t", 1, 2).await;
    p.commit_transaction(T).await.unwrap();
    assert_eq!(c.transaction_partitions("tx-4").len(), 0);
    assert_eq!((markers(&c, "t", 0), markers(&c, "t", 1)), (1, 1));
    assert!(c.aborted_transactions("t", 1).is_empty());
}

#[tokio::test]
async fn a_transaction_outliving_its_timeout_is_aborted_and_the_error_says_so() {
    let c = cluster(1, "t").await;
    let p = producer(&c, "tx-5", &[("transaction.timeout.ms", "300")]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(c.aborted_transactions("t", 0).len(), 1, "the broker aborted it");
    let e = p.commit_transaction(T).await.unwrap_err();
    assert!(e.is_fatal() && e.to_string().contains("transaction.timeout.ms"), "{e}");
    // a new producer with the same id carries on
    let p = producer(&c, "tx-5", &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 1).await;
    p.commit_transaction(T).await.unwrap();
    assert_eq!(data_records(&c, "t", 0), 3);
    assert_eq!(c.aborted_transactions("t", 0).len(), 1);
}

#[tokio::test]
async fn a_lost_commit_response_is_retried_not_applied_twice() {
    let c = cluster(1, "t").await;
    let p = producer(&c, "tx-6", &[("request.timeout.ms", "500")]);
    p.init_transactions(T).await.unwrap();
    // 1: the response is lost, the retry inside commit_transaction gets a definite answer
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    c.inject(Fault::new(ApiKey::EndTxn, 1, FaultAction::DropResponse));
    p.commit_transaction(T).await.unwrap();
    // 2: commit_transaction times out first: nothing else may run until it is called again
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    c.inject(Fault::new(ApiKey::EndTxn, 1, FaultAction::DropResponse));
    let e = p.commit_transaction(Duration::from_millis(200)).await.unwrap_err();
    assert!(e.to_string().contains("commit_transaction"), "{e}");
    let e = p.begin_transaction().unwrap_err().to_string();
    assert!(e.contains("timed out"), "{e}");
    let e = p.abort_transaction(T).await.unwrap_err().to_string();
    assert!(e.contains("commit_transaction again"), "{e}");
    p.commit_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 1).await;
    p.abort_transaction(T).await.unwrap();
    assert_eq!(markers(&c, "t", 0), 3, "one marker per transaction, none twice");
    assert_eq!(c.aborted_transactions("t", 0).len(), 1, "only the third transaction aborted");
    assert_eq!(c.transaction_state("tx-6").map(|s| format!("{s:?}")).as_deref(), Some("CompleteAbort"));
}

#[tokio::test]
async fn a_failed_produce_makes_the_transaction_abortable() {
    let c = cluster(1, "t").await;
    let p = producer(&c, "tx-7", &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    c.inject(
        Fault::new(ApiKey::Produce, 1, FaultAction::Error(kafka_protocol::ErrorCode::InvalidRecord))
            .on_partition("t", Some(0)),
    );
    let e = p.send(ProducerRecord::new("t").partition(0).value("x")).await.unwrap_err();
    assert!(!e.is_fatal(), "{e}");
    let e = p.commit_transaction(T).await.unwrap_err();
    assert!(e.is_abortable() && e.to_string().contains("AbortableError"), "{e}");
    p.abort_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 1).await;
    p.commit_transaction(T).await.unwrap();
    let _ = TxnState::Ready;
}

/// A send racing commit_transaction is either refused (the transaction is no longer open) or
/// part of the committed transaction: never appended after the commit's flush, where it would
/// wait for the next transaction (or forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_racing_a_commit_is_refused_or_committed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let c = cluster(1, "t").await;
    let p = Arc::new(producer(&c, "tx-8", &[("linger.ms", "0")]));
    p.init_transactions(T).await.unwrap();
    let mut committed = 0;
    for round in 0..30 {
        p.begin_transaction().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (p, stop) = (p.clone(), stop.clone());
            tokio::spawn(async move {
                let mut futs = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    futs.push(p.send(ProducerRecord::new("t").partition(0).value(format!("r{round}"))));
                    tokio::task::yield_now().await;
                }
                futs
            })
        };
        tokio::time::sleep(Duration::from_millis(round % 5)).await;
        p.commit_transaction(T).await.unwrap();
        stop.store(true, Ordering::Release);
        for f in sender.await.unwrap() {
            match tokio::time::timeout(Duration::from_secs(5), f).await {
                Ok(Ok(_)) => committed += 1,
                Ok(Err(e)) => assert!(e.to_string().contains("send"), "refused with the state: {e}"),
                Err(_) => panic!("round {round}: a record accepted during the commit never completed"),
            }
        }
    }
    assert_eq!(data_records(&c, "t", 0), committed, "every accepted record was committed");
    assert!(c.aborted_transactions("t", 0).is_empty());
}

/// A record that expires in the queue (its partition could not be added in time) was never
/// classified by the sender: the commit must still refuse, because the transaction lost it.
#[tokio::test]
async fn a_record_expired_before_it_was_sent_fails_the_commit() {
    let c = cluster(1, "t").await;
    let p = producer(
        &c,
        "tx-9",
        &[("linger.ms", "0"), ("request.timeout.ms", "300"), ("delivery.timeout.ms", "600")],
    );
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    c.inject(Fault::new(
        ApiKey::AddPartitionsToTxn,
        1000,
        FaultAction::Error(kafka_protocol::ErrorCode::CoordinatorLoadInProgress),
    ));
    let e = p.send(ProducerRecord::new("t").partition(0).value("x")).await.unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    c.clear_faults();
    let e = p.commit_transaction(T).await.unwrap_err();
    assert!(e.is_abortable(), "{e}");
    p.abort_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 1).await;
    p.commit_transaction(T).await.unwrap();
    assert_eq!(data_records(&c, "t", 0), 1);
}
