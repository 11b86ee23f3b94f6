//! A container's desired state as persisted in `<data>/containers/<id>/container.json`.

use berth_api::containers::{ContainerSpec, NetworkMode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Name of the record file in a container's dir.
pub const RECORD_FILE: &str = "container.json";

/// What the agent knows of one container across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// The spec as created (inspect shows it).
    pub spec: ContainerSpec,
    /// `sha256:<config digest>` of the image it runs.
    pub image_id: String,
    /// The command that runs.
    pub cmd: Vec<String>,
    /// The network it really has.
    pub network: NetworkMode,
    /// Its address on the bridge.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The image's stop signal (`SIGTERM` unless the image says otherwise).
    #[serde(default)]
    pub stop_signal: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub restart_count: u32,
    /// Stopped (or killed) on purpose: no restart policy brings it back
    /// until it is started again.
    #[serde(default)]
    pub manually_stopped: bool,
    /// It should be running (set by start, cleared by stop and by exits
    /// no policy restarts): decides what an agent start after a reboot does.
    #[serde(default)]
    pub should_run: bool,
}
