//! The Prometheus text exposition format (version 0.0.4) of the agent's
//! latest samples.

use std::fmt::Write;

use berth_api::metrics::{ContainerSample, HostSample};

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the host and container samples, and the agent's own figures.
pub fn render(
    host: Option<&HostSample>,
    containers: &[(String, String, ContainerSample)],
    states: &[(&str, usize)],
    streams: &[(&str, usize)],
    round_seconds: f64,
) -> String {
    let mut o = String::new();
    if let Some(h) = host {
        for (name, kind, help, v) in [
            (
                "berth_host_cpu_percent",
                "gauge",
                "CPU use in percent of one core",
                h.cpu_percent,
            ),
            (
                "berth_host_memory_bytes",
                "gauge",
                "Memory in use (total minus available)",
                h.memory_bytes as f64,
            ),
            (
                "berth_host_memory_total_bytes",
                "gauge",
                "Memory of the host",
                h.memory_total_bytes as f64,
            ),
            (
                "berth_host_load1",
                "gauge",
                "One-minute load average",
                h.load1,
            ),
            (
                "berth_host_network_receive_bytes_total",
                "counter",
                "Bytes received on every interface but lo",
                h.net_rx_bytes as f64,
            ),
            (
                "berth_host_network_transmit_bytes_total",
                "counter",
                "Bytes sent on every interface but lo",
                h.net_tx_bytes as f64,
            ),
            (
                "berth_host_disk_read_bytes_total",
                "counter",
                "Bytes read from whole disks",
                h.disk_read_bytes as f64,
            ),
            (
                "berth_host_disk_written_bytes_total",
                "counter",
                "Bytes written to whole disks",
                h.disk_write_bytes as f64,
            ),
        ] {
            family(&mut o, name, kind, help);
            let _ = writeln!(o, "{name} {v}");
        }
    }
    family(&mut o, "berth_containers", "gauge", "Containers by state");
    for (state, n) in states {
        let _ = writeln!(o, "berth_containers{{state=\"{state}\"}} {n}");
    }
    type Get = fn(&ContainerSample) -> f64;
    let per: [(&str, &str, &str, Get); 9] = [
        (
            "berth_container_cpu_percent",
            "gauge",
            "CPU use in percent of one core",
            |s| s.cpu_percent,
        ),
        (
            "berth_container_cpu_throttled_seconds_total",
            "counter",
            "Time throttled by the CPU limit",
            |s| s.cpu_throttled_usec as f64 / 1e6,
        ),
        (
            "berth_container_memory_bytes",
            "gauge",
            "Memory use of the cgroup",
            |s| s.memory_bytes as f64,
        ),
        (
            "berth_container_pids",
            "gauge",
            "Processes and threads",
            |s| s.pids as f64,
        ),
        (
            "berth_container_network_receive_bytes_total",
            "counter",
            "Bytes received in its network namespace",
            |s| s.net_rx_bytes as f64,
        ),
        (
            "berth_container_network_transmit_bytes_total",
            "counter",
            "Bytes sent from its network namespace",
            |s| s.net_tx_bytes as f64,
        ),
        (
            "berth_container_blkio_read_bytes_total",
            "counter",
            "Bytes read from block devices",
            |s| s.blk_read_bytes as f64,
        ),
        (
            "berth_container_blkio_written_bytes_total",
            "counter",
            "Bytes written to block devices",
            |s| s.blk_write_bytes as f64,
        ),
        (
            "berth_container_memory_limit_bytes",
            "gauge",
            "Memory limit (absent when unlimited)",
            |s| s.memory_limit_bytes.map(|l| l as f64).unwrap_or(f64::NAN),
        ),
    ];
    for (name, kind, help, get) in per {
        family(&mut o, name, kind, help);
        for (id, cname, s) in containers {
            let v = get(s);
            if v.is_nan() {
                continue;
            }
            let _ = writeln!(
                o,
                "{name}{{id=\"{}\",name=\"{}\"}} {v}",
                esc(id),
                esc(cname)
            );
        }
    }
    family(
        &mut o,
        "berth_agent_sample_round_seconds",
        "gauge",
        "Time the last sampling round took",
    );
    let _ = writeln!(o, "berth_agent_sample_round_seconds {round_seconds}");
    family(
        &mut o,
        "berth_agent_streams_open",
        "gauge",
        "Live SSE streams being served, by kind",
    );
    for (kind, n) in streams {
        let _ = writeln!(
            o,
            "berth_agent_streams_open{{stream=\"{}\"}} {n}",
            esc(kind)
        );
    }
    o
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
        let text = render(
            None,
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
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
    }
}
