//! Ring buffers of samples, run-length encoded: consecutive samples with the
//! same values (an idle container's) take one entry, so 200 idle containers
//! keep an hour of 1 s history in a few kilobytes.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a ring can hold.
pub trait Sample: Clone {
    fn time(&self) -> DateTime<Utc>;
    fn at(&self, t: DateTime<Utc>) -> Self;
    /// Equal in every value but the time.
    fn same_values(&self, other: &Self) -> bool;
    /// The mean of `samples` (counters: the last value), stamped `t`.
    fn average(samples: &[Self], t: DateTime<Utc>) -> Self;
}

/// `count` samples `step` seconds apart from `start`, all equal to `sample`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Run<T> {
    start: i64,
    count: u32,
    sample: T,
}

/// Samples `step` seconds apart covering the last `span` seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ring<T> {
    step: i64,
    span: i64,
    runs: VecDeque<Run<T>>,
}

impl<T: Sample> Ring<T> {
    pub fn new(step_secs: i64, span_secs: i64) -> Self {
        Self {
            step: step_secs.max(1),
            span: span_secs,
            runs: VecDeque::new(),
        }
    }

    /// Adds a sample (its time is rounded down to the step).
    pub fn push(&mut self, sample: T) {
        let t = sample.time().timestamp();
        let slot = t - t.rem_euclid(self.step);
        if let Some(last) = self.runs.back_mut() {
            let next = last.start + i64::from(last.count) * self.step;
            if slot < next {
                // Same slot (or a clock step back): keep the newest values.
                if last.count == 1 {
                    last.sample = sample;
                }
                return;
            }
            if slot == next && last.sample.same_values(&sample) {
                last.count += 1;
                self.trim(slot);
                return;
            }
        }
        self.runs.push_back(Run {
            start: slot,
            count: 1,
            sample,
        });
        self.trim(slot);
    }

    fn trim(&mut self, now: i64) {
        let oldest = now - self.span + self.step;
        while let Some(first) = self.runs.front_mut() {
            let end = first.start + i64::from(first.count) * self.step;
            if end <= oldest {
                self.runs.pop_front();
            } else if first.start < oldest {
                let drop = u32::try_from((oldest - first.start) / self.step).unwrap_or(u32::MAX);
                first.start += i64::from(drop) * self.step;
                first.count -= drop.min(first.count - 1);
                break;
            } else {
                break;
            }
        }
    }

    /// Every sample, oldest first, each with its own time.
    pub fn samples(&self) -> Vec<T> {
        let mut v = Vec::new();
        for r in &self.runs {
            for i in 0..i64::from(r.count) {
                let t = DateTime::from_timestamp(r.start + i * self.step, 0).unwrap_or_default();
                v.push(r.sample.at(t));
            }
        }
        v
    }

    /// The newest sample.
    pub fn last(&self) -> Option<T> {
        self.runs.back().map(|r| {
            let t = r.start + (i64::from(r.count) - 1) * self.step;
            r.sample
                .at(DateTime::from_timestamp(t, 0).unwrap_or_default())
        })
    }

    /// Entries held (runs, not samples).
    pub fn entries(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::num::f64_of_count;

    #[derive(Debug, Clone, PartialEq)]
    struct S {
        t: DateTime<Utc>,
        v: f64,
    }

    impl Sample for S {
        fn time(&self) -> DateTime<Utc> {
            self.t
        }
        fn at(&self, t: DateTime<Utc>) -> Self {
            S { t, v: self.v }
        }
        fn same_values(&self, o: &Self) -> bool {
            self.v == o.v
        }
        fn average(s: &[Self], t: DateTime<Utc>) -> Self {
            S {
                t,
                v: s.iter().map(|x| x.v).sum::<f64>() / f64_of_count(s.len().max(1)),
            }
        }
    }

    fn at(secs: i64, v: f64) -> S {
        S {
            t: DateTime::from_timestamp(secs, 0).unwrap(),
            v,
        }
    }

    #[test]
    fn equal_samples_share_an_entry_and_old_ones_fall_off() {
        let mut r = Ring::new(1, 3600);
        for s in 0..7200 {
            r.push(at(1_000_000 + s, if s % 1000 == 0 { 1.0 } else { 0.0 }));
        }
        let all = r.samples();
        assert_eq!(all.len(), 3600);
        assert_eq!(all.first().unwrap().t.timestamp(), 1_000_000 + 3600);
        assert_eq!(all.last().unwrap().t.timestamp(), 1_000_000 + 7199);
        assert!(r.entries() < 20, "{} entries", r.entries());
        // A gap starts a new run; times are kept.
        r.push(at(1_000_000 + 7300, 0.0));
        assert_eq!(r.last().unwrap().t.timestamp(), 1_000_000 + 7300);
        let s = r.samples();
        assert_eq!(s[s.len() - 2].t.timestamp(), 1_000_000 + 7199);
    }

    #[test]
    fn varying_samples_keep_one_entry_each() {
        let mut r = Ring::new(60, 86400);
        for m in 0..100 {
            r.push(at(m * 60, f64::from(i32::try_from(m).unwrap())));
        }
        assert_eq!(r.entries(), 100);
        assert_eq!(r.samples()[42].v, 42.0);
    }
}
