//! The transaction coordinator and producer ids seen by a client over real TCP: fencing,
//! the last stable offset, read_committed fetches, commit and abort markers, transactional
//! offsets, timeouts, transaction verification on produce, coordinator routing and the
//! describe/list APIs.

mod raw_client;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::generated::describe_producers_request::TopicRequest;
use kafka_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::generated::fetch_response::PartitionData;
use kafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::generated::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::generated::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, DescribeProducersRequest, DescribeTransactionsRequest,
    EndTxnRequest, FetchRequest, InitProducerIdRequest, ListTransactionsRequest, ProduceRequest,
    TxnOffsetCommitRequest,
};
use kafka_protocol::records::{ControlRecord, DecodeOptions, RecordBatchBuilder, decode_batches};
use kafka_test_broker::TestCluster;
use kafka_test_broker::state::txn::TxnState;
use raw_client::RawClient;

const TOPIC: &str = "txn-topic";

async fn cluster(brokers: usize) -> TestCluster {
    TestCluster::builder().brokers(brokers).topic(TOPIC, 2, 1).start().await.unwrap()
}

/// A client connected to the coordinator of `id`.
async fn coordinator_client(cluster: &TestCluster, id: &str) -> RawClient {
    let broker = cluster.coordinator(1, id).unwrap();
    RawClient::connect(cluster.broker_addr(broker).unwrap()).await.unwrap()
}

/// A client connected to the leader of `TOPIC`-`partition`.
async fn leader_client(cluster: &TestCluster, partition: i32) -> RawClient {
    let leader = cluster.partition(TOPIC, partition).unwrap().leader;
    RawClient::connect(cluster.broker_addr(leader).unwrap()).await.unwrap()
}

fn init_req(id: Option<&str>, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: id.map(str::to_owned),
        transaction_timeout_ms: timeout_ms,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    }
}

/// InitProducerId v5, retried on CONCURRENT_TRANSACTIONS as clients do.
async fn init(c: &mut RawClient, id: &str) -> (i64, i16) {
    for _ in 0..3 {
        let r = c.call(5, &init_req(Some(id), 60_000)).await;
        if r.error_code == ErrorCode::ConcurrentTransactions.code() {
            continue;
        }
        assert_eq!(r.error_code, 0, "InitProducerId");
        return (r.producer_id, r.producer_epoch);
    }
    panic!("InitProducerId kept answering CONCURRENT_TRANSACTIONS");
}

fn add_req(id: &str, pid: i64, epoch: i16, partitions: &[i32]) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: id.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: TOPIC.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// AddPartitionsToTxn at `version` (0-3); the error code of every partition (all equal).
async fn add_partitions(
    c: &mut RawClient,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    partitions: &[i32],
) -> i16 {
    let r = c.call(version, &add_req(id, pid, epoch, partitions)).await;
    let codes: Vec<i16> = r
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect();
    assert_eq!(codes.len(), partitions.len());
    assert!(codes.iter().all(|c| *c == codes[0]), "{codes:?}");
    codes[0]
}

fn end_req(id: &str, pid: i64, epoch: i16, commit: bool) -> EndTxnRequest {
    EndTxnRequest {
        transactional_id: id.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: commit,
        ..Default::default()
    }
}

async fn end_txn(c: &mut RawClient, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    c.call(4, &end_req(id, pid, epoch, commit)).await.error_code
}

/// One batch of `values`, transactional or not, with the producer's state.
fn batch(pid: i64, epoch: i16, seq: i32, transactional: bool, values: &[&str]) -> Bytes {
    let mut b = RecordBatchBuilder::default();
    b.producer(pid, epoch, seq).transactional(transactional);
    for v in values {
        b.append(1_700_000_000_000, None, Some(v.as_bytes()), &[]).unwrap();
    }
    let mut out = BytesMut::new();
    b.build(&mut out).unwrap();
    out.freeze()
}

