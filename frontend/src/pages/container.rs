//! One container: state and actions, live graphs (1 h / 24 h), logs that
//! follow (search, pause, download), the console, its namespaces and
//! cgroup, and the inspect JSON. The tab is in the URL (`?tab=`).

use berth_api::containers::{Container, ContainerAction, ContainerState, LogLine, LogStream};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::components::confirm::ConfirmButton;
use crate::components::graph::Ring;
use crate::components::inventory::{
    CgroupTree, ContainerNamespaces, NamespaceHelp, find_container, name_map,
};
use crate::components::metrics::{ContainerGraphs, LiveStatus, WindowSwitch, container_live};
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;
use crate::console::Console;
use crate::format;
use crate::pages::host::{Tabs, tab_param};
use crate::rbac::need;
use crate::session::use_session;
use crate::stream::{self, StreamEvent, StreamHandle, StreamOptions};

const TABS: [(&str, &str); 6] = [
    ("stats", "Stats"),
    ("logs", "Logs"),
    ("console", "Console"),
    ("namespaces", "Namespaces"),
    ("cgroup", "cgroup"),
    ("inspect", "Inspect"),
];

/// Lines kept in the browser while following; older ones drop off.
const LOG_LINES: usize = 5000;

/// The actions that make sense in a state.
pub fn actions_for(state: ContainerState) -> &'static [ContainerAction] {
    match state {
        ContainerState::Running => &[
            ContainerAction::Stop,
            ContainerAction::Restart,
            ContainerAction::Kill,
            ContainerAction::Pause,
        ],
        ContainerState::Paused => &[ContainerAction::Unpause, ContainerAction::Kill],
        ContainerState::Created | ContainerState::Stopped => &[ContainerAction::Start],
    }
}

fn label(a: ContainerAction) -> &'static str {
    match a {
        ContainerAction::Start => "Start",
        ContainerAction::Stop => "Stop",
        ContainerAction::Restart => "Restart",
        ContainerAction::Kill => "Kill",
        ContainerAction::Pause => "Pause",
        ContainerAction::Unpause => "Unpause",
    }
}

/// The container's name and state, and the actions the user's role allows
/// on its host.
#[component]
fn Head(
    c: Container,
    busy: RwSignal<bool>,
    act: impl Fn(ContainerAction) + Copy + Send + Sync + 'static,
    remove: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let may_life = session.may(&c.host, need::LIFECYCLE);
    let may_deploy = session.may(&c.host, need::DEPLOY);
    view! {
        <header class="page-head">
            <h1>
                {c.name.clone()} " "
                <span class=format!("pill state-{}", c.state) data-testid="container-state">
                    {c.state.as_str()}
                </span>
            </h1>
            <div class="actions" data-testid="container-actions">
                {may_life
                    .then(|| {
                        actions_for(c.state)
                            .iter()
                            .map(|a| {
                                let a = *a;
                                view! {
                                    <button
                                        data-testid=format!("action-{}", a.as_str())
                                        disabled=busy
                                        on:click=move |_| act(a)
                                    >
                                        {label(a)}
                                    </button>
                                }
                            })
                            .collect_view()
                    })}
                {may_deploy
                    .then(|| {
                        view! {
                            <ConfirmButton
                                label="Delete"
                                question="Delete this container (killing it if it runs)?"
                                testid="action-delete"
                                on_confirm=remove.clone()
                            />
                        }
                    })}
            </div>
        </header>
    }
}

/// The text of a log download: one `time stream text` line per log line.
fn log_text(all: &[LogLine]) -> String {
    all.iter()
        .map(|l| {
            let stream = if l.stream == LogStream::Stderr {
                "stderr"
            } else {
                "stdout"
            };
            format!("{} {stream} {}\n", l.time.to_rfc3339(), l.text)
        })
        .collect()
}

