//! The state every handler shares: configuration, database, keys, agent
//! clients, stream hub, limits and metrics. Cloning is cheap (all `Arc`s).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::agents::Agents;
use crate::agents::keys::AgentSigner;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::session::SessionKeys;
use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::packages::{Packages, ServerCert};
use crate::streams::StreamHub;
use crate::tls::Identity;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub sessions: SessionKeys,
    pub agents: Arc<Agents>,
    pub identity: Arc<Identity>,
    pub limiter: Arc<LoginLimiter>,
    pub streams: Arc<StreamHub>,
    pub metrics: Arc<Metrics>,
    /// Wakes the health checker (a host just joined).
    pub health_kick: Arc<Notify>,
    /// The apt repository and install script (`crate::packages`).
    pub packages: Arc<Packages>,
    /// The pin and trust facts of the server's certificate.
    pub server_cert: Arc<ServerCert>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("creating the data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("loading keys from the database: {0}")]
    Keys(#[from] sqlx::Error),
    #[error(transparent)]
    AgentKey(#[from] crate::agents::keys::KeyError),
    #[error(transparent)]
    Secret(#[from] crate::auth::secrets::SecretError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Packages(#[from] crate::packages::PackagesError),
    #[error("the server certificate is not a readable X.509 certificate")]
    Certificate,
}

impl AppState {
    /// Opens (and migrates) the database, loads or makes the keys and the TLS
    /// identity.
    pub async fn new(config: Config) -> Result<AppState, StateError> {
        crate::tls::install_default_provider();
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StateError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let db = Db::connect(&config.database_url()).await?;
        let secrets_dir = config.secrets_dir();
        let sessions = SessionKeys::load(&db, &secrets_dir).await?;
        let signer = AgentSigner::load(&db, &secrets_dir).await?;
        let identity = crate::tls::load_identity(
            config.tls_cert.as_deref(),
            config.tls_key.as_deref(),
            &config.data_dir,
            certificate_names(&config),
        )?;
        let server_cert = ServerCert::from_der(identity.leaf()).ok_or(StateError::Certificate)?;
        let packages = Packages::load(&db, &secrets_dir, config.packages_dir()).await?;
        Ok(AppState {
            limiter: Arc::new(LoginLimiter::new(
                config.login_rate_per_address,
                config.login_failures_per_user,
            )),
            config: Arc::new(config),
            db,
            sessions,
            agents: Arc::new(Agents::new(signer)),
            identity: Arc::new(identity),
            streams: Arc::new(StreamHub::default()),
            metrics: Arc::new(Metrics::default()),
            health_kick: Arc::new(Notify::new()),
            packages: Arc::new(packages),
            server_cert: Arc::new(server_cert),
        })
    }

    /// Fingerprint of the server certificate (join tokens carry it).
    pub fn fingerprint(&self) -> &str {
        self.identity.fingerprint()
    }

    pub fn kick_health_check(&self) {
        self.health_kick.notify_one();
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

/// Names in a self-signed certificate: localhost, the listen address, the
/// public URL's host and the machine's hostname. (Agents pin the fingerprint,
/// so names matter only to browsers.)
fn certificate_names(config: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ip = config.listen.ip();
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    if let Ok(u) = reqwest::Url::parse(&config.public_url())
        && let Some(h) = u.host_str()
    {
        names.push(h.trim_matches(['[', ']']).to_string());
    }
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_string());
        }
    }
    names.sort();
    names.dedup();
    names
}
