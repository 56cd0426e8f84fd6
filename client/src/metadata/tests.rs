//! Metadata refresh tests on paused time, over the in-memory transport.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use kafka_protocol::{
    RequestKind,
    generated::{
        MetadataResponse,
        metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
    },
};

use super::*;
use crate::{
    config::ClientConfig,
    conn::NoAuth,
    test_support::{FakeConn, MemTransport},
};

fn response(topics: &[(&str, ErrorCode)]) -> MetadataResponse {
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: 1,
            host: "b1".into(),
            port: 9092,
            ..Default::default()
        }],
        cluster_id: Some("cluster".into()),
        controller_id: 1,
        topics: topics
            .iter()
            .map(|(name, code)| MetadataResponseTopic {
                name: Some(name.to_string()),
                error_code: code.code(),
                partitions: if code.is_ok() {
                    vec![MetadataResponsePartition {
                        partition_index: 0,
                        leader_id: 1,
                        leader_epoch: 3,
                        ..Default::default()
                    }]
                } else {
                    vec![]
                },
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A transport whose brokers answer Metadata with `f(requested topics)`, counting requests.
fn broker(
    f: impl Fn(Vec<String>) -> MetadataResponse + Send + Sync + 'static,
) -> (MemTransport, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let c = count.clone();
    let t = MemTransport::new(move |mut conn: FakeConn| {
        let f = f.clone();
        let c = c.clone();
        async move {
            conn.handshake().await;
            while let Some((h, req)) = conn.read_request().await {
                let RequestKind::Metadata(m) = req else { panic!("unexpected {req:?}") };
                c.fetch_add(1, Ordering::SeqCst);
                let topics = m.topics.unwrap_or_default().into_iter().filter_map(|t| t.name).collect();
                conn.respond(&h, &f(topics)).await;
            }
        }
    });
    (t, count)
}

fn metadata(t: &MemTransport, cfg: ClientConfig) -> Metadata {
    Metadata::new(NetworkClient::with_stages(cfg, Arc::new(t.clone()), Arc::new(NoAuth)), true)
}

fn cfg() -> ClientConfig {
    ClientConfig::builder().bootstrap_servers(["boot:9092"]).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn waits_for_a_topic_and_learns_the_cluster() {
    let (t, _) = broker(|topics| {
        assert_eq!(topics, ["orders"], "asks for the topics of interest only");
        response(&[("orders", ErrorCode::None)])
    });
    let md = metadata(&t, cfg());
    let topic = md.wait_for_topic("orders", Duration::from_secs(5)).await.unwrap();
    assert_eq!(topic.partitions[&0].leader, Some(1));
    let snap = md.snapshot();
    assert_eq!(snap.cluster_id.as_deref(), Some("cluster"));
    assert_eq!(snap.controller().unwrap().id, 1);
    assert_eq!(
        md.client().nodes(),
        [crate::BrokerRef { id: 1, addr: "b1:9092".into() }],
        "bootstrap replaced"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_topic_retries_with_backoff_until_timeout() {
    let (t, count) = broker(|_| response(&[("ghost", ErrorCode::UnknownTopicOrPartition)]));
    let md = metadata(&t, cfg());
    let start = Instant::now();
    let e = md.wait_for_topic("ghost", Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    // retry.backoff.ms = 100 ±20% spacing: roughly 2 s / 100 ms requests, never a tight loop.
    let n = count.load(Ordering::SeqCst);
    assert!((10..=30).contains(&n), "{n} requests in 2 s");
}

#[tokio::test(start_paused = true)]
async fn non_retriable_topic_error_fails_at_once() {
    let (t, _) = broker(|_| response(&[("secret", ErrorCode::TopicAuthorizationFailed)]));
    let md = metadata(&t, cfg());
    let e = md.wait_for_topic("secret", Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::TopicAuthorizationFailed));
    assert!(e.to_string().contains("secret"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn refreshes_every_max_age_and_on_invalidation() {
    let (t, count) = broker(|_| response(&[("a", ErrorCode::None)]));
    let c = ClientConfig::builder()
        .bootstrap_servers(["boot:9092"])
        .metadata_max_age(Duration::from_secs(10))
        .build()
        .unwrap();
    let md = metadata(&t, c);
    md.wait_for_topic("a", Duration::from_secs(1)).await.unwrap();
    let after_first = count.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(count.load(Ordering::SeqCst), after_first + 3, "one refresh per metadata.max.age.ms");
    assert!(md.invalidate_on(ErrorCode::NotLeaderOrFollower));
    assert!(!md.invalidate_on(ErrorCode::TopicAuthorizationFailed));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count.load(Ordering::SeqCst), after_first + 4, "invalidation refreshes at once");
}

#[tokio::test(start_paused = true)]
async fn rebootstraps_when_every_known_broker_fails() {
    let (t, _) = broker(|_| response(&[("a", ErrorCode::None)]));
    // The advertised broker b1:9092 is unreachable; only the bootstrap address works.
    t.refuse.lock().unwrap().push("b1:9092".into());
    let md = metadata(&t, cfg());
    md.wait_for_topic("a", Duration::from_secs(1)).await.unwrap();
    let v1 = md.snapshot().update_version;
    md.refresh(Duration::from_secs(10)).await.unwrap();
    assert!(md.snapshot().update_version > v1, "refreshed again through the bootstrap server");
    let dialled = t.dialled.lock().unwrap().clone();
    assert!(dialled.iter().filter(|a| *a == "boot:9092").count() >= 2, "{dialled:?}");
    assert!(dialled.contains(&"b1:9092".to_string()), "{dialled:?}");
}

#[tokio::test(start_paused = true)]
async fn without_rebootstrap_the_known_brokers_are_retried() {
    let (t, _) = broker(|_| response(&[("a", ErrorCode::None)]));
    t.refuse.lock().unwrap().push("b1:9092".into());
    let c = ClientConfig::builder()
        .bootstrap_servers(["boot:9092"])
        .metadata_recovery_strategy(crate::config::MetadataRecoveryStrategy::None)
        .build()
        .unwrap();
    let md = metadata(&t, c);
    md.wait_for_topic("a", Duration::from_secs(1)).await.unwrap();
    let e = md.refresh(Duration::from_secs(10)).await.unwrap_err();
    assert!(e.to_string().contains("last refresh error"), "{e}");
    let dialled = t.dialled.lock().unwrap().clone();
    assert_eq!(dialled.iter().filter(|a| *a == "boot:9092").count(), 1, "{dialled:?}");
}
