//! `sessions`: one row per login, so a session can be revoked (logout,
//! disable, password change) on every replica at once.

use sqlx::Row;

use super::users::UserRecord;
use super::{Db, now_ms};

pub async fn create(
    db: &Db,
    id: &str,
    user_id: &str,
    expires_at: i64,
    source: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, source) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(user_id)
    .bind(now_ms())
    .bind(expires_at)
    .bind(source)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The user of a live session: not revoked, not expired, user not disabled.
pub async fn active_user(db: &Db, session_id: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.username, u.password_hash, u.disabled, u.created_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled = 0",
    )
    .bind(session_id)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(UserRecord {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            password_hash: r.try_get("password_hash")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

pub async fn revoke(db: &Db, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(session_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets sessions that ended more than a day ago.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let cutoff = now_ms() - 24 * 3600 * 1000;
    Ok(
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(cutoff)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}
