//! Runnable examples of the SDK. The quickstart (produce and consume on the embedded test
//! broker) arrives with the producer and consumer; until then this crate holds the protocol
//! example `encode_request` (`cargo run -p examples --example encode_request`).
