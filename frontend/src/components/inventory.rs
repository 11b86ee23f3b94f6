//! The isolation views: namespaces (lsns-style, grouped by container, each
//! container's seven next to the host's with the shared ones marked) and the
//! cgroup tree with limits, usage bars and pressure.

use std::collections::BTreeMap;

use berth_api::inventory::{CgroupNode, ContainerNamespace, NAMESPACE_TYPES, NamespaceEntry};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::bars::UsageBar;
use crate::format;
use crate::num::f64_from_u64;

/// What each namespace type isolates (namespaces(7)).
pub fn explain(ns_type: &str) -> &'static str {
    match ns_type {
        "mnt" => "Mount points: the container sees its own root filesystem and mounts.",
        "uts" => "Hostname and NIS domain name.",
        "ipc" => "System V IPC objects and POSIX message queues.",
        "pid" => {
            "Process IDs: the container's first process is pid 1 and sees only its own processes."
        }
        "net" => "Network devices, addresses, routes, firewall rules and ports.",
        "user" => "User and group IDs: root inside can map to an unprivileged user outside.",
        "cgroup" => {
            "The view of the cgroup hierarchy: /proc/self/cgroup starts at the container's own cgroup."
        }
        "time" => "The boot-time and monotonic clocks' offsets.",
        _ => "",
    }
}

/// The explanation of every type, as a definition list.
#[component]
pub fn NamespaceHelp() -> impl IntoView {
    view! {
        <details class="ns-help-box">
            <summary>"What does each namespace isolate?"</summary>
            <dl class="ns-help">
                {NAMESPACE_TYPES
                    .iter()
                    .map(|t| view! { <dt>{*t}</dt><dd>{explain(t)}</dd> })
                    .collect_view()}
            </dl>
        </details>
    }
}

/// The host's own namespace of each type: the one pid 1 is in, else the
/// one that holds no container and has the most processes.
pub fn host_namespaces(entries: &[NamespaceEntry]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for t in NAMESPACE_TYPES {
        let pick = entries
            .iter()
            .filter(|e| e.ns_type == t && e.container.is_none())
            .max_by_key(|e| (e.pid == 1, e.nprocs));
        if let Some(e) = pick {
            out.insert(t.to_string(), e.inode);
        }
    }
    out
}

/// The namespace list grouped: the host's first (container `None`), then
/// one group per container.
pub fn group_by_container(
    entries: &[NamespaceEntry],
) -> Vec<(Option<String>, Vec<NamespaceEntry>)> {
    let mut groups: BTreeMap<Option<String>, Vec<NamespaceEntry>> = BTreeMap::new();
    for e in entries {
        groups
            .entry(e.container.clone())
            .or_default()
            .push(e.clone());
    }
    for v in groups.values_mut() {
        v.sort_by(|a, b| a.ns_type.cmp(&b.ns_type).then(a.inode.cmp(&b.inode)));
    }
    groups.into_iter().collect()
}

