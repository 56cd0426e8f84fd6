//! Consumer groups: list (ListGroups to every broker), describe (DescribeGroups to the group
//! coordinator, assignments decoded), delete (DeleteGroups), remove members (LeaveGroup v3+).
//! Coordinator moves and loads are retried by `AdminClient::to_coordinator`.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes};
use futures::future::join_all;
use kafka_client::CoordinatorType;
use kafka_protocol::generated::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest, LeaveGroupRequest,
    ListGroupsRequest, describe_groups_response::DescribedGroup, leave_group_request::MemberIdentity,
};
use kafka_protocol::{Decodable, ErrorCode, Message};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::types::{Node, TopicPartition};

/// A group's state (Java's `GroupState`), as brokers name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    /// Members are (re)joining.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
    /// No members (offsets may remain).
    Empty,
    /// No members and no offsets; being removed (or never existed).
    Dead,
    /// KIP-848 groups: assigning.
    Assigning,
    /// KIP-848 groups: reconciling.
    Reconciling,
    /// A state this client does not know.
    Unknown(String),
}

impl GroupState {
    /// The broker's name for the state (`Stable`, `Empty`, …).
    pub fn as_str(&self) -> &str {
        match self {
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Empty => "Empty",
            GroupState::Dead => "Dead",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
            GroupState::Unknown(s) => s,
        }
    }

    /// From the broker's name (case-insensitive, as Java parses it).
    pub fn parse(s: &str) -> GroupState {
        [
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Empty,
            GroupState::Dead,
            GroupState::Assigning,
            GroupState::Reconciling,
        ]
        .into_iter()
        .find(|g| g.as_str().eq_ignore_ascii_case(s))
        .unwrap_or_else(|| GroupState::Unknown(s.to_owned()))
    }
}

/// A consumer group as listed (Java's `ConsumerGroupListing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupListing {
    /// Group id.
    pub group_id: String,
    /// Whether it only stores offsets (empty protocol type: never joined with a protocol).
    pub is_simple_consumer_group: bool,
    /// State (`None` from brokers before ListGroups v4).
    pub state: Option<GroupState>,
    /// `classic` or `consumer` (KIP-848), when the broker says (ListGroups v5+).
    pub group_type: Option<String>,
}

/// One member of a described group (Java's `MemberDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id (`group.instance.id`).
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the broker saw it.
    pub host: String,
    /// Its assigned partitions, decoded from the member assignment.
    pub assignment: Vec<TopicPartition>,
}

/// A consumer group as described (Java's `ConsumerGroupDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    /// Group id.
    pub group_id: String,
    /// Whether it only stores offsets (empty protocol type).
    pub is_simple_consumer_group: bool,
    /// Members with their assignments.
    pub members: Vec<MemberDescription>,
    /// The assignor the group chose (`range`, `cooperative-sticky`, …); empty when none.
    pub partition_assignor: String,
    /// State (`Dead` for a group that does not exist).
    pub state: GroupState,
    /// The coordinator that answered.
    pub coordinator: Option<Node>,
}

/// Decodes a member assignment: a 2-byte version, then `ConsumerProtocolAssignment` (versions
/// above the known ones are read as the highest known, as Java does). Empty bytes: no
/// assignment.
pub(crate) fn decode_assignment(bytes: &Bytes) -> std::result::Result<Vec<TopicPartition>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err("assignment shorter than its version".into());
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("assignment version {version}"));
    }
    let version = version.min(ConsumerProtocolAssignment::VERSIONS.max);
    let a = ConsumerProtocolAssignment::decode(&mut buf, version).map_err(|e| e.to_string())?;
    Ok(a.assigned_partitions
        .into_iter()
        .flat_map(|t| t.partitions.into_iter().map(move |p| TopicPartition::new(t.topic.clone(), p)))
        .collect())
}

fn describe_one(g: DescribedGroup, coordinator: Option<Node>) -> Result<ConsumerGroupDescription> {
    let item = format!("group {}", g.group_id);
    if let Some(e) = Error::item("DescribeGroups", item.clone(), g.error_code, None) {
        return Err(e);
    }
    if !g.protocol_type.is_empty() && g.protocol_type != "consumer" {
        return Err(Error::Invalid(format!(
            "DescribeGroups {item}: not a consumer group (protocol type {})",
            g.protocol_type
        )));
    }
    let mut members = Vec::with_capacity(g.members.len());
    for m in g.members {
        let assignment = decode_assignment(&m.member_assignment).map_err(|e| {
            Error::Invalid(format!(
                "DescribeGroups {item}: member {}: undecodable assignment: {e}",
                m.member_id
            ))
        })?;
        members.push(MemberDescription {
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
            client_id: m.client_id,
            host: m.client_host,
            assignment,
        });
    }
    Ok(ConsumerGroupDescription {
        group_id: g.group_id,
        is_simple_consumer_group: g.protocol_type.is_empty(),
        members,
        partition_assignor: g.protocol_data,
        state: GroupState::parse(&g.group_state),
        coordinator,
    })
}

