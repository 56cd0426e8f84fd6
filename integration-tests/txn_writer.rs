//! [`TxnWriter`]: raw transactional writes straight to a partition leader.

use std::time::Duration;

use bytes::BytesMut;
use kafka_client::conn::RequestOptions;
use kafka_client::{ClientConfig, CoordinatorLookup, CoordinatorType, Metadata, NetworkClient, Purpose};
use kafka_protocol::generated::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProduceRequest,
    add_partitions_to_txn_request::AddPartitionsToTxnTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::records::{Compression, RecordBatchBuilder};
use kafka_protocol::{ApiKey, ErrorCode};

use crate::eventually;

/// Raw transactional writes (transactions v1, explicit AddPartitionsToTxn), for tests that need
/// transactional data or a hanging transaction without the SDK's producer: one transactional
/// id's producer on one partition, sent straight to its leader.
pub struct TxnWriter {
    pool: NetworkClient,
    coordinator: i32,
    leader: i32,
    txn_id: String,
    /// The producer id InitProducerId assigned.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    sequence: i32,
    topic: String,
    partition: i32,
    added: bool,
}

impl TxnWriter {
    /// Initialises `txn_id` (retried while the coordinator loads) for writes to `topic`
    /// `partition`, whose leader is `leader`. Its transaction timeout is 10 minutes, so a
    /// transaction a test leaves open stays open.
    pub async fn new(bootstrap: &str, txn_id: &str, topic: &str, partition: i32, leader: i32) -> TxnWriter {
        let cfg = ClientConfig::builder().bootstrap_servers(bootstrap.split(',')).build().unwrap();
        let pool = NetworkClient::new(cfg);
        // metadata names the brokers (the pool starts knowing only the bootstrap addresses)
        let metadata = Metadata::new(pool.clone(), false);
        metadata.wait_for_topic(topic, Duration::from_secs(30)).await.unwrap();
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
            let coord = lookup.find(CoordinatorType::Transaction, txn_id).await.ok()?;
            let pid = pool.send(coord.node_id, Purpose::Admin, &init).await.ok()?;
            if ErrorCode::from(pid.error_code).is_retriable() {
                lookup.invalidate(CoordinatorType::Transaction, txn_id);
                return None;
            }
            Some((coord, pid))
        })
        .await;
        assert_eq!(pid.error_code, 0, "{pid:?}");
        TxnWriter {
            pool,
            coordinator: coord.node_id,
            leader,
            txn_id: txn_id.to_owned(),
            producer_id: pid.producer_id,
            epoch: pid.producer_epoch,
            sequence: 0,
            topic: topic.to_owned(),
            partition,
            added: false,
        }
    }

    /// Writes `values` in one transactional batch (adding the partition first).
    pub async fn write(&mut self, values: &[&str]) {
        let opts = |v: i16| RequestOptions { version: Some(v), timeout: None };
        if !self.added {
            let add = AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: self.txn_id.clone(),
                v3_and_below_producer_id: self.producer_id,
                v3_and_below_producer_epoch: self.epoch,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: self.topic.clone(),
                    partitions: vec![self.partition],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let r = eventually("the partition is added to the transaction", || async {
                let r = self.pool.send_with(self.coordinator, Purpose::Admin, &add, opts(3)).await.ok()?;
                let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
                (!ErrorCode::from(code).is_retriable()).then_some(code)
            })
            .await;
            assert_eq!(r, 0);
            self.added = true;
        }
        let mut batch = RecordBatchBuilder::new(Compression::None);
        batch.producer(self.producer_id, self.epoch, self.sequence).transactional(true);
        for v in values {
            batch.append(0, None, Some(v.as_bytes()), &[]).unwrap();
        }
        self.sequence += values.len() as i32;
        let mut records = BytesMut::new();
        batch.build(&mut records).unwrap();
        let produce = ProduceRequest {
            transactional_id: Some(self.txn_id.clone()),
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: self.topic.clone(),
                partition_data: vec![PartitionProduceData {
                    index: self.partition,
                    records: Some(records.freeze()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let conn = self.pool.connection(self.leader, Purpose::Produce).await.unwrap();
        let v = conn.version(ApiKey::Produce).unwrap().min(11);
        let r = conn.send_with(&produce, opts(v)).await.unwrap();
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0, "{r:?}");
    }

    /// Commits or aborts the transaction (EndTxn) and closes the connections.
    pub async fn end(self, commit: bool) {
        let end = EndTxnRequest {
            transactional_id: self.txn_id.clone(),
            producer_id: self.producer_id,
            producer_epoch: self.epoch,
            committed: commit,
            ..Default::default()
        };
        let conn = self.pool.connection(self.coordinator, Purpose::Admin).await.unwrap();
        let v = conn.version(ApiKey::EndTxn).unwrap().min(4);
        let r = conn.send_with(&end, RequestOptions { version: Some(v), timeout: None }).await.unwrap();
        assert_eq!(r.error_code, 0, "{r:?}");
        self.pool.close();
    }
}
