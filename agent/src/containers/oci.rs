//! Blocking work off the async threads: the OCI runtime's calls (kill,
//! pause, resume, state) and the file and image work of the other modules
//! run on tokio's blocking pool.

use super::registry::Containers;
use super::{Error, Result};
use crate::runtime::OciRuntime;

/// Runs `f` on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("a blocking task", e))
}

impl Containers {
    /// Calls the OCI runtime for container `id`.
    pub(super) async fn runtime_call<F>(&self, id: &str, f: F) -> Result<()>
    where
        F: FnOnce(&dyn OciRuntime, &str) -> crate::runtime::Result<()> + Send + 'static,
    {
        let this = self.clone();
        let id = id.to_string();
        blocking(move || f(this.inner.runtime.as_ref(), &id))
            .await?
            .map_err(|e| Error::internal("runtime", e))
    }

    /// Does the runtime say container `id` is paused? False when it cannot
    /// tell.
    pub(super) async fn runtime_paused(&self, id: &str) -> bool {
        let this = self.clone();
        let id = id.to_string();
        blocking(move || this.inner.runtime.state(&id))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten()
            .is_some_and(|s| s.status == "paused")
    }
}
