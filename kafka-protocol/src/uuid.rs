//! Kafka's 128-bit UUID (topic ids, directory ids, member ids in KIP-848).

use std::fmt;

/// A Kafka UUID. Displayed the way Kafka displays it: URL-safe base64 without padding
/// (22 characters), e.g. `AAAAAAAAAAAAAAAAAAAAAA` for [`Uuid::ZERO`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Uuid {
    /// The all-zero UUID (Kafka's `Uuid.ZERO_UUID`, "no id").
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Builds a UUID from its most and least significant 64-bit halves (Java's constructor).
    pub const fn from_halves(msb: u64, lsb: u64) -> Self {
        Uuid((((msb as u128) << 64) | lsb as u128).to_be_bytes())
    }

    /// The UUID as a `u128`.
    pub const fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Parses Kafka's base64 form (as printed by [`fmt::Display`]).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 22 {
            return None;
        }
        let mut acc: u128 = 0;
        for (i, &c) in s.iter().enumerate() {
            let v = B64.iter().position(|&b| b == c)? as u128;
            if i == 21 {
                // the last character carries 2 bits
                if v & 0x0f != 0 {
                    return None;
                }
                acc = (acc << 2) | (v >> 4);
            } else {
                acc = (acc << 6) | v;
            }
        }
        Some(Uuid(acc.to_be_bytes()))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.as_u128();
        let mut out = [0u8; 22];
        for (i, o) in out.iter_mut().enumerate().take(21) {
            *o = B64[((v >> (122 - 6 * i)) & 0x3f) as usize];
        }
        out[21] = B64[((v & 0x3) << 4) as usize];
        f.write_str(std::str::from_utf8(&out).unwrap_or("?"))
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_kafka_base64() {
        assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        // Kafka's Uuid.METADATA_TOPIC_ID is new Uuid(0L, 1L), printed as AAAAAAAAAAAAAAAAAAAAAQ.
        assert_eq!(Uuid::from_halves(0, 1).to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        let u = Uuid::from_halves(0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321);
        assert_eq!(Uuid::parse(&u.to_string()), Some(u));
        assert_eq!(Uuid::parse("short"), None);
    }
}
