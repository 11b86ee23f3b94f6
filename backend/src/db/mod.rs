//! The database: SQLite (WAL, the default) or PostgreSQL, behind one sqlx
//! `Any` pool so every query is written once.
//!
//! The queries stay inside what both databases share: `$N` placeholders
//! (SQLite reads `$1` as parameter 1), TEXT and BIGINT columns only, times as
//! Unix milliseconds, lists and maps as JSON text. Each store module
//! (`users`, `hosts`, ...) holds the queries of one table.

pub mod audit;
pub mod bindings;
pub mod host_settings;
pub mod hosts;
pub mod join_tokens;
pub mod sessions;
pub mod settings;
pub mod teams;
pub mod tokens;
pub mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("creating the database folder {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("connecting to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("running the {kind} migrations: {source}")]
    Migrate {
        kind: &'static str,
        source: sqlx::migrate::MigrateError,
    },
    #[error(
        "the {kind} database was migrated by a newer berth-server: it has migration {migration}, \
         which berth-server {version} does not know. Downgrading is not supported; the database \
         was left unchanged: run the newer berth-server, or restore the backup taken before the \
         upgrade",
        version = berth_api::VERSION
    )]
    NewerSchema { kind: &'static str, migration: i64 },
    #[error(
        "migration {migration} applied to the {kind} database differs from the one berth-server \
         {version} ships: a released migration was edited, or another build of berth-server \
         migrated this database",
        version = berth_api::VERSION
    )]
    ChangedMigration { kind: &'static str, migration: i64 },
}

impl DbError {
    /// A migration failure, with what it means for an upgrade: an applied
    /// migration this binary does not know (sqlx's `VersionMissing`; sqlx
    /// checks them all before it applies any) is a database from a newer
    /// release; an applied one whose checksum differs is a changed file.
    fn migrate(kind: DbKind, source: sqlx::migrate::MigrateError) -> DbError {
        use sqlx::migrate::MigrateError;
        let kind = kind.as_str();
        match source {
            MigrateError::VersionMissing(migration) => DbError::NewerSchema { kind, migration },
            MigrateError::VersionMismatch(migration) => {
                DbError::ChangedMigration { kind, migration }
            }
            source => DbError::Migrate { kind, source },
        }
    }
}

/// Which database the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(DbKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbKind::Postgres)
        } else {
            Err(DbError::UnsupportedUrl(redact_url(url)))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        }
    }
}

/// The pool and what is behind it.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
}

impl Db {
    /// Connects and applies the migrations of that database. For SQLite the
    /// file's folder is created and the journal is WAL.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let kind = DbKind::from_url(url)?;
        let mut url = url.to_string();
        if kind == DbKind::Sqlite {
            if let Some(path) = sqlite_path(&url)
                && let Some(dir) = Path::new(&path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            // The database holds password hashes and keys: only its owner
            // reads it (SQLite gives the -wal and -shm files the same mode).
            if let Some(path) = sqlite_path(&url) {
                use std::os::unix::fs::OpenOptionsExt;
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path);
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let max = match kind {
            DbKind::Sqlite => 8,
            DbKind::Postgres => 10,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL is sqlx's default for SQLite; these make it explicit
                        // and keep writers waiting instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|source| DbError::Connect {
                url: redact_url(&url),
                source,
            })?;
        let migrator = match kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| DbError::migrate(kind, source))?;
        Ok(Db { pool, kind })
    }

    /// SQLite's journal mode (`wal`), or `None` on PostgreSQL.
    pub async fn journal_mode(&self) -> Result<Option<String>, sqlx::Error> {
        if self.kind != DbKind::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.try_get::<String, _>(0)?))
    }
}

/// The file path of a `sqlite:` URL.
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Unix milliseconds to a UTC time.
pub fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A fresh server-made id: 20 lowercase hex digits (80 random bits).
pub fn new_id() -> String {
    let bytes: [u8; 10] = rand::random();
    hex::encode(bytes)
}

/// Reads a column, decoding JSON text.
pub fn json_col<T: serde::de::DeserializeOwned + Default>(row: &AnyRow, col: &str) -> T {
    row.try_get::<String, _>(col)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Reads an enum column stored as its wire name.
pub fn parse_col<T: FromStr>(row: &AnyRow, col: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e: T::Err| sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: e.to_string().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            DbKind::from_url("sqlite:///x/y.db").unwrap(),
            DbKind::Sqlite
        );
        assert_eq!(
            DbKind::from_url("postgres://u@h/db").unwrap(),
            DbKind::Postgres
        );
        assert!(DbKind::from_url("mysql://x").is_err());
        assert_eq!(
            sqlite_path("sqlite:///x/y.db?mode=rwc").as_deref(),
            Some("/x/y.db")
        );
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(new_id().len(), 20);
    }

    #[tokio::test]
    async fn sqlite_is_wal_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/b.db", dir.path().display());
        let db = Db::connect(&url).await.unwrap();
        assert_eq!(db.journal_mode().await.unwrap().as_deref(), Some("wal"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("sub/b.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
    }
}
