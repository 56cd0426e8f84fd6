//! The "consumer" embedded protocol: a member's subscription (JoinGroup metadata) and
//! assignment (SyncGroup bytes), each a big-endian `i16` version followed by
//! `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment` at that version (Java's
//! `ConsumerProtocol`). A version newer than ours is read as our newest: later versions only
//! append fields, which is the compatibility rule Java relies on too.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::generated::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, consumer_protocol_assignment,
    consumer_protocol_subscription,
};
use kafka_protocol::{Decodable, Encodable};

use super::assignor::{Assignment, Subscription};
use crate::record::TopicPartition;

/// The version we write (v3: owned partitions, generation and rack).
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version we write.
pub const ASSIGNMENT_VERSION: i16 = 3;

/// Groups `partitions` by topic, in order.
fn by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut sorted: Vec<&TopicPartition> = partitions.iter().collect();
    sorted.sort();
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for tp in sorted {
        match out.last_mut() {
            Some((t, ps)) if *t == tp.topic => ps.push(tp.partition),
            _ => out.push((tp.topic.clone(), vec![tp.partition])),
        }
    }
    out
}

/// Encodes a subscription as JoinGroup protocol metadata.
pub fn encode_subscription(sub: &Subscription) -> Bytes {
    let msg = ConsumerProtocolSubscription {
        topics: sub.topics.clone(),
        user_data: sub.user_data.clone(),
        owned_partitions: by_topic(&sub.owned_partitions)
            .into_iter()
            .map(|(topic, partitions)| consumer_protocol_subscription::TopicPartition {
                topic,
                partitions,
                ..Default::default()
            })
            .collect(),
        generation_id: sub.generation_id,
        rack_id: sub.rack_id.clone(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.put_i16(SUBSCRIPTION_VERSION);
    // every field fits v3 and nothing here can exceed a length limit but huge topic lists
    if msg.encode(&mut buf, SUBSCRIPTION_VERSION).is_err() {
        tracing::error!("subscription does not encode; sending an empty one");
        buf.truncate(2);
        let _ = ConsumerProtocolSubscription::default().encode(&mut buf, SUBSCRIPTION_VERSION);
    }
    buf.freeze()
}

/// Decodes a member's JoinGroup metadata.
pub fn decode_subscription(mut data: Bytes) -> Result<Subscription, String> {
    if data.len() < 2 {
        return Err(format!("subscription of {} bytes is too short", data.len()));
    }
    let version = data.get_i16();
    if version < 0 {
        return Err(format!("subscription version {version} is invalid"));
    }
    let msg = ConsumerProtocolSubscription::decode(&mut data, version.min(SUBSCRIPTION_VERSION))
        .map_err(|e| format!("subscription v{version}: {e}"))?;
    let mut topics = msg.topics;
    topics.sort();
    topics.dedup();
    Ok(Subscription {
        topics,
        user_data: msg.user_data,
        owned_partitions: msg
            .owned_partitions
            .into_iter()
            .flat_map(|t| t.partitions.into_iter().map(move |p| TopicPartition::new(t.topic.clone(), p)))
            .collect(),
        generation_id: if version >= 2 { msg.generation_id } else { -1 },
        rack_id: msg.rack_id.filter(|r| !r.is_empty()),
        group_instance_id: None,
    })
}

/// Encodes an assignment as SyncGroup bytes.
pub fn encode_assignment(a: &Assignment) -> Bytes {
    let msg = ConsumerProtocolAssignment {
        assigned_partitions: by_topic(&a.partitions)
            .into_iter()
            .map(|(topic, partitions)| consumer_protocol_assignment::TopicPartition {
                topic,
                partitions,
                ..Default::default()
            })
            .collect(),
        user_data: a.user_data.clone(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.put_i16(ASSIGNMENT_VERSION);
    if msg.encode(&mut buf, ASSIGNMENT_VERSION).is_err() {
        tracing::error!("assignment does not encode; sending an empty one");
        buf.truncate(2);
        let _ = ConsumerProtocolAssignment::default().encode(&mut buf, ASSIGNMENT_VERSION);
    }
    buf.freeze()
}

/// Decodes SyncGroup assignment bytes; empty bytes are an empty assignment (a member the
/// leader gave nothing, or a group that failed to assign).
pub fn decode_assignment(mut data: Bytes) -> Result<Assignment, String> {
    if data.is_empty() {
        return Ok(Assignment::default());
    }
    if data.len() < 2 {
        return Err(format!("assignment of {} bytes is too short", data.len()));
    }
    let version = data.get_i16();
    if version < 0 {
        return Err(format!("assignment version {version} is invalid"));
    }
    let msg = ConsumerProtocolAssignment::decode(&mut data, version.min(ASSIGNMENT_VERSION))
        .map_err(|e| format!("assignment v{version}: {e}"))?;
    let mut partitions: Vec<TopicPartition> = msg
        .assigned_partitions
        .into_iter()
        .flat_map(|t| t.partitions.into_iter().map(move |p| TopicPartition::new(t.topic.clone(), p)))
        .collect();
    partitions.sort();
    partitions.dedup();
    Ok(Assignment { partitions, user_data: msg.user_data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_at_v3() {
        let sub = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"u")),
            owned_partitions: vec![TopicPartition::new("b", 1), TopicPartition::new("a", 0)],
            generation_id: 7,
            rack_id: Some("r1".into()),
            group_instance_id: None,
        };
        let back = decode_subscription(encode_subscription(&sub)).unwrap();
        assert_eq!(back.topics, sub.topics);
        assert_eq!(back.owned_partitions, vec![TopicPartition::new("a", 0), TopicPartition::new("b", 1)]);
        assert_eq!(back.generation_id, 7);
        assert_eq!(back.rack_id.as_deref(), Some("r1"));
    }

    #[test]
    fn v0_subscription_from_an_old_client_decodes() {
        // version 0, one topic "t", null user data (as Java 0.10 clients wrote it)
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        let s = decode_subscription(bytes).unwrap();
        assert_eq!(s.topics, vec!["t".to_owned()]);
        assert_eq!(s.generation_id, -1);
        assert!(s.owned_partitions.is_empty());
    }

    #[test]
    fn newer_versions_are_read_as_ours_and_garbage_is_an_error() {
        let mut b = BytesMut::from(
            &encode_subscription(&Subscription { topics: vec!["t".into()], ..Default::default() })[..],
        );
        b[1] = 9; // claims v9
        assert_eq!(decode_subscription(b.freeze()).unwrap().topics, vec!["t".to_owned()]);
        assert!(decode_subscription(Bytes::from_static(&[0])).is_err());
        assert!(decode_subscription(Bytes::from_static(&[0, 3, 0x7f, 0xff, 0xff, 0xff])).is_err());
        assert!(decode_assignment(Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn assignment_round_trips_and_empty_is_empty() {
        let a = Assignment {
            partitions: vec![TopicPartition::new("x", 2), TopicPartition::new("x", 0)],
            user_data: None,
        };
        let back = decode_assignment(encode_assignment(&a)).unwrap();
        assert_eq!(back.partitions, vec![TopicPartition::new("x", 0), TopicPartition::new("x", 2)]);
        assert_eq!(decode_assignment(Bytes::new()).unwrap(), Assignment::default());
    }
}
