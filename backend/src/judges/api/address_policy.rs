//! Which network addresses a submitted judge endpoint may reach: not this machine, link-local or
//! private networks, unless the server allows them (`serve --allow-private-endpoints`). A
//! submission is checked when it arrives (its host as written), and again at every connection by
//! [`PublicOnlyResolver`], so a name that resolves to a public address when submitted and to a
//! private one later (DNS rebinding) still cannot reach the private network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

fn is_private_v4(address: Ipv4Addr) -> bool {
    address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_unspecified()
        || address.is_broadcast()
}

fn is_private_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    address.is_loopback()
        || address.is_unspecified()
        // fc00::/7, unique local
        || first & 0xfe00 == 0xfc00
        // fe80::/10, link-local
        || first & 0xffc0 == 0xfe80
        || address
            .to_ipv4_mapped()
            .is_some_and(is_private_v4)
}

/// Whether an address is on this machine or a private network.
pub fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(address) => is_private_v4(address),
        IpAddr::V6(address) => is_private_v6(address),
    }
}

/// Resolves names like the system does, then drops every private address; a name left with
/// none fails to connect, with a message naming it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| !is_private(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to loopback, link-local or private addresses, which \
                     this server does not let submitted endpoints reach"
                )
                .into());
            }
            let addresses: Addrs = Box::new(public.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_of_private_addresses_are_not_resolved() {
        let name: Name = "localhost".parse().expect("a name");
        let error = match PublicOnlyResolver.resolve(name).await {
            Ok(_) => panic!("localhost resolved"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("localhost resolves only to"), "{error}");
    }
}
