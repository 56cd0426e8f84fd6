//! Fault injection and inspection, public on [`TestCluster`].

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::{ApiKey, ErrorCode, RequestKind};

use crate::cluster::TestCluster;
use crate::state::{RequestRecord, StoredBatch};

/// What happens to a request a fault matches.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this error code (top level and every partition/item).
    Error(ErrorCode),
    /// Wait this long, then process normally.
    Delay(Duration),
    /// Close the connection without processing or answering.
    CloseConnection,
    /// Process the request (its effects happen) but never send the response.
    DropResponse,
}

/// A fault rule: the next `count` matching requests get `action`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The API it applies to.
    pub api: ApiKey,
    /// Only requests received by this broker.
    pub broker: Option<i32>,
    /// Only requests that mention this topic.
    pub topic: Option<String>,
    /// Only requests that mention this partition (with `topic`).
    pub partition: Option<i32>,
    /// How many more requests it applies to.
    pub count: u32,
    /// What to do.
    pub action: FaultAction,
}

impl Fault {
    /// The next `count` requests of `api` get `action`.
    pub fn new(api: ApiKey, count: u32, action: FaultAction) -> Self {
        Fault { api, broker: None, topic: None, partition: None, count, action }
    }
    /// Only on broker `id`.
    pub fn on_broker(mut self, id: i32) -> Self {
        self.broker = Some(id);
        self
    }
    /// Only for requests mentioning `topic` (and `partition`, if given).
    pub fn on_partition(mut self, topic: impl Into<String>, partition: Option<i32>) -> Self {
        self.topic = Some(topic.into());
        self.partition = partition;
        self
    }
}

/// The active fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Fault>,
}

impl Faults {
    /// Consumes one use of the first rule matching this request.
    pub(crate) fn take(&mut self, api: ApiKey, broker: i32, req: &RequestKind) -> Option<FaultAction> {
        let i = self.rules.iter().position(|f| {
            f.api == api
                && f.count > 0
                && f.broker.is_none_or(|b| b == broker)
                && f.topic.as_deref().is_none_or(|t| crate::handlers::mentions(req, t, f.partition))
        })?;
        let rule = &mut self.rules[i];
        rule.count -= 1;
        let action = rule.action.clone();
        if rule.count == 0 {
            self.rules.remove(i);
        }
        Some(action)
    }
}

/// A record read back from a partition (inspection).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Offset.
    pub offset: i64,
    /// Timestamp.
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A partition's state (inspection).
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionInfo {
    /// Leader id (-1 offline).
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Log start offset.
    pub log_start_offset: i64,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset.
    pub last_stable_offset: i64,
}

impl TestCluster {
    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults().rules.push(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults().rules.clear();
    }

    /// Creates a topic (as CreateTopics would).
    pub fn create_topic(&self, name: &str, partitions: i32, replication_factor: i16) -> Result<(), String> {
        let mut st = self.shared.state();
        st.create_topic(name, partitions, replication_factor, None, Default::default())
            .map(|_| ())
            .map_err(|(_, m)| m)
    }

