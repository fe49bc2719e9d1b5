//! The access rule for mutating admin endpoints.
//!
//! With an `admin_token` configured (file or `PARKMESH_ADMIN_TOKEN`), a request needs
//! `Authorization: Bearer <token>` and may come from anywhere. Without one, only loopback clients are
//! accepted, so a fresh install is not open to the LAN (the original accepted admin changes from
//! anyone) yet stays usable on the machine itself; the server warns about this at start-up.

use std::net::IpAddr;

use crate::error::AdminDenied;
use crate::model::Config;

impl Config {
    /// Decides whether a mutating admin request may proceed. `remote` is the client's address (if
    /// known), `authorization` the raw `Authorization` header (if any).
    pub fn authorize_admin(
        &self,
        remote: Option<IpAddr>,
        authorization: Option<&str>,
    ) -> Result<(), AdminDenied> {
        match self.admin_token() {
            None => match remote {
                Some(ip) if ip.to_canonical().is_loopback() => Ok(()),
                _ => Err(AdminDenied::NotLoopback),
            },
            Some(token) => {
                let presented = authorization
                    .and_then(bearer)
                    .ok_or(AdminDenied::MissingToken)?;
                if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
                    Ok(())
                } else {
                    Err(AdminDenied::WrongToken)
                }
            }
        }
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
