//! Live time-series graphs drawn in SVG from the SSE streams.
//!
//! Samples go into a [`Ring`] with a fixed capacity (3,600 one-second
//! samples for the last hour, 1,440 one-minute samples for the last day), and
//! each line is reduced to at most one point per pixel column before it is
//! drawn, so a graph open for an hour costs what one opened a minute ago
//! does. Only the `d` attribute of a path changes per sample: no layout work.

use std::collections::VecDeque;

use leptos::prelude::*;

/// Width of the drawing in SVG units; also the most points a line keeps.
const W: f64 = 600.0;
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
    let width = (t1 - t0) / columns as f64;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(columns);
    let mut current: Option<(usize, (f64, f64))> = None;
    for &(t, v) in points.iter().filter(|(t, _)| *t >= t0) {
        let col = (((t - t0) / width) as usize).min(columns - 1);
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
    let mut d = String::with_capacity(points.len() * 14);
    for (i, (t, v)) in points.iter().enumerate() {
        let x = (t - t0) / (t1 - t0) * W;
        let y = H - (v / ymax).clamp(0.0, 1.0) * H;
        let cmd = if i == 0 { 'M' } else { 'L' };
        d.push_str(&format!("{cmd}{x:.1} {y:.1}"));
    }
    d
}

/// What a graph draws after reduction.
#[derive(Debug, Clone, PartialEq)]
struct Drawn {
    paths: Vec<(&'static str, String)>,
    ymax: f64,
    latest: Vec<(&'static str, Option<f64>)>,
    points: usize,
    last_t: f64,
}

/// A graph of one or more lines over the last `span` seconds.
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
) -> impl IntoView {
    let drawn = Memo::new(move |_| {
        let lines = data.get();
        let last_t = lines
            .iter()
            .filter_map(|l| l.points.last().map(|p| p.0))
            .fold(f64::NAN, f64::max);
        let t1 = if last_t.is_finite() {
            last_t
        } else {
            js_sys::Date::now() / 1000.0
        };
        let t0 = t1 - span.get();
        let reduced: Vec<(&'static str, Vec<(f64, f64)>)> = lines
            .iter()
            .map(|l| (l.label, downsample(&l.points, t0, t1, W as usize)))
            .collect();
        let peak = reduced
            .iter()
            .flat_map(|(_, p)| p.iter().map(|x| x.1))
            .fold(0.0, f64::max);
        let ymax = match max {
            Some(m) if peak <= m => m,
            _ => nice_max(peak),
        };
        Drawn {
            paths: reduced
                .iter()
                .map(|(label, p)| (*label, path_of(p, t0, t1, ymax)))
                .collect(),
            ymax,
            latest: lines
                .iter()
                .map(|l| (l.label, l.points.last().map(|p| p.1)))
                .collect(),
            points: lines.iter().map(|l| l.points.len()).max().unwrap_or(0),
            last_t: if last_t.is_finite() { last_t } else { 0.0 },
        }
    });
    let summary = {
        let title = title.clone();
        move || {
            let d = drawn.get();
            let parts: Vec<String> = d
                .latest
                .iter()
                .map(|(l, v)| match v {
                    Some(v) => format!("{l} {}", format(*v)),
                    None => format!("{l} no data"),
                })
                .collect();
            format!("{title}: {}", parts.join(", "))
        }
    };
    view! {
        <figure
            class="graph"
            data-testid="graph"
            data-points=move || drawn.with(|d| d.points.to_string())
            data-last=move || drawn.with(|d| format!("{:.0}", d.last_t))
        >
            <figcaption>
                <span class="graph-title">{title.clone()}</span>
                <span class="graph-latest">
                    {move || {
                        drawn
                            .get()
                            .latest
                            .into_iter()
                            .enumerate()
                            .map(|(i, (l, v))| {
                                let text = v.map(format).unwrap_or_else(|| "–".into());
                                view! {
                                    <span class=format!("legend s{i}")>{l}" "<b>{text}</b></span>
                                }
                            })
                            .collect_view()
                    }}
                </span>
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
                        drawn
                            .get()
                            .paths
                            .into_iter()
                            .enumerate()
                            .map(|(i, (_, d))| {
                                view! {
                                    <path
                                        class=format!("line s{i}")
                                        d=d
                                        vector-effect="non-scaling-stroke"
                                    ></path>
                                }
                            })
                            .collect_view()
                    }}
                </svg>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .map(|i| (i as f64, if i % 6 == 3 { 100.0 } else { 0.0 }))
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

    #[test]
    fn nice_bounds() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(37.0), 50.0);
        assert_eq!(nice_max(101.0), 200.0);
    }
}
