//! SASL server mechanisms, sans-IO: PLAIN (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512
//! (RFC 5802, RFC 7677), with the error messages Kafka's `PlainSaslServer` and
//! `ScramSaslServer` give. [`SaslServer::step`] takes one client token and returns the next
//! server token; the connection (`handlers/sasl.rs`) carries the tokens in SaslAuthenticate.
//!
//! Every configured user can authenticate with every mechanism: [`SaslUsers`] derives both
//! SCRAM credentials (random salt, 4096 iterations) from the password, as
//! `kafka-configs --alter --add-config 'SCRAM-SHA-256=[password=...]'` would.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's (and RFC 7677's) minimum SCRAM iteration count.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// A SASL mechanism the test broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN`.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl Mechanism {
    /// Every served mechanism, in the order SaslHandshake lists them.
    pub const ALL: [Mechanism; 3] = [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512];

    /// The mechanism's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Looks a mechanism up by its wire name (case-sensitive, as Kafka compares them).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A SCRAM hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail
        match self {
            ScramHash::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
            ScramHash::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramHash::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// What the server stores for a SCRAM user (RFC 5802 section 3): never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The hash function.
    pub hash: ScramHash,
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl ScramCredential {
    /// Derives the credential for `password`.
    pub fn new(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = hash.salted_password(password.as_bytes(), salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        ScramCredential {
            hash,
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }
}

/// A user: the password (for PLAIN) and the SCRAM credentials, derived on first use (PBKDF2
/// is slow in debug builds, and most tests never use SCRAM).
#[derive(Clone)]
struct User {
    password: String,
    sha256: OnceLock<ScramCredential>,
    sha512: OnceLock<ScramCredential>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("User { .. }")
    }
}

/// The users a SASL listener accepts, with their PLAIN password and SCRAM credentials.
#[derive(Debug, Clone, Default)]
pub struct SaslUsers {
    users: BTreeMap<String, User>,
}

impl SaslUsers {
    /// Adds (or replaces) a user. Both SCRAM credentials get a fresh salt when first used.
    pub fn add(&mut self, name: &str, password: &str) {
        let user = User { password: password.to_owned(), sha256: OnceLock::new(), sha512: OnceLock::new() };
        self.users.insert(name.to_owned(), user);
    }

    /// Whether no user is configured (SASL off).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    fn scram(&self, name: &str, hash: ScramHash) -> Option<&ScramCredential> {
        let u = self.users.get(name)?;
        let cell = match hash {
            ScramHash::Sha256 => &u.sha256,
            ScramHash::Sha512 => &u.sha512,
        };
        Some(
            cell.get_or_init(|| ScramCredential::new(hash, &u.password, &random_bytes(16), SCRAM_ITERATIONS)),
        )
    }
}

/// Random bytes for salts and nonces: std's randomly seeded SipHash keys, a counter and the
/// clock. Good enough for a test broker; not a CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = std::collections::hash_map::RandomState::new();
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        let mut h = seed.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A fresh server nonce (printable, no commas).
pub fn server_nonce() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(24))
}

/// Why authentication failed, with the message Kafka sends the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SaslFailure {
    /// The message for SaslAuthenticate's `error_message`.
    pub message: String,
}

impl SaslFailure {
    fn new(message: impl Into<String>) -> Self {
        SaslFailure { message: message.into() }
    }
    /// SCRAM failures name no detail, as Kafka's `SaslServerAuthenticator` hides the
    /// `SaslException` text (it could reveal whether a user exists).
    fn scram(mechanism: Mechanism) -> Self {
        SaslFailure::new(format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            mechanism.name()
        ))
    }
}

/// The result of one successful step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge and expect another client token.
    Continue(Vec<u8>),
    /// Authenticated as `user`; send `response` (possibly empty) as the last server token.
    Done {
        /// The authenticated user.
        user: String,
        /// The final server token.
        response: Vec<u8>,
    },
}

