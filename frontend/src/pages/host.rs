//! One host: facts, live metric graphs with a 1 h / 24 h switch, the
//! namespace view and the cgroup tree. Tabs keep the URL (`?tab=`), so a
//! reload shows the same view.

use berth_api::containers::ContainerState;
use berth_api::hosts::HostStatus;
use berth_api::hosts::{Host, PatchHost};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ContainerFilter};
use crate::components::agent_version::{AgentVersion, server_version};
use crate::components::confirm::ConfirmButton;
use crate::components::inventory::{
    CgroupTree, NamespaceHelp, NamespaceList, NamespaceMatrix, host_namespaces, name_map,
};
use crate::components::metrics::{
    ContainerGraphPanel, HostGraphs, LiveSetStatus, LiveStatus, MetricSwitch, PANEL_SAMPLES,
    PanelMetric, WindowSwitch, follow_set, host_live,
};
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;
use crate::format;
use crate::rbac::need;
use crate::session::use_session;
use crate::spec_form::parse_pairs;

/// Containers compared with the host in the namespace matrix.
const MATRIX_ROWS: usize = 40;

/// Running containers with a live graph on the host page.
const PANEL_MAX: usize = 60;

pub const TABS: [(&str, &str); 3] = [
    ("metrics", "Metrics"),
    ("namespaces", "Namespaces"),
    ("cgroups", "cgroups"),
];

