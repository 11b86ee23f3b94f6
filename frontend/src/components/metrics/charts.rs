//! Chart rendering of one subject's live series: a host's or a container's
//! graphs, the 1 h / 24 h switch and the connection state above them.

use berth_api::metrics::{ContainerSample, HostSample, Pressure, Window};
use leptos::prelude::*;

use super::live::Live;
use super::series::{Sample, points, span};
use crate::components::graph::{Line, LiveGraph, Ring, rates};
use crate::format;
use crate::num::{f64_from_u64, u64_from_f64};

/// A gauge in bytes or a count: `(time, value)` per sample.
pub(super) fn gauge<S: Sample>(r: &Ring<S>, f: impl Fn(&S) -> u64) -> Vec<(f64, f64)> {
    points(r, |s| f64_from_u64(f(s)))
}

/// A cumulative counter as per-second rates.
pub(super) fn counter<S: Sample>(r: &Ring<S>, f: impl Fn(&S) -> u64) -> Vec<(f64, f64)> {
    rates(r, |s| (s.t(), f64_from_u64(f(s))))
}

/// A graph's value as bytes (`64.0 MiB`).
pub(super) fn bytes_fmt(v: f64) -> String {
    format::bytes(u64_from_f64(v.max(0.0)))
}

/// A graph's value as a whole count.
pub(super) fn count_fmt(v: f64) -> String {
    format!("{v:.0}")
}

fn load_fmt(v: f64) -> String {
    format!("{v:.2}")
}

/// One line of one graph.
fn one(label: &'static str, points: Vec<(f64, f64)>) -> Vec<Line> {
    vec![Line { label, points }]
}

/// Two lines on one graph (received and sent, read and written).
fn two(a: (&'static str, Vec<(f64, f64)>), b: (&'static str, Vec<(f64, f64)>)) -> Vec<Line> {
    vec![
        Line {
            label: a.0,
            points: a.1,
        },
        Line {
            label: b.0,
            points: b.1,
        },
    ]
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

/// A host's graphs: CPU, memory, load, network and disk I/O.
#[component]
pub fn HostGraphs(live: Live<HostSample>, cpus: Signal<f64>) -> impl IntoView {
    let r = live.ring;
    let span = Signal::derive(move || span(live.window.get()));
    let cpu = Signal::derive(move || r.with(|r| one("cpu", points(r, |s| s.cpu_percent))));
    let mem = Signal::derive(move || r.with(|r| one("used", gauge(r, |s| s.memory_bytes))));
    let load = Signal::derive(move || r.with(|r| one("load1", points(r, |s| s.load1))));
    let net = Signal::derive(move || {
        r.with(|r| {
            two(
                ("rx", counter(r, |s| s.net_rx_bytes)),
                ("tx", counter(r, |s| s.net_tx_bytes)),
            )
        })
    });
    let disk = Signal::derive(move || {
        r.with(|r| {
            two(
                ("read", counter(r, |s| s.disk_read_bytes)),
                ("write", counter(r, |s| s.disk_write_bytes)),
            )
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

/// A container's memory lines: used, and its limit when it has one.
fn memory_lines(r: &Ring<ContainerSample>) -> Vec<Line> {
    let mut v = one("used", gauge(r, |s| s.memory_bytes));
    if r.last().is_some_and(|s| s.memory_limit_bytes.is_some()) {
        v.push(Line {
            label: "limit",
            points: gauge(r, |s| s.memory_limit_bytes.unwrap_or(0)),
        });
    }
    v
}

/// A container's pressure lines (some avg10 of cpu, memory, io).
fn pressure_lines(r: &Ring<ContainerSample>) -> Vec<Line> {
    let get = |f: fn(&Pressure) -> Option<f64>| {
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
}

/// A container's graphs: CPU, memory, pids, network, block I/O, pressure.
#[component]
pub fn ContainerGraphs(live: Live<ContainerSample>) -> impl IntoView {
    let r = live.ring;
    let span = Signal::derive(move || span(live.window.get()));
    let cpu = Signal::derive(move || r.with(|r| one("cpu", points(r, |s| s.cpu_percent))));
    let mem = Signal::derive(move || r.with(memory_lines));
    let pids = Signal::derive(move || r.with(|r| one("pids", gauge(r, |s| s.pids))));
    let net = Signal::derive(move || {
        r.with(|r| {
            two(
                ("rx", counter(r, |s| s.net_rx_bytes)),
                ("tx", counter(r, |s| s.net_tx_bytes)),
            )
        })
    });
    let io = Signal::derive(move || {
        r.with(|r| {
            two(
                ("read", counter(r, |s| s.blk_read_bytes)),
                ("write", counter(r, |s| s.blk_write_bytes)),
            )
        })
    });
    let psi = Signal::derive(move || r.with(pressure_lines));
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
