//! The cluster's state: brokers, topics and partitions with their logs, producers, groups and
//! the request log. One `State` sits behind the cluster's mutex; handlers take the lock for a
//! short, synchronous critical section and never hold it across an await.

pub mod groups;
pub mod log;
pub mod producers;
pub mod reassign;
pub mod topic_config;
pub mod txn;

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::{ErrorCode, Uuid};

pub use log::{AbortedTxn, PartitionLog, StoredBatch};

/// One virtual broker.
#[derive(Debug, Clone)]
pub struct BrokerState {
    /// Node id.
    pub id: i32,
    /// Listener port (fixed once bound, so a broker comes back on the same port).
    pub port: u16,
    /// Rack, if configured.
    pub rack: Option<String>,
    /// Whether the broker is up (its port accepts connections).
    pub up: bool,
}

/// A partition: replicas, leader, ISR and the log shared by every replica.
#[derive(Debug, Clone)]
pub struct Partition {
    /// Partition index.
    pub index: i32,
    /// Leader node id, or -1 when offline.
    pub leader: i32,
    /// Leader epoch; bumped on every leader change.
    pub leader_epoch: i32,
    /// Replica node ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The log.
    pub log: PartitionLog,
    /// Leader epoch history: (epoch, start offset), for OffsetForLeaderEpoch.
    pub epoch_starts: Vec<(i32, i64)>,
    /// Idempotent producers seen in this partition, by producer id.
    pub producers: HashMap<i64, producers::ProducerEntry>,
}

impl Partition {
    /// Sets a new leader, bumping the epoch and recording where the epoch starts.
    pub fn set_leader(&mut self, leader: i32) {
        self.leader = leader;
        self.leader_epoch += 1;
        self.epoch_starts.push((self.leader_epoch, self.log.log_end_offset));
    }

    /// An unclean leader election: an out-of-sync replica whose log ends at `truncate_to`
    /// becomes leader (`new_leader`, a replica) and every replica truncates to its log. The
    /// leader epoch is bumped; epochs that started at or after `truncate_to` are forgotten,
    /// as the new leader never saw them. Idempotent-producer state is dropped (Kafka rebuilds
    /// it from the log). Returns the new leader epoch.
    pub fn unclean_election(&mut self, new_leader: i32, truncate_to: i64) -> Result<i32, String> {
        if !self.replicas.contains(&new_leader) {
            return Err(format!("broker {new_leader} is not a replica of partition {}", self.index));
        }
        self.log.truncate_to(truncate_to)?;
        let end = self.log.log_end_offset;
        self.epoch_starts.retain(|&(_, start)| start < end);
        self.producers.clear();
        if !self.isr.contains(&new_leader) {
            self.isr.push(new_leader);
        }
        self.set_leader(new_leader);
        Ok(self.leader_epoch)
    }

    /// Kafka's `RackAwareReplicaSelector` (KIP-392), as the leader runs it for a consumer
    /// fetch: a live in-sync replica in `rack` (the leader if it is one of them, which is
    /// never reported), else none.
    pub fn preferred_read_replica(&self, rack: &str, brokers: &[BrokerState]) -> Option<i32> {
        if rack.is_empty() {
            return None;
        }
        let in_rack: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|r| brokers.iter().any(|b| b.id == *r && b.up && b.rack.as_deref() == Some(rack)))
            .collect();
        if in_rack.contains(&self.leader) {
            return None;
        }
        in_rack.first().copied()
    }

    /// The end offset of `epoch` (OffsetForLeaderEpoch): the start of the next larger epoch,
    /// or the log end offset for the current one. Returns (epoch, end offset).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        if epoch >= self.leader_epoch {
            return (self.leader_epoch, self.log.log_end_offset);
        }
        let mut found = (-1, -1);
        for (i, &(e, _)) in self.epoch_starts.iter().enumerate() {
            if e <= epoch {
                let end = self.epoch_starts.get(i + 1).map(|n| n.1).unwrap_or(self.log.log_end_offset);
                found = (e, end);
            }
        }
        found
    }
}

/// A topic.
#[derive(Debug, Clone)]
pub struct Topic {
    /// Name.
    pub name: String,
    /// Topic id.
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: Vec<Partition>,
    /// Configs set explicitly (DescribeConfigs reports the rest as defaults).
    pub configs: BTreeMap<String, String>,
    /// Internal topics (`__consumer_offsets`, `__transaction_state`).
    pub internal: bool,
}

