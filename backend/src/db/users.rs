//! `users`: accounts, their password hashes and the disabled flag.

use berth_api::auth::User;
use sqlx::any::{Any, AnyRow};
use sqlx::{Row, Transaction};

use super::{Db, new_id, now_ms, time};

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: i64,
}

impl UserRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(UserRecord {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            password_hash: r.try_get("password_hash")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at: r.try_get("created_at")?,
        })
    }

    pub fn to_api(&self) -> User {
        User {
            id: self.id.clone(),
            username: self.username.clone(),
            disabled: self.disabled,
            created_at: time(self.created_at),
        }
    }
}

macro_rules! columns {
    () => {
        "id, username, password_hash, disabled, created_at"
    };
}

pub async fn create(
    db: &Db,
    username: &str,
    password_hash: &str,
) -> Result<UserRecord, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, disabled, created_at, password_changed_at) \
         VALUES ($1, $2, $3, 0, $4, $4)",
    )
    .bind(&id)
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(UserRecord {
        id,
        username: username.to_string(),
        password_hash: password_hash.to_string(),
        disabled: false,
        created_at: now,
    })
}

/// Creates the first owner (a global `owner` binding) exactly once: the
/// `setup_done` setting is the lock, so two racing setups (or replicas)
/// cannot both succeed. `Ok(None)` when setup already happened.
pub async fn create_first_owner(
    db: &Db,
    username: &str,
    password_hash: &str,
) -> Result<Option<UserRecord>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let now = now_ms();
    let claimed = sqlx::query(
        "INSERT INTO settings (key, value) VALUES ('setup_done', $1) ON CONFLICT (key) DO NOTHING",
    )
    .bind(now.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    if claimed == 0 || users > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, disabled, created_at, password_changed_at) \
         VALUES ($1, $2, $3, 0, $4, $4)",
    )
    .bind(&id)
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO role_bindings (id, subject_kind, subject_id, role, scope_kind, scope_value, created_at) \
         VALUES ($1, 'user', $2, 'owner', 'global', '', $3)",
    )
    .bind(new_id())
    .bind(&id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM settings WHERE key = 'setup_token_hash'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(UserRecord {
        id,
        username: username.to_string(),
        password_hash: password_hash.to_string(),
        disabled: false,
        created_at: now,
    }))
}

/// Has the first owner been created?
pub async fn setup_done(db: &Db) -> Result<bool, sqlx::Error> {
    Ok(super::settings::get(db, "setup_done").await?.is_some() || count(db).await? > 0)
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")
}

pub async fn get(db: &Db, id: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| UserRecord::from_row(&r))
        .transpose()
}

pub async fn by_username(db: &Db, username: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| UserRecord::from_row(&r))
    .transpose()
}

pub async fn list(db: &Db) -> Result<Vec<UserRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM users ORDER BY username"
    ))
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(UserRecord::from_row)
    .collect()
}

/// Sets a new password hash and revokes every session and API token of the
/// user.
pub async fn set_password(db: &Db, id: &str, password_hash: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let now = now_ms();
    let n =
        sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    revoke_credentials_in(&mut tx, id, now).await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Ends every way a user is logged in, inside a password change or a
/// disable: their sessions are revoked and their API tokens deleted. (Here,
/// not in `sessions`/`tokens`, which read `UserRecord` from this module.)
async fn revoke_credentials_in(
    tx: &mut Transaction<'_, Any>,
    user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Disables (revoking every session and API token) or enables a user.
pub async fn set_disabled(db: &Db, id: &str, disabled: bool) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let n = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
        .bind(i64::from(disabled))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if disabled {
        revoke_credentials_in(&mut tx, id, now_ms()).await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

/// Deletes a user with its bindings (sessions, tokens and memberships go
/// with it by foreign key).
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM role_bindings WHERE subject_kind = 'user' AND subject_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}
