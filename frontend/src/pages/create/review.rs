//! The end of the form: what Create does besides creating (start, pull the
//! image if missing, over plain HTTP), what went wrong, the pull's progress
//! and the button.

use leptos::prelude::*;

use super::fields::Form;
use crate::api::ApiError;
use crate::components::problem::ProblemBanner;
use crate::components::pull::{PullState, PullView};

/// The options, the problem, the pull and the Create button (`busy` while
/// it runs).
#[component]
pub fn Review(
    form: Form,
    error: RwSignal<Option<ApiError>>,
    pull_state: RwSignal<PullState>,
    busy: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <div class="actions">
            <label class="inline">
                <input type="checkbox" bind:checked=form.start_now/>
                "Start it now"
            </label>
            <label class="inline">
                <input type="checkbox" bind:checked=form.pull_missing/>
                "Pull the image if the host lacks it"
            </label>
            <label class="inline">
                <input type="checkbox" bind:checked=form.insecure/>
                "Registry over plain HTTP"
            </label>
        </div>
        <ProblemBanner error=error/>
        <PullView state=pull_state/>
        <div class="actions">
            <button type="submit" class="primary" disabled=busy data-testid="create-submit">
                {move || if busy.get() { "Creating…" } else { "Create" }}
            </button>
        </div>
    }
}
