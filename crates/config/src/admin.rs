//! The access rule for mutating admin endpoints: the one rule the API's admin filter applies.
//!
//! A request is allowed when it carries `Authorization: Bearer <admin_token>` (scheme in any
//! case, from any address), or when it carries no bearer token and comes from a network listed
//! in `admin_networks` (CIDR; loopback by default). IPv4 clients seen through a dual-stack
//! socket (`::ffff:192.168.1.7`) count as IPv4. A bearer token that does not match is refused
//! even from a listed network: a client that sends one means to use it, and a stale token
//! should be noticed, not silently accepted.
//!
//! The networks exist for the original web frontend, which cannot send a token: listing the
//! guard PCs' LAN lets its history edits and settings work there. Every device on a listed
//! network then has admin rights, so list the narrowest network the admin PCs share.

use std::net::IpAddr;

use crate::error::AdminDenied;
use crate::model::Config;

/// How an admin request was allowed; names the caller in the audit trail when it gives no
/// `X-Operator` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminGrant {
    /// It presented the admin token.
    Token,
    /// It came without a token from an address in `admin_networks`.
    Network(IpAddr),
}

impl AdminGrant {
    /// A short label for the audit trail: `admin` for the token, `admin@<address>` for a client
    /// of an admin network.
    pub fn identity(&self) -> String {
        match self {
            AdminGrant::Token => "admin".to_owned(),
            AdminGrant::Network(ip) => format!("admin@{ip}"),
        }
    }
}

impl Config {
    /// Decides whether a mutating admin request may proceed. `remote` is the client's address (if
    /// known), `authorization` the raw `Authorization` header (if any).
    pub fn authorize_admin(
        &self,
        remote: Option<IpAddr>,
        authorization: Option<&str>,
    ) -> Result<AdminGrant, AdminDenied> {
        let token = self.admin_token();
        let presented = authorization.and_then(bearer);
        if let (Some(token), Some(presented)) = (token, presented) {
            return if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
                Ok(AdminGrant::Token)
            } else {
                Err(AdminDenied::WrongToken)
            };
        }
        let remote = remote.map(|ip| ip.to_canonical());
        if let Some(ip) = remote
            && self.admin_networks().iter().any(|n| n.contains(ip))
        {
            return Ok(AdminGrant::Network(ip));
        }
        Err(match token {
            Some(_) => AdminDenied::MissingToken,
            None => AdminDenied::NotAdminNetwork { remote },
        })
    }
}

/// The token of a `Bearer <token>` header value (scheme case-insensitive, RFC 7235).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares without an early exit, so the time taken does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer  "), None);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokeN"));
        assert!(!constant_time_eq(b"token", b"token2"));
    }
}
