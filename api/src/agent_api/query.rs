//! The query strings of the agent's routes, typed. Each query reads from and
//! writes to `(name, value)` pairs ([`QueryParams`]), so the server's client
//! and the agent's extractor share one spelling of every parameter, its
//! default and its error. Repeated parameters (`label`, `mount_allow`,
//! `cmd`) are lists; of a repeated single-valued one, the last counts.
//! Unknown parameters are ignored, as they always were.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::containers::ContainerState;
use crate::metrics::Window;

/// A query parameter the agent can't read: a 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The parameter's name.
    pub param: &'static str,
    /// What is wrong, naming the parameter and its value
    /// (`timeout="x": expected a whole number`).
    pub detail: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for QueryError {}

/// A query of an agent route, to and from its `(name, value)` pairs.
pub trait QueryParams: Sized {
    /// The pairs to send, in a fixed order; unset values are left out.
    fn to_pairs(&self) -> Vec<(&'static str, String)>;
    /// Reads the pairs of a request.
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError>;
}

/// No query at all (routes without parameters).
impl QueryParams for () {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    fn from_pairs(_: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(())
    }
}

fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn invalid(param: &'static str, value: &str, why: impl fmt::Display) -> QueryError {
    QueryError {
        param,
        detail: format!("{param}={value:?}: {why}"),
    }
}

/// `true`, `1`, `yes` or `false`, `0`, `no`, `` (empty); `default` when
/// the parameter is absent.
fn bool_param(
    pairs: &[(String, String)],
    param: &'static str,
    default: bool,
) -> Result<bool, QueryError> {
    match last(pairs, param) {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no" | "") => Ok(false),
        Some(v) => Err(invalid(param, v, "expected true or false")),
    }
}

fn u64_param(pairs: &[(String, String)], param: &'static str) -> Result<Option<u64>, QueryError> {
    last(pairs, param)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| invalid(param, v, "expected a whole number"))
        })
        .transpose()
}

/// A parameter whose type reads itself with `FromStr`; its error text is
/// kept (it already names the value).
fn parsed_param<T: FromStr<Err = String>>(
    pairs: &[(String, String)],
    param: &'static str,
) -> Result<Option<T>, QueryError> {
    last(pairs, param)
        .map(|v| {
            v.parse::<T>()
                .map_err(|detail| QueryError { param, detail })
        })
        .transpose()
}

/// `label=key=value` (that value) or `label=key` (any value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelFilter {
    pub key: String,
    /// `None`: any value, as long as the label is there.
    pub value: Option<String>,
}

impl LabelFilter {
    /// Do `labels` pass this filter?
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (&self.value, labels.get(&self.key)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(v)) => want == v,
        }
    }
}

impl FromStr for LabelFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (s, None),
        };
        if key.is_empty() {
            return Err(format!("label={s:?}: expected key=value or key"));
        }
        Ok(LabelFilter {
            key: key.to_string(),
            value,
        })
    }
}

impl fmt::Display for LabelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// A signal as the API spells it: a name (`TERM`, `SIGTERM`, any case) or
/// a number. Which names and numbers exist is the host's business: the
/// agent resolves it and refuses one its kernel lacks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Signal {
    Number(i32),
    /// Upper case, without the `SIG` prefix.
    Name(String),
}

impl Default for Signal {
    fn default() -> Self {
        Signal::Name("KILL".into())
    }
}

impl FromStr for Signal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i32>() {
            return if (1..=64).contains(&n) {
                Ok(Signal::Number(n))
            } else {
                Err(format!("signal={s:?}: {n} is not a signal number"))
            };
        }
        let upper = t.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if name.is_empty() || name.len() > 12 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "signal={s:?}: use a name such as TERM, KILL, HUP or a number"
            ));
        }
        Ok(Signal::Name(name.to_string()))
    }
}

