//! Live time-series graphs drawn in SVG from the SSE streams.
//!
//! Samples go into a [`Ring`] with a fixed capacity (3,600 one-second
//! samples for the last hour, 1,440 one-minute samples for the last day), and
//! each line is reduced to at most one point per pixel column before it is
//! drawn, so a graph open for an hour costs what one opened a minute ago
//! does. Only the `d` attribute of a path changes per sample: no layout work.

use std::collections::VecDeque;

use leptos::prelude::*;

use crate::num::{f64_from_u64, f64_from_usize, i64_from_f64, u64_from_f64, usize_from_f64};

/// Width of the drawing in SVG units; also the most points a line keeps.
const W: f64 = 600.0;
/// [`W`] as a count of pixel columns.
const COLUMNS: usize = 600;
const H: f64 = 120.0;

/// A buffer that keeps the newest `cap` items.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring<T> {
    cap: usize,
    buf: VecDeque<T>,
}

impl<T> Ring<T> {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            buf: VecDeque::with_capacity(cap.clamp(1, 4096)),
        }
    }

    pub fn push(&mut self, v: T) {
        if self.buf.len() == self.cap {
            self.buf.pop_front();
        }
        self.buf.push_back(v);
    }

    /// Empties the buffer and sets a new capacity.
    pub fn reset(&mut self, cap: usize) {
        self.cap = cap.max(1);
        self.buf.clear();
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.buf.iter()
    }

    pub fn last(&self) -> Option<&T> {
        self.buf.back()
    }
}

/// One line of a graph: `(unix seconds, value)` points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// Per-second rates of a cumulative counter; resets (counter went down) and
/// gaps are skipped rather than drawn as spikes.
pub fn rates<T>(items: &Ring<T>, f: impl Fn(&T) -> (f64, f64)) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(items.len());
    let mut prev: Option<(f64, f64)> = None;
    for item in items.iter() {
        let (t, v) = f(item);
        if let Some((pt, pv)) = prev {
            let dt = t - pt;
            if dt > 0.0 && v >= pv {
                out.push((t, (v - pv) / dt));
            }
        }
        prev = Some((t, v));
    }
    out
}

/// Keeps the largest value per pixel column of `[t0, t1]` so peaks stay
/// visible however many samples there are.
pub fn downsample(points: &[(f64, f64)], t0: f64, t1: f64, columns: usize) -> Vec<(f64, f64)> {
    if points.len() <= columns || t1 <= t0 {
        return points.iter().copied().filter(|(t, _)| *t >= t0).collect();
    }
    let width = (t1 - t0) / f64_from_usize(columns);
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(columns);
    let mut current: Option<(usize, (f64, f64))> = None;
    for &(t, v) in points.iter().filter(|(t, _)| *t >= t0) {
        let col = usize_from_f64((t - t0) / width).min(columns - 1);
        match &mut current {
            Some((c, best)) if *c == col => {
                if v > best.1 {
                    *best = (t, v);
                }
            }
            _ => {
                if let Some((_, p)) = current.take() {
                    out.push(p);
                }
                current = Some((col, (t, v)));
            }
        }
    }
    if let Some((_, p)) = current {
        out.push(p);
    }
    out
}

/// A round upper bound for the y axis: 1, 2 or 5 times a power of ten.
pub fn nice_max(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * base {
            return m * base;
        }
    }
    10.0 * base
}

fn path_of(points: &[(f64, f64)], t0: f64, t1: f64, ymax: f64) -> String {
    use std::fmt::Write;
    let mut d = String::with_capacity(points.len() * 14);
    let dt = (t1 - t0).max(f64::EPSILON);
    for (i, (t, v)) in points.iter().enumerate() {
        let x = (t - t0) / dt * W;
        let y = H - (v / ymax).clamp(0.0, 1.0) * H;
        let cmd = if i == 0 { 'M' } else { 'L' };
        let _ = write!(d, "{cmd}{x:.1} {y:.1}");
    }
    d
}

/// Tick steps of the time axis, in seconds: each reads as a round label.
const STEPS: [f64; 15] = [
    5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10_800.0,
    21_600.0, 43_200.0,
];

/// `−30 s`, `−5 min`, `−1 h 30 min`, `−6 h`.
pub fn ago_label(secs: f64) -> String {
    let s = u64_from_f64(secs.round());
    let text = if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        let (m, r) = (s / 60, s % 60);
        if r == 0 || m >= 10 {
            format!("{} min", (f64_from_u64(s) / 60.0).round())
        } else {
            format!("{m} min {r} s")
        }
    } else {
        let (h, m) = (s / 3600, (s % 3600) / 60);
        if m == 0 || h >= 10 {
            format!("{} h", (f64_from_u64(s) / 3600.0).round())
        } else {
            format!("{h} h {m} min")
        }
    };
    format!("\u{2212}{text}")
}

