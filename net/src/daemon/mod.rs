//! What `berth-server` and `berth-agent` share as daemons: the config file
//! ([`config_file`]), logging with a filter SIGHUP reloads ([`logging`]),
//! and systemd readiness ([`notify_ready`]).

pub mod config_file;
pub mod logging;

use std::path::PathBuf;

pub use config_file::{Loaded, Source};
pub use logging::LogFormat;

/// The flags every daemon command has besides its own.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// The config file (TOML; keys are the long flags in snake_case).
    /// Default: /etc/berth/<daemon>.toml when it exists. Flags win over the
    /// environment, which wins over the file.
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log lines as text (terminals) or JSON (one object per line, for the
    /// journal and log shippers).
    #[arg(long, env = "BERTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Which log lines to keep, as `RUST_LOG` (`info`, `warn,berth_agent=debug`, …).
    /// Default: `info` (the server also turns tower_http, sqlx and hyper
    /// down to `warn`). SIGHUP re-reads it from the config file.
    #[arg(long, env = "RUST_LOG", value_parser = logging::parse_filter)]
    pub log_filter: Option<String>,
}

/// Tells systemd (`Type=notify`) that the daemon is ready: sends `READY=1`
/// to `$NOTIFY_SOCKET`. Does nothing when that is unset (not started by
/// systemd); a failure is logged, never fatal.
pub fn notify_ready() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    match sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        Ok(()) => tracing::debug!("told systemd we are ready"),
        Err(e) => tracing::warn!(error = %e, "could not tell systemd we are ready"),
    }
}
