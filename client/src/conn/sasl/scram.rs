//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) without channel binding (`n,,`), as a
//! sans-IO state machine.
//!
//! Checks, as Java's `ScramSaslClient` makes them: the server nonce must extend ours, the
//! iteration count must be within Kafka's bounds (4096..=16384; a huge count would be a cheap
//! way for a rogue server to burn our CPU), and the server signature must match before the
//! exchange counts as complete. User names are escaped (`=` → `=3D`, `,` → `=2C`); like Java,
//! no other SASLprep normalisation is applied.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::SaslClient;

/// Kafka's lowest accepted iteration count (`ScramMechanism.minIterations`).
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// Kafka's highest iteration count (`ScramMechanism.maxIterations`).
pub(crate) const MAX_ITERATIONS: u32 = 16384;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        match self {
            ScramHash::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            ScramHash::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's `Hi(password, salt, i)`, the salted password: PBKDF2 with this HMAC, one
    /// hash length of output (also what the admin client sends in a SCRAM upsertion).
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// Escapes a user name for `n=` (RFC 5802 `saslname`).
pub(crate) fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// Where the SCRAM exchange is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Nothing sent.
    Start,
    /// client-first sent; awaiting server-first.
    SentClientFirst {
        /// `client-first-message-bare`.
        client_first_bare: String,
    },
    /// client-final sent; awaiting server-final, which must carry this signature.
    SentClientFinal {
        /// The expected `ServerSignature`.
        server_signature: Vec<u8>,
    },
    /// Server verified.
    Complete,
    /// A check failed; nothing more may happen.
    Failed,
}

/// The SCRAM client.
pub(crate) struct ScramClient {
    hash: ScramHash,
    username: String,
    password: String,
    nonce: String,
    /// `tokenauth=true` (delegation tokens, KIP-48).
    token_auth: bool,
    state: State,
}

impl ScramClient {
    /// A client with the given nonce (printable ASCII without `,`).
    pub(crate) fn new(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: String,
        token_auth: bool,
    ) -> Self {
        ScramClient {
            hash,
            username: username.to_string(),
            password: password.to_string(),
            nonce,
            token_auth,
            state: State::Start,
        }
    }

    /// A fresh random nonce: 24 random bytes, base64.
    pub(crate) fn random_nonce() -> Result<String, String> {
        let mut b = [0u8; 24];
        getrandom::fill(&mut b).map_err(|e| format!("no randomness for the SCRAM nonce: {e}"))?;
        Ok(B64.encode(b))
    }

    fn on_server_first(&mut self, client_first_bare: &str, msg: &str) -> Result<Vec<u8>, String> {
        let attrs = parse_attributes(msg)?;
        if attrs.first().is_some_and(|(k, _)| *k == 'm') {
            return Err("server-first-message has a mandatory extension this client does not know".into());
        }
        if let Some(e) = find(&attrs, 'e') {
            return Err(format!("server error: {e}"));
        }
        let nonce = find(&attrs, 'r').ok_or("server-first-message has no nonce (r=)")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err("invalid server nonce: it does not extend the client nonce".into());
        }
        let salt = find(&attrs, 's').ok_or("server-first-message has no salt (s=)")?;
        let salt = B64.decode(salt).map_err(|_| "server salt is not valid base64".to_string())?;
        let iterations: u32 = find(&attrs, 'i')
            .ok_or("server-first-message has no iteration count (i=)")?
            .parse()
            .map_err(|_| "server iteration count is not a number".to_string())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "server iteration count {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ));
        }
        let h = self.hash;
        let salted = h.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        let without_proof = format!("c={},r={nonce}", B64.encode(b"n,,"));
        let auth_message = format!("{client_first_bare},{msg},{without_proof}");
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let server_key = h.hmac(&salted, b"Server Key");
        let server_signature = h.hmac(&server_key, auth_message.as_bytes());
        self.state = State::SentClientFinal { server_signature };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    fn on_server_final(&self, expected: &[u8], msg: &str) -> Result<(), String> {
        let attrs = parse_attributes(msg)?;
        if let Some(e) = find(&attrs, 'e') {
            return Err(format!("server error: {e}"));
        }
        let v = find(&attrs, 'v').ok_or("server-final-message has no signature (v=)")?;
        let v = B64.decode(v).map_err(|_| "server signature is not valid base64".to_string())?;
        if expected.is_empty() || v != expected {
            return Err("invalid server signature: the broker does not know this user's credentials".into());
        }
        Ok(())
    }
}

