//! Property tests: arbitrary bytes into every request and response decoder at every version.
//! Decoding must return (Ok or Err) without panicking; the allocation bound is enforced by the
//! primitives (see `huge_claimed_lengths_fail_without_allocating` in wire_vectors.rs).

use bytes::Bytes;
use kafka_protocol::{ApiKey, RequestKind, ResponseKind, frame};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_into_every_decoder(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let bytes = Bytes::from(data);
        for &api in ApiKey::ALL {
            let versions = api.versions();
            for version in versions.min..=versions.max {
                let _ = RequestKind::decode(api, &mut bytes.clone(), version);
                let _ = ResponseKind::decode(api, &mut bytes.clone(), version);
            }
        }
        let _ = frame::decode_request(bytes.clone());
        let _ = frame::frame_length(&bytes, frame::DEFAULT_MAX_FRAME_SIZE);
    }

    #[test]
    fn any_request_frame_with_a_valid_prefix(key in 0i16..80, version in 0i16..18, corr in any::<i32>(),
                                             body in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut frame_bytes = Vec::new();
        frame_bytes.extend_from_slice(&key.to_be_bytes());
        frame_bytes.extend_from_slice(&version.to_be_bytes());
        frame_bytes.extend_from_slice(&corr.to_be_bytes());
        frame_bytes.extend_from_slice(&body);
        match frame::decode_request(Bytes::from(frame_bytes)) {
            Ok((header, kind)) => {
                prop_assert_eq!(header.request_api_key, key);
                prop_assert_eq!(kind.api_key().key(), key);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
