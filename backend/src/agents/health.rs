//! Health checks: every few seconds each host's `GET /v1/info`. A good answer
//! refreshes `last_seen` and the host's facts; a host whose last good answer
//! is older than [`OFFLINE_AFTER_MS`](crate::db::hosts::OFFLINE_AFTER_MS) is
//! offline. Every replica checks; the database holds the result.

use std::collections::HashMap;
use std::time::Duration;

use berth_api::agent::AgentInfo;
use berth_api::agent_api::AgentApi;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::db::{self, hosts::HostRecord};
use crate::error::ApiError;
use crate::state::AppState;

/// Checks one host now.
pub async fn check(
    state: &AppState,
    host: &HostRecord,
    timeout: Duration,
) -> Result<AgentInfo, ApiError> {
    let c = state.agents.client(host)?;
    let info = c.call("berth-server", timeout).info().await?;
    if info.host_id != host.id {
        return Err(ApiError::Host {
            status: 502,
            host: host.id.clone(),
            detail: format!(
                "the agent at {} says it is host {}, not {}",
                host.address, info.host_id, host.id
            ),
        });
    }
    db::hosts::record_seen(
        &state.db,
        &host.id,
        &info.facts,
        &info.runtimes,
        &info.version,
    )
    .await?;
    Ok(info)
}

/// Runs the checks until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let interval = state.config.health_interval();
    let timeout = interval.min(Duration::from_secs(2));
    let mut was_online: HashMap<String, bool> = HashMap::new();
    let mut last_prune = std::time::Instant::now();
    loop {
        match db::hosts::list(&state.db).await {
            Ok(hosts) => {
                let results = join_all(hosts.iter().map(|h| check(&state, h, timeout))).await;
                let now = db::now_ms();
                let mut online = 0;
                for (h, r) in hosts.iter().zip(results) {
                    let up = r.is_ok() || h.is_online(now);
                    if up {
                        online += 1;
                    }
                    let before = was_online.insert(h.id.clone(), r.is_ok());
                    match (&r, before) {
                        (Ok(_), Some(false) | None) => {
                            tracing::info!(host = %h.id, name = %h.name, "host is online")
                        }
                        (Err(e), Some(true) | None) => {
                            tracing::warn!(host = %h.id, name = %h.name, error = %e, "host health check failed")
                        }
                        _ => {}
                    }
                }
                was_online.retain(|id, _| hosts.iter().any(|h| &h.id == id));
                state.metrics.set_hosts(hosts.len(), online);
            }
            Err(e) => tracing::error!(error = %e, "health check: could not list hosts"),
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = std::time::Instant::now();
            let _ = db::sessions::prune(&state.db).await;
            let _ = db::join_tokens::prune(&state.db).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
            _ = state.health_kick.notified() => {
                // Give a freshly joined agent a moment to start serving.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}
