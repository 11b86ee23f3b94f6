//! Teams and their members (owners manage them; admins may list them).

use axum::extract::State;
use axum::http::StatusCode;
use berth_api::List;
use berth_api::auth::{CreateTeam, Team};

use super::setup::validate_name;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses((status = 200, body = List<Team>), (status = 403, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<List<Team>>> {
    Ok(Json(List::new(db::teams::list(&state.db).await?)))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams",
    request_body = CreateTeam,
    responses((status = 201, body = Team), (status = 409, description = "name taken", body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    audit: crate::audit::AuditCtx,
    Json(req): Json<CreateTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    validate_name("team name", &req.name)?;
    let t = db::teams::create(&state.db, &req.name)
        .await
        .map_err(|e| match ApiError::from(e) {
            e if e.status() == StatusCode::CONFLICT => {
                ApiError::Conflict(format!("team name {:?} is taken", req.name))
            }
            e => e,
        })?;
    audit.set_target(&t.id);
    Ok((StatusCode::CREATED, Json(t)))
}

#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "team id")),
    responses((status = 200, body = Team), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Team>> {
    db::teams::get(&state.db, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no team {id}")))
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "team id")),
    responses((status = 204, description = "deleted"), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if db::teams::delete(&state.db, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no team {id}")))
    }
}

#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = String, Path, description = "team id"), ("user_id" = String, Path, description = "user id")),
    responses((status = 204, description = "the user is a member"), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    if db::teams::get(&state.db, &id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no team {id}")));
    }
    if db::users::get(&state.db, &user_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user {user_id}")));
    }
    db::teams::add_member(&state.db, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = String, Path, description = "team id"), ("user_id" = String, Path, description = "user id")),
    responses((status = 204, description = "removed"), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    if db::teams::remove_member(&state.db, &id, &user_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "user {user_id} is not a member of team {id}"
        )))
    }
}
