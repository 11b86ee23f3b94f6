//! The overview: hosts online and offline, containers by state, the top
//! consumers of CPU and memory across all hosts, and recent audit events for
//! those who may read them. Each tile links to its detail page.
//!
//! Per-container usage comes from each host's cgroup tree (one call per
//! host, not one per container): memory as it stands, CPU from the growth
//! of `cpu_usec` between two readings.

use std::collections::HashMap;

use berth_api::List;
use berth_api::auth::AuditEvent;
use berth_api::containers::{Container, ContainerState};
use berth_api::hosts::HostStatus;
use berth_api::inventory::CgroupNode;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api::{self, ApiError, ApiResult, AuditFilter, ContainerFilter};
use crate::components::problem::{HostErrors, ProblemBanner};
use crate::format;
use crate::num::f64_from_u64;
use crate::rbac;
use crate::session::{Session, use_session};

/// Usage of one container from its cgroup node.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub host: String,
    pub container: String,
    pub memory_bytes: u64,
    pub cpu_usec: u64,
}

/// Every cgroup node that holds a container, depth first.
pub fn container_usages(host: &str, nodes: &[CgroupNode], out: &mut Vec<Usage>) {
    for n in nodes {
        if let Some(c) = &n.container {
            out.push(Usage {
                host: host.to_string(),
                container: c.clone(),
                memory_bytes: n.usage.get("memory_bytes").copied().unwrap_or(0),
                cpu_usec: n.usage.get("cpu_usec").copied().unwrap_or(0),
            });
        }
        container_usages(host, &n.children, out);
    }
}

/// CPU percent of one core per container between two readings `dt_s` apart.
pub fn cpu_percents(
    before: &[Usage],
    after: &[Usage],
    dt_s: f64,
) -> HashMap<(String, String), f64> {
    let prev: HashMap<(&str, &str), u64> = before
        .iter()
        .map(|u| ((u.host.as_str(), u.container.as_str()), u.cpu_usec))
        .collect();
    after
        .iter()
        .filter_map(|u| {
            let p = prev.get(&(u.host.as_str(), u.container.as_str()))?;
            let d = f64_from_u64(u.cpu_usec.checked_sub(*p)?);
            (dt_s > 0.0).then(|| {
                (
                    (u.host.clone(), u.container.clone()),
                    d / (dt_s * 1e6) * 100.0,
                )
            })
        })
        .collect()
}

/// The five biggest consumers of CPU and of memory, as
/// `(host, container name, value)`, and the hosts that did not answer.
#[derive(Debug, Clone, Default, PartialEq)]
struct Top {
    cpu: Vec<(String, String, f64)>,
    memory: Vec<(String, String, u64)>,
    errors: Vec<String>,
}

/// A container's page.
fn container_link(host: &str, name: &str) -> String {
    format!("/hosts/{}/containers/{}", api::enc(host), api::enc(name))
}

/// Ranks the readings: the five highest CPU percents and the five largest
/// memory footprints, named by `names` (else by short id).
fn rank(
    cpu: &HashMap<(String, String), f64>,
    now: &[Usage],
    names: &HashMap<(String, String), String>,
    errors: Vec<String>,
) -> Top {
    let name = |h: &str, c: &str| {
        names
            .get(&(h.to_string(), c.to_string()))
            .cloned()
            .unwrap_or_else(|| format::short_id(c).to_string())
    };
    let mut by_cpu: Vec<(String, String, f64)> = cpu
        .iter()
        .map(|((h, c), p)| (h.clone(), name(h, c), *p))
        .collect();
    by_cpu.sort_by(|a, b| b.2.total_cmp(&a.2));
    by_cpu.truncate(5);
    let mut by_mem: Vec<(String, String, u64)> = now
        .iter()
        .map(|u| (u.host.clone(), name(&u.host, &u.container), u.memory_bytes))
        .collect();
    by_mem.sort_by_key(|m| std::cmp::Reverse(m.2));
    by_mem.truncate(5);
    Top {
        cpu: by_cpu,
        memory: by_mem,
        errors,
    }
}

type Containers = LocalResource<ApiResult<List<Container>>>;

