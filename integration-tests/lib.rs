//! Whole-system tests of the SDK. They run against the embedded test broker, or against the
//! cluster named by the `KAFKA_BOOTSTRAP` environment variable once the client runtime and the
//! test broker have landed. Until then this crate holds no tests.