fn parse_attributes(msg: &str) -> Result<Vec<(char, &str)>, String> {
    msg.split(',')
        .map(|part| {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(k), Some('=')) if k.is_ascii_alphabetic() => Ok((k, &part[2..])),
                _ => Err("malformed SCRAM message from the server".to_string()),
            }
        })
        .collect()
}

fn find<'a>(attrs: &[(char, &'a str)], key: char) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

impl SaslClient for ScramClient {
    fn initial(&mut self) -> Result<Vec<u8>, String> {
        if self.state != State::Start {
            return Err(format!("SCRAM initial message requested in state {:?}", self.state));
        }
        let ext = if self.token_auth { ",tokenauth=true" } else { "" };
        let bare = format!("n={},r={}{ext}", sasl_name(&self.username), self.nonce);
        let msg = format!("n,,{bare}").into_bytes();
        self.state = State::SentClientFirst { client_first_bare: bare };
        Ok(msg)
    }

    fn on_challenge(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let msg =
            std::str::from_utf8(challenge).map_err(|_| "SCRAM server message is not UTF-8".to_string())?;
        match state {
            State::SentClientFirst { client_first_bare } => {
                self.on_server_first(&client_first_bare, msg).map(Some)
            }
            State::SentClientFinal { server_signature } => {
                self.on_server_final(&server_signature, msg)?;
                self.state = State::Complete;
                Ok(None)
            }
            s => Err(format!("unexpected SCRAM server message in state {s:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 section 3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn client() -> ScramClient {
        ScramClient::new(ScramHash::Sha256, "user", "pencil", NONCE.into(), false)
    }

    #[test]
    fn rfc7677_sha256_example() {
        let mut c = client();
        assert_eq!(c.initial().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c.on_challenge(SERVER_FIRST.as_bytes()).unwrap().unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), CLIENT_FINAL);
        assert_eq!(c.on_challenge(SERVER_FINAL.as_bytes()).unwrap(), None);
        assert_eq!(c.state, State::Complete);
        assert!(c.on_challenge(SERVER_FINAL.as_bytes()).is_err(), "nothing after completion");
    }

    #[test]
    fn bad_server_signature_is_rejected() {
        let mut c = client();
        c.initial().unwrap();
        c.on_challenge(SERVER_FIRST.as_bytes()).unwrap();
        let e = c.on_challenge(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err();
        assert!(e.contains("invalid server signature"), "{e}");
        let mut c = client();
        c.initial().unwrap();
        c.on_challenge(SERVER_FIRST.as_bytes()).unwrap();
        let e = c.on_challenge(b"e=invalid-proof").unwrap_err();
        assert!(e.contains("invalid-proof"), "{e}");
    }

    #[test]
    fn short_and_huge_iteration_counts_are_rejected() {
        for i in ["4095", "1", "16385", "99999999999"] {
            let mut c = client();
            c.initial().unwrap();
            let msg = SERVER_FIRST.replace("i=4096", &format!("i={i}"));
            let e = c.on_challenge(msg.as_bytes()).unwrap_err();
            assert!(e.contains("iteration count"), "{i}: {e}");
        }
    }

    #[test]
    fn nonce_not_extending_ours_is_rejected() {
        for bad in ["r=XOprNGfwEbeRWgbNEkqO%hvY", "r=rOprNGfwEbeRWgbNEkqO", "r=rOprNG"] {
            let mut c = client();
            c.initial().unwrap();
            let msg = format!("{bad},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
            let e = c.on_challenge(msg.as_bytes()).unwrap_err();
            assert!(e.contains("nonce"), "{bad}: {e}");
        }
    }

    #[test]
    fn garbage_and_mandatory_extensions_are_errors_not_panics() {
        for msg in [&b"\xff\xfe"[..], b"", b"r", b"=,=", b"m=x,r=rOprNGfwEbeRWgbNEkqOx,s=AA==,i=4096"] {
            let mut c = client();
            c.initial().unwrap();
            assert!(c.on_challenge(msg).is_err(), "{msg:?}");
        }
    }

    #[test]
    fn user_names_are_escaped_and_token_auth_is_an_extension() {
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
        let mut c = ScramClient::new(ScramHash::Sha512, "a,b", "p", "abc".into(), true);
        assert_eq!(c.initial().unwrap(), b"n,,n=a=2Cb,r=abc,tokenauth=true");
        let n = ScramClient::random_nonce().unwrap();
        assert!(n.len() >= 32 && !n.contains(','), "{n}");
        assert_ne!(n, ScramClient::random_nonce().unwrap());
    }
}
