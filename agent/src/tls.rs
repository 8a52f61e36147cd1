//! TLS to the controller, pinned: the agent accepts exactly one certificate, the one whose
//! SHA-256 is `controller.tls_fingerprint` in its configuration, and checks that the server
//! proves it holds that certificate's key (the handshake signature). No CA, no name check:
//! a controller on a village network has neither a public name nor a public certificate,
//! and the pin is stronger than either.

use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// What a connection trusts.
#[derive(Debug)]
enum Trust {
    /// Only the certificate with this SHA-256.
    Pin([u8; 32]),
    /// Any certificate, noting its SHA-256 here: for showing it to an installer to
    /// confirm (`dalaba-agent enrol`), never for talking to the controller.
    Show(Arc<Mutex<Option<[u8; 32]>>>),
}

/// Accepts the one pinned certificate (or shows what is presented); the server must
/// prove it holds the certificate's key either way.
#[derive(Debug)]
pub struct Pinned {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        match &self.trust {
            Trust::Pin(pin) if got == *pin => Ok(ServerCertVerified::assertion()),
            Trust::Pin(pin) => Err(rustls::Error::General(format!(
                "the controller's certificate (sha256 {}) is not the pinned one ({}): refusing to connect",
                hex::encode(got),
                hex::encode(pin)
            ))),
            Trust::Show(seen) => {
                *seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(got);
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that trusts only the certificate with SHA-256 `pin`.
pub fn client_config(pin: [u8; 32]) -> anyhow::Result<rustls::ClientConfig> {
    config_trusting(Trust::Pin(pin))
}

/// A client configuration for looking only: it accepts any certificate and puts its
/// SHA-256 in `seen`. Send nothing over it.
pub fn showing_config(seen: Arc<Mutex<Option<[u8; 32]>>>) -> anyhow::Result<rustls::ClientConfig> {
    config_trusting(Trust::Show(seen))
}

fn config_trusting(trust: Trust) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { trust, provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
