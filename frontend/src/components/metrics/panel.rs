//! A panel of many containers' graphs: one small live graph per container
//! of a [`LiveSet`], all fed by one multiplexed stream, with a switch for
//! the metric they show and the set's connection state.

use berth_api::metrics::ContainerSample;
use leptos::prelude::*;

use super::charts::{bytes_fmt, count_fmt, counter, gauge};
use super::live::LiveSet;
use super::series::points;
use crate::api;
use crate::components::graph::{Line, LiveGraph, Ring};
use crate::format;

/// Samples a panel's rings hold: one a second for [`PANEL_SPAN`] seconds.
pub const PANEL_SAMPLES: usize = 600;

/// Seconds a panel of many containers shows ([`PANEL_SAMPLES`] one-second
/// samples, and no more).
pub const PANEL_SPAN: f64 = 600.0;

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
                points: gauge(r, |s| s.memory_bytes),
            }],
            PanelMetric::Network => vec![
                Line {
                    label: "rx",
                    points: counter(r, |s| s.net_rx_bytes),
                },
                Line {
                    label: "tx",
                    points: counter(r, |s| s.net_tx_bytes),
                },
            ],
            PanelMetric::Processes => vec![Line {
                label: "pids",
                points: gauge(r, |s| s.pids),
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
    use crate::num::f64_from_usize;

    #[test]
    fn a_panel_holds_one_sample_a_second_of_its_span() {
        assert_eq!(f64_from_usize(PANEL_SAMPLES), PANEL_SPAN);
    }
}
