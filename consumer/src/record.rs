//! What `poll` returns, and deserializers.

use bytes::Bytes;
use kafka_protocol::records::{Headers, TimestampType};

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

impl kafka_client::TopicPartitionRef for TopicPartition {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn partition(&self) -> i32 {
        self.partition
    }
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One consumed record. Key, value and headers are zero-copy slices of the fetched batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers: iterate `(name, value)` pairs.
    pub headers: Headers,
    /// The leader epoch of the batch (`None` for old formats).
    pub leader_epoch: Option<i32>,
}

/// Turns bytes into a `T` (Java's `Deserializer<T>`).
pub trait Deserializer<T> {
    /// Deserializes `data` (`None` for a null key or value) from `topic`.
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> std::result::Result<Option<T>, String>;
}

/// UTF-8 strings (Java's `StringDeserializer`); invalid UTF-8 is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringDeserializer;
impl Deserializer<String> for StringDeserializer {
    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> std::result::Result<Option<String>, String> {
        data.map(|d| String::from_utf8(d.to_vec()).map_err(|e| e.to_string())).transpose()
    }
}

/// Big-endian integers (Java's `IntegerDeserializer` / `LongDeserializer`); a wrong length is
/// an error, as in Java.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntDeserializer;
macro_rules! int_de {
    ($($t:ty),*) => {$(
        impl Deserializer<$t> for IntDeserializer {
            fn deserialize(&self, _: &str, data: Option<&[u8]>) -> std::result::Result<Option<$t>, String> {
                data.map(|d| {
                    <[u8; std::mem::size_of::<$t>()]>::try_from(d)
                        .map(<$t>::from_be_bytes)
                        .map_err(|_| format!("size of data received is not {}", std::mem::size_of::<$t>()))
                })
                .transpose()
            }
        }
    )*};
}
int_de!(i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializers_match_java() {
        assert_eq!(IntDeserializer.deserialize("t", Some(&[0, 0, 1, 0])), Ok(Some(256i32)));
        assert!(
            <IntDeserializer as Deserializer<i64>>::deserialize(&IntDeserializer, "t", Some(&[1, 2]))
                .is_err()
        );
        assert_eq!(StringDeserializer.deserialize("t", None), Ok(None));
        assert!(StringDeserializer.deserialize("t", Some(&[0xff])).is_err());
    }
}
