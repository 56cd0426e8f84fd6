//! Client quotas: describe and alter (any broker; KRaft forwards alterations to the
//! controller). An entity is a set of (type, name) pairs: `user`, `client-id`, `ip`; a `None`
//! name is that type's default.

use std::collections::BTreeMap;

use kafka_protocol::generated::{
    AlterClientQuotasRequest, DescribeClientQuotasRequest, alter_client_quotas_request,
    describe_client_quotas_request::ComponentData,
};

use crate::AdminClient;
use crate::error::{Error, Result};

/// A quota entity (Java's `ClientQuotaEntity`): entity type (`user`, `client-id`, `ip`) → name
/// (`None`: the default entity of that type).
pub type ClientQuotaEntity = BTreeMap<String, Option<String>>;

/// How a filter component matches (Java's `ClientQuotaFilterComponent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// Exactly this name.
    Exact(String),
    /// The type's default entity.
    Default,
    /// Any name of the type (including the default).
    Any,
}

/// One filter component: an entity type and how its name matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientQuotaFilterComponent {
    /// `user`, `client-id` or `ip`.
    pub entity_type: String,
    /// The match.
    pub matching: QuotaMatch,
}

/// Changes to one entity's quotas (Java's `ClientQuotaAlteration`): key → new value, or `None`
/// to remove the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientQuotaAlteration {
    /// The entity.
    pub entity: ClientQuotaEntity,
    /// Key (e.g. `producer_byte_rate`) → value or removal.
    pub ops: BTreeMap<String, Option<f64>>,
}

fn entity_item(e: &ClientQuotaEntity) -> String {
    let parts: Vec<String> =
        e.iter().map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>"))).collect();
    format!("quota entity {}", parts.join(","))
}

impl AdminClient {
    /// The quotas of the entities matching all `components` (`strict`: only entities with no
    /// other entity types). Entity → key → value.
    pub async fn describe_client_quotas(
        &self,
        components: &[ClientQuotaFilterComponent],
        strict: bool,
    ) -> Result<BTreeMap<ClientQuotaEntity, BTreeMap<String, f64>>> {
        let r = self
            .to_any("DescribeClientQuotas", |_| DescribeClientQuotasRequest {
                components: components
                    .iter()
                    .map(|c| {
                        let (match_type, match_) = match &c.matching {
                            QuotaMatch::Exact(n) => (0, Some(n.clone())),
                            QuotaMatch::Default => (1, None),
                            QuotaMatch::Any => (2, None),
                        };
                        ComponentData {
                            entity_type: c.entity_type.clone(),
                            match_type,
                            match_,
                            ..Default::default()
                        }
                    })
                    .collect(),
                strict,
                ..Default::default()
            })
            .await?;
        if let Some(e) = Error::item("DescribeClientQuotas", "client quotas", r.error_code, r.error_message) {
            return Err(e);
        }
        Ok(r.entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let entity = e.entity.into_iter().map(|d| (d.entity_type, d.entity_name)).collect();
                let values = e.values.into_iter().map(|v| (v.key, v.value)).collect();
                (entity, values)
            })
            .collect())
    }

    /// Sets or removes quota keys; one result per entity.
    pub async fn alter_client_quotas(
        &self,
        alterations: &[ClientQuotaAlteration],
        validate_only: bool,
    ) -> Result<BTreeMap<ClientQuotaEntity, Result<()>>> {
        let r = self
            .to_any("AlterClientQuotas", |_| AlterClientQuotasRequest {
                entries: alterations
                    .iter()
                    .map(|a| alter_client_quotas_request::EntryData {
                        entity: a
                            .entity
                            .iter()
                            .map(|(t, n)| alter_client_quotas_request::EntityData {
                                entity_type: t.clone(),
                                entity_name: n.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        ops: a
                            .ops
                            .iter()
                            .map(|(k, v)| alter_client_quotas_request::OpData {
                                key: k.clone(),
                                value: v.unwrap_or(0.0),
                                remove: v.is_none(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                validate_only,
                ..Default::default()
            })
            .await?;
        let mut out = BTreeMap::new();
        for e in r.entries {
            let entity: ClientQuotaEntity =
                e.entity.into_iter().map(|d| (d.entity_type, d.entity_name)).collect();
            let res = Error::item("AlterClientQuotas", entity_item(&entity), e.error_code, e.error_message);
            out.insert(entity, res.map_or(Ok(()), Err));
        }
        for a in alterations {
            if !out.contains_key(&a.entity) {
                let e =
                    Error::Invalid(format!("AlterClientQuotas: no result for {}", entity_item(&a.entity)));
                out.insert(a.entity.clone(), Err(e));
            }
        }
        Ok(out)
    }
}
