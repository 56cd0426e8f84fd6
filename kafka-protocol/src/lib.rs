//! # kafka-protocol
//!
//! The Kafka wire codec, sans IO (no tokio, no sockets): every client-facing request and
//! response, generated from Kafka's own JSON message schemas at every version, plus record
//! batches with all four compression codecs.
//!
//! Decoding is total: any byte string gives `Ok` or [`Error`], never a panic, and never an
//! allocation larger than the input justifies. Byte and record fields are zero-copy
//! [`bytes::Bytes`] slices of the input.
//!
//! # Layout
//!
//! - [`primitives`]: integers, varints, strings, bytes, arrays, UUIDs (read and write).
//! - [`message`]: the [`Encodable`], [`Decodable`], [`Message`], [`Request`], [`Response`] traits.
//! - [`frame`]: size-prefixed frames, request and response headers, the frame-size guard.
//! - [`generated`]: one module per schema (`cargo run -p xtask -- codegen`), the [`ApiKey`]
//!   table, [`RequestKind`]/[`ResponseKind`] dispatch and [`ErrorCode`]. Never edited by hand.
//! - [`records`]: record batches (magic 2), legacy message sets (magic 0/1), compression.
//! - [`tagged`]: tagged-field plumbing shared by the generated code.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_protocol::{frame, generated::MetadataRequest, RequestHeader};
//!
//! let header = RequestHeader { request_api_key: 3, request_api_version: 12, correlation_id: 7,
//!     client_id: Some("demo".into()), ..Default::default() };
//! let mut buf = BytesMut::new();
//! frame::encode_request(&mut buf, &header, &MetadataRequest::default()).unwrap();
//! assert_eq!(&buf[4..6], &[0, 3]); // size prefix, then the API key
//! ```

pub mod error;
pub mod frame;
pub mod generated;
pub mod message;
pub mod primitives;
pub mod records;
#[cfg(test)]
mod sample;
pub mod tagged;
mod uuid;

pub use error::{Error, Result};
pub use generated::{ApiKey, ErrorCode, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
pub use message::{Decodable, Encodable, Message, Request, Response, VersionRange};
pub use tagged::{RawTaggedField, TaggedWriter};
pub use uuid::Uuid;