impl fmt::Display for Signal {
    /// `SIGTERM` or the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Number(n) => write!(f, "{n}"),
            Signal::Name(n) => write!(f, "SIG{n}"),
        }
    }
}

/// `GET /v1/containers`: `?label=k=v&label=k2&state=running`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Every filter must pass.
    pub labels: Vec<LabelFilter>,
    pub state: Option<ContainerState>,
}

impl ListQuery {
    /// Does a container with `labels` and `state` pass?
    pub fn matches(&self, labels: &BTreeMap<String, String>, state: ContainerState) -> bool {
        self.labels.iter().all(|l| l.matches(labels)) && self.state.is_none_or(|s| s == state)
    }
}

impl QueryParams for ListQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<_> = self
            .labels
            .iter()
            .map(|l| ("label", l.to_string()))
            .collect();
        v.extend(self.state.map(|s| ("state", s.to_string())));
        v
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let labels = all(pairs, "label")
            .map(|l| {
                l.parse().map_err(|detail| QueryError {
                    param: "label",
                    detail,
                })
            })
            .collect::<Result<_, _>>()?;
        let state = last(pairs, "state")
            .map(|v| {
                v.parse::<ContainerState>()
                    .map_err(|why| invalid("state", v, why))
            })
            .transpose()?;
        Ok(ListQuery { labels, state })
    }
}

/// `POST /v1/containers`: `?start=true&mount_allow=/srv&mount_allow=/data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateQuery {
    /// Start the container once created.
    pub start: bool,
    /// The host's bind-mount allowlist (prefixes), which the server keeps
    /// and the agent enforces on its filesystem.
    pub mount_allow: Vec<String>,
}

impl QueryParams for CreateQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if self.start {
            v.push(("start", "true".to_string()));
        }
        v.extend(self.mount_allow.iter().map(|p| ("mount_allow", p.clone())));
        v
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(CreateQuery {
            start: bool_param(pairs, "start", false)?,
            mount_allow: all(pairs, "mount_allow").map(str::to_string).collect(),
        })
    }
}

/// `DELETE /v1/containers/{c}`: `?force=true` kills a running one first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveQuery {
    pub force: bool,
}

impl QueryParams for RemoveQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        if self.force {
            vec![("force", "true".to_string())]
        } else {
            Vec::new()
        }
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(RemoveQuery {
            force: bool_param(pairs, "force", false)?,
        })
    }
}

/// Seconds `stop` and `restart` wait before SIGKILL when no `timeout` is
/// given (Docker's).
pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 10;

/// `POST /v1/containers/{c}/{action}`: `?timeout=` (stop, restart) and
/// `?signal=` (kill).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionQuery {
    /// Seconds between SIGTERM and SIGKILL ([`DEFAULT_STOP_TIMEOUT_SECS`]).
    pub timeout: Option<u64>,
    /// The signal of `kill` (SIGKILL when not given).
    pub signal: Option<Signal>,
}

impl ActionQuery {
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_STOP_TIMEOUT_SECS)
    }
    pub fn signal(&self) -> Signal {
        self.signal.clone().unwrap_or_default()
    }
}

impl QueryParams for ActionQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        v.extend(self.timeout.map(|t| ("timeout", t.to_string())));
        v.extend(self.signal.as_ref().map(|s| ("signal", s.to_string())));
        v
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(ActionQuery {
            timeout: u64_param(pairs, "timeout")?,
            signal: parsed_param(pairs, "signal")?,
        })
    }
}

/// `GET /v1/containers/{c}/logs`: `?tail=&since=&follow=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsQuery {
    /// The last N lines; every line when not given.
    pub tail: Option<u64>,
    /// Lines at or after this time (RFC 3339, or seconds since the epoch).
    pub since: Option<DateTime<Utc>>,
    /// Keep the stream open: SSE of `LogLine` instead of a JSON list.
    pub follow: bool,
}

