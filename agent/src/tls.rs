//! TLS: the agent's self-signed identity (made once with rcgen, kept in
//! `<data>/tls/`), its rustls server config, and a client verifier that
//! trusts exactly one certificate by SHA-256 fingerprint (used to join).
//!
//! Pinning replaces the CA and name checks (docs/agent-protocol.md, "Joining"):
//! the handshake signature is still verified with the pinned certificate's key.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("generate the agent certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path} holds no {what}")]
    BadPem { path: PathBuf, what: &'static str },
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The crypto provider every TLS config here uses (ring, as the workspace builds rustls).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Lowercase hex SHA-256 of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The agent's certificate and key.
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    key_der: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &fingerprint(&self.cert_der))
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads `dir/cert.pem` and `dir/key.pem`, creating both (key 0600) when
    /// either is missing. `names` go into the certificate's SANs.
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Self> {
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        if !cert_path.exists() || !key_path.exists() {
            create_dir_private(dir)?;
            let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
            sans.extend(names.iter().filter(|n| !n.is_empty()).cloned());
            sans.dedup();
            let ck = rcgen::generate_simple_self_signed(sans)?;
            write_private(&key_path, ck.signing_key.serialize_pem().as_bytes())?;
            write_private(&cert_path, ck.cert.pem().as_bytes())?;
        }
        Self::load(&cert_path, &key_path)
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let cert_pem = read(cert_path)?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .ok()
            .ok_or_else(|| Error::BadPem {
                path: cert_path.to_path_buf(),
                what: "certificate",
            })?;
        let key_pem = read(key_path)?;
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .ok()
            .ok_or_else(|| Error::BadPem {
                path: key_path.to_path_buf(),
                what: "private key",
            })?;
        Ok(Self {
            cert_pem,
            cert_der,
            key_der: Arc::new(key_der),
        })
    }

    /// The fingerprint the server pins.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    /// A rustls server config presenting this identity (HTTP/1.1 and h2).
    pub fn server_config(&self) -> Result<rustls::ServerConfig> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], self.key_der.clone_key())?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `dir` (and parents) with mode 0700.
pub fn create_dir_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes `bytes` to `path` with mode 0600, atomically (temp file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::write_atomic(path, bytes, 0o600).map_err(|source| Error::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// A verifier that accepts exactly the certificate whose SHA-256 is
/// `expected`, whatever its names or issuer, and remembers what it saw so a
/// mismatch can be reported in full.
#[derive(Debug)]
pub struct PinnedCert {
    expected: String,
    seen: Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl PinnedCert {
    pub fn new(expected: &str) -> Arc<Self> {
        Arc::new(Self {
            expected: expected.to_ascii_lowercase(),
            seen: Mutex::new(None),
            provider: provider(),
        })
    }

    /// The fingerprint of the last certificate presented, if any.
    pub fn seen(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }

    /// A client config that trusts only this pin.
    pub fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(got.clone());
        }
        if got == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate fingerprint mismatch: expected {}, got {got}",
                self.expected
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

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(&d.path().join("tls"), &["h1".into()]).unwrap();
        let b = Identity::load_or_create(&d.path().join("tls"), &[]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        let mode = std::fs::metadata(d.path().join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        a.server_config().unwrap();
    }

    #[test]
    fn pin_accepts_only_its_certificate() {
        let d = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(d.path(), &[]).unwrap();
        let name = ServerName::try_from("x").unwrap();
        let ok = PinnedCert::new(&id.fingerprint().to_uppercase());
        assert!(
            ok.verify_server_cert(&id.cert_der, &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        let bad = PinnedCert::new(&"0".repeat(64));
        let e = bad
            .verify_server_cert(&id.cert_der, &[], &name, &[], UnixTime::now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("fingerprint mismatch"), "{e}");
        assert_eq!(bad.seen(), Some(id.fingerprint()));
    }
}
