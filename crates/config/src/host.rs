//! [`Host`]: where a central is reached, an IP address or a DNS host name, and its parser.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// An address others dial: an IP address or a DNS host name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS host name (RFC 1123 labels), resolved when dialling.
    Name(String),
}

impl Host {
    /// Parses an IP address (IPv6 optionally in brackets) or a DNS host name.
    pub fn parse(s: &str) -> Option<Host> {
        parse_host(s).ok()
    }

    /// `host:port`, with IPv6 addresses in brackets.
    pub fn with_port(&self, port: u16) -> String {
        match self {
            Host::Ip(ip) => SocketAddr::new(*ip, port).to_string(),
            Host::Name(name) => format!("{name}:{port}"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// Parses an IP address or DNS host name; the error says what is wrong and how to fix it.
pub(crate) fn parse_host(s: &str) -> Result<Host, String> {
    if s.is_empty() {
        return Err(
            "empty — set the IP address or host name of the central, e.g. \"192.168.1.20\"".into(),
        );
    }
    if s.trim() != s {
        return Err(format!(
            "{s:?} has leading or trailing spaces — remove them"
        ));
    }
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let fix = "write only the address, e.g. \"192.168.1.20\" or \"central-b.example.lan\" (no scheme, port or path)";
    let name = s.strip_suffix('.').unwrap_or(s);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !labels.iter().all(label_ok) {
        return Err(format!("{s:?} is not an IP address or host name — {fix}"));
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{s:?} is not a valid IPv4 address — {fix}"));
    }
    Ok(Host::Name(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("10.0.0.7"),
            Ok(Host::Ip("10.0.0.7".parse().unwrap()))
        );
        assert_eq!(parse_host("[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(
            parse_host("central-b.lan."),
            Ok(Host::Name("central-b.lan".into()))
        );
        assert_eq!(parse_host("localhost"), Ok(Host::Name("localhost".into())));
        for bad in [
            "",
            " 10.0.0.1",
            "10.0.0.300",
            "http://10.0.0.1",
            "10.0.0.1:9000",
            "a..b",
            "-a.b",
            "a_b",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            Host::Ip("::1".parse().unwrap()).with_port(9000),
            "[::1]:9000"
        );
        assert_eq!(Host::Name("c.lan".into()).with_port(8000), "c.lan:8000");
    }
}
