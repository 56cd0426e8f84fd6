//! Offset commits (Java's `ConsumerCoordinator.commitOffsetsSync` / `commitOffsetsAsync`): one
//! task per consumer sends every OffsetCommit in submission order, so an async commit followed
//! by another (or by a sync one) can never land in the wrong order, and a commit goes out
//! whether or not its [`CommitHandle`] is awaited (even if the consumer is dropped first).
//! `commit_sync` is a submitted commit that is awaited.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use kafka_client::conn::RequestOptions;
use kafka_client::{ClientConfig, CoordinatorLookup, CoordinatorType, OffsetAndMetadata, Purpose};
use kafka_protocol::generated::{
    OffsetCommitRequest,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
};
use kafka_protocol::{ApiKey, ErrorCode};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::group::coordinator::GroupContext;
use crate::interceptor::Interceptors;
use crate::membership::commit_rejected;
use crate::record::TopicPartition;
use kafka_client::Windowed;

/// Commit counters shared with the commit task (locked once per commit).
#[derive(Debug)]
pub(crate) struct CommitStats {
    pub(crate) total: u64,
    /// Latencies in seconds.
    pub(crate) latency: Windowed,
}

/// The result of a commit sent with [`Consumer::commit_async`](crate::Consumer::commit_async).
/// The commit is sent whether or not this is awaited; awaiting it yields the outcome.
#[derive(Debug)]
#[must_use = "the commit is sent anyway; await the handle to learn whether it succeeded"]
pub struct CommitHandle {
    rx: CommitOutcome,
}

#[derive(Debug)]
enum CommitOutcome {
    Pending(oneshot::Receiver<Result<()>>),
    Ready(Option<Result<()>>),
}

impl CommitHandle {
    pub(crate) fn ready(r: Result<()>) -> CommitHandle {
        CommitHandle { rx: CommitOutcome::Ready(Some(r)) }
    }
}

impl Future for CommitHandle {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match &mut self.get_mut().rx {
            CommitOutcome::Pending(rx) => Pin::new(rx).poll(cx).map(|r| {
                r.unwrap_or(Err(Error::Group {
                    api: "OffsetCommit",
                    group: String::new(),
                    code: ErrorCode::None,
                    message: "the commit task stopped before answering".into(),
                }))
            }),
            CommitOutcome::Ready(r) => {
                Poll::Ready(r.take().expect("a CommitHandle polled after it completed"))
            }
        }
    }
}

/// One commit for the task.
pub(crate) struct CommitJob {
    pub(crate) offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// Generation id, member id and instance id.
    pub(crate) generation: (i32, String, Option<String>),
    /// The group membership, to act on errors that concern it.
    pub(crate) group: Option<Arc<GroupContext>>,
    pub(crate) interceptors: Interceptors,
    done: oneshot::Sender<Result<()>>,
}

/// What the commit task needs from the consumer.
#[derive(Clone)]
pub(crate) struct CommitContext {
    pub(crate) group_id: String,
    pub(crate) coordinators: CoordinatorLookup,
    pub(crate) client: ClientConfig,
    pub(crate) stats: Arc<Mutex<CommitStats>>,
}

/// The commit task's queue. Dropping it lets the task finish what was submitted, then end.
pub(crate) struct Committer {
    tx: mpsc::UnboundedSender<CommitJob>,
}

impl Committer {
    pub(crate) fn spawn(ctx: CommitContext) -> Committer {
        let (tx, mut rx) = mpsc::unbounded_channel::<CommitJob>();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let start = Instant::now();
                let r = send_commit(&ctx, &job).await;
                if !job.offsets.is_empty() {
                    let mut s = ctx.stats.lock().unwrap_or_else(|p| p.into_inner());
                    s.total += 1;
                    s.latency.record(Instant::now(), start.elapsed().as_secs_f64());
                }
                if r.is_ok() && !job.offsets.is_empty() {
                    job.interceptors.on_commit(&job.offsets);
                }
                if let Err(Err(e)) = job.done.send(r) {
                    tracing::warn!(group = %ctx.group_id, error = %e, "commit failed (nobody awaited it)");
                }
            }
        });
        Committer { tx }
    }

    /// Queues a commit; its handle resolves once it was answered.
    pub(crate) fn submit(
        &self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        generation: (i32, String, Option<String>),
        group: Option<Arc<GroupContext>>,
        interceptors: Interceptors,
    ) -> CommitHandle {
        let (done, rx) = oneshot::channel();
        let job = CommitJob { offsets, generation, group, interceptors, done };
        match self.tx.send(job) {
            Ok(()) => CommitHandle { rx: CommitOutcome::Pending(rx) },
            Err(_) => CommitHandle::ready(Err(Error::Group {
                api: "OffsetCommit",
                group: String::new(),
                code: ErrorCode::None,
                message: "the commit task has stopped".into(),
            })),
        }
    }
}

