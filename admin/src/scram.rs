//! SCRAM credentials: describe and alter (any broker; KRaft forwards alterations to the
//! controller). The password never leaves the client: it is salted here with
//! PBKDF2-HMAC-SHA-256/512 (RFC 5802's `Hi`) over a random salt, as Java's admin client does.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_client::conn::sasl::ScramHash;
use kafka_protocol::generated::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
    alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion},
    describe_user_scram_credentials_request::UserName,
};

use crate::AdminClient;
use crate::error::{Error, Result};

/// A SCRAM mechanism (Java's `ScramMechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// A mechanism this client does not know (wire value).
    Other(i8),
}

impl ScramMechanism {
    fn wire(self) -> i8 {
        match self {
            ScramMechanism::ScramSha256 => 1,
            ScramMechanism::ScramSha512 => 2,
            ScramMechanism::Other(v) => v,
        }
    }
    fn from_wire(v: i8) -> Self {
        match v {
            1 => ScramMechanism::ScramSha256,
            2 => ScramMechanism::ScramSha512,
            v => ScramMechanism::Other(v),
        }
    }
}

/// A user's credential as described (Java's `ScramCredentialInfo`): never the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    /// Mechanism.
    pub mechanism: ScramMechanism,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

/// One change to a user's SCRAM credentials (Java's `UserScramCredentialAlteration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserScramCredentialAlteration {
    /// Creates or replaces the user's credential for a mechanism.
    Upsert {
        /// User name.
        user: String,
        /// Mechanism.
        mechanism: ScramMechanism,
        /// PBKDF2 iterations (Kafka accepts 4096 to 16384).
        iterations: i32,
        /// The password (salted here; never sent).
        password: String,
    },
    /// Deletes the user's credential for a mechanism.
    Delete {
        /// User name.
        user: String,
        /// Mechanism.
        mechanism: ScramMechanism,
    },
}

impl UserScramCredentialAlteration {
    fn user(&self) -> &str {
        match self {
            UserScramCredentialAlteration::Upsert { user, .. }
            | UserScramCredentialAlteration::Delete { user, .. } => user,
        }
    }
}

/// RFC 5802's `Hi(password, salt, iterations)` with the mechanism's hash (the client's SCRAM
/// implementation computes it).
pub(crate) fn salted_password(
    mechanism: ScramMechanism,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>> {
    let hash = match mechanism {
        ScramMechanism::ScramSha256 => ScramHash::Sha256,
        ScramMechanism::ScramSha512 => ScramHash::Sha512,
        ScramMechanism::Other(v) => return Err(Error::Invalid(format!("unknown SCRAM mechanism {v}"))),
    };
    Ok(hash.salted_password(password, salt, iterations))
}

impl AdminClient {
    /// The SCRAM credentials of `users` (`None`: every user with one). One result per user
    /// (`RESOURCE_NOT_FOUND` for a named user without credentials).
    pub async fn describe_user_scram_credentials(
        &self,
        users: Option<&[&str]>,
    ) -> Result<BTreeMap<String, Result<Vec<ScramCredentialInfo>>>> {
        let r = self
            .to_any("DescribeUserScramCredentials", |_| DescribeUserScramCredentialsRequest {
                users: users.map(|us| {
                    us.iter().map(|u| UserName { name: (*u).to_owned(), ..Default::default() }).collect()
                }),
                ..Default::default()
            })
            .await?;
        if let Some(e) = Error::item("DescribeUserScramCredentials", "users", r.error_code, r.error_message) {
            return Err(e);
        }
        Ok(r.results
            .into_iter()
            .map(|u| {
                let item = format!("user {}", u.user);
                let res =
                    match Error::item("DescribeUserScramCredentials", item, u.error_code, u.error_message) {
                        Some(e) => Err(e),
                        None => Ok(u
                            .credential_infos
                            .into_iter()
                            .map(|c| ScramCredentialInfo {
                                mechanism: ScramMechanism::from_wire(c.mechanism),
                                iterations: c.iterations,
                            })
                            .collect()),
                    };
                (u.user, res)
            })
            .collect())
    }

    /// Creates, replaces or deletes SCRAM credentials; one result per user.
    pub async fn alter_user_scram_credentials(
        &self,
        alterations: &[UserScramCredentialAlteration],
    ) -> Result<BTreeMap<String, Result<()>>> {
        let mut upsertions = Vec::new();
        let mut deletions = Vec::new();
        for a in alterations {
            match a {
                UserScramCredentialAlteration::Upsert { user, mechanism, iterations, password } => {
                    let mut salt = [0u8; 32];
                    getrandom::fill(&mut salt)
                        .map_err(|e| Error::Invalid(format!("no randomness for a SCRAM salt: {e}")))?;
                    let rounds = u32::try_from(*iterations)
                        .map_err(|_| Error::Invalid(format!("user {user}: iterations must be positive")))?;
                    let salted = salted_password(*mechanism, password.as_bytes(), &salt, rounds.max(1))?;
                    upsertions.push(ScramCredentialUpsertion {
                        name: user.clone(),
                        mechanism: mechanism.wire(),
                        iterations: *iterations,
                        salt: Bytes::copy_from_slice(&salt),
                        salted_password: Bytes::from(salted),
                        ..Default::default()
                    });
                }
                UserScramCredentialAlteration::Delete { user, mechanism } => {
                    deletions.push(ScramCredentialDeletion {
                        name: user.clone(),
                        mechanism: mechanism.wire(),
                        ..Default::default()
                    })
                }
            }
        }
        let r = self
            .to_any("AlterUserScramCredentials", |_| AlterUserScramCredentialsRequest {
                deletions: deletions.clone(),
                upsertions: upsertions.clone(),
                ..Default::default()
            })
            .await?;
        let mut out = BTreeMap::new();
        for u in r.results {
            let item = format!("user {}", u.user);
            let res = Error::item("AlterUserScramCredentials", item, u.error_code, u.error_message);
            out.insert(u.user, res.map_or(Ok(()), Err));
        }
        for a in alterations {
            let user = a.user();
            if !out.contains_key(user) {
                let e = Error::Invalid(format!("AlterUserScramCredentials: no result for user {user}"));
                out.insert(user.to_owned(), Err(e));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_password_is_pbkdf2_with_the_mechanism_hash() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1); the first 32 bytes are
        // the first block, whatever the requested length
        let got = salted_password(ScramMechanism::ScramSha256, b"passwd", b"salt", 1).unwrap();
        let want = [
            0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05,
            0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc,
        ];
        assert_eq!(got, want);
        let sha512 = salted_password(ScramMechanism::ScramSha512, b"passwd", b"salt", 1).unwrap();
        assert_eq!(sha512.len(), 64);
        assert_ne!(sha512[..32], want);
        assert!(salted_password(ScramMechanism::Other(9), b"p", b"s", 1).is_err());
    }
}
