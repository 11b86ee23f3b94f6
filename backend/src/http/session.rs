//! Login, logout and `me`.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api::auth::{LoginRequest, LoginResponse, Me, SESSION_COOKIE};

use crate::audit::AuditCtx;
use crate::auth::session::{SESSION_ISSUER, SessionClaims};
use crate::auth::{self, Credential, Principal, password};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::server::ConnInfo;
use crate::state::AppState;

fn conn(info: Option<Extension<ConnInfo>>) -> (String, bool) {
    match info {
        Some(Extension(c)) => (c.remote.ip().to_string(), c.tls),
        None => ("-".to_string(), false),
    }
}

/// Logs in: a session token, also set as the `berth_session` cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "the session", body = LoginResponse),
        (status = 401, description = "wrong user name or password", body = berth_api::Problem),
        (status = 429, description = "too many attempts; see Retry-After", body = berth_api::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    info: Option<Extension<ConnInfo>>,
    audit: AuditCtx,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let (address, tls) = conn(info);
    let client = info
        .map(|Extension(c)| {
            auth::client::limit_key(auth::client::client_ip(
                c.remote.ip(),
                &headers,
                &state.config.trusted_proxies,
            ))
        })
        .unwrap_or_else(|| "-".to_string());
    let username = req.username.trim().to_string();
    audit.set_actor(&username);
    state
        .limiter
        .attempt(&client, &username)
        .map_err(|secs| ApiError::TooManyRequests {
            retry_after_secs: secs,
            detail: format!("too many login attempts; try again in {secs} s"),
        })?;
    let user = db::users::by_username(&state.db, &username).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let ok = password::verify(&req.password, &hash).await? && user.is_some();
    let user = match user {
        Some(u) if ok => u,
        _ => {
            state.limiter.failed(&client, &username);
            return Err(ApiError::Unauthorized("wrong user name or password".into()));
        }
    };
    if user.disabled {
        return Err(ApiError::Unauthorized("this account is disabled".into()));
    }
    state.limiter.succeeded(&client, &username);
    audit.set_target(&user.id);

    let ttl = state.config.session_ttl_secs.max(60);
    let now = chrono::Utc::now().timestamp();
    // A lifetime beyond i64 seconds is no lifetime a config can mean.
    let exp = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    let sid = hex::encode(rand::random::<[u8; 16]>());
    db::sessions::create(
        &state.db,
        &sid,
        &user.id,
        exp.saturating_mul(1000),
        &address,
    )
    .await?;
    let token = state.sessions.issue(&SessionClaims {
        iss: SESSION_ISSUER.to_string(),
        sub: user.id.clone(),
        sid,
        iat: now,
        exp,
    })?;
    let grants = db::bindings::grants_for_user(&state.db, &user.id).await?;
    let body = LoginResponse {
        token: token.clone(),
        expires_at: db::time(exp.saturating_mul(1000)),
        user: Me {
            id: user.id,
            username: user.username,
            roles: grants,
        },
    };
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(
        &token,
        ttl,
        state.config.cookie_secure(tls),
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Ends the session (the token stops working on every replica) and clears
/// the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "sessions",
    responses((status = 204, description = "logged out")))]
pub async fn logout(
    State(state): State<AppState>,
    info: Option<Extension<ConnInfo>>,
    audit: AuditCtx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (_, tls) = conn(info);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|s| s.trim().to_string());
    let token = bearer.or_else(|| auth::cookie(&headers, SESSION_COOKIE));
    if let Some(t) = token
        && let Ok((user, cred)) = auth::resolve(&state, &t, false).await
    {
        audit.set_actor(&user.username);
        if let Credential::Session { id, .. } = cred {
            db::sessions::revoke(&state.db, &id).await?;
        }
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie(state.config.cookie_secure(tls))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The caller and every role it holds.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "sessions",
    responses(
        (status = 200, description = "the caller", body = Me),
        (status = 401, description = "not logged in", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn me(p: Principal) -> Json<Me> {
    Json(Me {
        id: p.user_id,
        username: p.username,
        roles: p.grants,
    })
}
