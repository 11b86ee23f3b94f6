//! The server's TLS identity: given (`--tls-cert/--tls-key`), or
//! self-signed with rcgen at first start and kept in `<data>/tls/`. The
//! identity, private files and the pinned-certificate client config the
//! server uses to talk to agents (docs/agent-protocol.md) live in
//! `berth_net::tls`, shared with the agent.

use std::path::Path;

pub use berth_net::tls::{
    Identity, TlsError, fingerprint, first_cert_der, pinned_client_config, provider, write_private,
};

/// Installs the process's crypto providers: ring for rustls (reqwest's
/// `rustls-no-provider` needs one) and Berth's JWT provider (HS256, EdDSA).
/// Harmless when already installed.
pub fn install_default_provider() {
    berth_net::install_providers();
}

/// Loads `--tls-cert/--tls-key`, or `<data>/tls/server.{crt,key}`,
/// generating the latter (self-signed for `names`) on first start.
pub fn load_identity(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
    names: Vec<String>,
) -> Result<Identity, TlsError> {
    match (cert, key) {
        (Some(c), Some(k)) => Identity::load(c, k),
        _ => {
            let dir = data_dir.join("tls");
            Identity::load_or_generate(&dir.join("server.crt"), &dir.join("server.key"), names)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_identity_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_identity(None, None, dir.path(), vec!["localhost".into()]).unwrap();
        let b = load_identity(None, None, dir.path(), vec!["localhost".into()]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls/server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let given = load_identity(
            Some(&dir.path().join("tls/server.crt")),
            Some(&dir.path().join("tls/server.key")),
            Path::new("/nonexistent"),
            vec![],
        )
        .unwrap();
        assert_eq!(given.fingerprint(), a.fingerprint());
    }
}
