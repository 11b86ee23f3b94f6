//! First run: the one-time setup token (printed and written to
//! `<data dir>/setup-token`, mode 0600) that `POST /api/v1/setup` redeems to
//! create the owner, or the owner `admin` made from `--admin-password-file` /
//! `BERTH_ADMIN_PASSWORD`. There is never a setup window without a secret.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_api::auth::{SetupRequest, User};
use sha2::{Digest, Sha256};

use crate::audit::AuditCtx;
use crate::auth::{password, secret_hash};
use crate::db::{self, Db};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::AppState;

/// Setting holding the SHA-256 of the current setup token.
const SETUP_HASH_KEY: &str = "setup_token_hash";

/// File name of the setup token in the data dir.
pub const SETUP_TOKEN_FILE: &str = "setup-token";

/// What first run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstRun {
    /// Users exist already.
    Done,
    /// The owner `admin` was created from the configured password.
    AdminCreated,
    /// Nobody exists yet: this token creates the owner.
    SetupToken(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FirstRunError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("reading the admin password file {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the admin password is not acceptable: {0}")]
    Password(String),
    #[error("writing the setup token: {0}")]
    Write(#[from] crate::tls::TlsError),
}

/// Checks a user or team name: 1–64 of `[A-Za-z0-9_.@-]`, starting with a
/// letter or digit.
pub fn validate_name(what: &str, s: &str) -> ApiResult<()> {
    if berth_api::auth::is_valid_name(s) {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "invalid {what} {s:?}: use 1 to 64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"
        )))
    }
}

/// Runs at start: creates the owner `admin` from a configured password, or
/// makes (or keeps) the setup token while no user exists.
pub async fn first_run(state: &AppState) -> Result<FirstRun, FirstRunError> {
    let db = &state.db;
    if db::users::setup_done(db).await? {
        let _ = std::fs::remove_file(state.data_dir().join(SETUP_TOKEN_FILE));
        return Ok(FirstRun::Done);
    }
    let configured = match (
        &state.config.admin_password_file,
        &state.config.admin_password,
    ) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| FirstRunError::PasswordFile {
                    path: path.display().to_string(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        (None, Some(pw)) if !pw.is_empty() => Some(pw.clone()),
        _ => None,
    };
    if let Some(pw) = configured {
        password::validate(&pw).map_err(|e| FirstRunError::Password(e.to_string()))?;
        let hash = password::hash(&pw)
            .await
            .map_err(|e| FirstRunError::Password(e.to_string()))?;
        return Ok(
            match db::users::create_first_owner(db, "admin", &hash).await? {
                Some(_) => FirstRun::AdminCreated,
                None => FirstRun::Done,
            },
        );
    }
    let file = state.data_dir().join(SETUP_TOKEN_FILE);
    let stored = db::settings::get(db, SETUP_HASH_KEY).await?;
    if let (Ok(existing), Some(hash)) = (std::fs::read_to_string(&file), &stored) {
        let existing = existing.trim().to_string();
        if !existing.is_empty() && secret_hash(&existing) == *hash {
            return Ok(FirstRun::SetupToken(existing));
        }
    }
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    db::settings::set(db, SETUP_HASH_KEY, &secret_hash(&token)).await?;
    crate::tls::write_private(&file, format!("{token}\n").as_bytes())?;
    Ok(FirstRun::SetupToken(token))
}

async fn token_matches(db: &Db, token: &str) -> ApiResult<bool> {
    let Some(stored) = db::settings::get(db, SETUP_HASH_KEY).await? else {
        return Ok(false);
    };
    // Compare digests of the hashes: the time taken says nothing about the token.
    let a = Sha256::digest(secret_hash(token.trim()).as_bytes());
    let b = Sha256::digest(stored.as_bytes());
    Ok(a == b)
}

/// Creates the owner with the one-time setup token.
#[utoipa::path(post, path = "/api/v1/setup", tag = "sessions",
    request_body = SetupRequest,
    responses(
        (status = 201, description = "the owner", body = User),
        (status = 401, description = "wrong setup token", body = berth_api::Problem),
        (status = 409, description = "setup already done", body = berth_api::Problem),
        (status = 422, description = "invalid name or password", body = berth_api::Problem)))]
pub async fn setup(
    State(state): State<AppState>,
    audit: AuditCtx,
    Json(req): Json<SetupRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    audit.set_actor(&req.username);
    if db::users::setup_done(&state.db).await? {
        return Err(ApiError::Conflict(
            "setup is done: an owner exists; log in instead".into(),
        ));
    }
    if !token_matches(&state.db, &req.setup_token).await? {
        return Err(ApiError::Unauthorized(format!(
            "wrong setup token: use the one printed on the server's terminal or in <data dir>/{SETUP_TOKEN_FILE}"
        )));
    }
    validate_name("user name", &req.username)?;
    password::validate(&req.password)?;
    let hash = password::hash(&req.password).await?;
    let user = db::users::create_first_owner(&state.db, &req.username, &hash)
        .await?
        .ok_or_else(|| ApiError::Conflict("setup is done: an owner exists".into()))?;
    let _ = std::fs::remove_file(state.data_dir().join(SETUP_TOKEN_FILE));
    audit.set_target(&user.id);
    tracing::info!(user = %user.username, "owner created by setup");
    Ok((StatusCode::CREATED, Json(user.to_api())))
}
