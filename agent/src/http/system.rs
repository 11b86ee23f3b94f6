//! `GET /v1/info` (also the server's health check) and `POST /v1/leave`.

use berth_api::agent::AgentInfo;

use super::AppState;
use super::error::{ApiError, ApiResult};

pub(super) fn info(s: &AppState) -> AgentInfo {
    AgentInfo {
        host_id: s.auth.host_id().unwrap_or_default(),
        version: berth_api::VERSION.to_string(),
        facts: crate::facts::host_facts(),
        runtimes: if s.docker.is_some() {
            vec!["berth".into(), "docker".into()]
        } else {
            vec!["berth".into()]
        },
        started_at: s.started_at,
    }
}

/// Forgets the server's key: from now on every request is refused.
pub(super) fn leave(s: &AppState) -> ApiResult<()> {
    let path = s.config.paths().join_file();
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ApiError::internal("forget the join", &e)),
    }
    s.auth.clear();
    tracing::warn!("left the server: every request is refused from now on");
    Ok(())
}
