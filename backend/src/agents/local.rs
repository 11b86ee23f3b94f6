//! `--local-agent`: runs `berth-agent` on this machine as a child, joined to
//! this server with a join token the server makes for itself (passed as
//! `BERTH_AGENT_JOIN_TOKEN`, not on the command line), and keeps it
//! running: a child that exits is restarted (after 1 s, backing off to 30 s
//! while it keeps crashing). On shutdown the child gets SIGTERM; containers
//! survive it (each has its own monitor process).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::state::AppState;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);
/// A child that ran this long counts as healthy: the back-off starts over.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// The agent's data dir in all-in-one mode.
pub fn agent_data_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent")
}

#[derive(serde::Deserialize)]
struct JoinFile {
    host_id: String,
}

/// Does the local agent still need to join? A join file naming a host this
/// database does not know (the database was reset) is moved aside, so the
/// agent joins again.
async fn needs_join(state: &AppState, dir: &Path) -> bool {
    let file = dir.join("join.json");
    let Ok(text) = tokio::fs::read_to_string(&file).await else {
        return true;
    };
    let Ok(j) = serde_json::from_str::<JoinFile>(&text) else {
        return false; // the agent's own file; let it complain
    };
    match db::hosts::get(&state.db, &j.host_id).await {
        Ok(Some(_)) => false,
        Ok(None) => {
            let aside = dir.join(format!("join.json.stale-{}", db::now_ms()));
            tracing::warn!(
                host = %j.host_id,
                moved_to = %aside.display(),
                "the local agent's join file names a host this server does not know; joining it again"
            );
            tokio::fs::rename(&file, &aside).await.is_ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "local agent: could not look up its host");
            false
        }
    }
}

async fn spawn(state: &AppState, bin: &Path, dir: &Path) -> std::io::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.env_remove("BERTH_AGENT_JOIN_TOKEN");
    cmd.arg("run")
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(state.config.local_agent_listen.to_string());
    if needs_join(state, dir).await {
        match crate::agents::join::create_token(
            state,
            &[],
            crate::agents::join::DEFAULT_JOIN_TTL,
            "berth-server (local agent)",
        )
        .await
        {
            // In the environment, not argv: other users can read argv.
            Ok(t) => {
                cmd.env("BERTH_AGENT_JOIN_TOKEN", t.token);
            }
            Err(e) => tracing::error!(error = %e, "local agent: could not make a join token"),
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches only
    // the calling (child) process; it makes the agent get SIGTERM if the
    // server dies without a clean shutdown.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// SIGTERM, then SIGKILL after 10 s.
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        // A pid the kernel handed out fits a pid_t (pid_max is at most
        // 2^22); if it somehow did not, the SIGKILL below still stops it.
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) on the pid of our own child, which we have not
            // reaped yet (so the pid cannot have been reused).
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) => tracing::info!(%status, "local agent stopped"),
            _ => {
                tracing::warn!("local agent did not stop within 10 s; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

/// Supervises the local agent until `shutdown`.
pub async fn supervise(state: AppState, shutdown: CancellationToken) {
    let bin = state.config.agent_bin();
    let dir = agent_data_dir(&state.config.data_dir);
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        tracing::error!(dir = %dir.display(), error = %e, "local agent: cannot create its data dir");
    }
    let mut delay = FIRST_DELAY;
    loop {
        let started = Instant::now();
        match spawn(&state, &bin, &dir).await {
            Ok(mut child) => {
                tracing::info!(
                    pid = child.id().unwrap_or(0),
                    bin = %bin.display(),
                    listen = %state.config.local_agent_listen,
                    "local agent started"
                );
                tokio::select! {
                    status = child.wait() => match status {
                        Ok(s) => tracing::warn!(status = %s, "local agent exited"),
                        Err(e) => tracing::error!(error = %e, "local agent: wait failed"),
                    },
                    _ = shutdown.cancelled() => {
                        stop(&mut child).await;
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(bin = %bin.display(), error = %e, "local agent: cannot start it")
            }
        }
        delay = if started.elapsed() >= STABLE_AFTER {
            FIRST_DELAY
        } else {
            delay
        };
        tracing::info!(
            after_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "restarting the local agent"
        );
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}
