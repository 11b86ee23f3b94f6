//! Metric samples of hosts and containers (shared/API.md, metrics and stats).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `?window=1h|24h`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Window {
    /// One sample a second.
    #[default]
    #[serde(rename = "1h")]
    Hour,
    /// One sample a minute (averages).
    #[serde(rename = "24h")]
    Day,
}

/// One sample of a host. Byte counters are cumulative since boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostSample {
    pub t: DateTime<Utc>,
    /// Percent of one core (a busy 4-core host reads 400).
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    #[serde(default)]
    pub memory_total_bytes: u64,
    pub load1: f64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
}

/// One sample of a container. Byte and usec counters are cumulative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerSample {
    pub t: DateTime<Utc>,
    /// Percent of one core.
    pub cpu_percent: f64,
    #[serde(default)]
    pub cpu_throttled_usec: u64,
    pub memory_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    pub pids: u64,
    #[serde(default)]
    pub net_rx_bytes: u64,
    #[serde(default)]
    pub net_tx_bytes: u64,
    #[serde(default)]
    pub net_rx_packets: u64,
    #[serde(default)]
    pub net_tx_packets: u64,
    #[serde(default)]
    pub blk_read_bytes: u64,
    #[serde(default)]
    pub blk_write_bytes: u64,
    /// PSI `some avg10` for cpu, memory and io, where the kernel has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<Pressure>,
}

/// Pressure stall information, `some avg10` per resource (percent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pressure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<f64>,
}
