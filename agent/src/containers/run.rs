//! One run of a container and the next: a start mounts its rootfs,
//! rewrites its bundle and spawns its monitor; a watch waits for that
//! monitor to end and records the exit; the restart policy then decides
//! whether, after Docker's back-off, the next run starts. These four call
//! each other in a loop, so they live together.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use berth_api::containers::RestartPolicy;
use chrono::Utc;

use super::oci::blocking;
use super::registry::{Containers, Entry, Live};
use super::{Error, Result};
use crate::monitor::{self, MonitorArgs, status};

impl Containers {
    /// Starts a container (the caller holds its ops lock).
    pub(super) async fn start_entry(&self, entry: &Arc<Entry>) -> Result<()> {
        if let Live::Running { .. } = entry.live() {
            return Err(Error::Conflict(format!(
                "container {} is already running",
                entry.record().name
            )));
        }
        let record = entry.record();
        let attachment = match &self.inner.network {
            Some(n) => Some(n.attach(&entry.id, None).await?),
            None => None,
        };
        let this = self.clone();
        let dir = entry.dir.clone();
        let args = self.monitor_args(entry);
        let bin = self.inner.cfg.monitor_bin.clone();
        let started = blocking(move || -> Result<u32> {
            // After a reboot the rootfs is not mounted any more.
            this.inner.images.mount_rootfs(&record.image_id, &dir)?;
            this.write_bundle(&record, &dir, attachment.as_ref())?;
            // Stale runtime state of a run that did not end cleanly.
            let _ = this.inner.runtime.delete(&record.id, true);
            status::clear(&dir);
            monitor::spawn::start(&bin, &args).map_err(|e| match e {
                monitor::spawn::Error::Start(why) => {
                    Error::Invalid(format!("the container failed to start: {why}"))
                }
                other => Error::internal("start the container's monitor", other),
            })
        })
        .await?;
        let pid = match started {
            Ok(pid) => pid,
            Err(e) => {
                self.detach_network(&entry.id).await;
                return Err(e);
            }
        };
        let started_at = status::read_started(&entry.dir)
            .map(|s| s.started_at)
            .unwrap_or_else(Utc::now);
        entry.update(|r| {
            r.started_at = Some(started_at);
            r.finished_at = None;
            r.exit_code = None;
            r.should_run = true;
            r.manually_stopped = false;
        })?;
        let generation = entry.generation.fetch_add(1, Ordering::SeqCst) + 1;
        entry
            .live
            .send_replace(Live::Running { pid, paused: false });
        self.watch(entry.clone(), generation);
        tracing::info!(id = %entry.id, pid, "started container");
        Ok(())
    }

    fn monitor_args(&self, entry: &Entry) -> MonitorArgs {
        let limits = self.inner.cfg.log_limits;
        MonitorArgs {
            id: entry.id.clone(),
            container_dir: entry.dir.clone(),
            bundle: entry.dir.join("bundle"),
            socket: self.socket_path(&entry.id),
            runtime_root: self.inner.cfg.paths.oci_root(),
            runtime_bin: self.inner.cfg.runtime_bin.clone(),
            log_max_size: limits.max_size,
            log_max_files: limits.max_files,
        }
    }

    /// Waits for the monitor of this run to end, then records the exit.
    pub(super) fn watch(&self, entry: Arc<Entry>, generation: u64) {
        let this = self.clone();
        let socket = self.socket_path(&entry.id);
        tokio::spawn(async move {
            monitor::spawn::wait_for_exit(&socket).await;
            if entry.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let exited = status::read_exited(&entry.dir);
            let _ = entry.update(|r| match &exited {
                Some(x) => {
                    r.exit_code = Some(x.exit_code);
                    r.finished_at = Some(x.finished_at);
                }
                None => {
                    r.exit_code = None;
                    r.finished_at = Some(Utc::now());
                }
            });
            entry.live.send_replace(Live::Stopped);
            tracing::info!(id = %entry.id, exit = ?exited.map(|x| x.exit_code), "container stopped");
            this.after_exit(entry).await;
        });
    }

    /// Applies the restart policy to a container that has just been seen
    /// stopped.
    pub(super) async fn after_exit(&self, entry: Arc<Entry>) {
        let r = entry.record();
        let policy = r.spec.restart.unwrap_or_default();
        let failed = r.exit_code != Some(0);
        let restart = !r.manually_stopped
            && match policy {
                RestartPolicy::No => false,
                RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                RestartPolicy::OnFailure { max_retries } => {
                    failed && max_retries.is_none_or(|n| r.restart_count < n)
                }
            };
        if !restart {
            let _ = entry.update(|r| r.should_run = false);
            // Its address and ports stay reserved; the veth and rules go.
            self.detach_network(&entry.id).await;
            return;
        }
        // Docker's back-off: 100 ms doubling up to a minute; a run of 10 s
        // or more resets it.
        let ran = match (r.started_at, r.finished_at) {
            (Some(s), Some(f)) => (f - s).num_seconds(),
            _ => 0,
        };
        if ran >= 10 {
            entry.backoff.store(0, Ordering::SeqCst);
        }
        let generation = entry.generation.load(Ordering::SeqCst);
        self.schedule_restart(entry, generation);
    }

    /// After the next back-off delay, starts the container again unless it
    /// was started, stopped by hand or deleted meanwhile (its generation
    /// moved or it is marked stopped). A start that fails (a busy host, a
    /// cgroup still being torn down) is retried with the next delay for as
    /// long as the policy wants the container running, as Docker's restart
    /// manager does, instead of leaving an `always` container down.
    fn schedule_restart(&self, entry: Arc<Entry>, generation: u64) {
        let level = entry.backoff.fetch_add(1, Ordering::SeqCst);
        let delay = backoff_delay(level);
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ops = entry.ops.lock().await;
            let gone = !this.contains(&entry.id);
            let r = entry.record();
            if gone
                || entry.generation.load(Ordering::SeqCst) != generation
                || r.manually_stopped
                || entry.live() != Live::Stopped
            {
                return;
            }
            if let RestartPolicy::OnFailure {
                max_retries: Some(n),
            } = r.spec.restart.unwrap_or_default()
                && r.restart_count >= n
            {
                let _ = entry.update(|r| r.should_run = false);
                this.detach_network(&entry.id).await;
                return;
            }
            let _ = entry.update(|r| r.restart_count += 1);
            if let Err(e) = this.start_entry(&entry).await {
                tracing::warn!(id = %entry.id, error = %e, "restart by policy failed; trying again after the next back-off");
                this.schedule_restart(entry.clone(), generation);
            }
        });
    }
}

/// The delay before restart number `level` (from 0) of a quick-failing
/// run: 100 ms doubling, at most a minute.
fn backoff_delay(level: u32) -> Duration {
    Duration::from_millis(100u64 << level.min(10)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff_delay(0), Duration::from_millis(100));
        assert_eq!(backoff_delay(1), Duration::from_millis(200));
        assert_eq!(backoff_delay(9), Duration::from_millis(51_200));
        assert_eq!(backoff_delay(10), Duration::from_secs(60));
        assert_eq!(backoff_delay(u32::MAX), Duration::from_secs(60));
    }
}