impl Topic {
    /// A config's effective value: explicit, else the broker default.
    pub fn config(&self, key: &str) -> Option<String> {
        self.configs.get(key).cloned().or_else(|| topic_config::default_of(key).map(str::to_owned))
    }

    /// `max.message.bytes` for this topic.
    pub fn max_message_bytes(&self) -> usize {
        self.config("max.message.bytes").and_then(|v| v.parse().ok()).unwrap_or(1_048_588)
    }

    /// `min.insync.replicas` for this topic.
    pub fn min_insync_replicas(&self) -> usize {
        self.config("min.insync.replicas").and_then(|v| v.parse().ok()).unwrap_or(1)
    }

    /// Whether `cleanup.policy` includes `compact` (every record needs a key).
    pub fn compacted(&self) -> bool {
        self.config("cleanup.policy").is_some_and(|v| v.split(',').any(|p| p.trim() == "compact"))
    }

    /// Whether `message.timestamp.type` is LogAppendTime.
    pub fn log_append_time(&self) -> bool {
        self.config("message.timestamp.type").as_deref() == Some("LogAppendTime")
    }
}

/// One entry of the request log (inspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The broker that received it.
    pub broker: i32,
    /// The API key.
    pub api_key: i16,
    /// The version.
    pub api_version: i16,
    /// The client id from the header.
    pub client_id: Option<String>,
    /// The correlation id.
    pub correlation_id: i32,
}

/// Cluster-wide settings chosen at build time.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cluster id reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `num.partitions` for auto-created topics.
    pub default_partitions: i32,
    /// `default.replication.factor` (capped by the broker count).
    pub default_replication_factor: i16,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: u64,
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout_ms: i32,
    /// How long a reassignment that adds replicas stays in progress (0: completes at once).
    pub reassignment_delay_ms: u64,
    /// `replica.selector.class=RackAwareReplicaSelector` (KIP-392): a leader answers a
    /// consumer's fetch with a preferred read replica in the consumer's rack.
    pub rack_aware_replica_selector: bool,
    /// The finalized `transaction.version` feature (KIP-890): 2 enables transactions v2
    /// (implicit partition / group adds on Produce v12+ / TxnOffsetCommit v5+, an epoch bump
    /// at every EndTxn v5+); 0 or 1 keeps v1 semantics for every request version.
    pub transaction_version: i16,
}

/// Everything the cluster knows.
#[derive(Debug)]
pub struct State {
    /// Settings.
    pub settings: Settings,
    /// Brokers by id order.
    pub brokers: Vec<BrokerState>,
    /// The active controller's id.
    pub controller_id: i32,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// Next producer id for InitProducerId.
    pub next_producer_id: i64,
    /// Received requests, oldest first (capped).
    pub request_log: Vec<RequestRecord>,
    /// Counter used to spread new partitions' leaders over the brokers.
    pub placement_cursor: usize,
    /// Consumer groups and committed offsets.
    pub groups: groups::GroupCoordinator,
    /// Transactional ids and ongoing transactions.
    pub txns: txn::TransactionCoordinator,
    /// Coordinator overrides set by tests (`move_coordinator`): (key type, key) → broker id.
    pub coordinator_overrides: BTreeMap<(i8, String), i32>,
    /// Partition reassignments in progress: (topic, partition) → reassignment.
    pub reassignments: BTreeMap<(String, i32), reassign::Reassignment>,
}

/// Cap on the request log's length.
pub const REQUEST_LOG_CAP: usize = 100_000;

impl State {
    /// A new cluster state.
    pub fn new(settings: Settings, brokers: Vec<BrokerState>) -> Self {
        let controller_id = brokers.first().map(|b| b.id).unwrap_or(-1);
        State {
            settings,
            brokers,
            controller_id,
            topics: BTreeMap::new(),
            next_producer_id: 1000,
            request_log: Vec::new(),
            placement_cursor: 0,
            groups: Default::default(),
            txns: Default::default(),
            coordinator_overrides: BTreeMap::new(),
            reassignments: BTreeMap::new(),
        }
    }

    /// Whether broker `id` exists and is up.
    pub fn broker_up(&self, id: i32) -> bool {
        self.brokers.iter().any(|b| b.id == id && b.up)
    }

