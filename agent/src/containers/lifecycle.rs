//! The lifecycle verbs of docs/api.md: start, stop, restart, kill, pause
//! and unpause, each under the container's ops lock and with its state rule
//! (409 for the wrong state), and the waits for a container to stop.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use berth_api::containers::Container;

use super::registry::{Containers, Entry, Live};
use super::{Error, Result, parse_signal};

impl Containers {
    /// `start`: 409 when running.
    pub async fn start(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        self.start_entry(&e).await?;
        e.backoff.store(0, Ordering::SeqCst);
        Ok(self.view(&e))
    }

    /// `stop`: the image's stop signal (SIGTERM), then SIGKILL after `timeout`.
    pub async fn stop(&self, key: &str, timeout: Duration) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if !matches!(e.live(), Live::Running { .. }) {
            let r = e.record();
            if r.should_run && !r.manually_stopped {
                // Between two runs, waiting for its policy's back-off: as
                // in Docker, a stop cancels the pending restart.
                e.update(|r| {
                    r.manually_stopped = true;
                    r.should_run = false;
                })?;
                self.detach_network(&e.id).await;
                return Ok(self.view(&e));
            }
            return Err(Error::Conflict(format!("container {key} is not running")));
        }
        self.stop_entry(&e, timeout).await?;
        Ok(self.view(&e))
    }

    /// Stops a running container (the caller holds its ops lock).
    async fn stop_entry(&self, e: &Arc<Entry>, timeout: Duration) -> Result<()> {
        e.update(|r| {
            r.manually_stopped = true;
            r.should_run = false;
        })?;
        if let Live::Running { paused: true, .. } = e.live() {
            self.runtime_call(&e.id, |rt, id| rt.resume(id)).await?;
        }
        let sig = e
            .record()
            .stop_signal
            .as_deref()
            .and_then(|s| parse_signal(s).ok())
            .unwrap_or(libc::SIGTERM);
        let _ = self
            .runtime_call(&e.id, move |rt, id| rt.kill(id, sig, false))
            .await;
        if !wait_stopped(e, timeout).await {
            let _ = self
                .runtime_call(&e.id, |rt, id| rt.kill(id, libc::SIGKILL, true))
                .await;
            wait_killed(e, "stop").await?;
        }
        Ok(())
    }

    /// `restart`: stop (if running), then start.
    pub async fn restart(&self, key: &str, timeout: Duration) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if matches!(e.live(), Live::Running { .. }) {
            self.stop_entry(&e, timeout).await?;
        }
        self.start_entry(&e).await?;
        Ok(self.view(&e))
    }

    /// `kill`: sends `signal` to the container's init.
    pub async fn kill(&self, key: &str, signal: i32) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if !matches!(e.live(), Live::Running { .. }) {
            return Err(Error::Conflict(format!("container {key} is not running")));
        }
        e.update(|r| r.manually_stopped = true)?;
        self.runtime_call(&e.id, move |rt, id| rt.kill(id, signal, false))
            .await?;
        if signal == libc::SIGKILL {
            wait_stopped(&e, Duration::from_secs(5)).await;
        }
        Ok(self.view(&e))
    }

    /// `pause`: freezes every process (the freezer cgroup).
    pub async fn pause(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        let Live::Running { pid, paused: false } = e.live() else {
            return Err(Error::Conflict(format!(
                "container {key} is not running (or is paused already)"
            )));
        };
        self.runtime_call(&e.id, |rt, id| rt.pause(id)).await?;
        e.live.send_replace(Live::Running { pid, paused: true });
        Ok(self.view(&e))
    }

    /// `unpause`: thaws it.
    pub async fn unpause(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        let Live::Running { pid, paused: true } = e.live() else {
            return Err(Error::Conflict(format!("container {key} is not paused")));
        };
        self.runtime_call(&e.id, |rt, id| rt.resume(id)).await?;
        e.live.send_replace(Live::Running { pid, paused: false });
        Ok(self.view(&e))
    }
}

/// Waits until the container is seen stopped; false on timeout.
async fn wait_stopped(e: &Entry, timeout: Duration) -> bool {
    let mut rx = e.live.subscribe();
    tokio::time::timeout(timeout, rx.wait_for(|l| !matches!(l, Live::Running { .. })))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Waits, after a SIGKILL to every process of the container, until its
/// monitor has seen it end. The monitor reports the end only once it has
/// written the exit status and the runtime has deleted the container's
/// state and cgroups, which on a loaded host (tasks in uninterruptible
/// sleep leaving their cgroups late, each v1 hierarchy retried) can take
/// longer than the kill itself: so while the init is gone, the wait goes
/// on (up to a minute) for that cleanup instead of failing at 10 s. An
/// init still alive 10 s after SIGKILL is an error that says so.
pub(super) async fn wait_killed(e: &Entry, what: &str) -> Result<()> {
    if wait_stopped(e, Duration::from_secs(10)).await {
        return Ok(());
    }
    if let Live::Running { pid, .. } = e.live()
        && init_alive(pid)
    {
        return Err(Error::internal(
            format!("{what} container {}", e.id),
            format!("its init (pid {pid}) did not end within 10 s of SIGKILL"),
        ));
    }
    tracing::info!(id = %e.id, "the init has ended; waiting for its monitor to clean up");
    if wait_stopped(e, Duration::from_secs(50)).await {
        return Ok(());
    }
    Err(Error::internal(
        format!("{what} container {}", e.id),
        "its init ended but its monitor did not finish cleaning up within a minute (see monitor.log in the container's dir)",
    ))
}

/// Is `pid` a live process (not gone, not a zombie waiting for its reaper)?
fn init_alive(pid: u32) -> bool {
    crate::monitor::status::process_alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_alive_reads_the_process_state() {
        assert!(init_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie, no longer alive.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while init_alive(pid) {
            assert!(std::time::Instant::now() < deadline, "{pid} never exited");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!init_alive(pid));
    }
}
