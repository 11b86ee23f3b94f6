//! The hosts list: status, groups, cgroup mode, CPU and memory bars, the
//! agent's version (flagged when older than the server, with a filter for
//! those), and for admins the dialog that makes a join token and the command
//! to run.

use berth_api::hosts::{CreateJoinToken, Host, HostStatus, JoinTokenResponse};
use berth_api::metrics::{HostSample, Window};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api::{self, ApiError};
use crate::components::agent_version::{AgentVersion, server_version};
use crate::components::bars::UsageBar;
use crate::components::problem::{HostErrors, Loading, ProblemBanner};
use crate::format;
use crate::num::{f64_from_u64, u64_from_f64};
use crate::rbac;
use crate::session::use_session;

/// The newest sample of each host, from its 24 h history (one-minute
/// averages: a steadier "now" than a single second).
async fn latest_samples(hosts: Vec<Host>) -> Vec<(String, Option<HostSample>)> {
    let mut out = Vec::new();
    for h in hosts {
        let s = if h.status == HostStatus::Online {
            api::host_metrics(&h.id, Window::Day)
                .await
                .ok()
                .and_then(|l| l.items.last().cloned())
        } else {
            None
        };
        out.push((h.id, s));
    }
    out
}

/// One host's row; `sample` is its latest one-minute sample, if any.
#[component]
fn HostRow(
    h: Host,
    sample: Signal<Option<HostSample>>,
    server: Signal<Option<String>>,
) -> impl IntoView {
    let cpus = f64::from(h.facts.cpus);
    let mem_bytes = h.facts.memory_bytes;
    let mem_total = f64_from_u64(mem_bytes);
    let online = h.status == HostStatus::Online;
    let (agent_version, agent_outdated) = (h.agent_version.clone(), h.agent_outdated);
    let cpu = Signal::derive(move || sample.with(|s| s.as_ref().map_or(0.0, |s| s.cpu_percent)));
    let mem = Signal::derive(move || {
        sample.with(|s| s.as_ref().map_or(0.0, |s| f64_from_u64(s.memory_bytes)))
    });
    view! {
        <tr data-testid="host-row" data-status=if online { "online" } else { "offline" }>
            <td>
                <A href=format!("/hosts/{}", api::enc(&h.id))>{h.name.clone()}</A>
            </td>
            <td>
                <span class=if online { "pill ok" } else { "pill bad" }>
                    {if online { "online" } else { "offline" }}
                </span>
            </td>
            <td>
                {h.groups.iter().map(|g| view! { <span class="tag">{g.clone()}</span> }).collect_view()}
            </td>
            <td>{format!("{:?}", h.facts.cgroup).to_lowercase()}</td>
            <td class="muted">{format!("{} · {}", h.facts.os, h.facts.kernel)}</td>
            <td class="bar-cell">
                <UsageBar
                    name="CPU"
                    value=cpu
                    max=cpus * 100.0
                    label=Signal::derive(move || {
                        format!("{} of {} CPUs", format::percent(cpu.get()), cpus)
                    })
                />
            </td>
            <td class="bar-cell">
                <UsageBar
                    name="Memory"
                    value=mem
                    max=mem_total
                    label=Signal::derive(move || {
                        format!("{} / {}", format::bytes(u64_from_f64(mem.get())), format::bytes(mem_bytes))
                    })
                />
            </td>
            <td>{h.runtimes.join(", ")}</td>
            <td>
                <AgentVersion version=agent_version outdated=agent_outdated server=server/>
            </td>
        </tr>
    }
}