/// Reads every online host's cgroups once and updates `top`; CPU needs the
/// reading before, kept in `last` as `(unix seconds, usages)`.
fn measure(
    session: Session,
    containers: Containers,
    top: RwSignal<Option<Top>>,
    last: StoredValue<Option<(f64, Vec<Usage>)>>,
) {
    let hosts: Vec<String> = session.hosts.with_untracked(|hs| {
        hs.iter()
            .filter(|h| h.status == HostStatus::Online)
            .map(|h| h.id.clone())
            .collect()
    });
    spawn_local(async move {
        let mut now = Vec::new();
        let mut errors = Vec::new();
        for h in &hosts {
            match api::host_cgroups(h).await {
                Ok(tree) => container_usages(h, &tree, &mut now),
                Err(e) => errors.push(format!("{}: {e}", session.host_name(h))),
            }
        }
        let t = js_sys::Date::now() / 1000.0;
        let cpu = last
            .get_value()
            .map(|(t0, before)| cpu_percents(&before, &now, t - t0))
            .unwrap_or_default();
        let names: HashMap<(String, String), String> = containers
            .get_untracked()
            .and_then(Result::ok)
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|c| ((c.host.clone(), c.id.clone()), c.name))
                    .collect()
            })
            .unwrap_or_default();
        top.set(Some(rank(&cpu, &now, &names, errors)));
        last.set_value(Some((t, now)));
    });
}

/// Hosts online and offline.
#[component]
fn HostsTile() -> impl IntoView {
    let session = use_session();
    let online = move || {
        session
            .hosts
            .with(|hs| hs.iter().filter(|h| h.status == HostStatus::Online).count())
    };
    let offline = move || session.hosts.with(Vec::len) - online();
    view! {
        <article class="card tile" data-testid="tile-hosts">
            <h2><A href="/hosts">"Hosts"</A></h2>
            <p>
                <span class="big" data-testid="hosts-online">{online}</span>
                " online · "
                <span data-testid="hosts-offline">{offline}</span>
                " offline"
            </p>
        </article>
    }
}

