//! Transactions against the embedded test broker: commit/abort visibility (markers, LSO,
//! aborted-transaction index), state errors, fencing, coordinator failover, the transaction
//! timeout, and an EndTxn whose response is lost. Every test runs twice, against a cluster
//! with `transaction.version` 1 (transactions v1) and 2 (v2, KIP-890: implicit partition adds,
//! an epoch bump per transaction); the last tests check what differs.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_producer::{ConsumerGroupMetadata, Producer, ProducerRecord, TxnState};
use kafka_protocol::ApiKey;
use kafka_test_broker::{Fault, FaultAction, TestCluster};

const T: Duration = Duration::from_secs(10);

async fn cluster(tv: i16, brokers: usize, topic: &str) -> TestCluster {
    TestCluster::builder()
        .brokers(brokers)
        .topic(topic, 2, brokers as i16)
        .transaction_version(tv)
        .start()
        .await
        .unwrap()
}

/// `versions!(test)` runs `async fn test(tv: i16)` as `test::v1` and `test::v2`, against a
/// cluster with that `transaction.version`.
macro_rules! versions {
    ($name:ident $(, $($flavor:tt)*)?) => {
        mod $name {
            #[tokio::test$(($($flavor)*))?]
            async fn v1() {
                super::$name(1).await
            }
            #[tokio::test$(($($flavor)*))?]
            async fn v2() {
                super::$name(2).await
            }
        }
    };
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

versions!(committed_and_aborted_transactions_leave_markers_and_an_aborted_index);
async fn committed_and_aborted_transactions_leave_markers_and_an_aborted_index(tv: i16) {
    let c = cluster(tv, 1, "t").await;
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

versions!(calls_in_the_wrong_state_name_the_state);
async fn calls_in_the_wrong_state_name_the_state(tv: i16) {
    let c = cluster(tv, 1, "t").await;
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

versions!(a_second_producer_with_the_same_id_fences_the_first);
async fn a_second_producer_with_the_same_id_fences_the_first(tv: i16) {
    let c = cluster(tv, 1, "t").await;
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

versions!(the_coordinator_moves_mid_transaction);
async fn the_coordinator_moves_mid_transaction(tv: i16) {
    let c = cluster(tv, 3, "t").await;
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

versions!(a_transaction_outliving_its_timeout_is_aborted_and_the_error_says_so);
async fn a_transaction_outliving_its_timeout_is_aborted_and_the_error_says_so(tv: i16) {
    let c = cluster(tv, 1, "t").await;
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

versions!(a_lost_commit_response_is_retried_not_applied_twice);
async fn a_lost_commit_response_is_retried_not_applied_twice(tv: i16) {
    let c = cluster(tv, 1, "t").await;
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

versions!(a_failed_produce_makes_the_transaction_abortable);
async fn a_failed_produce_makes_the_transaction_abortable(tv: i16) {
    let c = cluster(tv, 1, "t").await;
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

versions!(a_send_racing_a_commit_is_refused_or_committed, flavor = "multi_thread", worker_threads = 2);
/// A send racing commit_transaction is either refused (the transaction is no longer open) or
/// part of the committed transaction: never appended after the commit's flush, where it would
/// wait for the next transaction (or forever).
async fn a_send_racing_a_commit_is_refused_or_committed(tv: i16) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let c = cluster(tv, 1, "t").await;
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

versions!(a_record_expired_before_it_was_sent_fails_the_commit);
/// A record that expires in the queue (its partition could not be added in time) was never
/// classified by the sender: the commit must still refuse, because the transaction lost it.
/// (Under v2 no AddPartitionsToTxn exists to fail, so the record expires retrying its produce.)
async fn a_record_expired_before_it_was_sent_fails_the_commit(tv: i16) {
    let c = cluster(tv, 1, "t").await;
    let p = producer(
        &c,
        "tx-9",
        &[("linger.ms", "0"), ("request.timeout.ms", "300"), ("delivery.timeout.ms", "600")],
    );
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    // v1: the partition is never added; v2 (no AddPartitionsToTxn): its produce keeps failing
    let api = if tv >= 2 { ApiKey::Produce } else { ApiKey::AddPartitionsToTxn };
    c.inject(Fault::new(api, 1000, FaultAction::Error(kafka_protocol::ErrorCode::CoordinatorLoadInProgress)));
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

versions!(the_protocol_follows_the_clusters_transaction_version);
/// The requests each protocol sends: v1 adds partitions and groups explicitly and keeps its
/// epoch; v2 sends neither AddPartitionsToTxn nor AddOffsetsToTxn (Produce v12 and
/// TxnOffsetCommit v5 add them) and gets a new epoch from every EndTxn, commit or abort.
async fn the_protocol_follows_the_clusters_transaction_version(tv: i16) {
    let c = cluster(tv, 1, "t").await;
    let p = producer(&c, "tx-v", &[]);
    p.init_transactions(T).await.unwrap();
    let (pid, epoch0) = c.transactional_producer("tx-v").unwrap();
    let mut epochs = Vec::new();
    for commit in [true, false, true] {
        p.begin_transaction().unwrap();
        send_n(&p, "t", 0, 2).await;
        send_n(&p, "t", 1, 1).await;
        let mut offsets = BTreeMap::new();
        offsets.insert(("t".to_string(), 0), 7i64);
        p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new("g")).await.unwrap();
        if commit {
            p.commit_transaction(T).await.unwrap();
        } else {
            p.abort_transaction(T).await.unwrap();
        }
        epochs.push(c.transactional_producer("tx-v").unwrap());
    }
    let log = c.request_log();
    let count = |api: ApiKey| log.iter().filter(|r| r.api_key == api.key()).count();
    let max_version =
        |api: ApiKey| log.iter().filter(|r| r.api_key == api.key()).map(|r| r.api_version).max();
    assert_eq!(data_records(&c, "t", 0), 6);
    assert_eq!(c.aborted_transactions("t", 0).len(), 1);
    assert_eq!(c.transactionally_committed_offset("g", "t", 0), Some(7));
    if tv >= 2 {
        assert_eq!(epochs, [(pid, epoch0 + 1), (pid, epoch0 + 2), (pid, epoch0 + 3)], "one bump per EndTxn");
        assert_eq!((count(ApiKey::AddPartitionsToTxn), count(ApiKey::AddOffsetsToTxn)), (0, 0));
        assert_eq!(max_version(ApiKey::Produce), Some(12));
        assert_eq!(max_version(ApiKey::EndTxn), Some(5));
        assert_eq!(max_version(ApiKey::TxnOffsetCommit), Some(5));
        // the sequences restart under every new epoch: the last transaction's first batch
        let batches = c.batches("t", 0);
        let first = batches.iter().find(|b| !b.control && b.producer_epoch == epoch0 + 2).unwrap();
        let base_sequence = i32::from_be_bytes(first.bytes[53..57].try_into().unwrap());
        assert_eq!(base_sequence, 0, "a new epoch starts at sequence 0");
    } else {
        assert_eq!(epochs, [(pid, epoch0); 3], "v1 keeps its epoch");
        assert!(count(ApiKey::AddPartitionsToTxn) >= 3 && count(ApiKey::AddOffsetsToTxn) == 3);
        assert_eq!(max_version(ApiKey::Produce), Some(11));
        assert_eq!(max_version(ApiKey::EndTxn), Some(4));
        assert_eq!(max_version(ApiKey::TxnOffsetCommit), Some(4));
    }
}

versions!(a_late_end_txn_of_a_finished_transaction_cannot_end_the_next);
/// The delayed-EndTxn anomaly KIP-890 closes: an EndTxn(abort) of a finished transaction
/// (a duplicate that arrives late) reaches the coordinator while the next transaction runs.
/// Under v1 it carries the current epoch and aborts the wrong transaction; under v2 its epoch
/// is the previous one, the coordinator fences it, and the next transaction commits.
async fn a_late_end_txn_of_a_finished_transaction_cannot_end_the_next(tv: i16) {
    use kafka_client::{ClientConfig, Metadata, NetworkClient, Purpose};
    use kafka_protocol::generated::EndTxnRequest;
    let c = cluster(tv, 1, "t").await;
    let p = producer(&c, "tx-late", &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 1).await;
    let (pid, epoch) = c.transactional_producer("tx-late").unwrap();
    p.commit_transaction(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    // the first transaction's EndTxn, once more
    let cfg = ClientConfig::builder().bootstrap_servers([c.bootstrap_servers()]).build().unwrap();
    let pool = NetworkClient::new(cfg);
    Metadata::new(pool.clone(), false).refresh(T).await.unwrap();
    let late = EndTxnRequest {
        transactional_id: "tx-late".into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: false,
        ..Default::default()
    };
    let coordinator = c.coordinator(1, "tx-late").unwrap();
    let r = pool.send(coordinator, Purpose::Admin, &late).await.unwrap();
    if tv < 2 {
        assert_eq!(r.error_code, 0, "v1: the late abort applies to the next transaction");
        assert_eq!(c.aborted_transactions("t", 0).len(), 1);
        return;
    }
    assert_eq!(kafka_protocol::ErrorCode::from(r.error_code), kafka_protocol::ErrorCode::ProducerFenced);
    p.commit_transaction(T).await.unwrap();
    assert!(c.aborted_transactions("t", 0).is_empty(), "the second transaction committed");
    assert_eq!(data_records(&c, "t", 0), 3);
}

/// Transactions v2: when the epoch runs out at an EndTxn, the coordinator answers with a new
/// producer id at epoch 0; the producer adopts it (sequences from 0) and carries on.
#[tokio::test]
async fn an_exhausted_epoch_continues_under_a_new_producer_id() {
    let c = cluster(2, 1, "t").await;
    let first = producer(&c, "tx-o", &[]);
    first.init_transactions(T).await.unwrap();
    // the next InitProducerId bumps to MAX - 2, its transaction's EndTxn to MAX - 1: exhausted
    assert!(c.set_transaction_epoch("tx-o", i16::MAX - 3));
    let p = producer(&c, "tx-o", &[]);
    p.init_transactions(T).await.unwrap();
    let (old_pid, epoch) = c.transactional_producer("tx-o").unwrap();
    assert_eq!(epoch, i16::MAX - 2);
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 2).await;
    p.commit_transaction(T).await.unwrap();
    let (pid, epoch) = c.transactional_producer("tx-o").unwrap();
    assert!(pid != old_pid && epoch == 0, "rotated: {pid}/{epoch}");
    for _ in 0..2 {
        p.begin_transaction().unwrap();
        send_n(&p, "t", 0, 2).await;
        p.commit_transaction(T).await.unwrap();
    }
    assert_eq!(c.transactional_producer("tx-o"), Some((pid, 2)));
    assert_eq!(data_records(&c, "t", 0), 6);
    assert!(c.aborted_transactions("t", 0).is_empty());
    let new_id_batches = c.batches("t", 0).into_iter().filter(|b| !b.control && b.producer_id == pid).count();
    assert!(new_id_batches >= 2, "the later transactions wrote under the new id");
}

versions!(closing_with_an_open_transaction_aborts_it);
async fn closing_with_an_open_transaction_aborts_it(tv: i16) {
    let c = cluster(tv, 1, "t").await;
    let p = producer(&c, "tx-close", &[]);
    p.init_transactions(T).await.unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", 0, 5).await;
    assert_eq!(c.transaction_state("tx-close").map(|s| format!("{s:?}")).as_deref(), Some("Ongoing"));
    p.close(T).await.unwrap();
    // aborted at once (Java's close does the same), not left to transaction.timeout.ms
    assert_eq!(c.transaction_state("tx-close").map(|s| format!("{s:?}")).as_deref(), Some("CompleteAbort"));
    assert_eq!(markers(&c, "t", 0), 1, "the abort marker is written");
    assert!(c.open_transactions("t", 0).is_empty());
}
