//! Mutual authentication of two centrals by the shared cluster secret.
//!
//! During the handshake each side sends a random [`Nonce`] in its `Hello`, then proves knowledge
//! of the cluster secret with an [`AuthProof`]: HMAC-SHA256 keyed by the secret over a domain tag,
//! the prover's id and nonce, then the verifier's id and nonce (each length-prefixed). The order
//! is fixed by role (prover first), so a proof can neither be reflected back to its sender nor
//! replayed on another connection (the verifier's fresh nonce is inside it).
//!
//! Membership calls between centrals over HTTP (`register-peer`, `unregister-peer`) carry a
//! proof of their own, [`membership_proof`]: the same HMAC over a different domain tag, the
//! caller's and the target's ids, the call's purpose and its timestamp. The tags differ, so a
//! handshake proof is never a valid membership proof, nor the other way round.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::event::CentralId;

/// Domain-separation tag mixed into every handshake proof.
const AUTH_TAG: &[u8] = b"parkmesh-mesh-auth-v2";
/// Domain-separation tag mixed into every membership proof.
const MEMBERSHIP_TAG: &[u8] = b"parkmesh-membership-v1";

/// 16 random bytes chosen by one side of a connection. JSON form: 32 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nonce(pub [u8; 16]);

/// An HMAC-SHA256 proof of the cluster secret. JSON form: 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AuthProof(pub [u8; 32]);

impl fmt::Debug for AuthProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Proofs are not secret, but short logs are kinder.
        write!(f, "AuthProof({}…)", &hex(&self.0)[..8])
    }
}

/// A hex field of the wrong length or with a non-hex digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hex field: expected {expected} hex digits")]
pub struct HexError {
    /// The number of hex digits the field must have.
    pub expected: usize,
}

impl TryFrom<String> for Nonce {
    type Error = HexError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        unhex(&s).map(Self)
    }
}

impl From<Nonce> for String {
    fn from(n: Nonce) -> Self {
        hex(&n.0)
    }
}

impl TryFrom<String> for AuthProof {
    type Error = HexError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        unhex(&s).map(Self)
    }
}

