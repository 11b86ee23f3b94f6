//! Role bindings: a role for a user or team in a scope. Owners grant
//! anything; admins grant up to admin inside their own scope, and see the
//! bindings inside it.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use berth_api::List;
use berth_api::auth::{CreateRoleBinding, Role, RoleBinding, Scope, Subject};

use crate::audit::AuditCtx;
use crate::auth::Principal;
use crate::db::{self, hosts::HostRecord};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::rbac::{self, Target};
use crate::state::AppState;

fn visible(p: &Principal, b: &RoleBinding, hosts: &HashMap<String, HostRecord>) -> bool {
    let target = match &b.scope {
        Scope::Host(h) => match hosts.get(h) {
            Some(rec) => rbac::host_target(rec),
            None => Target::Host { id: h, groups: &[] },
        },
        s => Target::scope(s),
    };
    rbac::role_on(&p.grants, target).is_some_and(|r| r >= Role::Admin)
}

#[utoipa::path(get, path = "/api/v1/role-bindings", tag = "roles",
    responses((status = 200, body = List<RoleBinding>), (status = 403, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<List<RoleBinding>>> {
    let hosts: HashMap<_, _> = db::hosts::list(&state.db)
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect();
    let items = db::bindings::list(&state.db)
        .await?
        .into_iter()
        .filter(|b| visible(&p, b, &hosts))
        .collect();
    Ok(Json(List::new(items)))
}

#[utoipa::path(post, path = "/api/v1/role-bindings", tag = "roles",
    request_body = CreateRoleBinding,
    responses((status = 201, body = RoleBinding),
        (status = 403, description = "above your role or outside your scope", body = berth_api::Problem),
        (status = 409, description = "the binding exists", body = berth_api::Problem),
        (status = 422, description = "unknown subject or host", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    audit: AuditCtx,
    Json(req): Json<CreateRoleBinding>,
) -> ApiResult<(StatusCode, Json<RoleBinding>)> {
    let host = match &req.scope {
        Scope::Host(h) => db::hosts::get(&state.db, h).await?,
        _ => None,
    };
    if let (Scope::Host(h), None) = (&req.scope, &host) {
        return Err(if p.is_owner() {
            ApiError::Unprocessable(format!("no host {h}"))
        } else {
            ApiError::NotFound(format!("no host {h}"))
        });
    }
    if let Scope::Group(g) = &req.scope {
        crate::agents::join::validate_group(g)?;
    }
    rbac::authorize_grant(&p, req.role, &req.scope, host.as_ref())?;
    if req.role == Role::Owner && req.scope != Scope::Global {
        return Err(ApiError::Unprocessable(
            "the owner role is global: give scope \"global\"".into(),
        ));
    }
    match &req.subject {
        Subject::User(u) => {
            if db::users::get(&state.db, u).await?.is_none() {
                return Err(ApiError::Unprocessable(format!("no user {u}")));
            }
        }
        Subject::Team(t) => {
            if db::teams::get(&state.db, t).await?.is_none() {
                return Err(ApiError::Unprocessable(format!("no team {t}")));
            }
        }
    }
    let b = db::bindings::create(&state.db, &req.subject, req.role, &req.scope)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.status() == StatusCode::CONFLICT => {
                ApiError::Conflict("this subject already has this role in this scope".into())
            }
            e => e,
        })?;
    audit.set_target(&b.id);
    audit.set_detail(format!(
        "{} {} in {}",
        subject_text(&b.subject),
        b.role,
        scope_text(&b.scope)
    ));
    if let Scope::Host(h) = &b.scope {
        audit.set_host(h);
    }
    Ok((StatusCode::CREATED, Json(b)))
}

fn subject_text(s: &Subject) -> String {
    match s {
        Subject::User(u) => format!("user {u}"),
        Subject::Team(t) => format!("team {t}"),
    }
}

fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Global => "global".into(),
        Scope::Group(g) => format!("group {g}"),
        Scope::Host(h) => format!("host {h}"),
    }
}

#[utoipa::path(delete, path = "/api/v1/role-bindings/{id}", tag = "roles",
    params(("id" = String, Path, description = "binding id")),
    responses((status = 204, description = "deleted"), (status = 404, body = berth_api::Problem),
        (status = 409, description = "the last owner", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    p: Principal,
    audit: AuditCtx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let b = db::bindings::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no role binding {id}")))?;
    let host = match &b.scope {
        Scope::Host(h) => db::hosts::get(&state.db, h).await?,
        _ => None,
    };
    let hosts: HashMap<_, _> = host.iter().map(|h| (h.id.clone(), h.clone())).collect();
    if !visible(&p, &b, &hosts) {
        return Err(ApiError::NotFound(format!("no role binding {id}")));
    }
    rbac::authorize_grant(&p, b.role, &b.scope, host.as_ref())?;
    if b.role == Role::Owner {
        let owners = db::bindings::list(&state.db)
            .await?
            .into_iter()
            .filter(|x| x.role == Role::Owner && matches!(x.subject, Subject::User(_)))
            .count();
        if owners <= 1 && matches!(b.subject, Subject::User(_)) {
            return Err(ApiError::Conflict(
                "the last owner binding cannot be removed".into(),
            ));
        }
    }
    db::bindings::delete(&state.db, &id).await?;
    audit.set_detail(format!(
        "{} {} in {}",
        subject_text(&b.subject),
        b.role,
        scope_text(&b.scope)
    ));
    Ok(StatusCode::NO_CONTENT)
}
