//! HTTPS for the listeners (`[http.tls]`, `[prometheus.tls]`): the
//! certificate is read from its files at start and again on
//! [`Certificates::reload`], so that a renewal needs no restart. New
//! handshakes use the newest certificate; open connections keep theirs.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use parking_lot::RwLock;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::config::TlsConfig;

/// A certificate chain and key read from PEM files, swapped in place by
/// [`Certificates::reload`].
#[derive(Debug)]
pub struct Certificates {
    files: TlsConfig,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Reads the files; an error names the file and what is wrong with it.
    pub fn load(files: &TlsConfig) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let current = read(files, &provider)?;
        Ok(Arc::new(Self {
            files: files.clone(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again; on an error the certificate in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = read(&self.files, &self.provider)?;
        *self.current.write() = Arc::new(fresh);
        Ok(())
    }

    /// The certificate file, for log lines.
    pub fn cert_path(&self) -> &Path {
        &self.files.cert
    }

    /// An acceptor whose handshakes always use the current certificate.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut server = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        // HTTP/1.1 only (socket.io's websocket upgrades need it).
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(server)))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read()))
    }
}

fn read(files: &TlsConfig, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let certs = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the TLS key {}", files.key.display()))?;
    CertifiedKey::from_der(certs, key, provider).with_context(|| {
        format!(
            "the TLS certificate {} and key {} do not fit together",
            files.cert.display(),
            files.key.display()
        )
    })
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading the TLS certificate {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the TLS certificate {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_cert(dir: &Path) -> CertificateDer<'static> {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), c.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), c.signing_key.serialize_pem()).unwrap();
        c.cert.der().clone()
    }

    #[test]
    fn reload_swaps_a_good_certificate_and_keeps_the_old_one_on_errors() {
        let dir = std::env::temp_dir().join(format!("ejtimaa-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = TlsConfig {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        let first = write_cert(&dir);
        let certs = Certificates::load(&files).unwrap();
        let served = || certs.current.read().cert[0].clone();
        assert_eq!(served(), first);

        let second = write_cert(&dir);
        certs.reload().unwrap();
        assert_eq!(served(), second);

        // A key of another certificate: refused, the second stays.
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&files.key, c.signing_key.serialize_pem()).unwrap();
        let err = certs.reload().unwrap_err();
        assert!(format!("{err:#}").contains("do not fit"), "{err:#}");
        std::fs::remove_file(&files.cert).unwrap();
        let err = certs.reload().unwrap_err();
        assert!(format!("{err:#}").contains("cert.pem"), "{err:#}");
        assert_eq!(served(), second);
        let _ = std::fs::remove_dir_all(dir);
    }
}
