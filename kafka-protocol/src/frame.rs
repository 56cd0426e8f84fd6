//! Frames and headers: every Kafka request and response is an `int32` size followed by a header
//! and a body. This module encodes and decodes whole frames and guards frame sizes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{
    ApiKey, Decodable, Encodable, Error, Request, RequestHeader, RequestKind, Response, ResponseHeader,
    ResponseKind, Result,
};

/// Default cap on a frame's size: Kafka's `socket.request.max.bytes` default (100 MiB).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// The request header version for `api` at body version `version`.
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    if api.flexible_versions().contains(version) { 2 } else { 1 }
}

/// The response header version for `api` at body version `version`. ApiVersions responses
/// always use v0 so that a client can read them before it knows what the broker supports.
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::ApiVersions {
        0
    } else if api.flexible_versions().contains(version) {
        1
    } else {
        0
    }
}

/// Checks the size prefix at the front of `buf` (which holds whatever has been read so far).
/// Returns `Ok(None)` while fewer than 4 bytes are available, `Ok(Some(n))` with the body size
/// once they are, and an error when the size is negative or above `max`. The guard lets a
/// plaintext connection that reads a TLS alert or an HTTP reply fail at once instead of
/// waiting for (and allocating) hundreds of megabytes.
pub fn frame_length(buf: &[u8], max: usize) -> Result<Option<usize>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as i64;
    if size < 0 || size as u64 > max as u64 {
        let hint = if buf[0] == 0x15 && buf[1] == 0x03 {
            " (this looks like a TLS alert: is the listener TLS, i.e. should security.protocol be SSL?)"
        } else if buf[0] == 0x16 && buf[1] == 0x03 {
            " (this looks like a TLS handshake: is the listener TLS?)"
        } else if &buf[..4] == b"HTTP" {
            " (this looks like an HTTP reply: is this a Kafka listener?)"
        } else {
            ""
        };
        return Err(Error::FrameTooLarge { size, max, hint });
    }
    Ok(Some(size as usize))
}

fn put_size_prefix(buf: &mut BytesMut, start: usize, at: &'static str) -> Result<()> {
    let len = buf.len() - start - 4;
    if len > i32::MAX as usize {
        return Err(Error::ValueTooLarge { at, length: len, max: i32::MAX as usize });
    }
    buf[start..start + 4].copy_from_slice(&(len as i32).to_be_bytes());
    Ok(())
}

/// Appends a whole request frame (size, header, body) to `buf`. The header's API key and
/// version must be `R`'s; the header version follows from them.
pub fn encode_request<R: Request>(buf: &mut BytesMut, header: &RequestHeader, body: &R) -> Result<()> {
    if header.request_api_key != R::API_KEY.key() {
        return Err(Error::UnknownApiKey(header.request_api_key));
    }
    let version = header.request_api_version;
    let start = buf.len();
    buf.put_i32(0);
    header.encode(buf, R::header_version(version))?;
    body.encode(buf, version)?;
    put_size_prefix(buf, start, R::NAME)
}

/// Appends a whole response frame for body version `version` to `buf`.
pub fn encode_response<R: Response>(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<()> {
    let start = buf.len();
    buf.put_i32(0);
    let header = ResponseHeader { correlation_id, ..Default::default() };
    header.encode(buf, R::header_version(version))?;
    body.encode(buf, version)?;
    put_size_prefix(buf, start, R::NAME)
}

/// Appends a whole response frame for a run-time-typed body (as a broker dispatching on the
/// API key produces it).
pub fn encode_response_kind(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &ResponseKind,
) -> Result<()> {
    let api = body.api_key();
    let start = buf.len();
    buf.put_i32(0);
    let header = ResponseHeader { correlation_id, ..Default::default() };
    header.encode(buf, response_header_version(api, version))?;
    body.encode(buf, version)?;
    put_size_prefix(buf, start, api.name())
}

/// Decodes a response frame body for a run-time-typed API.
pub fn decode_response_kind(
    mut frame: Bytes,
    api: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseKind)> {
    let header = ResponseHeader::decode(&mut frame, response_header_version(api, version))?;
    let body = ResponseKind::decode(api, &mut frame, version)?;
    finish((header, body), &frame, api.name())
}

fn finish<T>(value: T, rest: &Bytes, at: &'static str) -> Result<T> {
    if rest.has_remaining() {
        return Err(Error::TrailingBytes { at, remaining: rest.remaining() });
    }
    Ok(value)
}

/// Decodes a request frame body (without its size prefix) into its header and typed body, as a
/// broker does. Unknown API keys and unsupported versions are errors naming them.
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, RequestKind)> {
    if frame.len() < 4 {
        return Err(Error::Truncated { at: "request header", needed: 4, remaining: frame.len() });
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::from_key(key).ok_or(Error::UnknownApiKey(key))?;
    let header = RequestHeader::decode(&mut frame, request_header_version(api, version))?;
    let body = RequestKind::decode(api, &mut frame, version)?;
    finish((header, body), &frame, api.name())
}

/// The correlation id of a response frame body (its first four bytes), to match it to its
/// request before decoding the rest.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(Error::Truncated { at: "response header", needed: 4, remaining: frame.len() }),
    }
}

