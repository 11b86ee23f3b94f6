//! `DELETE`: a container leaves the registry, its network is released and
//! its files (runtime state, rootfs mount, image use, dir) are removed. A
//! running one is refused (409) unless `force`, which kills it first.

use std::sync::atomic::Ordering;

use super::lifecycle::wait_killed;
use super::oci::blocking;
use super::registry::{Containers, Live};
use super::{Error, Result};

impl Containers {
    /// `DELETE`: 409 while running unless `force`, which kills it first.
    pub async fn delete(&self, key: &str, force: bool) -> Result<()> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if matches!(e.live(), Live::Running { .. }) {
            if !force {
                return Err(Error::Conflict(format!(
                    "container {key} is running: stop it first or delete with force=true"
                )));
            }
            e.update(|r| r.manually_stopped = true)?;
            if let Live::Running { paused: true, .. } = e.live() {
                let _ = self.runtime_call(&e.id, |rt, id| rt.resume(id)).await;
            }
            let _ = self
                .runtime_call(&e.id, |rt, id| rt.kill(id, libc::SIGKILL, true))
                .await;
            wait_killed(&e, "delete").await?;
        }
        self.remove(&e.id);
        e.generation.fetch_add(1, Ordering::SeqCst);
        self.release_network(&e.id).await;
        let this = self.clone();
        let (id, dir, image_id) = (e.id.clone(), e.dir.clone(), e.record().image_id);
        blocking(move || this.remove_files(&id, &dir, &image_id)).await??;
        tracing::info!(id = %e.id, "deleted container");
        Ok(())
    }
}
