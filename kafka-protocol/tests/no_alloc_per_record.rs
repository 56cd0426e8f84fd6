//! Decoding allocates per batch (at most one decompressed buffer), never per record: this
//! binary counts every heap allocation while a batch of 1000 records is decoded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use kafka_protocol::records::{Compression, DecodeOptions, RecordBatchBuilder, decode_batches};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while decoding every record (key, value, headers) of one batch.
fn allocations_decoding(codec: Compression, records: usize) -> usize {
    let mut b = RecordBatchBuilder::new(codec);
    for i in 0..records {
        let value = format!("value number {i} with some text");
        b.append(i as i64, Some(b"key"), Some(value.as_bytes()), &[("h1", Some(b"v")), ("h2", None)])
            .unwrap();
    }
    let mut buf = BytesMut::new();
    b.build(&mut buf).unwrap();
    let buf = buf.freeze();
    let opts = DecodeOptions::default();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut seen = 0;
    let mut bytes = 0;
    for batch in decode_batches(buf, &opts) {
        for r in batch.unwrap().records() {
            let r = r.unwrap();
            bytes += r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len());
            for (k, v) in &r.headers {
                bytes += k.len() + v.map_or(0, |v| v.len());
            }
            seen += 1;
        }
    }
    let used = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(seen, records);
    assert!(bytes > records * 20);
    used
}

#[test]
fn decoding_allocates_per_batch_not_per_record() {
    for codec in
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
    {
        let small = allocations_decoding(codec, 10);
        let large = allocations_decoding(codec, 1000);
        // A few allocations per batch (iterator state, the decompressed buffer and the
        // decompressor's own state); 100× the records must not mean more of them.
        assert!(large <= small + 4, "{codec:?}: {small} allocations for 10 records, {large} for 1000");
        assert!(large < 64, "{codec:?}: {large} allocations for one batch");
    }
}
