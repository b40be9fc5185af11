//! TLS for the sim's connections to a server (`wss://` signaling,
//! `https://` scrapes): one rustls client configuration (aws-lc-rs, as
//! everywhere in the workspace) shared by every peer and the scraper.
//! It trusts the system's roots, or only the CAs of a given PEM file, or,
//! with `insecure`, any certificate (self-signed staging servers).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read or holds no certificate.
    #[error("cannot use CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Which server certificates to trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system's root certificates.
    #[default]
    System,
    /// Only the CAs in this PEM file.
    CaFile(PathBuf),
    /// Any certificate, unchecked (the handshake's signatures still are).
    Insecure,
}

/// A shared client configuration; cheap to clone.
#[derive(Clone)]
pub struct Tls(Arc<ClientConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for Tls {
    /// The system's roots (none if they cannot be read: then only plain
    /// `http`/`ws` servers can be reached).
    fn default() -> Self {
        Tls::new(&Trust::System).unwrap_or_else(|e| {
            tracing::warn!("no system roots: {e}");
            Tls(Arc::new(
                ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs supports the default versions")
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth(),
            ))
        })
    }
}

/// The system's roots, loaded once for the process.
pub fn system() -> Tls {
    static SYSTEM: std::sync::OnceLock<Tls> = std::sync::OnceLock::new();
    SYSTEM.get_or_init(Tls::default).clone()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Tls {
    /// A configuration trusting `trust`.
    pub fn new(trust: &Trust) -> Result<Tls, TlsError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = match trust {
            Trust::System => {
                let mut roots = RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::debug!("system roots: {e}");
                }
                roots.add_parsable_certificates(found.certs);
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::CaFile(path) => builder
                .with_root_certificates(ca_file(path)?)
                .with_no_client_auth(),
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth(),
        };
        Ok(Tls(Arc::new(config)))
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.0.clone()
    }
}

fn ca_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let fail = |reason: String| TlsError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("no certificate in it".into()));
    }
    Ok(roots)
}

/// Accepts any server certificate (`--insecure`), still checking that the
/// server holds the key of the certificate it presented.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let missing = Tls::new(&Trust::CaFile("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/ca.pem"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("ejtimaa-sim-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = Tls::new(&Trust::CaFile(empty)).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Tls::new(&Trust::Insecure).is_ok());
    }
}
