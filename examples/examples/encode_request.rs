//! Encodes a Metadata request frame and decodes it back, printing both.

use bytes::{Bytes, BytesMut};
use kafka_protocol::generated::{MetadataRequest, metadata_request::MetadataRequestTopic};
use kafka_protocol::{RequestHeader, frame};

fn main() -> Result<(), kafka_protocol::Error> {
    let header = RequestHeader {
        request_api_key: 3,
        request_api_version: 12,
        correlation_id: 1,
        client_id: Some("example".into()),
        ..Default::default()
    };
    let body = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some("orders".into()), ..Default::default() }]),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    frame::encode_request(&mut buf, &header, &body)?;
    let (h, decoded) = frame::decode_request(Bytes::copy_from_slice(&buf[4..]))?;
    eprintln!("{} bytes on the wire: {:02x?}", buf.len(), &buf[..]);
    eprintln!("decoded header: {h:?}");
    eprintln!("decoded body: {decoded:?}");
    Ok(())
}