/// Decodes a response frame body (without its size prefix) for request type `R` at `version`.
pub fn decode_response<R: Request>(mut frame: Bytes, version: i16) -> Result<(ResponseHeader, R::Response)> {
    let header = ResponseHeader::decode(&mut frame, <R::Response as Response>::header_version(version))?;
    let body = R::Response::decode(&mut frame, version)?;
    finish((header, body), &frame, R::NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::{ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};

    #[test]
    fn frame_guard_rejects_tls_alert_and_http() {
        assert_eq!(frame_length(&[0, 0], 1024).unwrap(), None);
        assert_eq!(frame_length(&[0, 0, 0, 10, 1], 1024).unwrap(), Some(10));
        let tls = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46];
        let e = frame_length(&tls, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert!(e.to_string().contains("TLS alert"), "{e}");
        let e = frame_length(b"HTTP/1.1 400 Bad Request", DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert!(e.to_string().contains("HTTP"), "{e}");
        assert!(frame_length(&[0xff, 0xff, 0xff, 0xff], 1024).is_err());
    }

    #[test]
    fn api_versions_v3_request_frame_matches_hand_encoding() {
        let header = RequestHeader {
            request_api_key: 18,
            request_api_version: 3,
            correlation_id: 1,
            client_id: Some("ab".into()),
            ..Default::default()
        };
        let body = ApiVersionsRequest {
            client_software_name: "x".into(),
            client_software_version: "1".into(),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        encode_request(&mut buf, &header, &body).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 18,          // size
            0, 18, 0, 3,          // api key, version
            0, 0, 0, 1,           // correlation id
            0, 2, b'a', b'b',     // client id: classic int16 string even in header v2
            0,                    // header tagged fields
            2, b'x', 2, b'1',     // compact strings
            0,                    // body tagged fields
        ];
        assert_eq!(&buf[..], expected);
        let (h, b) = decode_request(Bytes::copy_from_slice(&buf[4..])).unwrap();
        assert_eq!(h, header);
        assert_eq!(b, RequestKind::ApiVersions(body));
    }

    #[test]
    fn api_versions_response_uses_header_v0_even_when_flexible() {
        let mut buf = BytesMut::new();
        encode_response(&mut buf, 42, 3, &ApiVersionsResponse::default()).unwrap();
        // size, correlation id, then the body directly (no header tagged-field byte)
        assert_eq!(&buf[4..8], &[0, 0, 0, 42]);
        assert_eq!(&buf[8..10], &[0, 0], "error code follows the correlation id at once");
        let (h, _) = decode_response::<ApiVersionsRequest>(Bytes::copy_from_slice(&buf[4..]), 3).unwrap();
        assert_eq!(h.correlation_id, 42);
    }

    #[test]
    fn trailing_bytes_are_an_error_naming_the_api() {
        let header = RequestHeader { request_api_key: 3, request_api_version: 1, ..Default::default() };
        let mut buf = BytesMut::new();
        encode_request(&mut buf, &header, &MetadataRequest::default()).unwrap();
        buf.put_u8(9);
        let e = decode_request(Bytes::copy_from_slice(&buf[4..])).unwrap_err();
        assert!(matches!(e, Error::TrailingBytes { at: "Metadata", remaining: 1 }), "{e}");
    }
}
