//! Any bytes as a response body: the first two bytes pick the API and version, the rest is
//! decoded by that API's response decoder, as a client would read it.
#![no_main]

use kafka_protocol::{ApiKey, ResponseKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let api = ApiKey::ALL[data[0] as usize % ApiKey::ALL.len()];
    let versions = api.versions();
    let span = (versions.max - versions.min + 1) as u8;
    let version = versions.min + (data[1] % span) as i16;
    let _ = ResponseKind::decode(api, &mut bytes::Bytes::copy_from_slice(&data[2..]), version);
});
