//! How a failed call reads on a page: the API's `detail`, never "error".

use leptos::prelude::*;

use crate::api::ApiError;

/// A banner with the problem's detail (and the host, for fan-out failures).
#[component]
pub fn ProblemBanner(#[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            let status = if e.status > 0 {
                format!("{} {}", e.status, e.title)
            } else {
                e.title.clone()
            };
            view! {
                <div class="problem" role="alert" data-testid="problem">
                    <strong>{status}</strong>
                    " "
                    <span class="detail">{e.to_string()}</span>
                </div>
            }
        })
    }
}

/// Hosts that failed or timed out during a fan-out; the rest of the list stands.
#[component]
pub fn HostErrors(#[prop(into)] errors: Signal<Vec<berth_api::HostError>>) -> impl IntoView {
    move || {
        let errs = errors.get();
        (!errs.is_empty()).then(|| {
            view! {
                <div class="problem warn" role="alert">
                    <strong>"Some hosts did not answer:"</strong>
                    <ul>
                        {errs
                            .into_iter()
                            .map(|e| {
                                view! {
                                    <li>
                                        <code>{e.host}</code>
                                        {format!(" ({}) {}", e.status, e.detail)}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </div>
            }
        })
    }
}

/// "Loading…" while a resource has no answer yet.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" role="status">"Loading…"</p> }
}
