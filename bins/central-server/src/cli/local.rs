//! Finding and calling this machine's central: the address, TLS and admin token come from the
//! same configuration file the server reads.
//!
//! Plain HTTP goes to the listen address (loopback when the central listens on every
//! interface); with TLS on the API, the call goes to the configured `this_central.ip`, the name
//! its certificate carries, and is verified against the cluster CA. Failures are one line: the
//! central is not answering (and why), or it answered with an error (status and its message).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use parkmesh_config::Config;
use parkmesh_transport::tls::{Tls, TlsClient};
use serde_json::Value;

/// Time allowed to open the connection to the local central.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The local central as the configuration describes it.
pub(crate) struct Local {
    /// Its id.
    pub(crate) id: String,
    host: String,
    port: u16,
    tls: Option<TlsClient>,
    token: Option<String>,
}

impl Local {
    /// Reads where and how to reach the central from `config`; loads the TLS files when the API
    /// runs TLS.
    pub(crate) fn new(config: &Config) -> anyhow::Result<Self> {
        let me = config.this_central();
        let tls = match (config.api_tls(), config.tls()) {
            (true, Some((cert, key, ca))) => Some(
                Tls::load(cert, key, ca)
                    .context("cannot load the TLS files named in the configuration")?
                    .client,
            ),
            _ => None,
        };
        let host = if tls.is_some() {
            me.ip.to_string()
        } else {
            connect_ip(config.bind()).to_string()
        };
        Ok(Self {
            id: me.id.to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: me.api_port,
            tls,
            token: config.admin_token().map(str::to_owned),
        })
    }

    /// `host:port` as shown in messages.
    pub(crate) fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    async fn connect(&self) -> std::io::Result<()> {
        connect(&self.host, self.port).await
    }

    /// Calls `method path` and returns the JSON answer of a 2xx; anything else is an error line.
    pub(crate) async fn call(&self, method: &str, path: &str) -> anyhow::Result<Value> {
        if let Err(e) = self.connect().await {
            bail!(
                "{} is not answering on {} ({}) — is it running?",
                self.id,
                self.addr(),
                io_reason(&e)
            );
        }
        let target = parkmesh_api::Target {
            host: &self.host,
            port: self.port,
            tls: self.tls.as_ref(),
        };
        let (status, answer) =
            parkmesh_api::call_with_token(target, method, path, None, self.token.as_deref())
                .await
                .map_err(|e| anyhow!("{}: {e}", self.id))?;
        if !(200..300).contains(&status) {
            let why = answer["error"]
                .as_str()
                .or_else(|| answer["message"].as_str())
                .map_or_else(|| answer.to_string(), str::to_owned);
            bail!("{} answered {path} with HTTP {status}: {why}", self.id);
        }
        Ok(answer)
    }
}

/// Opens (and closes) a TCP connection to `host:port`.
pub(crate) async fn connect(host: &str, port: u16) -> std::io::Result<()> {
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    drop(tcp);
    Ok(())
}

/// Where to connect for a listener bound to `bind`: loopback for the unspecified address.
pub(crate) fn connect_ip(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// A short lower-case reason for a failed connection.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "no answer within 5 s".into(),
        std::io::ErrorKind::AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub(crate) fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_bind_is_reached_on_loopback() {
        assert_eq!(
            connect_ip("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            connect_ip("::".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let lan: IpAddr = "192.168.1.10".parse().unwrap();
        assert_eq!(connect_ip(lan), lan);
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query("central-2"), "central-2");
        assert_eq!(encode_query("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode_query("Đ"), "%C4%90");
    }
}
