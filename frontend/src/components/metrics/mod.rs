//! Live metric panels: history from `?window=1h|24h`, then one sample a
//! second from the SSE stream, into bounded rings that feed the graphs.
//! Switching the window reloads the history; in the 24 h view the live
//! stream adds one point a minute, matching the history's resolution.
//!
//! By concern:
//! - `series`: samples, windows and what a ring keeps (no DOM, no network);
//! - `live`: the stream plumbing, one subject's history and stream
//!   ([`follow`]) or many containers over the multiplexed stream
//!   ([`follow_set`]);
//! - `charts`: one host's or one container's graphs, the window switch and
//!   the connection state;
//! - `panel`: a small graph per container of a set, with its metric switch.

mod charts;
mod live;
mod panel;
mod series;

pub use charts::{ContainerGraphs, HostGraphs, LiveStatus, WindowSwitch};
pub use live::{container_live, follow_set, host_live};
pub use panel::{ContainerGraphPanel, LiveSetStatus, MetricSwitch, PANEL_SAMPLES, PanelMetric};