/// Tabs bound to `?tab=` of the current path.
#[component]
pub fn Tabs(tabs: &'static [(&'static str, &'static str)], current: Memo<String>) -> impl IntoView {
    let navigate = use_navigate();
    let loc = leptos_router::hooks::use_location();
    view! {
        <div class="tabs" role="tablist">
            {tabs
                .iter()
                .map(|(id, label)| {
                    let navigate = navigate.clone();
                    let id = *id;
                    view! {
                        <button
                            role="tab"
                            id=format!("tab-{id}")
                            data-testid=format!("tab-{id}")
                            aria-selected=move || (current.get() == id).to_string()
                            on:click=move |_| {
                                navigate(
                                    &format!("{}?tab={id}", loc.pathname.get_untracked()),
                                    NavigateOptions { replace: true, scroll: false, ..Default::default() },
                                )
                            }
                        >
                            {*label}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

pub fn tab_param(default: &'static str) -> Memo<String> {
    let q = use_query_map();
    Memo::new(move |_| {
        q.with(|q| q.get("tab"))
            .unwrap_or_else(|| default.to_string())
    })
}

#[component]
pub fn HostPage() -> impl IntoView {
    let host_id = super::param("host");
    let session = use_session();
    let tab = tab_param("metrics");
    let server = server_version();
    let host = LocalResource::new(move || {
        let h = host_id.get();
        async move { api::host(&h).await }
    });
    Effect::new(move |_| {
        let name = host
            .get()
            .and_then(Result::ok)
            .map(|h| h.name)
            .unwrap_or_else(|| host_id.get());
        super::title(name);
    });
    let cpus = Signal::derive(move || {
        host.get()
            .and_then(Result::ok)
            .map(|h| f64::from(h.facts.cpus))
            .unwrap_or(1.0)
    });

    view! {
        <section class="page">
            {move || match host.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(h)) => {
                    let online = h.status == HostStatus::Online;
                    view! {
                        <header class="page-head">
                            <h1>
                                {h.name.clone()} " "
                                <span class=if online { "pill ok" } else { "pill bad" }>
                                    {if online { "online" } else { "offline" }}
                                </span>
                            </h1>
                            <div class="actions">
                                <A href=format!("/containers?host={}", api::enc(&h.id)) attr:class="button">
                                    "Containers"
                                </A>
                                <A href=format!("/hosts/{}/images", api::enc(&h.id)) attr:class="button">
                                    "Images"
                                </A>
                                {session
                                    .may(&h.id, need::DEPLOY)
                                    .then(|| {
                                        view! {
                                            <A
                                                href=format!("/containers/new?host={}", api::enc(&h.id))
                                                attr:class="button primary"
                                            >
                                                "Create container"
                                            </A>
                                        }
                                    })}
                                {session
                                    .may(&h.id, need::ADMIN)
                                    .then(|| view! { <EditHost host=h.clone() on_change=move || host.refetch()/> })}
                            </div>
                        </header>
                        <HostFactsCard h=h server=server/>
                    }
                        .into_any()
                }
            }}
            <Tabs tabs=&TABS current=tab/>
            <div role="tabpanel" aria-labelledby=move || format!("tab-{}", tab.get())>
                {move || match tab.get().as_str() {
                    "namespaces" => view! { <HostNamespaces host=host_id/> }.into_any(),
                    "cgroups" => view! { <HostCgroups host=host_id/> }.into_any(),
                    _ => view! { <HostMetrics host=host_id cpus=cpus/> }.into_any(),
                }}
            </div>
        </section>
    }
}

/// The host's facts: address, OS, kernel, cgroups, size, groups, runtimes,
/// the agent's version (flagged when older than the server) and when it
/// was last seen.
#[component]
fn HostFactsCard(h: Host, server: Signal<Option<String>>) -> impl IntoView {
    view! {
        <dl class="facts card">
            <dt>"Address"</dt>
            <dd class="mono">{h.address.clone()}</dd>
            <dt>"OS"</dt>
            <dd>{h.facts.os.clone()}</dd>
            <dt>"Kernel"</dt>
            <dd>{format!("{} ({})", h.facts.kernel, h.facts.arch)}</dd>
            <dt>"cgroups"</dt>
            <dd>{format!("{:?}", h.facts.cgroup).to_lowercase()}</dd>
            <dt>"CPUs · memory"</dt>
            <dd>{format!("{} · {}", h.facts.cpus, format::bytes(h.facts.memory_bytes))}</dd>
            <dt>"Groups"</dt>
            <dd>
                {if h.groups.is_empty() { "none".to_string() } else { h.groups.join(", ") }}
            </dd>
            <dt>"Runtimes"</dt>
            <dd>{h.runtimes.join(", ")}</dd>
            <dt>"Agent"</dt>
            <dd>
                <AgentVersion
                    version=h.agent_version.clone()
                    outdated=h.agent_outdated
                    server=server
                />
            </dd>
            <dt>"Last seen"</dt>
            <dd>
                {h.last_seen.map(|t| format::ago(t, format::now())).unwrap_or_else(|| "never".into())}
            </dd>
        </dl>
    }
}

#[component]
fn HostMetrics(host: Memo<String>, cpus: Signal<f64>) -> impl IntoView {
    let live = host_live(host);
    view! {
        <div class="toolbar">
            <WindowSwitch window=live.window/>
            <LiveStatus live=live/>
        </div>
        <HostGraphs live=live cpus=cpus/>
        <HostContainers host=host/>
    }
}

/// A live graph per running container of the host, all over one stream.
#[component]
fn HostContainers(host: Memo<String>) -> impl IntoView {
    let running = LocalResource::new(move || {
        let h = host.get();
        async move {
            api::containers(&ContainerFilter {
                host: h,
                state: ContainerState::Running.as_str().to_string(),
                ..Default::default()
            })
            .await
        }
    });
    let timer = set_interval_with_handle(
        move || running.refetch(),
        std::time::Duration::from_secs(15),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });
    // Sorted by name, the first PANEL_MAX; unchanged while a refetch runs.
    let all = Memo::new(
        move |prev: Option<&Vec<(String, String)>>| match running.get() {
            Some(Ok(l)) => {
                let mut keys: Vec<(String, String)> =
                    l.items.into_iter().map(|c| (c.host, c.name)).collect();
                keys.sort_by(|a, b| a.1.cmp(&b.1));
                keys
            }
            _ => prev.cloned().unwrap_or_default(),
        },
    );
    let shown = Memo::new(move |_| all.with(|k| k.iter().take(PANEL_MAX).cloned().collect()));
    let set = follow_set(shown.into(), PANEL_SAMPLES);
    let metric = RwSignal::new(PanelMetric::Cpu);
    view! {
        <section data-testid="container-panel">
            <h2>"Running containers"</h2>
            <div class="toolbar">
                <MetricSwitch metric=metric/>
                <LiveSetStatus set=set/>
            </div>
            {move || match running.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) if l.items.is_empty() => {
                    view! { <p class="empty">"No running containers on this host."</p> }.into_any()
                }
                Some(Ok(_)) => {
                    let total = all.with(Vec::len);
                    let note = if total > PANEL_MAX {
                        format!(
                            "The last 10 minutes, live since this page opened; the first {PANEL_MAX} of {} by name. Each container's page has its 1 h and 24 h history.",
                            format::count(total, "running container")
                        )
                    } else {
                        "The last 10 minutes, live since this page opened. Each container's page has its 1 h and 24 h history.".to_string()
                    };
                    view! { <p class="hint">{note}</p> }.into_any()
                }
            }}
            <ContainerGraphPanel set=set metric=metric/>
        </section>
    }
}

#[component]
fn HostNamespaces(host: Memo<String>) -> impl IntoView {
    let data = LocalResource::new(move || {
        let h = host.get();
        async move {
            let entries = api::host_namespaces(&h).await?;
            let containers = api::containers(&ContainerFilter {
                host: h.clone(),
                ..Default::default()
            })
            .await
            .map(|l| l.items)
            .unwrap_or_default();
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            let running: Vec<_> = containers
                .iter()
                .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Paused))
                .collect();
            // One call per container: the matrix shows the first ones only.
            if running.len() > MATRIX_ROWS {
                errors.push(format!(
                    "showing the first {MATRIX_ROWS} of {} running containers; each container page has its own view",
                    running.len()
                ));
            }
            for c in running.into_iter().take(MATRIX_ROWS) {
                match api::container_namespaces(&h, &c.id).await {
                    Ok(l) => rows.push((
                        c.name.clone(),
                        format!(
                            "/hosts/{}/containers/{}?tab=namespaces",
                            api::enc(&h),
                            api::enc(&c.name)
                        ),
                        l.items,
                    )),
                    Err(e) => errors.push(format!("{}: {e}", c.name)),
                }
            }
            Ok::<_, api::ApiError>((entries.items, name_map(&h, &containers), rows, errors))
        }
    });
    view! {
        <NamespaceHelp/>
        {move || match data.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
            Some(Ok((entries, names, rows, errors))) => {
                let host_ns = host_namespaces(&entries);
                view! {
                    <h2>"Containers next to the host"</h2>
                    {if rows.is_empty() {
                        view! { <p class="empty">"No running containers on this host."</p> }.into_any()
                    } else {
                        view! { <NamespaceMatrix host=host_ns rows=rows/> }.into_any()
                    }}
                    {(!errors.is_empty()).then(|| view! { <p class="hint">{errors.join("; ")}</p> })}
                    <h2>"Every namespace on the host"</h2>
                    <NamespaceList entries=entries names=names/>
                }
                    .into_any()
            }
        }}
    }
}

