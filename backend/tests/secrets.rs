//! The session secret and the agent signing key live in 0600 files, not in
//! the database; old installs are migrated at startup; a replica with the
//! same files accepts the first one's sessions, one without them refuses to
//! start.

mod common;

use std::os::unix::fs::PermissionsExt;

use berth_server::{AppState, Config, db};
use common::{Backend, TestApp};

async fn setting(t: &TestApp, key: &str) -> Option<String> {
    db::settings::get(&t.state.db, key).await.unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

db_test!(
    secrets_are_files_not_database_rows,
    |t: TestApp| async move {
        let dir = t.state.config.secrets_dir();
        for (file, key) in [
            ("session-secret", "session_secret"),
            ("agent-signing-key.pem", "agent_signing_key"),
        ] {
            let p = dir.join(file);
            assert!(p.exists(), "{}", p.display());
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            assert_eq!(
                setting(&t, key).await,
                None,
                "{key} must not be in the database"
            );
            let content = std::fs::read_to_string(&p).unwrap();
            // Nothing in the settings table holds the secret.
            let all: Vec<String> = sqlx::query_scalar("SELECT value FROM settings")
                .fetch_all(&t.state.db.pool)
                .await
                .unwrap();
            assert!(all.iter().all(|v| !v.contains(content.trim())));
        }
        assert!(
            std::fs::read_to_string(dir.join("agent-signing-key.pem"))
                .unwrap()
                .contains("PRIVATE KEY")
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_installs_move_their_secrets_out_of_the_database() {
    let t = TestApp::new(Backend::Sqlite).await;
    let owner = t.owner().await;
    let data = t.state.config.data_dir.clone();
    let session = std::fs::read_to_string(data.join("session-secret")).unwrap();
    let key = std::fs::read_to_string(data.join("agent-signing-key.pem")).unwrap();
    // Make it look like an install from before: secrets in `settings`, no
    // files, no fingerprints.
    db::settings::set(&t.state.db, "session_secret", session.trim())
        .await
        .unwrap();
    db::settings::set(&t.state.db, "agent_signing_key", key.trim())
        .await
        .unwrap();
    for k in ["session_secret_sha256", "agent_signing_key_sha256"] {
        db::settings::delete(&t.state.db, k).await.unwrap();
    }
    std::fs::remove_file(data.join("session-secret")).unwrap();
    std::fs::remove_file(data.join("agent-signing-key.pem")).unwrap();

    // Restart on the same data dir.
    let mut config = Config::with_data_dir(&data);
    config.dashboard_dir = t.state.config.dashboard_dir.clone();
    let again = AppState::new(config).await.expect("restart");
    assert_eq!(
        db::settings::get(&again.db, "session_secret")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db::settings::get(&again.db, "agent_signing_key")
            .await
            .unwrap(),
        None
    );
    for f in ["session-secret", "agent-signing-key.pem"] {
        assert_eq!(mode(&data.join(f)), 0o600);
    }
    assert_eq!(
        std::fs::read_to_string(data.join("session-secret"))
            .unwrap()
            .trim(),
        session.trim()
    );
    assert_eq!(
        again.agents.public_key_pem(),
        t.state.agents.public_key_pem(),
        "the agents' pinned key is kept"
    );
    // Sessions made before the move still work.
    let claims = again
        .sessions
        .verify(&owner.token)
        .expect("old session valid");
    assert_eq!(claims.sub, owner.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_need_the_same_secret_files() {
    let a = TestApp::new(Backend::Sqlite).await;
    let owner = a.owner().await;
    let db_url = a.state.config.database_url();
    let secrets = a.state.config.secrets_dir();

    // A second replica given the same files accepts A's sessions.
    let b = TestApp::with_config(Backend::Sqlite, |c| {
        c.database_url = Some(db_url.clone());
        c.secrets_dir = Some(secrets.clone());
    })
    .await;
    let r = b.get("/api/v1/auth/me", &owner.token).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // One without them refuses to start, saying what to do.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.database_url = Some(db_url.clone());
    let err = AppState::new(config)
        .await
        .expect_err("must not make new secrets");
    let msg = err.to_string();
    assert!(
        msg.contains("is missing") && msg.contains("BERTH_SECRETS_DIR"),
        "{msg}"
    );
    assert!(!dir.path().join("data/session-secret").exists());

    // One with different files refuses too.
    let other = TestApp::new(Backend::Sqlite).await;
    let mut config = Config::with_data_dir(dir.path().join("data2"));
    config.database_url = Some(db_url);
    config.secrets_dir = Some(other.state.config.secrets_dir());
    let err = AppState::new(config).await.expect_err("different secrets");
    assert!(err.to_string().contains("different"), "{err}");
}
