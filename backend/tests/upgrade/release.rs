//! The released migrations (`migrations/releases.toml`) and a database made
//! by a release's server: only that release's migration files, applied by
//! sqlx's migrator exactly as that server's `Db::connect` did (the same
//! resolution of the files, so the same versions, descriptions and
//! checksums in `_sqlx_migrations`), then seeded with rows that schema
//! accepts, made the way that server made them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::common::Backend;

/// `migrations/releases.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub release: Vec<Release>,
}

/// One release: its version, tag and commit, and per database the
/// migration files it shipped with (name → SHA-256 hex).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub version: String,
    pub tag: String,
    pub commit: String,
    pub sqlite: BTreeMap<String, String>,
    pub postgres: BTreeMap<String, String>,
}

impl Release {
    pub fn files(&self, kind: Kind) -> &BTreeMap<String, String> {
        match kind {
            Kind::Sqlite => &self.sqlite,
            Kind::Postgres => &self.postgres,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Sqlite, Kind::Postgres];

    pub fn of(b: &Backend) -> Kind {
        match b {
            Backend::Sqlite => Kind::Sqlite,
            Backend::Postgres(_) => Kind::Postgres,
        }
    }

    pub fn dir(self) -> PathBuf {
        workspace().join("migrations").join(match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        })
    }

