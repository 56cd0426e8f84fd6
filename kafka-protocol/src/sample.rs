//! Test support: random values for every generated message (the `Sample` impls are generated
//! into `generated/samples.rs`) and the round-trip checks run on them.

use bytes::Bytes;

use crate::{Message, RawTaggedField, Uuid};

/// A small deterministic generator (xorshift64*), so failures reproduce from the seed.
pub struct Rng(u64);

impl Rng {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    /// A random boolean.
    pub fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// A finite double (NaN would not compare equal to itself).
    pub fn f64(&mut self) -> f64 {
        let v = f64::from_bits(self.next());
        if v.is_finite() { v } else { 0.5 }
    }
    /// A random UUID.
    pub fn uuid(&mut self) -> Uuid {
        Uuid::from_halves(self.next(), self.next())
    }
    /// A short string, sometimes with multi-byte characters.
    pub fn string(&mut self) -> String {
        let n = self.below(9) as usize;
        (0..n)
            .map(|_| match self.below(8) {
                0 => 'é',
                1 => '☃',
                _ => (b'a' + self.below(26) as u8) as char,
            })
            .collect()
    }
    /// Short random bytes.
    pub fn bytes(&mut self) -> Bytes {
        let n = self.below(12) as usize;
        (0..n).map(|_| self.next() as u8).collect::<Vec<u8>>().into()
    }
    /// Zero to two unknown tagged fields with tags above any Kafka uses, in ascending order.
    pub fn unknown_tags(&mut self) -> Vec<RawTaggedField> {
        let mut tag = 1000 + self.below(50) as u32;
        (0..self.below(3))
            .map(|_| {
                tag += 1 + self.below(5) as u32;
                RawTaggedField { tag, data: self.bytes() }
            })
            .collect()
    }
}

/// A random value valid at a given version: fields the version lacks keep their defaults, and
/// nulls appear only where the version allows them.
pub trait Sample: Sized {
    /// Draws a value for `version`.
    fn sample(rng: &mut Rng, version: i16) -> Self;
}

/// Round-trips random values of `T` at every version: encode succeeds, decoding gives back an
/// equal value and consumes every byte, re-encoding reproduces the bytes, every strict prefix
/// fails to decode (with an error, not a panic), and mutated bytes never panic.
pub fn check<T: Message + Sample>(seed: u64) {
    let mut rng = Rng::new(seed);
    for version in T::VERSIONS.min..=T::VERSIONS.max {
        for case in 0..24 {
            let value = T::sample(&mut rng, version);
            let bytes = value.encode_to_bytes(version).unwrap_or_else(|e| {
                panic!("{} v{version} case {case}: encode failed: {e}\n{value:?}", T::NAME)
            });
            let mut input = bytes.clone();
            let decoded = T::decode(&mut input, version).unwrap_or_else(|e| {
                panic!("{} v{version} case {case}: decode failed: {e}\n{value:?}", T::NAME)
            });
            assert!(input.is_empty(), "{} v{version}: {} bytes left over", T::NAME, input.len());
            assert_eq!(decoded, value, "{} v{version} case {case}: round trip changed the value", T::NAME);
            let again = decoded.encode_to_bytes(version).expect("re-encode");
            assert_eq!(again, bytes, "{} v{version}: re-encoding differs", T::NAME);
            let step = (bytes.len() / 40).max(1);
            for cut in (0..bytes.len()).step_by(step) {
                let mut prefix = bytes.slice(..cut);
                assert!(
                    T::decode(&mut prefix, version).is_err(),
                    "{} v{version}: a {cut}-byte prefix of {} bytes decoded",
                    T::NAME,
                    bytes.len()
                );
            }
            for _ in 0..8 {
                let mut mutated = bytes.to_vec();
                if mutated.is_empty() {
                    break;
                }
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(mutated.len() as u64) as usize;
                    mutated[i] = rng.next() as u8;
                }
                let _ = T::decode(&mut Bytes::from(mutated), version);
            }
        }
    }
}
