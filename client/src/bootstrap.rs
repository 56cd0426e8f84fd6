//! Bootstrap nodes from `bootstrap.servers`.
//!
//! Each entry becomes a pseudo-node with a negative id (-1, -2, … in list order, as in the
//! Java client). Names are resolved when dialled, and every address a name resolves to is tried
//! in turn (`client.dns.lookup=use_all_dns_ips`), so a bootstrap name behind several IPs
//! survives some of them being down. `resolve_canonical_bootstrap_servers_only` is accepted but
//! not implemented yet (it needs a reverse lookup that std/tokio do not offer); it currently
//! behaves like `use_all_dns_ips` and says so in a debug log.

use crate::{
    config::{ClientConfig, ClientDnsLookup},
    error::BrokerRef,
};

/// The bootstrap pseudo-nodes for `config`.
pub fn bootstrap_nodes(config: &ClientConfig) -> Vec<BrokerRef> {
    if config.client_dns_lookup == ClientDnsLookup::ResolveCanonicalBootstrapServersOnly {
        tracing::debug!(
            "client.dns.lookup=resolve_canonical_bootstrap_servers_only behaves like use_all_dns_ips"
        );
    }
    config
        .bootstrap_servers
        .iter()
        .enumerate()
        .map(|(i, addr)| BrokerRef { id: -(i as i32) - 1, addr: addr.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_ids_in_list_order() {
        let c = ClientConfig::builder().bootstrap_servers(["a:1", "[::1]:2"]).build().unwrap();
        let n = bootstrap_nodes(&c);
        assert_eq!(
            n,
            [BrokerRef { id: -1, addr: "a:1".into() }, BrokerRef { id: -2, addr: "[::1]:2".into() }]
        );
    }
}
