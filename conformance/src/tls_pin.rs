//! Rule A1: the agent pins the controller's certificate and checks the handshake
//! signature before it sends anything. The kit offers the agent three TLS servers on one
//! port, one connection each: a certificate that is not the pinned one; the pinned
//! certificate with a handshake signed by another key (what a thief of the certificate,
//! but not of its key, can do); and the real thing. The first two must see the
//! handshake fail and no byte of HTTP; the third must see the upgrade request.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;

/// One certificate and key, made for the kit.
struct Made {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn make() -> anyhow::Result<Made> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    Ok(Made {
        cert: made.cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der())),
    })
}

/// Presents a certificate and signs the handshake with whatever key it was given.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

fn config(
    cert: &CertificateDer<'static>,
    key: &PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signer = provider.key_provider.load_private_key(key.clone_key())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(CertifiedKey::new(
            vec![cert.clone()],
            signer,
        )))));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The three servers, and the pin the agent is given.
pub struct PinStage {
    listener: tokio::net::TcpListener,
    /// `wss://127.0.0.1:port/agent/ws`.
    pub url: String,
    /// SHA-256 of the pinned certificate's DER, hex.
    pub fingerprint: String,
    /// What the agent is offered, in order, and what it should do.
    pub attempts: Vec<(&'static str, Arc<rustls::ServerConfig>, bool)>,
}

impl std::fmt::Debug for PinStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinStage")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What one connection did.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// No connection came.
    NoConnection,
    /// The handshake failed (the client refused it).
    Refused,
    /// The handshake completed; the client then sent these first bytes (perhaps none).
    Sent(Vec<u8>),
}

impl PinStage {
    /// Makes the certificates and listens on a free loopback port.
    pub async fn new() -> anyhow::Result<Self> {
        let pinned = make()?;
        let other = make()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            url: format!("wss://{addr}/agent/ws"),
            fingerprint: hex::encode(Sha256::digest(&pinned.cert)),
            attempts: vec![
                (
                    "a certificate that is not the pinned one",
                    config(&other.cert, &other.key)?,
                    false,
                ),
                (
                    "the pinned certificate, the handshake signed by another key",
                    config(&pinned.cert, &other.key)?,
                    false,
                ),
                (
                    "the pinned certificate and its key",
                    config(&pinned.cert, &pinned.key)?,
                    true,
                ),
            ],
        })
    }

    /// Serves one connection with `config`, within `limit`.
    pub async fn serve(&self, config: Arc<rustls::ServerConfig>, limit: Duration) -> Seen {
        let Ok(Ok((tcp, _))) = tokio::time::timeout(limit, self.listener.accept()).await else {
            return Seen::NoConnection;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let Ok(Ok(mut tls)) = tokio::time::timeout(limit, acceptor.accept(tcp)).await else {
            return Seen::Refused;
        };
        let mut first = vec![0u8; 64];
        match tokio::time::timeout(Duration::from_secs(2), tls.read(&mut first)).await {
            Ok(Ok(n)) => {
                first.truncate(n);
                Seen::Sent(first)
            }
            _ => Seen::Sent(Vec::new()),
        }
    }
}
