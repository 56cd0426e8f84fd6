//! ACLs: describe, create, delete (any broker; KRaft forwards writes to the controller). A
//! cluster without an authorizer answers every call with `SECURITY_DISABLED`.

use std::collections::BTreeMap;

use kafka_protocol::generated::{
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, create_acls_request::AclCreation,
    delete_acls_request::DeleteAclsFilter,
};

use crate::AdminClient;
use crate::error::{Error, Result};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $v,)*
            /// A value this client does not know (wire value).
            Other(i8),
        }
        impl $name {
            pub(crate) fn wire(self) -> i8 {
                match self { $($name::$v => $n,)* $name::Other(v) => v }
            }
            pub(crate) fn from_wire(v: i8) -> Self {
                match v { $($n => $name::$v,)* v => $name::Other(v) }
            }
        }
    };
}

wire_enum!(
    /// What an ACL protects (Java's `ResourceType`).
    AclResourceType {
        /// Filters only: any type.
        Any = 1,
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster.
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
        /// A delegation token.
        DelegationToken = 6,
        /// A user.
        User = 7,
    }
);

wire_enum!(
    /// How an ACL's resource name matches (Java's `PatternType`).
    PatternType {
        /// Filters only: any pattern type.
        Any = 1,
        /// Filters only: whatever would apply to the named resource (literal, prefixes, `*`).
        Match = 2,
        /// The exact name (or `*` for all).
        Literal = 3,
        /// Every name starting with it.
        Prefixed = 4,
    }
);

wire_enum!(
    /// What an ACL allows or denies (Java's `AclOperation`).
    AclOperation {
        /// Filters only: any operation.
        Any = 1,
        /// Every operation.
        All = 2,
        /// Read.
        Read = 3,
        /// Write.
        Write = 4,
        /// Create.
        Create = 5,
        /// Delete.
        Delete = 6,
        /// Alter.
        Alter = 7,
        /// Describe.
        Describe = 8,
        /// Inter-broker actions.
        ClusterAction = 9,
        /// Describe configs.
        DescribeConfigs = 10,
        /// Alter configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
        /// Create delegation tokens.
        CreateTokens = 13,
        /// Describe delegation tokens.
        DescribeTokens = 14,
        /// Two-phase commit (KIP-939).
        TwoPhaseCommit = 15,
    }
);

wire_enum!(
    /// Allow or deny (Java's `AclPermissionType`).
    AclPermissionType {
        /// Filters only: either.
        Any = 1,
        /// Deny.
        Deny = 2,
        /// Allow.
        Allow = 3,
    }
);

/// One ACL (Java's `AclBinding`: a resource pattern and an access control entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// Resource type.
    pub resource_type: AclResourceType,
    /// Resource name (`*` for all).
    pub resource_name: String,
    /// Pattern type.
    pub pattern_type: PatternType,
    /// Principal, e.g. `User:alice`.
    pub principal: String,
    /// Host (`*` for any).
    pub host: String,
    /// Operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermissionType,
}

/// Which ACLs to describe or delete (Java's `AclBindingFilter`); `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBindingFilter {
    /// Resource type (`Any` for all).
    pub resource_type: AclResourceType,
    /// Resource name.
    pub resource_name: Option<String>,
    /// Pattern type (`Any`, `Match`, or exact).
    pub pattern_type: PatternType,
    /// Principal.
    pub principal: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Operation (`Any` for all).
    pub operation: AclOperation,
    /// Permission (`Any` for both).
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub const ANY: AclBindingFilter = AclBindingFilter {
        resource_type: AclResourceType::Any,
        resource_name: None,
        pattern_type: PatternType::Any,
        principal: None,
        host: None,
        operation: AclOperation::Any,
        permission: AclPermissionType::Any,
    };
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "acl ({:?} {:?} {}: {} {:?} {:?} from {})",
            self.pattern_type,
            self.resource_type,
            self.resource_name,
            self.principal,
            self.permission,
            self.operation,
            self.host
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn binding(rt: i8, name: String, pt: i8, principal: String, host: String, op: i8, perm: i8) -> AclBinding {
    AclBinding {
        resource_type: AclResourceType::from_wire(rt),
        resource_name: name,
        pattern_type: PatternType::from_wire(pt),
        principal,
        host,
        operation: AclOperation::from_wire(op),
        permission: AclPermissionType::from_wire(perm),
    }
}

