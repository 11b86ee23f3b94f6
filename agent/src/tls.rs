//! The agent's TLS identity: self-signed once with rcgen and kept in
//! `<data>/tls/` (the key 0600). Identities, private files and the verifier
//! that pins one certificate by fingerprint (used to join) live in
//! `berth_net::tls`, shared with the server.

use std::path::Path;

pub use berth_net::tls::{
    Identity, PinnedCert, TlsError as Error, create_dir_private, fingerprint, provider,
    write_private,
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Loads `dir/cert.pem` and `dir/key.pem`, creating both when either is
/// missing, for `localhost`, `127.0.0.1` and `names`.
pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Identity> {
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    sans.extend(names.iter().filter(|n| !n.is_empty()).cloned());
    sans.dedup();
    Identity::load_or_generate(&dir.join("cert.pem"), &dir.join("key.pem"), sans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create(&d.path().join("tls"), &["h1".into()]).unwrap();
        let b = load_or_create(&d.path().join("tls"), &[]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mode = std::fs::metadata(d.path().join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
