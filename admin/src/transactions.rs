//! Producers and transactions: describe producers (partition leaders), list transactions
//! (every broker), describe transactions (transaction coordinators), abort a hanging
//! transaction (WriteTxnMarkers to the partition leader, as Java's `abortTransaction` does).

use std::collections::BTreeMap;

use futures::future::join_all;
use kafka_client::CoordinatorType;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest, WriteTxnMarkersRequest,
    describe_producers_request::TopicRequest,
    describe_producers_response::ProducerState as ProducerStateWire,
    write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic},
};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::leaders::{partition_ids_by_topic, partition_results};
use crate::types::TopicPartition;

/// An active producer of a partition (Java's `ProducerState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i32,
    /// Last sequence written.
    pub last_sequence: i32,
    /// Timestamp of its last write.
    pub last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker, if any.
    pub coordinator_epoch: Option<i32>,
    /// First offset of its open transaction in this partition, if one is open.
    pub current_transaction_start_offset: Option<i64>,
}

/// A transaction as listed (Java's `TransactionListing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    /// Transactional id.
    pub transactional_id: String,
    /// Producer id.
    pub producer_id: i64,
    /// State as the coordinator names it (`Ongoing`, `Empty`, `CompleteCommit`, …).
    pub state: String,
}

/// Filters for `list_transactions` (Java's `ListTransactionsOptions`); empty: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsFilter {
    /// Only these states.
    pub states: Vec<String>,
    /// Only these producer ids.
    pub producer_ids: Vec<i64>,
    /// Only transactions running longer than this many ms (ListTransactions v1+).
    pub duration_ms: Option<i64>,
}

