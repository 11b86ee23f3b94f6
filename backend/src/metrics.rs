//! Prometheus metrics (`GET /metrics`, text format 0.0.4, rendered by
//! `prometheus-client`): requests by route, method and status with their
//! latency, fan-out latency per host, hosts known and online, and the shared
//! upstream streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FanoutLabels {
    host: String,
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    fanout: HistogramFamily<FanoutLabels>,
    hosts: Gauge,
    hosts_online: Gauge,
    upstream_streams: Gauge,
    upstream_streams_opened: Counter,
    stream_viewers: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "berth_http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(histogram);
        registry.register(
            "berth_http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        let fanout: HistogramFamily<FanoutLabels> = Family::new_with_constructor(histogram);
        registry.register(
            "berth_fanout_host_duration_seconds",
            "Time each host took in fan-out calls",
            fanout.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let hosts = gauge(&mut registry, "berth_hosts", "Hosts joined");
        let hosts_online = gauge(
            &mut registry,
            "berth_hosts_online",
            "Hosts whose last health check succeeded",
        );
        let upstream_streams = gauge(
            &mut registry,
            "berth_upstream_streams",
            "Open upstream streams from agents (shared by viewers)",
        );
        let stream_viewers = gauge(
            &mut registry,
            "berth_stream_viewers",
            "Clients watching a relayed stream",
        );
        let upstream_streams_opened = Counter::default();
        registry.register(
            "berth_upstream_streams_opened",
            "Upstream streams opened",
            upstream_streams_opened.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            fanout,
            hosts,
            hosts_online,
            upstream_streams,
            upstream_streams_opened,
            stream_viewers,
        }
    }
}

impl Metrics {
    pub fn record_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One host's part of a fan-out; `outcome` is ok, error or timeout.
    pub fn record_fanout(&self, host: &str, outcome: &'static str, took: Duration) {
        self.fanout
            .get_or_create(&FanoutLabels {
                host: host.to_string(),
                outcome,
            })
            .observe(took.as_secs_f64());
    }

    pub fn set_hosts(&self, total: usize, online: usize) {
        self.hosts.set(i64::try_from(total).unwrap_or(i64::MAX));
        self.hosts_online
            .set(i64::try_from(online).unwrap_or(i64::MAX));
    }

    pub fn upstream_opened(&self) {
        self.upstream_streams.inc();
        self.upstream_streams_opened.inc();
    }

    pub fn upstream_closed(&self) {
        self.upstream_streams.dec();
    }

    pub fn viewer_joined(&self) {
        self.stream_viewers.inc();
    }

    pub fn viewer_left(&self) {
        self.stream_viewers.dec();
    }

    /// Upstream streams opened since start (tests read it).
    pub fn upstream_streams_opened(&self) -> u64 {
        self.upstream_streams_opened.get()
    }

    /// The Prometheus text format (0.0.4) of every metric; [`CONTENT_TYPE`].
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The layer that counts every request.
pub async fn layer(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
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
    metrics.record_request(&route, &method, resp.status().as_u16(), start.elapsed());
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
        assert!(t.contains("berth_hosts_online 1"), "{t}");
        assert!(
            t.contains("# TYPE berth_http_requests_total counter"),
            "{t}"
        );
        m.upstream_opened();
        m.upstream_opened();
        m.upstream_closed();
        let t = m.render();
        assert!(t.contains("berth_upstream_streams 1"), "{t}");
        assert!(t.contains("berth_upstream_streams_opened_total 2"), "{t}");
        assert_eq!(m.upstream_streams_opened(), 2);
    }
}