/// The labels of a graph's time axis. In a full window they stay the same
/// from one sample to the next, so the DOM showing them does not change.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Labels inside the axis: (fraction of the width from the left, text).
    pub ticks: Vec<(f64, String)>,
    /// The left edge's label: how far back the graph reaches.
    pub start: String,
    /// The right edge's label: `now`, or the last sample's time when the
    /// stream has gone quiet.
    pub end: String,
    /// The data cover less than the window (a fresh host, a short history):
    /// the axis shows the data's span instead of a sliver at the right.
    pub partial: bool,
}

/// The x axis for data from `first` to `last` in a window of `span`
/// seconds, as `(t0, t1, labels)`: the whole window once the data fill it;
/// before that the data's own span (at least 1/360 of the window, 10 s of
/// an hour), so the lines always use the graph's width.
pub fn x_axis(first: Option<f64>, last: Option<f64>, span: f64, now: f64) -> (f64, f64, Axis) {
    let t1 = last.unwrap_or(now);
    let covered = first.map(|f| (t1 - f).max(0.0)).unwrap_or(0.0);
    // A single sample still gets a few seconds' width.
    let min = (span / 360.0).max(5.0).min(span);
    let width = covered.clamp(min, span);
    let partial = covered < span * 0.98;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| width / s <= 4.0)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let mut ticks = Vec::new();
    let mut k = 1.0;
    while k * step < width {
        let x = 1.0 - k * step / width;
        // Leave room for the edge labels.
        if (0.12..=0.88).contains(&x) {
            ticks.push((x, ago_label(k * step)));
        }
        k += 1.0;
    }
    let stale = now - t1 > 10.0;
    let axis = Axis {
        ticks,
        start: ago_label(width),
        end: if stale { clock(t1) } else { "now".to_string() },
        partial,
    };
    (t1 - width, t1, axis)
}

