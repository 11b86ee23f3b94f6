//! `--local-agent` supervision with a stand-in agent binary (a shell script
//! that records how it was started): the join token in its environment,
//! restart after a crash, SIGTERM on shutdown, and a stale join file.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestApp;
use tokio_util::sync::CancellationToken;

const SCRIPT: &str = r#"#!/bin/sh
d=$(dirname "$0")
mkdir -p "$d/starts"
n=$(ls "$d/starts" | grep -c args)
echo "$@" > "$d/starts/$n.args"
echo "${BERTH_AGENT_JOIN_TOKEN:-none}" > "$d/starts/$n.token"
if [ "$n" = 0 ]; then exit 3; fi
sleep 30 &
trap 'echo term > "$d/term"; kill $!; exit 0' TERM
echo > "$d/starts/$n.ready"
wait
"#;

fn write_script(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("fake-agent.sh");
    std::fs::write(&p, SCRIPT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

async fn wait_for(path: &Path, within: Duration) -> Duration {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < within,
            "{} did not appear within {within:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervises_restarts_and_stops_the_local_agent() {
    let bin_dir = tempfile::tempdir().unwrap();
    let script = write_script(bin_dir.path());
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.local_agent = true;
        c.agent_bin = Some(script.clone());
        c.local_agent_listen = "127.0.0.1:17999".parse().unwrap();
    })
    .await;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(berth_server::agents::local::supervise(
        t.state.clone(),
        shutdown.clone(),
    ));
    let starts = bin_dir.path().join("starts");
    wait_for(&starts.join("0.token"), Duration::from_secs(15)).await;
    // It crashed at once; it is started again after the first back-off
    // (1 s). Measured between the files' modification times, written by
    // the two runs, not by when this test happened to see them; no upper
    // bound (shared cores), only that the restart comes.
    wait_for(&starts.join("1.token"), Duration::from_secs(15)).await;
    let mtime = |n: &str| {
        std::fs::metadata(starts.join(n))
            .unwrap()
            .modified()
            .unwrap()
    };
    let gap = mtime("1.args").duration_since(mtime("0.token")).unwrap();
    assert!(
        gap >= Duration::from_millis(900),
        "restarted without its back-off, after {gap:?}"
    );
    let args = std::fs::read_to_string(starts.join("0.args")).unwrap();
    let data = t.state.config.data_dir.join("agent");
    assert_eq!(
        args.trim(),
        format!("run --data-dir {} --listen 127.0.0.1:17999", data.display())
    );
    // A real join token, in the environment (not argv).
    let token = std::fs::read_to_string(starts.join("0.token")).unwrap();
    let payload = berth_server::agents::join::decode_token(token.trim()).expect("a join token");
    assert_eq!(payload.fingerprint, t.state.fingerprint());
    assert!(!args.contains("berthjoin1."));
    // Shutdown: SIGTERM to the child (once it has set its trap), and the
    // supervisor returns.
    wait_for(&starts.join("1.ready"), Duration::from_secs(15)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(12), task)
        .await
        .expect("supervisor ended")
        .unwrap();
    assert!(
        bin_dir.path().join("term").exists(),
        "the agent got SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_agent_gets_no_token_and_a_stale_join_is_redone() {
    let bin_dir = tempfile::tempdir().unwrap();
    let script = write_script(bin_dir.path());
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.agent_bin = Some(script.clone());
    })
    .await;
    let agent_dir = t.state.config.data_dir.join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    // A join file naming a host this database does not know.
    std::fs::write(agent_dir.join("join.json"), r#"{"host_id":"gone","server_url":"x","server_fingerprint":"x","server_public_key_pem":"x"}"#).unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(berth_server::agents::local::supervise(
        t.state.clone(),
        shutdown.clone(),
    ));
    let starts = bin_dir.path().join("starts");
    wait_for(&starts.join("0.token"), Duration::from_secs(15)).await;
    assert!(
        std::fs::read_to_string(starts.join("0.token"))
            .unwrap()
            .starts_with("berthjoin1.")
    );
    assert!(!agent_dir.join("join.json").exists());
    assert!(std::fs::read_dir(&agent_dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("join.json.stale-")
    }));
    // Now "joined" to a host the database knows: restarts carry no token.
    let facts = serde_json::to_string(&common::fake_agent::facts()).unwrap();
    sqlx::query("INSERT INTO hosts (id, name, address, facts_json, cert_pem, cert_sha256, created_at) VALUES ('h1', 'me', 'https://127.0.0.1:1', $1, '', '', 0)")
        .bind(facts)
        .execute(&t.state.db.pool)
        .await
        .unwrap();
    std::fs::write(
        agent_dir.join("join.json"),
        r#"{"host_id":"h1","server_url":"x","server_fingerprint":"x","server_public_key_pem":"x"}"#,
    )
    .unwrap();
    wait_for(&starts.join("1.token"), Duration::from_secs(15)).await;
    assert_eq!(
        std::fs::read_to_string(starts.join("1.token"))
            .unwrap()
            .trim(),
        "none"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(12), task)
        .await
        .unwrap()
        .unwrap();
}
