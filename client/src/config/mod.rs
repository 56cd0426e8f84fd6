//! Configuration with the Java client's property names and Kafka 4.x defaults.
//!
//! - [`ConfigDef`] is the table of keys (name, type, default, valid values, docs) and the parse
//!   step; the producer, consumer and admin crates [`ConfigDef::extend`] [`ClientConfig::def`].
//! - [`ClientConfig`] is the typed, validated result, built from a map
//!   ([`ClientConfig::from_properties`]), from `.properties` text
//!   ([`ClientConfig::from_properties_text`]) or with [`ClientConfig::builder`].
//! - Errors name the key; an unknown key suggests the closest known one.
//!
//! # Keys
//!
//! This table is generated from [`keys::CLIENT_KEYS`] (`keys.md`; a test fails when it is out of
//! date and `UPDATE_CONFIG_DOCS=1 cargo test -p kafka-client` rewrites it).
//!
#![doc = include_str!("keys.md")]

mod client;
mod def;
pub mod jaas;
pub mod keys;
mod properties;
mod security;
mod suggest;

pub use client::{
    ClientConfig, ClientConfigBuilder, ClientDnsLookup, MetadataRecoveryStrategy, SecurityProtocol,
};
pub use def::{ConfigDef, ConfigKey, ConfigType, ConfigValue, ConfigValues, Properties, Validator};
pub use properties::parse_properties;
pub use security::{KeyStore, SaslCredentials, SaslMechanism, SaslSettings, Secret, SslSettings};

pub(crate) use def::split_host_port;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_table_in_docs_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/config/keys.md");
        let generated = ClientConfig::def().markdown_table();
        if std::env::var_os("UPDATE_CONFIG_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "src/config/keys.md is stale: run UPDATE_CONFIG_DOCS=1 cargo test -p kafka-client keys_table"
        );
    }

    #[test]
    fn every_default_parses_and_every_key_is_documented() {
        for k in ClientConfig::def().keys() {
            assert!(k.doc.len() > 20, "{} needs a doc", k.name);
        }
        // parse() with only the required key exercises every default through its validator.
        let p: Properties = [("bootstrap.servers".to_string(), "h:1".to_string())].into();
        ClientConfig::from_properties(&p).unwrap();
    }
}