#[component]
fn HostCgroups(host: Memo<String>) -> impl IntoView {
    let data = LocalResource::new(move || {
        let h = host.get();
        async move {
            let tree = api::host_cgroups(&h).await?;
            let containers = api::containers(&ContainerFilter {
                host: h.clone(),
                ..Default::default()
            })
            .await
            .map(|l| l.items)
            .unwrap_or_default();
            Ok::<_, api::ApiError>((tree, name_map(&h, &containers)))
        }
    });
    view! {
        <div class="toolbar">
            <button on:click=move |_| data.refetch()>"Refresh"</button>
        </div>
        {move || match data.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
            Some(Ok((tree, names))) => view! { <CgroupTree roots=tree names=names/> }.into_any(),
        }}
    }
}

/// Admins: rename a host, set its groups and labels, or remove it.
#[component]
fn EditHost(host: Host, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let toasts = use_toasts();
    let navigate = use_navigate();
    let open = RwSignal::new(false);
    let name = RwSignal::new(host.name.clone());
    let groups = RwSignal::new(host.groups.join(", "));
    let labels = RwSignal::new(
        host.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let error = RwSignal::new(None::<api::ApiError>);
    let id = host.id.clone();
    let id2 = host.id.clone();
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let labels = match parse_pairs(&labels.get(), "labels") {
            Ok(l) => l,
            Err(e) => {
                error.set(Some(api::ApiError::local(e)));
                return;
            }
        };
        let n = name.get().trim().to_string();
        if n.is_empty() {
            error.set(Some(api::ApiError::local("name: a host needs a name")));
            return;
        }
        let req = PatchHost {
            name: Some(n),
            groups: Some(
                groups
                    .get()
                    .split(',')
                    .map(|g| g.trim().to_string())
                    .filter(|g| !g.is_empty())
                    .collect(),
            ),
            labels: Some(labels),
            ..Default::default()
        };
        let id = id.clone();
        spawn_local(async move {
            match api::patch_host(&id, &req).await {
                Ok(_) => {
                    toasts.ok("host saved");
                    open.set(false);
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let save = StoredValue::new(save);
    let remove = move || {
        let (id, navigate) = (id2.clone(), navigate.clone());
        spawn_local(async move {
            match api::delete_host(&id).await {
                Ok(()) => {
                    toasts.ok("host removed");
                    navigate("/hosts", Default::default());
                }
                Err(e) => toasts.error(&e),
            }
        });
    };
    view! {
        <button on:click=move |_| open.update(|o| *o = !*o) aria-expanded=move || open.get().to_string()>
            "Edit"
        </button>
        <ConfirmButton label="Remove host" question="Remove this host from Berth?" on_confirm=remove/>
        <Show when=move || open.get()>
            <form class="card" on:submit=move |ev| save.with_value(|f| f(ev)) style="flex-basis:100%">
                <label for="h-name">"Name"</label>
                <input id="h-name" bind:value=name/>
                <label for="h-groups">"Groups (comma-separated)"</label>
                <input id="h-groups" bind:value=groups/>
                <label for="h-labels">"Labels (key=value per line)"</label>
                <textarea
                    id="h-labels"
                    prop:value=move || labels.get()
                    on:input=move |ev| labels.set(event_target_value(&ev))
                ></textarea>
                <ProblemBanner error=error/>
                <div class="actions">
                    <button type="submit" class="primary">"Save"</button>
                </div>
            </form>
        </Show>
    }
}