/// The lsns table, grouped by container.
#[component]
pub fn NamespaceList(
    entries: Vec<NamespaceEntry>,
    /// Container id → (name, link).
    names: BTreeMap<String, (String, String)>,
) -> impl IntoView {
    let groups = group_by_container(&entries);
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="lsns-table">
                <thead>
                    <tr>
                        <th scope="col">"NS"</th>
                        <th scope="col">"TYPE"</th>
                        <th scope="col">"NPROCS"</th>
                        <th scope="col">"PID"</th>
                        <th scope="col">"USER"</th>
                        <th scope="col">"COMMAND"</th>
                    </tr>
                </thead>
                {groups
                    .into_iter()
                    .map(|(c, list)| {
                        let heading = match &c {
                            None => view! { <span>"Host and other processes"</span> }.into_any(),
                            Some(id) => match names.get(id).cloned() {
                                Some((n, href)) => {
                                    view! { <span>"Container "<A href=href>{n}</A></span> }
                                        .into_any()
                                }
                                None => {
                                    view! { <span>"Container "<code>{format::short_id(id).to_string()}</code></span> }
                                        .into_any()
                                }
                            },
                        };
                        view! {
                            <tbody data-testid="ns-group" data-container=c.clone().unwrap_or_default()>
                                <tr>
                                    <th colspan="6" scope="rowgroup" class="group-head">{heading}</th>
                                </tr>
                                {list
                                    .into_iter()
                                    .map(|e| {
                                        view! {
                                            <tr>
                                                <td class="mono">{e.inode}</td>
                                                <td>{e.ns_type.clone()}</td>
                                                <td>{e.nprocs}</td>
                                                <td>{e.pid}</td>
                                                <td>{e.user.clone()}</td>
                                                <td class="mono">{e.command.clone()}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        }
                    })
                    .collect_view()}
            </table>
        </div>
    }
}

/// Containers' seven namespaces side by side with the host's.
#[component]
pub fn NamespaceMatrix(
    /// Host inode per type.
    host: BTreeMap<String, u64>,
    /// (container name, link, its namespaces).
    rows: Vec<(String, String, Vec<ContainerNamespace>)>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data ns-table" data-testid="ns-matrix">
                <caption class="visually-hidden">
                    "Each container's namespaces next to the host's; shared ones are marked"
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Container"</th>
                        {NAMESPACE_TYPES
                            .iter()
                            .map(|t| view! { <th scope="col" title=explain(t)>{*t}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>
                    <tr class="host-row">
                        <th scope="row">"host"</th>
                        {NAMESPACE_TYPES
                            .iter()
                            .map(|t| {
                                view! {
                                    <td class="mono">
                                        {host.get(*t).map(|i| i.to_string()).unwrap_or_else(|| "–".into())}
                                    </td>
                                }
                            })
                            .collect_view()}
                    </tr>
                    {rows
                        .into_iter()
                        .map(|(name, href, nss)| {
                            let shown = name.clone();
                            view! {
                                <tr data-testid="ns-row" data-name=name.clone()>
                                    <th scope="row"><A href=href>{shown}</A></th>
                                    {NAMESPACE_TYPES
                                        .iter()
                                        .map(|t| match nss.iter().find(|n| n.ns_type == *t) {
                                            Some(n) if n.shared_with_host => {
                                                view! {
                                                    <td class="shared" data-ns=*t data-shared="true" title="Shared with the host">
                                                        <span class="mono">{n.inode}</span>
                                                        " ⚠ shared"
                                                    </td>
                                                }
                                                    .into_any()
                                            }
                                            Some(n) => {
                                                view! {
                                                    <td class="own" data-ns=*t data-shared="false" title="Its own">
                                                        <span class="mono">{n.inode}</span>
                                                        " ✓ own"
                                                    </td>
                                                }
                                                    .into_any()
                                            }
                                            None => view! { <td class="muted" data-ns=*t>"–"</td> }.into_any(),
                                        })
                                        .collect_view()}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A container's own namespaces with explanations (container page).
#[component]
pub fn ContainerNamespaces(nss: Vec<ContainerNamespace>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data ns-table" data-testid="container-ns">
                <thead>
                    <tr>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Inode"</th>
                        <th scope="col">"Host's"</th>
                        <th scope="col">"Isolated?"</th>
                        <th scope="col">"What it isolates"</th>
                    </tr>
                </thead>
                <tbody>
                    {nss
                        .into_iter()
                        .map(|n| {
                            let shared = n.shared_with_host;
                            view! {
                                <tr data-ns=n.ns_type.clone() data-shared=shared.to_string()>
                                    <th scope="row">{n.ns_type.clone()}</th>
                                    <td class="mono">{n.inode}</td>
                                    <td class="mono">{n.host_inode}</td>
                                    <td class=if shared { "shared" } else { "own" }>
                                        {if shared { "⚠ shared with the host" } else { "✓ own namespace" }}
                                    </td>
                                    <td class="muted">{explain(&n.ns_type)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Parses a limit as the kernel writes it (`max` means none).
fn limit_bytes(n: &CgroupNode) -> Option<u64> {
    ["memory.max", "memory.limit_in_bytes"]
        .iter()
        .filter_map(|k| n.limits.get(*k))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        // v1 writes "no limit" as a huge page-aligned number.
        .find(|v| *v < (1u64 << 62))
}

fn node_view(n: CgroupNode, names: &BTreeMap<String, (String, String)>, depth: usize) -> AnyView {
    let mem = n.usage.get("memory_bytes").copied();
    let pids = n.usage.get("pids").copied();
    let limit = limit_bytes(&n);
    let pids_max = n.limits.get("pids.max").cloned();
    let cpu_max = n.limits.get("cpu.max").cloned();
    let label = match n.container.as_ref().and_then(|c| names.get(c)).cloned() {
        Some((name, href)) => view! { <A href=href>{name}</A> }.into_any(),
        None => view! { <span></span> }.into_any(),
    };
    let pressure = n.pressure.clone().map(|p| {
        let f = |v: Option<f64>| v.map(format::percent).unwrap_or_else(|| "–".into());
        format!(
            "psi cpu {} · mem {} · io {}",
            f(p.cpu),
            f(p.memory),
            f(p.io)
        )
    });
    let children: Vec<CgroupNode> = n.children.clone();
    let has_children = !children.is_empty();
    let row = view! {
        <div class="cg-node" data-testid="cg-node" data-path=n.path.clone()>
            <span class="path">{n.path.clone()} " " {label}</span>
            <span>
                {match (mem, limit) {
                    (Some(m), Some(l)) => {
                        view! {
                            <UsageBar
                                name="Memory"
                                value=f64_from_u64(m)
                                max=f64_from_u64(l)
                                label=format!("{} / {}", format::bytes(m), format::bytes(l))
                            />
                        }
                            .into_any()
                    }
                    (Some(m), None) => view! { <span>{format!("mem {}", format::bytes(m))}</span> }.into_any(),
                    _ => view! { <span class="muted">"–"</span> }.into_any(),
                }}
            </span>
            <span>
                {pids.map(|p| format!("pids {p}"))}
                {pids_max.map(|m| format!(" / {m}"))}
                {cpu_max.map(|c| format!(" · cpu.max {c}"))}
            </span>
            <span class="muted">{pressure}</span>
        </div>
    };
    if has_children {
        let kids = children
            .into_iter()
            .map(|c| view! { <li>{node_view(c, names, depth + 1)}</li> })
            .collect_view();
        view! {
            <details open=depth < 2>
                <summary>{row}</summary>
                <ul class="cg-tree">{kids}</ul>
            </details>
        }
        .into_any()
    } else {
        row.into_any()
    }
}

/// The cgroup tree.
#[component]
pub fn CgroupTree(
    roots: Vec<CgroupNode>,
    names: BTreeMap<String, (String, String)>,
) -> impl IntoView {
    view! {
        <div class="cg" data-testid="cgroup-tree">
            <div class="cg-node cg-head" aria-hidden="true">
                <b>"cgroup"</b>
                <b>"memory"</b>
                <b>"pids · cpu"</b>
                <b>"pressure"</b>
            </div>
            <ul class="cg-tree">
                {roots.into_iter().map(|r| view! { <li>{node_view(r, &names, 0)}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// Finds the node of a container in a tree.
pub fn find_container<'a>(nodes: &'a [CgroupNode], id: &str) -> Option<&'a CgroupNode> {
    for n in nodes {
        if n.container.as_deref() == Some(id) {
            return Some(n);
        }
        if let Some(f) = find_container(&n.children, id) {
            return Some(f);
        }
    }
    None
}

/// Container id → (name, page link), for labels in the trees.
pub fn name_map(
    host: &str,
    containers: &[berth_api::containers::Container],
) -> BTreeMap<String, (String, String)> {
    containers
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                (
                    c.name.clone(),
                    format!("/hosts/{}/containers/{}", api::enc(host), api::enc(&c.name)),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(t: &str, inode: u64, pid: u32, c: Option<&str>) -> NamespaceEntry {
        NamespaceEntry {
            inode,
            ns_type: t.into(),
            nprocs: 1,
            pid,
            user: "root".into(),
            command: "x".into(),
            container: c.map(str::to_string),
        }
    }

    #[test]
    fn host_namespaces_come_from_pid_1() {
        let list = vec![
            e("net", 5, 300, None),
            e("net", 4, 1, None),
            e("net", 9, 50, Some("c1")),
        ];
        assert_eq!(host_namespaces(&list)["net"], 4);
        let g = group_by_container(&list);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, None);
        assert_eq!(g[1].1[0].inode, 9);
    }

    #[test]
    fn every_type_is_explained() {
        assert!(NAMESPACE_TYPES.iter().all(|t| !explain(t).is_empty()));
    }
}