#[component]
pub fn ContainerPage() -> impl IntoView {
    let host = super::param("host");
    let cname = super::param("c");
    let session = use_session();
    let toasts = use_toasts();
    let navigate = use_navigate();
    let tab = tab_param("stats");
    let container = LocalResource::new(move || {
        let (h, c) = (host.get(), cname.get());
        async move { api::container(&h, &c).await }
    });
    // The state changes behind our back (exits, restarts): poll it.
    let timer = set_interval_with_handle(
        move || container.refetch(),
        std::time::Duration::from_secs(5),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });
    Effect::new(move |_| super::title(cname.get()));
    let busy = RwSignal::new(false);

    let act = move |a: ContainerAction| {
        busy.set(true);
        spawn_local(async move {
            match api::container_action(&host.get_untracked(), &cname.get_untracked(), a).await {
                Ok(c) => {
                    toasts.ok(format!("{}: {}", cname.get_untracked(), a.as_str()));
                    // The answer is the container as it is now: show it.
                    container.set(Some(Ok(c)));
                }
                Err(e) => {
                    toasts.error(&e);
                    // A refused action may mean our view is stale.
                    container.refetch();
                }
            }
            busy.set(false);
        });
    };
    let remove = move || {
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::delete_container(&host.get_untracked(), &cname.get_untracked(), true).await {
                Ok(()) => {
                    toasts.ok(format!("{} removed", cname.get_untracked()));
                    navigate("/containers", Default::default());
                }
                Err(e) => toasts.error(&e),
            }
        });
    };

    view! {
        <section class="page">
            <p class="hint">
                <A href="/containers">"Containers"</A>
                " / "
                <A href=move || format!("/hosts/{}", api::enc(&host.get()))>{move || session.host_name(&host.get())}</A>
            </p>
            {move || match container.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(c)) => {
                    let remove = remove.clone();
                    view! {
                        <Head c=c.clone() busy=busy act=act remove=remove/>
                        <Summary c=c/>
                    }
                        .into_any()
                }
            }}
            <Tabs tabs=&TABS current=tab/>
            <div role="tabpanel" aria-labelledby=move || format!("tab-{}", tab.get())>
                {move || {
                    let may_logs = session.may(&host.get(), need::LOGS);
                    let may_exec = session.may(&host.get(), need::DEPLOY);
                    match tab.get().as_str() {
                        "logs" if may_logs => view! { <Logs host=host c=cname/> }.into_any(),
                        "logs" => view! { <p class="notice">"Reading logs needs the operator role on this host."</p> }.into_any(),
                        "console" if may_exec => view! { <Console host=host container=cname/> }.into_any(),
                        "console" => view! { <p class="notice">"The console needs the deployer role on this host."</p> }.into_any(),
                        "namespaces" => view! { <Namespaces host=host c=cname/> }.into_any(),
                        "cgroup" => view! { <Cgroup host=host container=container/> }.into_any(),
                        "inspect" => view! { <Inspect container=container/> }.into_any(),
                        _ => view! { <Stats host=host c=cname/> }.into_any(),
                    }
                }}
            </div>
        </section>
    }
}

#[component]
fn Summary(c: Container) -> impl IntoView {
    let limits = {
        let l = &c.limits;
        let mut parts = Vec::new();
        if let Some(m) = l.memory_bytes {
            parts.push(format!("memory {}", format::bytes(m)));
        }
        if let Some(n) = l.nano_cpus {
            parts.push(format!("cpus {}", format::cpus(n)));
        }
        if let Some(p) = l.pids {
            parts.push(format!("pids {p}"));
        }
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    };
    view! {
        <dl class="facts card" data-testid="container-summary">
            <dt>"Image"</dt>
            <dd class="mono">{c.image.clone()}</dd>
            <dt>"Command"</dt>
            <dd class="mono">{c.cmd.join(" ")} {c.redacted.then(|| view! {
                <span class="muted" data-testid="redacted-note">" (arguments and env values hidden: they need the deployer role)"</span>
            })}</dd>
            <dt>"Id"</dt>
            <dd class="mono">{format::short_id(&c.id).to_string()}</dd>
            <dt>"Runtime · network"</dt>
            <dd>{format!("{:?}", c.runtime).to_lowercase()} " · " {c.network.to_string()} {c.ip_address.clone().map(|ip| format!(" ({ip})"))}</dd>
            <dt>"Limits"</dt>
            <dd data-testid="container-limits">{limits}</dd>
            <dt>"Pid"</dt>
            <dd>{c.pid.map(|p| p.to_string()).unwrap_or_else(|| "–".into())}</dd>
            <dt>"Started"</dt>
            <dd>{c.started_at.map(format::time).unwrap_or_else(|| "–".into())}</dd>
            <dt>"Finished"</dt>
            <dd>
                {c.finished_at.map(format::time).unwrap_or_else(|| "–".into())}
                {c.exit_code.map(|x| format!(" (exit {x})"))}
            </dd>
            <dt>"Restart"</dt>
            <dd>{format!("{} (restarted {} times)", c.restart, c.restart_count)}</dd>
            <dt>"Ports"</dt>
            <dd class="mono">
                {c.ports
                    .iter()
                    .map(|p| format!("{}→{}/{}", p.host_port, p.container_port, p.protocol))
                    .collect::<Vec<_>>()
                    .join(", ")}
            </dd>
            <dt>"Labels"</dt>
            <dd>{c.labels.iter().map(|(k, v)| view! { <span class="tag">{format!("{k}={v}")}</span> }).collect_view()}</dd>
        </dl>
    }
}

