//! Requests routed to partition leaders (ListOffsets, DeleteRecords, DescribeProducers,
//! WriteTxnMarkers): group the partitions by their leader from fresh metadata, send one request
//! per leader concurrently, and retry the partitions whose answer says the leader moved at
//! their new leader within `default.api.timeout.ms`, as the Java Admin does.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use futures::future::join_all;
use kafka_protocol::{ErrorCode, Request};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::types::TopicPartition;

/// One leader's share of a leader-routed call.
pub(crate) type LeaderItems<V> = Vec<(TopicPartition, V)>;

impl AdminClient {
    /// Groups `items` by the leader of their partition (fresh metadata), failing the items
    /// whose topic or leader is unknown into `out`: a partition of a known topic that has no
    /// leader right now gets LEADER_NOT_AVAILABLE (retried), an unknown one the topic's error
    /// or UNKNOWN_TOPIC_OR_PARTITION.
    pub(crate) async fn by_leader<V: Clone, T>(
        &self,
        items: &BTreeMap<TopicPartition, V>,
        api: &'static str,
        out: &mut BTreeMap<TopicPartition, Result<T>>,
    ) -> Result<HashMap<i32, LeaderItems<V>>> {
        self.metadata.add_topics(items.keys().map(|tp| tp.topic.clone()));
        let snap = self.metadata.refresh(self.timeout).await?;
        let mut groups: HashMap<i32, LeaderItems<V>> = HashMap::new();
        for (tp, v) in items {
            let partition = snap.partition(&tp.topic, tp.partition);
            match partition.and_then(|p| p.leader) {
                Some(l) => groups.entry(l).or_default().push((tp.clone(), v.clone())),
                None => {
                    let code = match (snap.topic(&tp.topic), partition) {
                        (Some(t), _) if !t.error.is_ok() => t.error,
                        (Some(_), Some(_)) => ErrorCode::LeaderNotAvailable,
                        _ => ErrorCode::UnknownTopicOrPartition,
                    };
                    out.insert(
                        tp.clone(),
                        Err(Error::Item { api, item: tp.to_string(), code, message: None }),
                    );
                }
            }
        }
        Ok(groups)
    }

    /// One attempt of a leader-routed call: one request per leader, built by `build` from that
    /// leader's partitions, answered per partition by `answer`. A failed request fails its
    /// partitions; a partition the broker did not answer gets a clear error.
    async fn leaders_once<V: Clone, T, R: Request>(
        &self,
        api: &'static str,
        items: &BTreeMap<TopicPartition, V>,
        build: &impl Fn(&LeaderItems<V>) -> R,
        answer: &impl Fn(R::Response) -> Vec<(TopicPartition, Result<T>)>,
    ) -> Result<BTreeMap<TopicPartition, Result<T>>> {
        let mut out = BTreeMap::new();
        let groups = self.by_leader(items, api, &mut out).await?;
        let calls = groups.into_iter().map(|(leader, part)| async move {
            let resp = self.send_to(leader, |_| build(&part)).await;
            (part, resp)
        });
        for (part, resp) in join_all(calls).await {
            match resp {
                Ok(r) => out.extend(answer(r)),
                Err(e) => out.extend(part.into_iter().map(|(tp, _)| (tp, Err(Error::Client(e.clone()))))),
            }
        }
        for tp in items.keys() {
            out.entry(tp.clone())
                .or_insert_with(|| Err(Error::Invalid(format!("{api}: the broker sent no result for {tp}"))));
        }
        Ok(out)
    }

    /// A leader-routed call (see [`Self::leaders_once`]) with the partitions whose answer was
    /// retriable sent again, after a metadata refresh and `retry.backoff.ms`, until none is or
    /// `default.api.timeout.ms` passes; then each keeps its last answer.
    pub(crate) async fn to_leaders<V: Clone, T, R: Request>(
        &self,
        api: &'static str,
        items: &BTreeMap<TopicPartition, V>,
        build: impl Fn(&LeaderItems<V>) -> R,
        answer: impl Fn(R::Response) -> Vec<(TopicPartition, Result<T>)>,
    ) -> Result<BTreeMap<TopicPartition, Result<T>>> {
        self.retry_partitions(items, |todo| {
            let (build, answer) = (&build, &answer);
            async move { self.leaders_once(api, &todo, build, answer).await }
        })
        .await
    }

