//! The ApiVersions handshake as a sans-IO state machine.
//!
//! Inputs: [`Handshake::start`] and [`Handshake::on_response`] (a raw response frame, without
//! its size prefix). Outputs: [`Step::Send`] (send this ApiVersions request at this version)
//! or [`Step::Done`] (the negotiated [`ApiVersions`]). The I/O layer only moves the bytes.
//!
//! Kafka's fallback: the first request goes at the highest version this client speaks. A
//! broker that does not know that version answers with a **v0-encoded** response carrying
//! `UNSUPPORTED_VERSION` and (since Kafka 2.4) its own ApiVersions range; the client then
//! retries at the highest version in that range (v0 when the range is missing). Each retry
//! must lower the version, so a confused broker cannot loop us forever.

use bytes::Bytes;
use kafka_protocol::{
    ApiKey, ErrorCode,
    frame::decode_response,
    generated::{ApiVersionsRequest, ApiVersionsResponse},
};

use super::versions::{ApiVersions, client_versions};
use crate::error::{BrokerRef, Error, Result};

/// What the I/O layer must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send `request` as ApiVersions version `version` and feed the reply to `on_response`.
    Send {
        /// The request version.
        version: i16,
        /// The request body.
        request: ApiVersionsRequest,
    },
    /// Negotiation finished.
    Done(ApiVersions),
}

/// The handshake's state (one enum, one transition function: `on_response`).
#[derive(Debug, Clone, PartialEq)]
enum State {
    Init,
    AwaitingResponse { version: i16 },
    Done,
    Failed,
}

/// The ApiVersions handshake for one connection.
#[derive(Debug, Clone)]
pub struct Handshake {
    broker: BrokerRef,
    software_name: String,
    software_version: String,
    state: State,
}

impl Handshake {
    /// A handshake announcing `client.software.name` / `.version` (sent from v3 on).
    pub fn new(broker: BrokerRef, software_name: &str, software_version: &str) -> Self {
        Handshake {
            broker,
            software_name: software_name.to_string(),
            software_version: software_version.to_string(),
            state: State::Init,
        }
    }

    /// The first request: the highest ApiVersions version this client speaks.
    pub fn start(&mut self) -> Step {
        assert_eq!(self.state, State::Init, "Handshake::start called twice");
        self.send(client_versions(ApiKey::ApiVersions).max)
    }

    fn send(&mut self, version: i16) -> Step {
        self.state = State::AwaitingResponse { version };
        let request = ApiVersionsRequest {
            client_software_name: self.software_name.clone(),
            client_software_version: self.software_version.clone(),
            ..Default::default()
        };
        Step::Send { version, request }
    }

    /// Feeds the response frame (header and body, no size prefix) to the request last sent.
    pub fn on_response(&mut self, frame: Bytes) -> Result<Step> {
        let State::AwaitingResponse { version } = self.state else {
            self.state = State::Failed;
            return Err(self.fail(format!("ApiVersions response received in state {:?}", self.state)));
        };
        let resp = match decode(frame, version) {
            Ok(r) => r,
            Err(source) => {
                self.state = State::Failed;
                return Err(Error::Protocol {
                    api: Some(ApiKey::ApiVersions),
                    broker: self.broker.clone(),
                    source,
                });
            }
        };
        match ErrorCode::from_code(resp.error_code) {
            ErrorCode::None => {
                self.state = State::Done;
                tracing::debug!(broker = %self.broker, version, apis = resp.api_keys.len(), "ApiVersions negotiated");
                Ok(Step::Done(ApiVersions::from_response(&resp)))
            }
            ErrorCode::UnsupportedVersion => {
                let ours = client_versions(ApiKey::ApiVersions);
                let theirs = resp
                    .find_api_keys(ApiKey::ApiVersions.key())
                    .map(|k| k.max_version)
                    .unwrap_or(0)
                    .min(ours.max);
                if theirs >= version || theirs < ours.min {
                    self.state = State::Failed;
                    return Err(self.fail(format!(
                        "broker rejected ApiVersions v{version} but offers v{theirs}; cannot fall back"
                    )));
                }
                tracing::debug!(broker = %self.broker, from = version, to = theirs, "ApiVersions fallback");
                Ok(self.send(theirs))
            }
            code => {
                self.state = State::Failed;
                Err(Error::Broker {
                    api: ApiKey::ApiVersions,
                    broker: Some(self.broker.clone()),
                    topic: None,
                    partition: None,
                    code,
                    message: None,
                })
            }
        }
    }

    fn fail(&self, reason: String) -> Error {
        Error::Disconnected { broker: self.broker.clone(), reason }
    }
}

