//! SASL OAUTHBEARER (RFC 7628, KIP-255): the client sends a bearer token from an
//! [`OAuthBearerTokenProvider`]; [`UnsecuredJws`] makes Java's unsecured (`alg: none`) tokens for
//! tests and development brokers.

use std::{
    collections::BTreeMap,
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};

use super::SaslClient;
use crate::conn::BoxFuture;

/// A bearer token and what the client knows about it. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The token (a compact JWS for most identity providers).
    pub value: String,
    /// When it expires, in milliseconds since the Unix epoch.
    pub lifetime_ms: i64,
    /// The principal it names.
    pub principal: String,
    /// SASL extensions sent with it (KIP-342): keys are letters only and not `auth`.
    pub extensions: BTreeMap<String, String>,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"[hidden]")
            .field("lifetime_ms", &self.lifetime_ms)
            .field("principal", &self.principal)
            .field("extensions", &self.extensions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Supplies OAUTHBEARER tokens (Java's login callback handler). Called for every
/// authentication and re-authentication, so an implementation caches its token and refreshes
/// it before it expires.
pub trait OAuthBearerTokenProvider: fmt::Debug + Send + Sync + 'static {
    /// The current token, or why there is none (reported as an authentication failure).
    fn token(&self) -> BoxFuture<'_, Result<OAuthBearerToken, String>>;
}

/// Java's `OAuthBearerUnsecuredLoginCallbackHandler`: a fresh unsecured JWS (header
/// `{"alg":"none"}`, no signature) with `iat`, `exp` and the configured claims. Only brokers
/// with the unsecured validator (the default when no OAuth validation is configured) accept
/// it: for tests, never for production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredJws {
    /// `unsecuredLoginPrincipalClaimName` (default `sub`).
    pub principal_claim_name: String,
    /// `unsecuredLoginStringClaim_<name>="value"`.
    pub string_claims: BTreeMap<String, String>,
    /// `unsecuredLoginNumberClaim_<name>="number"` (written as JSON numbers).
    pub number_claims: BTreeMap<String, String>,
    /// `unsecuredLoginLifetimeSeconds` (default 3600).
    pub lifetime: Duration,
    /// `unsecuredLoginExtension_<key>="value"`.
    pub extensions: BTreeMap<String, String>,
}

impl UnsecuredJws {
    /// Tokens for `principal` (`sub`), valid for an hour.
    pub fn new(principal: impl Into<String>) -> Self {
        UnsecuredJws {
            principal_claim_name: "sub".into(),
            string_claims: [("sub".to_string(), principal.into())].into(),
            number_claims: BTreeMap::new(),
            lifetime: Duration::from_secs(3600),
            extensions: BTreeMap::new(),
        }
    }

    /// The options of an `OAuthBearerLoginModule` JAAS entry, if it has `unsecuredLogin*`
    /// options; errors name the option.
    pub fn from_jaas_options(options: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        if !options.keys().any(|k| k.starts_with("unsecuredLogin")) {
            return Ok(None);
        }
        let mut jws = UnsecuredJws::new("");
        jws.string_claims.clear();
        for (k, v) in options {
            if let Some(name) = k.strip_prefix("unsecuredLoginStringClaim_") {
                jws.string_claims.insert(name.to_string(), v.clone());
            } else if let Some(name) = k.strip_prefix("unsecuredLoginNumberClaim_") {
                v.parse::<f64>().map_err(|_| format!("option {k} is not a number"))?;
                jws.number_claims.insert(name.to_string(), v.clone());
            } else if let Some(key) = k.strip_prefix("unsecuredLoginExtension_") {
                check_extension(key, v)?;
                jws.extensions.insert(key.to_string(), v.clone());
            } else if k == "unsecuredLoginPrincipalClaimName" {
                jws.principal_claim_name = v.clone();
            } else if k == "unsecuredLoginLifetimeSeconds" {
                let s: u64 = v.parse().map_err(|_| format!("option {k} is not a whole number of seconds"))?;
                jws.lifetime = Duration::from_secs(s);
            } else if k.starts_with("unsecuredLogin") {
                return Err(format!("option {k} is not supported"));
            }
        }
        for reserved in ["iat", "exp"] {
            if jws.string_claims.contains_key(reserved) || jws.number_claims.contains_key(reserved) {
                return Err(format!("claim {reserved} is set by the client and cannot be configured"));
            }
        }
        if !jws.string_claims.contains_key(&jws.principal_claim_name) {
            return Err(format!(
                "unsecuredLoginStringClaim_{} (the principal) is required",
                jws.principal_claim_name
            ));
        }
        Ok(Some(jws))
    }

