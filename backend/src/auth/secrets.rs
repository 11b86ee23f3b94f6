//! The server's secrets (the session signing secret and the agent signing
//! key) live in 0600 files in the secrets dir (`--secrets-dir`,
//! `BERTH_SECRETS_DIR`; default the data dir), never in the database. The
//! database keeps only a SHA-256 fingerprint of each, so that a replica
//! started without the right files refuses to start instead of silently
//! making new ones (which would break every session, or every agent).
//!
//! Older installs kept the secrets in `settings`: at startup they are moved
//! to the files and deleted from the database.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::db::{self, Db};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is missing, but this database's {what} was already made (by another replica or an \
         earlier start): give this server the same secrets (copy the files, mode 0600, or point \
         --secrets-dir / BERTH_SECRETS_DIR at them)"
    )]
    Missing { path: PathBuf, what: &'static str },
    #[error(
        "{path} holds a different {what} from the one this database uses: give this server the \
         same secrets as the other replicas (--secrets-dir / BERTH_SECRETS_DIR)"
    )]
    Mismatch { path: PathBuf, what: &'static str },
    #[error("{path} is empty")]
    Empty { path: PathBuf },
}

/// One secret: its file, its old `settings` key, and what it is.
#[derive(Debug, Clone, Copy)]
pub struct Secret {
    pub file: &'static str,
    pub db_key: &'static str,
    pub what: &'static str,
}

pub const SESSION_SECRET: Secret = Secret {
    file: "session-secret",
    db_key: "session_secret",
    what: "session signing secret",
};

pub const AGENT_SIGNING_KEY: Secret = Secret {
    file: "agent-signing-key.pem",
    db_key: "agent_signing_key",
    what: "agent signing key",
};

fn fingerprint(value: &str) -> String {
    hex::encode(Sha256::digest(value.trim().as_bytes()))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SecretError + '_ {
    move |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<Option<String>, SecretError> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Err(SecretError::Empty {
            path: path.to_path_buf(),
        }),
        Ok(s) => {
            // Keep it private even if someone loosened the mode.
            let mode = std::fs::metadata(path)
                .map_err(io(path))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(file = %path.display(), "secret file was readable by others; setting mode 0600");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io(path))?;
            }
            Ok(Some(s.trim().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes the file unless it exists (atomically: a replica never sees it
/// half written); returns what the file holds afterwards.
fn write_new(path: &Path, value: &str) -> Result<String, SecretError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(rand::random::<[u8; 6]>())));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(format!("{}\n", value.trim()).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io(&tmp))?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(value.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path)?.ok_or_else(|| SecretError::Empty {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// The secret's value: from its file; else moved there from the database
/// (old installs); else, on a database that never had it, made by
/// `generate`. Refuses a missing or different file when the database already
/// has this secret's fingerprint.
pub async fn load(
    db: &Db,
    dir: &Path,
    secret: Secret,
    generate: impl FnOnce() -> String,
) -> Result<String, SecretError> {
    let path = dir.join(secret.file);
    let marker_key = format!("{}_sha256", secret.db_key);
    // The fingerprint first: a replica writes the file before the
    // fingerprint, so when the fingerprint is there a shared file is too
    // (replicas starting at once must not see "missing").
    let marker = db::settings::get(db, &marker_key).await?;
    let from_file = read(&path)?;
    let in_db = db::settings::get(db, secret.db_key)
        .await?
        .filter(|v| !v.trim().is_empty());
    let value = match (from_file, &in_db) {
        (Some(f), Some(d)) if f.trim() != d.trim() => {
            return Err(SecretError::Mismatch {
                path,
                what: secret.what,
            });
        }
        (Some(f), _) => f,
        (None, Some(d)) => {
            tracing::info!(file = %path.display(), "moving the {} from the database to its file", secret.what);
            write_new(&path, d)?
        }
        (None, None) => {
            if marker.is_some() {
                return Err(SecretError::Missing {
                    path,
                    what: secret.what,
                });
            }
            write_new(&path, &generate())?
        }
    };
    let fp = fingerprint(&value);
    let stored = db::settings::get_or_insert(db, &marker_key, &fp).await?;
    if stored != fp {
        return Err(SecretError::Mismatch {
            path,
            what: secret.what,
        });
    }
    if in_db.is_some() {
        db::settings::delete(db, secret.db_key).await?;
    }
    Ok(value)
}
