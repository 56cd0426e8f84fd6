//! Group operations against the embedded test broker's fault injection: coordinator moves and
//! loads are retried by re-finding the coordinator, within `default.api.timeout.ms`.

use std::time::{Duration, Instant};

use kafka_admin::*;
use kafka_protocol::{ApiKey, ErrorCode};
use kafka_test_broker::{Fault, FaultAction, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_moves_and_loads_are_retried_within_the_timeout() {
    let c = TestCluster::builder().brokers(3).start().await.unwrap();
    let a = AdminClient::from_pairs([
        ("bootstrap.servers", c.bootstrap_servers()),
        ("default.api.timeout.ms", "3000".to_string()),
        // default.api.timeout.ms is raised to at least request.timeout.ms, as in Java
        ("request.timeout.ms", "2000".to_string()),
    ])
    .unwrap();
    a.create_topics(&[NewTopic::new("t", 2, 1)], false).await.unwrap()["t"].as_ref().unwrap();
    let tp = TopicPartition::new("t", 1);
    let r =
        a.alter_consumer_group_offsets("g", &[(tp.clone(), OffsetAndMetadata::new(5))].into()).await.unwrap();
    assert!(r[&tp].is_ok(), "{r:?}");
    assert_eq!(c.committed_offset("g", "t", 1), Some(5));

    let first = c.coordinator(0, "g").unwrap();
    let d = a.describe_consumer_groups(&["g"]).await.unwrap();
    assert_eq!(d["g"].as_ref().unwrap().coordinator.as_ref().map(|n| n.id), Some(first));
    let other = c.broker_ids().into_iter().find(|b| *b != first).unwrap();
    c.move_coordinator(0, "g", other);
    let o = a.list_consumer_group_offsets("g", None).await.unwrap();
    assert_eq!(
        o[&tp].as_ref().unwrap().as_ref().map(|o| o.offset),
        Some(5),
        "re-found the moved coordinator"
    );
    let d = a.describe_consumer_groups(&["g"]).await.unwrap();
    assert_eq!(d["g"].as_ref().unwrap().coordinator.as_ref().map(|n| n.id), Some(other));

    c.inject(Fault::new(ApiKey::OffsetFetch, 2, FaultAction::Error(ErrorCode::CoordinatorLoadInProgress)));
    c.inject(Fault::new(ApiKey::OffsetDelete, 1, FaultAction::Error(ErrorCode::CoordinatorNotAvailable)));
    assert_eq!(a.list_consumer_group_offsets("g", None).await.unwrap().len(), 1);
    let del = a.delete_consumer_group_offsets("g", std::slice::from_ref(&tp)).await.unwrap();
    assert!(del[&tp].is_ok(), "{del:?}");
    assert_eq!(c.committed_offset("g", "t", 1), None);

    c.inject(Fault::new(ApiKey::DescribeGroups, 1000, FaultAction::Error(ErrorCode::NotCoordinator)));
    let start = Instant::now();
    let d = a.describe_consumer_groups(&["g"]).await.unwrap();
    assert!(
        matches!(&d["g"], Err(Error::Item { code: ErrorCode::NotCoordinator, item, .. }) if item == "group g"),
        "{d:?}"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "retried until the timeout: {took:?}"
    );
    c.clear_faults();
    let r = a.delete_consumer_groups(&["g"]).await.unwrap();
    assert!(r["g"].is_ok(), "{r:?}");
}
