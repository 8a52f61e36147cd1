//! TLS for the agents' endpoint: a self-signed certificate made on first start (agents pin
//! its SHA-256, so no CA is involved), the same or an admin's certificate for the
//! operators' HTTPS listener, and a listener that completes handshakes off the
//! accept path, each within a time limit, so a slow or silent client holds nothing up.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// A handshake not finished in this time is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once, at most.
pub const MAX_HANDSHAKES: usize = 1024;

/// The controller's TLS certificate and key.
#[derive(Debug)]
pub struct TlsIdentity {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// Intermediate certificates sent after it (an admin's CA-issued certificate).
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// SHA-256 of the certificate's DER, hex: what agents pin (`tls_fingerprint`).
    pub fingerprint: String,
}

/// SHA-256 of a DER certificate, hex.
pub fn fingerprint(cert: &[u8]) -> String {
    hex::encode(Sha256::digest(cert))
}

/// Loads `tls.crt` and `tls.key` from `dir`, making them on first start: a self-signed
/// certificate for `localhost`, `127.0.0.1`, `::1` and the names in `DALABA_TLS_NAMES`
/// (comma-separated). The key file is readable by the owner only.
pub fn load_or_create(dir: &Path) -> anyhow::Result<TlsIdentity> {
    let cert_path = dir.join("tls.crt");
    let key_path = dir.join("tls.key");
    if !cert_path.exists() || !key_path.exists() {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
        names.extend(
            std::env::var("DALABA_TLS_NAMES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        );
        let made = rcgen::generate_simple_self_signed(names)?;
        dalaba_firmware_config::files::write_private(&key_path, &made.key_pair.serialize_pem())?;
        std::fs::write(&cert_path, made.cert.pem())?;
    }
    let cert = CertificateDer::from_pem_file(&cert_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
    Ok(TlsIdentity {
        fingerprint: fingerprint(&cert),
        cert,
        chain: Vec::new(),
        key,
    })
}

/// A certificate (PEM, the leaf first, then any intermediates) and its key that the admin
/// provides, for the operators' HTTPS listener.
pub fn load_files(cert_path: &Path, key_path: &Path) -> anyhow::Result<TlsIdentity> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
    let mut certs = certs.into_iter();
    let cert = certs.next().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
            cert_path.display()
        )
    })?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
    let id = TlsIdentity {
        fingerprint: fingerprint(&cert),
        cert,
        chain: certs.collect(),
        key,
    };
    // A key that does not match its certificate is found now, not at the first browser.
    server_config(&id).map_err(|e| {
        anyhow::anyhow!(
            "{} and {} do not make a usable certificate: {e}",
            cert_path.display(),
            key_path.display()
        )
    })?;
    Ok(id)
}

/// The server configuration: TLS 1.2 and 1.3 with the ring provider, HTTP/1.1 (which the
/// WebSocket upgrade needs).
pub fn server_config(id: &TlsIdentity) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            std::iter::once(&id.cert)
                .chain(&id.chain)
                .cloned()
                .collect(),
            id.key.clone_key(),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS listener: handshakes off the accept path (`server.rs` serves HTTP on it).
#[derive(Debug)]
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS on `tcp`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!("accepting a TLS connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Live audio is many small frames: no Nagle delay (which, with delayed
                // ACKs, held a frame back ~40 ms every few seconds).
                let _ = stream.set_nodelay(true);
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::info!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accepting,
        })
    }
}

impl TlsListener {
    /// The next connection whose handshake completed; waits forever once the accept task
    /// has ended (the runtime shutting down).
    pub async fn next(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    /// The address it listens on.
    pub fn local(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
