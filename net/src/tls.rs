//! TLS for the server and the agent: a certificate identity (loaded from
//! PEM files or made self-signed once with rcgen), its rustls server config,
//! private files (0600, written atomically), and the client verifier that
//! trusts exactly one certificate by SHA-256 fingerprint.
//!
//! Pinning replaces the CA and name checks (docs/agent-protocol.md,
//! "Joining"): the handshake signature is still verified with the pinned
//! certificate's key.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} holds no PEM {what}")]
    BadPem { path: PathBuf, what: &'static str },
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

type Result<T> = std::result::Result<T, TlsError>;

/// The ring provider every TLS config of Berth uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Lowercase hex SHA-256 of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The DER of the first certificate in a PEM text.
pub fn first_cert_der(pem: &str) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .and_then(std::result::Result::ok)
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TlsError + 'a {
    move |source| TlsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) with mode 0700.
pub fn create_dir_private(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create", dir))
}

/// Writes `bytes` to `path` with mode 0600, atomically: a temporary file in
/// the same directory, synced, then renamed over `path`.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs::write_atomic(path, bytes, 0o600).map_err(io_err("write", path))
}

/// A certificate chain and its key.
#[derive(Clone)]
pub struct Identity {
    /// The chain as read (PEM), leaf first.
    pub cert_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    fingerprint: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads `cert` and `key`, first making them (self-signed for `names`,
    /// the key 0600, the directory 0700) when either is missing.
    pub fn load_or_generate(cert: &Path, key: &Path, names: Vec<String>) -> Result<Identity> {
        if !cert.is_file() || !key.is_file() {
            if let Some(dir) = cert.parent() {
                create_dir_private(dir)?;
            }
            let ck = rcgen::generate_simple_self_signed(names)?;
            write_private(key, ck.signing_key.serialize_pem().as_bytes())?;
            write_private(cert, ck.cert.pem().as_bytes())?;
        }
        Identity::load(cert, key)
    }

    /// Loads a PEM certificate chain and a PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity> {
        let cert_pem = std::fs::read_to_string(cert).map_err(io_err("read", cert))?;
        let key_pem = std::fs::read(key).map_err(io_err("read", key))?;
        let chain: Vec<_> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .filter_map(std::result::Result::ok)
            .collect();
        let leaf = chain.first().ok_or_else(|| TlsError::BadPem {
            path: cert.to_path_buf(),
            what: "certificate",
        })?;
        let fingerprint = fingerprint(leaf);
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::BadPem {
            path: key.to_path_buf(),
            what: "private key",
        })?;
        Ok(Identity {
            cert_pem,
            chain,
            key: Arc::new(key),
            fingerprint,
        })
    }

    /// Fingerprint of the leaf certificate (what peers pin).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `load` refuses a file without a certificate.
        &self.chain[0]
    }

    /// A rustls server config presenting this identity, offering h2 and
    /// HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
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

    /// A client config that trusts only this pin and offers HTTP/1.1.
    pub fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig> {
        self.client_config_with_alpn(&[b"http/1.1"])
    }

    /// A client config that trusts only this pin and offers `alpn`.
    pub fn client_config_with_alpn(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> Result<rustls::ClientConfig> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(cfg)
    }
}

/// A client config that trusts only the certificate with `fingerprint`.
pub fn pinned_client_config(fingerprint: &str, alpn: &[&[u8]]) -> Result<rustls::ClientConfig> {
    PinnedCert::new(fingerprint).client_config_with_alpn(alpn)
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(got.clone());
        }
        if got == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: expected {}, got {got}",
                self.expected
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn identity_is_made_once_and_private() {
        let d = tempfile::tempdir().unwrap();
        let (c, k) = (d.path().join("tls/c.pem"), d.path().join("tls/k.pem"));
        let a = Identity::load_or_generate(&c, &k, vec!["localhost".into()]).unwrap();
        let b = Identity::load_or_generate(&c, &k, vec!["other".into()]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        assert_eq!(fingerprint(a.leaf()), a.fingerprint());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&k), 0o600);
        assert_eq!(mode(&d.path().join("tls")), 0o700);
        assert_eq!(first_cert_der(&a.cert_pem).as_ref(), Some(a.leaf()));
        a.server_config().unwrap();
    }

    #[test]
    fn a_file_without_pem_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let (c, k) = (d.path().join("c.pem"), d.path().join("k.pem"));
        std::fs::write(&c, "not pem").unwrap();
        std::fs::write(&k, "not pem").unwrap();
        let e = Identity::load(&c, &k).unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = Identity::load(&d.path().join("missing"), &k)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("read "), "{e}");
    }

    #[test]
    fn pin_accepts_only_its_certificate() {
        let d = tempfile::tempdir().unwrap();
        let id =
            Identity::load_or_generate(&d.path().join("c"), &d.path().join("k"), vec![]).unwrap();
        let name = ServerName::try_from("x").unwrap();
        let ok = PinnedCert::new(&id.fingerprint().to_uppercase());
        assert!(
            ok.verify_server_cert(id.leaf(), &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        let bad = PinnedCert::new(&"0".repeat(64));
        let e = bad
            .verify_server_cert(id.leaf(), &[], &name, &[], UnixTime::now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("fingerprint mismatch"), "{e}");
        assert_eq!(bad.seen().as_deref(), Some(id.fingerprint()));
    }
}