/// Decodes an ApiVersions response sent for `version`. An `UNSUPPORTED_VERSION` reply is
/// encoded at v0 whatever was asked, so it is read at v0 (as is any body that does not decode
/// at the requested version, like Java's `ApiVersionsResponse.parse`).
fn decode(frame: Bytes, version: i16) -> kafka_protocol::Result<ApiVersionsResponse> {
    // Header v0 is the 4-byte correlation id; the body starts with the error code.
    let code = frame.get(4..6).map(|b| i16::from_be_bytes([b[0], b[1]]));
    if version > 0 && code == Some(ErrorCode::UnsupportedVersion.code()) {
        if let Ok((_, r)) = decode_response::<ApiVersionsRequest>(frame.clone(), 0) {
            return Ok(r);
        }
    }
    match decode_response::<ApiVersionsRequest>(frame.clone(), version) {
        Ok((_, r)) => Ok(r),
        Err(e) if version > 0 => {
            decode_response::<ApiVersionsRequest>(frame, 0).map(|(_, r)| r).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::{frame::encode_response, generated::api_versions_response::ApiVersion};

    use super::*;

    fn broker() -> BrokerRef {
        BrokerRef { id: -1, addr: "127.0.0.1:9092".into() }
    }

    fn frame(version: i16, resp: &ApiVersionsResponse) -> Bytes {
        let mut buf = BytesMut::new();
        encode_response(&mut buf, 1, version, resp).unwrap();
        buf.freeze().slice(4..)
    }

    fn range(key: ApiKey, min: i16, max: i16) -> ApiVersion {
        ApiVersion { api_key: key.key(), min_version: min, max_version: max, ..Default::default() }
    }

    fn ok_response() -> ApiVersionsResponse {
        ApiVersionsResponse {
            api_keys: vec![range(ApiKey::ApiVersions, 0, 4), range(ApiKey::Metadata, 0, 12)],
            ..Default::default()
        }
    }

    #[test]
    fn first_request_is_the_highest_version_with_software_name() {
        let mut h = Handshake::new(broker(), "kafka-rust", "0.1.0");
        let Step::Send { version, request } = h.start() else { panic!() };
        assert_eq!(version, client_versions(ApiKey::ApiVersions).max);
        assert!(version >= 3);
        assert_eq!(request.client_software_name, "kafka-rust");
        let step = h.on_response(frame(version, &ok_response())).unwrap();
        let Step::Done(v) = step else { panic!("{step:?}") };
        assert_eq!(v.version(ApiKey::Metadata), Some(12));
    }

    #[test]
    fn unsupported_version_falls_back_to_the_brokers_max() {
        let mut h = Handshake::new(broker(), "n", "v");
        let Step::Send { version: first, .. } = h.start() else { panic!() };
        // An old broker replies at v0 with UNSUPPORTED_VERSION and its ApiVersions range 0..=2.
        let reject = ApiVersionsResponse {
            error_code: ErrorCode::UnsupportedVersion.code(),
            api_keys: vec![range(ApiKey::ApiVersions, 0, 2)],
            ..Default::default()
        };
        let step = h.on_response(frame(0, &reject)).unwrap();
        assert!(matches!(step, Step::Send { version: 2, .. }), "{step:?} after v{first}");
        let step = h.on_response(frame(2, &ok_response())).unwrap();
        assert!(matches!(step, Step::Done(_)));
    }

    #[test]
    fn unsupported_version_without_ranges_falls_back_to_v0() {
        let mut h = Handshake::new(broker(), "n", "v");
        h.start();
        let reject =
            ApiVersionsResponse { error_code: ErrorCode::UnsupportedVersion.code(), ..Default::default() };
        assert!(matches!(h.on_response(frame(0, &reject)).unwrap(), Step::Send { version: 0, .. }));
        // A second rejection at v0 cannot lower the version further: fail, do not loop.
        let e = h.on_response(frame(0, &reject)).unwrap_err();
        assert!(e.to_string().contains("cannot fall back"), "{e}");
    }

    #[test]
    fn other_errors_and_garbage_fail_with_context() {
        let mut h = Handshake::new(broker(), "n", "v");
        h.start();
        let bad = ApiVersionsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
        let e = h.on_response(frame(0, &bad)).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::ClusterAuthorizationFailed));
        let mut h = Handshake::new(broker(), "n", "v");
        h.start();
        let e = h.on_response(Bytes::from_static(&[0, 0, 0, 1, 0])).unwrap_err();
        assert!(matches!(e, Error::Protocol { api: Some(ApiKey::ApiVersions), .. }), "{e}");
        // A response after completion is an illegal transition.
        assert!(h.on_response(frame(0, &ok_response())).is_err());
    }
}
