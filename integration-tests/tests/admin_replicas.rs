//! The admin client's replica and cluster operations end to end (reassignments, leader
//! elections, log dirs, features), on the embedded test broker or a real cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{eventually_within, target, unique_topic};

/// Reassignments and elections on a real cluster take longer than metadata changes.
async fn eventually_within_60<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, std::time::Duration::from_secs(60), f).await
}
use kafka_admin::*;
use kafka_consumer::Consumer;
use kafka_producer::{Producer, ProducerRecord};
use kafka_protocol::ErrorCode;

async fn partition(a: &AdminClient, tp: &TopicPartition) -> PartitionDescription {
    let d = a.describe_topics(&[tp.topic.as_str()]).await.unwrap();
    d[&tp.topic].as_ref().unwrap().partitions[tp.partition as usize].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignment_moves_replicas_and_preferred_election_moves_leadership() {
    let Some(t) = target(3).await else { return };
    let bootstrap = t.bootstrap();
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    let ids: Vec<i32> = a.describe_cluster().await.unwrap().nodes.iter().map(|n| n.id).collect();
    let (b0, b1, b2) = (ids[0], ids[1], ids[2]);
    let name = unique_topic("it-admin-reassign");
    let topic =
        NewTopic { name: name.clone(), assignment: Some([(0, vec![b0])].into()), ..Default::default() };
    a.create_topics(&[topic], false).await.unwrap()[&name].as_ref().unwrap();
    let tp = TopicPartition::new(name.clone(), 0);
    eventually_within_60("the partition has its leader", || async {
        let d = a.describe_topics(&[name.as_str()]).await.unwrap();
        d[&name].as_ref().ok().filter(|t| t.partitions[0].leader == Some(b0)).map(|_| ())
    })
    .await;
    let producer = Producer::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    for i in 0..5 {
        producer.send(ProducerRecord::new(name.clone()).partition(0).value(format!("v{i}"))).await.unwrap();
    }

    let missing = TopicPartition::new(unique_topic("it-admin-no-topic"), 0);
    let targets: BTreeMap<_, _> =
        [(tp.clone(), Some(vec![b1, b2])), (missing.clone(), Some(vec![b0]))].into();
    let r = a.alter_partition_reassignments(&targets).await.unwrap();
    assert!(r[&tp].is_ok(), "{r:?}");
    assert!(
        matches!(&r[&missing], Err(Error::Item { code: ErrorCode::UnknownTopicOrPartition, item, .. }) if item.contains(&missing.topic)),
        "{r:?}"
    );
    eventually_within_60("the partition moved to the new replicas", || async {
        let p = partition(&a, &tp).await;
        let done = a.list_partition_reassignments(Some(std::slice::from_ref(&tp))).await.unwrap().is_empty();
        (done && p.replicas == [b1, b2] && p.isr.len() == 2 && p.leader == Some(b1)).then_some(())
    })
    .await;
    let none = a.list_partition_reassignments(None).await.unwrap();
    assert!(!none.contains_key(&tp), "{none:?}");

    let mut c =
        Consumer::from_pairs([("bootstrap.servers", bootstrap.as_str()), ("auto.offset.reset", "earliest")])
            .unwrap();
    c.assign([kafka_consumer::TopicPartition::new(name.clone(), 0)]);
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 5 && tokio::time::Instant::now() < deadline {
        got.extend(c.poll(Duration::from_secs(1)).await.unwrap().into_iter().map(|r| r.offset));
    }
    assert_eq!(got, [0, 1, 2, 3, 4], "the records moved with the partition");

    let dirs = a.describe_log_dirs(&[b0, b1, b2, 9999]).await.unwrap();
    assert!(dirs[&9999].is_err());
    let holds = |b: i32| dirs[&b].as_ref().unwrap().values().any(|d| d.replicas.contains_key(&tp));
    assert!(holds(b1) && holds(b2), "{dirs:?}");
    eventually_within_60("the old replica is removed from its broker", || async {
        let d = a.describe_log_dirs(&[b0]).await.unwrap();
        (!d[&b0].as_ref().unwrap().values().any(|d| d.replicas.contains_key(&tp))).then_some(())
    })
    .await;

    // same replicas, new order: b1 still leads, but b2 is now preferred
    let reorder: BTreeMap<_, _> = [(tp.clone(), Some(vec![b2, b1]))].into();
    assert!(a.alter_partition_reassignments(&reorder).await.unwrap()[&tp].is_ok());
    eventually_within_60("the new order is in place", || async {
        let p = partition(&a, &tp).await;
        (p.replicas == [b2, b1] && p.leader == Some(b1)).then_some(())
    })
    .await;
    let e = a.elect_leaders(ElectionType::Preferred, Some(std::slice::from_ref(&tp))).await.unwrap();
    assert!(e[&tp].is_ok(), "{e:?}");
    eventually_within_60("the preferred replica leads", || async {
        (partition(&a, &tp).await.leader == Some(b2)).then_some(())
    })
    .await;
    let again = a.elect_leaders(ElectionType::Preferred, Some(std::slice::from_ref(&tp))).await.unwrap();
    assert!(matches!(&again[&tp], Err(Error::Item { code: ErrorCode::ElectionNotNeeded, .. })), "{again:?}");
    let unclean = a.elect_leaders(ElectionType::Unclean, Some(std::slice::from_ref(&tp))).await.unwrap();
    assert!(
        matches!(&unclean[&tp], Err(Error::Item { code: ErrorCode::ElectionNotNeeded, .. })),
        "{unclean:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_and_the_log_dir_of_a_replica() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    let f = a.describe_features().await.unwrap();
    if t.is_real() {
        let mv = f.finalized.get("metadata.version").unwrap_or_else(|| panic!("{f:?}"));
        assert!(mv.max > 0 && f.finalized_epoch.is_some(), "{f:?}");
        let supported = &f.supported["metadata.version"];
        assert!(supported.min <= mv.max && mv.max <= supported.max, "{f:?}");
    }
    let name = unique_topic("it-admin-logdirs");
    a.create_topics(&[NewTopic::new(name.clone(), 2, 1)], false).await.unwrap()[&name].as_ref().unwrap();
    let id = eventually_within_60("the partition has a leader", || async {
        let d = a.describe_topics(&[name.as_str()]).await.unwrap();
        d[&name].as_ref().ok().and_then(|t| t.partitions.get(1).and_then(|p| p.leader))
    })
    .await;
    let producer = Producer::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    producer.send(ProducerRecord::new(name.clone()).partition(1).value("x".repeat(1000))).await.unwrap();
    let size = eventually_within_60("the replica's size is reported", || async {
        let d = a.describe_log_dirs(&[id]).await.unwrap();
        let dirs = d[&id].as_ref().unwrap();
        assert!(dirs.values().all(|d| d.error.is_none()), "{dirs:?}");
        dirs.values()
            .find_map(|d| d.replicas.get(&TopicPartition::new(name.clone(), 1)))
            .map(|r| r.size)
            .filter(|s| *s > 1000)
    })
    .await;
    assert!(size > 1000);
}
