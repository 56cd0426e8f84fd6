//! `MetadataCache`: an immutable snapshot of the cluster (Java's `MetadataCache`), and the rules
//! for merging a Metadata response into it.
//!
//! Leader-epoch rule (Java's `Metadata.updateLatestMetadata`): a partition's leader epoch never
//! goes backwards. A response from a broker that has not yet seen a leader change (an older
//! epoch) keeps the cached partition as it was; the last seen epoch is remembered even while a
//! topic is out of the cache. A topic whose id changed was deleted and recreated, so its
//! epochs start over.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::{ErrorCode, Uuid, generated::MetadataResponse};

use crate::error::BrokerRef;

/// A broker as the cluster advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// As a [`BrokerRef`] (`host:port`, IPv6 literals bracketed).
    pub fn broker_ref(&self) -> BrokerRef {
        let addr = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        BrokerRef { id: self.id, addr }
    }
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader's node id (`None` while leaderless).
    pub leader: Option<i32>,
    /// Leader epoch (`None` from brokers too old to send one).
    pub leader_epoch: Option<i32>,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Offline replica node ids.
    pub offline_replicas: Vec<i32>,
    /// The partition-level error (e.g. `LEADER_NOT_AVAILABLE`), `NONE` normally.
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id ([`Uuid::ZERO`] from brokers without ids).
    pub topic_id: Uuid,
    /// Internal topic (`__consumer_offsets`, …).
    pub is_internal: bool,
    /// Topic-level error (`UNKNOWN_TOPIC_OR_PARTITION`, `TOPIC_AUTHORIZATION_FAILED`, …).
    pub error: ErrorCode,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// Which topics a Metadata request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Every topic: the response replaces the topic set.
    All,
    /// These topics: the response updates them, other cached topics stay.
    Topics(Vec<String>),
}

/// An immutable snapshot of cluster metadata.
#[derive(Debug, Clone, Default)]
pub struct MetadataCache {
    /// Incremented by every merge (0: nothing received yet).
    pub update_version: u64,
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Controller node id (`None` if unknown; KRaft brokers report a random broker).
    pub controller_id: Option<i32>,
    brokers: BTreeMap<i32, BrokerMetadata>,
    topics: BTreeMap<String, TopicMetadata>,
    last_seen_epochs: HashMap<(String, i32), i32>,
}

