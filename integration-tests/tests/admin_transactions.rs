//! The admin client's producer and transaction operations end to end: a transaction left open
//! with raw InitProducerId / AddPartitionsToTxn / Produce is listed, described at its
//! coordinator, seen in the partition's producers, and aborted with `abort_transaction`.

use bytes::BytesMut;
use integration_tests::{eventually, target, unique_topic};
use kafka_admin::*;
use kafka_client::conn::RequestOptions;
use kafka_client::{ClientConfig, CoordinatorLookup, CoordinatorType, Metadata, NetworkClient, Purpose};
use kafka_protocol::generated::{
    AddPartitionsToTxnRequest, InitProducerIdRequest, ProduceRequest,
    add_partitions_to_txn_request::AddPartitionsToTxnTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::records::{Compression, RecordBatchBuilder};
use kafka_protocol::{ApiKey, ErrorCode};

/// Opens a transaction for `txn_id` that writes 3 records to `tp` and is never ended; returns
/// (producer id, epoch).
async fn open_transaction(bootstrap: &str, txn_id: &str, tp: &TopicPartition, leader: i32) -> (i64, i16) {
    let cfg = ClientConfig::builder().bootstrap_servers(bootstrap.split(',')).build().unwrap();
    let pool = NetworkClient::new(cfg);
    // the pool must know every broker: the partition leader need not be the coordinator
    Metadata::new(pool.clone(), false).refresh(std::time::Duration::from_secs(30)).await.unwrap();
    let lookup = CoordinatorLookup::new(pool.clone());
    let init = InitProducerIdRequest {
        transactional_id: Some(txn_id.to_owned()),
        transaction_timeout_ms: 600_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    // a fresh cluster's transaction coordinator may still be loading: retry as a producer would
    let (coord, pid) = eventually("the producer id is assigned", || async {
        let coord = lookup.find(CoordinatorType::Transaction, txn_id).await.unwrap();
        let pid = pool.send(coord.node_id, Purpose::Admin, &init).await.unwrap();
        if ErrorCode::from(pid.error_code).is_retriable() {
            lookup.invalidate(CoordinatorType::Transaction, txn_id);
            return None;
        }
        Some((coord, pid))
    })
    .await;
    assert_eq!(pid.error_code, 0, "{pid:?}");
    // the classic (pre-KIP-890 part 2) flow: add the partition explicitly, then produce
    let add = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: txn_id.to_owned(),
        v3_and_below_producer_id: pid.producer_id,
        v3_and_below_producer_epoch: pid.producer_epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: tp.topic.clone(),
            partitions: vec![tp.partition],
            ..Default::default()
        }],
        ..Default::default()
    };
    let opts = |v: i16| RequestOptions { version: Some(v), timeout: None };
    let added = pool.send_with(coord.node_id, Purpose::Admin, &add, opts(3)).await.unwrap();
    let codes: Vec<i16> = added
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| &t.results_by_partition)
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, [0], "{added:?}");
    let mut batch = RecordBatchBuilder::new(Compression::None);
    batch.producer(pid.producer_id, pid.producer_epoch, 0).transactional(true);
    for i in 0..3 {
        batch.append(1000 + i, None, Some(b"txn"), &[]).unwrap();
    }
    let mut records = BytesMut::new();
    batch.build(&mut records).unwrap();
    let produce = ProduceRequest {
        transactional_id: Some(txn_id.to_owned()),
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: tp.topic.clone(),
            partition_data: vec![PartitionProduceData {
                index: tp.partition,
                records: Some(records.freeze()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let conn = pool.connection(leader, Purpose::Produce).await.unwrap();
    let v = conn.version(ApiKey::Produce).unwrap().min(11);
    let r = conn.send_with(&produce, opts(v)).await.unwrap();
    let code = r.responses[0].partition_responses[0].error_code;
    assert_eq!(code, 0, "{r:?}");
    (pid.producer_id, pid.producer_epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_transaction_is_listed_described_and_aborted() {
    let Some(t) = target(1).await else { return };
    let bootstrap = t.bootstrap();
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    let name = unique_topic("it-admin-txn");
    a.create_topics(&[NewTopic::new(name.clone(), 1, 1)], false).await.unwrap()[&name].as_ref().unwrap();
    let tp = TopicPartition::new(name.clone(), 0);
    let leader = eventually("the partition has a leader", || async {
        let d = a.describe_topics(&[name.as_str()]).await.unwrap();
        d[&name].as_ref().ok().and_then(|t| t.partitions[0].leader)
    })
    .await;
    let txn_id = unique_topic("it-admin-txn-id");
    let (pid, epoch) = open_transaction(&bootstrap, &txn_id, &tp, leader).await;

    let filter = ListTransactionsFilter { states: vec!["Ongoing".into()], ..Default::default() };
    let listed = a.list_transactions(&filter).await.unwrap();
    let l = listed.iter().find(|l| l.transactional_id == txn_id).unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!((l.producer_id, l.state.as_str()), (pid, "Ongoing"));
    let other = ListTransactionsFilter { producer_ids: vec![pid + 1_000_000], ..Default::default() };
    assert!(!a.list_transactions(&other).await.unwrap().iter().any(|l| l.transactional_id == txn_id));

    let unknown = unique_topic("it-admin-no-txn");
    let d = a.describe_transactions(&[txn_id.as_str(), unknown.as_str()]).await.unwrap();
    let td = d[&txn_id].as_ref().unwrap();
    assert_eq!((td.state.as_str(), td.producer_id, td.producer_epoch), ("Ongoing", pid, epoch));
    assert_eq!(td.topic_partitions, std::slice::from_ref(&tp));
    assert!(td.transaction_start_time_ms.is_some() && td.coordinator_id >= 0, "{td:?}");
    assert!(
        matches!(&d[&unknown], Err(Error::Item { code: ErrorCode::TransactionalIdNotFound, item, .. }) if item.contains(&unknown)),
        "{d:?}"
    );

    let producers = a.describe_producers(std::slice::from_ref(&tp)).await.unwrap();
    let states = producers[&tp].as_ref().unwrap();
    let p = states.iter().find(|p| p.producer_id == pid).unwrap_or_else(|| panic!("{states:?}"));
    assert_eq!((p.current_transaction_start_offset, p.last_sequence), (Some(0), 2));

    let spec = AbortTransactionSpec {
        topic_partition: tp.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch: p.coordinator_epoch.unwrap_or(0),
    };
    let aborted = a.abort_transaction(&spec).await;
    if !t.is_real() {
        // WriteTxnMarkers is broker-to-broker; the test broker does not serve it
        assert!(
            matches!(&aborted, Err(Error::Client(kafka_client::Error::UnsupportedApi { .. }))),
            "{aborted:?}"
        );
        return;
    }
    aborted.unwrap();
    let after = a.describe_producers(std::slice::from_ref(&tp)).await.unwrap();
    let p = after[&tp].as_ref().unwrap().iter().find(|p| p.producer_id == pid).cloned().unwrap();
    assert_eq!(p.current_transaction_start_offset, None, "the abort marker closed the transaction: {p:?}");
    let stale = AbortTransactionSpec { producer_epoch: epoch - 1, ..spec };
    let e = a.abort_transaction(&stale).await.unwrap_err();
    assert!(matches!(&e, Error::Item { item, .. } if item.contains(&name)), "{e}");
}
