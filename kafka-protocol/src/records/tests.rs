//! Tests across the records module: a hand-checked batch, round trips through every codec,
//! damaged and truncated input, and property tests that no input makes the decoder panic.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

const ALL: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

/// Decodes everything (batches, records, headers), returning what was read and the first error.
fn drain(buf: Bytes, opts: &DecodeOptions) -> (Vec<Record>, Option<Error>) {
    let mut out = Vec::new();
    for batch in decode_batches(buf, opts) {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return (out, Some(e)),
        };
        let _ = (batch.last_offset(), batch.next_offset(), batch.timestamp_type(), batch.last_sequence());
        for r in batch.records() {
            match r {
                Ok(r) => {
                    for (k, v) in &r.headers {
                        let _ = (k.len(), v.map(|v| v.len()));
                    }
                    let _ = ControlRecord::parse(&r);
                    out.push(r);
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// One record with a header, uncompressed, Java producer defaults, base timestamp
/// 1_700_000_000_000 (0x0000018BCFE56800). Every byte written out from the protocol spec.
#[rustfmt::skip]
const HAND_BATCH: [u8; 74] = [
    0, 0, 0, 0, 0, 0, 0, 0,             // baseOffset 0
    0, 0, 0, 0x3e,                      // batchLength 62 = 74 - 12
    0xff, 0xff, 0xff, 0xff,             // partitionLeaderEpoch -1
    0x02,                               // magic 2
    0x5e, 0x93, 0x53, 0x8d,             // crc: CRC-32C of bytes 21..74 (computed independently)
    0x00, 0x00,                         // attributes: no codec, CreateTime, not txn, not control
    0, 0, 0, 0,                         // lastOffsetDelta 0
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // maxTimestamp
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producerId -1
    0xff, 0xff,                         // producerEpoch -1
    0xff, 0xff, 0xff, 0xff,             // baseSequence -1
    0, 0, 0, 1,                         // record count 1
    // record
    0x18,                               // length 12 (zigzag 24)
    0x00,                               // attributes
    0x00,                               // timestampDelta 0
    0x00,                               // offsetDelta 0
    0x02, b'k',                         // key length 1, "k"
    0x02, b'v',                         // value length 1, "v"
    0x02,                               // 1 header
    0x02, b'h',                         // header key length 1, "h"
    0x02, b'x',                         // header value length 1, "x"
];

#[test]
fn builder_writes_the_hand_checked_batch() {
    let mut b = RecordBatchBuilder::default();
    b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[("h", Some(b"x"))]).unwrap();
    assert_eq!(b.estimated_size(), HAND_BATCH.len());
    let mut out = BytesMut::new();
    b.build(&mut out).unwrap();
    assert_eq!(&out[..], &HAND_BATCH[..]);
}

#[test]
fn hand_checked_batch_decodes() {
    let buf = Bytes::from_static(&HAND_BATCH);
    let batch = decode_batches(buf.clone(), &DecodeOptions::default()).next().unwrap().unwrap();
    assert_eq!(
        (batch.base_offset, batch.batch_length, batch.partition_leader_epoch, batch.magic, batch.crc),
        (0, 62, -1, 2, 0x5e93_538d)
    );
    assert_eq!((batch.attributes, batch.last_offset_delta, batch.record_count), (0, 0, 1));
    assert_eq!((batch.base_timestamp, batch.max_timestamp), (1_700_000_000_000, 1_700_000_000_000));
    assert_eq!((batch.producer_id, batch.producer_epoch, batch.base_sequence), (-1, -1, -1));
    assert_eq!(batch.compression(), Compression::None);
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert!(!batch.is_transactional() && !batch.is_control() && !batch.has_delete_horizon());
    assert_eq!((batch.last_offset(), batch.next_offset()), (0, 1));
    assert_eq!(batch.wire_bytes().as_ref(), &HAND_BATCH[..]);
    let records: Vec<Record> = batch.records().collect::<Result<_>>().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.offset, r.timestamp, r.sequence), (0, 1_700_000_000_000, -1));
    assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
    let headers: Vec<_> = r.headers.iter().collect();
    assert_eq!(headers, [("h", Some(Bytes::from_static(b"x")))]);
    assert_eq!(r.headers.last("h"), Some(Some(Bytes::from_static(b"x"))));
    assert_eq!(r.headers.last("nope"), None);
    // Zero copy: the value points into the input buffer.
    let value = r.value.as_ref().unwrap();
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    assert!(range.contains(&(value.as_ptr() as usize)));
}

#[test]
fn crc_mismatch_is_detected_and_can_be_skipped() {
    let mut bad = HAND_BATCH;
    bad[70] ^= 0x01; // inside the record
    let err =
        decode_batches(Bytes::copy_from_slice(&bad), &DecodeOptions::default()).next().unwrap().unwrap_err();
    assert_eq!(
        err,
        Error::CrcMismatch { base_offset: 0, stored: 0x5e93_538d, computed: crc32c::crc32c(&bad[21..]) }
    );
    assert!(err.is_retriable());
    let opts = DecodeOptions { verify_crc: false, ..Default::default() };
    assert!(decode_batches(Bytes::copy_from_slice(&bad), &opts).next().unwrap().is_ok());
    // The base offset and leader epoch are outside the CRC.
    let mut fine = HAND_BATCH;
    fine[7] = 9;
    fine[15] = 0;
    assert!(decode_batches(Bytes::copy_from_slice(&fine), &DecodeOptions::default()).next().unwrap().is_ok());
}

fn sample_batch(codec: Compression, base_offset: i64, n: usize) -> BytesMut {
    let mut b = RecordBatchBuilder::new(codec);
    b.base_offset(base_offset);
    for i in 0..n {
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        b.append(10_000 + i as i64, Some(format!("key-{i}").as_bytes()), Some(value.as_bytes()), &[])
            .unwrap();
    }
    let mut out = BytesMut::new();
    b.build(&mut out).unwrap();
    out
}

#[test]
fn every_codec_round_trips_through_a_batch() {
    for codec in ALL {
        let mut b = RecordBatchBuilder::new(codec);
        b.base_offset(1_000).producer(77, 2, 40).partition_leader_epoch(9).transactional(true);
        b.append(500, None, Some(b"first"), &[]).unwrap();
        b.append(400, Some(b""), None, &[("a", None), ("b", Some(b"")), ("a", Some(b"2"))]).unwrap();
        b.append(900, Some(&[0xff; 300]), Some(&vec![7u8; 100_000]), &[]).unwrap();
        let mut buf = BytesMut::new();
        b.build(&mut buf).unwrap();
        let batch = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
        assert_eq!(batch.compression(), codec);
        assert_eq!((batch.base_offset, batch.last_offset(), batch.record_count), (1_000, 1_002, 3));
        assert_eq!((batch.base_timestamp, batch.max_timestamp), (500, 900));
        assert_eq!((batch.producer_id, batch.producer_epoch, batch.base_sequence), (77, 2, 40));
        assert_eq!((batch.partition_leader_epoch, batch.last_sequence()), (9, 42));
        assert!(batch.is_transactional() && !batch.is_control());
        let rs: Vec<Record> = batch.records().collect::<Result<_>>().unwrap();
        assert_eq!(rs.iter().map(|r| r.offset).collect::<Vec<_>>(), [1_000, 1_001, 1_002]);
        assert_eq!(rs.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [500, 400, 900]);
        assert_eq!(rs.iter().map(|r| r.sequence).collect::<Vec<_>>(), [40, 41, 42]);
        assert_eq!(rs[1].key.as_deref(), Some(&b""[..]));
        assert_eq!(rs[1].value, None);
        let h: Vec<_> = rs[1].headers.iter().collect();
        assert_eq!(h, [("a", None), ("b", Some(Bytes::new())), ("a", Some(Bytes::from_static(b"2")))]);
        assert_eq!(rs[1].headers.last("a"), Some(Some(Bytes::from_static(b"2"))));
        assert_eq!(rs[2].value.as_ref().map(Bytes::len), Some(100_000));
    }
}

#[test]
fn log_append_time_overrides_record_timestamps() {
    let mut b = RecordBatchBuilder::default();
    b.log_append_time(99_999);
    b.append(1, None, Some(b"a"), &[]).unwrap();
    b.append(2, None, Some(b"b"), &[]).unwrap();
    let mut buf = BytesMut::new();
    b.build(&mut buf).unwrap();
    let batch = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!((batch.base_timestamp, batch.max_timestamp), (1, 99_999));
    assert!(batch.records().all(|r| r.unwrap().timestamp == 99_999));

    // The in-place rewrite a broker does gives the same result.
    let mut plain = sample_batch(Compression::None, 0, 3);
    set_log_append_time(&mut plain, 55).unwrap();
    let batch = decode_batches(plain.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
    assert!(batch.records().all(|r| r.unwrap().timestamp == 55));
}

#[test]
fn header_rewrites_keep_the_crc_valid() {
    let mut buf = sample_batch(Compression::Lz4, 0, 5);
    set_base_offset(&mut buf, 700).unwrap();
    set_partition_leader_epoch(&mut buf, 3).unwrap();
    set_producer_state(&mut buf, 12, 1, 2_000).unwrap();
    let batch = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
    assert_eq!((batch.base_offset, batch.partition_leader_epoch), (700, 3));
    assert_eq!((batch.producer_id, batch.producer_epoch, batch.base_sequence), (12, 1, 2_000));
    assert_eq!(batch.records().last().unwrap().unwrap().offset, 704);
    assert!(set_base_offset(&mut [0u8; 10], 1).is_err());
}

#[test]
fn several_batches_then_a_truncated_tail() {
    let mut buf = sample_batch(Compression::None, 0, 3);
    buf.extend_from_slice(&sample_batch(Compression::Snappy, 3, 4));
    let first_len = sample_batch(Compression::None, 0, 3).len();
    let second = sample_batch(Compression::Gzip, 7, 2);
    let full = {
        let mut f = buf.clone();
        f.extend_from_slice(&second);
        f.freeze()
    };
    let (records, err) = drain(full.clone(), &DecodeOptions::default());
    assert_eq!(err, None);
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());

    let whole = buf.len();
    for cut in whole..full.len() {
        let mut it = decode_batches(full.slice(..cut), &DecodeOptions::default());
        assert_eq!(it.by_ref().map(|b| b.unwrap().record_count).collect::<Vec<_>>(), [3, 4], "cut {cut}");
        let tail = it.truncated_tail();
        if cut == whole {
            assert_eq!(tail, None);
        } else {
            let tail = tail.unwrap();
            assert_eq!(tail.available, cut - whole);
            assert_eq!(tail.base_offset, (cut - whole >= 8).then_some(7));
            assert_eq!(tail.size, (cut - whole >= 12).then_some(second.len()));
        }
    }
    // A buffer that is only a partial batch yields nothing, without error.
    let mut it = decode_batches(full.slice(..first_len - 1), &DecodeOptions::default());
    assert!(it.next().is_none());
    assert_eq!(it.truncated_tail().unwrap().size, Some(first_len));
}

/// Rewrites a record count and fixes the CRC, to test the count checks alone.
fn with_record_count(mut batch: BytesMut, count: i32) -> Bytes {
    batch[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

#[test]
fn record_count_must_match_the_records() {
    for codec in ALL {
        let batch = sample_batch(codec, 50, 4);
        let (rs, err) = drain(with_record_count(batch.clone(), 5), &DecodeOptions::default());
        assert_eq!(rs.len(), 4, "{codec}");
        assert!(
            matches!(err, Some(Error::CorruptRecords { base_offset: 50, ref reason }) if reason.contains("missing"))
        );
        let (rs, err) = drain(with_record_count(batch.clone(), 3), &DecodeOptions::default());
        assert_eq!(rs.len(), 3);
        assert!(
            matches!(err, Some(Error::CorruptRecords { base_offset: 50, ref reason }) if reason.contains("left"))
        );
        // A huge claim is refused before any record is read.
        let err = decode_batches(with_record_count(batch.clone(), i32::MAX), &DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, Error::CorruptRecords { base_offset: 50, .. }), "{err}");
        let err = decode_batches(with_record_count(batch, -1), &DecodeOptions::default()).next().unwrap();
        assert!(err.is_err());
    }
}

#[test]
fn inconsistent_record_lengths_are_corrupt_records() {
    // Record length 12 -> 13: the record claims a byte the batch does not have.
    let mut b = BytesMut::from(&HAND_BATCH[..]);
    b[61] = 0x1a;
    let (_, err) = drain(with_record_count(b, 1), &DecodeOptions::default());
    assert!(matches!(err, Some(Error::CorruptRecords { base_offset: 0, .. })), "{err:?}");
    // Record length 12 -> 11: the fields take more than declared.
    let mut b = BytesMut::from(&HAND_BATCH[..]);
    b[61] = 0x16;
    let (_, err) = drain(with_record_count(b, 1), &DecodeOptions::default());
    assert!(matches!(err, Some(Error::CorruptRecords { .. })), "{err:?}");
    // Header key "h" -> 0xff: not UTF-8.
    let mut b = BytesMut::from(&HAND_BATCH[..]);
    b[71] = 0xff;
    let (_, err) = drain(with_record_count(b, 1), &DecodeOptions::default());
    assert!(
        matches!(err, Some(Error::CorruptRecords { ref reason, .. }) if reason.contains("UTF-8")),
        "{err:?}"
    );
    // Unknown codec id 5 and unknown magic 3.
    let mut b = BytesMut::from(&HAND_BATCH[..]);
    b[22] = 0x05;
    assert_eq!(
        decode_batches(with_record_count(b, 1), &DecodeOptions::default()).next().unwrap().unwrap_err(),
        Error::UnknownCompression(5)
    );
    let mut b = BytesMut::from(&HAND_BATCH[..]);
    b[16] = 3;
    assert!(decode_batches(b.freeze(), &DecodeOptions::default()).next().unwrap().is_err());
    // A batch length below any format's minimum.
    let mut b = BytesMut::from(&HAND_BATCH[..]);
    b[11] = 13;
    assert!(decode_batches(b.freeze(), &DecodeOptions::default()).next().unwrap().is_err());
}

#[test]
fn batch_decompression_is_capped_for_every_codec() {
    let zeros = vec![0u8; 10 * 1024 * 1024];
    let opts = DecodeOptions { max_decompressed_bytes: 1024 * 1024, ..Default::default() };
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let mut b = RecordBatchBuilder::new(codec);
        b.append(0, None, Some(&zeros), &[]).unwrap();
        let mut buf = BytesMut::new();
        b.build(&mut buf).unwrap();
        assert!(buf.len() < 1024 * 1024, "{codec}: {}", buf.len());
        let err = decode_batches(buf.freeze(), &opts).next().unwrap().unwrap_err();
        assert_eq!(err, Error::DecompressionLimit { codec: codec.name(), limit: 1024 * 1024 });
    }
}

#[test]
fn empty_builder_writes_nothing() {
    let mut out = BytesMut::new();
    RecordBatchBuilder::default().build(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn legacy_and_v2_batches_mix_in_one_buffer() {
    let mut buf = BytesMut::new();
    legacy::write::message(&mut buf, 0, 1, 0, 5, Some(b"old"), Some(b"v1"));
    buf.extend_from_slice(&sample_batch(Compression::Zstd, 1, 2));
    let (rs, err) = drain(buf.freeze(), &DecodeOptions::default());
    assert_eq!(err, None);
    assert_eq!(rs.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rs[0].timestamp, 5);
}

/// Every single-byte change (small deltas and extreme values) and every truncation of a small
/// corpus holding each format: exhaustive where random mutation is thin.
#[test]
fn every_single_byte_mutation_and_truncation_is_handled() {
    let records: Vec<Rec> = vec![
        (5, Some(b"key".to_vec()), Some(b"value".to_vec()), vec![("h1".into(), Some(b"v".to_vec()))]),
        (6, None, Some(b"x".to_vec()), vec![("h2".into(), None), ("h3".into(), Some(vec![]))]),
    ];
    let opts = DecodeOptions { verify_crc: false, max_decompressed_bytes: 1 << 16 };
    for codec in [Compression::None, Compression::Lz4] {
        let corpus = corpus(codec, &records);
        for i in 0..corpus.len() {
            let b = corpus[i];
            for new in [
                b.wrapping_add(1),
                b.wrapping_sub(1),
                b.wrapping_add(2),
                b.wrapping_add(4),
                0,
                0x7f,
                0x80,
                0xff,
            ] {
                let mut m = corpus.clone();
                m[i] = new;
                drain(m.freeze(), &opts);
            }
            drain(corpus.clone().freeze().slice(..i), &opts);
        }
    }
}

// ---- property tests ----

type Header = (String, Option<Vec<u8>>);
type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(ALL.to_vec())
}

fn record() -> impl Strategy<Value = Rec> {
    (
        any::<i64>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        prop::collection::vec((".{0,8}", prop::option::of(prop::collection::vec(any::<u8>(), 0..20))), 0..4),
    )
}

fn build(codec: Compression, base_offset: i64, records: &[Rec]) -> BytesMut {
    let mut b = RecordBatchBuilder::new(codec);
    b.base_offset(base_offset);
    for (ts, k, v, h) in records {
        let h: Vec<(&str, Option<&[u8]>)> = h.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        b.append(*ts, k.as_deref(), v.as_deref(), &h).unwrap();
    }
    let mut out = BytesMut::new();
    b.build(&mut out).unwrap();
    out
}

/// A few valid batches of every kind, to mutate.
fn corpus(codec: Compression, records: &[Rec]) -> BytesMut {
    let mut buf = build(codec, 5, records);
    control::write_end_txn_marker(
        &mut buf,
        EndTxnMarker { commit: true, coordinator_epoch: 3 },
        9,
        1,
        0,
        4,
        0,
    )
    .unwrap();
    legacy::write::message(&mut buf, 10, 0, 0, 0, Some(b"k"), None);
    let mut inner = BytesMut::new();
    legacy::write::message(&mut inner, 0, 1, 0, 7, None, Some(b"v"));
    legacy::write::message(&mut inner, 1, 1, 0, 8, Some(b"k"), Some(b"w"));
    // Legacy wrappers take gzip, snappy or lz4.
    let wrapper_codec = match codec {
        Compression::None | Compression::Zstd => Compression::Gzip,
        other => other,
    };
    let mut z = BytesMut::new();
    compress(wrapper_codec, None, &inner, &mut z).unwrap();
    legacy::write::message(&mut buf, 12, 1, wrapper_codec.id(), 7, None, Some(&z));
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_records_round_trip(codec in codec(), base in any::<i64>(), records in prop::collection::vec(record(), 1..12)) {
        let buf = build(codec, base, &records);
        let batch = decode_batches(buf.freeze(), &DecodeOptions::default()).next().unwrap().unwrap();
        prop_assert_eq!(batch.record_count as usize, records.len());
        let max_ts = records.iter().map(|r| r.0).max().unwrap().max(-1);
        prop_assert_eq!(batch.max_timestamp, max_ts);
        let decoded: Vec<Record> = batch.records().collect::<Result<_>>().unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (got, (ts, k, v, h))) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(got.offset, base.wrapping_add(i as i64));
            prop_assert_eq!(got.timestamp, *ts);
            prop_assert_eq!(got.key.as_deref(), k.as_deref());
            prop_assert_eq!(got.value.as_deref(), v.as_deref());
            let got_h: Vec<(String, Option<Vec<u8>>)> =
                got.headers.iter().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_vec()))).collect();
            prop_assert_eq!(&got_h, h);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), verify in any::<bool>()) {
        let opts = DecodeOptions { verify_crc: verify, max_decompressed_bytes: 1 << 16 };
        drain(Bytes::from(bytes), &opts);
    }

    /// Arbitrary bodies behind a plausible header reach the format decoders.
    #[test]
    fn arbitrary_bodies_behind_a_valid_frame_never_panic(
        body in prop::collection::vec(any::<u8>(), 2..600),
        magic in 0u8..3,
        attributes in any::<u8>(),
    ) {
        let mut buf = BytesMut::new();
        buf.put_i64(0);
        buf.put_i32(body.len() as i32 + 5);
        buf.put_i32(-1);
        buf.put_u8(magic);
        buf.put_slice(&body);
        // Attributes: byte 21 (v2) or 17 (legacy) after the header.
        let at = if magic == 2 { 21 } else { 17 };
        if buf.len() > at { buf[at] = attributes; }
        let opts = DecodeOptions { verify_crc: false, max_decompressed_bytes: 1 << 16 };
        drain(buf.freeze(), &opts);
    }

    #[test]
    fn mutated_valid_batches_never_panic(
        codec in codec(),
        records in prop::collection::vec(record(), 1..5),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut buf = corpus(codec, &records);
        for (at, byte) in &mutations {
            let i = at.index(buf.len());
            buf[i] = *byte;
        }
        if do_cut {
            let n = cut.index(buf.len());
            buf.truncate(n);
        }
        let opts = DecodeOptions { verify_crc: false, max_decompressed_bytes: 1 << 16 };
        drain(buf.freeze(), &opts);
    }

    #[test]
    fn unmutated_corpus_decodes(codec in codec(), records in prop::collection::vec(record(), 1..5)) {
        let (rs, err) = drain(corpus(codec, &records).freeze(), &DecodeOptions::default());
        prop_assert_eq!(err, None);
        prop_assert_eq!(rs.len(), records.len() + 1 + 1 + 2);
    }
}

