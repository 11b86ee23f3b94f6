//! The stream plumbing of live metrics: one subject's history and SSE
//! stream into a [`Live`] ring ([`follow`]), or many containers over the
//! multiplexed stats stream into a [`LiveSet`] ([`follow_set`]).

use berth_api::metrics::{ContainerSample, HostSample, StatsStreamEvent, Window};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::series::{Sample, capacity, ingest};
use crate::api::{self, ApiError};
use crate::components::graph::Ring;
use crate::stream::{self, StreamEvent, StreamHandle, StreamOptions};

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
    ev: StatsStreamEvent,
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

/// The series for `keys`: the rings of containers still shown are kept; new
/// ones start empty with `cap` samples of room.
fn series_for(keys: &[Key], old: &[(Key, Series)], cap: usize) -> Vec<(Key, Series)> {
    keys.iter()
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
        .collect()
}

/// Opens the multiplexed stream for `chunk` (at most
/// `STATS_STREAM_MAX_CONTAINERS`), feeding the set's series.
fn open_chunk(set: LiveSet, chunk: &[Key]) -> StreamHandle {
    let path = api::stats_stream_path(chunk);
    stream::open::<StatsStreamEvent, _>(path, StreamOptions::live(), move |ev| match ev {
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
    })
}

/// Follows `wanted` (re-opening the stream when the set changes) for as long
/// as the calling component lives. Each ring keeps `cap` samples.
pub fn follow_set(wanted: Signal<Vec<Key>>, cap: usize) -> LiveSet {
    use berth_api::metrics::STATS_STREAM_MAX_CONTAINERS;
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
        let series = set.series.with_untracked(|old| series_for(&keys, old, cap));
        set.series.set(series);
        handles.set_value(Vec::new());
        set.connected.set(false);
        let opened = keys
            .chunks(STATS_STREAM_MAX_CONTAINERS)
            .map(|chunk| open_chunk(set, chunk))
            .collect();
        handles.set_value(opened);
        keys
    });
    set
}

#[cfg(test)]
mod tests {
    use super::super::series::tests::sample;
    use super::*;

    /// A panel's ring size (`panel::PANEL_SAMPLES`, not imported: the panel
    /// depends on this module, not the other way round).
    const PANEL_SAMPLES: usize = 600;

    #[test]
    fn panel_rings_are_bounded_and_events_find_their_container() {
        let owner = Owner::new();
        owner.with(|| {
            let key = |c: &str| ("h1".to_string(), c.to_string());
            let mk = || Series {
                ring: RwSignal::new(Ring::new(PANEL_SAMPLES)),
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
                assert_eq!(s.ring.with(Ring::len), PANEL_SAMPLES);
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
