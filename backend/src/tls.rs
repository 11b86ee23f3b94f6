//! TLS: the server's own identity (given, or self-signed with rcgen at first
//! start and kept in the data dir) and the client verifier that trusts
//! exactly one pinned certificate, by SHA-256 fingerprint (names and CAs are
//! ignored; the handshake signature is still checked). The server uses it to
//! talk to agents (docs/agent-protocol.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The ring provider every TLS config here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs the process's crypto providers: ring for rustls (reqwest's
/// `rustls-no-provider` needs one) and Berth's JWT provider (HS256, EdDSA).
/// Harmless when already installed.
pub fn install_default_provider() {
    berth_net::install_providers();
}

/// Lowercase hex SHA-256 of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The DER of the first certificate in a PEM text.
pub fn first_cert_der(pem: &str) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .and_then(Result::ok)
}

/// The server's certificate chain and key.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Fingerprint of the leaf certificate (what join tokens carry).
    pub fingerprint: String,
}

impl Identity {
    /// Loads `--tls-cert/--tls-key`, or `<data>/tls/server.{crt,key}`,
    /// generating the latter (self-signed for `names`) on first start.
    pub fn load_or_create(
        cert: Option<&Path>,
        key: Option<&Path>,
        data_dir: &Path,
        names: Vec<String>,
    ) -> Result<Identity, TlsError> {
        let (cert_path, key_path) = match (cert, key) {
            (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
            _ => {
                let dir = data_dir.join("tls");
                let c = dir.join("server.crt");
                let k = dir.join("server.key");
                if !c.is_file() || !k.is_file() {
                    generate(&dir, &c, &k, names)?;
                }
                (c, k)
            }
        };
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TlsError::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;
        let chain: Vec<_> = CertificateDer::pem_slice_iter(&cert_pem)
            .filter_map(Result::ok)
            .collect();
        let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate {
            path: cert_path.clone(),
        })?;
        let fingerprint = fingerprint(leaf);
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
            path: key_path.clone(),
        })?;
        Ok(Identity {
            chain,
            key,
            fingerprint,
        })
    }

    /// A rustls server config offering h2 and http/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

fn generate(dir: &Path, cert: &Path, key: &Path, names: Vec<String>) -> Result<(), TlsError> {
    let ck = rcgen::generate_simple_self_signed(names)?;
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    write_private(key, ck.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, ck.cert.pem()).map_err(|source| TlsError::Write {
        path: cert.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Writes a file only its owner may read (mode 0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(())
}

/// Accepts exactly the certificate whose SHA-256 is `fingerprint`.
#[derive(Debug)]
pub struct PinnedCert {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl PinnedCert {
    pub fn new(fingerprint: &str) -> Arc<Self> {
        Arc::new(PinnedCert {
            fingerprint: fingerprint.to_ascii_lowercase(),
            provider: provider(),
        })
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if got == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: expected {}, got {got}",
                self.fingerprint
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

/// A client config that trusts only the pinned certificate.
pub fn pinned_client_config(
    fingerprint: &str,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, TlsError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(PinnedCert::new(fingerprint))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_identity_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(None, None, dir.path(), vec!["localhost".into()]).unwrap();
        let b = Identity::load_or_create(None, None, dir.path(), vec!["localhost".into()]).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 64);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls/server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        a.server_config().unwrap();
    }
}