/// Produce at `version` to `TOPIC`-`partition`; returns (error code, base offset).
async fn produce_v(
    c: &mut RawClient,
    version: i16,
    txn_id: Option<&str>,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let req = ProduceRequest {
        transactional_id: txn_id.map(str::to_owned),
        acks: -1,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = c.call(version, &req).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn produce(c: &mut RawClient, txn_id: Option<&str>, partition: i32, records: Bytes) -> (i16, i64) {
    produce_v(c, 11, txn_id, partition, records).await
}

/// Fetch v12 of `TOPIC`-`partition` from `offset` (isolation 0 uncommitted, 1 committed).
async fn fetch(c: &mut RawClient, partition: i32, offset: i64, isolation: i8) -> PartitionData {
    let req = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: isolation,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: TOPIC.into(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = c.call(12, &req).await;
    r.responses.into_iter().next().unwrap().partitions.into_iter().next().unwrap()
}

/// (base offset, control, record values or the marker type) of every batch in `records`.
fn batches_of(records: &Option<Bytes>) -> Vec<(i64, bool, Vec<String>)> {
    decode_batches(records.clone().unwrap_or_default(), &DecodeOptions::default())
        .map(|b| {
            let b = b.unwrap();
            let items = b
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    if b.is_control() {
                        let c = ControlRecord::parse(&r).unwrap();
                        format!("{:?}@{}", c.record_type, c.coordinator_epoch.unwrap_or(-9))
                    } else {
                        String::from_utf8(r.value.unwrap().to_vec()).unwrap()
                    }
                })
                .collect();
            (b.base_offset, b.is_control(), items)
        })
        .collect()
}

fn values(records: &Option<Bytes>) -> Vec<String> {
    batches_of(records).into_iter().filter(|b| !b.1).flat_map(|b| b.2).collect()
}

#[tokio::test]
async fn init_twice_fences_the_first_epoch() {
    let cluster = cluster(1).await;
    let mut c = coordinator_client(&cluster, "app").await;
    // an idempotent producer: fresh ids, epoch 0, from any broker
    let a = c.call(4, &init_req(None, 0)).await;
    let b = c.call(4, &init_req(None, 0)).await;
    assert_eq!((a.error_code, a.producer_epoch, b.producer_epoch), (0, 0, 0));
    assert_ne!(a.producer_id, b.producer_id);

    let (pid, e0) = init(&mut c, "app").await;
    assert_eq!(e0, 0);
    let (pid2, e1) = init(&mut c, "app").await;
    assert_eq!((pid2, e1), (pid, 1), "same producer id, epoch bumped");
    assert_eq!(cluster.transactional_producer("app"), Some((pid, 1)));
    // the old epoch is fenced: PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before
    assert_eq!(add_partitions(&mut c, 3, "app", pid, e0, &[0]).await, ErrorCode::ProducerFenced.code());
    assert_eq!(add_partitions(&mut c, 1, "app", pid, e0, &[0]).await, ErrorCode::InvalidProducerEpoch.code());
    assert_eq!(end_txn(&mut c, "app", pid, e0, true).await, ErrorCode::ProducerFenced.code());
    assert_eq!(
        add_partitions(&mut c, 3, "app", pid + 77, e1, &[0]).await,
        ErrorCode::InvalidProducerIdMapping.code()
    );

    // a new instance while a transaction is ongoing: the transaction is aborted (markers
    // written with a bumped epoch), the caller is told to retry, and gets epoch + 2
    assert_eq!(add_partitions(&mut c, 3, "app", pid, e1, &[0]).await, 0);
    let mut leader = leader_client(&cluster, 0).await;
    assert_eq!(produce(&mut leader, Some("app"), 0, batch(pid, e1, 0, true, &["x"])).await.0, 0);
    let r = c.call(5, &init_req(Some("app"), 60_000)).await;
    assert_eq!(r.error_code, ErrorCode::ConcurrentTransactions.code());
    assert_eq!(cluster.transaction_state("app"), Some(TxnState::CompleteAbort));
    assert_eq!(cluster.aborted_transactions(TOPIC, 0).len(), 1);
    assert_eq!(init(&mut c, "app").await, (pid, 3));
    // the zombie's produce is refused by the partition
    let (code, _) = produce(&mut leader, Some("app"), 0, batch(pid, e1, 1, true, &["zombie"])).await;
    assert_eq!(code, ErrorCode::InvalidProducerEpoch.code());
    // KIP-360: a bump with the current epoch, then a retry of it, get the same epoch
    let mut bump = init_req(Some("app"), 60_000);
    (bump.producer_id, bump.producer_epoch) = (pid, 3);
    let r = c.call(5, &bump).await;
    assert_eq!((r.error_code, r.producer_epoch), (0, 4));
    let r = c.call(5, &bump).await;
    assert_eq!((r.error_code, r.producer_epoch), (0, 4), "retried bump");
    bump.producer_epoch = 1;
    assert_eq!(c.call(5, &bump).await.error_code, ErrorCode::ProducerFenced.code());
    assert_eq!(c.call(3, &bump).await.error_code, ErrorCode::InvalidProducerEpoch.code());
    // transaction.max.timeout.ms
    let r = c.call(5, &init_req(Some("app"), 900_001)).await;
    assert_eq!(r.error_code, ErrorCode::InvalidTransactionTimeout.code());
}

#[tokio::test]
async fn lso_holds_at_the_first_transactional_offset_until_commit() {
    let cluster = cluster(1).await;
    let mut c = coordinator_client(&cluster, "t1").await;
    let mut leader = leader_client(&cluster, 0).await;
    assert_eq!(produce(&mut leader, None, 0, batch(-1, -1, -1, false, &["plain"])).await, (0, 0));
    let (pid, epoch) = init(&mut c, "t1").await;
    assert_eq!(add_partitions(&mut c, 3, "t1", pid, epoch, &[0]).await, 0);
    assert_eq!(cluster.transaction_state("t1"), Some(TxnState::Ongoing));
    assert_eq!(cluster.transaction_partitions("t1"), vec![(TOPIC.to_owned(), 0)]);
    assert_eq!(produce(&mut leader, Some("t1"), 0, batch(pid, epoch, 0, true, &["a", "b"])).await, (0, 1));
    assert_eq!(produce(&mut leader, Some("t1"), 0, batch(pid, epoch, 2, true, &["c"])).await, (0, 3));
    assert_eq!(cluster.last_stable_offset(TOPIC, 0), Some(1));

    let committed = fetch(&mut leader, 0, 0, 1).await;
    assert_eq!((committed.high_watermark, committed.last_stable_offset), (4, 1));
    assert_eq!(values(&committed.records), ["plain"], "read_committed stops at the LSO");
    assert_eq!(fetch(&mut leader, 0, 1, 1).await.records.unwrap_or_default().len(), 0);
    assert_eq!(values(&fetch(&mut leader, 0, 0, 0).await.records), ["plain", "a", "b", "c"]);

    assert_eq!(end_txn(&mut c, "t1", pid, epoch, true).await, 0);
    assert_eq!(cluster.transaction_state("t1"), Some(TxnState::CompleteCommit));
    assert!(cluster.transaction_partitions("t1").is_empty());
    let after = fetch(&mut leader, 0, 0, 1).await;
    assert_eq!((after.high_watermark, after.last_stable_offset), (5, 5));
    assert_eq!(values(&after.records), ["plain", "a", "b", "c"]);
    assert_eq!(after.aborted_transactions, Some(vec![]));
    let marker = batches_of(&after.records).pop().unwrap();
    assert_eq!(marker, (4, true, vec!["Commit@0".to_owned()]));
    let stored = cluster.batches(TOPIC, 0).pop().unwrap();
    assert!(
        stored.control && stored.transactional && stored.producer_id == pid && stored.producer_epoch == epoch
    );
    // a retried commit answers NONE; an abort now is INVALID_TXN_STATE
    assert_eq!(end_txn(&mut c, "t1", pid, epoch, true).await, 0);
    assert_eq!(end_txn(&mut c, "t1", pid, epoch, false).await, ErrorCode::InvalidTxnState.code());
    // the next transaction continues the sequence with the same epoch (transactions v1)
    assert_eq!(add_partitions(&mut c, 3, "t1", pid, epoch, &[0]).await, 0);
    assert_eq!(produce(&mut leader, Some("t1"), 0, batch(pid, epoch, 3, true, &["d"])).await, (0, 5));
    assert_eq!(cluster.last_stable_offset(TOPIC, 0), Some(5));
}

#[tokio::test]
async fn abort_reports_the_aborted_range_to_read_committed_fetches() {
    let cluster = cluster(1).await;
    let mut c = coordinator_client(&cluster, "t2").await;
    let mut leader = leader_client(&cluster, 0).await;
    let (pid, epoch) = init(&mut c, "t2").await;
    assert_eq!(
        end_txn(&mut c, "t2", pid, epoch, false).await,
        ErrorCode::InvalidTxnState.code(),
        "no transaction"
    );
    assert_eq!(add_partitions(&mut c, 3, "t2", pid, epoch, &[0, 1]).await, 0);
    assert_eq!(produce(&mut leader, Some("t2"), 0, batch(pid, epoch, 0, true, &["a", "b"])).await, (0, 0));
    assert_eq!(end_txn(&mut c, "t2", pid, epoch, false).await, 0);
    assert_eq!(end_txn(&mut c, "t2", pid, epoch, false).await, 0, "retried abort");
    assert_eq!(cluster.transaction_state("t2"), Some(TxnState::CompleteAbort));

    let f = fetch(&mut leader, 0, 0, 1).await;
    assert_eq!((f.high_watermark, f.last_stable_offset), (3, 3));
    let aborted: Vec<(i64, i64)> =
        f.aborted_transactions.unwrap().iter().map(|a| (a.producer_id, a.first_offset)).collect();
    assert_eq!(aborted, [(pid, 0)]);
    assert_eq!(batches_of(&f.records).pop().unwrap(), (2, true, vec!["Abort@0".to_owned()]));
    let stored = cluster.aborted_transactions(TOPIC, 0);
    assert_eq!((stored[0].producer_id, stored[0].first_offset, stored[0].last_offset), (pid, 0, 2));
    // partition 1 was in the transaction without data: a marker, no aborted range
    assert!(cluster.aborted_transactions(TOPIC, 1).is_empty());
    assert_eq!(cluster.partition(TOPIC, 1).unwrap().high_watermark, 1);
    assert!(cluster.records(TOPIC, 1).is_empty());
}

#[tokio::test]
async fn txn_offsets_become_visible_only_on_commit() {
    let cluster = TestCluster::builder().brokers(3).topic(TOPIC, 2, 1).start().await.unwrap();
    let (id, group) = ("t3", "g3");
    let mut c = coordinator_client(&cluster, id).await;
    let group_broker = cluster.coordinator(0, group).unwrap();
    let mut g = RawClient::connect(cluster.broker_addr(group_broker).unwrap()).await.unwrap();
    let (pid, epoch) = init(&mut c, id).await;
    let commit_req = |offset: i64| TxnOffsetCommitRequest {
        transactional_id: id.into(),
        group_id: group.into(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: -1,
        member_id: String::new(),
        topics: vec![TxnOffsetCommitRequestTopic {
            name: TOPIC.into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let code = |r: kafka_protocol::generated::TxnOffsetCommitResponse| r.topics[0].partitions[0].error_code;
    // before AddOffsetsToTxn the group is not part of the transaction
    assert_eq!(code(g.call(3, &commit_req(5)).await), ErrorCode::InvalidTxnState.code());
    let add = AddOffsetsToTxnRequest {
        transactional_id: id.into(),
        producer_id: pid,
        producer_epoch: epoch,
        group_id: group.into(),
        ..Default::default()
    };
    assert_eq!(c.call(3, &add).await.error_code, 0);
    assert_eq!(cluster.transaction_state(id), Some(TxnState::Ongoing));
    assert_eq!(code(g.call(3, &commit_req(5)).await), 0);
    // only the group's coordinator takes the commit
    let other = cluster.broker_ids().into_iter().find(|b| *b != group_broker).unwrap();
    let mut wrong = RawClient::connect(cluster.broker_addr(other).unwrap()).await.unwrap();
    assert_eq!(code(wrong.call(3, &commit_req(5)).await), ErrorCode::NotCoordinator.code());
    assert_eq!(cluster.transactionally_committed_offset(group, TOPIC, 0), None, "pending until commit");
    assert_eq!(end_txn(&mut c, id, pid, epoch, true).await, 0);
    assert_eq!(cluster.transactionally_committed_offset(group, TOPIC, 0), Some(5));

    // an aborted transaction's offsets are dropped
    assert_eq!(c.call(3, &add).await.error_code, 0);
    assert_eq!(code(g.call(3, &commit_req(9)).await), 0);
    assert_eq!(end_txn(&mut c, id, pid, epoch, false).await, 0);
    assert_eq!(cluster.transactionally_committed_offset(group, TOPIC, 0), Some(5));
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let cluster = cluster(1).await;
    let mut c = coordinator_client(&cluster, "t4").await;
    let mut leader = leader_client(&cluster, 0).await;
    let r = c.call(5, &init_req(Some("t4"), 300)).await;
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    assert_eq!(add_partitions(&mut c, 3, "t4", pid, epoch, &[0]).await, 0);
    assert_eq!(produce(&mut leader, Some("t4"), 0, batch(pid, epoch, 0, true, &["late"])).await, (0, 0));
    assert_eq!(cluster.last_stable_offset(TOPIC, 0), Some(0));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(cluster.transaction_state("t4"), Some(TxnState::CompleteAbort));
    assert_eq!(cluster.transactional_producer("t4"), Some((pid, epoch + 1)), "epoch bumped");
    assert_eq!(cluster.last_stable_offset(TOPIC, 0), Some(2));
    assert_eq!(cluster.aborted_transactions(TOPIC, 0).len(), 1);
    assert_eq!(
        produce(&mut leader, Some("t4"), 0, batch(pid, epoch, 1, true, &["zombie"])).await.0,
        ErrorCode::InvalidProducerEpoch.code()
    );
    assert_eq!(end_txn(&mut c, "t4", pid, epoch, true).await, ErrorCode::ProducerFenced.code());
    assert_eq!(
        c.call(1, &end_req("t4", pid, epoch, true)).await.error_code,
        ErrorCode::InvalidProducerEpoch.code()
    );
}

#[tokio::test]
async fn produce_to_a_partition_not_in_the_transaction_is_refused() {
    let cluster = cluster(1).await;
    let mut c = coordinator_client(&cluster, "t5").await;
    let mut leader = leader_client(&cluster, 1).await;
    let (pid, epoch) = init(&mut c, "t5").await;
    // before any AddPartitions, and after adding only partition 0
    let (code, _) = produce(&mut leader, Some("t5"), 1, batch(pid, epoch, 0, true, &["x"])).await;
    assert_eq!(code, ErrorCode::TransactionAbortable.code());
    assert_eq!(add_partitions(&mut c, 3, "t5", pid, epoch, &[0]).await, 0);
    let (code, _) = produce(&mut leader, Some("t5"), 1, batch(pid, epoch, 0, true, &["x"])).await;
    assert_eq!(code, ErrorCode::TransactionAbortable.code(), "Produce v11");
    let (code, _) = produce_v(&mut leader, 9, Some("t5"), 1, batch(pid, epoch, 0, true, &["x"])).await;
    assert_eq!(code, ErrorCode::InvalidTxnState.code(), "Produce v10 and older");
    assert!(cluster.records(TOPIC, 1).is_empty());
    // unknown producer ids are not transactional producers
    let (code, _) = produce(&mut leader, Some("t5"), 1, batch(pid + 50, 0, 0, true, &["x"])).await;
    assert_eq!(code, ErrorCode::InvalidProducerIdMapping.code());
    // once added, it goes through
    assert_eq!(add_partitions(&mut c, 3, "t5", pid, epoch, &[1]).await, 0);
    assert_eq!(produce(&mut leader, Some("t5"), 1, batch(pid, epoch, 0, true, &["x"])).await, (0, 0));
    // unknown partitions fail the whole AddPartitions request
    let r = c.call(3, &add_req("t5", pid, epoch, &[0, 7])).await;
    let codes: Vec<(i32, i16)> = r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| (p.partition_index, p.partition_error_code))
        .collect();
    assert_eq!(
        codes,
        [(0, ErrorCode::OperationNotAttempted.code()), (7, ErrorCode::UnknownTopicOrPartition.code())]
    );
    // v4+ (broker to broker) verify_only
    let verify = AddPartitionsToTxnRequest {
        transactions: vec![AddPartitionsToTxnTransaction {
            transactional_id: "t5".into(),
            producer_id: pid,
            producer_epoch: epoch,
            verify_only: true,
            topics: vec![AddPartitionsToTxnTopic {
                name: TOPIC.into(),
                partitions: vec![0, 1],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = c.call(5, &verify).await;
    let codes: Vec<i16> = r.results_by_transaction[0].topic_results[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, [0, 0]);
}

#[tokio::test]
async fn transaction_requests_to_the_wrong_broker_get_not_coordinator() {
    let cluster = cluster(3).await;
    let id = "routed";
    let coordinator = cluster.coordinator(1, id).unwrap();
    let other = cluster.broker_ids().into_iter().find(|b| *b != coordinator).unwrap();
    let mut wrong = RawClient::connect(cluster.broker_addr(other).unwrap()).await.unwrap();
    let r = wrong.call(5, &init_req(Some(id), 60_000)).await;
    assert_eq!((r.error_code, r.producer_id), (ErrorCode::NotCoordinator.code(), -1));
    let mut c = coordinator_client(&cluster, id).await;
    let (pid, epoch) = init(&mut c, id).await;
    assert_eq!(add_partitions(&mut wrong, 3, id, pid, epoch, &[0]).await, ErrorCode::NotCoordinator.code());
    assert_eq!(end_txn(&mut wrong, id, pid, epoch, true).await, ErrorCode::NotCoordinator.code());
    let describe = DescribeTransactionsRequest { transactional_ids: vec![id.into()], ..Default::default() };
    let d = wrong.call(0, &describe).await;
    assert_eq!(d.transaction_states[0].error_code, ErrorCode::NotCoordinator.code());
    // after the coordinator moves, the old one refuses and the new one serves the same state
    cluster.move_coordinator(1, id, other);
    assert_eq!(add_partitions(&mut c, 3, id, pid, epoch, &[0]).await, ErrorCode::NotCoordinator.code());
    assert_eq!(add_partitions(&mut wrong, 3, id, pid, epoch, &[0]).await, 0);
}

#[tokio::test]
async fn describe_and_list_transactions_and_producers() {
    let cluster = cluster(1).await;
    let mut c = coordinator_client(&cluster, "t6").await;
    let mut leader = leader_client(&cluster, 0).await;
    let (pid, epoch) = init(&mut c, "t6").await;
    let (pid_b, _) = init(&mut c, "t6-idle").await;
    assert_eq!(add_partitions(&mut c, 3, "t6", pid, epoch, &[0]).await, 0);
    assert_eq!(produce(&mut leader, None, 0, batch(-1, -1, -1, false, &["p"])).await, (0, 0));
    assert_eq!(produce(&mut leader, Some("t6"), 0, batch(pid, epoch, 0, true, &["a", "b"])).await, (0, 1));

    let d = c
        .call(
            0,
            &DescribeTransactionsRequest {
                transactional_ids: vec!["t6".into(), "nope".into()],
                ..Default::default()
            },
        )
        .await;
    let t = &d.transaction_states[0];
    assert_eq!((t.error_code, t.transaction_state.as_str(), t.producer_id), (0, "Ongoing", pid));
    assert_eq!((t.topics[0].topic.as_str(), t.topics[0].partitions.clone()), (TOPIC, vec![0]));
    assert!(t.transaction_start_time_ms > 0 && t.transaction_timeout_ms == 60_000);
    assert_eq!(d.transaction_states[1].error_code, ErrorCode::TransactionalIdNotFound.code());

    let list = |states: &[&str], pids: &[i64]| ListTransactionsRequest {
        state_filters: states.iter().map(|s| (*s).to_owned()).collect(),
        producer_id_filters: pids.to_vec(),
        duration_filter: -1,
        ..Default::default()
    };
    let ids = |r: kafka_protocol::generated::ListTransactionsResponse| {
        let mut v: Vec<String> = r.transaction_states.into_iter().map(|s| s.transactional_id).collect();
        v.sort();
        v
    };
    assert_eq!(ids(c.call(1, &list(&[], &[])).await), ["t6", "t6-idle"]);
    assert_eq!(ids(c.call(1, &list(&["Ongoing"], &[])).await), ["t6"]);
    assert_eq!(ids(c.call(1, &list(&[], &[pid_b])).await), ["t6-idle"]);
    let r = c.call(1, &list(&["Bogus", "Empty"], &[])).await;
    assert_eq!(r.unknown_state_filters, ["Bogus"]);
    assert_eq!(ids(r), ["t6-idle"]);
    let mut long = list(&[], &[]);
    long.duration_filter = 3_600_000;
    // the ongoing transaction has not run for an hour; Kafka compares an Empty id's start time
    // of -1, so it always passes the duration filter
    assert_eq!(ids(c.call(1, &long).await), ["t6-idle"]);

    let dp = DescribeProducersRequest {
        topics: vec![TopicRequest {
            name: TOPIC.into(),
            partition_indexes: vec![0, 9],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = leader.call(0, &dp).await;
    let p0 = &r.topics[0].partitions[0];
    assert_eq!(p0.error_code, 0);
    let s = &p0.active_producers[0];
    assert_eq!((s.producer_id, s.producer_epoch, s.last_sequence), (pid, epoch as i32, 1));
    assert_eq!(
        (s.current_txn_start_offset, s.coordinator_epoch, s.last_timestamp),
        (1, -1, 1_700_000_000_000)
    );
    assert_eq!(r.topics[0].partitions[1].error_code, ErrorCode::UnknownTopicOrPartition.code());
    assert_eq!(end_txn(&mut c, "t6", pid, epoch, true).await, 0);
    let s = leader.call(0, &dp).await.topics[0].partitions[0].active_producers[0].clone();
    assert_eq!((s.current_txn_start_offset, s.coordinator_epoch), (-1, 0));
}