impl AdminClient {
    /// The ACLs matching `filter`.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let r = self
            .to_any("DescribeAcls", |_| DescribeAclsRequest {
                resource_type_filter: filter.resource_type.wire(),
                resource_name_filter: filter.resource_name.clone(),
                pattern_type_filter: filter.pattern_type.wire(),
                principal_filter: filter.principal.clone(),
                host_filter: filter.host.clone(),
                operation: filter.operation.wire(),
                permission_type: filter.permission.wire(),
                ..Default::default()
            })
            .await?;
        if let Some(e) = Error::item("DescribeAcls", "acls", r.error_code, r.error_message) {
            return Err(e);
        }
        let mut out: Vec<AclBinding> = r
            .resources
            .into_iter()
            .flat_map(|res| {
                res.acls.into_iter().map(move |a| {
                    binding(
                        res.resource_type,
                        res.resource_name.clone(),
                        res.pattern_type,
                        a.principal,
                        a.host,
                        a.operation,
                        a.permission_type,
                    )
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Creates ACLs; one result per binding.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<BTreeMap<AclBinding, Result<()>>> {
        let r = self
            .to_any("CreateAcls", |_| CreateAclsRequest {
                creations: bindings
                    .iter()
                    .map(|b| AclCreation {
                        resource_type: b.resource_type.wire(),
                        resource_name: b.resource_name.clone(),
                        resource_pattern_type: b.pattern_type.wire(),
                        principal: b.principal.clone(),
                        host: b.host.clone(),
                        operation: b.operation.wire(),
                        permission_type: b.permission.wire(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        // results come in request order
        let mut results = r.results.into_iter();
        Ok(bindings
            .iter()
            .map(|b| {
                let res = match results.next() {
                    Some(x) => Error::item("CreateAcls", b.to_string(), x.error_code, x.error_message)
                        .map_or(Ok(()), Err),
                    None => Err(Error::Invalid(format!("CreateAcls: no result for {b}"))),
                };
                (b.clone(), res)
            })
            .collect())
    }

    /// Deletes the ACLs matching each filter; one result per filter, with the ACLs it deleted.
    pub async fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
    ) -> Result<BTreeMap<AclBindingFilter, Result<Vec<AclBinding>>>> {
        let r = self
            .to_any("DeleteAcls", |_| DeleteAclsRequest {
                filters: filters
                    .iter()
                    .map(|f| DeleteAclsFilter {
                        resource_type_filter: f.resource_type.wire(),
                        resource_name_filter: f.resource_name.clone(),
                        pattern_type_filter: f.pattern_type.wire(),
                        principal_filter: f.principal.clone(),
                        host_filter: f.host.clone(),
                        operation: f.operation.wire(),
                        permission_type: f.permission.wire(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        let mut results = r.filter_results.into_iter();
        let mut out = BTreeMap::new();
        for f in filters {
            let res = match results.next() {
                None => Err(Error::Invalid(format!("DeleteAcls: no result for filter {f:?}"))),
                Some(x) => {
                    match Error::item("DeleteAcls", format!("filter {f:?}"), x.error_code, x.error_message) {
                        Some(e) => Err(e),
                        None => {
                            let mut deleted = Vec::new();
                            let mut failed = None;
                            for m in x.matching_acls {
                                let b = binding(
                                    m.resource_type,
                                    m.resource_name,
                                    m.pattern_type,
                                    m.principal,
                                    m.host,
                                    m.operation,
                                    m.permission_type,
                                );
                                match Error::item("DeleteAcls", b.to_string(), m.error_code, m.error_message)
                                {
                                    Some(e) => failed = failed.or(Some(e)),
                                    None => deleted.push(b),
                                }
                            }
                            failed.map_or(Ok(deleted), Err)
                        }
                    }
                }
            };
            out.insert(f.clone(), res);
        }
        Ok(out)
    }
}
