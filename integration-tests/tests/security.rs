//! TLS and SASL against real Kafka: produce and consume over SASL PLAIN, SCRAM-SHA-256 and
//! SCRAM-SHA-512 with and without TLS, OAUTHBEARER (unsecured JWS), mutual TLS, re-authentication
//! (KIP-368), and the failures (wrong password, unknown mechanism, host name mismatch, untrusted
//! CA, missing client certificate), each fast and naming the broker and the cause.
//!
//! Needs a cluster started with `KAFKA_SECURITY=1` (see `real-kafka/kafka.sh`):
//!
//! ```text
//! KAFKA_SECURITY=1 integration-tests/real-kafka/run-suite.sh -- \
//!     cargo test -p integration-tests --test security -- --test-threads=1
//! ```
//!
//! The secured listeners come from `KAFKA_SASL_SSL_BOOTSTRAP`, `KAFKA_SASL_PLAINTEXT_BOOTSTRAP`,
//! `KAFKA_SSL_BOOTSTRAP` and `KAFKA_TLS_DIR`, or else from the state file of the cluster in
//! `KAFKA_CLUSTER_DIR` (which run-suite.sh sets). Without them every test prints why it is
//! skipped.

use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use integration_tests::{eventually, unique_topic};
use kafka_admin::{AdminClient, ScramMechanism, UserScramCredentialAlteration};
use kafka_client::{ClientConfig, Error, NetworkClient, Purpose};
use kafka_consumer::{Consumer, TopicPartition};
use kafka_producer::{Producer, ProducerRecord};
use kafka_protocol::{ErrorCode, generated::MetadataRequest};

/// The secured listeners of the cluster under test.
struct Secured {
    sasl_ssl: String,
    sasl_plaintext: String,
    ssl: String,
    tls_dir: PathBuf,
}

impl Secured {
    fn ca(&self) -> String {
        self.tls_dir.join("ca.pem").display().to_string()
    }
}