#[derive(Debug)]
enum ScramState {
    ClientFirst {
        server_nonce: String,
    },
    ClientFinal {
        user: String,
        credential: ScramCredential,
        gs2_header: String,
        auth_prefix: String,
        nonce: String,
    },
    Finished,
}

/// One authentication exchange (one SaslHandshake's worth).
#[derive(Debug)]
pub struct SaslServer {
    mechanism: Mechanism,
    scram: ScramState,
}

impl SaslServer {
    /// A server for `mechanism` with a fresh nonce.
    pub fn new(mechanism: Mechanism) -> Self {
        SaslServer::with_nonce(mechanism, server_nonce())
    }

    /// A server with a given SCRAM server nonce (tests).
    pub fn with_nonce(mechanism: Mechanism, server_nonce: String) -> Self {
        SaslServer { mechanism, scram: ScramState::ClientFirst { server_nonce } }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Evaluates one client token.
    pub fn step(&mut self, users: &SaslUsers, token: &[u8]) -> Result<Step, SaslFailure> {
        match self.mechanism {
            Mechanism::Plain => {
                self.scram = ScramState::Finished;
                plain(users, token)
            }
            Mechanism::ScramSha256 => self.scram_step(users, ScramHash::Sha256, token),
            Mechanism::ScramSha512 => self.scram_step(users, ScramHash::Sha512, token),
        }
    }

    fn scram_step(&mut self, users: &SaslUsers, hash: ScramHash, token: &[u8]) -> Result<Step, SaslFailure> {
        let fail = SaslFailure::scram(self.mechanism);
        let text = std::str::from_utf8(token).map_err(|_| fail.clone())?;
        match std::mem::replace(&mut self.scram, ScramState::Finished) {
            ScramState::ClientFirst { server_nonce } => {
                let first = parse_client_first(text).ok_or_else(|| fail.clone())?;
                if first.authzid.as_ref().is_some_and(|a| *a != first.user) {
                    return Err(SaslFailure::new(
                        "Authentication failed: Client requested an authorization id that is different from username",
                    ));
                }
                let credential = users.scram(&first.user, hash).ok_or(fail)?.clone();
                let nonce = format!("{}{}", first.nonce, server_nonce);
                let server_first =
                    format!("r={nonce},s={},i={}", STANDARD.encode(&credential.salt), credential.iterations);
                let auth_prefix = format!("{},{server_first}", first.bare);
                self.scram = ScramState::ClientFinal {
                    user: first.user,
                    credential,
                    gs2_header: first.gs2_header,
                    auth_prefix,
                    nonce,
                };
                Ok(Step::Continue(server_first.into_bytes()))
            }
            ScramState::ClientFinal { user, credential, gs2_header, auth_prefix, nonce } => {
                let (without_proof, proof_b64) = text.rsplit_once(",p=").ok_or_else(|| fail.clone())?;
                let mut attrs = without_proof.split(',');
                let channel = attrs.next().and_then(|a| a.strip_prefix("c=")).ok_or_else(|| fail.clone())?;
                let client_nonce =
                    attrs.next().and_then(|a| a.strip_prefix("r=")).ok_or_else(|| fail.clone())?;
                if STANDARD.decode(channel).ok().as_deref() != Some(gs2_header.as_bytes())
                    || client_nonce != nonce
                {
                    return Err(fail);
                }
                let proof = STANDARD.decode(proof_b64).map_err(|_| fail.clone())?;
                let auth_message = format!("{auth_prefix},{without_proof}");
                let signature = credential.hash.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(fail);
                }
                let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
                if credential.hash.hash(&client_key) != credential.stored_key {
                    return Err(fail);
                }
                let server_signature = credential.hash.hmac(&credential.server_key, auth_message.as_bytes());
                let response = format!("v={}", STANDARD.encode(server_signature)).into_bytes();
                Ok(Step::Done { user, response })
            }
            ScramState::Finished => Err(fail),
        }
    }
}

