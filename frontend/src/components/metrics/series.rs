//! What a live series keeps: samples with a time, the ring's size per
//! window, and which live samples go into it. No DOM and no network here.

use berth_api::metrics::{ContainerSample, HostSample, Window};

use crate::components::graph::Ring;
use crate::num::f64_from_i64;

/// A sample with a time.
pub trait Sample: Clone + PartialEq + Send + Sync + serde::de::DeserializeOwned + 'static {
    /// Its time in unix seconds.
    fn t(&self) -> f64;
}

impl Sample for HostSample {
    fn t(&self) -> f64 {
        f64_from_i64(self.t.timestamp_millis()) / 1000.0
    }
}

impl Sample for ContainerSample {
    fn t(&self) -> f64 {
        f64_from_i64(self.t.timestamp_millis()) / 1000.0
    }
}

/// How many samples a ring of window `w` holds: one a second for an hour,
/// one a minute for a day.
pub fn capacity(w: Window) -> usize {
    match w {
        Window::Hour => 3600,
        Window::Day => 1440,
    }
}

/// Seconds window `w` spans.
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

/// `(time, f(sample))` of every sample in the ring, oldest first.
pub fn points<S: Sample>(ring: &Ring<S>, f: impl Fn(&S) -> f64) -> Vec<(f64, f64)> {
    ring.iter().map(|s| (s.t(), f(s))).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::components::graph::{Line, draw};
    use crate::num::f64_from_usize;

    /// A container sample at unix second `t` with `cpu` percent.
    pub fn sample(t: u32, cpu: f64) -> ContainerSample {
        ContainerSample {
            t: chrono::DateTime::from_timestamp(i64::from(t), 0).unwrap(),
            cpu_percent: cpu,
            cpu_throttled_usec: 0,
            memory_bytes: 1 << 20,
            memory_limit_bytes: None,
            pids: 1,
            net_rx_bytes: u64::from(t) * 100,
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
            assert!(ingest(&mut r, Window::Hour, sample(t, f64::from(t % 100))));
            if t == 60 {
                after_a_minute = Some(r.len());
            }
        }
        assert_eq!(after_a_minute, Some(61));
        assert_eq!(r.len(), cap, "the ring holds at most its capacity");
        assert_eq!(r.iter().next().unwrap().t(), f64_from_usize(3 * 3600 - cap));
        // What is drawn is bounded by the pixel columns, not the hours.
        let now = f64::from(3 * 3600);
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
}
