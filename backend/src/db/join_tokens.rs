//! `join_tokens`: single-use, expiring secrets that let an agent register.
//! Only the SHA-256 of each secret is stored.

use sqlx::Row;

use super::hosts::{self, HostRecord};
use super::{Db, new_id, now_ms};

pub async fn create(
    db: &Db,
    secret_hash: &str,
    groups: &[String],
    created_by: &str,
    expires_at: i64,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO join_tokens (id, secret_hash, groups_json, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(secret_hash)
    .bind(serde_json::to_string(groups).unwrap_or_else(|_| "[]".into()))
    .bind(created_by)
    .bind(now_ms())
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(id)
}

/// Why a join secret was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Used,
    Expired,
}

impl Refusal {
    pub fn detail(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown join token",
            Refusal::Used => "this join token was already used",
            Refusal::Expired => "this join token has expired",
        }
    }
}

/// Marks the token used and creates the host, in one transaction: of two
/// agents racing with one token, exactly one gets a host. The host takes the
/// token's groups.
pub async fn redeem(
    db: &Db,
    secret_hash: &str,
    mut host: HostRecord,
) -> Result<Result<HostRecord, Refusal>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let now = now_ms();
    let claimed = sqlx::query(
        "UPDATE join_tokens SET used_at = $1, host_id = $2 \
         WHERE secret_hash = $3 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(&host.id)
    .bind(secret_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let row = sqlx::query(
        "SELECT groups_json, used_at, expires_at, host_id FROM join_tokens WHERE secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(&mut *tx)
    .await?;
    if claimed != 1 {
        tx.rollback().await?;
        return Ok(Err(match row {
            None => Refusal::Unknown,
            Some(r) if r.try_get::<Option<i64>, _>("used_at")?.is_some() => Refusal::Used,
            Some(_) => Refusal::Expired,
        }));
    }
    if let Some(r) = row {
        let groups: String = r.try_get("groups_json")?;
        host.groups = serde_json::from_str(&groups).unwrap_or_default();
    }
    host.created_at = now;
    hosts::insert_in(&mut tx, &host).await?;
    tx.commit().await?;
    Ok(Ok(host))
}

/// Forgets tokens that expired more than a day ago.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM join_tokens WHERE expires_at < $1")
        .bind(now_ms() - 24 * 3600 * 1000)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// A new id for a host about to register.
pub fn new_host_id() -> String {
    new_id()
}
