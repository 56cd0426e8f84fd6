//! The classic group coordinator seen by a client over real TCP: joins (KIP-394 member ids,
//! static members), syncs, heartbeats, leaves, session expiry, offsets, describe/list/delete,
//! and coordinator routing. Timing-heavy logic is covered by the unit tests in
//! `src/state/groups.rs` with explicit clocks; these tests check the wire behaviour.

mod raw_client;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::generated::leave_group_request::MemberIdentity;
use kafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::generated::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::generated::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic};
use kafka_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::generated::{
    ConsumerProtocolSubscription, DeleteGroupsRequest, DescribeGroupsRequest, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::{ApiKey, Encodable, ErrorCode};
use kafka_test_broker::{Fault, FaultAction, TestCluster};
use raw_client::RawClient;

const JOIN_V: i16 = 9;
const SYNC_V: i16 = 5;
const HB_V: i16 = 4;

/// Consumer protocol metadata: version 0 and a subscription to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    ConsumerProtocolSubscription {
        topics: topics.iter().map(|t| (*t).into()).collect(),
        ..Default::default()
    }
    .encode(&mut buf, 0)
    .unwrap();
    buf.freeze()
}

fn join_req(group: &str, member_id: &str, instance: Option<&str>, session_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: session_ms,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        group_instance_id: instance.map(Into::into),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: subscription(&["t"]),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn heartbeat(group: &str, member: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        ..Default::default()
    }
}

