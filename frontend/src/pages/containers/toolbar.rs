//! Above the containers table: the filter form (host, state and label go to
//! the server; the search text filters here) and, while rows are checked,
//! the bulk-action bar.

use std::collections::BTreeSet;

use berth_api::containers::{ContainerAction, ContainerState};
use leptos::prelude::*;

use crate::components::confirm::ConfirmButton;
use crate::components::host_picker::HostPicker;

/// The filters the page keeps; `label_filter` is what is typed and
/// `label_applied` what the server was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Filters {
    pub host: RwSignal<String>,
    pub state: RwSignal<String>,
    pub label_filter: RwSignal<String>,
    pub label_applied: RwSignal<String>,
    pub text: RwSignal<String>,
}

#[component]
pub fn Toolbar(filters: Filters, page: RwSignal<usize>) -> impl IntoView {
    let Filters {
        host: host_filter,
        state: state_filter,
        label_filter,
        label_applied,
        text,
    } = filters;
    let apply_label = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        label_applied.set(label_filter.get().trim().to_string());
    };
    view! {
        <form class="toolbar" on:submit=apply_label role="search">
            <div>
                <label for="f-host">"Host"</label>
                <HostPicker
                    id="f-host"
                    any="All hosts"
                    selected=host_filter
                    on_pick=move |h| {
                        host_filter.set(h);
                        page.set(0);
                    }
                />
            </div>
            <div>
                <label for="f-state">"State"</label>
                <select id="f-state" on:change=move |ev| { state_filter.set(event_target_value(&ev)); page.set(0); }>
                    <option value="">"Any state"</option>
                    {[ContainerState::Running, ContainerState::Paused, ContainerState::Created, ContainerState::Stopped]
                        .into_iter()
                        .map(|s| {
                            view! {
                                <option value=s.as_str() selected=move || state_filter.get() == s.as_str()>
                                    {s.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
            <div>
                <label for="f-label">"Label (key=value)"</label>
                <input id="f-label" placeholder="app=web" bind:value=label_filter/>
            </div>
            <div>
                <label for="f-text">"Search"</label>
                <input
                    id="f-text"
                    type="search"
                    placeholder="name, id, image"
                    on:input=move |ev| { text.set(event_target_value(&ev)); page.set(0); }
                    prop:value=text
                />
            </div>
            <button type="submit">"Apply label"</button>
        </form>
    }
}

/// The bar shown while rows are checked; `bulk(None)` removes them.
#[component]
pub fn BulkBar(
    selected: RwSignal<BTreeSet<String>>,
    any_lifecycle: Signal<bool>,
    any_deploy: Signal<bool>,
    bulk: impl Fn(Option<ContainerAction>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <Show when=move || !selected.with(BTreeSet::is_empty)>
            <div class="toolbar" role="group" aria-label="Bulk actions" data-testid="bulk-bar">
                <span>{move || format!("{} selected", selected.with(BTreeSet::len))}</span>
                <Show when=move || any_lifecycle.get()>
                    <button on:click=move |_| bulk(Some(ContainerAction::Start))>"Start"</button>
                    <button on:click=move |_| bulk(Some(ContainerAction::Stop))>"Stop"</button>
                    <button on:click=move |_| bulk(Some(ContainerAction::Restart))>"Restart"</button>
                </Show>
                <Show when=move || any_deploy.get()>
                    <ConfirmButton
                        label="Remove"
                        question="Remove the selected containers (running ones are killed)?"
                        on_confirm=move || bulk(None)
                    />
                </Show>
                <button class="ghost" on:click=move |_| selected.set(BTreeSet::new())>"Clear selection"</button>
            </div>
        </Show>
    }
}
