//! SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL password`, with an empty
//! authorization id as Java sends it. The broker's reply carries no data.

use super::SaslClient;

/// Where the PLAIN exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    Start,
    /// The credentials were sent; the broker's (empty) reply completes the exchange.
    Sent,
    /// Done.
    Complete,
}

/// The PLAIN client.
pub(crate) struct PlainClient {
    username: String,
    password: String,
    state: State,
}

impl PlainClient {
    pub(crate) fn new(username: &str, password: &str) -> Self {
        PlainClient { username: username.to_string(), password: password.to_string(), state: State::Start }
    }
}

impl SaslClient for PlainClient {
    fn initial(&mut self) -> Result<Vec<u8>, String> {
        if self.state != State::Start {
            return Err(format!("PLAIN initial message requested in state {:?}", self.state));
        }
        self.state = State::Sent;
        let mut m = Vec::with_capacity(self.username.len() + self.password.len() + 2);
        m.push(0);
        m.extend_from_slice(self.username.as_bytes());
        m.push(0);
        m.extend_from_slice(self.password.as_bytes());
        Ok(m)
    }

    fn on_challenge(&mut self, _challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self.state {
            State::Sent => {
                self.state = State::Complete;
                Ok(None)
            }
            s => Err(format!("unexpected PLAIN server message in state {s:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bytes_and_one_round_trip() {
        let mut c = PlainClient::new("alice", "alice-secret");
        assert_eq!(c.initial().unwrap(), b"\0alice\0alice-secret");
        assert!(c.initial().is_err(), "only one initial message");
        assert_eq!(c.on_challenge(b"").unwrap(), None);
        assert!(c.on_challenge(b"").is_err(), "nothing after completion");
    }
}
