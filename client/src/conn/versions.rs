//! Per-API version negotiation: the highest version both this client and the broker support.

use std::collections::BTreeMap;

use kafka_protocol::{ApiKey, VersionRange, generated::ApiVersionsResponse};

use crate::error::{BrokerRef, Error, Result};

/// The versions of `api` this client speaks: the codec's range, minus the newest version when
/// Kafka still marks it unstable (as the Java client does unless told otherwise).
pub fn client_versions(api: ApiKey) -> VersionRange {
    let mut r = api.versions();
    if api.latest_version_unstable() && r.max > r.min {
        r.max -= 1;
    }
    r
}

/// What a broker advertised in ApiVersions, and the version to use per API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersions {
    broker: BTreeMap<i16, VersionRange>,
    /// Cluster-wide finalized features (ApiVersions v3+): name → max version level.
    finalized: BTreeMap<String, i16>,
    /// The epoch of `finalized` (-1: unknown or not reported).
    finalized_epoch: i64,
}

impl ApiVersions {
    /// The broker's ranges from an ApiVersions response.
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let broker = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, VersionRange { min: k.min_version, max: k.max_version }))
            .collect();
        let finalized =
            resp.finalized_features.iter().map(|f| (f.name.clone(), f.max_version_level)).collect();
        ApiVersions { broker, finalized, finalized_epoch: resp.finalized_features_epoch }
    }

    /// The finalized max version level of cluster feature `name` (e.g. `transaction.version`),
    /// `None` when the broker did not report it (older brokers, ApiVersions below v3, or a
    /// level of 0, which Kafka leaves out).
    pub fn finalized_feature(&self, name: &str) -> Option<i16> {
        self.finalized.get(name).copied()
    }

    /// The epoch of the finalized features (-1 when unknown); a higher epoch is newer.
    pub fn finalized_features_epoch(&self) -> i64 {
        self.finalized_epoch
    }

    /// The broker's advertised range for `api` (`None`: not offered).
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.broker.get(&api.key()).copied()
    }

    /// The highest version both sides support, if any.
    pub fn version(&self, api: ApiKey) -> Option<i16> {
        self.broker_range(api).and_then(|b| b.intersect(&client_versions(api))).map(|r| r.max)
    }

    /// Whether `version` of `api` is usable with this broker.
    pub fn supports(&self, api: ApiKey, version: i16) -> bool {
        self.broker_range(api)
            .and_then(|b| b.intersect(&client_versions(api)))
            .is_some_and(|r| r.contains(version))
    }

    /// [`ApiVersions::version`], or an error naming the API and the broker.
    pub fn require(&self, api: ApiKey, broker: &BrokerRef) -> Result<i16> {
        self.version(api).ok_or_else(|| Error::UnsupportedApi {
            api,
            broker: broker.clone(),
            client: client_versions(api),
            broker_range: self.broker_range(api),
        })
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::generated::api_versions_response::ApiVersion;

    use super::*;

    fn resp(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse {
            api_keys: ranges
                .iter()
                .map(|(k, min, max)| ApiVersion {
                    api_key: k.key(),
                    min_version: *min,
                    max_version: *max,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn highest_common_version() {
        let ours = client_versions(ApiKey::Metadata).max;
        let v = ApiVersions::from_response(&resp(&[
            (ApiKey::Metadata, 0, 99),
            (ApiKey::Fetch, 4, 7),
            (ApiKey::Produce, 50, 60),
        ]));
        assert_eq!(v.version(ApiKey::Metadata), Some(ours), "capped by the client");
        assert_eq!(v.version(ApiKey::Fetch), Some(7), "capped by the broker");
        assert!(v.supports(ApiKey::Fetch, 4) && !v.supports(ApiKey::Fetch, 3));
        assert_eq!(v.version(ApiKey::Produce), None, "disjoint ranges");
        let b = BrokerRef { id: 1, addr: "h:1".into() };
        let e = v.require(ApiKey::Produce, &b).unwrap_err().to_string();
        assert!(e.contains("does not support Produce") && e.contains("broker 1"), "{e}");
        let e = v.require(ApiKey::FindCoordinator, &b).unwrap_err();
        assert!(matches!(e, Error::UnsupportedApi { broker_range: None, api: ApiKey::FindCoordinator, .. }));
    }

    #[test]
    fn finalized_features_are_kept() {
        use kafka_protocol::generated::api_versions_response::FinalizedFeatureKey;
        let mut r = resp(&[]);
        assert_eq!(ApiVersions::from_response(&r).finalized_feature("transaction.version"), None);
        r.finalized_features_epoch = 7;
        r.finalized_features = vec![FinalizedFeatureKey {
            name: "transaction.version".into(),
            max_version_level: 2,
            min_version_level: 2,
            ..Default::default()
        }];
        let v = ApiVersions::from_response(&r);
        assert_eq!(v.finalized_feature("transaction.version"), Some(2));
        assert_eq!(v.finalized_features_epoch(), 7);
        assert_eq!(v.finalized_feature("metadata.version"), None);
    }

    #[test]
    fn unstable_latest_versions_are_not_used() {
        for api in ApiKey::ALL.iter().filter(|a| a.latest_version_unstable()) {
            let r = api.versions();
            assert_eq!(client_versions(*api).max, if r.max > r.min { r.max - 1 } else { r.max }, "{api:?}");
        }
        assert_eq!(client_versions(ApiKey::EndTxn).max, 5, "EndTxn v5 is stable since Kafka 4.0");
        assert_eq!(client_versions(ApiKey::Metadata), ApiKey::Metadata.versions());
    }
}