    /// The migrations this berth-server embeds.
    pub fn current(self) -> &'static Migrator {
        static SQLITE: Migrator = sqlx::migrate!("../migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("../migrations/postgres");
        match self {
            Kind::Sqlite => &SQLITE,
            Kind::Postgres => &POSTGRES,
        }
    }
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

pub fn manifest() -> Manifest {
    let path = workspace().join("migrations/releases.toml");
    let text = std::fs::read_to_string(&path).expect("migrations/releases.toml");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The version part of a migration file's name (`0001_initial.sql` → 1).
pub fn migration_version(file: &str) -> i64 {
    file.split_once('_')
        .and_then(|(v, _)| v.parse().ok())
        .unwrap_or_else(|| panic!("{file}: not <version>_<description>.sql"))
}

/// The release a server of the workspace's version upgrades from: the
/// newest one listed that is older than it.
pub fn previous_release(m: &Manifest) -> &Release {
    let current = semver::Version::parse(berth_api::VERSION).expect("the workspace version");
    m.release
        .iter()
        .filter(|r| semver::Version::parse(&r.version).expect("a release version") < current)
        .max_by(|a, b| {
            let v = |r: &Release| semver::Version::parse(&r.version).expect("version");
            v(a).cmp(&v(b))
        })
        .expect("a release older than the workspace version in migrations/releases.toml")
}

/// A pool on `url` as the release's server opened it (sqlx `Any`).
pub async fn pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// The migrator of exactly `files` (copied from the migrations folder,
/// which the manifest test checks against their released SHA-256).
pub async fn migrator_of(kind: Kind, files: &BTreeMap<String, String>) -> Migrator {
    let dir = tempfile::tempdir().unwrap();
    for name in files.keys() {
        std::fs::copy(kind.dir().join(name), dir.path().join(name)).unwrap();
    }
    Migrator::new(dir.path())
        .await
        .expect("resolve the migrations")
}

/// Fixed facts of the seeded database, for the checks after the upgrade.
pub struct Seeded {
    pub owner_password: &'static str,
    pub owner_id: String,
    pub alice_id: String,
    pub team_id: String,
    pub host_id: String,
    pub api_token: String,
    pub session_secret: String,
    pub agent_signing_key: String,
    pub session_jwt: String,
    pub audit_id: String,
}

/// Seeds what a running 0.1.0 install holds: the settings its server made
/// (`setup_done`, and the session secret and agent-signing key it kept in
/// the database), an owner and a second user with argon2id hashes of that
/// server's parameters, a team with a member and a group-scoped binding, a
/// joined host, an API token, a live session and an audit row.
pub async fn seed(pool: &AnyPool) -> Seeded {
    let now = chrono::Utc::now().timestamp_millis();
    let owner_password = "old release password";
    let session_secret =
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let agent_signing_key = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let k = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        k.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap()
            .to_string()
    };
    let api_token = format!(
        "berth_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let s = Seeded {
        owner_password,
        owner_id: "0a0a0a0a0a0a0a0a0a0a".into(),
        alice_id: "0b0b0b0b0b0b0b0b0b0b".into(),
        team_id: "0c0c0c0c0c0c0c0c0c0c".into(),
        host_id: "0d0d0d0d0d0d0d0d0d0d".into(),
        session_jwt: session_jwt(&session_secret, "0a0a0a0a0a0a0a0a0a0a", "5e55105e55105e55"),
        api_token,
        session_secret,
        agent_signing_key,
        audit_id: "0e0e0e0e0e0e0e0e0e0e".into(),
    };
    let hash = old_password_hash(owner_password);
    let alice_hash = old_password_hash("alice's password");
    let cert = rcgen::generate_simple_self_signed(vec!["old-host".into()]).unwrap();
    let cert_sha = sha256_hex(cert.cert.der());
    let facts = r#"{"kernel":"6.1.0-28-amd64","os":"Debian GNU/Linux 12 (bookworm)","cgroup":"hybrid","cpus":4,"memory_bytes":8589934592,"hostname":"old-host","arch":"x86_64"}"#;
    let rows: Vec<(&str, Vec<Val>)> = vec![
        (
            "INSERT INTO settings (key, value) VALUES ($1, $2)",
            vec!["setup_done".into(), "1".into()],
        ),
        (
            "INSERT INTO settings (key, value) VALUES ($1, $2)",
            vec!["session_secret".into(), s.session_secret.clone().into()],
        ),
        (
            "INSERT INTO settings (key, value) VALUES ($1, $2)",
            vec![
                "agent_signing_key".into(),
                s.agent_signing_key.clone().into(),
            ],
        ),
        (
            "INSERT INTO users (id, username, password_hash, disabled, created_at, password_changed_at) VALUES ($1, $2, $3, 0, $4, $4)",
            vec![
                s.owner_id.clone().into(),
                "owner".into(),
                hash.into(),
                Val::I(now - 86_400_000),
            ],
        ),
        (
            "INSERT INTO users (id, username, password_hash, disabled, created_at, password_changed_at) VALUES ($1, $2, $3, 0, $4, $4)",
            vec![
                s.alice_id.clone().into(),
                "alice".into(),
                alice_hash.into(),
                Val::I(now - 3_600_000),
            ],
        ),
        (
            "INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)",
            vec![
                s.team_id.clone().into(),
                "ops".into(),
                Val::I(now - 3_600_000),
            ],
        ),
        (
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)",
            vec![s.team_id.clone().into(), s.alice_id.clone().into()],
        ),
        (
            "INSERT INTO role_bindings (id, subject_kind, subject_id, role, scope_kind, scope_value, created_at) VALUES ($1, 'user', $2, 'owner', 'global', '', $3)",
            vec![
                "1a1a1a1a1a1a1a1a1a1a".into(),
                s.owner_id.clone().into(),
                Val::I(now - 86_400_000),
            ],
        ),
        (
            "INSERT INTO role_bindings (id, subject_kind, subject_id, role, scope_kind, scope_value, created_at) VALUES ($1, 'team', $2, 'operator', 'group', 'prod', $3)",
            vec![
                "1b1b1b1b1b1b1b1b1b1b".into(),
                s.team_id.clone().into(),
                Val::I(now - 3_600_000),
            ],
        ),
        // An agent that is not there any more: the health check fails fast.
        (
            "INSERT INTO hosts (id, name, address, groups_json, labels_json, facts_json, runtimes_json, agent_version, cert_pem, cert_sha256, created_at, last_seen) \
          VALUES ($1, 'old-host', 'https://127.0.0.1:1', '[\"prod\"]', '{\"rack\":\"r1\"}', $2, '[\"berth\"]', '0.1.0', $3, $4, $5, $5)",
            vec![
                s.host_id.clone().into(),
                facts.into(),
                cert.cert.pem().into(),
                cert_sha.into(),
                Val::I(now - 3_600_000),
            ],
        ),
        (
            "INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at, expires_at, last_used_at) VALUES ($1, $2, 'ci', $3, $4, NULL, NULL)",
            vec![
                "1c1c1c1c1c1c1c1c1c1c".into(),
                s.owner_id.clone().into(),
                sha256_hex(s.api_token.as_bytes()).into(),
                Val::I(now - 60_000),
            ],
        ),
        (
            "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, source) VALUES ($1, $2, $3, $4, NULL, '127.0.0.1')",
            vec![
                "5e55105e55105e55".into(),
                s.owner_id.clone().into(),
                Val::I(now - 60_000),
                Val::I(now + 3_600_000),
            ],
        ),
        (
            "INSERT INTO audit_events (id, time, actor, action, host, target, outcome, status, source, detail) VALUES ($1, $2, 'owner', 'host.update', $3, $3, 'success', 200, '127.0.0.1', NULL)",
            vec![
                s.audit_id.clone().into(),
                Val::I(now - 60_000),
                s.host_id.clone().into(),
            ],
        ),
    ];
    for (sql, binds) in rows {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Val::S(v) => q.bind(v),
                Val::I(v) => q.bind(v),
            };
        }
        q.execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    s
}

/// A bind value of the seed.
pub enum Val {
    S(String),
    I(i64),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::S(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::S(s)
    }
}

/// An argon2id hash with the 0.1.0 server's parameters (19 MiB, 2 passes,
/// 1 lane), as its `auth::password::hash` made it.
fn old_password_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap();
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).unwrap();
    a.hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// A session token of the 0.1.0 server: HS256 over its claims with the
/// secret it kept in `settings.session_secret` (base64 of 32 bytes).
fn session_jwt(secret_b64: &str, user: &str, sid: &str) -> String {
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret_b64)
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    berth_server::auth::session::SessionKeys::from_secret(&secret)
        .issue(&berth_server::auth::session::SessionClaims {
            iss: berth_server::auth::session::SESSION_ISSUER.to_string(),
            sub: user.to_string(),
            sid: sid.to_string(),
            iat: now,
            exp: now + 3600,
        })
        .unwrap()
}