fn sync_req(group: &str, member: &str, generation: i32, assignments: &[(&str, &[u8])]) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(m, a)| SyncGroupRequestAssignment {
                member_id: (*m).into(),
                assignment: Bytes::copy_from_slice(a),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn client_for(cluster: &TestCluster, group: &str) -> RawClient {
    let id = cluster.coordinator(0, group).expect("a coordinator");
    RawClient::connect(cluster.broker_addr(id).unwrap()).await.unwrap()
}

/// A new member: connects to the coordinator and gets its member id (MEMBER_ID_REQUIRED).
async fn new_member(cluster: &TestCluster, group: &str) -> (RawClient, String) {
    let mut c = client_for(cluster, group).await;
    let r = c.call(JOIN_V, &join_req(group, "", None, 10_000)).await;
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    (c, r.member_id)
}

/// Sends JoinGroup on a task (it parks until the join phase completes); returns the client back.
fn spawn_join(
    mut c: RawClient,
    req: JoinGroupRequest,
) -> tokio::task::JoinHandle<(RawClient, JoinGroupResponse)> {
    tokio::spawn(async move {
        let r =
            tokio::time::timeout(Duration::from_secs(20), c.call(JOIN_V, &req)).await.expect("join answered");
        (c, r)
    })
}

fn spawn_sync(
    mut c: RawClient,
    req: SyncGroupRequest,
) -> tokio::task::JoinHandle<(RawClient, SyncGroupResponse)> {
    tokio::spawn(async move {
        let r =
            tokio::time::timeout(Duration::from_secs(20), c.call(SYNC_V, &req)).await.expect("sync answered");
        (c, r)
    })
}

struct Member {
    client: RawClient,
    id: String,
}

/// Forms a Stable group of `n` dynamic members (the first is the leader) at generation 1; the
/// leader assigns each member its own id as assignment bytes.
async fn stable_group(cluster: &TestCluster, group: &str, n: usize, session_ms: i32) -> Vec<Member> {
    let mut joins = Vec::new();
    for _ in 0..n {
        let (c, id) = new_member(cluster, group).await;
        joins.push(spawn_join(c, join_req(group, &id, None, session_ms)));
    }
    let mut members = Vec::new();
    let mut leader = String::new();
    for j in joins {
        let (client, r) = j.await.unwrap();
        assert_eq!(r.error_code, 0);
        assert_eq!(r.generation_id, 1);
        leader = r.leader.clone();
        members.push(Member { client, id: r.member_id });
    }
    let li = members.iter().position(|m| m.id == leader).expect("leader is a member");
    members.swap(0, li);
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let assignments: Vec<(&str, &[u8])> = ids.iter().map(|id| (id.as_str(), id.as_bytes())).collect();
    let mut out = Vec::new();
    for (i, m) in members.into_iter().enumerate() {
        let req =
            if i == 0 { sync_req(group, &m.id, 1, &assignments) } else { sync_req(group, &m.id, 1, &[]) };
        let (client, r) = spawn_sync(m.client, req).await.unwrap();
        assert_eq!(r.error_code, 0);
        assert_eq!(r.assignment, Bytes::from(m.id.clone()));
        out.push(Member { client, id: m.id });
    }
    assert_eq!(cluster.group_state(group), Some("Stable"));
    out
}

fn cluster_builder() -> kafka_test_broker::TestClusterBuilder {
    TestCluster::builder().group_initial_rebalance_delay_ms(300).topic("t", 2, 1)
}

#[tokio::test]
async fn join_requires_a_member_id_then_members_share_a_generation_with_one_leader() {
    let cluster = cluster_builder().start().await.unwrap();
    let (a, id_a) = new_member(&cluster, "g").await;
    assert!(id_a.starts_with("raw-test-"), "{id_a}");
    assert_eq!(id_a.len(), "raw-test-".len() + 36, "<client id>-<uuid>: {id_a}");
    let (b, id_b) = new_member(&cluster, "g").await;
    assert_ne!(id_a, id_b);
    let ja = spawn_join(a, join_req("g", &id_a, None, 10_000));
    let jb = spawn_join(b, join_req("g", &id_b, None, 10_000));
    let (_, ra) = ja.await.unwrap();
    let (_, rb) = jb.await.unwrap();
    assert_eq!((ra.error_code, rb.error_code), (0, 0));
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.leader, rb.leader);
    assert_eq!(ra.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    let (leader, follower) = if ra.leader == id_a { (&ra, &rb) } else { (&rb, &ra) };
    assert_eq!(leader.members.len(), 2, "the leader gets every member");
    assert!(leader.members.iter().all(|m| m.metadata == subscription(&["t"])));
    assert!(follower.members.is_empty());
    assert_eq!(cluster.group_state("g"), Some("CompletingRebalance"));
    assert_eq!(cluster.group_generation("g"), Some(1));
    assert_eq!(cluster.group_protocol("g"), Some((Some("consumer".into()), Some("range".into()))));
    // v3 has no KIP-394 step; v0-6 carry the protocol name as a string
    let mut old = client_for(&cluster, "g2").await;
    let r = old.call(3, &join_req("g2", "", None, 10_000)).await;
    assert_eq!((r.error_code, r.generation_id, r.protocol_name.as_deref()), (0, 1, Some("range")));
    // session timeout bounds
    let r = old.call(JOIN_V, &join_req("g3", "", None, 5_999)).await;
    assert_eq!(r.error_code, ErrorCode::InvalidSessionTimeout.code());
    // a different protocol type is inconsistent with the group
    let mut bad = join_req("g", "", None, 10_000);
    bad.protocol_type = "connect".into();
    let r = old.call(JOIN_V, &bad).await;
    assert_eq!(r.error_code, ErrorCode::InconsistentGroupProtocol.code());
}

#[tokio::test]
async fn sync_distributes_the_leaders_assignment_and_followers_wait_for_it() {
    let cluster = cluster_builder().start().await.unwrap();
    let (a, id_a) = new_member(&cluster, "g").await;
    let (b, id_b) = new_member(&cluster, "g").await;
    let ja = spawn_join(a, join_req("g", &id_a, None, 10_000));
    let jb = spawn_join(b, join_req("g", &id_b, None, 10_000));
    let (a, ra) = ja.await.unwrap();
    let (b, _) = jb.await.unwrap();
    let (mut leader, mut follower, lid, fid) =
        if ra.leader == id_a { (a, b, id_a, id_b) } else { (b, a, id_b, id_a) };
    // wrong generation, unknown member, inconsistent protocol name
    assert_eq!(follower.call(SYNC_V, &sync_req("g", &fid, 2, &[])).await.error_code, 22);
    assert_eq!(follower.call(SYNC_V, &sync_req("g", "who", 1, &[])).await.error_code, 25);
    let mut wrong = sync_req("g", &fid, 1, &[]);
    wrong.protocol_name = Some("roundrobin".into());
    assert_eq!(follower.call(SYNC_V, &wrong).await.error_code, ErrorCode::InconsistentGroupProtocol.code());
    // the follower's sync waits for the leader's
    let fs = spawn_sync(follower, sync_req("g", &fid, 1, &[]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!fs.is_finished(), "follower must wait for the leader's assignment");
    let rl = leader.call(SYNC_V, &sync_req("g", &lid, 1, &[(&lid, b"L"), (&fid, b"F")])).await;
    assert_eq!((rl.error_code, rl.assignment.as_ref()), (0, &b"L"[..]));
    assert_eq!(rl.protocol_name.as_deref(), Some("range"));
    let (mut follower, rf) = fs.await.unwrap();
    assert_eq!((rf.error_code, rf.assignment.as_ref()), (0, &b"F"[..]));
    assert_eq!(cluster.group_state("g"), Some("Stable"));
    let members = cluster.group_members("g");
    assert_eq!(members.len(), 2);
    assert_eq!(members.iter().find(|m| m.member_id == fid).unwrap().assignment.as_ref(), b"F");
    assert!(members.iter().all(|m| m.client_id == "raw-test"));
    // heartbeats are fine now; a wrong generation is not
    assert_eq!(follower.call(HB_V, &heartbeat("g", &fid, 1)).await.error_code, 0);
    assert_eq!(follower.call(HB_V, &heartbeat("g", &fid, 0)).await.error_code, 22);
    assert_eq!(follower.call(HB_V, &heartbeat("g", "nobody", 1)).await.error_code, 25);
}

#[tokio::test]
async fn a_third_member_makes_the_others_rejoin_into_a_new_generation() {
    let cluster = cluster_builder().start().await.unwrap();
    let mut m = stable_group(&cluster, "g", 2, 10_000).await;
    let (c, id_c) = new_member(&cluster, "g").await;
    let jc = spawn_join(c, join_req("g", &id_c, None, 10_000));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cluster.group_state("g"), Some("PreparingRebalance"));
    for x in &mut m {
        let r = x.client.call(HB_V, &heartbeat("g", &x.id, 1)).await;
        assert_eq!(r.error_code, ErrorCode::RebalanceInProgress.code());
    }
    assert!(!jc.is_finished(), "the join phase waits for the old members");
    let mut joins = Vec::new();
    for x in m {
        joins.push(spawn_join(x.client, join_req("g", &x.id, None, 10_000)));
    }
    let (_, rc) = jc.await.unwrap();
    assert_eq!(rc.generation_id, 2);
    let mut leader_members = 0;
    for j in joins {
        let (_, r) = j.await.unwrap();
        assert_eq!((r.error_code, r.generation_id), (0, 2));
        leader_members = leader_members.max(r.members.len());
        assert_eq!(r.leader, rc.leader, "one leader");
    }
    assert_eq!(leader_members, 3);
    assert_eq!(cluster.group_generation("g"), Some(2));
    assert_eq!(cluster.group_members("g").len(), 3);
}

#[tokio::test]
async fn leaving_triggers_a_rebalance() {
    let cluster = cluster_builder().start().await.unwrap();
    let mut m = stable_group(&cluster, "g", 2, 10_000).await;
    let leaver = m.pop().unwrap();
    let mut stayer = m.pop().unwrap();
    let mut c = leaver.client;
    let r = c
        .call(
            5,
            &LeaveGroupRequest {
                group_id: "g".into(),
                members: vec![
                    MemberIdentity { member_id: leaver.id.clone(), ..Default::default() },
                    MemberIdentity { member_id: "ghost".into(), ..Default::default() },
                ],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.members.iter().map(|x| x.error_code).collect::<Vec<_>>(), vec![0, 25]);
    assert_eq!(r.members[0].member_id, leaver.id);
    assert_eq!(cluster.group_state("g"), Some("PreparingRebalance"));
    let hb = stayer.client.call(HB_V, &heartbeat("g", &stayer.id, 1)).await;
    assert_eq!(hb.error_code, ErrorCode::RebalanceInProgress.code());
    let r = stayer.client.call(JOIN_V, &join_req("g", &stayer.id, None, 10_000)).await;
    assert_eq!((r.error_code, r.generation_id, r.members.len()), (0, 2, 1));
    assert_eq!(r.leader, stayer.id);
    // v0-2: a single member id, the member error at the top level
    let v1 = LeaveGroupRequest { group_id: "g".into(), member_id: leaver.id.clone(), ..Default::default() };
    assert_eq!(c.call(1, &v1).await.error_code, ErrorCode::UnknownMemberId.code());
}

#[tokio::test]
async fn a_silent_member_is_removed_when_its_session_expires() {
    let cluster = cluster_builder().start().await.unwrap();
    // 6000 ms is group.min.session.timeout.ms; the rest of the timing is unit-tested
    let mut m = stable_group(&cluster, "g", 2, 6_000).await;
    let silent = m.pop().unwrap();
    let mut alive = m.pop().unwrap();
    let started = tokio::time::Instant::now();
    let mut saw_rebalance = false;
    while started.elapsed() < Duration::from_secs(9) {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let r = alive.client.call(HB_V, &heartbeat("g", &alive.id, 1)).await;
        if r.error_code == ErrorCode::RebalanceInProgress.code() {
            saw_rebalance = true;
            break;
        }
        assert_eq!(r.error_code, 0);
    }
    assert!(saw_rebalance, "the silent member's expiry must start a rebalance");
    assert!(started.elapsed() >= Duration::from_millis(5_000), "not before the session timeout");
    let members = cluster.group_members("g");
    assert_eq!(members.len(), 1);
    assert_ne!(members[0].member_id, silent.id);
    let r = alive.client.call(JOIN_V, &join_req("g", &alive.id, None, 6_000)).await;
    assert_eq!((r.error_code, r.generation_id, r.members.len()), (0, 2, 1));
}

#[tokio::test]
async fn a_static_member_rejoins_without_a_rebalance_and_fences_its_old_id() {
    let cluster = cluster_builder().start().await.unwrap();
    let mut c = client_for(&cluster, "g").await;
    // static members skip MEMBER_ID_REQUIRED
    let r = c.call(JOIN_V, &join_req("g", "", Some("i1"), 10_000)).await;
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    let old = r.member_id.clone();
    assert!(old.starts_with("i1-"), "{old}");
    let s = c.call(SYNC_V, &sync_req("g", &old, 1, &[(&old, b"A")])).await;
    assert_eq!(s.error_code, 0);
    // restart: same instance id, unknown member id, same metadata: answered at once
    let mut c2 = client_for(&cluster, "g").await;
    let mut req = join_req("g", "", Some("i1"), 10_000);
    req.group_instance_id = Some("i1".into());
    let r2 =
        tokio::time::timeout(Duration::from_secs(2), c2.call(JOIN_V, &req)).await.expect("no rebalance wait");
    assert_eq!(r2.error_code, 0);
    assert_ne!(r2.member_id, old);
    assert_eq!(r2.generation_id, 1, "no new generation");
    assert!(r2.skip_assignment, "the static leader skips the assignment (KIP-814)");
    assert_eq!(cluster.group_state("g"), Some("Stable"));
    assert_eq!(cluster.group_generation("g"), Some(1));
    let members = cluster.group_members("g");
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].member_id.as_str(), members[0].assignment.as_ref()),
        (r2.member_id.as_str(), &b"A"[..])
    );
    assert_eq!(members[0].group_instance_id.as_deref(), Some("i1"));
    // the old incarnation is fenced
    let mut hb = heartbeat("g", &old, 1);
    hb.group_instance_id = Some("i1".into());
    assert_eq!(c.call(HB_V, &hb).await.error_code, ErrorCode::FencedInstanceId.code());
    hb.member_id = r2.member_id.clone();
    assert_eq!(c2.call(HB_V, &hb).await.error_code, 0);
    // a static member's sync with the new id returns its kept assignment
    let mut s = sync_req("g", &r2.member_id, 1, &[]);
    s.group_instance_id = Some("i1".into());
    assert_eq!(c2.call(SYNC_V, &s).await.assignment.as_ref(), b"A");
}

