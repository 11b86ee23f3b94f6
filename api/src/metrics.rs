//! Metric samples of hosts and containers (docs/api.md, metrics and stats).

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

impl Window {
    /// Its spelling on the wire: `1h` or `24h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
        }
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1h" => Ok(Window::Hour),
            "24h" => Ok(Window::Day),
            _ => Err(format!("window={s:?}: expected 1h or 24h")),
        }
    }
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

/// The most containers one `GET /api/v1/stats/stream` may follow.
pub const STATS_STREAM_MAX_CONTAINERS: usize = 100;

/// One event of the multiplexed live stats stream (`GET /api/v1/stats/stream`):
/// a sample of one container, or what became of that container's stream.
/// `host` and `container` repeat the request's `container=<host>/<c>` as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsStreamEvent {
    pub host: String,
    pub container: String,
    /// The container's sample of this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<ContainerSample>,
    /// This container's stream was refused or failed (no such container, the
    /// host is down); the other containers' samples go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<crate::Problem>,
    /// This container's stream is over; no more events name it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_spelled_once() {
        for w in [Window::Hour, Window::Day] {
            let json = serde_json::to_value(w).unwrap();
            assert_eq!(json, serde_json::json!(w.as_str()));
            assert_eq!(w.as_str().parse::<Window>(), Ok(w));
            assert_eq!(serde_json::from_value::<Window>(json).unwrap(), w);
        }
        let e = "2h".parse::<Window>().unwrap_err();
        assert!(
            e.contains("window=\"2h\"") && e.contains("1h or 24h"),
            "{e}"
        );
    }

    #[test]
    fn stats_stream_events_read_as_documented() {
        let v: StatsStreamEvent = serde_json::from_str(
            r#"{"host":"h1","container":"web","sample":{"t":"2026-01-01T00:00:00Z","cpu_percent":1.5,"memory_bytes":10,"pids":1}}"#,
        )
        .unwrap();
        assert_eq!(v.sample.as_ref().map(|s| s.pids), Some(1));
        assert!(!v.ended && v.problem.is_none());
        let end = StatsStreamEvent {
            host: "h1".into(),
            container: "web".into(),
            sample: None,
            problem: Some(crate::Problem::new(404, "no container web")),
            ended: true,
        };
        let text = serde_json::to_string(&end).unwrap();
        assert!(!text.contains("sample"), "{text}");
        assert_eq!(
            serde_json::from_str::<StatsStreamEvent>(&text).unwrap(),
            end
        );
    }
}