/// Containers by state, each a link to the filtered list.
#[component]
fn ContainersTile(containers: Containers) -> impl IntoView {
    let by_state = move |s: ContainerState| {
        containers
            .get()
            .and_then(Result::ok)
            .map(|l| l.items.iter().filter(|c: &&Container| c.state == s).count())
            .unwrap_or(0)
    };
    view! {
        <article class="card tile" data-testid="tile-containers">
            <h2><A href="/containers">"Containers"</A></h2>
            <ul class="plain">
                {[ContainerState::Running, ContainerState::Paused, ContainerState::Created, ContainerState::Stopped]
                    .into_iter()
                    .map(|s| {
                        view! {
                            <li>
                                <A href=format!("/containers?state={}", s.as_str())>
                                    <span class=format!("pill state-{s}")>{s.as_str()}</span>
                                </A>
                                " "
                                <b data-testid=format!("count-{s}")>{move || by_state(s)}</b>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </article>
    }
}

/// The top five by CPU.
#[component]
fn TopCpuTile(top: RwSignal<Option<Top>>) -> impl IntoView {
    view! {
        <article class="card tile" data-testid="tile-cpu">
            <h2><A href="/containers?state=running">"Top CPU"</A></h2>
            {move || match top.get() {
                None => view! { <p class="loading">"Measuring…"</p> }.into_any(),
                Some(t) if t.cpu.is_empty() => {
                    view! { <p class="muted">"No running containers measured yet."</p> }.into_any()
                }
                Some(t) => {
                    view! {
                        <ol>
                            {t
                                .cpu
                                .into_iter()
                                .map(|(h, n, p)| {
                                    view! {
                                        <li><A href=container_link(&h, &n)>{n.clone()}</A>" "{format::percent(p)}</li>
                                    }
                                })
                                .collect_view()}
                        </ol>
                    }
                        .into_any()
                }
            }}
        </article>
    }
}

/// The top five by memory, and the hosts whose cgroups could not be read.
#[component]
fn TopMemoryTile(top: RwSignal<Option<Top>>) -> impl IntoView {
    view! {
        <article class="card tile" data-testid="tile-memory">
            <h2><A href="/containers?state=running">"Top memory"</A></h2>
            {move || match top.get() {
                None => view! { <p class="loading">"Measuring…"</p> }.into_any(),
                Some(t) if t.memory.is_empty() => {
                    view! { <p class="muted">"No running containers."</p> }.into_any()
                }
                Some(t) => {
                    view! {
                        <ol>
                            {t
                                .memory
                                .into_iter()
                                .map(|(h, n, b)| {
                                    view! {
                                        <li><A href=container_link(&h, &n)>{n.clone()}</A>" "{format::bytes(b)}</li>
                                    }
                                })
                                .collect_view()}
                        </ol>
                    }
                        .into_any()
                }
            }}
            {move || {
                top.get()
                    .filter(|t| !t.errors.is_empty())
                    .map(|t| view! { <p class="hint">{t.errors.join("; ")}</p> })
            }}
        </article>
    }
}

/// The latest audit events (`None`: the user may not read them).
#[component]
fn AuditTile(audit: LocalResource<Option<ApiResult<List<AuditEvent>>>>) -> impl IntoView {
    view! {
        <article class="card tile" data-testid="tile-audit">
            <h2><A href="/admin/audit">"Recent activity"</A></h2>
            {move || match audit.get() {
                Some(Some(Ok(l))) if l.items.is_empty() => {
                    view! { <p class="muted">"Nothing yet."</p> }.into_any()
                }
                Some(Some(Ok(l))) => {
                    view! {
                        <ul class="plain">
                            {l
                                .items
                                .into_iter()
                                .map(|e| {
                                    view! {
                                        <li>
                                            <span class="muted">{format::ago(e.time, format::now())}</span>
                                            " "
                                            <b>{e.actor}</b>
                                            " "
                                            {e.action}
                                            " "
                                            {e.target.unwrap_or_default()}
                                            {(e.outcome != "success").then(|| view! { <span class="pill bad">{e.outcome.clone()}</span> })}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
                Some(Some(Err(e))) => {
                    let e: ApiError = e;
                    view! { <p class="hint">{e.to_string()}</p> }.into_any()
                }
                _ => view! { <p class="loading">"Loading…"</p> }.into_any(),
            }}
        </article>
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    super::title("Overview");
    let session = use_session();
    let containers =
        LocalResource::new(|| async { api::containers(&ContainerFilter::default()).await });
    let may_audit = move || {
        session
            .me
            .with(|m| m.as_ref().is_some_and(rbac::is_admin_somewhere))
    };
    let audit = LocalResource::new(move || {
        let allowed = may_audit();
        async move {
            if allowed {
                Some(
                    api::audit(&AuditFilter {
                        limit: "8".into(),
                        ..Default::default()
                    })
                    .await,
                )
            } else {
                None
            }
        }
    });

    // Two readings of every host's cgroups, a few seconds apart, then every 10 s.
    let top = RwSignal::new(None::<Top>);
    let last = StoredValue::new(None::<(f64, Vec<Usage>)>);
    let sample = move || measure(session, containers, top, last);
    // First reading once hosts are known, a second soon after for CPU.
    Effect::new(move |prev: Option<bool>| {
        let have = session.hosts.with(|h| !h.is_empty());
        if have && prev != Some(true) {
            sample();
            set_timeout(sample, std::time::Duration::from_secs(3));
        }
        have
    });
    let timer = set_interval_with_handle(
        move || {
            session.refresh_hosts();
            containers.refetch();
            sample();
        },
        std::time::Duration::from_secs(10),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });

    let container_error = move || containers.get().and_then(Result::err);
    let container_host_errors = move || {
        containers
            .get()
            .and_then(Result::ok)
            .map(|l| l.errors)
            .unwrap_or_default()
    };

    view! {
        <section class="page">
            <h1>"Overview"</h1>
            <ProblemBanner error=Signal::derive(container_error)/>
            <HostErrors errors=Signal::derive(container_host_errors)/>
            <div class="tiles">
                <HostsTile/>
                <ContainersTile containers=containers/>
                <TopCpuTile top=top/>
                <TopMemoryTile top=top/>
                <Show when=may_audit>
                    <AuditTile audit=audit/>
                </Show>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(c: &str, cpu: u64) -> Usage {
        Usage {
            host: "h".into(),
            container: c.into(),
            memory_bytes: 0,
            cpu_usec: cpu,
        }
    }

    #[test]
    fn cpu_from_two_readings() {
        let p = cpu_percents(
            &[u("a", 1_000_000), u("b", 0)],
            &[u("a", 1_500_000), u("c", 9)],
            1.0,
        );
        assert_eq!(p.len(), 1);
        assert!((p[&("h".to_string(), "a".to_string())] - 50.0).abs() < 1e-9);
    }

    #[test]
    fn the_top_five_are_named_or_short_ids() {
        let now: Vec<Usage> = (0..7u64)
            .map(|i| Usage {
                memory_bytes: i << 20,
                ..u(&format!("c{i}"), 0)
            })
            .collect();
        let cpu = now
            .iter()
            .map(|x| {
                (
                    (x.host.clone(), x.container.clone()),
                    f64_from_u64(x.memory_bytes),
                )
            })
            .collect();
        let names = HashMap::from([(("h".to_string(), "c6".to_string()), "web".to_string())]);
        let top = rank(&cpu, &now, &names, vec!["h2: down".into()]);
        assert_eq!(top.cpu.len(), 5);
        assert_eq!(top.cpu[0].1, "web");
        assert_eq!(top.memory[0], ("h".to_string(), "web".to_string(), 6 << 20));
        assert_eq!(top.memory[4].1, "c2");
        assert_eq!(top.errors, vec!["h2: down".to_string()]);
    }
}