/// Seconds (with a fraction) as whole milliseconds.
#[allow(clippy::cast_possible_truncation)] // Rust's f64 → i64 `as` saturates and drops the sub-millisecond part, which is meant; an out-of-range result is refused by `from_timestamp_millis`.
fn millis(secs: f64) -> i64 {
    (secs * 1000.0) as i64
}

/// RFC 3339, or seconds since the epoch.
fn parse_time(param: &'static str, v: &str) -> Result<DateTime<Utc>, QueryError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && let Some(t) = DateTime::from_timestamp_millis(millis(secs))
    {
        return Ok(t);
    }
    Err(invalid(
        param,
        v,
        "expected an RFC 3339 time or seconds since the epoch",
    ))
}

impl QueryParams for LogsQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        v.extend(self.tail.map(|t| ("tail", t.to_string())));
        v.extend(
            self.since
                .map(|t| ("since", t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
        );
        if self.follow {
            v.push(("follow", "true".to_string()));
        }
        v
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(LogsQuery {
            tail: u64_param(pairs, "tail")?,
            since: last(pairs, "since")
                .map(|v| parse_time("since", v))
                .transpose()?,
            follow: bool_param(pairs, "follow", false)?,
        })
    }
}

/// `GET /v1/metrics` and `GET /v1/containers/{c}/stats`: `?window=1h|24h`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowQuery {
    /// [`Window::Hour`] when not given.
    pub window: Option<Window>,
}

impl WindowQuery {
    pub fn window(&self) -> Window {
        self.window.unwrap_or_default()
    }
}

impl QueryParams for WindowQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        self.window
            .map(|w| ("window", w.as_str().to_string()))
            .into_iter()
            .collect()
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(WindowQuery {
            window: parsed_param(pairs, "window")?,
        })
    }
}

/// The command of an exec when none is given.
pub const DEFAULT_EXEC_SHELL: &str = "/bin/sh";

/// `GET /v1/containers/{c}/exec` (WebSocket): `?cmd=&tty=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecQuery {
    /// Repeated: the argv. A single `cmd` is split on whitespace.
    pub cmd: Vec<String>,
    /// A terminal (the default) or pipes.
    pub tty: bool,
}

impl Default for ExecQuery {
    fn default() -> Self {
        ExecQuery {
            cmd: Vec::new(),
            tty: true,
        }
    }
}

impl ExecQuery {
    /// The process's argv: [`DEFAULT_EXEC_SHELL`] when no `cmd` is given,
    /// a single `cmd` split on whitespace, several as they are.
    pub fn argv(&self) -> Vec<String> {
        match self.cmd.as_slice() {
            [] => vec![DEFAULT_EXEC_SHELL.to_string()],
            [one] => one.split_whitespace().map(str::to_string).collect(),
            many => many.to_vec(),
        }
    }
}