/// Sends one OffsetCommit (an empty job is a barrier: it only waits for those before it).
async fn send_commit(ctx: &CommitContext, job: &CommitJob) -> Result<()> {
    if job.offsets.is_empty() {
        return Ok(());
    }
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, o) in &job.offsets {
        topics.entry(&tp.topic).or_default().push(OffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: o.offset,
            committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
            committed_metadata: Some(o.metadata.clone()),
            ..Default::default()
        });
    }
    let (generation_id, member_id, group_instance_id) = job.generation.clone();
    let req = OffsetCommitRequest {
        group_id: ctx.group_id.clone(),
        generation_id_or_member_epoch: generation_id,
        member_id,
        group_instance_id,
        topics: topics
            .into_iter()
            .map(|(t, ps)| OffsetCommitRequestTopic {
                name: t.to_owned(),
                partitions: ps,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let resp = to_coordinator(&ctx.coordinators, &ctx.client, &ctx.group_id, |conn| {
        let v = conn.version(ApiKey::OffsetCommit).unwrap_or(8).min(8);
        let mut req = req.clone();
        if v < 7 {
            req.group_instance_id = None;
        }
        async move { conn.send_with(&req, RequestOptions { version: Some(v), timeout: None }).await }
    })
    .await?;
    for t in &resp.topics {
        for p in &t.partitions {
            let code = ErrorCode::from(p.error_code);
            if code != ErrorCode::None {
                if let Some(e) = job.group.as_deref().and_then(|g| commit_rejected(g, code)) {
                    return Err(e);
                }
                return Err(Error::Broker {
                    api: "OffsetCommit",
                    topic: t.name.clone(),
                    partition: p.partition_index,
                    code,
                });
            }
        }
    }
    Ok(())
}

/// A coordinator response's error code (top level, else the first partition's).
pub(crate) trait CoordinatorReply {
    fn coordinator_code(&self) -> ErrorCode;
}

impl CoordinatorReply for kafka_protocol::generated::OffsetCommitResponse {
    fn coordinator_code(&self) -> ErrorCode {
        self.topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(ErrorCode::None, |p| ErrorCode::from(p.error_code))
    }
}

impl CoordinatorReply for kafka_protocol::generated::OffsetFetchResponse {
    fn coordinator_code(&self) -> ErrorCode {
        // require_stable: a partition with a pending transactional commit answers
        // UNSTABLE_OFFSET_COMMIT until that transaction ends (retried, as Java does)
        let unstable = self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| ErrorCode::from(p.error_code) == ErrorCode::UnstableOffsetCommit);
        match ErrorCode::from(self.error_code) {
            ErrorCode::None if unstable => ErrorCode::UnstableOffsetCommit,
            code => code,
        }
    }
}

/// Sends a request built by `f` to the group coordinator, rediscovering it on coordinator
/// errors (in the response's top-level or first partition error) within
/// `default.api.timeout.ms`.
pub(crate) async fn to_coordinator<R, F, Fut>(
    coordinators: &CoordinatorLookup,
    client: &ClientConfig,
    group: &str,
    f: F,
) -> Result<R>
where
    F: Fn(kafka_client::Connection) -> Fut,
    Fut: std::future::Future<Output = kafka_client::Result<R>>,
    R: CoordinatorReply,
{
    let deadline = Instant::now() + client.default_api_timeout;
    let backoff = client.retry_backoff_policy();
    let mut attempt = 0;
    loop {
        let outcome = async {
            let conn = coordinators.connect(CoordinatorType::Group, group, Purpose::Group).await?;
            f(conn).await
        }
        .await;
        let retry = match &outcome {
            Ok(r) => {
                let code = r.coordinator_code();
                coordinators.invalidate_on(CoordinatorType::Group, group, code)
                    || matches!(code, ErrorCode::CoordinatorLoadInProgress | ErrorCode::UnstableOffsetCommit)
            }
            Err(e) => {
                coordinators.invalidate(CoordinatorType::Group, group);
                e.is_retriable()
            }
        };
        if !retry || Instant::now() >= deadline {
            return Ok(outcome?);
        }
        tokio::time::sleep(backoff.backoff(attempt)).await;
        attempt += 1;
    }
}
