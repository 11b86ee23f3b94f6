//! Prometheus metrics (`GET /metrics`, text format 0.0.4): requests by route,
//! method and status with their latency, fan-out latency per host, hosts
//! known and online, and the shared upstream streams.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    fanout: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    hosts: AtomicU64,
    hosts_online: AtomicU64,
    upstream_streams: AtomicI64,
    upstream_streams_opened: AtomicU64,
    stream_viewers: AtomicI64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn record_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(route.to_string())
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// One host's part of a fan-out; `outcome` is ok, error or timeout.
    pub fn record_fanout(&self, host: &str, outcome: &'static str, took: Duration) {
        self.fanout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((host.to_string(), outcome))
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn set_hosts(&self, total: usize, online: usize) {
        self.hosts.store(total as u64, Ordering::Relaxed);
        self.hosts_online.store(online as u64, Ordering::Relaxed);
    }

    pub fn upstream_opened(&self) {
        self.upstream_streams.fetch_add(1, Ordering::Relaxed);
        self.upstream_streams_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_closed(&self) {
        self.upstream_streams.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn viewer_joined(&self) {
        self.stream_viewers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn viewer_left(&self) {
        self.stream_viewers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Upstream streams opened since start (tests read it).
    pub fn upstream_streams_opened(&self) -> u64 {
        self.upstream_streams_opened.load(Ordering::Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP berth_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE berth_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "berth_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP berth_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE berth_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            h.render(
                &mut out,
                "berth_http_request_duration_seconds",
                &format!("route=\"{}\"", escape(route)),
            );
        }
        out.push_str(
            "# HELP berth_fanout_host_duration_seconds Time each host took in fan-out calls.\n",
        );
        out.push_str("# TYPE berth_fanout_host_duration_seconds histogram\n");
        for ((host, outcome), h) in self.fanout.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            h.render(
                &mut out,
                "berth_fanout_host_duration_seconds",
                &format!("host=\"{}\",outcome=\"{outcome}\"", escape(host)),
            );
        }
        let gauges = [
            (
                "berth_hosts",
                "Hosts joined.",
                self.hosts.load(Ordering::Relaxed) as i64,
            ),
            (
                "berth_hosts_online",
                "Hosts whose last health check succeeded.",
                self.hosts_online.load(Ordering::Relaxed) as i64,
            ),
            (
                "berth_upstream_streams",
                "Open upstream streams from agents (shared by viewers).",
                self.upstream_streams.load(Ordering::Relaxed),
            ),
            (
                "berth_stream_viewers",
                "Clients watching a relayed stream.",
                self.stream_viewers.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP berth_upstream_streams_opened_total Upstream streams opened.\n# TYPE berth_upstream_streams_opened_total counter\nberth_upstream_streams_opened_total {}",
            self.upstream_streams_opened.load(Ordering::Relaxed)
        );
        out
    }
}

/// The layer that counts every request.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| {
            if req.uri().path().starts_with("/api/") {
                "unmatched".to_string()
            } else {
                "dashboard".to_string()
            }
        });
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .record_request(&route, &method, resp.status().as_u16(), start.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_request("/api/v1/hosts", "GET", 200, Duration::from_millis(3));
        m.record_fanout("h1", "ok", Duration::from_millis(20));
        m.set_hosts(2, 1);
        let t = m.render();
        assert!(
            t.contains(
                "berth_http_requests_total{route=\"/api/v1/hosts\",method=\"GET\",status=\"200\"} 1"
            ),
            "{t}"
        );
        assert!(t.contains(
            "berth_http_request_duration_seconds_bucket{route=\"/api/v1/hosts\",le=\"0.005\"} 1"
        ));
        assert!(
            t.contains("berth_fanout_host_duration_seconds_count{host=\"h1\",outcome=\"ok\"} 1")
        );
        assert!(t.contains("berth_hosts_online 1"));
    }
}
