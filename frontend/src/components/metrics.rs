//! Live metric panels: history from `?window=1h|24h`, then one sample a
//! second from the SSE stream, into bounded rings that feed the graphs.
//! Switching the window reloads the history; in the 24 h view the live
//! stream adds one point a minute, matching the history's resolution.

use berth_api::metrics::{ContainerSample, HostSample, Window};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::graph::{Line, LiveGraph, Ring, rates};
use crate::format;
use crate::stream::{self, StreamEvent, StreamHandle, StreamOptions};

/// A sample with a time.
pub trait Sample: Clone + PartialEq + Send + Sync + serde::de::DeserializeOwned + 'static {
    fn t(&self) -> f64;
}

impl Sample for HostSample {
    fn t(&self) -> f64 {
        self.t.timestamp_millis() as f64 / 1000.0
    }
}

impl Sample for ContainerSample {
    fn t(&self) -> f64 {
        self.t.timestamp_millis() as f64 / 1000.0
    }
}

pub fn capacity(w: Window) -> usize {
    match w {
        Window::Hour => 3600,
        Window::Day => 1440,
    }
}

pub fn span(w: Window) -> f64 {
    match w {
        Window::Hour => 3600.0,
        Window::Day => 86_400.0,
    }
}

/// Adds a live sample to a series shown in window `w`: only samples newer
/// than the last, and in the 24 h view one a minute (the history's
/// resolution). The ring drops its oldest sample when full. Returns whether
/// the sample was kept.
pub fn ingest<S: Sample>(ring: &mut Ring<S>, w: Window, s: S) -> bool {
    let newer = ring.last().is_none_or(|l| s.t() > l.t());
    let due = match w {
        Window::Hour => true,
        Window::Day => ring.last().is_none_or(|l| s.t() - l.t() >= 60.0),
    };
    if newer && due {
        ring.push(s);
    }
    newer && due
}

/// The state of one live series: its ring, window, and stream status.
pub struct Live<S: Sample> {
    pub ring: RwSignal<Ring<S>>,
    pub window: RwSignal<Window>,
    pub error: RwSignal<Option<ApiError>>,
    pub connected: RwSignal<bool>,
}

impl<S: Sample> Clone for Live<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Sample> Copy for Live<S> {}

/// Loads history and follows the stream for as long as the calling
/// component lives. `history` fetches the window; `stream_path` is the SSE.
pub fn follow<S, F, Fut>(history: F, stream_path: Signal<String>) -> Live<S>
where
    S: Sample,
    F: Fn(Window) -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Result<berth_api::List<S>, ApiError>> + 'static,
{
    let live = Live {
        ring: RwSignal::new(Ring::<S>::new(capacity(Window::Hour))),
        window: RwSignal::new(Window::Hour),
        error: RwSignal::new(None),
        connected: RwSignal::new(false),
    };
    let handle = StoredValue::new_local(None::<StreamHandle>);
    // History whenever the window or the subject changes.
    Effect::new(move |_| {
        let w = live.window.get();
        let _ = stream_path.get();
        live.ring.update(|r| r.reset(capacity(w)));
        spawn_local(async move {
            match history(w).await {
                Ok(list) => {
                    live.ring.update(|r| {
                        let mut merged: Vec<S> = list.items;
                        // Keep live samples that arrived while history loaded.
                        let newest: f64 = merged.last().map(|s: &S| s.t()).unwrap_or(f64::MIN);
                        merged.extend(r.iter().filter(|s: &&S| s.t() > newest).cloned());
                        r.reset(capacity(w));
                        for s in merged {
                            r.push(s);
                        }
                    });
                }
                Err(e) => live.error.set(Some(e)),
            }
        });
    });
    // The stream, reopened when the subject changes.
    Effect::new(move |_| {
        let path = stream_path.get();
        live.connected.set(false);
        let h = stream::open::<S, _>(path, StreamOptions::live(), move |ev| match ev {
            StreamEvent::Open => {
                live.connected.set(true);
                live.error.set(None);
            }
            StreamEvent::Data(s) => {
                let w = live.window.get_untracked();
                live.ring.update(|r| {
                    ingest(r, w, s);
                });
            }
            StreamEvent::Failed(e) => {
                live.connected.set(false);
                live.error.set(Some(e));
            }
            StreamEvent::Closed => live.connected.set(false),
        });
        handle.set_value(Some(h));
    });
    live
}

