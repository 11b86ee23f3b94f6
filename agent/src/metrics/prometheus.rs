//! The Prometheus text exposition format (version 0.0.4) of the agent's
//! latest samples, rendered by `prometheus-client`.

use std::fmt;

use berth_api::metrics::{ContainerSample, HostSample};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::num::{f64_of, f64_of_count};

/// The `Content-Type` of what [`render`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    /// Rendered with the `_total` suffix.
    Counter,
}

impl Kind {
    fn metric_type(self) -> MetricType {
        match self {
            Kind::Gauge => MetricType::Gauge,
            Kind::Counter => MetricType::Counter,
        }
    }
}

/// Encodes one sample of a family already described.
fn sample(m: prometheus_client::encoding::MetricEncoder, kind: Kind, v: f64) -> fmt::Result {
    match kind {
        Kind::Gauge => ConstGauge::new(v).encode(m),
        Kind::Counter => ConstCounter::new(v).encode(m),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    id: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

type Get = fn(&ContainerSample) -> Option<f64>;

/// Per-container families: name (counters without `_total`), kind, help and
/// the value, absent when there is none (an unlimited memory limit).
const PER_CONTAINER: [(&str, Kind, &str, Get); 9] = [
    (
        "berth_container_cpu_percent",
        Kind::Gauge,
        "CPU use in percent of one core",
        |s| Some(s.cpu_percent),
    ),
    (
        "berth_container_cpu_throttled_seconds",
        Kind::Counter,
        "Time throttled by the CPU limit",
        |s| Some(f64_of(s.cpu_throttled_usec) / 1e6),
    ),
    (
        "berth_container_memory_bytes",
        Kind::Gauge,
        "Memory use of the cgroup",
        |s| Some(f64_of(s.memory_bytes)),
    ),
    (
        "berth_container_pids",
        Kind::Gauge,
        "Processes and threads",
        |s| Some(f64_of(s.pids)),
    ),
    (
        "berth_container_network_receive_bytes",
        Kind::Counter,
        "Bytes received in its network namespace",
        |s| Some(f64_of(s.net_rx_bytes)),
    ),
    (
        "berth_container_network_transmit_bytes",
        Kind::Counter,
        "Bytes sent from its network namespace",
        |s| Some(f64_of(s.net_tx_bytes)),
    ),
    (
        "berth_container_blkio_read_bytes",
        Kind::Counter,
        "Bytes read from block devices",
        |s| Some(f64_of(s.blk_read_bytes)),
    ),
    (
        "berth_container_blkio_written_bytes",
        Kind::Counter,
        "Bytes written to block devices",
        |s| Some(f64_of(s.blk_write_bytes)),
    ),
    (
        "berth_container_memory_limit_bytes",
        Kind::Gauge,
        "Memory limit (absent when unlimited)",
        |s| s.memory_limit_bytes.map(f64_of),
    ),
];

/// One scrape's figures, owned so the registry can hold them.
#[derive(Debug)]
struct Snapshot {
    host: Option<HostSample>,
    containers: Vec<(String, String, ContainerSample)>,
    states: Vec<(String, usize)>,
    streams: Vec<(String, usize)>,
    round_seconds: f64,
}

impl Snapshot {
    fn encode_host(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let Some(h) = &self.host else { return Ok(()) };
        for (name, kind, help, v) in [
            (
                "berth_host_cpu_percent",
                Kind::Gauge,
                "CPU use in percent of one core",
                h.cpu_percent,
            ),
            (
                "berth_host_memory_bytes",
                Kind::Gauge,
                "Memory in use (total minus available)",
                f64_of(h.memory_bytes),
            ),
            (
                "berth_host_memory_total_bytes",
                Kind::Gauge,
                "Memory of the host",
                f64_of(h.memory_total_bytes),
            ),
            (
                "berth_host_load1",
                Kind::Gauge,
                "One-minute load average",
                h.load1,
            ),
            (
                "berth_host_network_receive_bytes",
                Kind::Counter,
                "Bytes received on every interface but lo",
                f64_of(h.net_rx_bytes),
            ),
            (
                "berth_host_network_transmit_bytes",
                Kind::Counter,
                "Bytes sent on every interface but lo",
                f64_of(h.net_tx_bytes),
            ),
            (
                "berth_host_disk_read_bytes",
                Kind::Counter,
                "Bytes read from whole disks",
                f64_of(h.disk_read_bytes),
            ),
            (
                "berth_host_disk_written_bytes",
                Kind::Counter,
                "Bytes written to whole disks",
                f64_of(h.disk_write_bytes),
            ),
        ] {
            let m = enc.encode_descriptor(name, help, None, kind.metric_type())?;
            sample(m, kind, v)?;
        }
        Ok(())
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        self.encode_host(&mut enc)?;
        let mut fam = enc.encode_descriptor(
            "berth_containers",
            "Containers by state",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in &self.states {
            let labels = StateLabels {
                state: state.clone(),
            };
            let m = fam.encode_family(&labels)?;
            sample(m, Kind::Gauge, f64_of_count(*n))?;
        }
        for (name, kind, help, get) in PER_CONTAINER {
            let mut fam = enc.encode_descriptor(name, help, None, kind.metric_type())?;
            for (id, cname, s) in &self.containers {
                let Some(v) = get(s) else { continue };
                let labels = ContainerLabels {
                    id: id.clone(),
                    name: cname.clone(),
                };
                sample(fam.encode_family(&labels)?, kind, v)?;
            }
        }
        let m = enc.encode_descriptor(
            "berth_agent_sample_round_seconds",
            "Time the last sampling round took",
            None,
            MetricType::Gauge,
        )?;
        sample(m, Kind::Gauge, self.round_seconds)?;
        let mut fam = enc.encode_descriptor(
            "berth_agent_streams_open",
            "Live SSE streams being served, by kind",
            None,
            MetricType::Gauge,
        )?;
        for (kind, n) in &self.streams {
            let labels = StreamLabels {
                stream: kind.clone(),
            };
            sample(fam.encode_family(&labels)?, Kind::Gauge, f64_of_count(*n))?;
        }
        Ok(())
    }
}

/// Renders the host and container samples, and the agent's own figures
/// ([`CONTENT_TYPE`]).
pub fn render(
    host: Option<&HostSample>,
    containers: &[(String, String, ContainerSample)],
    states: &[(&str, usize)],
    streams: &[(&str, usize)],
    round_seconds: f64,
) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        host: host.cloned(),
        containers: containers.to_vec(),
        states: states.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        streams: streams.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        round_seconds,
    }));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_lines() {
        let s = ContainerSample {
            t: chrono::Utc::now(),
            cpu_percent: 12.5,
            cpu_throttled_usec: 2_000_000,
            memory_bytes: 1024,
            memory_limit_bytes: None,
            pids: 3,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            net_rx_packets: 0,
            net_tx_packets: 0,
            blk_read_bytes: 0,
            blk_write_bytes: 0,
            pressure: None,
        };
        let host = HostSample {
            t: chrono::Utc::now(),
            cpu_percent: 50.0,
            memory_bytes: 10,
            memory_total_bytes: 20,
            load1: 0.5,
            net_rx_bytes: 7,
            net_tx_bytes: 8,
            disk_read_bytes: 9,
            disk_write_bytes: 11,
        };
        let text = render(
            Some(&host),
            &[("abc".into(), "we\"b".into(), s)],
            &[("running", 1)],
            &[("host", 2)],
            0.002,
        );
        assert!(text.contains("berth_container_cpu_percent{id=\"abc\",name=\"we\\\"b\"} 12.5"));
        assert!(text.contains(
            "berth_container_cpu_throttled_seconds_total{id=\"abc\",name=\"we\\\"b\"} 2"
        ));
        assert!(text.contains("berth_containers{state=\"running\"} 1"));
        assert!(text.contains("berth_agent_streams_open{stream=\"host\"} 2"));
        assert!(!text.contains("memory_limit_bytes{"));
        assert!(
            text.contains("berth_host_network_receive_bytes_total 7"),
            "{text}"
        );
        assert!(text.contains("# TYPE berth_host_disk_written_bytes_total counter"));
        assert!(text.contains("# TYPE berth_host_load1 gauge"));
        assert!(text.contains("berth_host_memory_total_bytes 20"));
        assert!(text.contains("berth_agent_sample_round_seconds 0.002"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
    }
}