#[component]
fn Stats(host: Memo<String>, c: Memo<String>) -> impl IntoView {
    let live = container_live(host, c);
    view! {
        <div class="toolbar">
            <WindowSwitch window=live.window/>
            <LiveStatus live=live/>
        </div>
        <ContainerGraphs live=live/>
    }
}

/// Highlights `needle` in `text` (case-insensitive).
fn highlight(text: &str, needle: &str) -> AnyView {
    if needle.is_empty() {
        return text.to_string().into_any();
    }
    let lower = text.to_lowercase();
    let n = needle.to_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(&n) {
        let start = at + i;
        let end = start + n.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        out.push(text[at..start].to_string().into_any());
        out.push(view! { <mark>{text[start..end].to_string()}</mark> }.into_any());
        at = end;
    }
    out.push(text[at..].to_string().into_any());
    out.into_any()
}

/// What the log status says while paused.
fn paused_text(waiting: usize) -> String {
    format!("paused ({waiting} new lines waiting)")
}

/// Keeps the log view scrolled to the bottom as lines come, unless the
/// reader scrolled up or paused.
fn stick_to_bottom(
    view_ref: NodeRef<leptos::html::Div>,
    lines: RwSignal<Ring<(u64, LogLine)>>,
    paused: RwSignal<bool>,
) {
    Effect::new(move |_| {
        lines.track();
        if let Some(el) = view_ref.get_untracked() {
            let near_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 80;
            if near_bottom && !paused.get_untracked() {
                request_animation_frame(move || el.set_scroll_top(el.scroll_height()));
            }
        }
    });
}

/// Saves the container's whole log from the host (not just what the page
/// holds) as `<name>.log`; `downloading` while it runs.
fn download_logs(
    host: String,
    name: String,
    downloading: RwSignal<bool>,
    error: RwSignal<Option<ApiError>>,
) {
    downloading.set(true);
    spawn_local(async move {
        match api::logs(&host, &name, "").await {
            Ok(all) => save_file(&format!("{name}.log"), &log_text(&all)),
            Err(e) => error.set(Some(e)),
        }
        downloading.set(false);
    });
}