/// The 1 h / 24 h switch.
#[component]
pub fn WindowSwitch(window: RwSignal<Window>) -> impl IntoView {
    let button = move |w: Window, label: &'static str| {
        view! {
            <button
                type="button"
                aria-pressed=move || (window.get() == w).to_string()
                on:click=move |_| window.set(w)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="segmented" role="group" aria-label="History window">
            {button(Window::Hour, "1 h")}
            {button(Window::Day, "24 h")}
        </div>
    }
}

/// Connection state of a live panel.
#[component]
pub fn LiveStatus<S: Sample>(live: Live<S>) -> impl IntoView {
    view! {
        <span class="hint" data-testid="live-status">
            {move || {
                if live.connected.get() && live.ring.with(Ring::is_empty) {
                    "● live, waiting for the first sample".to_string()
                } else if live.connected.get() {
                    "● live".to_string()
                } else if let Some(e) = live.error.get() {
                    format!("not live: {e}")
                } else {
                    "connecting…".to_string()
                }
            }}
        </span>
    }
}

fn points<S: Sample>(ring: &Ring<S>, f: impl Fn(&S) -> f64) -> Vec<(f64, f64)> {
    ring.iter().map(|s| (s.t(), f(s))).collect()
}

fn bytes_fmt(v: f64) -> String {
    format::bytes(v.max(0.0) as u64)
}

fn count_fmt(v: f64) -> String {
    format!("{v:.0}")
}

fn load_fmt(v: f64) -> String {
    format!("{v:.2}")
}

/// A host's graphs: CPU, memory, load, network and disk I/O.
#[component]
pub fn HostGraphs(live: Live<HostSample>, cpus: Signal<f64>) -> impl IntoView {
    let r = live.ring;
    let span = Signal::derive(move || span(live.window.get()));
    let cpu = Signal::derive(move || {
        vec![Line {
            label: "cpu",
            points: r.with(|r| points(r, |s| s.cpu_percent)),
        }]
    });
    let mem = Signal::derive(move || {
        vec![Line {
            label: "used",
            points: r.with(|r| points(r, |s| s.memory_bytes as f64)),
        }]
    });
    let load = Signal::derive(move || {
        vec![Line {
            label: "load1",
            points: r.with(|r| points(r, |s| s.load1)),
        }]
    });
    let net = Signal::derive(move || {
        r.with(|r| {
            vec![
                Line {
                    label: "rx",
                    points: rates(r, |s| (s.t(), s.net_rx_bytes as f64)),
                },
                Line {
                    label: "tx",
                    points: rates(r, |s| (s.t(), s.net_tx_bytes as f64)),
                },
            ]
        })
    });
    let disk = Signal::derive(move || {
        r.with(|r| {
            vec![
                Line {
                    label: "read",
                    points: rates(r, |s| (s.t(), s.disk_read_bytes as f64)),
                },
                Line {
                    label: "write",
                    points: rates(r, |s| (s.t(), s.disk_write_bytes as f64)),
                },
            ]
        })
    });
    let cpu_max = cpus.get_untracked().max(1.0) * 100.0;
    view! {
        <div class="graphs">
            <LiveGraph title="CPU" data=cpu span=span format=format::percent max=cpu_max/>
            <LiveGraph title="Memory" data=mem span=span format=bytes_fmt/>
            <LiveGraph title="Load" data=load span=span format=load_fmt/>
            <LiveGraph title="Network" data=net span=span format=format::rate/>
            <LiveGraph title="Disk I/O" data=disk span=span format=format::rate/>
        </div>
    }
}

