//! The server's configuration: one clap struct, every flag also read from the
//! environment (`BERTH_*`, `DATABASE_URL`) and from the config file
//! `/etc/berth/server.toml` (keys are the flags in snake_case; flag > env >
//! file > default, see `berth_net::daemon::config_file` and
//! docs/install-debian.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// `berth-server`: the control plane of Berth.
#[derive(Debug, Clone, Parser)]
#[command(name = "berth-server", version, about)]
pub struct Config {
    /// Address to listen on. One port serves HTTP and HTTPS.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the server keeps its database (SQLite), TLS identity and setup token.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// File holding the password of the owner `admin`, created at first start
    /// instead of printing a setup token.
    #[arg(long, env = "BERTH_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<PathBuf>,

    /// The password of the owner `admin`, created at first start.
    #[arg(long, env = "BERTH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// `sqlite://PATH` or `postgres://...` (default: SQLite in the data dir).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// The HTTPS base URL agents use to reach this server (join tokens carry
    /// it). Default: https://<listen>.
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Folder of the built dashboard (default: frontend/dist of the
    /// repository holding the executable, else ./frontend/dist).
    #[arg(long, env = "BERTH_DASHBOARD_DIR")]
    pub dashboard_dir: Option<PathBuf>,

    /// PEM certificate (chain) for HTTPS; self-signed in the data dir when absent.
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Start and supervise a `berth-agent` on this machine, joined to this server.
    #[arg(long, env = "BERTH_LOCAL_AGENT")]
    pub local_agent: bool,

    /// The agent binary for --local-agent (default: berth-agent next to this executable).
    #[arg(long, env = "BERTH_AGENT_BIN")]
    pub agent_bin: Option<PathBuf>,

    /// Where the local agent listens.
    #[arg(
        long,
        env = "BERTH_LOCAL_AGENT_LISTEN",
        default_value = "127.0.0.1:7443"
    )]
    pub local_agent_listen: SocketAddr,

    /// Per-host deadline of fan-out calls, in milliseconds.
    #[arg(long, env = "BERTH_FANOUT_DEADLINE_MS", default_value_t = 3000)]
    pub fanout_deadline_ms: u64,

    /// Lifetime of a login session, in seconds.
    #[arg(long, env = "BERTH_SESSION_TTL", default_value_t = 8 * 3600)]
    pub session_ttl_secs: u64,

    /// Largest JSON request body, in bytes (image imports are streamed and
    /// not capped).
    #[arg(long, env = "BERTH_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,

    /// Login attempts allowed per client address per minute.
    #[arg(long, env = "BERTH_LOGIN_RATE_PER_ADDRESS", default_value_t = 30)]
    pub login_rate_per_address: u32,

    /// Failed logins allowed per user name per 5 minutes.
    #[arg(long, env = "BERTH_LOGIN_FAILURES_PER_USER", default_value_t = 5)]
    pub login_failures_per_user: u32,

    /// Milliseconds between health checks of each host.
    #[arg(long, env = "BERTH_HEALTH_INTERVAL_MS", default_value_t = 3000)]
    pub health_interval_ms: u64,

    /// Serve the API and dashboard over plain HTTP too (local development,
    /// tests). Without it, and unless the public URL is http://, plain HTTP
    /// on the shared port is redirected to the public HTTPS URL and HTTPS
    /// answers carry Strict-Transport-Security.
    #[arg(long, env = "BERTH_ALLOW_PLAIN_HTTP")]
    pub allow_plain_http: bool,

    /// Bearer token that `GET /metrics` on the main port requires (compared
    /// in constant time). Without it (and without --metrics-listen) the
    /// metrics are not served.
    #[arg(long, env = "BERTH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// File holding the --metrics-token (its first line); keeps the token
    /// out of the command line, the environment and the config file.
    #[arg(
        long,
        env = "BERTH_METRICS_TOKEN_FILE",
        conflicts_with = "metrics_token"
    )]
    pub metrics_token_file: Option<PathBuf>,

    /// A separate plain-HTTP listener serving only `GET /metrics`, without
    /// authentication (bind it to a private address).
    #[arg(long, env = "BERTH_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated
    /// addresses or CIDR blocks; default none: the header is ignored).
    #[arg(long, env = "BERTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::auth::client::Cidr>,

    /// Directory of the server's secrets (`session-secret`,
    /// `agent-signing-key.pem`, `apt-signing-key`, mode 0600); default: the data dir. Every
    /// replica on one PostgreSQL database needs the same files.
    #[arg(long, env = "BERTH_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,

    /// Directory of the `.deb` files the server publishes as a signed apt
    /// repository (/apt) and installs with the one-line join
    /// (/install/agent.sh); default: <data dir>/packages. Read at start, on
    /// SIGHUP and when its files change.
    #[arg(long, env = "BERTH_PACKAGES_DIR")]
    pub packages_dir: Option<PathBuf>,
}

/// The file read when neither `--config` nor `BERTH_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/server.toml";

/// The daemon's filter when no `log_filter` is given.
pub const DEFAULT_LOG_FILTER: &str = "info,tower_http=warn,sqlx=warn,hyper=warn";

/// `berth-server`'s command line: the configuration and the daemon flags
/// (`--config`, `--log-format`, `--log-filter`).
#[derive(Debug, Clone, Parser)]
#[command(name = "berth-server", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(flatten)]
    pub daemon: berth_net::daemon::DaemonArgs,
}

impl Cli {
    /// Where the configuration comes from: `argv` (program name first), the
    /// environment and the config file.
    pub fn source(argv: Vec<std::ffi::OsString>) -> berth_net::daemon::Source {
        use clap::CommandFactory;
        berth_net::daemon::Source::new(Cli::command(), argv, DEFAULT_CONFIG_FILE)
    }

