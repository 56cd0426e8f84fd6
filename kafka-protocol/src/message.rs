//! The traits every generated message implements.

use bytes::{Bytes, BytesMut};

use crate::{ApiKey, Result};

/// An inclusive range of message versions; [`VersionRange::NONE`] is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Lowest version.
    pub min: i16,
    /// Highest version.
    pub max: i16,
}

impl VersionRange {
    /// The empty range.
    pub const NONE: VersionRange = VersionRange { min: i16::MAX, max: -1 };

    /// Whether `v` is in the range.
    pub fn contains(&self, v: i16) -> bool {
        v >= self.min && v <= self.max
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    /// The overlap of two ranges (e.g. ours and a broker's), `None` if they are disjoint.
    pub fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        let r = VersionRange { min: self.min.max(other.min), max: self.max.min(other.max) };
        (!r.is_empty()).then_some(r)
    }
}

/// Writes a value at a given version.
pub trait Encodable {
    /// Appends the encoding of `self` at `version` to `buf`. Fails, rather than silently
    /// dropping data, when a field holds a non-default value the version cannot carry.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<()>;
}

/// Reads a value at a given version.
pub trait Decodable: Sized {
    /// Decodes one value from the front of `buf`, advancing it. Total: any input gives `Ok` or
    /// `Err`, never a panic; byte and record fields are zero-copy slices of `buf`.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self>;
}

/// A top-level message (request, response, header or data message).
pub trait Message: Encodable + Decodable + Default + Clone + std::fmt::Debug + PartialEq {
    /// The schema name, e.g. `FetchRequest`.
    const NAME: &'static str;
    /// Versions this codec can encode and decode.
    const VERSIONS: VersionRange;
    /// Versions using the flexible (compact + tagged fields) encoding.
    const FLEXIBLE_VERSIONS: VersionRange;
    /// Versions the schema marks deprecated.
    const DEPRECATED_VERSIONS: VersionRange;

    /// Encodes into a fresh buffer.
    fn encode_to_bytes(&self, version: i16) -> Result<Bytes> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf, version)?;
        Ok(buf.freeze())
    }
}

/// A request body, tied to its response type and API key.
pub trait Request: Message {
    /// The API key.
    const API_KEY: ApiKey;
    /// Whether the highest version is still unstable upstream.
    const LATEST_VERSION_UNSTABLE: bool;
    /// The response body type.
    type Response: Response;

    /// The request header version used with body version `version`: 2 for flexible versions,
    /// otherwise 1.
    fn header_version(version: i16) -> i16 {
        crate::frame::request_header_version(Self::API_KEY, version)
    }
}

/// A response body.
pub trait Response: Message {
    /// The API key.
    const API_KEY: ApiKey;

    /// The response header version used with body version `version`: 1 for flexible versions,
    /// otherwise 0; ApiVersions responses always use 0 (a client that does not yet know the
    /// broker's versions must be able to read them).
    fn header_version(version: i16) -> i16 {
        crate::frame::response_header_version(Self::API_KEY, version)
    }
}