impl QueryParams for ExecQuery {
    fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<_> = self.cmd.iter().map(|c| ("cmd", c.clone())).collect();
        v.push(("tty", self.tty.to_string()));
        v
    }
    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        Ok(ExecQuery {
            cmd: all(pairs, "cmd").map(str::to_string).collect(),
            tty: bool_param(pairs, "tty", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: Vec<(&'static str, String)>) -> Vec<(String, String)> {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn read<Q: QueryParams>(q: &str) -> Result<Q, QueryError> {
        let pairs: Vec<(String, String)> = q
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.to_string(), String::new()),
            })
            .collect();
        Q::from_pairs(&pairs)
    }

    fn round_trip<Q: QueryParams + PartialEq + fmt::Debug>(q: Q) {
        assert_eq!(Q::from_pairs(&owned(q.to_pairs())).unwrap(), q);
    }

    #[test]
    fn every_query_round_trips() {
        round_trip(ListQuery {
            labels: vec!["team=a".parse().unwrap(), "tier".parse().unwrap()],
            state: Some(ContainerState::Running),
        });
        round_trip(CreateQuery {
            start: true,
            mount_allow: vec!["/srv".into(), "/data".into()],
        });
        round_trip(RemoveQuery { force: true });
        round_trip(ActionQuery {
            timeout: Some(5),
            signal: Some("hup".parse().unwrap()),
        });
        round_trip(LogsQuery {
            tail: Some(10),
            since: DateTime::from_timestamp(1_700_000_000, 500_000_000),
            follow: true,
        });
        round_trip(WindowQuery {
            window: Some(Window::Day),
        });
        round_trip(ExecQuery {
            cmd: vec!["ls".into(), "-l".into()],
            tty: false,
        });
    }

    #[test]
    fn defaults_when_absent() {
        assert_eq!(read::<ListQuery>("").unwrap(), ListQuery::default());
        assert_eq!(read::<ActionQuery>("").unwrap().timeout_secs(), 10);
        assert_eq!(
            read::<ActionQuery>("").unwrap().signal().to_string(),
            "SIGKILL"
        );
        assert_eq!(read::<WindowQuery>("").unwrap().window(), Window::Hour);
        let e = read::<ExecQuery>("").unwrap();
        assert!(e.tty);
        assert_eq!(e.argv(), ["/bin/sh"]);
        assert_eq!(read::<ExecQuery>("cmd=ls -l").unwrap().argv(), ["ls", "-l"]);
        assert_eq!(
            read::<ExecQuery>("cmd=echo&cmd=a b").unwrap().argv(),
            ["echo", "a b"]
        );
        assert!(!read::<RemoveQuery>("force=").unwrap().force);
        assert!(read::<CreateQuery>("start=yes").unwrap().start);
    }

    #[test]
    fn a_label_alone_matches_any_value() {
        let q: ListQuery = read("label=team").unwrap();
        let mut labels = BTreeMap::new();
        assert!(!q.matches(&labels, ContainerState::Running));
        labels.insert("team".to_string(), "a".to_string());
        assert!(q.matches(&labels, ContainerState::Running));
        let q: ListQuery = read("label=team=b&state=stopped").unwrap();
        assert!(!q.matches(&labels, ContainerState::Stopped));
        labels.insert("team".to_string(), "b".to_string());
        assert!(q.matches(&labels, ContainerState::Stopped));
        assert!(!q.matches(&labels, ContainerState::Running));
        // An empty value is a value: `team=` matches only `team: ""`.
        let q: ListQuery = read("label=team=").unwrap();
        assert!(!q.matches(&labels, ContainerState::Running));
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases: [(&str, Result<(), QueryError>); 8] = [
            ("label", read::<ListQuery>("label==x").map(drop)),
            ("state", read::<ListQuery>("state=sleeping").map(drop)),
            ("start", read::<CreateQuery>("start=maybe").map(drop)),
            ("timeout", read::<ActionQuery>("timeout=soon").map(drop)),
            ("signal", read::<ActionQuery>("signal=a;b").map(drop)),
            ("since", read::<LogsQuery>("since=yesterday").map(drop)),
            ("window", read::<WindowQuery>("window=2h").map(drop)),
            ("tty", read::<ExecQuery>("tty=perhaps").map(drop)),
        ];
        for (param, r) in cases {
            let e = r.unwrap_err();
            assert_eq!(e.param, param);
            assert!(e.detail.starts_with(&format!("{param}=")), "{e}");
        }
    }

    #[test]
    fn signals_read_as_names_or_numbers() {
        assert_eq!("term".parse::<Signal>(), Ok(Signal::Name("TERM".into())));
        assert_eq!("SIGhup".parse::<Signal>(), Ok(Signal::Name("HUP".into())));
        assert_eq!("9".parse::<Signal>(), Ok(Signal::Number(9)));
        assert!("0".parse::<Signal>().is_err());
        assert!("SIG".parse::<Signal>().is_err());
        assert_eq!(Signal::Name("TERM".into()).to_string(), "SIGTERM");
    }
}