    /// The token as of `now`.
    pub fn token_at(&self, now: SystemTime) -> OAuthBearerToken {
        let iat_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
        let exp_ms = iat_ms.saturating_add(self.lifetime.as_millis() as i64);
        let mut claims =
            format!("{{\"iat\":{:.3},\"exp\":{:.3}", iat_ms as f64 / 1000.0, exp_ms as f64 / 1000.0);
        for (k, v) in &self.string_claims {
            claims.push_str(&format!(",{}:{}", json_string(k), json_string(v)));
        }
        for (k, v) in &self.number_claims {
            claims.push_str(&format!(",{}:{v}", json_string(k)));
        }
        claims.push('}');
        let value = format!("{}.{}.", B64URL.encode(br#"{"alg":"none"}"#), B64URL.encode(claims));
        OAuthBearerToken {
            value,
            lifetime_ms: exp_ms,
            principal: self.string_claims.get(&self.principal_claim_name).cloned().unwrap_or_default(),
            extensions: self.extensions.clone(),
        }
    }
}

impl OAuthBearerTokenProvider for UnsecuredJws {
    fn token(&self) -> BoxFuture<'_, Result<OAuthBearerToken, String>> {
        let t = self.token_at(SystemTime::now());
        Box::pin(async move { Ok(t) })
    }
}

/// KIP-342's rules for SASL extension names and values.
pub(crate) fn check_extension(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphabetic()) || key == "auth" {
        return Err(format!("SASL extension name `{key}` must be letters only and not `auth`"));
    }
    if value.is_empty() || !value.chars().all(|c| matches!(c, '\x21'..='\x7e' | ' ' | '\t' | '\r' | '\n')) {
        return Err(format!("SASL extension `{key}` has an empty or non-printable value"));
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the OAUTHBEARER exchange is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Nothing sent.
    Start,
    /// The token was sent; an empty reply means success.
    SentToken,
    /// The broker rejected the token (its JSON error); we acknowledged with `%x01` and await
    /// the broker's failure.
    Rejected(String),
    /// Done.
    Complete,
}

/// The OAUTHBEARER client.
pub(crate) struct OAuthBearerClient {
    token: OAuthBearerToken,
    state: State,
}

impl OAuthBearerClient {
    pub(crate) fn new(token: OAuthBearerToken) -> Self {
        OAuthBearerClient { token, state: State::Start }
    }
}

impl SaslClient for OAuthBearerClient {
    fn initial(&mut self) -> Result<Vec<u8>, String> {
        if self.state != State::Start {
            return Err(format!("OAUTHBEARER initial message requested in state {:?}", self.state));
        }
        for (k, v) in &self.token.extensions {
            check_extension(k, v)?;
        }
        let mut m = format!("n,,\x01auth=Bearer {}", self.token.value);
        for (k, v) in &self.token.extensions {
            m.push_str(&format!("\x01{k}={v}"));
        }
        m.push_str("\x01\x01");
        self.state = State::SentToken;
        Ok(m.into_bytes())
    }

    fn on_challenge(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.state, State::Complete) {
            State::SentToken if challenge.is_empty() => Ok(None),
            State::SentToken => {
                self.state = State::Rejected(String::from_utf8_lossy(challenge).into_owned());
                Ok(Some(vec![0x01]))
            }
            State::Rejected(json) => Err(format!("the broker rejected the token: {json}")),
            s => Err(format!("unexpected OAUTHBEARER server message in state {s:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsecured_jws_has_java_header_and_claims() {
        let t = UnsecuredJws::new("alice").token_at(UNIX_EPOCH + Duration::from_secs(1000));
        let parts: Vec<&str> = t.value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(B64URL.decode(parts[0]).unwrap(), br#"{"alg":"none"}"#);
        let claims = String::from_utf8(B64URL.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims, r#"{"iat":1000.000,"exp":4600.000,"sub":"alice"}"#);
        assert_eq!(parts[2], "");
        assert_eq!((t.lifetime_ms, t.principal.as_str()), (4_600_000, "alice"));
    }

    #[test]
    fn jaas_options_map_to_claims() {
        let o = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(UnsecuredJws::from_jaas_options(&o(&[])).unwrap(), None);
        let j = UnsecuredJws::from_jaas_options(&o(&[
            ("unsecuredLoginStringClaim_sub", "bob"),
            ("unsecuredLoginNumberClaim_n", "7"),
            ("unsecuredLoginLifetimeSeconds", "60"),
            ("unsecuredLoginExtension_traceId", "x1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(j.lifetime, Duration::from_secs(60));
        assert_eq!(j.extensions["traceId"], "x1");
        let e = UnsecuredJws::from_jaas_options(&o(&[("unsecuredLoginLifetimeSeconds", "60")])).unwrap_err();
        assert!(e.contains("unsecuredLoginStringClaim_sub"), "{e}");
        let e = UnsecuredJws::from_jaas_options(&o(&[
            ("unsecuredLoginExtension_auth", "x"),
            ("unsecuredLoginStringClaim_sub", "b"),
        ]))
        .unwrap_err();
        assert!(e.contains("auth"), "{e}");
    }

    #[test]
    fn client_messages_and_rejection() {
        let mut token = UnsecuredJws::new("alice").token_at(UNIX_EPOCH);
        token.value = "T".into();
        token.extensions.insert("traceId".into(), "x1".into());
        let mut c = OAuthBearerClient::new(token.clone());
        assert_eq!(c.initial().unwrap(), b"n,,\x01auth=Bearer T\x01traceId=x1\x01\x01");
        assert_eq!(c.on_challenge(b"").unwrap(), None);
        let mut c = OAuthBearerClient::new(token);
        c.initial().unwrap();
        assert_eq!(c.on_challenge(br#"{"status":"invalid_token"}"#).unwrap(), Some(vec![1]));
        let e = c.on_challenge(b"").unwrap_err();
        assert!(e.contains("invalid_token"), "{e}");
        assert!(!format!("{:?}", UnsecuredJws::new("a").token_at(UNIX_EPOCH)).contains("eyJ"));
    }
}
