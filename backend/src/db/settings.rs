//! `settings`: small key/value facts the replicas share (the fingerprints of
//! the secret files, the setup token's hash). Secrets themselves live in
//! files: see [`crate::auth::secrets`].

use sqlx::Row;

use super::Db;

pub async fn get(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| r.try_get::<String, _>("value")).transpose()
}

/// Stores `value` unless the key exists, and returns what is stored: the
/// first replica to get there wins, the others read its value.
pub async fn get_or_insert(db: &Db, key: &str, value: &str) -> Result<String, sqlx::Error> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&db.pool)
        .await?;
    get(db, key).await?.ok_or_else(|| sqlx::Error::RowNotFound)
}

pub async fn set(db: &Db, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn delete(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}