#[component]
pub fn HostsPage() -> impl IntoView {
    super::title("Hosts");
    let session = use_session();
    let hosts = LocalResource::new(api::hosts);
    let samples = LocalResource::new(move || {
        let list = hosts
            .get()
            .and_then(Result::ok)
            .map(|l| l.items)
            .unwrap_or_default();
        latest_samples(list)
    });
    let handle =
        set_interval_with_handle(move || hosts.refetch(), std::time::Duration::from_secs(15)).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    let may_join = move || {
        session
            .me
            .with(|m| m.as_ref().is_some_and(rbac::may_join_hosts))
    };
    let server = server_version();
    let only_outdated = RwSignal::new(false);
    let sample_of = move |id: &str| {
        samples
            .get()
            .and_then(|v| v.into_iter().find(|(h, _)| h == id).and_then(|(_, s)| s))
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Hosts"</h1>
                <Show when=may_join>
                    <JoinHost on_joined=move || hosts.refetch()/>
                </Show>
            </header>
            {move || match hosts.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(list)) if list.items.is_empty() => {
                    view! {
                        <p class="empty">
                            "No hosts yet. An admin can join one with “Join a host”; "
                            "berth-server --local-agent joins this machine by itself."
                        </p>
                    }
                        .into_any()
                }
                Some(Ok(list)) => {
                    let errors = list.errors.clone();
                    let outdated = list.items.iter().filter(|h| h.agent_outdated).count();
                    view! {
                        <HostErrors errors=errors/>
                        {(outdated > 0)
                            .then(|| {
                                view! {
                                    <label class="inline">
                                        <input type="checkbox" data-testid="only-outdated" bind:checked=only_outdated/>
                                        {format!(" Only hosts whose agent is older than the server ({outdated})")}
                                    </label>
                                }
                            })}
                        <div class="table-wrap">
                            <table class="data" data-testid="hosts-table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Groups"</th>
                                        <th scope="col">"cgroups"</th>
                                        <th scope="col">"OS · kernel"</th>
                                        <th scope="col">"CPU"</th>
                                        <th scope="col">"Memory"</th>
                                        <th scope="col">"Runtimes"</th>
                                        <th scope="col">"Agent"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list
                                        .items
                                        .into_iter()
                                        .filter(|h| h.agent_outdated || !only_outdated.get())
                                        .map(|h| {
                                            let id = h.id.clone();
                                            let sample = Signal::derive(move || sample_of(&id));
                                            view! { <HostRow h=h sample=sample server=server/> }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// The token's lifetime in seconds from what is typed: hours, more than 0
/// and at most 168 (a week).
fn expiry_secs(hrs: &str) -> Result<u64, String> {
    match hrs.trim().parse::<f64>() {
        Ok(h) if h > 0.0 && h <= 168.0 => Ok(u64_from_f64(h * 3600.0)),
        _ => Err(format!(
            "expires in: {hrs:?} is not a number of hours from 0 to 168"
        )),
    }
}

/// Makes a join token (single use, expiring) and shows the line to run.
#[component]
fn JoinHost(on_joined: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let open = RwSignal::new(false);
    let groups = RwSignal::new(String::new());
    let hours = RwSignal::new(String::from("1"));
    let error = RwSignal::new(None::<ApiError>);
    let result = RwSignal::new(None::<JoinTokenResponse>);
    let busy = RwSignal::new(false);
    let copied = RwSignal::new(false);
    let on_joined = StoredValue::new(on_joined);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let secs = match expiry_secs(&hours.get()) {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(ApiError::local(e)));
                return;
            }
        };
        let req = CreateJoinToken {
            groups: groups
                .get()
                .split(',')
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect(),
            expires_in: Some(secs),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api::join_token(&req).await;
            busy.set(false);
            match r {
                Ok(t) => result.set(Some(t)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let copied_install = RwSignal::new(false);
    let copy = move |_| {
        if let Some(r) = result.get() {
            let clip = window().navigator().clipboard();
            let _ = clip.write_text(&r.command);
            copied.set(true);
        }
    };
    let copy_install = move |_| {
        if let Some(r) = result.get() {
            let clip = window().navigator().clipboard();
            let _ = clip.write_text(&r.install_command);
            copied_install.set(true);
        }
    };
    let close = move |_| {
        open.set(false);
        result.set(None);
        copied.set(false);
        copied_install.set(false);
        on_joined.with_value(|f| f());
    };
    view! {
        <button class="primary" data-testid="join-host" on:click=move |_| open.set(true)>
            "Join a host"
        </button>
        <Show when=move || open.get()>
            <div class="modal-backdrop">
                <div class="modal card" role="dialog" aria-modal="true" aria-labelledby="join-title">
                    <h2 id="join-title">"Join a host"</h2>
                    <ProblemBanner error=error/>
                    <Show
                        when=move || result.with(Option::is_some)
                        fallback=move || {
                            view! {
                                <form on:submit=submit>
                                    <label for="join-groups">"Groups (comma-separated, optional)"</label>
                                    <input id="join-groups" bind:value=groups placeholder="prod, eu-west"/>
                                    <label for="join-hours">"Expires in (hours)"</label>
                                    <input id="join-hours" inputmode="decimal" bind:value=hours/>
                                    <div class="actions">
                                        <button type="submit" class="primary" disabled=busy>"Create token"</button>
                                        <button type="button" class="ghost" on:click=close>"Cancel"</button>
                                    </div>
                                </form>
                            }
                        }
                    >
                        <p>
                            "On a fresh Debian host, run this as root: it installs berth-agent from this server, "
                            "writes the token and starts the agent. The certificate pin in it means only this "
                            "server can answer. The token works once and expires "
                            {move || result.get().map(|r| format::time(r.expires_at)).unwrap_or_default()}
                            " UTC."
                        </p>
                        <pre class="command" data-testid="install-command">
                            {move || result.get().map(|r| r.install_command).unwrap_or_default()}
                        </pre>
                        <div class="actions">
                            <button class="primary" data-testid="copy-install-command" on:click=copy_install>
                                {move || if copied_install.get() { "Copied" } else { "Copy install command" }}
                            </button>
                        </div>
                        <p>"Where berth-agent is installed already, join with:"</p>
                        <pre class="command" data-testid="join-command">
                            {move || result.get().map(|r| r.command).unwrap_or_default()}
                        </pre>
                        <div class="actions">
                            <button class="ghost" data-testid="copy-join-command" on:click=copy>
                                {move || if copied.get() { "Copied" } else { "Copy command" }}
                            </button>
                            <button class="ghost" on:click=close>"Done"</button>
                        </div>
                    </Show>
                </div>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_lives_up_to_a_week() {
        assert_eq!(expiry_secs(" 1 "), Ok(3600));
        assert_eq!(expiry_secs("0.5"), Ok(1800));
        assert_eq!(expiry_secs("168"), Ok(604_800));
        assert!(expiry_secs("0").is_err());
        assert!(expiry_secs("169").is_err());
        assert!(expiry_secs("soon").is_err());
    }
}
