//! Who the client is, for login limits: the peer address, or, when the peer
//! is a trusted reverse proxy (`--trusted-proxies`), the right-most
//! `X-Forwarded-For` address that is not itself a trusted proxy.
//! `X-Forwarded-For` from anyone else is ignored. IPv6 clients are grouped
//! by /64 (one customer usually holds a whole /64).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address block, `10.0.0.0/8`, `fd00::/64` or a bare address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical(
            a.parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an address or CIDR block"))?,
        );
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client's address: the peer, or what trusted proxies forwarded.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // Garbage: believe nothing further left.
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// The key login limits count under: the IPv4 address, or the IPv6 /64.
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{net}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.9.8.7".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        let c: Cidr = "fd00:1::/32".parse().unwrap();
        assert!(c.contains("fd00:1:ffff::1".parse().unwrap()));
        assert!(!c.contains("fd00:2::1".parse().unwrap()));
        let c: Cidr = "127.0.0.1".parse().unwrap();
        assert!(c.contains("127.0.0.1".parse().unwrap()));
        assert!(!c.contains("127.0.0.2".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = xff("6.6.6.6, 1.2.3.4, 10.0.0.2");
        // From an untrusted peer, the header is ignored.
        assert_eq!(
            client_ip("5.5.5.5".parse().unwrap(), &h, &trusted),
            "5.5.5.5".parse::<IpAddr>().unwrap()
        );
        // No trusted proxies configured: ignored too.
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &h, &[]),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        // From a trusted proxy: the right-most untrusted hop (the client's
        // own spoofed 6.6.6.6 to its left is not believed).
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &xff("1.2.3.4, junk"), &trusted),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ipv6_groups_by_64() {
        assert_eq!(
            limit_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            limit_key("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
        assert_ne!(
            limit_key("2001:db8:1:2::1".parse().unwrap()),
            limit_key("2001:db8:1:3::1".parse().unwrap())
        );
        assert_eq!(limit_key("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
    }
}
