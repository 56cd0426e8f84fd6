//! ApiVersions (key 18): the ranges this broker serves, the KIP-511 client software check, and
//! the features (`metadata.version`, `transaction.version` from the cluster's settings).

use kafka_protocol::ApiKey;
use kafka_protocol::generated::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::generated::{ApiVersionsRequest, ApiVersionsResponse};

use super::{Ctx, supported_versions};

/// Every API the broker serves with its version range.
pub fn advertised() -> Vec<ApiVersion> {
    ApiKey::ALL
        .iter()
        .filter_map(|&api| {
            supported_versions(api).map(|r| ApiVersion {
                api_key: api.key(),
                min_version: r.min,
                max_version: r.max,
                ..Default::default()
            })
        })
        .collect()
}

fn valid_software_field(s: &str) -> bool {
    // KIP-511: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
    let b = s.as_bytes();
    let edge = |c: u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && edge(b[0])
        && edge(b[b.len() - 1])
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse { api_keys: advertised(), ..Default::default() };
    if ctx.version >= 3
        && (!valid_software_field(&req.client_software_name)
            || !valid_software_field(&req.client_software_version))
    {
        resp.error_code = kafka_protocol::ErrorCode::InvalidRequest.code();
        return resp;
    }
    if ctx.version >= 3 {
        let tv = ctx.shared.state().settings.transaction_version;
        let feature = |name: &str, max: i16| SupportedFeatureKey {
            name: name.into(),
            min_version: if name == "metadata.version" { 1 } else { 0 },
            max_version: max,
            ..Default::default()
        };
        resp.supported_features = vec![feature("metadata.version", 21), feature("transaction.version", 2)];
        resp.finalized_features_epoch = 1;
        let finalized = |name: &str, level: i16| FinalizedFeatureKey {
            name: name.into(),
            max_version_level: level,
            min_version_level: level,
            ..Default::default()
        };
        resp.finalized_features = vec![finalized("metadata.version", 21)];
        // Kafka lists a feature only while its level is above 0
        if tv > 0 {
            resp.finalized_features.push(finalized("transaction.version", tv));
        }
    }
    resp
}
