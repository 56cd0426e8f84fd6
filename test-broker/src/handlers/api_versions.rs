//! ApiVersions (key 18): the ranges this broker serves, and the KIP-511 client software check.

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
        resp.supported_features = vec![SupportedFeatureKey {
            name: "metadata.version".into(),
            min_version: 1,
            max_version: 21,
            ..Default::default()
        }];
        resp.finalized_features_epoch = 1;
        resp.finalized_features = vec![FinalizedFeatureKey {
            name: "metadata.version".into(),
            max_version_level: 21,
            min_version_level: 21,
            ..Default::default()
        }];
    }
    resp
}