    /// Live broker ids.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers.iter().filter(|b| b.up).map(|b| b.id).collect()
    }

    /// The coordinator broker for a group (key type 0) or transactional id (1): an override
    /// if a test set one, else a stable hash of the key over the live brokers, as Kafka maps a
    /// key to a partition of `__consumer_offsets` / `__transaction_state` and then to its leader.
    pub fn coordinator_for(&self, key_type: i8, key: &str) -> Option<i32> {
        if let Some(&b) = self.coordinator_overrides.get(&(key_type, key.to_owned())) {
            return self.broker_up(b).then_some(b);
        }
        let live = self.live_brokers();
        if live.is_empty() {
            return None;
        }
        // Java's String.hashCode, made non-negative (Utils.abs), modulo 50 partitions
        let h = key.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
        let partition = (h & 0x7fff_ffff) % 50;
        Some(live[partition as usize % live.len()])
    }

    /// Periodic work: group sessions and rebalance timeouts, transaction timeouts, reassignments.
    pub fn tick(&mut self, now_ms: i64) -> bool {
        let g = self.groups.tick(now_ms);
        let t = txn::run_timeouts(self, now_ms);
        let r = self.complete_reassignments(now_ms);
        g || t || r
    }

    /// Looks up a topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&Topic> {
        self.topics.values().find(|t| t.id == id)
    }

    /// Validates a topic name as Kafka does (length, legal characters, not `.` or `..`).
    pub fn validate_topic_name(name: &str) -> Result<(), String> {
        if name.is_empty() || name == "." || name == ".." {
            return Err(format!("Topic name {name:?} is illegal"));
        }
        if name.len() > 249 {
            return Err(format!("Topic name {name:?} is longer than 249 characters"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-') {
            return Err(format!(
                "Topic name {name:?} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
            ));
        }
        Ok(())
    }

    /// Creates a topic with `partitions` partitions of `replication_factor` replicas (or the
    /// explicit assignment), spreading leaders round-robin over the brokers.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<Vec<Vec<i32>>>,
        configs: BTreeMap<String, String>,
    ) -> Result<&Topic, (ErrorCode, String)> {
        if self.topics.contains_key(name) {
            return Err((ErrorCode::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        Self::validate_topic_name(name).map_err(|m| (ErrorCode::InvalidTopicException, m))?;
        for (k, v) in &configs {
            topic_config::validate(k, v).map_err(|m| (ErrorCode::InvalidConfig, m))?;
        }
        let replicas = match assignment {
            Some(a) => {
                let ids: Vec<i32> = self.brokers.iter().map(|b| b.id).collect();
                for r in a.iter().flatten() {
                    if !ids.contains(r) {
                        return Err((
                            ErrorCode::InvalidReplicaAssignment,
                            format!("Unknown broker {r} in the assignment"),
                        ));
                    }
                }
                if a.is_empty() || a.iter().any(|r| r.is_empty()) {
                    return Err((ErrorCode::InvalidReplicaAssignment, "Empty replica assignment".into()));
                }
                a
            }
            None => {
                if partitions <= 0 {
                    return Err((
                        ErrorCode::InvalidPartitions,
                        "Number of partitions must be larger than 0.".into(),
                    ));
                }
                if replication_factor <= 0 {
                    return Err((
                        ErrorCode::InvalidReplicationFactor,
                        "Replication factor must be larger than 0.".into(),
                    ));
                }
                if replication_factor as usize > self.brokers.len() {
                    return Err((
                        ErrorCode::InvalidReplicationFactor,
                        format!(
                            "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                            self.brokers.len()
                        ),
                    ));
                }
                (0..partitions).map(|_| self.place(replication_factor as usize)).collect()
            }
        };
        let id = self.new_topic_id(name);
        let parts = replicas
            .into_iter()
            .enumerate()
            .map(|(i, replicas)| {
                let live: Vec<i32> = replicas.iter().copied().filter(|r| self.broker_up(*r)).collect();
                let leader = live.first().copied().unwrap_or(-1);
                Partition {
                    index: i as i32,
                    leader,
                    leader_epoch: 0,
                    replicas,
                    isr: live,
                    log: PartitionLog::default(),
                    epoch_starts: vec![(0, 0)],
                    producers: HashMap::new(),
                }
            })
            .collect();
        let internal = name.starts_with("__");
        self.topics.insert(
            name.to_owned(),
            Topic { name: name.to_owned(), id, partitions: parts, configs, internal },
        );
        Ok(&self.topics[name])
    }

    /// Replicas for one new partition: `rf` consecutive brokers from a rotating start.
    pub fn place(&mut self, rf: usize) -> Vec<i32> {
        let n = self.brokers.len().max(1);
        let start = self.placement_cursor % n;
        self.placement_cursor += 1;
        (0..rf.min(n)).map(|i| self.brokers[(start + i) % n].id).collect()
    }

    fn new_topic_id(&self, name: &str) -> Uuid {
        // unique per process: a counter and the clock, mixed with the name
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        Uuid::from_halves(h ^ t.rotate_left(32), n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ t)
    }

    /// Auto-creates `name` if allowed. Returns whether the topic exists afterwards.
    pub fn maybe_auto_create(&mut self, name: &str) -> bool {
        if self.topics.contains_key(name) {
            return true;
        }
        if !self.settings.auto_create_topics || Self::validate_topic_name(name).is_err() {
            return false;
        }
        let rf = (self.settings.default_replication_factor as usize).min(self.brokers.len()) as i16;
        self.create_topic(name, self.settings.default_partitions, rf, None, BTreeMap::new()).is_ok()
    }

    /// Marks a broker down or up, moving leadership of its partitions as Kafka's controller
    /// would (the next live in-sync replica, epoch bumped; offline when none is left).
    pub fn set_broker_up(&mut self, id: i32, up: bool) {
        for b in self.brokers.iter_mut().filter(|b| b.id == id) {
            b.up = up;
        }
        let live = self.live_brokers();
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if !up {
                    p.isr.retain(|r| *r != id);
                    if p.leader == id {
                        let next = p.isr.iter().copied().find(|r| live.contains(r)).unwrap_or(-1);
                        p.set_leader(next);
                    }
                } else if p.replicas.contains(&id) {
                    if !p.isr.contains(&id) {
                        p.isr.push(id);
                    }
                    if p.leader == -1 {
                        p.set_leader(id);
                    }
                }
            }
        }
        if !up && self.controller_id == id {
            self.controller_id = live.first().copied().unwrap_or(-1);
        }
        if up && self.controller_id == -1 {
            self.controller_id = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition_with_batches(sizes: &[i64]) -> Partition {
        let mut log = PartitionLog::default();
        for &n in sizes {
            // append only reads the header bytes it rewrites; the rest is carried as is
            log.append(&[0u8; 61], n, 0, 0, -1, -1, false, false);
        }
        Partition {
            index: 0,
            leader: 1,
            leader_epoch: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            log,
            epoch_starts: vec![(0, 0)],
            producers: HashMap::new(),
        }
    }

    #[test]
    fn an_unclean_election_truncates_at_a_batch_boundary_and_starts_a_new_epoch() {
        let mut p = partition_with_batches(&[3, 3, 4]);
        assert_eq!(p.log.log_end_offset, 10);
        let err = p.unclean_election(2, 4).unwrap_err();
        assert!(err.contains("inside the batch 3..=5"), "{err}");
        assert!(p.unclean_election(9, 6).unwrap_err().contains("not a replica"));
        assert_eq!(p.unclean_election(2, 6), Ok(1));
        assert_eq!((p.leader, p.log.log_end_offset, p.log.batches.len()), (2, 6, 2));
        // epoch 0 now ends where the logs diverge; the new epoch runs to the log end
        assert_eq!(p.end_offset_for_epoch(0), (0, 6));
        assert_eq!(p.end_offset_for_epoch(1), (1, 6));
        assert_eq!(p.epoch_starts, vec![(0, 0), (1, 6)]);
    }

    #[test]
    fn the_rack_aware_selector_names_a_live_in_sync_replica_in_the_clients_rack() {
        let p = partition_with_batches(&[1]);
        let broker = |id: i32, up: bool| BrokerState { id, port: 0, rack: Some(format!("rack-{id}")), up };
        let brokers = vec![broker(1, true), broker(2, true), broker(3, false)];
        assert_eq!(p.preferred_read_replica("rack-2", &brokers), Some(2));
        assert_eq!(p.preferred_read_replica("rack-1", &brokers), None, "the leader itself is never named");
        assert_eq!(p.preferred_read_replica("rack-3", &brokers), None, "broker 3 is down");
        assert_eq!(p.preferred_read_replica("", &brokers), None);
    }
}