/// A container's graphs: CPU, memory, pids, network, block I/O, pressure.
#[component]
pub fn ContainerGraphs(live: Live<ContainerSample>) -> impl IntoView {
    let r = live.ring;
    let span = Signal::derive(move || span(live.window.get()));
    let cpu = Signal::derive(move || {
        vec![Line {
            label: "cpu",
            points: r.with(|r| points(r, |s| s.cpu_percent)),
        }]
    });
    let mem = Signal::derive(move || {
        r.with(|r| {
            let mut v = vec![Line {
                label: "used",
                points: points(r, |s| s.memory_bytes as f64),
            }];
            if r.last().is_some_and(|s| s.memory_limit_bytes.is_some()) {
                v.push(Line {
                    label: "limit",
                    points: points(r, |s| s.memory_limit_bytes.unwrap_or(0) as f64),
                });
            }
            v
        })
    });
    let pids = Signal::derive(move || {
        vec![Line {
            label: "pids",
            points: r.with(|r| points(r, |s| s.pids as f64)),
        }]
    });
    let net = Signal::derive(move || {
        r.with(|r| {
            vec![
                Line {
                    label: "rx",
                    points: rates(r, |s| (s.t(), s.net_rx_bytes as f64)),
                },
                Line {
                    label: "tx",
                    points: rates(r, |s| (s.t(), s.net_tx_bytes as f64)),
                },
            ]
        })
    });
    let io = Signal::derive(move || {
        r.with(|r| {
            vec![
                Line {
                    label: "read",
                    points: rates(r, |s| (s.t(), s.blk_read_bytes as f64)),
                },
                Line {
                    label: "write",
                    points: rates(r, |s| (s.t(), s.blk_write_bytes as f64)),
                },
            ]
        })
    });
    let psi = Signal::derive(move || {
        r.with(|r| {
            let get = |f: fn(&berth_api::metrics::Pressure) -> Option<f64>| {
                r.iter()
                    .filter_map(|s| s.pressure.as_ref().and_then(f).map(|v| (s.t(), v)))
                    .collect::<Vec<_>>()
            };
            vec![
                Line {
                    label: "cpu",
                    points: get(|p| p.cpu),
                },
                Line {
                    label: "memory",
                    points: get(|p| p.memory),
                },
                Line {
                    label: "io",
                    points: get(|p| p.io),
                },
            ]
        })
    });
    view! {
        <div class="graphs">
            <LiveGraph title="CPU" data=cpu span=span format=format::percent/>
            <LiveGraph title="Memory" data=mem span=span format=bytes_fmt/>
            <LiveGraph title="Processes" data=pids span=span format=count_fmt/>
            <LiveGraph title="Network" data=net span=span format=format::rate/>
            <LiveGraph title="Block I/O" data=io span=span format=format::rate/>
            <LiveGraph title="Pressure (some avg10)" data=psi span=span format=format::percent max=100.0/>
        </div>
    }
}

/// Loads a host's metrics.
pub fn host_live(host: Memo<String>) -> Live<HostSample> {
    follow(
        move |w| {
            let h = host.get_untracked();
            async move { api::host_metrics(&h, w).await }
        },
        Signal::derive(move || api::host_metrics_stream_path(&host.get())),
    )
}

/// Loads a container's stats.
pub fn container_live(host: Memo<String>, c: Memo<String>) -> Live<ContainerSample> {
    follow(
        move |w| {
            let (h, c) = (host.get_untracked(), c.get_untracked());
            async move { api::container_stats(&h, &c, w).await }
        },
        Signal::derive(move || api::container_stats_stream_path(&host.get(), &c.get())),
    )
}

// ---- many containers at once ------------------------------------------------

