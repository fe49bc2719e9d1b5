//! [`Network`]: an IP network in CIDR notation (`192.168.1.0/24`, `fd00::/8`, or a bare address
//! for one host), the unit of `admin_networks`.
//!
//! Parsing is strict: the address must be a literal IPv4 or IPv6 address and the prefix must fit
//! it (0–32 or 0–128). Host bits set below the prefix (`192.168.1.7/24`) are accepted and ignored,
//! as most tools do. Matching canonicalises the client address first, so an IPv4 client seen
//! through a dual-stack socket as `::ffff:192.168.1.7` matches `192.168.1.0/24`.

use std::fmt;
use std::net::IpAddr;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `addr/prefix` or a bare `addr` (the whole address: /32 or /128); the error names
    /// the problem.
    pub fn parse(text: &str) -> Result<Network, String> {
        let text = text.trim();
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!(
                "{text:?} is not a network — write an address and a prefix length, e.g. \"192.168.1.0/24\" or \"127.0.0.1\""
            )
        })?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("{text:?}: the prefix length must be a number from 0 to {max}")
            })?,
        };
        Ok(Network { addr, prefix })
    }

    /// Whether `ip` (canonicalised: IPv4-mapped IPv6 counts as IPv4) lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), ip) => {
                // An IPv4 client against an IPv6 network (e.g. `::ffff:0:0/96`): its mapped form.
                let ip = match ip {
                    IpAddr::V6(v6) => v6,
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                };
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }

    /// Whether this network is `0.0.0.0/0` or `::/0`: every address.
    pub fn contains_everything(&self) -> bool {
        self.prefix == 0
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_matches() {
        let lan = Network::parse("192.168.1.0/24").unwrap();
        assert!(lan.contains(ip("192.168.1.7")));
        assert!(lan.contains(ip("::ffff:192.168.1.7")), "IPv4-mapped");
        assert!(!lan.contains(ip("192.168.2.7")));
        assert!(!lan.contains(ip("::1")));
        let host = Network::parse("10.0.0.5").unwrap();
        assert_eq!(host.to_string(), "10.0.0.5/32");
        assert!(host.contains(ip("10.0.0.5")) && !host.contains(ip("10.0.0.6")));
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::2")));
        let v6 = Network::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let one = Network::parse("::1/128").unwrap();
        assert!(one.contains(ip("::1")));
        let any6 = Network::parse("::/0").unwrap();
        assert!(any6.contains(ip("2001:db8::1")));
        let mapped = Network::parse("::ffff:0:0/96").unwrap();
        assert!(
            mapped.contains(ip("192.168.1.7")),
            "IPv4 client, IPv4-mapped network"
        );
        let loose = Network::parse(" 192.168.1.77/24 ").unwrap();
        assert!(loose.contains(ip("192.168.1.1")), "host bits ignored");
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "/24",
            "192.168.1.0/",
            "192.168.1.0/33",
            "192.168.1.0/-1",
            "::/129",
            "lan",
            "192.168.1/24",
            "192.168.1.0/24/8",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad:?} accepted");
        }
        let why = Network::parse("10.0.0.0/40").unwrap_err();
        assert!(why.contains("0 to 32"), "{why}");
    }
}
