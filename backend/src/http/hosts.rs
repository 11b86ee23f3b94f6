//! Hosts: the list (only hosts in the caller's scopes), one host, changes,
//! removal (revocation), join tokens and agent registration.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use berth_api::List;
use berth_api::agent::{RegisterRequest, RegisterResponse};
use berth_api::agent_api::AgentApi;
use berth_api::hosts::{
    CreateJoinToken, Host, JoinTokenResponse, MAX_ALLOWLIST, MAX_ALLOWLIST_PATH_LEN,
    MAX_HOST_NAME_LEN, MAX_LABEL_VALUE_LEN, PatchHost,
};

use super::authorize::OnHost;
use crate::agents::join::{self, DEFAULT_JOIN_TTL, MAX_JOIN_TTL, validate_group};
use crate::audit::AuditCtx;
use crate::auth::Principal;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, OptionalJson};
use crate::rbac::{self, Action, Target, authorize};
use crate::state::AppState;

/// Every host the caller may see.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts",
    responses((status = 200, body = List<Host>), (status = 401, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<List<Host>>> {
    let settings = db::host_settings::all(&state.db).await?;
    let items = db::hosts::list(&state.db)
        .await?
        .iter()
        .filter(|h| rbac::can_see(&p, h))
        .map(|h| {
            let mut v = h.to_api();
            if let Some(s) = settings.get(&h.id) {
                s.apply(&mut v);
            }
            v
        })
        .collect();
    Ok(Json(List::new(items)))
}

#[utoipa::path(get, path = "/api/v1/hosts/{host}", tag = "hosts",
    params(("host" = String, Path, description = "host id (or its name, when unique)")),
    responses((status = 200, body = Host), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get(
    State(state): State<AppState>,
    OnHost { host: h, .. }: OnHost,
) -> ApiResult<Json<Host>> {
    let mut v = h.to_api();
    db::host_settings::get(&state.db, &h.id)
        .await?
        .apply(&mut v);
    Ok(Json(v))
}

fn validate_labels(labels: &BTreeMap<String, String>) -> ApiResult<()> {
    for (k, v) in labels {
        if !berth_api::hosts::is_valid_label_key(k) {
            return Err(ApiError::Unprocessable(format!(
                "invalid label key {k:?}: use 1 to 63 letters, digits, '_', '.', '-' or '/'"
            )));
        }
        if v.chars().count() > MAX_LABEL_VALUE_LEN {
            return Err(ApiError::Unprocessable(format!(
                "label {k:?}: the value is longer than {MAX_LABEL_VALUE_LEN} characters"
            )));
        }
    }
    Ok(())
}

/// Checks a bind-mount allowlist's syntax (the agent resolves it on the
/// real filesystem): absolute paths without `..` or NUL, trailing slashes
/// dropped. Empty means no allowlist.
fn validate_allowlist(list: Vec<String>) -> ApiResult<Option<Vec<String>>> {
    if list.len() > MAX_ALLOWLIST {
        return Err(ApiError::Unprocessable(format!(
            "bind_mount_allowlist: at most {MAX_ALLOWLIST} entries"
        )));
    }
    let mut out = Vec::new();
    for e in list {
        let ok = e.starts_with('/')
            && e.len() <= MAX_ALLOWLIST_PATH_LEN
            && !e.contains('\0')
            && !e.split('/').any(|c| c == "..");
        if !ok {
            return Err(ApiError::Unprocessable(format!(
                "bind_mount_allowlist: {e:?} must be an absolute host path without '..' (at most 4096 bytes)"
            )));
        }
        let trimmed = e.trim_end_matches('/');
        out.push(if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        });
    }
    out.sort();
    out.dedup();
    Ok((!out.is_empty()).then_some(out))
}

/// Renames, regroups or relabels a host, and changes its policy settings
/// (admins of the host; the bind-mount allowlist needs the owner role).
#[utoipa::path(patch, path = "/api/v1/hosts/{host}", tag = "hosts",
    params(("host" = String, Path, description = "host id")),
    request_body = PatchHost,
    responses((status = 200, body = Host), (status = 404, body = berth_api::Problem),
        (status = 403, description = "adding or removing a group the caller does not administer, or a setting the caller's role may not change", body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    OnHost {
        host: mut h,
        principal: p,
    }: OnHost,
    Json(req): Json<PatchHost>,
) -> ApiResult<Json<Host>> {
    if let Some(name) = req.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_HOST_NAME_LEN {
            return Err(ApiError::Unprocessable(format!(
                "name must have 1 to {MAX_HOST_NAME_LEN} characters"
            )));
        }
        h.name = name.to_string();
    }
    if let Some(mut groups) = req.groups {
        for g in &groups {
            validate_group(g)?;
        }
        groups.sort();
        groups.dedup();
        // Moving a host into or out of a group needs the admin role on that
        // group (or globally): a group admin cannot push hosts into others'
        // groups, nor take them out of groups they don't run.
        if authorize(&p, Action::ManageHost, Target::Global).is_err() {
            let changed = groups
                .iter()
                .filter(|g| !h.groups.contains(g))
                .chain(h.groups.iter().filter(|g| !groups.contains(g)));
            for g in changed {
                if authorize(&p, Action::ManageHost, Target::Group(g)).is_err() {
                    return Err(ApiError::Forbidden(format!(
                        "adding a host to or removing it from group {g:?} needs the admin role on that group"
                    )));
                }
            }
        }
        h.groups = groups;
    }
    if let Some(labels) = req.labels {
        validate_labels(&labels)?;
        h.labels = labels;
    }
    let mut settings = db::host_settings::get(&state.db, &h.id).await?;
    let settings_changed =
        req.allow_internal_registries.is_some() || req.bind_mount_allowlist.is_some();
    if let Some(allow) = req.allow_internal_registries {
        settings.allow_internal_registries = allow;
    }
    if let Some(list) = req.bind_mount_allowlist {
        authorize(&p, Action::SetBindMountPolicy, rbac::host_target(&h))?;
        settings.bind_mount_allowlist = validate_allowlist(list)?;
    }
    db::hosts::update_meta(&state.db, &h).await?;
    if settings_changed {
        db::host_settings::set(&state.db, &h.id, &settings).await?;
    }
    let mut v = h.to_api();
    settings.apply(&mut v);
    Ok(Json(v))
}

/// Removes a host: its pinned certificate is forgotten and its agent is told
/// to leave (best effort), so from then on neither side trusts the other.
#[utoipa::path(delete, path = "/api/v1/hosts/{host}", tag = "hosts",
    params(("host" = String, Path, description = "host id")),
    responses((status = 204, description = "removed"), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    OnHost {
        host: h,
        principal: p,
    }: OnHost,
    audit: AuditCtx,
) -> ApiResult<StatusCode> {
    audit.set_host(&h.id);
    audit.set_target(&h.name);
    if let Ok(c) = state.agents.client(&h) {
        let left = c.call(&p.username, Duration::from_secs(3)).leave().await;
        if let Err(e) = left {
            audit.set_detail(format!("the agent was not told to leave: {e}"));
            tracing::warn!(host = %h.id, error = %e, "removed host's agent could not be told to leave");
        }
    }
    db::hosts::delete(&state.db, &h.id).await?;
    state.agents.forget(&h.id);
    tracing::info!(host = %h.id, name = %h.name, by = %p.username, "host removed");
    Ok(StatusCode::NO_CONTENT)
}

/// A join token for a new host (admins; a scoped admin's new host must carry
/// one of its groups).
#[utoipa::path(post, path = "/api/v1/hosts/join-tokens", tag = "hosts",
    request_body(content = CreateJoinToken, description = "optional; groups of the new host and lifetime in seconds"),
    responses((status = 200, body = JoinTokenResponse), (status = 403, body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn join_token(
    State(state): State<AppState>,
    p: Principal,
    OptionalJson(req): OptionalJson<CreateJoinToken>,
) -> ApiResult<Json<JoinTokenResponse>> {
    let mut groups = req.groups;
    for g in &groups {
        validate_group(g)?;
    }
    groups.sort();
    groups.dedup();
    // Without the global admin role, the new host may only carry groups the
    // caller administers: every one of them, and at least one.
    if authorize(&p, Action::JoinHost, Target::Global).is_err() {
        if groups.is_empty() {
            return Err(ApiError::Forbidden(
                "joining a host needs the admin role globally, or on every group the new host will carry: give your groups in `groups`".into(),
            ));
        }
        if let Some(g) = groups
            .iter()
            .find(|g| authorize(&p, Action::JoinHost, Target::Group(g)).is_err())
        {
            return Err(ApiError::Forbidden(format!(
                "joining a host into group {g:?} needs the admin role on that group"
            )));
        }
    }
    let ttl = match req.expires_in {
        None => DEFAULT_JOIN_TTL,
        Some(0) => {
            return Err(ApiError::Unprocessable(
                "expires_in must be positive".into(),
            ));
        }
        Some(s) if Duration::from_secs(s) > MAX_JOIN_TTL => {
            return Err(ApiError::Unprocessable(format!(
                "expires_in must be at most {} seconds",
                MAX_JOIN_TTL.as_secs()
            )));
        }
        Some(s) => Duration::from_secs(s),
    };
    Ok(Json(
        join::create_token(&state, &groups, ttl, &p.username).await?,
    ))
}

/// Called by `berth-agent join` with a join token's secret.
#[utoipa::path(post, path = "/api/v1/hosts/register", tag = "hosts",
    request_body = RegisterRequest,
    responses((status = 200, body = RegisterResponse),
        (status = 401, description = "unknown, used or expired join token", body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)))]
pub async fn register(
    State(state): State<AppState>,
    audit: AuditCtx,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<Json<RegisterResponse>> {
    audit.set_actor(&format!("agent:{}", req.name));
    let r = join::register(&state, req).await?;
    audit.set_host(&r.host_id);
    Ok(Json(r))
}