/// Seconds a panel of many containers shows (its rings hold one sample a
/// second of this, and no more).
pub const PANEL_SPAN: f64 = 600.0;

/// A container's key in a set: `(host, container)` as the stream names it.
pub type Key = (String, String);

/// One container of a [`LiveSet`]: its ring and what became of its stream.
#[derive(Clone, Copy, PartialEq)]
pub struct Series {
    pub ring: RwSignal<Ring<ContainerSample>>,
    /// Why no more samples come (the container is gone, its host failed).
    pub note: RwSignal<Option<String>>,
}

/// Live stats of a set of containers, over the multiplexed stream (one
/// connection per 100 containers, however many graphs show them).
#[derive(Clone, Copy)]
pub struct LiveSet {
    /// The containers followed, in the order asked, each with its series.
    pub series: RwSignal<Vec<(Key, Series)>>,
    pub connected: RwSignal<bool>,
    pub error: RwSignal<Option<ApiError>>,
}

/// What one event of the multiplexed stream does to a set's series.
pub fn apply_event(
    series: &[(Key, Series)],
    ev: berth_api::metrics::StatsStreamEvent,
    apply: impl FnOnce(&Series, Option<ContainerSample>, Option<String>),
) {
    let Some((_, s)) = series
        .iter()
        .find(|((h, c), _)| *h == ev.host && *c == ev.container)
    else {
        return;
    };
    let note = match (&ev.problem, ev.ended) {
        (Some(p), _) => Some(ApiError::from(p.clone()).to_string()),
        (None, true) => Some("its stream ended".to_string()),
        (None, false) => None,
    };
    apply(s, ev.sample, note);
}

/// Follows `wanted` (re-opening the stream when the set changes) for as long
/// as the calling component lives. Each ring keeps `cap` samples.
pub fn follow_set(wanted: Signal<Vec<Key>>, cap: usize) -> LiveSet {
    use berth_api::metrics::{STATS_STREAM_MAX_CONTAINERS, StatsStreamEvent};
    let set = LiveSet {
        series: RwSignal::new(Vec::new()),
        connected: RwSignal::new(false),
        error: RwSignal::new(None),
    };
    let handles = StoredValue::new_local(Vec::<StreamHandle>::new());
    Effect::new(move |prev: Option<Vec<Key>>| {
        let keys = wanted.get();
        if prev.as_ref() == Some(&keys) {
            return keys;
        }
        // Keep the rings of containers still shown; new ones start empty.
        let old = set.series.get_untracked();
        let series: Vec<(Key, Series)> = keys
            .iter()
            .map(|k| {
                let s = old
                    .iter()
                    .find(|(o, _)| o == k)
                    .map(|(_, s)| *s)
                    .unwrap_or_else(|| Series {
                        ring: RwSignal::new(Ring::new(cap)),
                        note: RwSignal::new(None),
                    });
                (k.clone(), s)
            })
            .collect();
        set.series.set(series);
        handles.set_value(Vec::new());
        set.connected.set(false);
        let mut opened = Vec::new();
        for chunk in keys.chunks(STATS_STREAM_MAX_CONTAINERS) {
            let path = api::stats_stream_path(chunk);
            let h =
                stream::open::<StatsStreamEvent, _>(
                    path,
                    StreamOptions::live(),
                    move |ev| match ev {
                        StreamEvent::Open => {
                            set.connected.set(true);
                            set.error.set(None);
                        }
                        StreamEvent::Data(ev) => set.series.with_untracked(|series| {
                            apply_event(series, ev, |s, sample, note| {
                                if let Some(sample) = sample {
                                    s.ring.update(|r| {
                                        ingest(r, Window::Hour, sample);
                                    });
                                }
                                if note.is_some() {
                                    s.note.set(note);
                                }
                            })
                        }),
                        StreamEvent::Failed(e) => {
                            set.connected.set(false);
                            set.error.set(Some(e));
                        }
                        StreamEvent::Closed => set.connected.set(false),
                    },
                );
            opened.push(h);
        }
        handles.set_value(opened);
        keys
    });
    set
}

