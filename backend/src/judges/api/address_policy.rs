//! Which network addresses a submitted judge endpoint may reach: no special-purpose address
//! (loopback, private, link-local, shared, documentation, multicast, reserved, and the IPv6
//! translation prefixes that embed one of them) and none of this machine's own addresses,
//! unless the server allows them (`serve --allow-private-endpoints`). A submission is checked
//! when it arrives (its host as written), and again at every connection by
//! [`PublicOnlyResolver`], so a name that resolves to a public address when submitted and to a
//! private one later (DNS rebinding) still cannot reach the private network. Redirects, which
//! could name an address literal that no resolver sees, are not followed at all (`client.rs`).
//!
//! The lists follow IANA's "IPv4 Special-Purpose Address Registry" and "IPv6 Special-Purpose
//! Address Registry" (RFC 6890 and its updates), plus the multicast blocks of the IPv4 and IPv6
//! multicast registries. Where the registry marks a block globally reachable but it only ever
//! serves one protocol's anycast (192.0.0.9, 2001:1::1 and the like, inside larger refused
//! blocks), the block is refused whole: a judge endpoint never lives there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// IPv4 blocks an endpoint may not reach: (network, prefix length, registry name).
const REFUSED_V4: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (RFC 791)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private-use (RFC 1918)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (RFC 6598), e.g. carrier-grade NAT and 100.100.100.200 metadata",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (RFC 1122)"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link local (RFC 3927), e.g. 169.254.169.254 metadata",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private-use (RFC 1918)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (RFC 6890)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation TEST-NET-1 (RFC 5737)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "deprecated 6to4 relay anycast (RFC 7526)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private-use (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation TEST-NET-2 (RFC 5737)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation TEST-NET-3 (RFC 5737)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (RFC 5771)"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (RFC 1112)"),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        "limited broadcast (RFC 919)",
    ),
];

/// IPv6 blocks refused outright: (network, prefix length, registry name). The blocks that embed
/// an IPv4 address are judged by that address instead (see [`is_special_purpose_v6`]).
const REFUSED_V6: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified (RFC 4291)"),
    (Ipv6Addr::LOCALHOST, 128, "loopback (RFC 4291)"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments (RFC 2928), Teredo 2001::/32 included",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation (RFC 3849)",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (RFC 9637)",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "segment routing SIDs (RFC 9602)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (RFC 4193)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local unicast (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "deprecated site-local (RFC 3879)",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast (RFC 4291)",
    ),
];

fn in_v4_block(address: Ipv4Addr, network: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(address) & mask == u32::from(network) & mask
}

fn in_v6_block(address: Ipv6Addr, network: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(address) & mask == u128::from(network) & mask
}

fn is_special_purpose_v4(address: Ipv4Addr) -> bool {
    REFUSED_V4
        .iter()
        .any(|&(network, prefix, _)| in_v4_block(address, network, prefix))
}

