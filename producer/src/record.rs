//! What goes in (`ProducerRecord`) and what comes back (`RecordMetadata`), and serializers.

use bytes::Bytes;

use crate::error::{Error, Result};

/// One record to send. Key, value and header values are `Bytes`: cloning them is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key (`None`: null).
    pub key: Option<Bytes>,
    /// The value (`None`: null, a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order; duplicate keys are allowed.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The create time in ms since the epoch; `None`: the time of `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with a null key and value.
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }
    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }
    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }
    /// Sends to this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    /// Sets the create timestamp (ms).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
    /// A record whose key and value are serialized with `ks` and `vs`.
    pub fn serialized<K: ?Sized, V: ?Sized>(
        topic: impl Into<String>,
        key: Option<&K>,
        ks: &impl Serializer<K>,
        value: Option<&V>,
        vs: &impl Serializer<V>,
    ) -> Result<Self> {
        let topic = topic.into();
        let ser = |what, r: std::result::Result<Bytes, String>| {
            r.map_err(|reason| Error::Serialization { topic: topic.clone(), what, reason })
        };
        let key = key.map(|k| ser("key", ks.serialize(&topic, k))).transpose()?;
        let value = value.map(|v| ser("value", vs.serialize(&topic, v))).transpose()?;
        Ok(ProducerRecord { key, value, ..ProducerRecord::new(topic) })
    }

    /// The bytes this record adds to a batch, roughly (for buffer accounting and size limits).
    pub(crate) fn estimated_size(&self) -> usize {
        let h: usize =
            self.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 10).sum();
        21 + self.key.as_ref().map_or(0, Bytes::len) + self.value.as_ref().map_or(0, Bytes::len) + h
    }
}

/// Where and when a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset (-1 with `acks=0`, which gets no reply).
    pub offset: i64,
    /// The record's timestamp: its create time, or the broker's append time when the topic
    /// uses `LogAppendTime`.
    pub timestamp: i64,
    /// Serialized key size (-1 for a null key).
    pub serialized_key_size: i32,
    /// Serialized value size (-1 for a null value).
    pub serialized_value_size: i32,
}

/// Turns a `T` into bytes (Java's `Serializer<T>`). Errors are messages; the producer wraps
/// them with the topic and whether it was the key or the value.
pub trait Serializer<T: ?Sized> {
    /// Serializes `data` for `topic`.
    fn serialize(&self, topic: &str, data: &T) -> std::result::Result<Bytes, String>;
}

/// UTF-8 strings (Java's `StringSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;
impl Serializer<str> for StringSerializer {
    fn serialize(&self, _: &str, data: &str) -> std::result::Result<Bytes, String> {
        Ok(Bytes::copy_from_slice(data.as_bytes()))
    }
}

/// Raw bytes, unchanged (Java's `ByteArraySerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerializer;
impl Serializer<[u8]> for BytesSerializer {
    fn serialize(&self, _: &str, data: &[u8]) -> std::result::Result<Bytes, String> {
        Ok(Bytes::copy_from_slice(data))
    }
}

/// Big-endian integers, as Java's `ShortSerializer`, `IntegerSerializer`, `LongSerializer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntSerializer;
macro_rules! int_ser {
    ($($t:ty),*) => {$(
        impl Serializer<$t> for IntSerializer {
            fn serialize(&self, _: &str, data: &$t) -> std::result::Result<Bytes, String> {
                Ok(Bytes::copy_from_slice(&data.to_be_bytes()))
            }
        }
    )*};
}
int_ser!(i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializers_match_java_encodings() {
        assert_eq!(&IntSerializer.serialize("t", &1i32).unwrap()[..], &[0, 0, 0, 1]);
        assert_eq!(
            &IntSerializer.serialize("t", &-2i64).unwrap()[..],
            &[0xff; 7].iter().chain(&[0xfe]).copied().collect::<Vec<_>>()[..]
        );
        assert_eq!(&IntSerializer.serialize("t", &258i16).unwrap()[..], &[1, 2]);
        assert_eq!(&StringSerializer.serialize("t", "été").unwrap()[..], "été".as_bytes());
        let r = ProducerRecord::serialized("t", Some("k"), &StringSerializer, Some(&7i32), &IntSerializer)
            .unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&[0, 0, 0, 7][..]));
    }

    #[test]
    fn serializer_errors_name_topic_and_side() {
        struct Fails;
        impl Serializer<str> for Fails {
            fn serialize(&self, _: &str, _: &str) -> std::result::Result<Bytes, String> {
                Err("nope".into())
            }
        }
        let e = ProducerRecord::serialized("orders", Some("k"), &Fails, None::<&str>, &StringSerializer)
            .unwrap_err();
        assert_eq!(e.to_string(), "topic orders: cannot serialize the key: nope");
    }
}
