//! The crate's single error type.

/// Everything that can go wrong while encoding or decoding Kafka bytes.
///
/// Decoders are total: any byte string yields a value or one of these errors, never a panic.
/// Each variant names where the problem was found (`at`: message and field, or a record-batch
/// component) so that an error read in a log points at the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a value was complete.
    #[error("truncated input while reading {at}: needed {needed} bytes but only {remaining} remain")]
    Truncated {
        /// What was being read.
        at: &'static str,
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length prefix is negative (and not the null marker) or larger than the bytes that remain.
    #[error("invalid length {length} while reading {at}: {remaining} bytes remain")]
    InvalidLength {
        /// What was being read.
        at: &'static str,
        /// The claimed length.
        length: i64,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A null was found (or given) where the version does not allow one.
    #[error("{at} is null but is not nullable at version {version}")]
    UnexpectedNull {
        /// The field.
        at: &'static str,
        /// The message version.
        version: i16,
    },
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8 in {at}")]
    InvalidUtf8 {
        /// The field.
        at: &'static str,
    },
    /// A variable-length integer was longer than its type allows.
    #[error("malformed varint while reading {at}")]
    InvalidVarint {
        /// What was being read.
        at: &'static str,
    },
    /// A message version outside the range this codec knows.
    #[error("{api} version {version} is not supported (this codec supports {min} to {max})")]
    UnsupportedVersion {
        /// The message or API name.
        api: &'static str,
        /// The version asked for.
        version: i16,
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
    },
    /// A field holds a non-default value that the chosen version cannot carry; sending it would
    /// silently lose information.
    #[error("{at} has a non-default value that version {version} cannot carry")]
    FieldNotSupported {
        /// The field.
        at: &'static str,
        /// The message version.
        version: i16,
    },
    /// A value is too large for its wire representation (e.g. a string over 32767 bytes in a
    /// non-flexible version).
    #[error("{at} is too long to encode: {length} exceeds {max}")]
    ValueTooLarge {
        /// The field.
        at: &'static str,
        /// Its length.
        length: usize,
        /// The largest encodable length.
        max: usize,
    },
    /// An API key this codec does not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A frame's size prefix exceeds the configured maximum (or is negative). Typical when a
    /// plaintext client reads a TLS alert or an HTTP reply.
    #[error("frame size {size} is outside 0..={max}{hint}")]
    FrameTooLarge {
        /// The claimed size.
        size: i64,
        /// The configured maximum.
        max: usize,
        /// A guess at the cause, or empty.
        hint: &'static str,
    },
    /// Bytes were left over after a complete message was decoded.
    #[error("{remaining} trailing bytes after {at}")]
    TrailingBytes {
        /// The message.
        at: &'static str,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A record batch's CRC-32C does not match its contents.
    #[error(
        "CRC mismatch in record batch at base offset {base_offset}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        /// The batch's base offset.
        base_offset: i64,
        /// The CRC in the batch header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// Structurally invalid records (bad magic, inconsistent lengths, counts that do not match).
    #[error("corrupt records at base offset {base_offset}: {reason}")]
    CorruptRecords {
        /// The batch's base offset (or -1 when unknown).
        base_offset: i64,
        /// What is wrong.
        reason: String,
    },
    /// A compression codec id this crate does not know.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    /// Compressing or decompressing failed.
    #[error("{codec} {operation} failed: {reason}")]
    Compression {
        /// The codec name.
        codec: &'static str,
        /// `compression` or `decompression`.
        operation: &'static str,
        /// The underlying error.
        reason: String,
    },
    /// Decompressed output would exceed the cap (a decompression bomb, or a cap set too low).
    #[error("{codec} decompressed output exceeds the limit of {limit} bytes")]
    DecompressionLimit {
        /// The codec name.
        codec: &'static str,
        /// The cap.
        limit: usize,
    },
}

impl Error {
    /// Whether retrying the operation that produced this error might succeed. Only a CRC
    /// mismatch qualifies (Kafka's `CorruptRecordException` is retriable: bytes damaged in
    /// transit can arrive intact on a new fetch); every other codec error is deterministic.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::CrcMismatch { .. })
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