#[component]
fn Logs(host: Memo<String>, c: Memo<String>) -> impl IntoView {
    let lines = RwSignal::new(Ring::<(u64, LogLine)>::new(LOG_LINES));
    let seq = StoredValue::new(0u64);
    let paused = RwSignal::new(false);
    let held = RwSignal::new(Vec::<LogLine>::new());
    let search = RwSignal::new(String::new());
    let status = RwSignal::new(String::from("connecting…"));
    let error = RwSignal::new(None::<ApiError>);
    let handle = StoredValue::new_local(None::<StreamHandle>);
    let view_ref = NodeRef::<leptos::html::Div>::new();

    let push = move |l: LogLine| {
        let n = seq.get_value();
        seq.set_value(n + 1);
        lines.update(|r| r.push((n, l)));
    };
    Effect::new(move |_| {
        let path = api::logs_follow_path(&host.get(), &c.get(), 500);
        lines.update(|r| r.reset(LOG_LINES));
        let h = stream::open::<LogLine, _>(path, StreamOptions::live(), move |ev| match ev {
            StreamEvent::Open => {
                // A reconnect replays the tail: start over rather than repeat.
                lines.update(|r| r.reset(LOG_LINES));
                status.set("following".into());
                error.set(None);
            }
            StreamEvent::Data(l) => {
                if paused.get_untracked() {
                    held.update(|h| {
                        h.push(l);
                        let excess = h.len().saturating_sub(LOG_LINES);
                        h.drain(..excess);
                    });
                } else {
                    push(l);
                }
            }
            StreamEvent::Failed(e) => {
                status.set("not following".into());
                error.set(Some(e));
            }
            StreamEvent::Closed => status.set("the log stream ended (reconnecting)".into()),
        });
        handle.set_value(Some(h));
    });
    stick_to_bottom(view_ref, lines, paused);
    let toggle_pause = move |_| {
        if paused.get_untracked() {
            let waiting = held.try_update(std::mem::take).unwrap_or_default();
            for l in waiting {
                push(l);
            }
            paused.set(false);
        } else {
            paused.set(true);
        }
    };
    // The whole log from the host, not just what this page holds.
    let downloading = RwSignal::new(false);
    let download =
        move |_| download_logs(host.get_untracked(), c.get_untracked(), downloading, error);
    let visible = Memo::new(move |_| {
        let q = search.get().to_lowercase();
        lines.with(|r| {
            r.iter()
                .filter(|(_, l)| q.is_empty() || l.text.to_lowercase().contains(&q))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="toolbar">
            <div>
                <label for="log-search">"Search"</label>
                <input id="log-search" type="search" bind:value=search placeholder="text in the lines"/>
            </div>
            <button on:click=toggle_pause data-testid="log-pause" aria-pressed=move || paused.get().to_string()>
                {move || if paused.get() { "Resume" } else { "Pause" }}
            </button>
            <button on:click=download disabled=downloading data-testid="log-download">
                {move || if downloading.get() { "Downloading…" } else { "Download" }}
            </button>
            <span class="hint" role="status" data-testid="log-status">
                {move || if paused.get() { paused_text(held.with(Vec::len)) } else { status.get() }}
                {move || format!(" · {} lines shown", visible.with(Vec::len))}
            </span>
        </div>
        <ProblemBanner error=error/>
        <div class="log-view" node_ref=view_ref data-testid="log-view" tabindex="0" aria-label="Log lines">
            <For each=move || visible.get() key=|(n, _)| *n let:item>
                <div class=if item.1.stream == LogStream::Stderr { "line stderr" } else { "line" }>
                    <span class="ts">{item.1.time.format("%H:%M:%S%.3f").to_string()}</span>
                    {move || highlight(&item.1.text, &search.get())}
                </div>
            </For>
        </div>
    }
}

/// Offers `text` as a file download.
pub fn save_file(name: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/plain");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(a) = document().create_element("a") {
        let a: web_sys::HtmlAnchorElement = a.unchecked_into();
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

#[component]
fn Namespaces(host: Memo<String>, c: Memo<String>) -> impl IntoView {
    let data = LocalResource::new(move || {
        let (h, c) = (host.get(), c.get());
        async move { api::container_namespaces(&h, &c).await }
    });
    view! {
        {move || match data.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
            Some(Ok(l)) => view! { <ContainerNamespaces nss=l.items/> }.into_any(),
        }}
        <NamespaceHelp/>
    }
}

#[component]
fn Cgroup(
    host: Memo<String>,
    container: LocalResource<Result<Container, ApiError>>,
) -> impl IntoView {
    let tree = LocalResource::new(move || {
        let h = host.get();
        async move { api::host_cgroups(&h).await }
    });
    view! {
        {move || {
            let c = container.get().and_then(Result::ok);
            match (tree.get(), c) {
                (None, _) | (_, None) => view! { <Loading/> }.into_any(),
                (Some(Err(e)), _) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                (Some(Ok(t)), Some(c)) => match find_container(&t, &c.id) {
                    Some(node) => {
                        let names = name_map(&c.host, std::slice::from_ref(&c));
                        view! { <CgroupTree roots=vec![node.clone()] names=names/> }.into_any()
                    }
                    None => {
                        view! {
                            <p class="notice">
                                "The host's cgroup tree has no cgroup for this container (it runs only while the container runs)."
                            </p>
                        }
                            .into_any()
                    }
                },
            }
        }}
    }
}

#[component]
fn Inspect(container: LocalResource<Result<Container, ApiError>>) -> impl IntoView {
    view! {
        {move || match container.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
            Some(Ok(c)) => {
                let json = serde_json::to_string_pretty(&c).unwrap_or_default();
                let json2 = json.clone();
                view! {
                    <div class="toolbar">
                        <button on:click=move |_| {
                            let _ = window().navigator().clipboard().write_text(&json2);
                        }>"Copy JSON"</button>
                    </div>
                    <pre class="json" data-testid="inspect-json">{json}</pre>
                }
                    .into_any()
            }
        }}
    }
}