fn commit(
    group: &str,
    generation: i32,
    member: &str,
    parts: &[(&str, i32, i64, Option<&str>)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o, meta) in parts {
        let part = OffsetCommitRequestPartition {
            partition_index: *p,
            committed_offset: *o,
            committed_leader_epoch: 3,
            committed_metadata: meta.map(Into::into),
            ..Default::default()
        };
        match topics.iter_mut().find(|x| x.name == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(OffsetCommitRequestTopic {
                name: (*t).into(),
                partitions: vec![part],
                ..Default::default()
            }),
        }
    }
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        member_id: member.into(),
        topics,
        ..Default::default()
    }
}

fn codes(r: &kafka_protocol::generated::OffsetCommitResponse) -> Vec<i16> {
    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
}

#[tokio::test]
async fn offsets_commit_and_fetch_including_simple_commits() {
    let cluster = cluster_builder().start().await.unwrap();
    let mut c = client_for(&cluster, "s").await;
    // a simple (no group management) commit creates an Empty group
    let big = "m".repeat(4097);
    let r = c
        .call(
            8,
            &commit(
                "s",
                -1,
                "",
                &[("t", 0, 10, Some("meta")), ("t", 1, 11, None), ("t", 2, 1, None), ("nope", 0, 1, None)],
            ),
        )
        .await;
    assert_eq!(codes(&r), vec![0, 0, 3, 3], "unknown partitions: UNKNOWN_TOPIC_OR_PARTITION");
    let r = c.call(8, &commit("s", -1, "", &[("t", 0, 12, Some(big.as_str()))])).await;
    assert_eq!(codes(&r), vec![ErrorCode::OffsetMetadataTooLarge.code()]);
    assert_eq!(cluster.group_state("s"), Some("Empty"));
    assert_eq!(cluster.committed_offset("s", "t", 0), Some(10));
    assert_eq!(cluster.committed_offsets("s")[&("t".to_string(), 0)].leader_epoch, 3);
    // v7 fetch of named partitions: unknown ones are -1
    let f = c
        .call(
            7,
            &OffsetFetchRequest {
                group_id: "s".into(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t".into(),
                    partition_indexes: vec![0, 1, 5],
                    ..Default::default()
                }]),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(f.error_code, 0);
    let p = &f.topics[0].partitions;
    assert_eq!(p.iter().map(|x| x.committed_offset).collect::<Vec<_>>(), vec![10, 11, -1]);
    assert_eq!(p[0].metadata.as_deref(), Some("meta"));
    assert_eq!(p[1].metadata.as_deref(), Some(""));
    assert_eq!((p[0].committed_leader_epoch, p[2].committed_leader_epoch), (3, -1));
    // v8: several groups, null topics = everything committed
    let mut other = client_for(&cluster, "unknown-group").await;
    let req8 = |g: &str| OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup { group_id: g.into(), topics: None, ..Default::default() }],
        ..Default::default()
    };
    let f = c.call(8, &req8("s")).await;
    assert_eq!(f.groups[0].topics[0].partitions.len(), 2);
    let f = other.call(8, &req8("unknown-group")).await;
    assert_eq!((f.groups[0].error_code, f.groups[0].topics.len()), (0, 0));
    // a group with members refuses simple commits and checks generation / member
    let m = stable_group(&cluster, "g", 1, 10_000).await;
    let mut gc = client_for(&cluster, "g").await;
    assert_eq!(codes(&gc.call(8, &commit("g", -1, "", &[("t", 0, 5, None)])).await), vec![25]);
    assert_eq!(codes(&gc.call(8, &commit("g", 7, &m[0].id, &[("t", 0, 5, None)])).await), vec![22]);
    assert_eq!(codes(&gc.call(8, &commit("g", 1, "who", &[("t", 0, 5, None)])).await), vec![25]);
    assert_eq!(codes(&gc.call(8, &commit("g", 1, &m[0].id, &[("t", 0, 5, None)])).await), vec![0]);
    assert_eq!(codes(&gc.call(8, &commit("nogroup", 1, "x", &[("t", 0, 5, None)])).await), vec![22]);
    assert_eq!(codes(&gc.call(9, &commit("nogroup", 1, "x", &[("t", 0, 5, None)])).await), vec![69]);
    assert_eq!(cluster.committed_offset("g", "t", 0), Some(5));
    // OffsetDelete: the group's members subscribe to "t"
    let del = OffsetDeleteRequest {
        group_id: "g".into(),
        topics: vec![OffsetDeleteRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetDeleteRequestPartition { partition_index: 0, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = gc.call(0, &del).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::GroupSubscribedToTopic.code());
    let mut del_s = del.clone();
    del_s.group_id = "s".into();
    let r = c.call(0, &del_s).await;
    assert_eq!((r.error_code, r.topics[0].partitions[0].error_code), (0, 0));
    assert_eq!(cluster.committed_offset("s", "t", 0), None);
}

#[tokio::test]
async fn group_requests_to_a_broker_that_is_not_the_coordinator_get_not_coordinator() {
    let cluster = TestCluster::builder().brokers(3).topic("t", 1, 1).start().await.unwrap();
    let coordinator = cluster.coordinator(0, "g").unwrap();
    let wrong = cluster.broker_ids().into_iter().find(|b| *b != coordinator).unwrap();
    let mut c = RawClient::connect(cluster.broker_addr(wrong).unwrap()).await.unwrap();
    let nc = ErrorCode::NotCoordinator.code();
    assert_eq!(c.call(JOIN_V, &join_req("g", "", None, 10_000)).await.error_code, nc);
    assert_eq!(c.call(SYNC_V, &sync_req("g", "m", 1, &[])).await.error_code, nc);
    assert_eq!(c.call(HB_V, &heartbeat("g", "m", 1)).await.error_code, nc);
    assert_eq!(
        c.call(8, &commit("g", -1, "", &[("t", 0, 1, None)])).await.topics[0].partitions[0].error_code,
        nc
    );
    let f = c.call(5, &OffsetFetchRequest { group_id: "g".into(), topics: None, ..Default::default() }).await;
    assert_eq!(f.error_code, nc);
    let d = c.call(5, &DescribeGroupsRequest { groups: vec!["g".into()], ..Default::default() }).await;
    assert_eq!(d.groups[0].error_code, nc);
    let d = c.call(2, &DeleteGroupsRequest { groups_names: vec!["g".into()], ..Default::default() }).await;
    assert_eq!(d.results[0].error_code, nc);
    // the coordinator itself serves them; a moved coordinator answers NOT_COORDINATOR
    let mut right = client_for(&cluster, "g").await;
    assert_eq!(right.call(JOIN_V, &join_req("g", "", None, 10_000)).await.error_code, 79);
    cluster.move_coordinator(0, "g", wrong);
    assert_eq!(right.call(JOIN_V, &join_req("g", "", None, 10_000)).await.error_code, nc);
    assert_eq!(c.call(JOIN_V, &join_req("g", "", None, 10_000)).await.error_code, 79);
    // injected coordinator errors
    cluster.inject(Fault::new(
        ApiKey::JoinGroup,
        1,
        FaultAction::Error(ErrorCode::CoordinatorLoadInProgress),
    ));
    let r = c.call(JOIN_V, &join_req("g", "", None, 10_000)).await;
    assert_eq!((r.error_code, r.protocol_name), (ErrorCode::CoordinatorLoadInProgress.code(), None));
    cluster.inject(Fault::new(ApiKey::OffsetFetch, 1, FaultAction::Error(ErrorCode::NotCoordinator)));
    let f = c
        .call(
            8,
            &OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup { group_id: "g".into(), ..Default::default() }],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(f.groups[0].error_code, nc);
}

#[tokio::test]
async fn describe_list_and_delete_groups() {
    let cluster = cluster_builder().start().await.unwrap();
    let mut m = stable_group(&cluster, "g", 2, 10_000).await;
    let mut c = client_for(&cluster, "g").await;
    let d = c
        .call(
            5,
            &DescribeGroupsRequest {
                groups: vec!["g".into(), "missing".into()],
                include_authorized_operations: true,
                ..Default::default()
            },
        )
        .await;
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str(), g.protocol_type.as_str()), (0, "Stable", "consumer"));
    assert_eq!(g.protocol_data, "range");
    assert_eq!(g.members.len(), 2);
    for dm in &g.members {
        assert_eq!(dm.member_metadata, subscription(&["t"]));
        assert_eq!(dm.member_assignment, Bytes::from(dm.member_id.clone()));
        assert_eq!((dm.client_id.as_str(), dm.client_host.as_str()), ("raw-test", "/127.0.0.1"));
    }
    assert_ne!(g.authorized_operations, i32::MIN);
    let missing = &d.groups[1];
    assert_eq!(
        (missing.error_code, missing.group_state.as_str()),
        (0, "Dead"),
        "Kafka: unknown = Dead, NONE"
    );
    // a simple group next to it
    c.call(8, &commit("g-simple", -1, "", &[("t", 0, 1, None)])).await;
    let mut all = Vec::new();
    for id in cluster.broker_ids() {
        let mut b = RawClient::connect(cluster.broker_addr(id).unwrap()).await.unwrap();
        let l = b.call(5, &ListGroupsRequest::default()).await;
        all.extend(l.groups);
    }
    let listed = |id: &str| all.iter().find(|x| x.group_id == id).cloned();
    let lg = listed("g").unwrap();
    assert_eq!(
        (lg.group_state.as_str(), lg.protocol_type.as_str(), lg.group_type.as_str()),
        ("Stable", "consumer", "classic")
    );
    assert_eq!(listed("g-simple").unwrap().group_state, "Empty");
    let mut gs = client_for(&cluster, "g-simple").await;
    let filtered = c
        .call(
            5,
            &ListGroupsRequest {
                states_filter: vec!["stable".into()],
                types_filter: vec!["Classic".into()],
                ..Default::default()
            },
        )
        .await;
    assert!(filtered.groups.iter().all(|x| x.group_state == "Stable"));
    assert!(filtered.groups.iter().any(|x| x.group_id == "g"));
    let none =
        c.call(5, &ListGroupsRequest { types_filter: vec!["consumer".into()], ..Default::default() }).await;
    assert!(none.groups.is_empty());
    // delete: members → NON_EMPTY_GROUP; unknown → GROUP_ID_NOT_FOUND; empty → deleted
    let del = |g: &str| DeleteGroupsRequest { groups_names: vec![g.into()], ..Default::default() };
    assert_eq!(c.call(2, &del("g")).await.results[0].error_code, ErrorCode::NonEmptyGroup.code());
    assert_eq!(c.call(2, &del("missing")).await.results[0].error_code, ErrorCode::GroupIdNotFound.code());
    for x in &mut m {
        let r = x
            .client
            .call(
                4,
                &LeaveGroupRequest {
                    group_id: "g".into(),
                    members: vec![MemberIdentity { member_id: x.id.clone(), ..Default::default() }],
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(r.members[0].error_code, 0);
    }
    assert_eq!(cluster.group_state("g"), Some("Empty"));
    assert_eq!(cluster.group_generation("g"), Some(2), "emptying the group ends a generation");
    assert_eq!(c.call(2, &del("g")).await.results[0].error_code, 0);
    assert_eq!(cluster.group_state("g"), None);
    assert_eq!(gs.call(2, &del("g-simple")).await.results[0].error_code, 0);
    assert!(cluster.committed_offsets("g-simple").is_empty());
}