impl MetadataCache {
    /// Every broker, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerMetadata> {
        self.brokers.values()
    }

    /// One broker.
    pub fn broker(&self, id: i32) -> Option<&BrokerMetadata> {
        self.brokers.get(&id)
    }

    /// The controller broker, if known and listed.
    pub fn controller(&self) -> Option<&BrokerMetadata> {
        self.controller_id.and_then(|id| self.brokers.get(&id))
    }

    /// Every cached topic.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMetadata> {
        self.topics.values()
    }

    /// One topic.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicMetadata> {
        if id == Uuid::ZERO {
            return None;
        }
        self.topics.values().find(|t| t.topic_id == id)
    }

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partitions.get(&partition)
    }

    /// The leader of a partition, with its epoch, if it has one and the broker is known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(&BrokerMetadata, Option<i32>)> {
        let p = self.partition(topic, partition)?;
        Some((self.brokers.get(&p.leader?)?, p.leader_epoch))
    }

    /// The highest leader epoch seen for a partition (survives the topic leaving the cache).
    pub fn last_seen_leader_epoch(&self, topic: &str, partition: i32) -> Option<i32> {
        self.last_seen_epochs.get(&(topic.to_string(), partition)).copied()
    }

    /// The snapshot after merging `resp` (an answer to `requested`).
    pub fn merge(&self, resp: &MetadataResponse, requested: &Requested) -> MetadataCache {
        let mut next = MetadataCache {
            update_version: self.update_version + 1,
            cluster_id: resp.cluster_id.clone(),
            controller_id: (resp.controller_id >= 0).then_some(resp.controller_id),
            brokers: resp
                .brokers
                .iter()
                .map(|b| {
                    let m = BrokerMetadata {
                        id: b.node_id,
                        host: b.host.clone(),
                        port: b.port,
                        rack: b.rack.clone(),
                    };
                    (b.node_id, m)
                })
                .collect(),
            topics: match requested {
                Requested::All => BTreeMap::new(),
                Requested::Topics(_) => self.topics.clone(),
            },
            last_seen_epochs: self.last_seen_epochs.clone(),
        };
        for t in &resp.topics {
            let Some(name) = t.name.clone() else { continue };
            let old = self.topics.get(&name);
            if let Some(old) = old {
                if old.topic_id != Uuid::ZERO && t.topic_id != Uuid::ZERO && old.topic_id != t.topic_id {
                    tracing::info!(topic = %name, "topic id changed (recreated): resetting leader epochs");
                    next.last_seen_epochs.retain(|(n, _), _| n != &name);
                }
            }
            let mut topic = TopicMetadata {
                name: name.clone(),
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                error: ErrorCode::from_code(t.error_code),
                partitions: BTreeMap::new(),
            };
            for p in &t.partitions {
                let fresh = PartitionMetadata {
                    partition: p.partition_index,
                    leader: (p.leader_id >= 0).then_some(p.leader_id),
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    replicas: p.replica_nodes.clone(),
                    isr: p.isr_nodes.clone(),
                    offline_replicas: p.offline_replicas.clone(),
                    error: ErrorCode::from_code(p.error_code),
                };
                let key = (name.clone(), p.partition_index);
                let kept = match (fresh.leader_epoch, next.last_seen_epochs.get(&key).copied()) {
                    (Some(new), Some(seen)) if new < seen => {
                        tracing::debug!(topic = %name, partition = p.partition_index, new, seen,
                            "ignoring partition metadata with an older leader epoch");
                        old.and_then(|o| o.partitions.get(&p.partition_index)).cloned()
                    }
                    (Some(new), _) => {
                        next.last_seen_epochs.insert(key, new);
                        Some(fresh)
                    }
                    (None, _) => Some(fresh),
                };
                if let Some(kept) = kept {
                    topic.partitions.insert(kept.partition, kept);
                }
            }
            next.topics.insert(name, topic);
        }
        next
    }

    /// Applies a leader hint from a produce or fetch response (KIP-951) if its epoch is newer
    /// than the cached one; returns whether it did.
    pub fn update_leader(&mut self, topic: &str, partition: i32, leader: i32, epoch: i32) -> bool {
        let key = (topic.to_string(), partition);
        if self.last_seen_epochs.get(&key).is_some_and(|seen| epoch <= *seen) {
            return false;
        }
        let Some(p) = self.topics.get_mut(topic).and_then(|t| t.partitions.get_mut(&partition)) else {
            return false;
        };
        p.leader = Some(leader);
        p.leader_epoch = Some(epoch);
        self.last_seen_epochs.insert(key, epoch);
        self.update_version += 1;
        true
    }
}

/// Whether a broker error code means cached metadata is stale and should be refreshed
/// (Java's `InvalidMetadataException` family and friends).
pub fn needs_metadata_refresh(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::KafkaStorageError
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
            | ErrorCode::NotController
            | ErrorCode::BrokerNotAvailable
            | ErrorCode::ListenerNotFound
    )
}

#[cfg(test)]
mod tests {
    use kafka_protocol::generated::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    use super::*;

    fn part(p: i32, leader: i32, epoch: i32) -> MetadataResponsePartition {
        MetadataResponsePartition {
            partition_index: p,
            leader_id: leader,
            leader_epoch: epoch,
            replica_nodes: vec![1, 2, 3],
            isr_nodes: vec![1, 2],
            offline_replicas: vec![3],
            ..Default::default()
        }
    }

    fn topic(name: &str, id: u8, parts: Vec<MetadataResponsePartition>) -> MetadataResponseTopic {
        MetadataResponseTopic {
            name: Some(name.into()),
            topic_id: Uuid([id; 16]),
            partitions: parts,
            ..Default::default()
        }
    }

    fn resp(topics: Vec<MetadataResponseTopic>) -> MetadataResponse {
        MetadataResponse {
            brokers: (1..=3)
                .map(|i| MetadataResponseBroker {
                    node_id: i,
                    host: format!("b{i}"),
                    port: 9092,
                    ..Default::default()
                })
                .collect(),
            cluster_id: Some("c1".into()),
            controller_id: 2,
            topics,
            ..Default::default()
        }
    }

    fn all() -> Requested {
        Requested::All
    }

