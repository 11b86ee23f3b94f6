//! The server's own packages (docs/install-debian.md, "The one-line join"
//! and "Upgrades through apt"): a signed apt repository built from the
//! `.deb` files in `--packages-dir`, and the install script behind the
//! one-line join.
//!
//! - `deb`: reading a package's control file; `version`: dpkg's ordering.
//! - `openpgp`: the repository's Ed25519 OpenPGP key and signatures.
//! - `repo`: `Packages`, `Release`, `InRelease`, `Release.gpg`.
//! - `script`: `/install/agent.sh` and the one-line command.
//! - `http`: the routes (`/apt/…`, `/install/…`), no login needed.
//!
//! The repository is built at start, again on SIGHUP, and whenever a
//! request for an index or the script finds the directory's listing (names,
//! sizes, modification times) changed.

pub mod deb;
pub mod http;
pub mod openpgp;
pub mod repo;
pub mod script;
pub mod version;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::auth::secrets::{self, Secret, SecretError};
use crate::db::Db;
use openpgp::RepoKey;
use repo::Repo;

/// The repository's signing key in the secrets dir.
pub const APT_SIGNING_KEY: Secret = Secret {
    file: "apt-signing-key",
    db_key: "apt_signing_key",
    what: "apt repository signing key",
};

#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Key(#[from] openpgp::KeyFormatError),
}

/// The repository: its directory, its key and the last build.
pub struct Packages {
    dir: PathBuf,
    key: RepoKey,
    repo: RwLock<Arc<Repo>>,
    /// One build at a time.
    building: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Packages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packages")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Packages {
    /// Loads (or, on a database that never had one, makes) the signing
    /// key, shared by every replica through the secrets dir, and builds the
    /// repository from `dir`.
    pub async fn load(db: &Db, secrets_dir: &Path, dir: PathBuf) -> Result<Self, PackagesError> {
        let text = secrets::load(db, secrets_dir, APT_SIGNING_KEY, || {
            RepoKey::generate().to_secret_text()
        })
        .await?;
        let key = RepoKey::from_secret_text(&text)?;
        tracing::info!(fingerprint = %key.fingerprint_hex(), dir = %dir.display(), "apt repository signing key");
        let p = Packages {
            dir,
            key,
            repo: RwLock::new(Arc::new(Repo::default())),
            building: tokio::sync::Mutex::new(()),
        };
        p.rebuild().await;
        Ok(p)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key(&self) -> &RepoKey {
        &self.key
    }

    /// The last build.
    pub fn current(&self) -> Arc<Repo> {
        match self.repo.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Builds the repository again from the directory.
    pub async fn rebuild(&self) {
        let _one = self.building.lock().await;
        let previous = self.current();
        let dir = self.dir.clone();
        let key = self.key.clone();
        let built =
            tokio::task::spawn_blocking(move || repo::build(&dir, &key, Some(&previous))).await;
        match built {
            Ok(r) => match self.repo.write() {
                Ok(mut g) => *g = Arc::new(r),
                Err(poisoned) => *poisoned.into_inner() = Arc::new(r),
            },
            Err(e) => {
                tracing::error!(error = %e, "building the apt repository failed; the last build stays");
            }
        }
    }

    /// Rebuilds when the directory's listing changed since the last build.
    pub async fn refresh(&self) -> Arc<Repo> {
        let dir = self.dir.clone();
        let now = tokio::task::spawn_blocking(move || repo::listing(&dir))
            .await
            .unwrap_or_default();
        if now != self.current().listing {
            tracing::info!(dir = %self.dir.display(), "the packages directory changed");
            self.rebuild().await;
        }
        self.current()
    }
}

/// What the install command and script need of the server's certificate.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// Base64 SHA-256 of the leaf's SubjectPublicKeyInfo (curl's pin).
    pub spki_sha256: String,
    /// Issuer and subject are one name: no CA vouches for it.
    pub self_signed: bool,
    /// The leaf certificate, PEM.
    pub leaf_pem: String,
}

impl ServerCert {
    /// Reads the leaf certificate (DER).
    pub fn from_der(der: &[u8]) -> Option<ServerCert> {
        use x509_parser::prelude::FromDer;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let spki = cert.tbs_certificate.subject_pki.raw;
        let self_signed =
            cert.tbs_certificate.issuer.as_raw() == cert.tbs_certificate.subject.as_raw();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut leaf_pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.encode(der).as_bytes().chunks(64) {
            leaf_pem.push_str(&String::from_utf8_lossy(chunk));
            leaf_pem.push('\n');
        }
        leaf_pem.push_str("-----END CERTIFICATE-----\n");
        Some(ServerCert {
            spki_sha256: b64.encode(Sha256::digest(spki)),
            self_signed,
            leaf_pem,
        })
    }

    /// `sha256//<base64>`, curl's `--pinnedpubkey` value.
    pub fn curl_pin(&self) -> String {
        format!("sha256//{}", self.spki_sha256)
    }
}

/// Rebuilds the repository on every SIGHUP (`systemctl reload
/// berth-server`) until `shutdown`.
pub async fn rebuild_on_sighup(
    packages: Arc<Packages>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the apt repository is rebuilt only when its directory changes");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = hup.recv() => {
                if got.is_none() {
                    return;
                }
                tracing::info!("SIGHUP: rebuilding the apt repository");
                packages.rebuild().await;
            }
        }
    }
}