/// What a panel of container graphs shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelMetric {
    Cpu,
    Memory,
    Network,
    Processes,
}

impl PanelMetric {
    pub const ALL: [PanelMetric; 4] = [
        PanelMetric::Cpu,
        PanelMetric::Memory,
        PanelMetric::Network,
        PanelMetric::Processes,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PanelMetric::Cpu => "CPU",
            PanelMetric::Memory => "Memory",
            PanelMetric::Network => "Network",
            PanelMetric::Processes => "Processes",
        }
    }

    fn format(self) -> fn(f64) -> String {
        match self {
            PanelMetric::Cpu => format::percent,
            PanelMetric::Memory => bytes_fmt,
            PanelMetric::Network => format::rate,
            PanelMetric::Processes => count_fmt,
        }
    }

    /// The lines of this metric from a container's ring.
    pub fn lines(self, r: &Ring<ContainerSample>) -> Vec<Line> {
        match self {
            PanelMetric::Cpu => vec![Line {
                label: "cpu",
                points: points(r, |s| s.cpu_percent),
            }],
            PanelMetric::Memory => vec![Line {
                label: "used",
                points: points(r, |s| s.memory_bytes as f64),
            }],
            PanelMetric::Network => vec![
                Line {
                    label: "rx",
                    points: rates(r, |s| (s.t(), s.net_rx_bytes as f64)),
                },
                Line {
                    label: "tx",
                    points: rates(r, |s| (s.t(), s.net_tx_bytes as f64)),
                },
            ],
            PanelMetric::Processes => vec![Line {
                label: "pids",
                points: points(r, |s| s.pids as f64),
            }],
        }
    }
}

/// A small live graph per container of a set, all fed by one stream, with a
/// switch for the metric they show.
#[component]
pub fn ContainerGraphPanel(set: LiveSet, metric: RwSignal<PanelMetric>) -> impl IntoView {
    let span = Signal::derive(|| PANEL_SPAN);
    view! {
        <div class="graphs compact" data-testid="container-graphs">
            <For
                each=move || set.series.get()
                key=|(k, _)| k.clone()
                children=move |((host, name), s)| {
                    let data = Signal::derive(move || s.ring.with(|r| metric.get().lines(r)));
                    let href = format!("/hosts/{}/containers/{}", api::enc(&host), api::enc(&name));
                    let cell = name.clone();
                    view! {
                        <div class="graph-cell" data-container=cell>
                            {move || {
                                let m = metric.get();
                                view! {
                                    <LiveGraph
                                        title=name.clone()
                                        href=href.clone()
                                        data=data
                                        span=span
                                        format=m.format()
                                        compact=true
                                    />
                                }
                            }}
                            {move || s.note.get().map(|n| view! { <p class="hint graph-note">{n}</p> })}
                        </div>
                    }
                }
            />
        </div>
    }
}