impl From<AuthProof> for String {
    fn from(p: AuthProof) -> Self {
        hex(&p.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn unhex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let err = HexError { expected: N * 2 };
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return Err(err);
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0_u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let (hi, lo) = (
            digit(pair[0]).ok_or(err.clone())?,
            digit(pair[1]).ok_or(err.clone())?,
        );
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

/// HMAC-SHA256 keyed by `secret` over `tag`, then each of `parts` length-prefixed.
fn tagged_mac(secret: &[u8], tag: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .expect("hmac accepts keys of any length, so this never fails");
    m.update(tag);
    for part in parts {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    m
}

fn mac(
    secret: &[u8],
    prover: &CentralId,
    prover_nonce: &Nonce,
    verifier: &CentralId,
    verifier_nonce: &Nonce,
) -> Hmac<Sha256> {
    tagged_mac(
        secret,
        AUTH_TAG,
        &[
            prover.as_str().as_bytes(),
            &prover_nonce.0,
            verifier.as_str().as_bytes(),
            &verifier_nonce.0,
        ],
    )
}

fn into_proof(m: Hmac<Sha256>) -> AuthProof {
    let mut out = [0_u8; 32];
    out.copy_from_slice(&m.finalize().into_bytes());
    AuthProof(out)
}

fn membership_mac(
    secret: &[u8],
    caller: &CentralId,
    target: &CentralId,
    purpose: &str,
    ts_ms: i64,
) -> Hmac<Sha256> {
    tagged_mac(
        secret,
        MEMBERSHIP_TAG,
        &[
            caller.as_str().as_bytes(),
            target.as_str().as_bytes(),
            purpose.as_bytes(),
            &ts_ms.to_be_bytes(),
        ],
    )
}

/// The proof that `caller` knows `secret`, for a membership call to `target` with `purpose`
/// (the call's name, e.g. `register-peer`) made at `ts_ms` (ms since the epoch; the target
/// refuses a timestamp far from its own clock, which bounds replays).
pub fn membership_proof(
    secret: &[u8],
    caller: &CentralId,
    target: &CentralId,
    purpose: &str,
    ts_ms: i64,
) -> AuthProof {
    into_proof(membership_mac(secret, caller, target, purpose, ts_ms))
}

/// Checks, in constant time, a membership proof received from `caller`; the arguments are those
/// of [`membership_proof`].
pub fn verify_membership_proof(
    secret: &[u8],
    caller: &CentralId,
    target: &CentralId,
    purpose: &str,
    ts_ms: i64,
    proof: &AuthProof,
) -> bool {
    membership_mac(secret, caller, target, purpose, ts_ms)
        .verify_slice(&proof.0)
        .is_ok()
}

/// The proof that `prover` (who sent `prover_nonce` in its `Hello`) knows `secret`, addressed to
/// `verifier` (who sent `verifier_nonce`).
pub fn auth_proof(
    secret: &[u8],
    prover: &CentralId,
    prover_nonce: &Nonce,
    verifier: &CentralId,
    verifier_nonce: &Nonce,
) -> AuthProof {
    into_proof(mac(secret, prover, prover_nonce, verifier, verifier_nonce))
}

/// Checks, in constant time, a proof received from `prover`. Arguments are in the same order as
/// for [`auth_proof`] (prover first), i.e. the verifier passes the peer's id and nonce first.
pub fn verify_auth_proof(
    secret: &[u8],
    prover: &CentralId,
    prover_nonce: &Nonce,
    verifier: &CentralId,
    verifier_nonce: &Nonce,
    proof: &AuthProof,
) -> bool {
    mac(secret, prover, prover_nonce, verifier, verifier_nonce)
        .verify_slice(&proof.0)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CentralId {
        CentralId::new(s).unwrap()
    }

    #[test]
    fn proof_verifies_with_the_same_secret_only() {
        let (a, b) = (id("a"), id("b"));
        let (na, nb) = (Nonce([1; 16]), Nonce([2; 16]));
        let p = auth_proof(b"secret", &a, &na, &b, &nb);
        assert!(verify_auth_proof(b"secret", &a, &na, &b, &nb, &p));
        assert!(!verify_auth_proof(b"other", &a, &na, &b, &nb, &p));
        assert!(!verify_auth_proof(
            b"secret",
            &a,
            &na,
            &b,
            &Nonce([3; 16]),
            &p
        ));
    }

    #[test]
    fn proof_is_bound_to_the_direction() {
        let (a, b) = (id("a"), id("b"));
        let (na, nb) = (Nonce([1; 16]), Nonce([2; 16]));
        let from_a = auth_proof(b"s", &a, &na, &b, &nb);
        let from_b = auth_proof(b"s", &b, &nb, &a, &na);
        assert_ne!(from_a, from_b);
        // Reflecting A's proof back to A as if B had made it fails.
        assert!(!verify_auth_proof(b"s", &b, &nb, &a, &na, &from_a));
    }

    #[test]
    fn length_prefix_separates_ids_and_nonces() {
        let n = Nonce([0; 16]);
        let p1 = auth_proof(b"s", &id("ab"), &n, &id("c"), &n);
        let p2 = auth_proof(b"s", &id("a"), &n, &id("bc"), &n);
        assert_ne!(p1, p2);
    }

    #[test]
    fn membership_proof_verifies_for_its_own_call_only() {
        let (a, b) = (id("a"), id("b"));
        let p = membership_proof(b"secret", &a, &b, "register-peer", 1_000);
        assert!(verify_membership_proof(
            b"secret",
            &a,
            &b,
            "register-peer",
            1_000,
            &p
        ));
        assert!(!verify_membership_proof(
            b"other",
            &a,
            &b,
            "register-peer",
            1_000,
            &p
        ));
        assert!(!verify_membership_proof(
            b"secret",
            &a,
            &b,
            "unregister-peer",
            1_000,
            &p
        ));
        assert!(!verify_membership_proof(
            b"secret",
            &a,
            &b,
            "register-peer",
            1_001,
            &p
        ));
        // Bound to the direction: B cannot present A's proof as its own.
        assert!(!verify_membership_proof(
            b"secret",
            &b,
            &a,
            "register-peer",
            1_000,
            &p
        ));
    }

    #[test]
    fn membership_and_handshake_proofs_are_apart() {
        // The old membership proof was a handshake proof over nonces made of the timestamp and
        // the purpose; with its own tag, such a proof no longer passes as a membership proof.
        let (a, b) = (id("a"), id("b"));
        let mut ts = [0_u8; 16];
        ts[..8].copy_from_slice(&1_000_i64.to_be_bytes());
        let mut purpose = [0_u8; 16];
        for (d, s) in purpose.iter_mut().zip(b"register-peer") {
            *d = *s;
        }
        let handshake = auth_proof(b"secret", &a, &Nonce(ts), &b, &Nonce(purpose));
        assert!(!verify_membership_proof(
            b"secret",
            &a,
            &b,
            "register-peer",
            1_000,
            &handshake
        ));
        let membership = membership_proof(b"secret", &a, &b, "register-peer", 1_000);
        assert!(!verify_auth_proof(
            b"secret",
            &a,
            &Nonce(ts),
            &b,
            &Nonce(purpose),
            &membership
        ));
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let n = Nonce([0xab; 16]);
        let s: String = n.into();
        assert_eq!(s, "ab".repeat(16));
        assert_eq!(Nonce::try_from(s.to_uppercase()).unwrap(), n);
        assert!(Nonce::try_from("zz".repeat(16)).is_err());
        assert!(Nonce::try_from(String::from("ab")).is_err());
        assert!(AuthProof::try_from("é".repeat(32)).is_err());
    }
}