    #[test]
    fn merge_records_brokers_controller_and_partitions() {
        let c = MetadataCache::default()
            .merge(&resp(vec![topic("t", 1, vec![part(0, 1, 5), part(1, -1, 5)])]), &all());
        assert_eq!(c.update_version, 1);
        assert_eq!(c.cluster_id.as_deref(), Some("c1"));
        assert_eq!(c.controller().unwrap().host, "b2");
        assert_eq!(c.brokers().count(), 3);
        let (leader, epoch) = c.leader("t", 0).unwrap();
        assert_eq!((leader.id, epoch), (1, Some(5)));
        assert!(c.leader("t", 1).is_none(), "leaderless partition");
        let p = c.partition("t", 0).unwrap();
        assert_eq!(
            (p.replicas.as_slice(), p.isr.as_slice(), p.offline_replicas.as_slice()),
            (&[1, 2, 3][..], &[1, 2][..], &[3][..])
        );
        assert_eq!(c.topic_by_id(Uuid([1; 16])).unwrap().name, "t");
        assert_eq!(c.broker(3).unwrap().broker_ref().addr, "b3:9092");
    }

    #[test]
    fn leader_epoch_never_goes_back() {
        let c = MetadataCache::default().merge(&resp(vec![topic("t", 1, vec![part(0, 1, 5)])]), &all());
        // A stale broker reports the old leader at epoch 4: keep leader 1 at epoch 5.
        let c = c.merge(&resp(vec![topic("t", 1, vec![part(0, 2, 4)])]), &all());
        assert_eq!(c.partition("t", 0).unwrap().leader, Some(1));
        assert_eq!(c.partition("t", 0).unwrap().leader_epoch, Some(5));
        // Same or newer epochs are taken.
        let c = c.merge(&resp(vec![topic("t", 1, vec![part(0, 3, 6)])]), &all());
        assert_eq!(c.partition("t", 0).unwrap().leader, Some(3));
        // The epoch is remembered while the topic is absent from a response...
        let c = c.merge(&resp(vec![]), &all());
        assert!(c.topic("t").is_none());
        assert_eq!(c.last_seen_leader_epoch("t", 0), Some(6));
        let c = c.merge(&resp(vec![topic("t", 1, vec![part(0, 1, 5)])]), &all());
        assert!(c.partition("t", 0).is_none(), "older epoch with nothing cached is dropped");
        // ...but a recreated topic (new id) starts over.
        let c = c.merge(&resp(vec![topic("t", 9, vec![part(0, 2, 0)])]), &all());
        assert_eq!(c.partition("t", 0).unwrap().leader_epoch, Some(0));
    }

    #[test]
    fn partial_updates_keep_other_topics() {
        let c = MetadataCache::default().merge(
            &resp(vec![topic("a", 1, vec![part(0, 1, 1)]), topic("b", 2, vec![part(0, 1, 1)])]),
            &all(),
        );
        let c =
            c.merge(&resp(vec![topic("a", 1, vec![part(0, 2, 2)])]), &Requested::Topics(vec!["a".into()]));
        assert_eq!(c.partition("a", 0).unwrap().leader, Some(2));
        assert!(c.topic("b").is_some(), "not requested, still cached");
        let c = c.merge(&resp(vec![topic("a", 1, vec![part(0, 2, 2)])]), &all());
        assert!(c.topic("b").is_none(), "a full update replaces the topic set");
    }

    #[test]
    fn leader_hints_obey_epochs() {
        let mut c = MetadataCache::default().merge(&resp(vec![topic("t", 1, vec![part(0, 1, 5)])]), &all());
        assert!(!c.update_leader("t", 0, 2, 5), "same epoch is not news");
        assert!(!c.update_leader("t", 0, 2, 4));
        assert!(c.update_leader("t", 0, 2, 6));
        assert_eq!(c.leader("t", 0).unwrap().0.id, 2);
        assert!(!c.update_leader("nope", 0, 2, 9));
    }

    #[test]
    fn refresh_worthy_errors() {
        assert!(needs_metadata_refresh(ErrorCode::NotLeaderOrFollower));
        assert!(needs_metadata_refresh(ErrorCode::UnknownTopicOrPartition));
        assert!(!needs_metadata_refresh(ErrorCode::TopicAuthorizationFailed));
        assert!(!needs_metadata_refresh(ErrorCode::None));
    }
}
