//! What the consumer can tell about topics and partitions without fetching: Java's
//! `partitionsFor`, `listTopics`, `paused` and `currentLag` (KIP-695).

use std::collections::{BTreeMap, BTreeSet};

use kafka_client::Purpose;
use kafka_client::metadata::{MetadataCache, PartitionMetadata, Requested};
use kafka_protocol::generated::MetadataRequest;

use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

impl Consumer {
    /// The partitions of `topic` (Java's `partitionsFor`), waiting up to
    /// `default.api.timeout.ms` for its metadata. Fails naming the topic if it does not exist.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionMetadata>> {
        let t = self.metadata.wait_for_topic(topic, self.cfg.client.default_api_timeout).await?;
        Ok(t.partitions.into_values().collect())
    }

    /// Every topic the cluster shows this client, internal ones included, with its partitions
    /// (Java's `listTopics`): one Metadata request for all topics, which leaves the consumer's
    /// own metadata (its subscription) as it was.
    pub async fn list_topics(&self) -> Result<BTreeMap<String, Vec<PartitionMetadata>>> {
        let pool = self.metadata.client();
        let node = pool.least_loaded_node().ok_or(Error::Client(kafka_client::Error::NoBrokerAvailable {
            reason: "no broker to list the topics".into(),
        }))?;
        let req = MetadataRequest { topics: None, ..Default::default() };
        let resp =
            tokio::time::timeout(self.cfg.client.default_api_timeout, pool.send(node, Purpose::Admin, &req))
                .await
                .map_err(|_| Error::Timeout("list_topics", self.cfg.client.default_api_timeout))??;
        let cache = MetadataCache::default().merge(&resp, &Requested::All);
        Ok(cache
            .topics()
            .filter(|t| t.error.is_ok())
            .map(|t| (t.name.clone(), t.partitions.values().cloned().collect()))
            .collect())
    }

    /// The assigned partitions paused with [`Consumer::pause`] (Java's `paused`).
    pub fn paused(&self) -> BTreeSet<TopicPartition> {
        self.assignment.iter().filter(|(_, st)| st.paused).map(|(tp, _)| tp.clone()).collect()
    }

    /// How far `tp`'s position is behind the end of its log as of the latest fetch response
    /// (the high watermark, the last stable offset with read_committed), without asking the
    /// broker (Java's `currentLag`, KIP-695); `None` before a fetch of it returned, or when
    /// `tp` is not assigned.
    pub fn current_lag(&self, tp: &TopicPartition) -> Option<i64> {
        self.assignment.get(tp)?.lag()
    }
}
