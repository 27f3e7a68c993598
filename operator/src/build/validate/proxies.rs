//! Validation of `spec.gateway.trustedProxies` and the gateway's final trusted-proxy list.
//!
//! Invariant: the list handed to the builders holds only canonical CIDRs (network address with
//! no host bits, prefix within the family's width), so the gateway never refuses what the
//! operator wrote; an entry that is not one is an error naming its index and what to write.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ValidationError;
use crate::crd::PlatformSpec;

/// Where Istio's sidecar connects to the application from (its inbound passthrough bind
/// addresses): behind the Istio ingress gateway this is the gateway's peer on every request.
const SIDECAR_SOURCES: [Cidr; 2] = [
    Cidr {
        addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 6)),
        prefix: 32,
    },
    Cidr {
        addr: IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 6)),
        prefix: 128,
    },
];

/// An IP network: `addr/prefix`, canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not a canonical CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error(
        "has no /prefix; write a network such as 10.244.0.0/16 (or 10.0.0.7/32 for one address)"
    )]
    NoPrefix,
    #[error("`{0}` is not an IPv4 or IPv6 address")]
    Address(String),
    #[error("prefix `{prefix}` is not a number from 0 to {max}")]
    Prefix { prefix: String, max: u8 },
    #[error("has host bits set; the network is {0}")]
    HostBits(Cidr),
}

impl Cidr {
    /// Parses `addr/prefix`, refusing host bits (a typo such as 10.244.1.0/16 would silently
    /// trust more, or other, addresses than meant).
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = text.trim().split_once('/').ok_or(CidrError::NoPrefix)?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(addr.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| CidrError::Prefix {
                prefix: prefix.to_owned(),
                max,
            })?;
        let network = Self {
            addr: mask(addr, prefix),
            prefix,
        };
        if network.addr != addr {
            return Err(CidrError::HostBits(network));
        }
        Ok(network)
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & bits))
        }
        IpAddr::V6(a) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & bits))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies the gateway trusts, in order (empty: the peer address is the client).
///
/// Behind the Istio ingress gateway the gateway's peer is its own sidecar, which forwards the
/// ingress gateway's `X-Forwarded-For` (whose right-most entry the ingress gateway appended);
/// so the sidecar is trusted, followed by `spec.gateway.trustedProxies` (the pod network, for
/// sidecars that keep the original source address). Without the Istio ingress nobody appends a
/// trustworthy entry, so only the listed proxies are trusted, and none unless listed.
pub(super) fn trusted_proxies(
    spec: &PlatformSpec,
    behind_istio_ingress: bool,
) -> Result<Vec<Cidr>, ValidationError> {
    let listed = spec
        .gateway
        .as_ref()
        .map(|g| g.trusted_proxies.as_slice())
        .unwrap_or_default();
    let mut out = Vec::new();
    if behind_istio_ingress {
        out.extend(SIDECAR_SOURCES);
    }
    for (index, value) in listed.iter().enumerate() {
        let cidr = Cidr::parse(value).map_err(|source| ValidationError::TrustedProxy {
            index,
            value: value.clone(),
            source,
        })?;
        if !out.contains(&cidr) {
            out.push(cidr);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(proxies: &[&str]) -> PlatformSpec {
        serde_json::from_value(serde_json::json!({
            "version": "0.1.0",
            "gateway": {"trustedProxies": proxies},
        }))
        .unwrap()
    }

    fn texts(cidrs: &[Cidr]) -> Vec<String> {
        cidrs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn canonical_networks_of_both_families_parse() {
        assert_eq!(
            Cidr::parse("10.244.0.0/16").unwrap().to_string(),
            "10.244.0.0/16"
        );
        assert_eq!(Cidr::parse("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(
            Cidr::parse("192.0.2.7/32").unwrap().to_string(),
            "192.0.2.7/32"
        );
    }

    #[test]
    fn a_bare_address_a_bad_prefix_or_host_bits_are_refused_with_the_fix() {
        assert_eq!(Cidr::parse("10.0.0.1"), Err(CidrError::NoPrefix));
        assert_eq!(
            Cidr::parse("10.0.0.300/8"),
            Err(CidrError::Address("10.0.0.300".into()))
        );
        assert!(matches!(
            Cidr::parse("10.0.0.0/33"),
            Err(CidrError::Prefix { max: 32, .. })
        ));
        let error = Cidr::parse("10.244.1.0/16").unwrap_err();
        assert_eq!(
            error.to_string(),
            "has host bits set; the network is 10.244.0.0/16"
        );
    }

    #[test]
    fn without_istio_ingress_only_the_listed_proxies_are_trusted() {
        assert!(trusted_proxies(&spec(&[]), false).unwrap().is_empty());
        assert_eq!(
            texts(&trusted_proxies(&spec(&["10.244.0.0/16"]), false).unwrap()),
            ["10.244.0.0/16"]
        );
    }

    #[test]
    fn behind_istio_ingress_the_sidecar_comes_first_then_the_pod_network() {
        assert_eq!(
            texts(&trusted_proxies(&spec(&["10.244.0.0/16"]), true).unwrap()),
            ["127.0.0.6/32", "::6/128", "10.244.0.0/16"]
        );
    }

    #[test]
    fn an_invalid_entry_names_its_index_and_value() {
        let error = trusted_proxies(&spec(&["10.0.0.0/8", "pods"]), false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.gateway.trustedProxies[1] `pods`: has no /prefix; write a network such as \
             10.244.0.0/16 (or 10.0.0.7/32 for one address)"
        );
    }
}