/// The metric switch of a [`ContainerGraphPanel`].
#[component]
pub fn MetricSwitch(metric: RwSignal<PanelMetric>) -> impl IntoView {
    view! {
        <div class="segmented" role="group" aria-label="Metric shown per container">
            {PanelMetric::ALL
                .into_iter()
                .map(|m| {
                    view! {
                        <button
                            type="button"
                            aria-pressed=move || (metric.get() == m).to_string()
                            on:click=move |_| metric.set(m)
                        >
                            {m.label()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// Connection state of a [`LiveSet`].
#[component]
pub fn LiveSetStatus(set: LiveSet) -> impl IntoView {
    view! {
        <span class="hint" data-testid="panel-status">
            {move || {
                let n = set.series.with(Vec::len);
                if set.connected.get() {
                    format!("● live, {}", format::count(n, "container"))
                } else if let Some(e) = set.error.get() {
                    format!("not live: {e}")
                } else if n == 0 {
                    String::new()
                } else {
                    "connecting…".to_string()
                }
            }}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::graph::draw;
    use berth_api::metrics::StatsStreamEvent;

    fn sample(t: i64, cpu: f64) -> ContainerSample {
        ContainerSample {
            t: chrono::DateTime::from_timestamp(t, 0).unwrap(),
            cpu_percent: cpu,
            cpu_throttled_usec: 0,
            memory_bytes: 1 << 20,
            memory_limit_bytes: None,
            pids: 1,
            net_rx_bytes: t as u64 * 100,
            net_tx_bytes: 0,
            net_rx_packets: 0,
            net_tx_packets: 0,
            blk_read_bytes: 0,
            blk_write_bytes: 0,
            pressure: None,
        }
    }

    #[test]
    fn a_graph_open_for_hours_stays_bounded() {
        // Three hours of one-second samples into the 1 h view: three times
        // what the ring holds.
        let cap = capacity(Window::Hour);
        let mut r = Ring::new(cap);
        let mut after_a_minute = None;
        for t in 0..3 * 3600 {
            assert!(ingest(&mut r, Window::Hour, sample(t, (t % 100) as f64)));
            if t == 60 {
                after_a_minute = Some(r.len());
            }
        }
        assert_eq!(after_a_minute, Some(61));
        assert_eq!(r.len(), cap, "the ring holds at most its capacity");
        assert_eq!(r.iter().next().unwrap().t(), (3 * 3600 - cap) as f64);
        // What is drawn is bounded by the pixel columns, not the hours.
        let now = (3 * 3600) as f64;
        let lines = vec![Line {
            label: "cpu",
            points: points(&r, |s| s.cpu_percent),
        }];
        let d = draw(&lines, span(Window::Hour), now, None);
        assert_eq!(d.points, cap);
        assert!(d.drawn <= 600, "{} points drawn", d.drawn);
        assert!(
            d.paths[0].len() < 600 * 16,
            "{} bytes of path",
            d.paths[0].len()
        );
        // Old samples and repeats are refused; the 24 h view keeps one a minute.
        assert!(!ingest(&mut r, Window::Hour, sample(10, 1.0)));
        let mut day = Ring::new(capacity(Window::Day));
        for t in 0..3 * 86_400 {
            ingest(&mut day, Window::Day, sample(t, 1.0));
        }
        assert_eq!(day.len(), capacity(Window::Day));
    }

    #[test]
    fn panel_rings_are_bounded_and_events_find_their_container() {
        let owner = Owner::new();
        owner.with(|| {
            let key = |c: &str| ("h1".to_string(), c.to_string());
            let mk = || Series {
                ring: RwSignal::new(Ring::new(PANEL_SPAN as usize)),
                note: RwSignal::new(None),
            };
            let series = vec![(key("web"), mk()), (key("db"), mk())];
            for t in 0..2000 {
                for c in ["web", "db", "other"] {
                    let ev = StatsStreamEvent {
                        host: "h1".into(),
                        container: c.into(),
                        sample: Some(sample(t, 1.0)),
                        problem: None,
                        ended: false,
                    };
                    apply_event(&series, ev, |s, sample, _| {
                        s.ring.update(|r| {
                            ingest(r, Window::Hour, sample.unwrap());
                        })
                    });
                }
            }
            for (_, s) in &series {
                assert_eq!(s.ring.with(Ring::len), PANEL_SPAN as usize);
            }
            let ev = StatsStreamEvent {
                host: "h1".into(),
                container: "db".into(),
                sample: None,
                problem: Some(berth_api::Problem::new(404, "no container db")),
                ended: true,
            };
            apply_event(&series, ev, |s, _, note| s.note.set(note));
            assert_eq!(
                series[1].1.note.get_untracked().as_deref(),
                Some("no container db")
            );
            assert_eq!(series[0].1.note.get_untracked(), None);
        });
    }
}