/// PLAIN: `[authzid] NUL authcid NUL passwd` (Kafka's `PlainSaslServer`).
fn plain(users: &SaslUsers, token: &[u8]) -> Result<Step, SaslFailure> {
    let parts: Vec<&[u8]> = token.split(|&b| b == 0).collect();
    if parts.len() != 3 {
        return Err(SaslFailure::new(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        )));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (authzid, user, password) = (text(parts[0]), text(parts[1]), text(parts[2]));
    if user.is_empty() {
        return Err(SaslFailure::new("Authentication failed: username not specified"));
    }
    if password.is_empty() {
        return Err(SaslFailure::new("Authentication failed: password not specified"));
    }
    match users.users.get(&user) {
        Some(u) if u.password == password => {}
        _ => return Err(SaslFailure::new("Authentication failed: Invalid username or password")),
    }
    if !authzid.is_empty() && authzid != user {
        return Err(SaslFailure::new(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    Ok(Step::Done { user, response: Vec::new() })
}

struct ClientFirst {
    gs2_header: String,
    authzid: Option<String>,
    bare: String,
    user: String,
    nonce: String,
}

/// RFC 5802 `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3)?;
        out.push(match esc {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// `n,[a=authzid],n=user,r=nonce[,extensions]`. Only `n` (no channel binding) is accepted,
/// as in Kafka.
fn parse_client_first(text: &str) -> Option<ClientFirst> {
    let rest = text.strip_prefix("n,")?;
    let (authz, bare) = rest.split_once(',')?;
    let authzid = match authz {
        "" => None,
        a => Some(decode_saslname(a.strip_prefix("a=")?)?),
    };
    let mut attrs = bare.split(',');
    let user = decode_saslname(attrs.next()?.strip_prefix("n=")?)?;
    let nonce = attrs.next()?.strip_prefix("r=")?;
    if user.is_empty() || nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return None;
    }
    Some(ClientFirst {
        gs2_header: format!("n,{authz},"),
        authzid,
        bare: bare.to_owned(),
        user,
        nonce: nonce.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_users(password: &str) -> SaslUsers {
        let salt = STANDARD.decode(SALT_B64).unwrap();
        let mut users = SaslUsers::default();
        users.add("user", password);
        let u = users.users.get_mut("user").unwrap();
        u.sha256 = OnceLock::from(ScramCredential::new(ScramHash::Sha256, password, &salt, 4096));
        users
    }

    #[test]
    fn rfc7677_scram_sha_256_exchange() {
        let users = rfc_users("pencil");
        let mut s = SaslServer::with_nonce(Mechanism::ScramSha256, SERVER_NONCE.into());
        assert_eq!(
            s.step(&users, CLIENT_FIRST.as_bytes()),
            Ok(Step::Continue(SERVER_FIRST.as_bytes().to_vec()))
        );
        assert_eq!(
            s.step(&users, CLIENT_FINAL.as_bytes()),
            Ok(Step::Done { user: "user".into(), response: SERVER_FINAL.as_bytes().to_vec() })
        );
        // the exchange is over
        assert!(s.step(&users, CLIENT_FINAL.as_bytes()).is_err());
    }

    #[test]
    fn scram_rejects_a_wrong_password_an_unknown_user_and_a_foreign_nonce() {
        let users = rfc_users("not-pencil");
        let mut s = SaslServer::with_nonce(Mechanism::ScramSha256, SERVER_NONCE.into());
        assert!(matches!(s.step(&users, CLIENT_FIRST.as_bytes()), Ok(Step::Continue(_))));
        let err = s.step(&users, CLIENT_FINAL.as_bytes()).unwrap_err();
        assert!(err.message.contains("invalid credentials with SASL mechanism SCRAM-SHA-256"), "{err}");

        let mut s = SaslServer::with_nonce(Mechanism::ScramSha256, SERVER_NONCE.into());
        assert!(s.step(&users, b"n,,n=nobody,r=abc").is_err());

        let users = rfc_users("pencil");
        let mut s = SaslServer::with_nonce(Mechanism::ScramSha256, "other".into());
        assert!(matches!(s.step(&users, CLIENT_FIRST.as_bytes()), Ok(Step::Continue(_))));
        assert!(s.step(&users, CLIENT_FINAL.as_bytes()).is_err(), "the final message echoes another nonce");
    }

    #[test]
    fn scram_rejects_malformed_messages_without_panicking() {
        let users = rfc_users("pencil");
        for bad in [
            &b""[..],
            b"n",
            b"y,,n=user,r=x",
            b"p=tls-unique,,n=user,r=x",
            b"n,,n=us=er,r=x",
            b"n,,n=user",
            b"n,,r=x,n=user",
            b"n,a=other,n=user,r=x",
            b"\xff\xfe",
        ] {
            let mut s = SaslServer::new(Mechanism::ScramSha512);
            assert!(s.step(&users, bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        for bad_final in ["", "c=biws", "c=biws,r=x,p=", "c=!!,r=x,p=AAAA", "p=,c=biws"] {
            let mut s = SaslServer::with_nonce(Mechanism::ScramSha256, SERVER_NONCE.into());
            s.step(&users, CLIENT_FIRST.as_bytes()).unwrap();
            assert!(s.step(&users, bad_final.as_bytes()).is_err(), "{bad_final}");
        }
    }

    #[test]
    fn saslnames_are_unescaped() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_saslname("a=2").as_deref(), None);
        assert_eq!(decode_saslname("a=41").as_deref(), None);
    }

    #[test]
    fn plain_checks_the_password_and_authzid() {
        let mut users = SaslUsers::default();
        users.add("alice", "alice-secret");
        let step = |t: &[u8]| SaslServer::new(Mechanism::Plain).step(&users, t);
        assert_eq!(step(b"\0alice\0alice-secret"), Ok(Step::Done { user: "alice".into(), response: vec![] }));
        assert_eq!(step(b"alice\0alice\0alice-secret").map(|_| ()), Ok(()));
        let err = |t: &[u8]| step(t).unwrap_err().message;
        assert_eq!(err(b"\0alice\0wrong"), "Authentication failed: Invalid username or password");
        assert_eq!(err(b"\0bob\0alice-secret"), "Authentication failed: Invalid username or password");
        assert!(err(b"bob\0alice\0alice-secret").contains("authorization id"));
        assert_eq!(err(b"alice-secret"), "Invalid SASL/PLAIN response: expected 3 tokens, got 1");
        assert_eq!(err(b"\0\0x"), "Authentication failed: username not specified");
    }

    #[test]
    fn derived_credentials_authenticate_with_sha512() {
        // a client computing the proof the RFC 5802 way against a derived credential
        let mut users = SaslUsers::default();
        users.add("alice", "alice-secret");
        let mut s = SaslServer::with_nonce(Mechanism::ScramSha512, "srv".into());
        let Ok(Step::Continue(first)) = s.step(&users, b"n,,n=alice,r=cli") else { panic!("no challenge") };
        let first = String::from_utf8(first).unwrap();
        let mut attrs = first.split(',');
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        let salt = STANDARD.decode(attrs.next().unwrap().strip_prefix("s=").unwrap()).unwrap();
        let iterations: u32 = attrs.next().unwrap().strip_prefix("i=").unwrap().parse().unwrap();
        assert_eq!((nonce, iterations), ("clisrv", SCRAM_ITERATIONS));
        let h = ScramHash::Sha512;
        let salted = h.salted_password(b"alice-secret", &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("n=alice,r=cli,{first},{without_proof}");
        let sig = h.hmac(&h.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let fin = format!("{without_proof},p={}", STANDARD.encode(proof));
        let Ok(Step::Done { user, response }) = s.step(&users, fin.as_bytes()) else {
            panic!("not accepted")
        };
        assert_eq!(user, "alice");
        let expected = h.hmac(&h.hmac(&salted, b"Server Key"), auth.as_bytes());
        assert_eq!(response, format!("v={}", STANDARD.encode(expected)).into_bytes());
    }
}
