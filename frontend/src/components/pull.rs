//! An image pull with live per-layer progress, read from the SSE answer of
//! `POST /api/v1/hosts/{host}/images/pull` (docs/api.md, "Images").

use berth_api::images::{Image, PullProgress, PullRequest};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::format;
use crate::num::f64_from_u64;
use crate::stream::{self, StreamEvent, StreamHandle, StreamOptions};

/// One layer's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerState {
    pub layer: String,
    pub current: u64,
    pub total: u64,
    pub status: String,
}

/// Where a pull stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullState {
    pub reference: String,
    pub running: bool,
    /// The last whole-image status (`resolving`, ...).
    pub status: String,
    pub layers: Vec<LayerState>,
    pub image: Option<Image>,
    pub error: Option<ApiError>,
}

impl PullState {
    /// Applies one progress event.
    pub fn apply(&mut self, p: PullProgress) {
        match p.status.as_str() {
            "done" => {
                self.running = false;
                self.status = "done".into();
                self.image = p.image;
            }
            "error" => {
                self.running = false;
                self.status = "error".into();
                self.error = Some(
                    p.error
                        .map(ApiError::from)
                        .unwrap_or_else(|| ApiError::local("the pull failed")),
                );
            }
            _ if p.layer.is_empty() => self.status = p.status,
            _ => match self.layers.iter_mut().find(|l| l.layer == p.layer) {
                Some(l) => {
                    l.current = p.current;
                    l.total = p.total.max(l.total);
                    l.status = p.status;
                }
                None => self.layers.push(LayerState {
                    layer: p.layer,
                    current: p.current,
                    total: p.total,
                    status: p.status,
                }),
            },
        }
    }

    pub fn finished(&self) -> bool {
        !self.running && (self.image.is_some() || self.error.is_some() || self.status == "done")
    }

    /// Bytes done and total over every layer.
    pub fn totals(&self) -> (u64, u64) {
        self.layers.iter().fold((0, 0), |(c, t), l| {
            (c + l.current.min(l.total.max(l.current)), t + l.total)
        })
    }
}

/// Starts a pull; `state` follows it. Keep the handle while the page shows it.
pub fn start(host: &str, req: &PullRequest, state: RwSignal<PullState>) -> StreamHandle {
    state.set(PullState {
        reference: req.reference.clone(),
        running: true,
        status: "starting".into(),
        ..Default::default()
    });
    stream::open::<PullProgress, _>(
        api::pull_path(host),
        StreamOptions::post(api::pull_body(req)),
        move |ev| match ev {
            StreamEvent::Open => {}
            StreamEvent::Data(p) => state.update(|s| s.apply(p)),
            StreamEvent::Failed(e) => state.update(|s| {
                s.running = false;
                s.status = "error".into();
                s.error = Some(e);
            }),
            StreamEvent::Closed => state.update(|s| {
                if s.running {
                    s.running = false;
                    if s.image.is_none() && s.error.is_none() {
                        s.error = Some(ApiError::local(
                            "the pull stream ended before the pull finished",
                        ));
                    }
                }
            }),
        },
    )
}

fn pct(current: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (f64_from_u64(current) / f64_from_u64(total) * 100.0).clamp(0.0, 100.0)
    }
}

/// The progress of a pull: one bar per layer and one for the whole.
#[component]
pub fn PullView(state: RwSignal<PullState>) -> impl IntoView {
    view! {
        <Show when=move || !state.with(|s| s.reference.is_empty())>
            <div class="card pull" data-testid="pull-progress" data-status=move || state.with(|s| s.status.clone())>
                <p>
                    <strong>{move || state.with(|s| s.reference.clone())}</strong>
                    " — "
                    <span data-testid="pull-status">{move || state.with(|s| s.status.clone())}</span>
                    {move || {
                        let (c, t) = state.with(PullState::totals);
                        (t > 0).then(|| format!(" · {} of {}", format::bytes(c), format::bytes(t)))
                    }}
                </p>
                {move || {
                    let (c, t) = state.with(PullState::totals);
                    view! {
                        <div
                            class="progress"
                            role="progressbar"
                            aria-label="Whole image"
                            aria-valuemin="0"
                            aria-valuemax="100"
                            aria-valuenow=format!("{:.0}", pct(c, t))
                        >
                            <div style:width=format!("{:.1}%", pct(c, t))></div>
                        </div>
                    }
                }}
                <ul class="layers">
                    <For
                        each=move || state.with(|s| s.layers.clone())
                        key=|l| format!("{}:{}:{}", l.layer, l.current, l.status)
                        let:l
                    >
                        <li data-testid="pull-layer">
                            <code title=l.layer.clone()>{format::short_id(&l.layer).to_string()}</code>
                            <div
                                class="progress"
                                role="progressbar"
                                aria-label=format!("Layer {}", format::short_id(&l.layer))
                                aria-valuemin="0"
                                aria-valuemax="100"
                                aria-valuenow=format!("{:.0}", pct(l.current, l.total))
                            >
                                <div style:width=format!("{:.1}%", pct(l.current, l.total))></div>
                            </div>
                            <span>
                                {format!("{} · {} / {}", l.status, format::bytes(l.current), format::bytes(l.total))}
                            </span>
                        </li>
                    </For>
                </ul>
                {move || {
                    state
                        .with(|s| s.error.clone())
                        .map(|e| {
                            view! {
                                <div class="problem" role="alert" data-testid="problem">
                                    <strong>"Pull failed: "</strong>
                                    {e.to_string()}
                                </div>
                            }
                        })
                }}
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(layer: &str, current: u64, total: u64, status: &str) -> PullProgress {
        PullProgress {
            layer: layer.into(),
            current,
            total,
            status: status.into(),
            image: None,
            error: None,
        }
    }

    #[test]
    fn progress_accumulates_per_layer() {
        let mut s = PullState {
            running: true,
            ..Default::default()
        };
        s.apply(ev("", 0, 0, "resolving"));
        s.apply(ev("sha256:a", 10, 100, "downloading"));
        s.apply(ev("sha256:b", 0, 50, "waiting"));
        s.apply(ev("sha256:a", 100, 100, "complete"));
        assert_eq!(s.status, "resolving");
        assert_eq!(s.layers.len(), 2);
        assert_eq!(s.totals(), (100, 150));
        s.apply(ev("", 0, 0, "done"));
        assert!(s.finished());
    }
}