/// `14:05:09` (UTC, as every time on the dashboard).
fn clock(t: f64) -> String {
    chrono::DateTime::from_timestamp(i64_from_f64(t), 0)
        .map(|d| d.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// What a graph draws after reduction.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// One SVG path per line, in the lines' order.
    pub paths: Vec<String>,
    pub ymax: f64,
    pub latest: Vec<(&'static str, Option<f64>)>,
    /// Points held by the longest line (what the buffers hold).
    pub points: usize,
    /// Points drawn by the longest line (at most one per pixel column).
    pub drawn: usize,
    pub last_t: f64,
    pub axis: Axis,
}

/// Reduces lines to what a graph of `span` seconds draws at time `now`.
pub fn draw(lines: &[Line], span: f64, now: f64, max: Option<f64>) -> Drawn {
    let first = lines
        .iter()
        .filter_map(|l| l.points.first().map(|p| p.0))
        .reduce(f64::min);
    let last = lines
        .iter()
        .filter_map(|l| l.points.last().map(|p| p.0))
        .reduce(f64::max);
    let (t0, t1, axis) = x_axis(first, last, span, now);
    let reduced: Vec<Vec<(f64, f64)>> = lines
        .iter()
        .map(|l| downsample(&l.points, t0, t1, COLUMNS))
        .collect();
    let peak = reduced
        .iter()
        .flat_map(|p| p.iter().map(|x| x.1))
        .fold(0.0, f64::max);
    let ymax = match max {
        Some(m) if peak <= m => m,
        _ => nice_max(peak),
    };
    Drawn {
        paths: reduced.iter().map(|p| path_of(p, t0, t1, ymax)).collect(),
        ymax,
        latest: lines
            .iter()
            .map(|l| (l.label, l.points.last().map(|p| p.1)))
            .collect(),
        points: lines.iter().map(|l| l.points.len()).max().unwrap_or(0),
        drawn: reduced.iter().map(Vec::len).max().unwrap_or(0),
        last_t: last.unwrap_or(0.0),
        axis,
    }
}

/// What a screen reader hears of a graph: its title, its time span and
/// the latest value of each line.
fn summary(title: &str, d: &Drawn, format: fn(f64) -> String) -> String {
    let parts: Vec<String> = d
        .latest
        .iter()
        .map(|(l, v)| match v {
            Some(v) => format!("{l} {}", format(*v)),
            None => format!("{l} no data"),
        })
        .collect();
    format!(
        "{title}, {} to {}: {}",
        d.axis.start,
        d.axis.end,
        parts.join(", ")
    )
}

/// The legend of a graph: each line's label and latest value.
#[component]
fn Legend(drawn: Memo<Drawn>, count: Memo<usize>, format: fn(f64) -> String) -> impl IntoView {
    view! {
        <span class="graph-latest">
            <For each=move || 0..count.get() key=|i| *i let:i>
                <span class=format!("legend s{i}")>
                    {move || drawn.with(|d| d.latest.get(i).map(|l| l.0).unwrap_or_default())}
                    " "
                    <b>
                        {move || {
                            drawn
                                .with(|d| d.latest.get(i).and_then(|l| l.1))
                                .map(format)
                                .unwrap_or_else(|| "–".into())
                        }}
                    </b>
                </span>
            </For>
        </span>
    }
}

/// The time axis under a graph: how far back, the ticks, and `now`.
#[component]
fn XAxis(axis: Memo<Axis>) -> impl IntoView {
    view! {
        <div class="graph-x" aria-hidden="true" data-testid="graph-x">
            <span class="edge start" class:partial=move || axis.with(|a| a.partial)>
                {move || axis.with(|a| a.start.clone())}
            </span>
            {move || {
                axis.with(|a| {
                    a.ticks
                        .iter()
                        .map(|(x, label)| {
                            let style = format!("left:{:.2}%", x * 100.0);
                            view! { <span class="tick" style=style>{label.clone()}</span> }
                        })
                        .collect_view()
                })
            }}
            <span class="edge end">{move || axis.with(|a| a.end.clone())}</span>
        </div>
    }
}

/// A graph of one or more lines over the last `span` seconds.
///
/// The DOM is made once: each sample changes the paths' `d` attributes and
/// the legend's text; the axis labels change only when the axis does.
#[component]
pub fn LiveGraph(
    /// Heading, e.g. "CPU".
    #[prop(into)]
    title: String,
    /// The lines to draw.
    #[prop(into)]
    data: Signal<Vec<Line>>,
    /// Seconds shown: 3600 or 86400.
    #[prop(into)]
    span: Signal<f64>,
    /// How a value reads (the y axis and the latest values).
    format: fn(f64) -> String,
    /// A fixed upper bound (e.g. 100 % for one core); else from the data.
    #[prop(optional)]
    max: Option<f64>,
    /// Makes the title a link (a container's page).
    #[prop(optional, into)]
    href: Option<String>,
    /// A smaller graph, for panels of many.
    #[prop(optional)]
    compact: bool,
) -> impl IntoView {
    let drawn = Memo::new(move |_| {
        let now = js_sys::Date::now() / 1000.0;
        data.with(|lines| draw(lines, span.get(), now, max))
    });
    let axis = Memo::new(move |_| drawn.with(|d| d.axis.clone()));
    let count = Memo::new(move |_| drawn.with(|d| d.paths.len()));
    let summary = {
        let title = title.clone();
        move || drawn.with(|d| summary(&title, d, format))
    };
    let heading = match href {
        Some(h) => view! { <a class="graph-title" href=h>{title.clone()}</a> }.into_any(),
        None => view! { <span class="graph-title">{title.clone()}</span> }.into_any(),
    };
    view! {
        <figure
            class="graph"
            class:compact=compact
            data-testid="graph"
            data-points=move || drawn.with(|d| d.points.to_string())
            data-drawn=move || drawn.with(|d| d.drawn.to_string())
            data-last=move || drawn.with(|d| format!("{:.0}", d.last_t))
            data-partial=move || axis.with(|a| a.partial.to_string())
        >
            <figcaption>
                {heading}
                <Legend drawn=drawn count=count format=format/>
            </figcaption>
            <div class="graph-plot">
                <span class="graph-ymax" aria-hidden="true">
                    {move || format(drawn.with(|d| d.ymax))}
                </span>
                <svg
                    viewBox=format!("0 0 {W} {H}")
                    preserveAspectRatio="none"
                    role="img"
                    aria-label=summary
                >
                    <line class="grid" x1="0" x2=W y1=H / 4.0 y2=H / 4.0></line>
                    <line class="grid" x1="0" x2=W y1=H / 2.0 y2=H / 2.0></line>
                    <line class="grid" x1="0" x2=W y1=H * 0.75 y2=H * 0.75></line>
                    {move || {
                        axis.with(|a| {
                            a.ticks
                                .iter()
                                .map(|(x, _)| {
                                    let x = x * W;
                                    view! { <line class="grid" x1=x x2=x y1="0" y2=H></line> }
                                })
                                .collect_view()
                        })
                    }}
                    <For each=move || 0..count.get() key=|i| *i let:i>
                        <path
                            class=format!("line s{i}")
                            d=move || drawn.with(|d| d.paths.get(i).cloned().unwrap_or_default())
                            vector-effect="non-scaling-stroke"
                        ></path>
                    </For>
                </svg>
            </div>
            <XAxis axis=axis/>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_match_the_width() {
        assert_eq!(crate::num::f64_from_usize(COLUMNS), W);
    }

    #[test]
    fn ring_is_bounded() {
        let mut r = Ring::new(3);
        for i in 0..10 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
        r.reset(2);
        assert!(r.is_empty());
        r.push(1);
        r.push(2);
        r.push(3);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn downsample_keeps_peaks_and_bounds_size() {
        // One spike in every six samples: each of the 600 columns holds one.
        let pts: Vec<(f64, f64)> = (0..3600)
            .map(|i| (f64::from(i), if i % 6 == 3 { 100.0 } else { 0.0 }))
            .collect();
        let d = downsample(&pts, 0.0, 3600.0, 600);
        assert_eq!(d.len(), 600);
        assert!(d.iter().all(|p| p.1 == 100.0));
    }

    #[test]
    fn rates_skip_resets() {
        let mut r = Ring::new(10);
        for (t, v) in [
            (0.0, 0.0),
            (1.0, 100.0),
            (2.0, 300.0),
            (3.0, 10.0),
            (4.0, 20.0),
        ] {
            r.push((t, v));
        }
        assert_eq!(
            rates(&r, |p| *p),
            vec![(1.0, 100.0), (2.0, 200.0), (4.0, 10.0)]
        );
    }

    fn line(points: Vec<(f64, f64)>) -> Vec<Line> {
        vec![Line {
            label: "cpu",
            points,
        }]
    }

    /// The x coordinates of an SVG path.
    fn xs(d: &str) -> Vec<f64> {
        d.split(['M', 'L'])
            .filter(|p| !p.is_empty())
            .map(|p| p.split(' ').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn short_data_use_the_whole_width() {
        // A fresh host: 10 s of samples in the 1 h view.
        let pts: Vec<(f64, f64)> = (0..=10).map(|i| (1000.0 + f64::from(i), 5.0)).collect();
        let d = draw(&line(pts), 3600.0, 1010.5, None);
        let x = xs(&d.paths[0]);
        assert_eq!(x.first().copied(), Some(0.0), "starts at the left edge");
        assert_eq!(x.last().copied(), Some(W));
        assert!(d.axis.partial);
        assert_eq!(d.axis.start, "\u{2212}10 s");
        assert_eq!(d.axis.end, "now");
        // One sample: a few seconds wide, drawn at the right edge.
        let d = draw(&line(vec![(1000.0, 1.0)]), 3600.0, 1000.0, None);
        assert_eq!(d.axis.start, "\u{2212}10 s");
        assert_eq!(xs(&d.paths[0]), vec![W]);
    }

    #[test]
    fn full_windows_have_fixed_round_ticks() {
        let (t0, t1, a) = x_axis(Some(0.0), Some(3600.0), 3600.0, 3600.0);
        assert_eq!((t0, t1), (0.0, 3600.0));
        assert!(!a.partial);
        assert_eq!(a.start, "\u{2212}1 h");
        let labels: Vec<&str> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(
            labels,
            ["\u{2212}15 min", "\u{2212}30 min", "\u{2212}45 min"]
        );
        assert_eq!(a.ticks[1].0, 0.5);
        // A second later the labels are the same: no DOM change.
        let (_, _, b) = x_axis(Some(1.0), Some(3601.0), 3600.0, 3601.0);
        assert_eq!(a, b);
        // The 24 h view, full and with 25 minutes of history.
        let (_, _, a) = x_axis(Some(0.0), Some(86_400.0), 86_400.0, 86_400.0);
        let labels: Vec<&str> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["\u{2212}6 h", "\u{2212}12 h", "\u{2212}18 h"]);
        let (t0, t1, a) = x_axis(Some(0.0), Some(1500.0), 86_400.0, 1500.0);
        assert_eq!(t1 - t0, 1500.0);
        assert!(a.partial);
        assert_eq!(a.start, "\u{2212}25 min");
        // A stream gone quiet shows when its last sample was.
        let (_, _, a) = x_axis(Some(0.0), Some(3600.0), 3600.0, 3700.0);
        assert_eq!(a.end, "01:00:00");
    }

    #[test]
    fn labels_read_round() {
        assert_eq!(ago_label(45.0), "\u{2212}45 s");
        assert_eq!(ago_label(90.0), "\u{2212}1 min 30 s");
        assert_eq!(ago_label(1800.0), "\u{2212}30 min");
        assert_eq!(ago_label(5400.0), "\u{2212}1 h 30 min");
        assert_eq!(ago_label(86_400.0), "\u{2212}24 h");
    }

    #[test]
    fn nice_bounds() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(37.0), 50.0);
        assert_eq!(nice_max(101.0), 200.0);
    }
}
