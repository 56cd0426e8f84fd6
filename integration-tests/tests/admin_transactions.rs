//! The admin client's producer and transaction operations end to end: a transaction left open
//! with raw InitProducerId / AddPartitionsToTxn / Produce is listed, described at its
//! coordinator, seen in the partition's producers, and aborted with `abort_transaction`.

use integration_tests::{TxnWriter, eventually, target, unique_topic};
use kafka_admin::*;
use kafka_protocol::ErrorCode;

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
    // three records in a transaction left open
    let mut w = TxnWriter::new(&bootstrap, &txn_id, &tp.topic, tp.partition, leader).await;
    w.write(&["txn", "txn", "txn"]).await;
    let (pid, epoch) = (w.producer_id, w.epoch);

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
