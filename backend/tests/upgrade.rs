//! Upgrades of the server package: the current `berth-server` binary
//! started on a database made by the previous release's migrations (as the
//! package's postinst restart does), on SQLite and on PostgreSQL. Released
//! migrations are immutable (`migrations/releases.toml` has their SHA-256),
//! and a database from a newer release is refused with a clear error and
//! left as it was.

mod common;
#[path = "upgrade/release.rs"]
mod release;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::real_agent::free_port;
use release::{Kind, Seeded};
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};

#[test]
fn released_migrations_are_unchanged() {
    let m = release::manifest();
    assert!(
        !m.release.is_empty(),
        "no release in migrations/releases.toml"
    );
    let current = semver::Version::parse(berth_api::VERSION).unwrap();
    let mut newest_released = 0;
    let mut previous: Option<&release::Release> = None;
    for r in &m.release {
        let v = semver::Version::parse(&r.version).expect("a release's version is SemVer");
        assert!(
            v <= current,
            "release {} is newer than the workspace",
            r.version
        );
        assert_eq!(r.tag, format!("v{}", r.version), "the tag of {}", r.version);
        assert!(r.commit.len() == 40 && r.commit.bytes().all(|b| b.is_ascii_hexdigit()));
        let names = |k: Kind| r.files(k).keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(Kind::Sqlite),
            names(Kind::Postgres),
            "release {}: both databases have the same migrations",
            r.version
        );
        for kind in Kind::ALL {
            for (name, sha) in r.files(kind) {
                let path = kind.dir().join(name);
                let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                    panic!(
                        "{} shipped with release {} and is gone ({e}): every database it \
                         installed would refuse to start",
                        path.display(),
                        r.version
                    )
                });
                assert_eq!(
                    &release::sha256_hex(&bytes),
                    sha,
                    "{} changed since release {}: a released migration must never change \
                     (add a new migration instead)",
                    path.display(),
                    r.version
                );
                newest_released = newest_released.max(release::migration_version(name));
            }
            if let Some(p) = previous {
                for name in p.files(kind).keys() {
                    assert!(
                        r.files(kind).contains_key(name),
                        "release {} dropped {name} of release {}",
                        r.version,
                        p.version
                    );
                }
            }
        }
        if let Some(p) = previous {
            let pv = semver::Version::parse(&p.version).unwrap();
            assert!(pv < v, "releases are listed oldest first");
        }
        previous = Some(r);
    }
    // A migration added since the last release sorts after every released
    // one, so an upgrade applies the same sequence as a fresh install.
    for kind in Kind::ALL {
        for entry in std::fs::read_dir(kind.dir()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let released = m.release.iter().any(|r| r.files(kind).contains_key(&name));
            if !released {
                assert!(
                    release::migration_version(&name) > newest_released,
                    "{name} is new but sorts before a released migration"
                );
            }
        }
        // What the binary embeds is what the folder holds.
        assert_eq!(
            kind.current().iter().count(),
            std::fs::read_dir(kind.dir()).unwrap().count(),
            "{kind:?}: the embedded migrations and the folder differ (rebuild)"
        );
    }
    // The workspace version, once released, ships exactly the folder.
    if let Some(r) = m.release.iter().find(|r| r.version == berth_api::VERSION) {
        for kind in Kind::ALL {
            assert_eq!(
                r.files(kind).len(),
                kind.current().iter().count(),
                "{} is released: it gains no migration (bump the version first)",
                r.version
            );
        }
    }
    tags_agree(&m);
}

/// Where the repository has its release tags (a clone with tags), each
/// tag's migrations are the listed ones. CI's clone may have none.
fn tags_agree(m: &release::Manifest) {
    for r in &m.release {
        let rev = Command::new("git")
            .current_dir(release::workspace())
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("{}^{{commit}}", r.tag))
            .output();
        let Ok(rev) = rev else { return };
        if !rev.status.success() {
            eprintln!("no tag {} here: the manifest alone is checked", r.tag);
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&rev.stdout).trim(),
            r.commit,
            "tag {} is not the listed commit",
            r.tag
        );
        for kind in Kind::ALL {
            let dir = kind.dir();
            let dir = dir.strip_prefix(release::workspace()).unwrap();
            let ls = Command::new("git")
                .current_dir(release::workspace())
                .args(["ls-tree", "--name-only", &r.commit])
                .arg(format!("{}/", dir.display()))
                .output()
                .unwrap();
            let names: Vec<String> = String::from_utf8_lossy(&ls.stdout)
                .lines()
                .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
                .collect();
            assert_eq!(
                names,
                r.files(kind).keys().cloned().collect::<Vec<_>>(),
                "{} at {}",
                dir.display(),
                r.tag
            );
            for name in &names {
                let show = Command::new("git")
                    .current_dir(release::workspace())
                    .arg("show")
                    .arg(format!("{}:{}/{name}", r.commit, dir.display()))
                    .output()
                    .unwrap();
                assert_eq!(
                    &release::sha256_hex(&show.stdout),
                    &r.files(kind)[name],
                    "{name} at {}",
                    r.tag
                );
            }
        }
    }
}

