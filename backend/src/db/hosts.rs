//! `hosts`: joined agents, their pinned certificates, groups, labels and the
//! facts and liveness the health checker keeps fresh.

use std::collections::BTreeMap;

use berth_api::hosts::{Host, HostFacts, HostStatus};
use sqlx::Row;
use sqlx::any::{Any, AnyRow};

use super::{Db, json_col, now_ms, time};

/// A host is offline when its last good health check is older than this.
pub const OFFLINE_AFTER_MS: i64 = 9_000;

#[derive(Debug, Clone)]
pub struct HostRecord {
    pub id: String,
    pub name: String,
    pub address: String,
    pub groups: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub facts: HostFacts,
    pub runtimes: Vec<String>,
    pub agent_version: String,
    pub cert_pem: String,
    /// Lowercase hex SHA-256 of the pinned certificate's DER.
    pub cert_sha256: String,
    pub created_at: i64,
    pub last_seen: Option<i64>,
}

impl HostRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let facts: String = r.try_get("facts_json")?;
        Ok(HostRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            address: r.try_get("address")?,
            groups: json_col(r, "groups_json"),
            labels: json_col(r, "labels_json"),
            facts: serde_json::from_str(&facts).map_err(|e| sqlx::Error::ColumnDecode {
                index: "facts_json".into(),
                source: Box::new(e),
            })?,
            runtimes: json_col(r, "runtimes_json"),
            agent_version: r.try_get("agent_version")?,
            cert_pem: r.try_get("cert_pem")?,
            cert_sha256: r.try_get("cert_sha256")?,
            created_at: r.try_get("created_at")?,
            last_seen: r.try_get("last_seen")?,
        })
    }

    pub fn is_online(&self, now: i64) -> bool {
        self.last_seen.is_some_and(|t| now - t < OFFLINE_AFTER_MS)
    }

    pub fn to_api(&self) -> Host {
        Host {
            id: self.id.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
            status: if self.is_online(now_ms()) {
                HostStatus::Online
            } else {
                HostStatus::Offline
            },
            groups: self.groups.clone(),
            labels: self.labels.clone(),
            facts: self.facts.clone(),
            runtimes: self.runtimes.clone(),
            last_seen: self.last_seen.map(time),
            agent_version: (!self.agent_version.is_empty()).then(|| self.agent_version.clone()),
            agent_outdated: crate::agents::version::agent_outdated(&self.agent_version),
            // Filled from `host_settings` by the handlers that show them.
            allow_internal_registries: false,
            bind_mount_allowlist: Vec::new(),
        }
    }
}

macro_rules! columns {
    () => {
        "id, name, address, groups_json, labels_json, facts_json, runtimes_json, \
                       agent_version, cert_pem, cert_sha256, created_at, last_seen"
    };
}

/// Inserts a host inside a transaction (registration marks its join token
/// used in the same one).
pub async fn insert_in(
    tx: &mut sqlx::Transaction<'_, Any>,
    h: &HostRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO hosts (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&h.id)
    .bind(&h.name)
    .bind(&h.address)
    .bind(serde_json::to_string(&h.groups).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&h.labels).unwrap_or_else(|_| "{}".into()))
    .bind(serde_json::to_string(&h.facts).unwrap_or_else(|_| "{}".into()))
    .bind(serde_json::to_string(&h.runtimes).unwrap_or_else(|_| "[]".into()))
    .bind(&h.agent_version)
    .bind(&h.cert_pem)
    .bind(&h.cert_sha256)
    .bind(h.created_at)
    .bind(h.last_seen)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn list(db: &Db) -> Result<Vec<HostRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM hosts ORDER BY name, id"
    ))
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(HostRecord::from_row)
    .collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<HostRecord>, sqlx::Error> {
    sqlx::query(concat!("SELECT ", columns!(), " FROM hosts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| HostRecord::from_row(&r))
        .transpose()
}

/// Saves name, groups and labels.
pub async fn update_meta(db: &Db, h: &HostRecord) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE hosts SET name = $1, groups_json = $2, labels_json = $3 WHERE id = $4")
            .bind(&h.name)
            .bind(serde_json::to_string(&h.groups).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&h.labels).unwrap_or_else(|_| "{}".into()))
            .bind(&h.id)
            .execute(&db.pool)
            .await?
            .rows_affected()
            > 0,
    )
}

/// Records a good health check with what the agent reported.
pub async fn record_seen(
    db: &Db,
    id: &str,
    facts: &HostFacts,
    runtimes: &[String],
    agent_version: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE hosts SET last_seen = $1, facts_json = $2, runtimes_json = $3, agent_version = $4 \
         WHERE id = $5",
    )
    .bind(now_ms())
    .bind(serde_json::to_string(facts).unwrap_or_else(|_| "{}".into()))
    .bind(serde_json::to_string(runtimes).unwrap_or_else(|_| "[]".into()))
    .bind(agent_version)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Deletes a host and every binding scoped to it. Its pinned certificate goes
/// with the row: from then on the server talks to that agent no more.
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM role_bindings WHERE scope_kind = 'host' AND scope_value = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}