    /// The command line of a loaded configuration, with the secret files read.
    pub fn from_loaded(loaded: &berth_net::daemon::Loaded) -> anyhow::Result<Cli> {
        use clap::FromArgMatches;
        let mut cli = Cli::from_arg_matches(&loaded.matches)?;
        cli.config.read_secret_files()?;
        Ok(cli)
    }
}

impl Config {
    /// Reads `--metrics-token-file` into the metrics token.
    pub fn read_secret_files(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.metrics_token_file {
            use anyhow::Context;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("metrics token file {}", path.display()))?;
            let token = text.lines().next().unwrap_or_default().trim();
            anyhow::ensure!(
                !token.is_empty(),
                "metrics token file {} is empty",
                path.display()
            );
            self.metrics_token = Some(token.to_string());
        }
        Ok(())
    }

    /// A configuration with every default (and nothing from the
    /// environment), for tests and embedding.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            admin_password_file: None,
            admin_password: None,
            database_url: None,
            public_url: None,
            dashboard_dir: None,
            tls_cert: None,
            tls_key: None,
            local_agent: false,
            agent_bin: None,
            local_agent_listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            fanout_deadline_ms: 3000,
            session_ttl_secs: 8 * 3600,
            body_limit: 1 << 20,
            login_rate_per_address: 30,
            login_failures_per_user: 5,
            health_interval_ms: 3000,
            allow_plain_http: false,
            metrics_token: None,
            metrics_token_file: None,
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            secrets_dir: None,
            packages_dir: None,
        }
    }

    /// Where the secret files are: `--secrets-dir`, else the data dir.
    pub fn secrets_dir(&self) -> PathBuf {
        self.secrets_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    /// The packages directory: the flag, else `<data dir>/packages`.
    pub fn packages_dir(&self) -> PathBuf {
        self.packages_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("packages"))
    }

    /// The database URL: the flag, else SQLite at `<data dir>/berth.db`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) if !u.trim().is_empty() => u.clone(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("berth.db").display()
            ),
        }
    }

    /// The base URL join tokens carry.
    pub fn public_url(&self) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_string();
        }
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("https://{addr}")
    }

    /// Is the public URL an https:// one?
    pub fn public_https(&self) -> bool {
        self.public_url()
            .to_ascii_lowercase()
            .starts_with("https://")
    }

    /// May the shared port answer plain HTTP (instead of redirecting it)?
    pub fn plain_http_allowed(&self) -> bool {
        self.allow_plain_http || !self.public_https()
    }

    /// Is the session cookie `Secure` on a request (over TLS when `tls`)?
    /// Always when the public URL is https and plain HTTP is not allowed
    /// (the browser then only ever talks HTTPS to us).
    pub fn cookie_secure(&self, tls: bool) -> bool {
        tls || !self.plain_http_allowed()
    }

    /// The dashboard folder to serve.
    pub fn dashboard_dir(&self) -> PathBuf {
        if let Some(d) = &self.dashboard_dir {
            return d.clone();
        }
        // target/{debug,release}/berth-server → the repository root.
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1) {
                let candidate = dir.join("frontend").join("dist");
                if candidate.join("index.html").is_file() {
                    return candidate;
                }
            }
        }
        PathBuf::from("frontend/dist")
    }

    /// The agent binary for --local-agent.
    pub fn agent_bin(&self) -> PathBuf {
        if let Some(b) = &self.agent_bin {
            return b.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
            .unwrap_or_default()
            .join("berth-agent")
    }

    pub fn fanout_deadline(&self) -> Duration {
        Duration::from_millis(self.fanout_deadline_ms)
    }

    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms.max(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_defaults_match_with_data_dir() {
        let parsed = Config::parse_from(["berth-server", "--data-dir", "/tmp/x"]);
        let built = Config::with_data_dir("/tmp/x");
        assert_eq!(parsed.listen, built.listen);
        assert_eq!(parsed.fanout_deadline_ms, built.fanout_deadline_ms);
        assert_eq!(parsed.session_ttl_secs, built.session_ttl_secs);
        assert_eq!(parsed.body_limit, built.body_limit);
        assert_eq!(parsed.local_agent_listen, built.local_agent_listen);
        assert_eq!(parsed.allow_plain_http, built.allow_plain_http);
        assert_eq!(parsed.metrics_token, built.metrics_token);
        assert_eq!(parsed.metrics_listen, built.metrics_listen);
        assert_eq!(parsed.trusted_proxies, built.trusted_proxies);
        assert_eq!(parsed.secrets_dir, built.secrets_dir);
        assert_eq!(parsed.packages_dir, built.packages_dir);
    }

    #[test]
    fn plain_http_and_secure_cookies() {
        let mut c = Config::with_data_dir("/tmp/x");
        assert!(!c.plain_http_allowed(), "https public URL by default");
        assert!(c.cookie_secure(false));
        c.allow_plain_http = true;
        assert!(c.plain_http_allowed());
        assert!(!c.cookie_secure(false));
        assert!(c.cookie_secure(true));
        c.allow_plain_http = false;
        c.public_url = Some("http://berth.lan:8080".into());
        assert!(c.plain_http_allowed());
    }

    #[test]
    fn defaults() {
        let c = Config::with_data_dir("/tmp/x");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url(), "https://127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite:///tmp/x/berth.db?mode=rwc");
        assert_eq!(c.fanout_deadline(), Duration::from_secs(3));
    }

    #[test]
    fn unspecified_listen_advertises_loopback() {
        let mut c = Config::with_data_dir("/tmp/x");
        c.listen = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(c.public_url(), "https://127.0.0.1:9000");
        c.public_url = Some("https://berth.example:9000/".into());
        assert_eq!(c.public_url(), "https://berth.example:9000");
    }
}
