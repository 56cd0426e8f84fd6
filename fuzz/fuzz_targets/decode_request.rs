//! Any bytes as a request frame body (header + body), as a broker would read them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kafka_protocol::frame::decode_request(bytes::Bytes::copy_from_slice(data));
});
