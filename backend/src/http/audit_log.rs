//! `GET /api/v1/audit`: the audit log, newest first, filtered. Admins see the
//! rows about hosts in their scope; global admins and owners see everything.
//! There is no endpoint that changes a row.

use axum::extract::State;
use berth_api::List;
use berth_api::auth::{AuditEvent, MAX_AUDIT_LIMIT, Role};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::Principal;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::rbac::{self, Target};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// User name of the actor.
    pub actor: Option<String>,
    /// An action (`container.create`), or a prefix ending in `*` (`container.*`).
    pub action: Option<String>,
    /// A host id.
    pub host: Option<String>,
    /// RFC 3339 time: rows at or after it.
    #[param(schema_with = berth_api::schema::date_time)]
    pub since: Option<String>,
    /// RFC 3339 time: rows at or before it.
    #[param(schema_with = berth_api::schema::date_time)]
    pub until: Option<String>,
    /// `success` or `failure`.
    #[param(schema_with = berth_api::schema::audit_outcome)]
    pub outcome: Option<String>,
    /// At most this many rows (default 100, at most 1000).
    #[param(schema_with = berth_api::schema::audit_limit)]
    pub limit: Option<i64>,
}

fn parse_time(name: &str, s: &Option<String>) -> ApiResult<Option<i64>> {
    s.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc).timestamp_millis())
                .map_err(|e| {
                    ApiError::BadRequest(format!("{name}: {s:?} is not an RFC 3339 time: {e}"))
                })
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = List<AuditEvent>), (status = 400, body = berth_api::Problem),
        (status = 403, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<List<AuditEvent>>> {
    if let Some(o) = &q.outcome
        && o != "success"
        && o != "failure"
    {
        return Err(ApiError::BadRequest(format!(
            "outcome: {o:?} is neither success nor failure"
        )));
    }
    if let Some(l) = q.limit
        && !u64::try_from(l).is_ok_and(|l| (1..=MAX_AUDIT_LIMIT).contains(&l))
    {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_AUDIT_LIMIT}"
        )));
    }
    let only_hosts = if rbac::role_on(&p.grants, Target::Global).is_some_and(|r| r >= Role::Admin) {
        None
    } else {
        Some(
            db::hosts::list(&state.db)
                .await?
                .into_iter()
                .filter(|h| {
                    rbac::role_on(&p.grants, rbac::host_target(h)).is_some_and(|r| r >= Role::Admin)
                })
                .map(|h| h.id)
                .collect(),
        )
    };
    let filter = db::audit::Filter {
        actor: q.actor.filter(|s| !s.is_empty()),
        action: q.action.filter(|s| !s.is_empty()),
        host: q.host.filter(|s| !s.is_empty()),
        since: parse_time("since", &q.since)?,
        until: parse_time("until", &q.until)?,
        outcome: q.outcome,
        only_hosts,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(List::new(db::audit::list(&state.db, &filter).await?)))
}
