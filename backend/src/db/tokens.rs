//! `api_tokens`: long-lived tokens for scripts. Only the SHA-256 of the
//! secret is stored (the secret is 256 random bits, so a fast hash is enough).

use berth_api::auth::ApiToken;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::UserRecord;
use super::{Db, new_id, now_ms, time};

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(TokenRecord {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            last_used_at: r.try_get("last_used_at")?,
        })
    }

    pub fn to_api(&self) -> ApiToken {
        ApiToken {
            id: self.id.clone(),
            name: self.name.clone(),
            user_id: self.user_id.clone(),
            created_at: time(self.created_at),
            expires_at: self.expires_at.map(time),
            last_used_at: self.last_used_at.map(time),
        }
    }
}

pub async fn create(
    db: &Db,
    user_id: &str,
    name: &str,
    secret_hash: &str,
    expires_at: Option<i64>,
) -> Result<TokenRecord, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(name)
    .bind(secret_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(TokenRecord {
        id,
        user_id: user_id.to_string(),
        name: name.to_string(),
        created_at: now,
        expires_at,
        last_used_at: None,
    })
}

pub async fn list_for_user(db: &Db, user_id: &str) -> Result<Vec<TokenRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, user_id, name, created_at, expires_at, last_used_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(TokenRecord::from_row)
    .collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<TokenRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, user_id, name, created_at, expires_at, last_used_at FROM api_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| TokenRecord::from_row(&r))
    .transpose()
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

/// The token and its user for a secret hash, if the token has not expired
/// and the user is not disabled. Records the use (at most once a minute).
pub async fn authenticate(
    db: &Db,
    secret_hash: &str,
) -> Result<Option<(TokenRecord, UserRecord)>, sqlx::Error> {
    let now = now_ms();
    let row = sqlx::query(
        "SELECT t.id, t.user_id, t.name, t.created_at, t.expires_at, t.last_used_at, \
                u.username, u.password_hash, u.disabled, u.created_at AS user_created_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.secret_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0",
    )
    .bind(secret_hash)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let token = TokenRecord::from_row(&r)?;
    let user = UserRecord {
        id: token.user_id.clone(),
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        disabled: false,
        created_at: r.try_get("user_created_at")?,
    };
    if token.last_used_at.is_none_or(|t| now - t > 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&token.id)
            .execute(&db.pool)
            .await?;
    }
    Ok(Some((token, user)))
}
