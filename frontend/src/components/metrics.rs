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
                    let newer = r.last().is_none_or(|l| s.t() > l.t());
                    let due = match w {
                        Window::Hour => true,
                        Window::Day => r.last().is_none_or(|l| s.t() - l.t() >= 60.0),
                    };
                    if newer && due {
                        r.push(s);
                    }
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
