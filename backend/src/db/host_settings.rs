//! `host_settings`: per-host policy (a host without a row has the
//! defaults): may pulls reach internal registries, and which host path
//! prefixes bind mounts may use.

use sqlx::Row;

use super::Db;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// Pulls may connect to loopback, link-local and metadata addresses.
    pub allow_internal_registries: bool,
    /// Host path prefixes bind mounts may use; `None`: no allowlist.
    pub bind_mount_allowlist: Option<Vec<String>>,
}

pub async fn get(db: &Db, host_id: &str) -> Result<HostSettings, sqlx::Error> {
    let row = sqlx::query(
        "SELECT allow_internal_registries, bind_mount_allowlist_json FROM host_settings \
         WHERE host_id = $1",
    )
    .bind(host_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else {
        return Ok(HostSettings::default());
    };
    let list: Option<String> = r.try_get("bind_mount_allowlist_json")?;
    Ok(HostSettings {
        allow_internal_registries: r.try_get::<i64, _>("allow_internal_registries")? != 0,
        bind_mount_allowlist: list.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub async fn set(db: &Db, host_id: &str, s: &HostSettings) -> Result<(), sqlx::Error> {
    let list = s
        .bind_mount_allowlist
        .as_ref()
        .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into()));
    sqlx::query(
        "INSERT INTO host_settings (host_id, allow_internal_registries, bind_mount_allowlist_json) \
         VALUES ($1, $2, $3) ON CONFLICT (host_id) DO UPDATE SET \
         allow_internal_registries = excluded.allow_internal_registries, \
         bind_mount_allowlist_json = excluded.bind_mount_allowlist_json",
    )
    .bind(host_id)
    .bind(i64::from(s.allow_internal_registries))
    .bind(list)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Every host's settings (hosts without a row are left out).
pub async fn all(db: &Db) -> Result<std::collections::HashMap<String, HostSettings>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT host_id, allow_internal_registries, bind_mount_allowlist_json FROM host_settings",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let list: Option<String> = r.try_get("bind_mount_allowlist_json")?;
        out.insert(
            r.try_get::<String, _>("host_id")?,
            HostSettings {
                allow_internal_registries: r.try_get::<i64, _>("allow_internal_registries")? != 0,
                bind_mount_allowlist: list.and_then(|s| serde_json::from_str(&s).ok()),
            },
        );
    }
    Ok(out)
}

impl HostSettings {
    /// Puts the settings into a host's API view.
    pub fn apply(&self, h: &mut berth_api::hosts::Host) {
        h.allow_internal_registries = self.allow_internal_registries;
        h.bind_mount_allowlist = self.bind_mount_allowlist.clone().unwrap_or_default();
    }
}
