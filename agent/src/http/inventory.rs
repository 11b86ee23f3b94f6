//! `/v1/namespaces`, `/v1/containers/{c}/namespaces` and `/v1/cgroups`.

use std::collections::HashMap;
use std::path::Path;

use berth_api::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::inventory;

pub(super) async fn namespaces(s: &AppState) -> ApiResult<Vec<NamespaceEntry>> {
    let running: Vec<(String, u32)> = s
        .containers
        .running()
        .into_iter()
        .map(|(id, _, pid)| (id, pid))
        .collect();
    tokio::task::spawn_blocking(move || inventory::namespaces(Path::new("/proc"), &running))
        .await
        .map_err(|e| ApiError::internal("list namespaces", &e))
}

/// Berth's containers only (a Docker container is a 404).
pub(super) fn container_namespaces(s: &AppState, c: &str) -> ApiResult<Vec<ContainerNamespace>> {
    let (_, pid) = s.containers.running_pid(c).or_else(|e| match e {
        // A paused container still has its namespaces.
        crate::containers::Error::Conflict(_) => s
            .containers
            .running()
            .into_iter()
            .find(|(id, name, _)| *id == c || *name == c || id.starts_with(c))
            .map(|(id, _, pid)| (id, pid))
            .ok_or(e),
        other => Err(other),
    })?;
    let proc = Path::new("/proc");
    let host = inventory::host_pid(proc);
    let v = inventory::container_namespaces(proc, pid, host);
    if v.is_empty() {
        return Err(ApiError::conflict(format!("container {c} is not running")));
    }
    Ok(v)
}

pub(super) async fn cgroups(s: &AppState) -> ApiResult<CgroupNode> {
    let parent = s.containers.cgroup_parent();
    let names: HashMap<String, String> = s.containers.names().into_iter().collect();
    tokio::task::spawn_blocking(move || {
        let layout = berth_runtime::cgroups::CgroupLayout::detect()
            .map_err(|e| ApiError::internal("read the cgroup layout", &e))?;
        Ok(inventory::cgroup_tree(&layout, &parent, &names))
    })
    .await
    .map_err(|e| ApiError::internal("read the cgroup tree", &e))?
}
