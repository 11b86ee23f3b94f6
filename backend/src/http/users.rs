//! Users: owners manage accounts; admins may list them (to grant roles);
//! everyone may read themselves and change their own password.

use axum::extract::State;
use axum::http::StatusCode;
use berth_api::List;
use berth_api::auth::{CreateUser, PatchUser, Role, Scope, User};

use super::setup::validate_name;
use crate::auth::{Principal, password};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::rbac::{Action, Target, authorize};
use crate::state::AppState;

/// Every user (admins and owners).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = List<User>), (status = 403, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<List<User>>> {
    let users = db::users::list(&state.db).await?;
    Ok(Json(List::new(users.iter().map(|u| u.to_api()).collect())))
}

/// Creates a user (owners).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = CreateUser,
    responses((status = 201, body = User), (status = 409, description = "name taken", body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    audit: crate::audit::AuditCtx,
    Json(req): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    validate_name("user name", &req.username)?;
    password::validate(&req.password)?;
    if db::users::by_username(&state.db, &req.username)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "user name {:?} is taken",
            req.username
        )));
    }
    let hash = password::hash(&req.password).await?;
    let u = db::users::create(&state.db, &req.username, &hash)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.status() == StatusCode::CONFLICT => {
                ApiError::Conflict(format!("user name {:?} is taken", req.username))
            }
            e => e,
        })?;
    audit.set_target(&u.id);
    Ok((StatusCode::CREATED, Json(u.to_api())))
}

/// One user: yourself, or anyone for admins.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = User), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<User>> {
    // Another user's needs a role anywhere: checked by the authorize
    // middleware (`Access::SelfOrAnywhere`).
    let u = db::users::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    Ok(Json(u.to_api()))
}

/// Is `user_id` the only user holding a global owner binding?
async fn is_last_owner(state: &AppState, user_id: &str) -> ApiResult<bool> {
    let owners: Vec<String> = db::bindings::list(&state.db)
        .await?
        .into_iter()
        .filter(|b| b.role == Role::Owner && b.scope == Scope::Global)
        .filter_map(|b| match b.subject {
            berth_api::auth::Subject::User(u) => Some(u),
            berth_api::auth::Subject::Team(_) => None,
        })
        .collect();
    Ok(owners.iter().all(|o| o == user_id) && owners.iter().any(|o| o == user_id))
}

/// Changes a password (owners, or the user itself) or the disabled flag
/// (owners). Either ends every session and revokes every API token of the
/// user. Users changing their own password must be logged in with a session
/// (not an API token) and give `current_password`.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "user id")),
    request_body = PatchUser,
    responses((status = 200, body = User), (status = 404, body = berth_api::Problem),
        (status = 403, description = "not allowed, or an own password change without a session or with a wrong current_password", body = berth_api::Problem),
        (status = 409, description = "would lock out the last owner", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(req): Json<PatchUser>,
) -> ApiResult<Json<User>> {
    // Changing another user needs the global role (checked by the authorize
    // middleware, `Access::SelfOrGlobal`); so does disabling oneself.
    if id == p.user_id && req.disabled.is_some() {
        authorize(&p, Action::ManageAccounts, Target::Global)?;
    }
    let u = db::users::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    if req.password.is_none() && req.disabled.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give password or disabled".into(),
        ));
    }
    if let Some(pw) = &req.password {
        password::validate(pw)?;
        if id == p.user_id {
            check_own_password_change(&p, &u, req.current_password.as_deref()).await?;
        }
    }
    if req.disabled == Some(true) {
        if id == p.user_id {
            return Err(ApiError::Conflict(
                "you cannot disable your own account".into(),
            ));
        }
        if is_last_owner(&state, &id).await? {
            return Err(ApiError::Conflict(
                "the last owner cannot be disabled".into(),
            ));
        }
    }
    if let Some(pw) = &req.password {
        let hash = password::hash(pw).await?;
        db::users::set_password(&state.db, &u.id, &hash).await?;
    }
    if let Some(d) = req.disabled {
        db::users::set_disabled(&state.db, &u.id, d).await?;
    }
    let u = db::users::get(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    Ok(Json(u.to_api()))
}

/// A user changing its own password proves it is the person, not a leaked
/// API token: it must use a session and know the current password.
async fn check_own_password_change(
    p: &Principal,
    u: &db::users::UserRecord,
    current: Option<&str>,
) -> ApiResult<()> {
    if p.session_id().is_none() {
        return Err(ApiError::Forbidden(
            "changing your own password needs a login session, not an API token".into(),
        ));
    }
    let current = current.ok_or_else(|| {
        ApiError::Forbidden("changing your own password needs current_password".into())
    })?;
    if current.chars().count() > password::MAX_PASSWORD_LEN
        || !password::verify(current, &u.password_hash).await?
    {
        return Err(ApiError::Forbidden(
            "current_password is not your current password".into(),
        ));
    }
    Ok(())
}

/// Deletes a user with its sessions, tokens, memberships and bindings.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "user id")),
    responses((status = 204, description = "deleted"), (status = 404, body = berth_api::Problem),
        (status = 409, description = "yourself or the last owner", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if id == p.user_id {
        return Err(ApiError::Conflict(
            "you cannot delete your own account".into(),
        ));
    }
    if is_last_owner(&state, &id).await? {
        return Err(ApiError::Conflict(
            "the last owner cannot be deleted".into(),
        ));
    }
    if !db::users::delete(&state.db, &id).await? {
        return Err(ApiError::NotFound(format!("no user {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