impl AdminClient {
    /// Lists the consumer groups of every broker (each coordinates some), optionally only those
    /// in `states` (empty: all). Groups of other protocols (e.g. Connect) are left out. Fails
    /// as a whole if a broker cannot answer within `default.api.timeout.ms` (Java's `all()`).
    pub async fn list_consumer_groups(&self, states: &[GroupState]) -> Result<Vec<ConsumerGroupListing>> {
        let brokers = self.broker_ids().await?;
        let filter: Vec<String> = states.iter().map(|s| s.as_str().to_owned()).collect();
        let calls = brokers.into_iter().map(|id| {
            let filter = &filter;
            async move {
                self.retry("ListGroups", move || async move {
                    let mut server_filtered = false;
                    let r = self
                        .send_to(id, |v| {
                            server_filtered = v >= 4;
                            ListGroupsRequest {
                                states_filter: if v >= 4 { filter.clone() } else { Vec::new() },
                                ..Default::default()
                            }
                        })
                        .await?;
                    match Error::item("ListGroups", format!("broker {id}"), r.error_code, None) {
                        Some(e) => Err(e),
                        None => Ok((r, server_filtered)),
                    }
                })
                .await
            }
        });
        let mut out: BTreeMap<String, ConsumerGroupListing> = BTreeMap::new();
        for r in join_all(calls).await {
            let (resp, server_filtered) = r?;
            for g in resp.groups {
                if !g.protocol_type.is_empty() && g.protocol_type != "consumer" {
                    continue;
                }
                let state = (!g.group_state.is_empty()).then(|| GroupState::parse(&g.group_state));
                if !server_filtered
                    && !states.is_empty()
                    && !state.as_ref().is_some_and(|s| states.contains(s))
                {
                    continue;
                }
                out.insert(
                    g.group_id.clone(),
                    ConsumerGroupListing {
                        is_simple_consumer_group: g.protocol_type.is_empty(),
                        group_id: g.group_id,
                        state,
                        group_type: (!g.group_type.is_empty()).then_some(g.group_type),
                    },
                );
            }
        }
        Ok(out.into_values().collect())
    }

    /// Describes consumer groups at their coordinators: state, assignor, members with their
    /// decoded assignments. One result per group.
    pub async fn describe_consumer_groups(
        &self,
        groups: &[&str],
    ) -> Result<BTreeMap<String, Result<ConsumerGroupDescription>>> {
        let calls = groups.iter().map(|g| async move {
            let resp = self
                .to_coordinator(
                    "DescribeGroups",
                    CoordinatorType::Group,
                    g,
                    |_| DescribeGroupsRequest { groups: vec![(*g).to_owned()], ..Default::default() },
                    |r| r.groups.first().map_or(0, |d| d.error_code),
                )
                .await;
            let coordinator = self.coordinators.cached(CoordinatorType::Group, g).map(|c| Node {
                id: c.node_id,
                host: c.host,
                port: c.port,
                rack: None,
            });
            let res = resp.and_then(|r| match r.groups.into_iter().find(|d| d.group_id == *g) {
                Some(d) => describe_one(d, coordinator),
                None => Err(Error::Invalid(format!("DescribeGroups: no result for group {g}"))),
            });
            ((*g).to_owned(), res)
        });
        Ok(join_all(calls).await.into_iter().collect())
    }

    /// Deletes consumer groups (only empty ones: a group with members fails with
    /// `NON_EMPTY_GROUP`); one result per group.
    pub async fn delete_consumer_groups(&self, groups: &[&str]) -> Result<BTreeMap<String, Result<()>>> {
        let calls = groups.iter().map(|g| async move {
            let resp = self
                .to_coordinator(
                    "DeleteGroups",
                    CoordinatorType::Group,
                    g,
                    |_| DeleteGroupsRequest { groups_names: vec![(*g).to_owned()], ..Default::default() },
                    |r| r.results.first().map_or(0, |d| d.error_code),
                )
                .await;
            let res = resp.and_then(|r| match r.results.into_iter().find(|d| d.group_id == *g) {
                Some(d) => {
                    Error::item("DeleteGroups", format!("group {g}"), d.error_code, None).map_or(Ok(()), Err)
                }
                None => Err(Error::Invalid(format!("DeleteGroups: no result for group {g}"))),
            });
            ((*g).to_owned(), res)
        });
        Ok(join_all(calls).await.into_iter().collect())
    }

