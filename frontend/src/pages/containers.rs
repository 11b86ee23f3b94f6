//! Every container on every host the user may see: filters (host, state,
//! label on the server; free text here), sort by any column, bulk actions,
//! and pages (50 rows by default) so a thousand containers stay smooth: only
//! the page's rows are in the DOM, and sorting or filtering a thousand is a
//! few milliseconds of wasm. Buttons the user's role forbids on a row's host
//! are not drawn.

use std::collections::HashMap;

use std::collections::BTreeSet;

use berth_api::containers::{Container, ContainerAction, ContainerState};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::{self, ApiError, ContainerFilter};
use crate::app::use_session;
use crate::components::confirm::ConfirmButton;
use crate::components::problem::{HostErrors, Loading, ProblemBanner};
use crate::components::toast::use_toasts;
use crate::format;
use crate::rbac::need;

/// Rows per page to choose from; the first is the default.
const PAGE_SIZES: [usize; 4] = [50, 100, 200, 25];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Host,
    Image,
    State,
    Created,
}

impl SortKey {
    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "Name",
            SortKey::Host => "Host",
            SortKey::Image => "Image",
            SortKey::State => "State",
            SortKey::Created => "Created",
        }
    }
}

/// Sorts in place by `key` (stable, then by name); hosts sort by the name
/// `host_names` gives their id (else by id).
pub fn sort(
    items: &mut [Container],
    key: SortKey,
    asc: bool,
    host_names: &HashMap<String, String>,
) {
    let host = |id: &str| -> String {
        host_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    items.sort_by(|a, b| {
        let o = match key {
            SortKey::Name => a.name.cmp(&b.name),
            SortKey::Host => host(&a.host).cmp(&host(&b.host)),
            SortKey::Image => a.image.cmp(&b.image),
            SortKey::State => a.state.as_str().cmp(b.state.as_str()),
            SortKey::Created => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.name.cmp(&b.name));
        if asc { o } else { o.reverse() }
    });
}

/// Free-text match on name, id, image and labels.
pub fn matches(c: &Container, text: &str) -> bool {
    let t = text.trim().to_lowercase();
    t.is_empty()
        || c.name.to_lowercase().contains(&t)
        || c.id.starts_with(&t)
        || c.image.to_lowercase().contains(&t)
        || c.labels
            .iter()
            .any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&t))
}

/// Key of a container across hosts.
fn key(c: &Container) -> String {
    format!("{}/{}", c.host, c.id)
}

/// Runs an action and reports it; `then` refreshes the list.
pub fn run_action(c: &Container, action: ContainerAction, then: impl Fn() + 'static) {
    let toasts = use_toasts();
    let (host, id, name) = (c.host.clone(), c.id.clone(), c.name.clone());
    spawn_local(async move {
        match api::container_action(&host, &id, action).await {
            Ok(()) => toasts.ok(format!("{name}: {}", action.as_str())),
            Err(e) => toasts.error_text(format!("{name}: {e}")),
        }
        then();
    });
}