fn secured(test: &str) -> Option<Secured> {
    let state: HashMap<String, String> = std::env::var("KAFKA_CLUSTER_DIR")
        .ok()
        .and_then(|d| std::fs::read_to_string(PathBuf::from(d).join("state")).ok())
        .map(|s| s.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
        .unwrap_or_default();
    let get = |env: &str, key: &str| std::env::var(env).ok().or_else(|| state.get(key).cloned());
    match (
        get("KAFKA_SASL_SSL_BOOTSTRAP", "sasl_ssl_bootstrap"),
        get("KAFKA_SASL_PLAINTEXT_BOOTSTRAP", "sasl_plaintext_bootstrap"),
        get("KAFKA_SSL_BOOTSTRAP", "ssl_bootstrap"),
        get("KAFKA_TLS_DIR", "tls_dir"),
    ) {
        (Some(sasl_ssl), Some(sasl_plaintext), Some(ssl), Some(tls)) => {
            Some(Secured { sasl_ssl, sasl_plaintext, ssl, tls_dir: tls.into() })
        }
        _ => {
            eprintln!(
                "skipped: {test} needs a real cluster with secured listeners \
                 (KAFKA_SECURITY=1 integration-tests/real-kafka/run-suite.sh; KAFKA_SASL_SSL_BOOTSTRAP unset)"
            );
            None
        }
    }
}

type Props = Vec<(&'static str, String)>;

fn jaas(module: &str, user: &str, password: &str) -> String {
    format!("org.apache.kafka.common.security.{module} required username=\"{user}\" password=\"{password}\";")
}

fn sasl(s: &Secured, tls: bool, mechanism: &str, user: &str, password: &str) -> Props {
    let module = if mechanism == "PLAIN" { "plain.PlainLoginModule" } else { "scram.ScramLoginModule" };
    let mut p =
        vec![("sasl.mechanism", mechanism.to_string()), ("sasl.jaas.config", jaas(module, user, password))];
    if tls {
        p.extend([
            ("bootstrap.servers", s.sasl_ssl.clone()),
            ("security.protocol", "SASL_SSL".into()),
            ("ssl.truststore.location", s.ca()),
        ]);
    } else {
        p.extend([
            ("bootstrap.servers", s.sasl_plaintext.clone()),
            ("security.protocol", "SASL_PLAINTEXT".into()),
        ]);
    }
    p
}

/// A SCRAM user of the test's own, made through AlterUserScramCredentials with both hashes and
/// returned with its password once every broker accepts both on the SASL_PLAINTEXT listener.
/// Credentials reach each broker asynchronously from the metadata log, so a fresh user is waited
/// for broker by broker; a broker that never accepts it fails the test naming that broker.
/// (The credentials kafka.sh bootstraps at format time were once rejected by a 3-node cluster's
/// broker that an earlier test had killed and restarted, and that could not be reproduced.)
async fn scram_user(s: &Secured, label: &str) -> (String, String) {
    let user = unique_topic(&format!("scram-{label}"));
    let password = format!("{user}-secret");
    let admin = AdminClient::from_pairs(sasl(s, false, "PLAIN", "alice", "alice-secret")).unwrap();
    // Kafka alters a user once per request: one request per mechanism.
    for mechanism in [ScramMechanism::ScramSha256, ScramMechanism::ScramSha512] {
        let upsert = UserScramCredentialAlteration::Upsert {
            user: user.clone(),
            mechanism,
            iterations: 4096,
            password: password.clone(),
        };
        let r = admin.alter_user_scram_credentials(&[upsert]).await.unwrap();
        if let Err(e) = &r[&user] {
            panic!("creating {user} ({mechanism:?}): {e}");
        }
    }
    for broker in s.sasl_plaintext.split(',') {
        for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            let mut p = sasl(s, false, m, &user, &password);
            p.retain(|(k, _)| *k != "bootstrap.servers");
            p.push(("bootstrap.servers", broker.to_string()));
            let config =
                ClientConfig::from_properties(&p.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            let config = config.unwrap();
            eventually(&format!("broker {broker} accepting {m} for {user}"), || {
                let pool = NetworkClient::new(config.clone());
                async move { pool.connection(-1, Purpose::Admin).await.ok().map(|_| ()) }
            })
            .await;
        }
    }
    (user, password)
}

/// Produces five records with `props` and consumes them back with the same security settings.
async fn produce_and_consume(props: Props, label: &str) {
    let run = async {
        let topic = unique_topic(&format!("it-sec-{label}"));
        let producer = Producer::from_pairs(props.clone()).unwrap();
        let mut sent = Vec::new();
        for i in 0..5 {
            let value = format!("{label}-{i}");
            let r = producer.send(ProducerRecord::new(topic.clone()).partition(0).value(value.clone())).await;
            r.unwrap_or_else(|e| panic!("{label}: send {i}: {e}"));
            sent.push(value);
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
        let mut props = props;
        props.push(("auto.offset.reset", "earliest".into()));
        let mut consumer = Consumer::from_pairs(props).unwrap();
        consumer.assign([TopicPartition::new(topic.clone(), 0)]);
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let records =
                consumer.poll(Duration::from_secs(1)).await.unwrap_or_else(|e| panic!("{label}: {e}"));
            got.extend(records.into_iter().map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()));
        }
        assert_eq!(got, sent, "{label}");
    };
    tokio::time::timeout(Duration::from_secs(90), run).await.unwrap_or_else(|_| panic!("{label}: hung"));
}

/// The error of a first connection with `props`, which must come within `request.timeout.ms`.
async fn connect_error(props: Props) -> Error {
    let mut p: Vec<(String, String)> = props.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    p.push(("request.timeout.ms".into(), "10000".into()));
    let config = ClientConfig::from_properties(&p.into_iter().collect()).unwrap();
    let pool = NetworkClient::new(config);
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), pool.connection(-1, Purpose::Admin)).await;
    let e = r.expect("a failure must come within request.timeout.ms, not hang").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!e.is_retriable(), "{e}");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_plain_and_scram_produce_and_consume() {
    let Some(s) = secured("sasl_ssl_plain_and_scram_produce_and_consume") else { return };
    let (user, password) = scram_user(&s, "ssl").await;
    produce_and_consume(sasl(&s, true, "PLAIN", "alice", "alice-secret"), "ssl-PLAIN").await;
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        produce_and_consume(sasl(&s, true, m, &user, &password), &format!("ssl-{m}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plaintext_plain_and_scram_produce_and_consume() {
    let Some(s) = secured("sasl_plaintext_plain_and_scram_produce_and_consume") else { return };
    let (user, password) = scram_user(&s, "plain").await;
    produce_and_consume(sasl(&s, false, "PLAIN", "alice", "alice-secret"), "plain-PLAIN").await;
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        produce_and_consume(sasl(&s, false, m, &user, &password), &format!("plain-{m}")).await;
    }
    // sasl.username / sasl.password (librdkafka's names) instead of JAAS.
    let p = vec![
        ("bootstrap.servers", s.sasl_plaintext.clone()),
        ("security.protocol", "SASL_PLAINTEXT".into()),
        ("sasl.mechanism", "PLAIN".into()),
        ("sasl.username", "bob".into()),
        ("sasl.password", "bob-secret".into()),
    ];
    produce_and_consume(p, "plain-aliases").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauthbearer_unsecured_jws_over_sasl_ssl() {
    let Some(s) = secured("oauthbearer_unsecured_jws_over_sasl_ssl") else { return };
    let p = vec![
        ("bootstrap.servers", s.sasl_ssl.clone()),
        ("security.protocol", "SASL_SSL".into()),
        ("ssl.truststore.location", s.ca()),
        ("sasl.mechanism", "OAUTHBEARER".into()),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\";"
                .into(),
        ),
    ];
    produce_and_consume(p, "oauthbearer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_required_and_provided() {
    let Some(s) = secured("mutual_tls_required_and_provided") else { return };
    let base = vec![
        ("bootstrap.servers", s.ssl.clone()),
        ("security.protocol", "SSL".into()),
        ("ssl.truststore.location", s.ca()),
    ];
    let e = connect_error(base.clone()).await;
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("localhost:"), "{e}");
    let mut with_cert = base;
    with_cert.push(("ssl.keystore.location", s.tls_dir.join("client.pem").display().to_string()));
    produce_and_consume(with_cert, "mtls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_mechanism_fail_fast_with_the_brokers_reason() {
    let Some(s) = secured("wrong_password_and_unknown_mechanism_fail_fast_with_the_brokers_reason") else {
        return;
    };
    let (user, _) = scram_user(&s, "wrong").await;
    for (tls, m, user) in
        [(false, "PLAIN", "alice"), (true, "SCRAM-SHA-256", &user), (true, "SCRAM-SHA-512", &user)]
    {
        let e = connect_error(sasl(&s, tls, m, user, "not-the-password")).await;
        assert_eq!(e.code(), Some(ErrorCode::SaslAuthenticationFailed), "{m}: {e}");
        let text = e.to_string();
        assert!(text.contains(m) && text.contains("Authentication failed"), "{text}");
        assert!(!text.contains("not-the-password"), "{text}");
    }
    let e = connect_error(vec![
        ("bootstrap.servers", s.sasl_plaintext.clone()),
        ("security.protocol", "SASL_PLAINTEXT".into()),
        ("sasl.mechanism", "OAUTHBEARER".into()),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\";"
                .into(),
        ),
    ])
    .await;
    assert_eq!(e.code(), Some(ErrorCode::UnsupportedSaslMechanism), "{e}");
    assert!(e.to_string().contains("SCRAM-SHA-512"), "lists the broker's mechanisms: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostname_mismatch_and_untrusted_ca_fail_fast_naming_the_broker() {
    let Some(s) = secured("hostname_mismatch_and_untrusted_ca_fail_fast_naming_the_broker") else { return };
    // The broker's certificate names only DNS:localhost.
    let by_ip = s.sasl_ssl.split(',').next().unwrap().replace("localhost", "127.0.0.1");
    let mut p = sasl(&s, true, "PLAIN", "alice", "alice-secret");
    p.retain(|(k, _)| *k != "bootstrap.servers");
    p.push(("bootstrap.servers", by_ip.clone()));
    let e = connect_error(p.clone()).await;
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains(&by_ip) && e.to_string().contains("not valid for name"), "{e}");

    // Name check off: the chain is still verified, so this connects.
    let mut off = p.clone();
    off.push(("ssl.endpoint.identification.algorithm", String::new()));
    let config =
        ClientConfig::from_properties(&off.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
    let pool = NetworkClient::new(config.unwrap());
    pool.send(-1, Purpose::Admin, &MetadataRequest::default()).await.unwrap();

    // No trust store: the compiled-in public roots do not include the test CA.
    let mut untrusted = sasl(&s, true, "PLAIN", "alice", "alice-secret");
    untrusted.retain(|(k, _)| *k != "ssl.truststore.location");
    let e = connect_error(untrusted).await;
    assert!(matches!(e, Error::Tls { .. }) && e.to_string().contains("UnknownIssuer"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_reauthenticated_on_the_same_connection() {
    let Some(s) = secured("sessions_are_reauthenticated_on_the_same_connection") else { return };
    // kafka.sh sets connections.max.reauth.ms=6000.
    let (user, password) = scram_user(&s, "reauth").await;
    let p = sasl(&s, true, "SCRAM-SHA-256", &user, &password);
    let config = ClientConfig::from_properties(&p.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    let pool = NetworkClient::new(config.unwrap());
    let conn = pool.connection(-1, Purpose::Admin).await.unwrap();
    let deadline = conn.session_deadline().expect("the broker sets a session lifetime");
    assert!(deadline <= tokio::time::Instant::now() + Duration::from_millis(6000));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(3500)).await;
        conn.send(&MetadataRequest::default()).await.unwrap();
        assert!(!conn.is_closed());
    }
    assert!(conn.session_deadline().unwrap() > deadline, "re-authenticated");
    assert_eq!(pool.metrics().snapshot()[&-1].connections_created, 1, "on the same connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_with_a_wrong_password_fails_its_sends_at_once_not_after_max_block() {
    let Some(s) = secured("a_producer_with_a_wrong_password_fails_its_sends_at_once_not_after_max_block")
    else {
        return;
    };
    let mut props = sasl(&s, false, "PLAIN", "alice", "not-the-password");
    props.push(("max.block.ms", "120000".into()));
    let producer = Producer::from_pairs(props).unwrap();
    let topic = unique_topic("it-sec-wrong-password");
    for n in 0..2 {
        let send = producer.send(ProducerRecord::new(topic.clone()).value("x"));
        let e = tokio::time::timeout(Duration::from_secs(30), send)
            .await
            .unwrap_or_else(|_| panic!("send {n}: no failure within 30 s (max.block.ms is 120 s)"))
            .unwrap_err();
        assert!(
            matches!(&e, kafka_producer::Error::Client(c) if c.code() == Some(ErrorCode::SaslAuthenticationFailed)),
            "send {n}: {e}"
        );
    }
}