    /// A partition's leader, epoch, replicas, ISR and offsets.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<PartitionInfo> {
        let st = self.shared.state();
        let p = st.topics.get(topic)?.partitions.get(partition as usize)?;
        Some(PartitionInfo {
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            log_start_offset: p.log.log_start_offset,
            high_watermark: p.log.high_watermark(),
            last_stable_offset: p.log.last_stable_offset(),
        })
    }

    /// The stored batches of a partition (raw bytes with offsets assigned).
    pub fn batches(&self, topic: &str, partition: i32) -> Vec<StoredBatch> {
        let st = self.shared.state();
        st.topics
            .get(topic)
            .and_then(|t| t.partitions.get(partition as usize))
            .map(|p| p.log.batches.clone())
            .unwrap_or_default()
    }

    /// Every record of a partition, decoded (control records excluded).
    pub fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        crate::handlers::records_of(&self.batches(topic, partition))
    }

    /// Moves a partition's leadership to `leader` (which must be a replica), bumping the epoch.
    pub fn move_leader(&self, topic: &str, partition: i32, leader: i32) -> Result<(), String> {
        let mut st = self.shared.state();
        let p = st
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
            .ok_or_else(|| format!("no partition {topic}-{partition}"))?;
        if !p.replicas.contains(&leader) {
            return Err(format!("broker {leader} is not a replica of {topic}-{partition}"));
        }
        if !p.isr.contains(&leader) {
            p.isr.push(leader);
        }
        p.set_leader(leader);
        Ok(())
    }

    /// Simulates an unclean leader election (KIP-320 tests): `new_leader` (a replica; `None`
    /// keeps the current one) takes over with a log that ends at `truncate_to` (a batch
    /// boundary), so records from there on are lost and the leader epoch is bumped. Records
    /// produced afterwards reuse the lost offsets under the new epoch. Returns the new epoch.
    pub fn unclean_leader_election(
        &self,
        topic: &str,
        partition: i32,
        truncate_to: i64,
        new_leader: Option<i32>,
    ) -> Result<i32, String> {
        let epoch = {
            let mut st = self.shared.state();
            let p = st
                .topics
                .get_mut(topic)
                .and_then(|t| t.partitions.get_mut(partition.max(0) as usize))
                .ok_or_else(|| format!("no partition {topic}-{partition}"))?;
            let leader = new_leader.unwrap_or(p.leader);
            p.unclean_election(leader, truncate_to).map_err(|e| format!("{topic}-{partition}: {e}"))?
        };
        self.shared.data_changed.notify_waiters();
        Ok(epoch)
    }

    /// Sets a partition's ISR (e.g. shrink it below min.insync.replicas so acks=all gets
    /// NOT_ENOUGH_REPLICAS).
    pub fn set_isr(&self, topic: &str, partition: i32, isr: Vec<i32>) -> Result<(), String> {
        let mut st = self.shared.state();
        let p = st
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
            .ok_or_else(|| format!("no partition {topic}-{partition}"))?;
        p.isr = isr;
        Ok(())
    }

    /// Requests received so far, oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.state().request_log.clone()
    }
}

impl TestCluster {
    /// Moves the coordinator of a group (`key_type` 0) or transactional id (1) to broker `id`;
    /// clients asking the old coordinator get NOT_COORDINATOR.
    pub fn move_coordinator(&self, key_type: i8, key: &str, id: i32) {
        self.shared.state().coordinator_overrides.insert((key_type, key.to_owned()), id);
    }

    /// The broker currently coordinating a group (0) or transactional id (1).
    pub fn coordinator(&self, key_type: i8, key: &str) -> Option<i32> {
        self.shared.state().coordinator_for(key_type, key)
    }
}

/// Transaction inspection (see `state/txn.rs`). Each call first aborts transactions whose
/// timeout has passed, as the coordinator would have by now.
impl TestCluster {
    fn with_txn_state<T>(&self, f: impl FnOnce(&crate::state::State) -> T) -> T {
        let (out, wrote) = {
            let mut st = self.shared.state();
            let wrote = crate::state::txn::run_timeouts(&mut st, crate::handlers::now_ms());
            (f(&st), wrote)
        };
        if wrote {
            self.shared.data_changed.notify_waiters();
        }
        out
    }

    /// A transactional id's coordinator state: state, producer id and epoch, timeout, the
    /// partitions and groups of the current transaction and its uncommitted offsets.
    pub fn transaction(&self, transactional_id: &str) -> Option<crate::state::txn::TransactionMetadata> {
        self.with_txn_state(|st| st.txns.txns.get(transactional_id).cloned())
    }

    /// A transactional id's state (Empty, Ongoing, … as Kafka names them).
    pub fn transaction_state(&self, transactional_id: &str) -> Option<crate::state::txn::TxnState> {
        self.transaction(transactional_id).map(|m| m.state)
    }

    /// A transactional id's producer id and epoch.
    pub fn transactional_producer(&self, transactional_id: &str) -> Option<(i64, i16)> {
        self.transaction(transactional_id).map(|m| (m.producer_id, m.producer_epoch))
    }

