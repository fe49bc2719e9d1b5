//! Optional TLS for the mesh port and the HTTP API: rustls with the ring provider.
//!
//! A cluster that turns TLS on gives every central a certificate and private key (PEM) issued by
//! the cluster's own CA, and gives every central that CA's certificate. Servers present their
//! certificate; clients (a central dialling a peer's mesh port, the API calling a peer's API)
//! verify it against the CA and the peer's configured host name or IP address. TLS adds
//! confidentiality and proves the server's identity; membership is still proven inside the mesh
//! handshake with the cluster secret, so a stolen certificate alone does not let anyone join.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::TransportError;

/// A byte stream a connection runs on: plain TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Server and client sides of one central's TLS setup.
#[derive(Clone)]
pub struct Tls {
    /// Accepts TLS on our listeners.
    pub server: TlsServer,
    /// Connects to peers, verifying them against the cluster CA.
    pub client: TlsClient,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

/// The accepting side of [`Tls`].
#[derive(Clone)]
pub struct TlsServer(TlsAcceptor);

/// The connecting side of [`Tls`].
#[derive(Clone)]
pub struct TlsClient(TlsConnector);

fn tls_err(file: &Path, reason: impl std::fmt::Display) -> TransportError {
    TransportError::Tls {
        file: file.display().to_string(),
        reason: reason.to_string(),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(path, e))?;
    if certs.is_empty() {
        return Err(tls_err(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

impl Tls {
    /// Loads the certificate chain, private key and CA certificate (all PEM). Every failure
    /// names the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path, ca: &Path) -> Result<Self, TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates(cert)?;
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(key, e))?;
        let mut roots = RootCertStore::empty();
        for c in certificates(ca)? {
            roots.add(c).map_err(|e| tls_err(ca, e))?;
        }
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(cert, e))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| tls_err(key, format!("does not fit the certificate: {e}")))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(ca, e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            server: TlsServer(TlsAcceptor::from(Arc::new(server))),
            client: TlsClient(TlsConnector::from(Arc::new(client))),
        })
    }
}

impl TlsServer {
    /// Runs the server side of the TLS handshake on an accepted socket.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
        self.0.accept(tcp).await
    }
}

impl TlsClient {
    /// Runs the client side of the TLS handshake, verifying that the server's certificate was
    /// issued by the cluster CA for `host` (a DNS name or an IP address, brackets allowed).
    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(name.to_owned()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{host:?} is not a host name for TLS: {e}"),
            )
        })?;
        self.0.connect(name, tcp).await
    }
}
