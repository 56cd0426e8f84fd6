//! The admin client end to end, on the embedded test broker or a real cluster.

use std::collections::BTreeMap;

use integration_tests::{eventually, target, unique_topic};
use kafka_admin::*;
use kafka_protocol::ErrorCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_configs_offsets_and_records_with_per_item_errors() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    let name = unique_topic("it-admin");
    let bad = unique_topic("it-admin-bad");
    let r = a
        .create_topics(
            &[
                NewTopic::new(name.clone(), 2, 1).config("retention.ms", "3600000"),
                NewTopic::new(bad.clone(), 1, 100),
            ],
            false,
        )
        .await
        .unwrap();
    assert!(r[&name].is_ok(), "{r:?}");
    assert!(
        matches!(&r[&bad], Err(Error::Item { code: ErrorCode::InvalidReplicationFactor, item, .. }) if item.contains(&bad)),
        "{r:?}"
    );
    eventually("the topic is listed", || async {
        a.list_topics(false).await.unwrap().contains(&name).then_some(())
    })
    .await;
    eventually("the topic is described with 2 partitions", || async {
        let d = a.describe_topics(&[name.as_str()]).await.unwrap();
        d[&name].as_ref().ok().filter(|t| t.partitions.len() == 2).map(|_| ())
    })
    .await;

    let res = ConfigResource::topic(name.clone());
    let retention = |want: &'static str| {
        let (a, res) = (&a, res.clone());
        async move {
            let cfg =
                a.describe_configs(std::slice::from_ref(&res)).await.unwrap().remove(&res).unwrap().ok()?;
            let e = cfg.into_iter().find(|e| e.name == "retention.ms")?;
            (e.value.as_deref() == Some(want) && e.source == ConfigSource::DynamicTopic).then_some(())
        }
    };
    eventually("retention.ms=3600000 from the topic", || retention("3600000")).await;
    let change: BTreeMap<_, _> = [(res.clone(), vec![AlterConfigOp::set("retention.ms", "7200000")])].into();
    assert!(a.incremental_alter_configs(&change, false).await.unwrap()[&res].is_ok());
    eventually("retention.ms=7200000 from the topic", || retention("7200000")).await;

    assert!(a.create_partitions(&[(name.clone(), 3)].into(), false).await.unwrap()[&name].is_ok());
    let tp = TopicPartition::new(name.clone(), 0);
    let o = a.list_offsets(&[(tp.clone(), OffsetSpec::Latest)].into()).await.unwrap();
    assert_eq!(o[&tp].as_ref().unwrap().offset, 0);
    let d = a.delete_records(&[(tp.clone(), 1)].into()).await.unwrap();
    assert!(matches!(&d[&tp], Err(Error::Item { code: ErrorCode::OffsetOutOfRange, .. })), "{d:?}");

    let del = a.delete_topics(&[name.as_str()]).await.unwrap();
    assert!(del[&name].is_ok(), "{del:?}");
}