    /// Sets a transactional id's producer epoch as if that many transactions had passed
    /// (to reach epoch exhaustion in a test); `false` when the id is unknown.
    pub fn set_transaction_epoch(&self, transactional_id: &str, epoch: i16) -> bool {
        let mut st = self.shared.state();
        match st.txns.txns.get_mut(transactional_id) {
            Some(m) => {
                m.producer_epoch = epoch;
                m.last_producer_epoch = -1;
                true
            }
            None => false,
        }
    }

    /// The partitions in a transactional id's current transaction.
    pub fn transaction_partitions(&self, transactional_id: &str) -> Vec<(String, i32)> {
        self.transaction(transactional_id).map(|m| m.partitions.into_iter().collect()).unwrap_or_default()
    }

    /// A partition's last stable offset.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.with_txn_state(|st| {
            st.topics
                .get(topic)?
                .partitions
                .get(partition.max(0) as usize)
                .map(|p| p.log.last_stable_offset())
        })
    }

    /// A partition's aborted transactions (what read_committed fetches are told), oldest first.
    pub fn aborted_transactions(&self, topic: &str, partition: i32) -> Vec<crate::state::AbortedTxn> {
        self.with_txn_state(|st| {
            st.topics
                .get(topic)
                .and_then(|t| t.partitions.get(partition.max(0) as usize))
                .map(|p| p.log.aborted.clone())
                .unwrap_or_default()
        })
    }

    /// A partition's open transactions: producer id → first offset of its transaction.
    pub fn open_transactions(&self, topic: &str, partition: i32) -> std::collections::BTreeMap<i64, i64> {
        self.with_txn_state(|st| {
            st.topics
                .get(topic)
                .and_then(|t| t.partitions.get(partition.max(0) as usize))
                .map(|p| p.log.open_txns.clone())
                .unwrap_or_default()
        })
    }

    /// The offset a group has committed for a partition, as OffsetFetch would report it
    /// (transactional offsets appear only once their transaction commits).
    pub fn transactionally_committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.with_txn_state(|st| {
            st.groups.offsets.get(group)?.get(&(topic.to_owned(), partition)).map(|o| o.offset)
        })
    }
}

/// Consumer-group inspection (see `state/groups.rs`).
impl TestCluster {
    /// The committed offsets of a group: (topic, partition) → offset, leader epoch, metadata.
    pub fn committed_offsets(
        &self,
        group: &str,
    ) -> std::collections::BTreeMap<(String, i32), crate::state::groups::CommittedOffset> {
        self.shared.state().groups.offsets.get(group).cloned().unwrap_or_default()
    }

    /// The offset a group has committed for one partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.shared.state().groups.offsets.get(group)?.get(&(topic.to_owned(), partition)).map(|o| o.offset)
    }

    /// A group's state as Kafka names it (Empty, PreparingRebalance, CompletingRebalance,
    /// Stable); `None` for a group the coordinator does not know (Kafka reports it as Dead).
    pub fn group_state(&self, group: &str) -> Option<&'static str> {
        self.shared.state().groups.group(group).map(|g| g.state().name())
    }

    /// A group's generation id.
    pub fn group_generation(&self, group: &str) -> Option<i32> {
        self.shared.state().groups.group(group).map(|g| g.generation_id)
    }

    /// A group's leader member id.
    pub fn group_leader(&self, group: &str) -> Option<String> {
        self.shared.state().groups.group(group).and_then(|g| g.leader_id.clone())
    }

    /// A group's protocol type and the protocol chosen for its generation.
    pub fn group_protocol(&self, group: &str) -> Option<(Option<String>, Option<String>)> {
        self.shared.state().groups.group(group).map(|g| (g.protocol_type.clone(), g.protocol_name.clone()))
    }

    /// A group's members in join order: member id, instance id, client id, assignment.
    pub fn group_members(&self, group: &str) -> Vec<crate::state::groups::GroupMemberInfo> {
        self.shared
            .state()
            .groups
            .group(group)
            .map(|g| {
                g.members()
                    .iter()
                    .map(|m| crate::state::groups::GroupMemberInfo {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        client_id: m.client_id.clone(),
                        assignment: m.assignment.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
