//! Who the client is when proxies sit in front of the gateway. The socket peer is the client
//! unless it is one of the configured proxies; then `x-forwarded-for` is read from the right
//! (each proxy appends the address it saw) and the first hop that is not a trusted proxy is the
//! client. A client can write anything at the left of the header, so nothing it wrote is
//! believed: that is nginx's `real_ip_recursive on` with `set_real_ip_from`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// An address block such as `10.0.0.0/8`, `fd00::/8` or a single address (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IP address")]
    Address(String),
    #[error("{0:?} is not a prefix length (0-32 for IPv4, 0-128 for IPv6)")]
    Prefix(String),
    #[error("{0} has host bits set; the block is {1}")]
    HostBits(String, String),
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let written = address
            .parse::<IpAddr>()
            .map_err(|_| CidrError::Address(address.to_string()))?;
        let max = if written.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| CidrError::Prefix(p.to_string()))?,
        };
        // An IPv4-mapped block (`::ffff:10.0.0.0/104`) is the IPv4 block it maps; peers are
        // compared in their canonical form too.
        let network = written.to_canonical();
        let prefix = match (written, network) {
            (IpAddr::V6(_), IpAddr::V4(_)) => prefix
                .checked_sub(96)
                .ok_or_else(|| CidrError::Prefix(prefix.to_string()))?,
            _ => prefix,
        };
        let masked = match network {
            IpAddr::V4(a) => IpAddr::from((u32::from(a) & mask_v4(prefix)).to_be_bytes()),
            IpAddr::V6(a) => IpAddr::from((u128::from(a) & mask_v6(prefix)).to_be_bytes()),
        };
        if masked != network {
            return Err(CidrError::HostBits(
                s.to_string(),
                format!("{masked}/{prefix}"),
            ));
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose `x-forwarded-for` and `x-forwarded-proto` the gateway believes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
}

impl FromStr for TrustedProxies {
    type Err = CidrError;

    /// A comma-separated list of blocks; empty means no proxy is trusted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let blocks = s
            .split(',')
            .filter(|b| !b.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { blocks })
    }
}

impl TrustedProxies {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address: the right-most hop of peer + `x-forwarded-for` that is not a
    /// trusted proxy. A hop that is not an address ends the walk at the last trusted one, so
    /// garbage cannot pick a bucket; when every hop is trusted, the left-most is the client.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for hop in hops(headers).rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                return client;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }

    /// The `x-forwarded-for` the backend receives: the chain so far plus the peer when the peer
    /// is trusted, else the peer alone (what an untrusted client wrote is dropped).
    pub fn forwarded_for(&self, peer: IpAddr, headers: &HeaderMap) -> String {
        let peer = peer.to_canonical();
        let chain: Vec<&str> = hops(headers).collect();
        if self.trusts(peer) && !chain.is_empty() {
            format!("{}, {peer}", chain.join(", "))
        } else {
            peer.to_string()
        }
    }
}

/// Every `x-forwarded-for` entry in order, over all copies of the header.
fn hops(headers: &HeaderMap) -> impl DoubleEndedIterator<Item = &str> {
    headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(s: &str) -> TrustedProxies {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain_what_they_should() {
        let b: Cidr = "10.244.0.0/16".parse().unwrap();
        assert!(b.contains(ip("10.244.3.9")));
        assert!(!b.contains(ip("10.245.0.1")));
        assert!(b.contains(ip("::ffff:10.244.0.1")), "IPv4-mapped peer");
        let single: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(single.to_string(), "192.0.2.7/32");
        assert!(single.contains(ip("192.0.2.7")));
        assert!(!single.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.9.8.7")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.5")));
    }

    #[test]
    fn bad_blocks_say_what_is_wrong() {
        assert_eq!(
            "10.0.0.1/8".parse::<Cidr>().unwrap_err().to_string(),
            "10.0.0.1/8 has host bits set; the block is 10.0.0.0/8"
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::Prefix(_))
        ));
        assert!(matches!(
            "cluster".parse::<Cidr>(),
            Err(CidrError::Address(_))
        ));
        assert!("10.0.0.0/8, nope".parse::<TrustedProxies>().is_err());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let trusted = proxies("10.0.0.0/8");
        let forged = xff(&["1.1.1.1"]);
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &forged),
            ip("203.0.113.9")
        );
        assert_eq!(
            trusted.forwarded_for(ip("203.0.113.9"), &forged),
            "203.0.113.9"
        );
        let nobody = TrustedProxies::none();
        assert_eq!(nobody.client(ip("10.0.0.5"), &forged), ip("10.0.0.5"));
    }

    #[test]
    fn a_client_cannot_pick_its_address_through_a_trusted_proxy() {
        // The client sends "x-forwarded-for: 1.1.1.1"; the ingress appends what it saw.
        let trusted = proxies("10.0.0.0/8");
        let headers = xff(&["1.1.1.1, 198.51.100.20"]);
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &headers),
            ip("198.51.100.20")
        );
        assert_eq!(
            trusted.forwarded_for(ip("10.0.0.5"), &headers),
            "1.1.1.1, 198.51.100.20, 10.0.0.5"
        );
    }

    #[test]
    fn several_trusted_hops_are_skipped_across_header_copies() {
        let trusted = proxies("10.0.0.0/8, 172.16.0.0/12");
        let headers = xff(&["198.51.100.20, 172.16.0.9", "10.1.2.3"]);
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &headers),
            ip("198.51.100.20")
        );
        let all_trusted = xff(&["10.9.9.9, 10.1.2.3"]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &all_trusted), ip("10.9.9.9"));
        // A trusted peer that sent no header is itself the client.
        assert_eq!(trusted.client(ip("10.0.0.5"), &xff(&[])), ip("10.0.0.5"));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_trusted_hop() {
        let trusted = proxies("10.0.0.0/8");
        let headers = xff(&["198.51.100.20, not-an-ip, 10.1.2.3"]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &headers), ip("10.1.2.3"));
    }
}
