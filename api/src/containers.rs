//! Containers: the create spec, the container view, actions and logs
//! (docs/api.md, "Containers").

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// The limits and name shapes are declared in `limits` (the OpenAPI
// schemas read them there); they are part of this module's API.
pub use crate::limits::{
    MAX_CONTAINER_NAME_LEN, MAX_HOSTNAME_LEN, MIN_MEMORY_BYTES, MIN_NANO_CPUS,
    absolute_path_pattern, container_name_pattern,
};

/// Resource limits. CPU is in nano-CPUs (1e9 = one core).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::memory_bytes))]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::nano_cpus))]
    pub nano_cpus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::pids))]
    pub pids: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// A published port: `host_port` on the host forwards to `container_port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::port))]
    pub host_port: u16,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::port))]
    pub container_port: u16,
    #[serde(default)]
    pub protocol: Protocol,
}

/// A host path bind-mounted into the container (needs the admin role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MountSpec {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::container_path))]
    pub source: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::container_path))]
    pub target: String,
    #[serde(default)]
    pub readonly: bool,
}

/// `network`: `bridge` (default), `host`, `none`, or `container:<id|name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NetworkMode {
    #[default]
    Bridge,
    Host,
    None,
    Container(String),
}

impl FromStr for NetworkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bridge" => Ok(NetworkMode::Bridge),
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            _ => match s.strip_prefix("container:") {
                Some(c) if !c.is_empty() => Ok(NetworkMode::Container(c.to_string())),
                _ => Err(format!(
                    "unknown network {s:?}: expected \"bridge\", \"host\", \"none\" or \"container:<id>\""
                )),
            },
        }
    }
}

impl TryFrom<String> for NetworkMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Bridge => f.write_str("bridge"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
        }
    }
}

impl From<NetworkMode> for String {
    fn from(n: NetworkMode) -> String {
        n.to_string()
    }
}

/// `restart`: `no` (default), `on-failure`, `on-failure:N`, `always`,
/// `unless-stopped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times when given.
    OnFailure {
        max_retries: Option<u32>,
    },
    Always,
    UnlessStopped,
}

impl FromStr for RestartPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "no" | "" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => n
                    .parse::<u32>()
                    .map(|n| RestartPolicy::OnFailure {
                        max_retries: Some(n),
                    })
                    .map_err(|_| format!("restart {s:?}: the retry count must be a whole number")),
                None => Err(format!(
                    "unknown restart policy {s:?}: expected \"no\", \"on-failure[:N]\", \"always\" or \"unless-stopped\""
                )),
            },
        }
    }
}

impl TryFrom<String> for RestartPolicy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure { max_retries: None } => f.write_str("on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl From<RestartPolicy> for String {
    fn from(r: RestartPolicy) -> String {
        r.to_string()
    }
}

/// Both are strings on the wire; their schema says so.
#[cfg(feature = "openapi")]
mod string_schemas {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Schema};

    fn string_schema(description: &str, example: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .examples([serde_json::json!(example)])
            .into()
    }

    impl utoipa::PartialSchema for super::NetworkMode {
        fn schema() -> RefOr<Schema> {
            string_schema(
                "bridge (default), host, none, or container:<id|name>",
                "bridge",
            )
        }
    }
    impl utoipa::ToSchema for super::NetworkMode {}

    impl utoipa::PartialSchema for super::RestartPolicy {
        fn schema() -> RefOr<Schema> {
            string_schema(
                "no (default), on-failure, on-failure:N, always, unless-stopped",
                "on-failure:3",
            )
        }
    }
    impl utoipa::ToSchema for super::RestartPolicy {}
}

/// Which engine runs a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Berth's own runtime.
    #[default]
    Berth,
    /// An existing dockerd, through the Docker bridge.
    Docker,
}

/// `POST /api/v1/hosts/{host}/containers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::container_name))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::image_reference))]
    pub image: String,
    /// Replaces the image's command (and entrypoint) when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::command))]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::env))]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::container_path))]
    pub workdir: Option<String>,
    /// `uid`, `uid:gid`, or a user name from the image's /etc/passwd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::container_user))]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::hostname))]
    pub hostname: Option<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::container_labels))]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Stopped,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Stopped => "stopped",
        }
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContainerState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "created" => Ok(ContainerState::Created),
            "running" => Ok(ContainerState::Running),
            "paused" => Ok(ContainerState::Paused),
            "stopped" => Ok(ContainerState::Stopped),
            _ => Err(format!(
                "unknown state {s:?}: expected created, running, paused or stopped"
            )),
        }
    }
}