/// The IPv4 address an IPv6 address carries and reaches (through the host's own stack, a NAT64
/// translator or a 6to4 relay), if it is in one of the blocks that embed one.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(address);
    // ::ffff:0:0/96, IPv4-mapped (RFC 4291)
    if in_v6_block(address, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        // ::/96, deprecated IPv4-compatible (RFC 4291); :: and ::1 are refused before
        || in_v6_block(address, Ipv6Addr::UNSPECIFIED, 96)
        // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052)
        || in_v6_block(address, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        return Some(Ipv4Addr::from(bits as u32));
    }
    // 2002::/16, 6to4 (RFC 3056): the IPv4 address is in bits 16 to 48.
    if in_v6_block(address, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

fn is_special_purpose_v6(address: Ipv6Addr) -> bool {
    if REFUSED_V6
        .iter()
        .any(|&(network, prefix, _)| in_v6_block(address, network, prefix))
    {
        return true;
    }
    // Blocks that carry an IPv4 address are refused when that address is.
    embedded_v4(address).is_some_and(is_special_purpose_v4)
}

/// Whether an address is in a special-purpose block an endpoint may not reach (see the module
/// header for the registries).
pub fn is_special_purpose(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(address) => is_special_purpose_v4(address),
        IpAddr::V6(address) => is_special_purpose_v6(address),
    }
}

/// Whether `address` is assigned to one of this machine's network interfaces (a public address
/// of the server itself reaches its own services as surely as 127.0.0.1 does). Read afresh on
/// every call, since interfaces come and go. If they cannot be read the answer is no, leaving
/// the special-purpose blocks, which hold every address a machine usually gives itself.
fn is_own_address(address: IpAddr) -> bool {
    // An IPv6 form of one of our IPv4 addresses (mapped, NAT64, 6to4) reaches it too.
    let embedded = match address {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    if_addrs::get_if_addrs().is_ok_and(|interfaces| {
        interfaces
            .iter()
            .any(|interface| interface.ip() == address || Some(interface.ip()) == embedded)
    })
}

/// Whether an address is on this machine, a private network, or any other special-purpose
/// block.
pub fn is_private(address: IpAddr) -> bool {
    is_special_purpose(address) || is_own_address(address)
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
                    "{host} resolves only to loopback, link-local, private or other \
                     special-purpose addresses, or to this machine's own, which this server does \
                     not let submitted endpoints reach"
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

    /// Addresses in every refused block, at its edges, and the ones the issue names.
    const REFUSED: &[&str] = &[
        // IPv4
        "0.0.0.0",
        "0.255.255.255",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.0",
        "100.100.100.200",
        "100.127.255.255",
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.1",
        "192.0.0.170",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "250.1.2.3",
        "255.255.255.255",
        // IPv6
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "::10.1.2.3",
        "64:ff9b::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::100.100.100.200",
        "64:ff9b:1::8.8.8.8",
        "64:ff9b:1:ffff::1",
        "100::1",
        "100::ffff:ffff:ffff:ffff",
        "2001::1",
        "2001:0:4136:e378::1",
        "2001:1::1",
        "2001:10::1",
        "2001:1ff:ffff::1",
        "2001:db8::1",
        "2001:db8:ffff::1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "2002:c0a8:101::1",
        "3fff::1",
        "5f00::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "feff::1",
        "ff02::1",
        "ff0e::1",
    ];

    /// Public addresses next to refused blocks, and public ones inside the embedding blocks.
    const ALLOWED: &[&str] = &[
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.1",
        "192.0.1.1",
        "192.0.3.1",
        "192.88.98.1",
        "192.169.0.1",
        "198.17.255.255",
        "198.20.0.0",
        "203.0.114.1",
        "223.255.255.255",
        "2001:4860::8888",
        "2001:200::1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "::8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
        "2003::1",
        "fbff::1",
    ];

    #[test]
    fn special_purpose_blocks_are_refused_and_public_addresses_are_not() {
        for address in REFUSED {
            let parsed: IpAddr = address.parse().expect("an address");
            assert!(is_special_purpose(parsed), "{address} should be refused");
            assert!(is_private(parsed), "{address} should be refused");
        }
        for address in ALLOWED {
            let parsed: IpAddr = address.parse().expect("an address");
            assert!(!is_special_purpose(parsed), "{address} should be allowed");
        }
    }

    #[test]
    fn this_machines_own_addresses_are_refused() {
        let interfaces = if_addrs::get_if_addrs().expect("interfaces are readable");
        assert!(!interfaces.is_empty());
        for interface in interfaces {
            let address = interface.ip();
            assert!(is_private(address), "{address} ({})", interface.name);
            // Including the public ones, which the special-purpose blocks do not cover.
            assert!(is_own_address(address), "{address} ({})", interface.name);
            // And the IPv6 forms that carry an IPv4 one.
            if let IpAddr::V4(v4) = address {
                let [a, b, c, d] = v4.octets();
                let high = u16::from_be_bytes([a, b]);
                let low = u16::from_be_bytes([c, d]);
                for form in [
                    v4.to_ipv6_mapped(),
                    Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, high, low),
                    Ipv6Addr::new(0x2002, high, low, 0, 0, 0, 0, 1),
                ] {
                    assert!(is_own_address(IpAddr::V6(form)), "{form} ({v4})");
                }
            }
        }
    }
}