    /// Runs `once` over `items`, then again over the partitions whose answer was retriable
    /// (after a metadata refresh and `retry.backoff.ms`), until none is or the timeout passes.
    async fn retry_partitions<V: Clone, T, F, Fut>(
        &self,
        items: &BTreeMap<TopicPartition, V>,
        once: F,
    ) -> Result<BTreeMap<TopicPartition, Result<T>>>
    where
        F: Fn(BTreeMap<TopicPartition, V>) -> Fut,
        Fut: Future<Output = Result<BTreeMap<TopicPartition, Result<T>>>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let backoff = self.pool().config().retry_backoff_policy();
        let mut out = BTreeMap::new();
        let mut todo = items.clone();
        let mut attempt = 0;
        loop {
            for (tp, r) in once(std::mem::take(&mut todo)).await? {
                match r {
                    Err(e) if leader_may_have_moved(&e) && tokio::time::Instant::now() < deadline => {
                        tracing::debug!(%tp, error = %e, "retrying at the partition's current leader");
                        if let Some(v) = items.get(&tp) {
                            todo.insert(tp, v.clone());
                        }
                    }
                    r => {
                        out.insert(tp, r);
                    }
                }
            }
            if todo.is_empty() {
                return Ok(out);
            }
            self.metadata.request_update();
            tokio::time::sleep(backoff.backoff(attempt)).await;
            attempt += 1;
        }
    }
}

/// Partitions grouped by topic, in order, with their values (for building a request).
pub(crate) fn by_topic<'a, V>(
    items: impl IntoIterator<Item = (&'a TopicPartition, V)>,
) -> BTreeMap<String, Vec<(i32, V)>> {
    let mut m: BTreeMap<String, Vec<(i32, V)>> = BTreeMap::new();
    for (tp, v) in items {
        m.entry(tp.topic.clone()).or_default().push((tp.partition, v));
    }
    m
}

/// A leader-routed answer's per-partition results (`to_leaders`' `answer`): `read` gives each
/// partition's index, error code and message, and its value when the code is NONE; a failed
/// partition becomes `Error::item` naming `api` and the topic-partition.
pub(crate) fn partition_results<P, T>(
    api: &'static str,
    topics: impl IntoIterator<Item = (String, Vec<P>)>,
    read: impl Fn(P) -> (i32, i16, Option<String>, T),
) -> Vec<(TopicPartition, Result<T>)> {
    let mut out = Vec::new();
    for (topic, partitions) in topics {
        for p in partitions {
            let (index, code, message, value) = read(p);
            let tp = TopicPartition::new(topic.clone(), index);
            let res = Error::item(api, tp.to_string(), code, message).map_or(Ok(value), Err);
            out.push((tp, res));
        }
    }
    out
}

/// Partition ids grouped by topic, in order.
pub(crate) fn partition_ids_by_topic<'a>(
    tps: impl IntoIterator<Item = &'a TopicPartition>,
) -> BTreeMap<String, Vec<i32>> {
    by_topic(tps.into_iter().map(|tp| (tp, ())))
        .into_iter()
        .map(|(t, ps)| (t, ps.into_iter().map(|(p, _)| p).collect()))
        .collect()
}

/// Errors after which the partition is retried at its (possibly new) leader. A topic or
/// partition that does not exist is answered at once, as the Java Admin does.
fn leader_may_have_moved(e: &Error) -> bool {
    match e {
        Error::Client(c) => c.is_retriable(),
        Error::Item { code, .. } => matches!(
            code,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::RequestTimedOut
                | ErrorCode::NotEnoughReplicas
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_results_name_the_api_partition_and_message_of_each_failure() {
        let topics = vec![
            ("a".to_string(), vec![(0, 0i16, None, 10i64), (1, 3, Some("gone".to_string()), -1)]),
            ("b".to_string(), vec![(2, 0, None, 20)]),
        ];
        let r = partition_results("ListOffsets", topics, |p| p);
        let tps: Vec<String> = r.iter().map(|(tp, _)| tp.to_string()).collect();
        assert_eq!(tps, ["a-0", "a-1", "b-2"]);
        assert_eq!(*r[0].1.as_ref().unwrap(), 10);
        assert_eq!(*r[2].1.as_ref().unwrap(), 20);
        match &r[1].1 {
            Err(Error::Item { api, item, code, message }) => {
                assert_eq!(
                    (*api, item.as_str(), *code),
                    ("ListOffsets", "a-1", ErrorCode::UnknownTopicOrPartition)
                );
                assert_eq!(message.as_deref(), Some("gone"));
            }
            other => panic!("{other:?}"),
        }
    }
}