/// The container view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Container {
    /// 64 lowercase hex digits.
    pub id: String,
    pub name: String,
    /// The host's id.
    pub host: String,
    pub runtime: RuntimeKind,
    pub image: String,
    pub state: ContainerState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub restart_count: u32,
    /// The command that runs (the image's, unless the spec replaced it).
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub network: NetworkMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The spec it was created from, for inspect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ContainerSpec>,
    /// True when secrets were withheld because the caller's role on the host
    /// is below deployer: every `spec.env` value is then `""` (the names
    /// stay), and `cmd` and `spec.cmd` hold only the executable (argv[0]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// Answer to a create: `201 {id, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedContainer {
    pub id: String,
    pub name: String,
}

/// `POST .../containers/{c}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ContainerAction {
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
}

impl ContainerAction {
    pub const ALL: [ContainerAction; 6] = [
        ContainerAction::Start,
        ContainerAction::Stop,
        ContainerAction::Restart,
        ContainerAction::Kill,
        ContainerAction::Pause,
        ContainerAction::Unpause,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Start => "start",
            ContainerAction::Stop => "stop",
            ContainerAction::Restart => "restart",
            ContainerAction::Kill => "kill",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
        }
    }
}

impl FromStr for ContainerAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContainerAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown action {s:?}: expected start, stop, restart, kill, pause or unpause"
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of a container's log, as stored (JSON lines) and as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLine {
    pub stream: LogStream,
    pub time: DateTime<Utc>,
    /// The line without its newline; bytes that are not UTF-8 are replaced
    /// by U+FFFD.
    pub text: String,
    /// True when the line was cut to the log's maximum line length; the rest
    /// follows in the next entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// A text frame on the exec WebSocket: resize the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResize {
    /// `[cols, rows]`.
    pub resize: [u16; 2],
}

/// The body of `POST .../containers/{c}/exec-ticket`: the exec the ticket
/// is for (the WebSocket must ask for exactly this `cmd` and `tty`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecTicketRequest {
    /// The command (default: the agent's shell). At most 4096 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub cmd: Option<String>,
    /// Allocate a terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
}

/// A single-use ticket for one exec WebSocket, valid for 30 seconds:
/// `GET .../exec?ticket=<ticket>&cmd=..&tty=..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecTicket {
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

/// Is `s` a container id (64 lowercase hex digits)?
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a container name: 1–64 characters of `[a-zA-Z0-9_.-]`, starting
/// with a letter or digit (as Docker accepts).
pub fn validate_container_name(s: &str) -> Result<(), String> {
    let ok_len = !s.is_empty() && s.len() <= MAX_CONTAINER_NAME_LEN;
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok_len && ok_first && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "invalid container name {s:?}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restart_policy_round_trips() {
        for s in [
            "no",
            "on-failure",
            "on-failure:5",
            "always",
            "unless-stopped",
        ] {
            let p: RestartPolicy = serde_json::from_value(json!(s)).unwrap();
            assert_eq!(serde_json::to_value(p).unwrap(), json!(s));
        }
        assert!(serde_json::from_value::<RestartPolicy>(json!("sometimes")).is_err());
        assert!(serde_json::from_value::<RestartPolicy>(json!("on-failure:x")).is_err());
    }

    #[test]
    fn network_mode_round_trips() {
        for s in ["bridge", "host", "none", "container:web"] {
            let n: NetworkMode = serde_json::from_value(json!(s)).unwrap();
            assert_eq!(serde_json::to_value(n).unwrap(), json!(s));
        }
        assert!(serde_json::from_value::<NetworkMode>(json!("container:")).is_err());
    }

    #[test]
    fn spec_rejects_unknown_and_mistyped_fields() {
        let e =
            serde_json::from_value::<ContainerSpec>(json!({"image": "busybox", "cmd": "sleep 1"}))
                .unwrap_err()
                .to_string();
        assert!(e.contains("invalid type"), "{e}");
        let e = serde_json::from_value::<ContainerSpec>(json!({"image": "busybox", "memory": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
        let ok: ContainerSpec = serde_json::from_value(json!({
            "image": "busybox", "cmd": ["sleep", "600"],
            "limits": {"memory_bytes": 67108864u64, "pids": 64},
            "ports": [{"host_port": 8080, "container_port": 80, "protocol": "tcp"}],
            "restart": "on-failure:3", "network": "none"
        }))
        .unwrap();
        assert_eq!(ok.limits.memory_bytes, Some(64 << 20));
    }

    #[test]
    fn names_and_ids() {
        assert!(validate_container_name("web-1").is_ok());
        assert!(validate_container_name("-x").is_err());
        assert!(validate_container_name("a/b").is_err());
        assert!(is_container_id(&"ab".repeat(32)));
        assert!(!is_container_id("web"));
    }
}
