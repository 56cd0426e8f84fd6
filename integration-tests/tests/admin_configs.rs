//! The admin client's topic deletion by id, legacy `alter_configs` and broker configs, on the
//! embedded test broker or a real cluster.

use std::collections::BTreeMap;

use integration_tests::{eventually, target, unique_topic};
use kafka_admin::*;
use kafka_protocol::{ErrorCode, Uuid};

fn entry(entries: &[ConfigEntry], key: &str) -> ConfigEntry {
    entries.iter().find(|e| e.name == key).cloned().unwrap_or_else(|| panic!("no {key}"))
}

async fn configs(a: &AdminClient, r: &ConfigResource) -> Vec<ConfigEntry> {
    a.describe_configs(std::slice::from_ref(r)).await.unwrap().remove(r).unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_deleted_by_id_and_configs_replaced_by_alter_configs() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    let name = unique_topic("it-admin-cfg");
    let created = a
        .create_topics(
            &[NewTopic::new(name.clone(), 1, 1)
                .config("cleanup.policy", "compact")
                .config("retention.ms", "1000")],
            false,
        )
        .await
        .unwrap();
    created[&name].as_ref().unwrap();
    let res = ConfigResource::topic(name.clone());
    eventually("the topic's configs are visible", || async {
        let d = a.describe_configs(std::slice::from_ref(&res)).await.unwrap().remove(&res).unwrap().ok()?;
        (entry(&d, "cleanup.policy").value.as_deref() == Some("compact")).then_some(())
    })
    .await;

    let change: BTreeMap<_, _> = [
        (res.clone(), [("retention.ms".to_string(), "5000".to_string())].into()),
        (ConfigResource::topic(unique_topic("it-admin-cfg-missing")), BTreeMap::new()),
    ]
    .into();
    let r = a.alter_configs(&change, false).await.unwrap();
    assert!(r[&res].is_ok(), "{r:?}");
    let missing = r.iter().find(|(k, _)| **k != res).unwrap().1;
    assert!(
        matches!(missing, Err(Error::Item { code: ErrorCode::UnknownTopicOrPartition, item, .. }) if item.contains("it-admin-cfg-missing")),
        "{missing:?}"
    );
    eventually("the whole config set is replaced", || async {
        let d = configs(&a, &res).await;
        let retention = entry(&d, "retention.ms");
        let policy = entry(&d, "cleanup.policy");
        (retention.value.as_deref() == Some("5000")
            && retention.source == ConfigSource::DynamicTopic
            && policy.source == ConfigSource::Default
            && policy.value.as_deref() == Some("delete"))
        .then_some(())
    })
    .await;

    let id = eventually("the topic has an id", || async {
        let d = a.describe_topics(&[name.as_str()]).await.unwrap();
        d[&name].as_ref().ok().map(|t| t.topic_id).filter(|id| *id != Uuid::ZERO)
    })
    .await;
    let unknown = Uuid::from_halves(0x0707_0707_0707_0707, 0x0707_0707_0707_0707);
    let del = a.delete_topics_by_id(&[id, unknown]).await.unwrap();
    assert!(del[&id].is_ok(), "{del:?}");
    assert!(matches!(&del[&unknown], Err(Error::Item { code: ErrorCode::UnknownTopicId, .. })), "{del:?}");
    eventually("the topic is gone", || async {
        (!a.list_topics(false).await.unwrap().contains(&name)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_configs_come_from_each_broker_with_sources() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    let brokers: Vec<i32> = a.describe_cluster().await.unwrap().nodes.iter().map(|n| n.id).collect();
    let resources: Vec<ConfigResource> = brokers.iter().map(|id| ConfigResource::broker(*id)).collect();
    let d = a.describe_configs(&resources).await.unwrap();
    for r in &resources {
        // a real broker only describes its own configs: this also checks the routing
        let entries = d[r].as_ref().unwrap_or_else(|e| panic!("{r}: {e}"));
        assert!(entries.iter().any(|e| e.source == ConfigSource::StaticBroker), "{r}: {entries:?}");
        if t.is_real() {
            assert!(entries.iter().any(|e| e.source == ConfigSource::Default), "{r}: {entries:?}");
        }
    }
    let bogus = ConfigResource::broker(9999);
    let d = a.describe_configs(std::slice::from_ref(&bogus)).await.unwrap();
    assert!(d[&bogus].is_err(), "{d:?}");

    // a dynamic per-broker config: set, seen with its source, removed again
    let broker = resources[0].clone();
    let set: BTreeMap<_, _> = [(broker.clone(), vec![AlterConfigOp::set("log.cleaner.threads", "2")])].into();
    let r = a.incremental_alter_configs(&set, false).await.unwrap();
    if !t.is_real() {
        let e = r[&broker].as_ref().unwrap_err();
        assert!(e.to_string().contains(&broker.to_string()), "the error names the broker: {e}");
        return;
    }
    assert!(r[&broker].is_ok(), "{r:?}");
    eventually("the dynamic broker config is visible", || async {
        let e = entry(&configs(&a, &broker).await, "log.cleaner.threads");
        (e.value.as_deref() == Some("2") && e.source == ConfigSource::DynamicBroker).then_some(())
    })
    .await;
    let legacy: BTreeMap<_, _> = [(broker.clone(), BTreeMap::new())].into();
    assert!(
        a.alter_configs(&legacy, false).await.unwrap()[&broker].is_ok(),
        "legacy: clears every dynamic key"
    );
    eventually("the dynamic broker config is gone", || async {
        let e = entry(&configs(&a, &broker).await, "log.cleaner.threads");
        (e.source != ConfigSource::DynamicBroker).then_some(())
    })
    .await;
}
