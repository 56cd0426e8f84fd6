//! Any bytes as the `records` field of a Fetch response: every batch and every record in it is
//! decoded (with CRC checks off, so the fuzzer reaches the record parser).
#![no_main]

use kafka_protocol::records::{DecodeOptions, decode_batches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions { verify_crc: false, max_decompressed_bytes: 1 << 20 };
    for batch in decode_batches(bytes::Bytes::copy_from_slice(data), &opts) {
        let Ok(batch) = batch else { break };
        for record in batch.records() {
            if record.is_err() {
                break;
            }
        }
    }
});
