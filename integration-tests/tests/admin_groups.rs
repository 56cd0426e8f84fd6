//! The admin client's consumer-group operations end to end, on the embedded test broker or a
//! real cluster: effects are checked through the consumer (where it resumes, what it sees as
//! committed) and through a group member joined with raw JoinGroup / SyncGroup.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use integration_tests::{create_topic, eventually, target, unique_topic};
use kafka_admin::*;
use kafka_client::{ClientConfig, CoordinatorLookup, CoordinatorType, NetworkClient, Purpose};
use kafka_consumer::Consumer;
use kafka_producer::{Producer, ProducerRecord};
use kafka_protocol::generated::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, JoinGroupRequest, SyncGroupRequest,
    consumer_protocol_assignment, join_group_request::JoinGroupRequestProtocol,
    sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::{Encodable, ErrorCode};

fn code<T: std::fmt::Debug>(r: &Result<T>) -> ErrorCode {
    match r {
        Err(Error::Item { code, .. }) => *code,
        other => panic!("expected a per-item error, got {other:?}"),
    }
}

/// A topic with `partitions` partitions, visible in metadata.
fn versioned<M: Encodable>(version: i16, m: &M) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(version);
    m.encode(&mut b, version).unwrap();
    b.freeze()
}

/// Joins `group` as the static member `instance` of client `client_id` with raw JoinGroup /
/// SyncGroup, leading the group and assigning itself `assignment`. No heartbeats: the session
/// timeout is long enough for a test.
async fn join_raw(
    bootstrap: &str,
    group: &str,
    instance: &str,
    client_id: &str,
    topic: &str,
    assignment: &[i32],
) {
    let cfg =
        ClientConfig::builder().bootstrap_servers(bootstrap.split(',')).client_id(client_id).build().unwrap();
    let pool = NetworkClient::new(cfg);
    let lookup = CoordinatorLookup::new(pool.clone());
    let subscription = ConsumerProtocolSubscription { topics: vec![topic.to_owned()], ..Default::default() };
    let join = JoinGroupRequest {
        group_id: group.to_owned(),
        session_timeout_ms: 60_000,
        rebalance_timeout_ms: 30_000,
        member_id: String::new(),
        group_instance_id: Some(instance.to_owned()),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: versioned(0, &subscription),
            ..Default::default()
        }],
        ..Default::default()
    };
    // a fresh cluster's group coordinator may still be loading: retry as a consumer would
    let (coord, joined) = eventually("the member joins", || async {
        let coord = lookup.find(CoordinatorType::Group, group).await.unwrap();
        let joined = pool.send(coord.node_id, Purpose::Group, &join).await.unwrap();
        if ErrorCode::from(joined.error_code).is_retriable() {
            lookup.invalidate(CoordinatorType::Group, group);
            return None;
        }
        Some((coord, joined))
    })
    .await;
    assert_eq!(joined.error_code, 0, "{joined:?}");
    assert_eq!(joined.leader, joined.member_id, "the only member leads");
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: vec![consumer_protocol_assignment::TopicPartition {
            topic: topic.to_owned(),
            partitions: assignment.to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let sync = SyncGroupRequest {
        group_id: group.to_owned(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        group_instance_id: Some(instance.to_owned()),
        protocol_type: Some("consumer".into()),
        protocol_name: joined.protocol_name.clone(),
        assignments: vec![SyncGroupRequestAssignment {
            member_id: joined.member_id.clone(),
            assignment: versioned(1, &assignment),
            ..Default::default()
        }],
        ..Default::default()
    };
    let synced = pool.send(coord.node_id, Purpose::Group, &sync).await.unwrap();
    assert_eq!(synced.error_code, 0, "{synced:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_are_listed_altered_and_deleted_as_a_consumer_sees_them() {
    let Some(t) = target(1).await else { return };
    let bootstrap = t.bootstrap();
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    let name = create_topic(&bootstrap, "it-admin-groups", 2, 1).await;
    let producer = Producer::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    for i in 0..10 {
        producer.send(ProducerRecord::new(name.clone()).partition(0).value(format!("v{i}"))).await.unwrap();
    }
    let group = unique_topic("it-admin-group");
    let consumer = || {
        Consumer::from_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("group.id", group.as_str()),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ])
        .unwrap()
    };
    let ctp = kafka_consumer::TopicPartition::new(name.clone(), 0);
    let (tp0, tp1) = (TopicPartition::new(name.clone(), 0), TopicPartition::new(name.clone(), 1));
    let mut c = consumer();
    c.assign([ctp.clone()]);
    let mine = OffsetAndMetadata::new(2).with_metadata("from-consumer").with_leader_epoch(0);
    c.commit_sync(Some([(ctp.clone(), mine.clone())].into())).await.unwrap();
    c.close().await.unwrap();

    let listed = a.list_consumer_groups(&[]).await.unwrap();
    let g = listed.iter().find(|g| g.group_id == group).unwrap_or_else(|| panic!("{group} in {listed:?}"));
    assert!(g.is_simple_consumer_group, "{g:?}");
    assert_eq!(g.state, Some(GroupState::Empty));
    let stable = a.list_consumer_groups(&[GroupState::Stable]).await.unwrap();
    assert!(!stable.iter().any(|g| g.group_id == group), "state filter: {stable:?}");

    let all = a.list_consumer_group_offsets(&group, None).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[&tp0].as_ref().unwrap().as_ref(), Some(&mine), "offset, epoch and metadata");
    let some = a.list_consumer_group_offsets(&group, Some(&[tp0.clone(), tp1.clone()])).await.unwrap();
    assert_eq!(*some[&tp1].as_ref().unwrap(), None, "nothing committed for partition 1");

    let altered = a
        .alter_consumer_group_offsets(
            &group,
            &[(tp0.clone(), OffsetAndMetadata::new(7).with_metadata("admin"))].into(),
        )
        .await
        .unwrap();
    assert!(altered[&tp0].is_ok(), "{altered:?}");
    let mut c = consumer();
    c.assign([ctp.clone()]);
    let committed = c.committed(std::slice::from_ref(&ctp)).await.unwrap().remove(&ctp).flatten();
    assert_eq!(committed, Some(OffsetAndMetadata::new(7).with_metadata("admin")));
    let first = loop {
        if let Some(r) = c.poll(Duration::from_secs(1)).await.unwrap().into_iter().next() {
            break r;
        }
    };
    assert_eq!(first.offset, 7, "the consumer resumes where the admin moved the group");
    c.close().await.unwrap();

    let deleted = a.delete_consumer_group_offsets(&group, std::slice::from_ref(&tp0)).await.unwrap();
    assert!(deleted[&tp0].is_ok(), "{deleted:?}");
    let c = consumer();
    assert_eq!(c.committed(std::slice::from_ref(&ctp)).await.unwrap()[&ctp], None);
    assert!(a.list_consumer_group_offsets(&group, None).await.unwrap().is_empty());
    let missing = unique_topic("it-admin-no-group");
    let e = a.delete_consumer_group_offsets(&missing, std::slice::from_ref(&tp0)).await.unwrap_err();
    assert!(
        matches!(&e, Error::Item { code: ErrorCode::GroupIdNotFound, item, .. } if item.contains(&missing)),
        "{e}"
    );

    let d = a.describe_consumer_groups(&[group.as_str(), missing.as_str()]).await.unwrap();
    let gd = d[&group].as_ref().unwrap();
    assert_eq!((gd.state.clone(), gd.members.len()), (GroupState::Empty, 0));
    assert!(gd.coordinator.is_some());
    assert_eq!(d[&missing].as_ref().unwrap().state, GroupState::Dead);

    let del = a.delete_consumer_groups(&[group.as_str(), missing.as_str()]).await.unwrap();
    assert!(del[&group].is_ok(), "{del:?}");
    assert_eq!(code(&del[&missing]), ErrorCode::GroupIdNotFound);
    assert!(!a.list_consumer_groups(&[]).await.unwrap().iter().any(|g| g.group_id == group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn described_members_have_decoded_assignments_and_can_be_removed() {
    let Some(t) = target(1).await else { return };
    let bootstrap = t.bootstrap();
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap.as_str())]).unwrap();
    let name = create_topic(&bootstrap, "it-admin-members", 3, 1).await;
    let group = unique_topic("it-admin-member-group");
    join_raw(&bootstrap, &group, "inst-1", "raw-client", &name, &[0, 2]).await;

    let d = a.describe_consumer_groups(&[group.as_str()]).await.unwrap();
    let gd = d[&group].as_ref().unwrap();
    assert_eq!(gd.state, GroupState::Stable);
    assert_eq!(gd.partition_assignor, "range");
    assert!(!gd.is_simple_consumer_group);
    assert_eq!(gd.members.len(), 1, "{gd:?}");
    let m = &gd.members[0];
    assert_eq!(m.group_instance_id.as_deref(), Some("inst-1"));
    assert_eq!(m.client_id, "raw-client");
    assert!(!m.host.is_empty());
    assert_eq!(m.assignment, [TopicPartition::new(name.clone(), 0), TopicPartition::new(name.clone(), 2)]);
    let stable = a.list_consumer_groups(&[GroupState::Stable]).await.unwrap();
    assert!(stable.iter().any(|g| g.group_id == group && !g.is_simple_consumer_group), "{stable:?}");

    let tp = TopicPartition::new(name.clone(), 0);
    let offsets: BTreeMap<_, _> = [(tp.clone(), OffsetAndMetadata::new(1))].into();
    let r = a.alter_consumer_group_offsets(&group, &offsets).await.unwrap();
    assert_eq!(code(&r[&tp]), ErrorCode::UnknownMemberId, "{r:?}");
    assert!(r[&tp].as_ref().unwrap_err().to_string().contains("active members"), "{r:?}");
    assert_eq!(
        code(&a.delete_consumer_groups(&[group.as_str()]).await.unwrap()[&group]),
        ErrorCode::NonEmptyGroup
    );

    let removed =
        a.remove_members_from_consumer_group(&group, Some(&["inst-1", "nobody"]), None).await.unwrap();
    assert!(removed["inst-1"].is_ok(), "{removed:?}");
    assert_eq!(code(&removed["nobody"]), ErrorCode::UnknownMemberId);
    eventually("the group is empty", || async {
        let d = a.describe_consumer_groups(&[group.as_str()]).await.unwrap();
        let gd = d[&group].as_ref().unwrap();
        (gd.state == GroupState::Empty && gd.members.is_empty()).then_some(())
    })
    .await;
    assert!(a.alter_consumer_group_offsets(&group, &offsets).await.unwrap()[&tp].is_ok());
    assert!(a.delete_consumer_groups(&[group.as_str()]).await.unwrap()[&group].is_ok());
}