/// A `berth-server` process on a data dir (and a database URL, for
/// PostgreSQL), stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn stop(child: &mut Child) {
    // Exited (and reaped) already: its pid may be another process's now.
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill(2) on our own child's pid, not yet reaped.
    unsafe {
        libc::kill(berth_testkit::pid(child.id()).as_raw(), libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn command(data: &std::path::Path, db_url: Option<&str>, port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth-server"));
    c.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("BERTH_CONFIG")
        .env("BERTH_ALLOW_PLAIN_HTTP", "true")
        .env("RUST_LOG", "warn");
    if let Some(u) = db_url {
        c.env("DATABASE_URL", u);
    }
    c
}

/// Starts the current `berth-server` and waits until it answers its health
/// check (it answers once the database is migrated).
async fn start(data: &std::path::Path, db_url: Option<&str>) -> Server {
    loop {
        let port = free_port();
        let child = command(data, db_url, port)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut s = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/api/v1/health", s.url)).await
                && r.status() == 200
            {
                return s;
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                // Another process took the free port first: start again.
                let taken = matches!(
                    std::net::TcpListener::bind(("127.0.0.1", port)),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
                );
                assert!(taken, "berth-server exited ({status}) on the old database");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "berth-server not healthy in 60 s"
            );
            // Poll interval of a wait for the server with a deadline.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn call(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = reqwest::Client::new();
    let mut req = c.request(method, format!("{}{path}", s.url));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(s: &Server, path: &str, token: &str) -> Value {
    let (status, v) = call(s, reqwest::Method::GET, path, token, None).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

/// `_sqlx_migrations` as (version, checksum hex, installed_on).
async fn applied(pool: &AnyPool) -> Vec<(i64, String, String)> {
    sqlx::query(
        "SELECT version, checksum, CAST(installed_on AS TEXT) AS installed_on \
         FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<i64, _>("version"),
            hex::encode(r.get::<Vec<u8>, _>("checksum")),
            r.get::<String, _>("installed_on"),
        )
    })
    .collect()
}

/// A database of `kind`: its URL for the server (`None`: the SQLite file at
/// the data dir's default place), a URL for the test's own pool, and what
/// keeps a PostgreSQL database alive.
async fn database(
    backend: &common::Backend,
    data: &std::path::Path,
) -> (Option<String>, String, Option<common::PgDatabase>) {
    match backend {
        common::Backend::Sqlite => {
            std::fs::create_dir_all(data).unwrap();
            let url = format!("sqlite://{}?mode=rwc", data.join("berth.db").display());
            (None, url, None)
        }
        common::Backend::Postgres(admin) => {
            let (url, guard) = common::fresh_pg_database(admin).await;
            (Some(url.clone()), url, Some(guard))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_server_upgrades_the_previous_releases_database() {
    berth_net::install_providers();
    let m = release::manifest();
    let prev = release::previous_release(&m);
    for backend in common::backends() {
        eprintln!("--- upgrade from {} on {backend:?}", prev.version);
        let kind = Kind::of(&backend);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (server_url, url, _pg) = database(&backend, &data).await;

        // The previous release's database, as its server left it.
        let pool = release::pool(&url).await;
        let old = release::migrator_of(kind, prev.files(kind)).await;
        old.run(&pool)
            .await
            .expect("the previous release's migrations");
        let before = applied(&pool).await;
        assert_eq!(before.len(), prev.files(kind).len());
        // Resolved as the release's binary embedded them: same versions and
        // checksums as the first migrations this binary embeds.
        for (a, b) in old.iter().zip(kind.current().iter()) {
            assert_eq!((a.version, &a.checksum), (b.version, &b.checksum));
        }
        let seeded = release::seed(&pool).await;

        // The upgrade: the current binary on that database.
        let s = start(&data, server_url.as_deref()).await;
        check_upgraded(&s, &seeded, &data).await;
        let after = applied(&pool).await;
        let want: Vec<(i64, String)> = kind
            .current()
            .iter()
            .map(|m| (m.version, hex::encode(&m.checksum)))
            .collect();
        assert_eq!(
            after
                .iter()
                .map(|(v, c, _)| (*v, c.clone()))
                .collect::<Vec<_>>(),
            want,
            "every current migration applied once, with its own checksum"
        );
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "the released rows are kept"
        );
        for key in ["session_secret", "agent_signing_key"] {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 0, "{key} left the database for its file");
        }
        drop(s);

        // A second start is a no-op: nothing applied again.
        let s = start(&data, server_url.as_deref()).await;
        assert_eq!(
            applied(&pool).await,
            after,
            "the second start changed _sqlx_migrations"
        );
        check_upgraded(&s, &seeded, &data).await;
        drop(s);
        pool.close().await;
    }
}

/// What the old install held is there through the API after the upgrade.
async fn check_upgraded(s: &Server, seeded: &Seeded, data: &std::path::Path) {
    // The owner logs in with the password the old release hashed.
    let (status, login) = call(
        s,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        "",
        Some(json!({"username": "owner", "password": seeded.owner_password})),
    )
    .await;
    assert_eq!(status, 200, "login: {login}");
    let token = login["token"].as_str().unwrap().to_string();
    let me = get(s, "/api/v1/auth/me", &token).await;
    assert_eq!(me["id"], seeded.owner_id.as_str());
    assert!(
        me["roles"].to_string().contains("owner"),
        "the owner's binding: {me}"
    );
    // The old API token and the old session (signed with the secret the
    // release kept in the database) still work.
    for old in [&seeded.api_token, &seeded.session_jwt] {
        let me = get(s, "/api/v1/auth/me", old).await;
        assert_eq!(me["username"], "owner");
    }
    let users = get(s, "/api/v1/users", &token).await.to_string();
    assert!(
        users.contains(&seeded.alice_id) && users.contains("\"alice\""),
        "{users}"
    );
    let team = get(s, &format!("/api/v1/teams/{}", seeded.team_id), &token).await;
    assert_eq!(team["name"], "ops");
    assert!(
        team["members"].to_string().contains(&seeded.alice_id),
        "{team}"
    );
    let bindings = get(s, "/api/v1/role-bindings", &token).await.to_string();
    assert!(
        bindings.contains("operator") && bindings.contains("prod"),
        "{bindings}"
    );
    let host = get(s, &format!("/api/v1/hosts/{}", seeded.host_id), &token).await;
    assert_eq!(host["name"], "old-host");
    assert_eq!(host["groups"], json!(["prod"]));
    assert_eq!(host["labels"], json!({"rack": "r1"}));
    assert_eq!(host["agent_version"], "0.1.0");
    assert_eq!(host["agent_outdated"], true, "{host}");
    // A table of a later migration answers.
    assert_eq!(host["allow_internal_registries"], false);
    let audit = get(s, "/api/v1/audit", &token).await.to_string();
    assert!(audit.contains(&seeded.audit_id), "{audit}");
    // The secrets moved to their files, unchanged.
    let file = |name: &str| std::fs::read_to_string(data.join(name)).unwrap();
    assert_eq!(file("session-secret").trim(), seeded.session_secret);
    assert_eq!(
        file("agent-signing-key.pem").trim(),
        seeded.agent_signing_key.trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_release_is_refused_and_left_alone() {
    for backend in common::backends() {
        eprintln!("--- newer schema on {backend:?}");
        let kind = Kind::of(&backend);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (server_url, url, _pg) = database(&backend, &data).await;
        let pool = release::pool(&url).await;
        kind.current().run(&pool).await.unwrap();
        // What a later release's server would have recorded.
        let blob = match kind {
            Kind::Sqlite => "X'00'",
            Kind::Postgres => "'\\x00'::bytea",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (29991231000000, 'from a newer release', TRUE, {blob}, 1)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        let before = applied(&pool).await;

        let mut child = command(&data, server_url.as_deref(), free_port())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                stop(&mut child);
                panic!("berth-server kept running on a newer database");
            }
            // Poll interval of a wait for the process's exit, with a deadline.
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!status.success(), "{text}");
        assert!(
            text.contains("was migrated by a newer berth-server")
                && text.contains("29991231000000")
                && text.contains(&format!(
                    "berth-server {} does not know",
                    berth_api::VERSION
                ))
                && text.contains("Downgrading is not supported"),
            "the error says what happened: {text}"
        );
        assert_eq!(applied(&pool).await, before, "_sqlx_migrations changed");
        let settings: i64 = sqlx::query("SELECT COUNT(*) FROM settings")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(settings, 0, "the server went on past the migrations");
        assert!(!data.join("session-secret").exists());
        pool.close().await;
    }
}
