//! Logging for the daemons: text or JSON lines, and a filter that SIGHUP
//! reloads from the config file ([`reload_on_sighup`]).
//!
//! Only the filter changes at runtime. A SIGHUP loads the configuration
//! again (flags, environment, file: the same precedence as at start), applies
//! a new `log_filter`, and logs every other key whose value in the file
//! differs from the running one: those take effect at the next restart.

use std::collections::BTreeMap;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use super::config_file::{Loaded, Source};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where and how to log.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub format: LogFormat,
    /// The filter given (`--log-filter`, `RUST_LOG`, `log_filter`), if any.
    pub filter: Option<&'a str>,
    /// The daemon's filter when none is given.
    pub default_filter: &'a str,
    /// Log to stderr (else stdout).
    pub stderr: bool,
    /// Show each line's target (module path).
    pub target: bool,
}

/// Changes the running filter.
#[derive(Clone)]
pub struct Handle {
    inner: reload::Handle<EnvFilter, Registry>,
    default_filter: String,
}

/// `--log-filter`'s value parser: a valid `EnvFilter` directive list.
pub fn parse_filter(s: &str) -> Result<String, String> {
    EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("not a log filter: {e}"))
}

/// Installs the process's logger. Call once, first thing.
pub fn init(opts: Options<'_>) -> Handle {
    let wanted = opts.filter.unwrap_or(opts.default_filter);
    let filter = EnvFilter::builder()
        .parse(wanted)
        .unwrap_or_else(|_| EnvFilter::new(opts.default_filter));
    let (filter, inner) = reload::Layer::new(filter);
    use std::io::IsTerminal;
    let (writer, terminal) = if opts.stderr {
        (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        )
    } else {
        (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        )
    };
    // Colours only for a terminal: the journal and log files get plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(terminal)
        .with_target(opts.target);
    let registry = tracing_subscriber::registry().with(filter);
    // A second logger (tests that call this twice) is not an error.
    let _ = match opts.format {
        LogFormat::Json => registry.with(fmt.json()).try_init(),
        LogFormat::Text => registry.with(fmt).try_init(),
    };
    Handle {
        inner,
        default_filter: opts.default_filter.to_string(),
    }
}

impl Handle {
    /// Applies `filter` (the daemon's default for `None`); returns the
    /// filter now in force.
    pub fn set(&self, filter: Option<&str>) -> Result<String, String> {
        let wanted = filter.unwrap_or(&self.default_filter).to_string();
        let parsed = EnvFilter::builder()
            .parse(&wanted)
            .map_err(|e| format!("not a log filter: {e}"))?;
        self.inner
            .reload(parsed)
            .map_err(|e| format!("reload the log filter: {e}"))?;
        Ok(wanted)
    }
}

/// On every SIGHUP, loads the configuration again from `source`, applies its
/// log filter, and logs the other keys of the file that changed since
/// `running` (they need a restart). A file that no longer loads is logged
/// and changes nothing. Call from within a tokio runtime.
pub fn reload_on_sighup(source: Source, running: Loaded, handle: Handle) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the config will not be reloaded");
            return;
        }
    };
    let mut filter = running.leaf().get_one::<String>("log_filter").cloned();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            filter = reload(&source, &running, &handle, filter.take());
        }
    });
}

/// One reload; returns the filter in force after it.
fn reload(
    source: &Source,
    running: &Loaded,
    handle: &Handle,
    current: Option<String>,
) -> Option<String> {
    let loaded = match source.load() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "SIGHUP: the configuration did not load; nothing changed");
            return current;
        }
    };
    let wanted = loaded.leaf().get_one::<String>("log_filter").cloned();
    let file = loaded
        .file
        .as_ref()
        .map_or_else(|| "none".to_string(), |p| p.display().to_string());
    let applied = match handle.set(wanted.as_deref()) {
        Ok(f) => {
            tracing::info!(file, log_filter = %f, "SIGHUP: reloaded the log filter");
            wanted
        }
        Err(e) => {
            tracing::warn!(error = %e, "SIGHUP: kept the log filter");
            current
        }
    };
    let later = changed_keys(&running.values, &loaded.values);
    if !later.is_empty() {
        tracing::warn!(
            keys = %later.join(", "),
            "SIGHUP: these keys changed in the config file and take effect at the next restart"
        );
    }
    applied
}

/// Keys (other than the log filter) whose file value differs.
fn changed_keys(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| k.as_str() != "log_filter" && before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked() {
        assert!(parse_filter("info,berth_agent=debug").is_ok());
        assert!(parse_filter("info,[[[").is_err());
    }

    #[test]
    fn changed_keys_skip_the_log_filter() {
        let before: BTreeMap<String, String> = [("listen", "a"), ("log_filter", "info")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let after: BTreeMap<String, String> = [("log_filter", "debug"), ("data_dir", "/x")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(changed_keys(&before, &after), ["data_dir", "listen"]);
        assert!(changed_keys(&before, &before).is_empty());
    }
}
