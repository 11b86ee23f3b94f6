//! API tokens: for scripts. The secret is shown once, at creation; only its
//! hash is kept. A token acts as its user, with the user's current roles.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_api::List;
use berth_api::auth::{ApiToken, CreateToken, CreatedToken};

use crate::audit::AuditCtx;
use crate::auth::{API_TOKEN_PREFIX, Principal, secret_hash};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// The caller's tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = List<ApiToken>)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, p: Principal) -> ApiResult<Json<List<ApiToken>>> {
    let items = db::tokens::list_for_user(&state.db, &p.user_id)
        .await?
        .iter()
        .map(|t| t.to_api())
        .collect();
    Ok(Json(List::new(items)))
}

/// Makes a token for the caller; the answer is the only time its secret is
/// shown. Only a login session may make tokens: an API token cannot mint
/// more (a leaked token must not outlive its revocation).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens",
    request_body = CreateToken,
    responses((status = 201, body = CreatedToken),
        (status = 403, description = "called with an API token", body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    audit: AuditCtx,
    Json(req): Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    if p.session_id().is_none() {
        return Err(ApiError::Forbidden(
            "API tokens cannot make API tokens; log in and make it with a session".into(),
        ));
    }
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > berth_api::auth::MAX_TOKEN_NAME_LEN {
        return Err(ApiError::Unprocessable(format!(
            "name must have 1 to {} characters",
            berth_api::auth::MAX_TOKEN_NAME_LEN
        )));
    }
    if let Some(exp) = req.expires_at
        && exp <= chrono::Utc::now()
    {
        return Err(ApiError::Unprocessable(
            "expires_at must be in the future".into(),
        ));
    }
    let secret = format!(
        "{API_TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let t = db::tokens::create(
        &state.db,
        &p.user_id,
        name,
        &secret_hash(&secret),
        req.expires_at.map(|e| e.timestamp_millis()),
    )
    .await?;
    audit.set_target(&t.id);
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: t.id,
            token: secret,
            name: t.name,
            expires_at: t.expires_at.map(db::time),
        }),
    ))
}

/// Revokes one of the caller's tokens (owners may revoke anyone's).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "token id")),
    responses((status = 204, description = "revoked"), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let t = db::tokens::get(&state.db, &id)
        .await?
        .filter(|t| t.user_id == p.user_id || p.is_owner())
        .ok_or_else(|| ApiError::NotFound(format!("no token {id}")))?;
    db::tokens::delete(&state.db, &t.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