    /// Removes members from a group (LeaveGroup v3+): the static members with these
    /// `group.instance.id`s, or with `None` every current member (KIP-676). One result per
    /// member, keyed by instance id (or member id for dynamic members).
    pub async fn remove_members_from_consumer_group(
        &self,
        group: &str,
        instance_ids: Option<&[&str]>,
        reason: Option<&str>,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let members: Vec<MemberIdentity> = match instance_ids {
            Some(ids) => ids
                .iter()
                .map(|id| MemberIdentity {
                    member_id: String::new(),
                    group_instance_id: Some((*id).to_owned()),
                    ..Default::default()
                })
                .collect(),
            None => {
                let mut d = self.describe_consumer_groups(&[group]).await?;
                let d = d.remove(group).unwrap_or_else(|| Err(Error::Invalid(format!("group {group}"))))?;
                d.members
                    .into_iter()
                    .map(|m| MemberIdentity {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        ..Default::default()
                    })
                    .collect()
            }
        };
        let key = |member_id: &str, instance: &Option<String>| {
            instance.clone().unwrap_or_else(|| member_id.to_owned())
        };
        if members.is_empty() {
            return Ok(BTreeMap::new());
        }
        let resp = self
            .to_coordinator(
                "LeaveGroup",
                CoordinatorType::Group,
                group,
                |v| LeaveGroupRequest {
                    group_id: group.to_owned(),
                    members: members
                        .iter()
                        .map(|m| MemberIdentity {
                            reason: if v >= 5 { reason.map(str::to_owned) } else { None },
                            ..m.clone()
                        })
                        .collect(),
                    ..Default::default()
                },
                |r| r.error_code,
            )
            .await?;
        if let Some(e) = Error::item("LeaveGroup", format!("group {group}"), resp.error_code, None) {
            return Err(e);
        }
        let mut out = BTreeMap::new();
        for m in resp.members {
            let k = key(&m.member_id, &m.group_instance_id);
            let item = format!("group {group} member {k}");
            out.insert(k, Error::item("LeaveGroup", item, m.error_code, None).map_or(Ok(()), Err));
        }
        for m in &members {
            let k = key(&m.member_id, &m.group_instance_id);
            out.entry(k.clone()).or_insert_with(|| {
                Err(Error::Item {
                    api: "LeaveGroup",
                    item: format!("group {group} member {k}"),
                    code: ErrorCode::UnknownMemberId,
                    message: Some("no result for this member".into()),
                })
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::Encodable;
    use kafka_protocol::generated::consumer_protocol_assignment::TopicPartition as WireTp;

    use super::*;

    fn encoded(version: i16, encode_at: i16) -> Bytes {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![
                WireTp { topic: "a".into(), partitions: vec![2, 0], ..Default::default() },
                WireTp { topic: "b".into(), partitions: vec![1], ..Default::default() },
            ],
            user_data: Some(Bytes::from_static(b"ud")),
            ..Default::default()
        };
        let mut b = BytesMut::new();
        b.put_i16(version);
        a.encode(&mut b, encode_at).unwrap();
        b.freeze()
    }

    #[test]
    fn assignments_decode_at_their_version_and_newer_ones_as_the_highest_known() {
        let want = [TopicPartition::new("a", 2), TopicPartition::new("a", 0), TopicPartition::new("b", 1)];
        for v in 0..=3 {
            assert_eq!(decode_assignment(&encoded(v, v)).unwrap(), want, "v{v}");
        }
        // a future version keeps the known fields in front (Java reads it as its highest)
        assert_eq!(decode_assignment(&encoded(9, 3)).unwrap(), want);
        assert_eq!(decode_assignment(&Bytes::new()).unwrap(), []);
    }

    #[test]
    fn malformed_assignments_are_errors_not_panics() {
        assert!(decode_assignment(&Bytes::from_static(&[0])).is_err());
        assert!(
            decode_assignment(&Bytes::from_static(&[0xff, 0xff, 0, 0, 0, 1])).is_err(),
            "negative version"
        );
        let full = encoded(1, 1);
        for cut in 2..full.len() {
            assert!(decode_assignment(&full.slice(..cut)).is_err(), "cut at {cut}");
        }
        // a claimed huge array in a tiny buffer
        assert!(decode_assignment(&Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn group_states_parse_case_insensitively_and_keep_unknown_names() {
        assert_eq!(GroupState::parse("stable"), GroupState::Stable);
        assert_eq!(GroupState::parse("CompletingRebalance").as_str(), "CompletingRebalance");
        assert_eq!(GroupState::parse("Weird"), GroupState::Unknown("Weird".into()));
    }
}