#[component]
pub fn ContainersPage() -> impl IntoView {
    super::title("Containers");
    let session = use_session();
    let toasts = use_toasts();
    let query = use_query_map();
    let host_filter = RwSignal::new(query.with_untracked(|q| q.get("host").unwrap_or_default()));
    let state_filter = RwSignal::new(query.with_untracked(|q| q.get("state").unwrap_or_default()));
    let label_filter = RwSignal::new(String::new());
    let label_applied = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let sort_key = RwSignal::new(SortKey::Name);
    let asc = RwSignal::new(true);
    let page = RwSignal::new(0usize);
    let page_size = RwSignal::new(PAGE_SIZES[0]);
    let selected = RwSignal::new(BTreeSet::<String>::new());

    let list = LocalResource::new(move || {
        let f = ContainerFilter {
            host: host_filter.get(),
            state: state_filter.get(),
            label: label_applied.get(),
        };
        async move { api::containers(&f).await }
    });
    let timer =
        set_interval_with_handle(move || list.refetch(), std::time::Duration::from_secs(10)).ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });

    // The filtered, sorted rows.
    let rows = Memo::new(move |_| {
        let Some(Ok(l)) = list.get() else {
            return Vec::new();
        };
        let t = text.get();
        let mut items: Vec<Container> = l.items.into_iter().filter(|c| matches(c, &t)).collect();
        let names: HashMap<String, String> = session
            .hosts
            .with(|hs| hs.iter().map(|h| (h.id.clone(), h.name.clone())).collect());
        sort(&mut items, sort_key.get(), asc.get(), &names);
        items
    });
    let pages = move || rows.with(|r| r.len().div_ceil(page_size.get())).max(1);
    // A closure, not an inline `a >= b` attribute: the view macro would read
    // that `>` as the end of the tag.
    let on_last_page = move || page.get() + 1 >= pages();
    Effect::new(move |_| {
        // Keep the page in range when filters shrink the list.
        let max = pages();
        if page.get_untracked() >= max {
            page.set(max - 1);
        }
    });
    let visible = Memo::new(move |_| {
        rows.with(|r| {
            r.iter()
                .skip(page.get() * page_size.get())
                .take(page_size.get())
                .cloned()
                .collect::<Vec<_>>()
        })
    });

    let refresh = move || list.refetch();
    let chosen = move || -> Vec<Container> {
        let sel = selected.get();
        rows.with(|r| {
            r.iter()
                .filter(|c| sel.contains(&key(c)))
                .cloned()
                .collect()
        })
    };
    let bulk = move |action: Option<ContainerAction>| {
        let targets = chosen();
        let needed = if action.is_some() {
            need::LIFECYCLE
        } else {
            need::DEPLOY
        };
        let (allowed, refused): (Vec<_>, Vec<_>) = targets
            .into_iter()
            .partition(|c| session.may(&c.host, needed));
        if !refused.is_empty() {
            toasts.error_text(format!(
                "skipped {} container(s) your role does not allow this on",
                refused.len()
            ));
        }
        spawn_local(async move {
            let mut ok = 0;
            for c in &allowed {
                let r = match action {
                    Some(a) => api::container_action(&c.host, &c.id, a).await,
                    None => api::delete_container(&c.host, &c.id, true).await,
                };
                match r {
                    Ok(()) => ok += 1,
                    Err(e) => toasts.error_text(format!("{}: {e}", c.name)),
                }
            }
            let verb = action.map(|a| a.as_str()).unwrap_or("remove");
            toasts.ok(format!("{verb}: {ok} of {} done", allowed.len()));
            selected.set(BTreeSet::new());
            list.refetch();
        });
    };
    let any_lifecycle = move || {
        session
            .hosts
            .with(|hs| hs.iter().any(|h| session.may(&h.id, need::LIFECYCLE)))
    };
    let any_deploy = move || {
        session
            .hosts
            .with(|hs| hs.iter().any(|h| session.may(&h.id, need::DEPLOY)))
    };

    let header = move |k: SortKey| {
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
    };

    let apply_label = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        label_applied.set(label_filter.get().trim().to_string());
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Containers"</h1>
                <div class="actions">
                    <Show when=any_deploy>
                        <A href="/containers/new" attr:class="button primary" attr:data-testid="new-container">
                            "Create container"
                        </A>
                    </Show>
                    <button on:click=move |_| refresh()>"Refresh"</button>
                </div>
            </header>
            <form class="toolbar" on:submit=apply_label role="search">
                <div>
                    <label for="f-host">"Host"</label>
                    <select id="f-host" on:change=move |ev| { host_filter.set(event_target_value(&ev)); page.set(0); }>
                        <option value="">"All hosts"</option>
                        {move || {
                            session
                                .hosts
                                .get()
                                .into_iter()
                                .map(|h| {
                                    let sel = host_filter.get() == h.id;
                                    view! { <option value=h.id.clone() selected=sel>{h.name.clone()}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
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
            <Show when=move || !selected.with(BTreeSet::is_empty)>
                <div class="toolbar" role="group" aria-label="Bulk actions" data-testid="bulk-bar">
                    <span>{move || format!("{} selected", selected.with(BTreeSet::len))}</span>
                    <Show when=any_lifecycle>
                        <button on:click=move |_| bulk(Some(ContainerAction::Start))>"Start"</button>
                        <button on:click=move |_| bulk(Some(ContainerAction::Stop))>"Stop"</button>
                        <button on:click=move |_| bulk(Some(ContainerAction::Restart))>"Restart"</button>
                    </Show>
                    <Show when=any_deploy>
                        <ConfirmButton
                            label="Remove"
                            question="Remove the selected containers (running ones are killed)?"
                            on_confirm=move || bulk(None)
                        />
                    </Show>
                    <button class="ghost" on:click=move |_| selected.set(BTreeSet::new())>"Clear selection"</button>
                </div>
            </Show>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) => {
                    let errors = l.errors.clone();
                    view! {
                        <HostErrors errors=errors/>
                        <p class="hint" data-testid="container-count">
                            {move || {
                                let n = rows.with(Vec::len);
                                let first = page.get() * page_size.get();
                                let last = (first + page_size.get()).min(n);
                                if n > page_size.get() {
                                    format!(
                                        "{} · showing {}–{}",
                                        format::count(n, "container"),
                                        format::thousands(first + 1),
                                        format::thousands(last),
                                    )
                                } else {
                                    format::count(n, "container")
                                }
                            }}
                        </p>
                    }
                        .into_any()
                }
            }}
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
                            {header(SortKey::Name)}
                            {header(SortKey::Host)}
                            {header(SortKey::Image)}
                            {header(SortKey::State)}
                            {header(SortKey::Created)}
                            <th scope="col">"Ports"</th>
                            <th scope="col">"Actions"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || visible.get() key=|c| format!("{}:{}", key(c), c.state) let:c>
                            <Row c=c selected=selected on_change=move || list.refetch()/>
                        </For>
                    </tbody>
                </table>
            </div>
            <nav class="pager" aria-label="Pages">
                <button
                    disabled=move || page.get() == 0
                    on:click=move |_| page.set(0)
                    aria-label="First page"
                    data-testid="page-first"
                >
                    "«"
                </button>
                <button
                    disabled=move || page.get() == 0
                    on:click=move |_| page.update(|p| *p = p.saturating_sub(1))
                    data-testid="page-prev"
                >
                    "Previous"
                </button>
                <span data-testid="page-of">{move || format!("Page {} of {}", page.get() + 1, pages())}</span>
                <button disabled=on_last_page on:click=move |_| page.update(|p| *p += 1) data-testid="page-next">
                    "Next"
                </button>
                <button
                    disabled=on_last_page
                    on:click=move |_| page.set(pages() - 1)
                    aria-label="Last page"
                    data-testid="page-last"
                >
                    "»"
                </button>
                <label class="inline" for="page-size">"Rows per page"</label>
                <select
                    id="page-size"
                    on:change=move |ev| {
                        if let Ok(n) = event_target_value(&ev).parse::<usize>() {
                            page_size.set(n);
                            page.set(0);
                        }
                    }
                >
                    {let mut sizes = PAGE_SIZES;
                    sizes.sort_unstable();
                    sizes
                        .into_iter()
                        .map(|n| {
                            view! {
                                <option value=n.to_string() selected=move || page_size.get() == n>
                                    {n.to_string()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </nav>
        </section>
    }
}

#[component]
fn Row(
    c: Container,
    selected: RwSignal<BTreeSet<String>>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let k = key(&c);
    let k2 = k.clone();
    let href = format!(
        "/hosts/{}/containers/{}",
        api::enc(&c.host),
        api::enc(&c.name)
    );
    let may_life = session.may(&c.host, need::LIFECYCLE);
    let may_deploy = session.may(&c.host, need::DEPLOY);
    let running = matches!(c.state, ContainerState::Running | ContainerState::Paused);
    let c_start = c.clone();
    let c_stop = c.clone();
    let c_del = c.clone();
    let ports = c
        .ports
        .iter()
        .map(|p| format!("{}→{}/{}", p.host_port, p.container_port, p.protocol))
        .collect::<Vec<_>>()
        .join(", ");
    let remove = move || {
        let c = c_del.clone();
        spawn_local(async move {
            match api::delete_container(&c.host, &c.id, false).await {
                Ok(()) => toasts.ok(format!("{} removed", c.name)),
                Err(e) => toasts.error_text(format!("{}: {}", c.name, ApiError::to_string(&e))),
            }
            on_change();
        });
    };
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
            <td class="actions-cell">
                {(may_life && !running)
                    .then(|| {
                        view! {
                            <button
                                data-testid="start"
                                on:click=move |_| run_action(&c_start, ContainerAction::Start, on_change)
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
                                on:click=move |_| run_action(&c_stop, ContainerAction::Stop, on_change)
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
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::RuntimeKind;

    fn c(name: &str, host: &str, state: ContainerState) -> Container {
        Container {
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            host: host.into(),
            runtime: RuntimeKind::Berth,
            image: format!("img-{name}"),
            state,
            exit_code: None,
            pid: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            limits: Default::default(),
            ports: vec![],
            labels: [("app".to_string(), "web".to_string())].into(),
            restart_count: 0,
            cmd: vec![],
            network: Default::default(),
            ip_address: None,
            restart: Default::default(),
            spec: None,
            redacted: false,
        }
    }

    #[test]
    fn sorts_and_filters() {
        let mut v = vec![
            c("b", "h2", ContainerState::Running),
            c("a", "h1", ContainerState::Stopped),
            c("c", "h1", ContainerState::Paused),
        ];
        let names = HashMap::from([("h1".to_string(), "zeta".to_string())]);
        sort(&mut v, SortKey::Name, false, &names);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["c", "b", "a"]
        );
        // h1 reads as "zeta": after h2 (no name, by id).
        sort(&mut v, SortKey::Host, true, &names);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["b", "a", "c"]
        );
        assert!(matches(&v[1], "IMG-A"));
        assert!(matches(&v[1], "app=web"));
        assert!(!matches(&v[1], "zzz"));
    }
}
