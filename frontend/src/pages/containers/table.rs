//! The containers table: sortable column headers, a "select all on this
//! page" box, and one row per visible container with the actions the user's
//! role allows on its host. A row's action or removal reports what the
//! server answered to the page, which patches its list with it.

use std::collections::BTreeSet;

use berth_api::containers::{Container, ContainerAction, ContainerState};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use super::{Outcome, SortKey, key};
use crate::api::{self, ApiResult};
use crate::components::confirm::ConfirmButton;
use crate::components::toast::use_toasts;
use crate::format;
use crate::rbac::need;
use crate::session::use_session;

/// Runs an action, reports it, and hands the answer to `done`.
pub fn run_action(
    c: &Container,
    action: ContainerAction,
    done: impl Fn(Container, ApiResult<Outcome>) + 'static,
) {
    let toasts = use_toasts();
    let c = c.clone();
    spawn_local(async move {
        let r = api::container_action(&c.host, &c.id, action).await;
        match &r {
            Ok(_) => toasts.ok(format!("{}: {}", c.name, action.as_str())),
            Err(e) => toasts.error_text(format!("{}: {e}", c.name)),
        }
        done(c, r.map(|now| Outcome::Now(Box::new(now))));
    });
}

fn header(k: SortKey, sort_key: RwSignal<SortKey>, asc: RwSignal<bool>) -> impl IntoView {
    view! {
        <th
            scope="col"
            aria-sort=move || {
                if sort_key.get() != k {
                    "none"
                } else if asc.get() {
                    "ascending"
                } else {
                    "descending"
                }
            }
        >
            <button
                class="sort"
                on:click=move |_| {
                    if sort_key.get() == k {
                        asc.update(|a| *a = !*a);
                    } else {
                        sort_key.set(k);
                        asc.set(true);
                    }
                }
            >
                {k.label()}
                {move || {
                    if sort_key.get() != k {
                        ""
                    } else if asc.get() {
                        " ▲"
                    } else {
                        " ▼"
                    }
                }}
            </button>
        </th>
    }
}

#[component]
pub fn Table(
    visible: Memo<Vec<Container>>,
    sort_key: RwSignal<SortKey>,
    asc: RwSignal<bool>,
    selected: RwSignal<BTreeSet<String>>,
    done: impl Fn(Container, ApiResult<Outcome>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="containers-table">
                <thead>
                    <tr>
                        <th scope="col">
                            <input
                                type="checkbox"
                                aria-label="Select all on this page"
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    let keys: Vec<String> = visible.with(|v| v.iter().map(key).collect());
                                    selected.update(|s| {
                                        for k in keys {
                                            if on {
                                                s.insert(k);
                                            } else {
                                                s.remove(&k);
                                            }
                                        }
                                    });
                                }
                            />
                        </th>
                        {header(SortKey::Name, sort_key, asc)}
                        {header(SortKey::Host, sort_key, asc)}
                        {header(SortKey::Image, sort_key, asc)}
                        {header(SortKey::State, sort_key, asc)}
                        {header(SortKey::Created, sort_key, asc)}
                        <th scope="col">"Ports"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || visible.get() key=|c| format!("{}:{}", key(c), c.state) let:c>
                        <Row c=c selected=selected done=done/>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Row(
    c: Container,
    selected: RwSignal<BTreeSet<String>>,
    done: impl Fn(Container, ApiResult<Outcome>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let k = key(&c);
    let k2 = k.clone();
    let href = format!(
        "/hosts/{}/containers/{}",
        api::enc(&c.host),
        api::enc(&c.name)
    );
    let ports = c
        .ports
        .iter()
        .map(|p| format!("{}→{}/{}", p.host_port, p.container_port, p.protocol))
        .collect::<Vec<_>>()
        .join(", ");
    let shown = c.name.clone();
    view! {
        <tr data-testid="container-row" data-name=c.name.clone() data-state=c.state.as_str()>
            <td>
                <input
                    type="checkbox"
                    aria-label=format!("Select {}", c.name)
                    prop:checked=move || selected.with(|s| s.contains(&k))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        let k = k2.clone();
                        selected.update(|s| {
                            if on {
                                s.insert(k);
                            } else {
                                s.remove(&k);
                            }
                        });
                    }
                />
            </td>
            <td><A href=href>{shown}</A></td>
            <td>{session.host_name(&c.host)}</td>
            <td class="mono">{c.image.clone()}</td>
            <td>
                <span class=format!("pill state-{}", c.state)>{c.state.as_str()}</span>
                {c.exit_code.map(|x| format!(" (exit {x})"))}
            </td>
            <td title=format::time(c.created_at)>{format::ago(c.created_at, format::now())}</td>
            <td class="mono">{ports}</td>
            <td class="actions-cell">{row_actions(c.clone(), done)}</td>
        </tr>
    }
}

/// A row's buttons: start or stop, and delete (stopped ones only), as the
/// user's role on its host allows.
fn row_actions(
    c: Container,
    done: impl Fn(Container, ApiResult<Outcome>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let may_life = session.may(&c.host, need::LIFECYCLE);
    let may_deploy = session.may(&c.host, need::DEPLOY);
    let running = matches!(c.state, ContainerState::Running | ContainerState::Paused);
    let c_start = c.clone();
    let c_stop = c.clone();
    let remove = move || {
        let c = c.clone();
        spawn_local(async move {
            let r = api::delete_container(&c.host, &c.id, false).await;
            match &r {
                Ok(()) => toasts.ok(format!("{} removed", c.name)),
                Err(e) => toasts.error_text(format!("{}: {e}", c.name)),
            }
            done(c, r.map(|()| Outcome::Gone));
        });
    };
    view! {
        {(may_life && !running)
            .then(|| {
                view! {
                    <button
                        data-testid="start"
                        on:click=move |_| run_action(&c_start, ContainerAction::Start, done)
                    >
                        "Start"
                    </button>
                }
            })}
        {(may_life && running)
            .then(|| {
                view! {
                    <button
                        data-testid="stop"
                        on:click=move |_| run_action(&c_stop, ContainerAction::Stop, done)
                    >
                        "Stop"
                    </button>
                }
            })}
        {may_deploy
            .then(|| {
                view! {
                    <ConfirmButton
                        label="Delete"
                        question="Delete?"
                        testid="delete"
                        disabled=running
                        on_confirm=remove.clone()
                    />
                }
            })}
    }
}