#[test]
fn with_capacity_builds_the_same_bytes_as_new() {
    for codec in
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
    {
        let (mut a, mut b) = (RecordBatchBuilder::new(codec), RecordBatchBuilder::with_capacity(codec, 4096));
        for i in 0..50i64 {
            let v = format!("value-{i}");
            a.append(1000 + i, Some(b"k"), Some(v.as_bytes()), &[("h", None)]).unwrap();
            b.append(1000 + i, Some(b"k"), Some(v.as_bytes()), &[("h", None)]).unwrap();
        }
        let (mut x, mut y) = (BytesMut::new(), BytesMut::new());
        a.build(&mut x).unwrap();
        b.build(&mut y).unwrap();
        assert_eq!(x, y, "{codec:?}");
        assert_eq!(a.estimated_size(), b.estimated_size());
    }
}

#[test]
fn finish_gives_the_bytes_build_writes() {
    for codec in ALL {
        let mut b = RecordBatchBuilder::with_capacity(codec, 1024);
        assert!(b.clone().finish().unwrap().is_empty(), "{codec:?}: no records, no batch");
        b.producer(42, 3, 7).transactional(true);
        for i in 0..20i64 {
            let v = format!("value-{i}");
            b.append(1000 + i, Some(b"k"), Some(v.as_bytes()), &[("h", Some(b"v"))]).unwrap();
        }
        let mut built = BytesMut::new();
        built.put_slice(b"prefix");
        b.build(&mut built).unwrap();
        let finished = b.finish().unwrap();
        assert_eq!(&built[6..], &finished[..], "{codec:?}");
        let (records, err) = drain(finished, &DecodeOptions::default());
        assert_eq!((records.len(), err), (20, None), "{codec:?}");
    }
}
