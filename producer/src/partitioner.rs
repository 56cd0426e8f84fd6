//! Choosing a partition: an explicit one, else murmur2 of the key mapped exactly as the Java
//! client does, else uniform sticky partitioning (KIP-794).

use std::collections::HashMap;
use std::sync::Mutex;

/// What a partitioner may look at: the topic's partition count and which partitions have a
/// leader right now.
#[derive(Debug, Clone, Copy)]
pub struct PartitionerContext<'a> {
    /// The number of partitions.
    pub partition_count: i32,
    /// Partitions whose leader is known (sorted).
    pub available: &'a [i32],
}

/// A custom partitioner (Java's `Partitioner`). Return `None` to fall back to the built-in
/// sticky choice, as Java's `partition()` returning `RecordMetadata.UNKNOWN_PARTITION` does.
pub trait Partitioner: Send + Sync + 'static {
    /// The partition for a record of `topic` with this serialized key and value.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        ctx: PartitionerContext<'_>,
    ) -> Option<i32>;
}

/// Kafka's murmur2 (seed 0x9747b28c) of `data`, as Java's `Utils.murmur2` returns it.
pub fn murmur2(data: &[u8]) -> i32 {
    murmur2::murmur2(data, murmur2::KAFKA_SEED) as i32
}

/// The partition Java's default partitioner gives a keyed record:
/// `Utils.toPositive(Utils.murmur2(key)) % numPartitions`.
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partition_count.max(1)
}

/// The built-in sticky partitioner's per-topic state: the current partition and the bytes
/// sent to it since it was chosen. After `batch.size` bytes it switches (KIP-794), so records
/// without keys fill whole batches and spread evenly over time.
#[derive(Debug)]
pub(crate) struct StickyPartitioner {
    topics: Mutex<HashMap<String, (i32, usize)>>,
    /// `batch.size`: bytes after which it switches.
    batch_size: usize,
    /// `partitioner.adaptive.partitioning.enable`: pick only partitions with a leader.
    adaptive: bool,
}

impl StickyPartitioner {
    pub(crate) fn new(batch_size: usize, adaptive: bool) -> Self {
        StickyPartitioner { topics: Mutex::default(), batch_size, adaptive }
    }

    /// The partition for the next unkeyed record of `size` bytes. When it must switch, `rng`
    /// picks a new partition among `available()` (the partitions with a leader; all of
    /// `partition_count` when none has, or when adaptive partitioning is off). `available` is
    /// only called on a switch (once per batch.size bytes), never per record.
    pub(crate) fn next(
        &self,
        topic: &str,
        size: usize,
        partition_count: i32,
        available: impl FnOnce() -> Vec<i32>,
        rng: impl FnOnce(usize) -> usize,
    ) -> i32 {
        let mut topics = self.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = match topics.get_mut(topic) {
            Some(e) => e,
            None => topics.entry(topic.to_owned()).or_insert((-1, 0)),
        };
        if entry.0 < 0 || entry.0 >= partition_count || entry.1 >= self.batch_size {
            let available = if self.adaptive { available() } else { Vec::new() };
            let pick = if available.is_empty() {
                rng(partition_count.max(1) as usize) as i32
            } else {
                available[rng(available.len())]
            };
            *entry = (pick, 0);
        }
        entry.1 += size;
        entry.0
    }
}

/// A small xorshift generator for partition picks (no per-record syscalls or locks).
#[derive(Debug)]
pub(crate) struct FastRng(std::sync::atomic::AtomicU64);

impl FastRng {
    pub(crate) fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9)
            | 1;
        FastRng(std::sync::atomic::AtomicU64::new(seed))
    }
    /// A value in `0..n`.
    pub(crate) fn below(&self, n: usize) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let mut x = self.0.load(Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.store(x, Relaxed);
        (x % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, Utils.murmur2(key), BuiltInPartitioner.partitionForKey(key, n) for n = 1, 3, 7, 12,
    /// 100), printed by the Java client 4.3.1 (kafka-clients jar) for these UTF-8 keys.
    const JAVA: &[(&str, i32, [i32; 5])] = &[
        ("", 275646681, [0, 0, 2, 9, 81]),
        ("a", -1563381124, [0, 1, 5, 4, 24]),
        ("ab", 316155434, [0, 2, 0, 2, 34]),
        ("abc", 479470107, [0, 0, 4, 3, 7]),
        ("21", -973932308, [0, 0, 3, 0, 40]),
        ("foobar", -790332482, [0, 0, 0, 6, 66]),
        ("key-0", 29210041, [0, 1, 0, 1, 41]),
        ("key-1", 193331640, [0, 0, 5, 0, 40]),
        ("key-42", -187086521, [0, 0, 3, 3, 27]),
        ("orders/2024", -1878250651, [0, 1, 5, 1, 97]),
        ("a-little-bit-long-string", -985981536, [0, 2, 1, 8, 12]),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, [0, 2, 3, 5, 77]),
        ("été ☃", 265277273, [0, 2, 2, 5, 73]),
    ];

    #[test]
    fn murmur2_and_key_mapping_match_the_java_client() {
        for (key, hash, parts) in JAVA {
            assert_eq!(murmur2(key.as_bytes()), *hash, "murmur2({key:?})");
            for (n, want) in [1, 3, 7, 12, 100].iter().zip(parts) {
                assert_eq!(partition_for_key(key.as_bytes(), *n), *want, "key {key:?} over {n} partitions");
            }
        }
    }

    #[test]
    fn sticky_switches_after_batch_size_bytes() {
        let s = StickyPartitioner::new(100, true);
        let mut next_pick = 0;
        let mut seq = Vec::new();
        for _ in 0..10 {
            seq.push(s.next(
                "t",
                40,
                4,
                || vec![0, 1, 2, 3],
                |n| {
                    next_pick = (next_pick + 1) % n;
                    next_pick
                },
            ));
        }
        // 40-byte records, 100-byte batches: 3 records per partition before switching
        assert_eq!(seq, [1, 1, 1, 2, 2, 2, 3, 3, 3, 0]);
    }

    #[test]
    fn adaptive_sticky_skips_partitions_without_a_leader() {
        let s = StickyPartitioner::new(100, true);
        for _ in 0..20 {
            assert_eq!(s.next("t", 1000, 4, || vec![2], |n| n - 1), 2);
        }
        let off = StickyPartitioner::new(100, false);
        assert_eq!(off.next("t", 1, 4, || vec![2], |_| 3), 3, "adaptive off: any partition");
    }
}
