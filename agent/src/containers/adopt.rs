//! Re-adoption after an agent restart: a container whose monitor still
//! runs (same boot, same pids) is watched again; one that ended while the
//! agent was away gets its exit recorded; one lost to a reboot or a dead
//! monitor is marked stopped. Restart policies then apply, and the networks
//! of containers that no longer exist are released.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;

use super::registry::{Containers, Entry, Live};
use crate::monitor::status;

impl Containers {
    /// Re-adopts what runs (same pids, same monitors), records what ended
    /// while the agent was away, and applies restart policies, including
    /// after a reboot.
    pub async fn adopt(&self) {
        let boot = status::boot_id();
        for entry in self.entries() {
            if entry.record().started_at.is_some() {
                self.adopt_one(entry, &boot).await;
            }
        }
        self.reconcile_network().await;
    }

    /// Adopts one container that has been started at least once.
    async fn adopt_one(&self, entry: Arc<Entry>, boot: &str) {
        let rec = entry.record();
        let started = status::read_started(&entry.dir);
        let mut exited = status::read_exited(&entry.dir);
        if let (Some(s), None) = (&started, &exited)
            && s.boot_id == boot
            && status::monitor_alive(s.monitor_pid, &entry.id)
            && !status::process_alive(s.pid)
        {
            // Reaped, not yet recorded: the monitor writes the exit
            // right after. Never re-adopt a dead container as running.
            exited = status::wait_exited(&entry.dir, Duration::from_secs(2)).await;
        }
        match (started, exited) {
            (Some(s), None)
                if s.boot_id == boot && status::monitor_alive(s.monitor_pid, &entry.id) =>
            {
                let paused = self.runtime_paused(&entry.id).await;
                entry
                    .live
                    .send_replace(Live::Running { pid: s.pid, paused });
                let generation = entry.generation.fetch_add(1, Ordering::SeqCst) + 1;
                self.watch(entry.clone(), generation);
                tracing::info!(id = %entry.id, pid = s.pid, "re-adopted a running container");
            }
            (_, Some(x)) => {
                let _ = entry.update(|r| {
                    r.exit_code = Some(x.exit_code);
                    r.finished_at = Some(x.finished_at);
                });
                entry.live.send_replace(Live::Stopped);
                self.after_exit(entry).await;
            }
            _ => {
                // The host rebooted, or the monitor died without a word.
                tracing::info!(id = %entry.id, "container did not survive (reboot or lost monitor)");
                entry.live.send_replace(Live::Stopped);
                if rec.finished_at.is_none() || rec.finished_at < rec.started_at {
                    let _ = entry.update(|r| {
                        r.finished_at = Some(Utc::now());
                        r.exit_code = None;
                    });
                }
                self.after_exit(entry).await;
            }
        }
    }
}
