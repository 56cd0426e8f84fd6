//! The admin client's ACL, client-quota and SCRAM-credential operations against real Kafka
//! (the test broker serves none of these APIs: there each call must fail at once, naming the
//! API). ACLs need an authorizer: without one the broker's SECURITY_DISABLED error must come
//! back per call and per binding; run-suite.sh with
//! `KAFKA_EXTRA_PROPS=$'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\nsuper.users=User:ANONYMOUS'`
//! exercises the full path.

use std::collections::BTreeMap;

use integration_tests::{eventually, target, unique_topic};
use kafka_admin::*;
use kafka_protocol::ErrorCode;

fn code<T: std::fmt::Debug>(r: &Result<T>) -> ErrorCode {
    match r {
        Err(Error::Item { code, .. }) => *code,
        other => panic!("expected a per-item error, got {other:?}"),
    }
}

fn unsupported<T: std::fmt::Debug>(r: Result<T>) {
    assert!(matches!(&r, Err(Error::Client(kafka_client::Error::UnsupportedApi { .. }))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_created_described_and_deleted() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    if t.real_only("acls_are_created_described_and_deleted").is_none() {
        unsupported(a.describe_acls(&AclBindingFilter::ANY).await);
        return;
    }
    let topic = unique_topic("it-admin-acl");
    let read = AclBinding {
        resource_type: AclResourceType::Topic,
        resource_name: topic.clone(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermissionType::Allow,
    };
    let write =
        AclBinding { operation: AclOperation::Write, permission: AclPermissionType::Deny, ..read.clone() };
    let filter = AclBindingFilter {
        resource_type: AclResourceType::Topic,
        resource_name: Some(topic.clone()),
        pattern_type: PatternType::Literal,
        ..AclBindingFilter::ANY
    };
    let created = a.create_acls(&[read.clone(), write.clone()]).await.unwrap();
    let described = a.describe_acls(&filter).await;
    if matches!(&described, Err(Error::Item { code: ErrorCode::SecurityDisabled, .. })) {
        eprintln!("the cluster has no authorizer: checking SECURITY_DISABLED only");
        assert!(described.unwrap_err().to_string().contains("DescribeAcls"));
        assert_eq!(code(&created[&read]), ErrorCode::SecurityDisabled, "{created:?}");
        assert!(created[&read].as_ref().unwrap_err().to_string().contains(&topic), "names the binding");
        let del = a.delete_acls(std::slice::from_ref(&filter)).await.unwrap();
        assert_eq!(code(&del[&filter]), ErrorCode::SecurityDisabled);
        return;
    }
    assert!(created.values().all(|r| r.is_ok()), "{created:?}");
    let mut want = vec![read.clone(), write.clone()];
    want.sort();
    eventually("the ACLs are visible", || async {
        (a.describe_acls(&filter).await.unwrap() == want).then_some(())
    })
    .await;
    let only_deny = AclBindingFilter { permission: AclPermissionType::Deny, ..filter.clone() };
    assert_eq!(a.describe_acls(&only_deny).await.unwrap(), std::slice::from_ref(&write));

    let del = a.delete_acls(std::slice::from_ref(&only_deny)).await.unwrap();
    assert_eq!(del[&only_deny].as_ref().unwrap(), std::slice::from_ref(&write));
    eventually("the deleted ACL is gone", || async {
        (a.describe_acls(&filter).await.unwrap() == [read.clone()]).then_some(())
    })
    .await;
    let del = a.delete_acls(std::slice::from_ref(&filter)).await.unwrap();
    assert_eq!(del[&filter].as_ref().unwrap(), &[read]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_quotas_are_altered_and_described() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    if t.real_only("client_quotas_are_altered_and_described").is_none() {
        unsupported(a.describe_client_quotas(&[], false).await);
        return;
    }
    let user = unique_topic("quota-user");
    let entity: ClientQuotaEntity = [("user".to_string(), Some(user.clone()))].into();
    let set = ClientQuotaAlteration {
        entity: entity.clone(),
        ops: [
            ("producer_byte_rate".to_string(), Some(1024.0)),
            ("consumer_byte_rate".to_string(), Some(2048.0)),
        ]
        .into(),
    };
    let bad_entity: ClientQuotaEntity = [("user".to_string(), Some(format!("{user}-bad")))].into();
    let bad = ClientQuotaAlteration {
        entity: bad_entity.clone(),
        ops: [("no_such_quota".to_string(), Some(1.0))].into(),
    };
    let r = a.alter_client_quotas(std::slice::from_ref(&set), true).await.unwrap();
    assert!(r[&entity].is_ok(), "{r:?}");
    let r = a.alter_client_quotas(&[set, bad], false).await.unwrap();
    assert!(r[&entity].is_ok(), "{r:?}");
    let e = r[&bad_entity].as_ref().unwrap_err();
    assert!(e.to_string().contains(&format!("{user}-bad")), "the error names the entity: {e}");

    let filter = [ClientQuotaFilterComponent {
        entity_type: "user".into(),
        matching: QuotaMatch::Exact(user.clone()),
    }];
    let want: BTreeMap<String, f64> =
        [("consumer_byte_rate".to_string(), 2048.0), ("producer_byte_rate".to_string(), 1024.0)].into();
    eventually("the quotas are visible", || async {
        let d = a.describe_client_quotas(&filter, true).await.unwrap();
        (d.get(&entity) == Some(&want) && d.len() == 1).then_some(())
    })
    .await;
    let remove = ClientQuotaAlteration {
        entity: entity.clone(),
        ops: [("producer_byte_rate".to_string(), None)].into(),
    };
    assert!(a.alter_client_quotas(&[remove], false).await.unwrap()[&entity].is_ok());
    eventually("one quota is removed", || async {
        let d = a.describe_client_quotas(&filter, true).await.unwrap();
        (d.get(&entity).map(|v| v.len()) == Some(1) && d[&entity]["consumer_byte_rate"] == 2048.0)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_are_upserted_described_and_deleted() {
    let Some(t) = target(1).await else { return };
    let a = AdminClient::from_pairs([("bootstrap.servers", t.bootstrap())]).unwrap();
    if t.real_only("scram_credentials_are_upserted_described_and_deleted").is_none() {
        unsupported(a.describe_user_scram_credentials(None).await);
        return;
    }
    let user = unique_topic("scram-user");
    let weak = unique_topic("scram-weak");
    let upsert = |u: &str, mechanism, iterations| UserScramCredentialAlteration::Upsert {
        user: u.to_owned(),
        mechanism,
        iterations,
        password: "secret".into(),
    };
    let r = a
        .alter_user_scram_credentials(&[
            upsert(&user, ScramMechanism::ScramSha256, 8192),
            upsert(&weak, ScramMechanism::ScramSha256, 10),
        ])
        .await
        .unwrap();
    assert!(r[&user].is_ok(), "{r:?}");
    assert!(r[&weak].as_ref().unwrap_err().to_string().contains(&weak), "too few iterations: {r:?}");
    // Kafka alters a user once per request
    let twice =
        [upsert(&user, ScramMechanism::ScramSha512, 4096), upsert(&user, ScramMechanism::ScramSha256, 4096)];
    let r = a.alter_user_scram_credentials(&twice).await.unwrap();
    assert_eq!(code(&r[&user]), ErrorCode::DuplicateResource, "{r:?}");
    let r = a.alter_user_scram_credentials(&twice[..1]).await.unwrap();
    assert!(r[&user].is_ok(), "{r:?}");
    let missing = unique_topic("scram-nobody");
    eventually("the credentials are visible", || async {
        let d = a.describe_user_scram_credentials(Some(&[user.as_str(), missing.as_str()])).await.unwrap();
        assert_eq!(code(&d[&missing]), ErrorCode::ResourceNotFound);
        let mut infos = d[&user].as_ref().ok()?.clone();
        infos.sort_by_key(|i| i.mechanism);
        let want = [
            ScramCredentialInfo { mechanism: ScramMechanism::ScramSha256, iterations: 8192 },
            ScramCredentialInfo { mechanism: ScramMechanism::ScramSha512, iterations: 4096 },
        ];
        (infos == want).then_some(())
    })
    .await;
    let all = a.describe_user_scram_credentials(None).await.unwrap();
    assert!(all.contains_key(&user) && !all.contains_key(&weak), "{all:?}");

    for mechanism in [ScramMechanism::ScramSha256, ScramMechanism::ScramSha512] {
        let del = UserScramCredentialAlteration::Delete { user: user.clone(), mechanism };
        let r = a.alter_user_scram_credentials(&[del]).await.unwrap();
        assert!(r[&user].is_ok(), "{r:?}");
    }
    eventually("the credentials are gone", || async {
        let d = a.describe_user_scram_credentials(Some(&[user.as_str()])).await.unwrap();
        // until every broker has the deletion, some still describe the credentials
        matches!(&d[&user], Err(Error::Item { code: ErrorCode::ResourceNotFound, .. })).then_some(())
    })
    .await;
}