/// A transaction as described by its coordinator (Java's `TransactionDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The coordinator's broker id.
    pub coordinator_id: i32,
    /// State (`Ongoing`, `Empty`, …).
    pub state: String,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms`.
    pub transaction_timeout_ms: i32,
    /// When the open transaction started (ms), if one is open.
    pub transaction_start_time_ms: Option<i64>,
    /// The partitions in the open transaction.
    pub topic_partitions: Vec<TopicPartition>,
}

/// Which transaction to abort, and where (Java's `AbortTransactionSpec`); the values come from
/// `describe_producers` on the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    /// The partition with the hanging transaction.
    pub topic_partition: TopicPartition,
    /// Its producer id.
    pub producer_id: i64,
    /// Its producer epoch.
    pub producer_epoch: i16,
    /// The coordinator epoch to write the marker with.
    pub coordinator_epoch: i32,
}

fn producer_state(s: ProducerStateWire) -> ProducerState {
    ProducerState {
        producer_id: s.producer_id,
        producer_epoch: s.producer_epoch,
        last_sequence: s.last_sequence,
        last_timestamp: s.last_timestamp,
        coordinator_epoch: Some(s.coordinator_epoch).filter(|e| *e >= 0),
        current_transaction_start_offset: Some(s.current_txn_start_offset).filter(|o| *o >= 0),
    }
}

impl AdminClient {
    /// The active producers of each partition, at its leader. One result per partition.
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Result<Vec<ProducerState>>>> {
        let asked: BTreeMap<TopicPartition, ()> = partitions.iter().map(|tp| (tp.clone(), ())).collect();
        self.to_leaders(
            "DescribeProducers",
            &asked,
            |items| DescribeProducersRequest {
                topics: partition_ids_by_topic(items.iter().map(|(tp, _)| tp))
                    .into_iter()
                    .map(|(name, partition_indexes)| TopicRequest {
                        name,
                        partition_indexes,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            |r| {
                partition_results(
                    "DescribeProducers",
                    r.topics.into_iter().map(|t| (t.name, t.partitions)),
                    |p| {
                        let producers = p.active_producers.into_iter().map(producer_state).collect();
                        (p.partition_index, p.error_code, p.error_message, producers)
                    },
                )
            },
        )
        .await
    }

    /// The transactions of every broker's transaction coordinator, filtered. Fails as a whole
    /// if a broker cannot answer within `default.api.timeout.ms` (Java's `all()`).
    pub async fn list_transactions(
        &self,
        filter: &ListTransactionsFilter,
    ) -> Result<Vec<TransactionListing>> {
        let brokers = self.broker_ids().await?;
        let calls = brokers.into_iter().map(|id| async move {
            self.retry("ListTransactions", move || async move {
                let r = self
                    .send_to(id, |_| ListTransactionsRequest {
                        state_filters: filter.states.clone(),
                        producer_id_filters: filter.producer_ids.clone(),
                        duration_filter: filter.duration_ms.unwrap_or(-1),
                        ..Default::default()
                    })
                    .await?;
                match Error::item("ListTransactions", format!("broker {id}"), r.error_code, None) {
                    Some(e) => Err(e),
                    None => Ok(r),
                }
            })
            .await
        });
        let mut out = Vec::new();
        for r in join_all(calls).await {
            out.extend(r?.transaction_states.into_iter().map(|t| TransactionListing {
                transactional_id: t.transactional_id,
                producer_id: t.producer_id,
                state: t.transaction_state,
            }));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// Describes transactional ids at their coordinators. One result per id
    /// (`TRANSACTIONAL_ID_NOT_FOUND` for an unknown one).
    pub async fn describe_transactions(
        &self,
        ids: &[&str],
    ) -> Result<BTreeMap<String, Result<TransactionDescription>>> {
        let calls = ids.iter().map(|id| async move {
            let resp = self
                .to_coordinator(
                    "DescribeTransactions",
                    CoordinatorType::Transaction,
                    id,
                    |_| DescribeTransactionsRequest {
                        transactional_ids: vec![(*id).to_owned()],
                        ..Default::default()
                    },
                    |r| r.transaction_states.first().map_or(0, |t| t.error_code),
                )
                .await;
            let coordinator_id =
                self.coordinators.cached(CoordinatorType::Transaction, id).map_or(-1, |c| c.node_id);
            let res = resp.and_then(|r| {
                let t = r
                    .transaction_states
                    .into_iter()
                    .find(|t| t.transactional_id == *id)
                    .ok_or_else(|| Error::Invalid(format!("DescribeTransactions: no result for {id}")))?;
                if let Some(e) =
                    Error::item("DescribeTransactions", format!("transactional id {id}"), t.error_code, None)
                {
                    return Err(e);
                }
                Ok(TransactionDescription {
                    coordinator_id,
                    state: t.transaction_state,
                    producer_id: t.producer_id,
                    producer_epoch: t.producer_epoch,
                    transaction_timeout_ms: t.transaction_timeout_ms,
                    transaction_start_time_ms: Some(t.transaction_start_time_ms).filter(|t| *t >= 0),
                    topic_partitions: t
                        .topics
                        .into_iter()
                        .flat_map(|d| {
                            d.partitions.into_iter().map(move |p| TopicPartition::new(d.topic.clone(), p))
                        })
                        .collect(),
                })
            });
            ((*id).to_owned(), res)
        });
        Ok(join_all(calls).await.into_iter().collect())
    }

    /// Aborts a hanging transaction in one partition by writing an abort marker at the
    /// partition's leader (WriteTxnMarkers, as Java does; needs `ClusterAction` permission).
    /// A moved leader is re-found and retried.
    pub async fn abort_transaction(&self, spec: &AbortTransactionSpec) -> Result<()> {
        let tp = &spec.topic_partition;
        let asked: BTreeMap<TopicPartition, ()> = [(tp.clone(), ())].into();
        let mut out = self
            .to_leaders(
                "WriteTxnMarkers",
                &asked,
                |_| WriteTxnMarkersRequest {
                    markers: vec![WritableTxnMarker {
                        producer_id: spec.producer_id,
                        producer_epoch: spec.producer_epoch,
                        transaction_result: false,
                        topics: vec![WritableTxnMarkerTopic {
                            name: tp.topic.clone(),
                            partition_indexes: vec![tp.partition],
                            ..Default::default()
                        }],
                        coordinator_epoch: spec.coordinator_epoch,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                |r| {
                    let markers = r.markers.into_iter().filter(|m| m.producer_id == spec.producer_id);
                    let topics = markers.flat_map(|m| m.topics).map(|t| (t.name, t.partitions));
                    partition_results("WriteTxnMarkers", topics, |p| {
                        let message = match ErrorCode::from(p.error_code) {
                            ErrorCode::InvalidProducerEpoch => {
                                Some("the producer epoch is not the partition's".to_owned())
                            }
                            ErrorCode::TransactionCoordinatorFenced => {
                                Some(format!("coordinator epoch {} has been fenced", spec.coordinator_epoch))
                            }
                            _ => None,
                        };
                        (p.partition_index, p.error_code, message, ())
                    })
                },
            )
            .await?;
        out.remove(tp).unwrap_or_else(|| Err(Error::Invalid(format!("WriteTxnMarkers {tp}: no answer"))))
    }
}
