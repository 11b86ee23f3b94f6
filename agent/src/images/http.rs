//! The agent's image endpoints (`berth_api::agent_api::Endpoint`'s
//! `ListImages`, `ImageUsage`, `ImportImage`, `PullImage`, `RemoveImage`).
//! A pull answers SSE of `PullProgress`, ending with `done` or `error`, then
//! `event: end`.
//!
//! The store is the `ImageService` of `berth_net::agent_service`: the
//! agent's router serves it with the rest of the API, behind its auth
//! layer; [`router`] is the same routes alone, for tests. Errors are the
//! problem [`Error::to_problem`] gives.

use std::io;
use std::sync::Arc;

use axum::Router;
use berth_api::Problem;
use berth_api::images::{Image, ImportResult, PullProgress, PullRequest, StoreUsage};
use berth_net::agent_service::{Answer, ByteStream, EventStream, ImageService};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::io::StreamReader;

use super::{Error, ImageStore, reference};

/// The image routes alone, with the store as state (for tests; the agent
/// serves them with the rest of its API).
pub fn router() -> Router<Arc<ImageStore>> {
    berth_net::agent_service::image_routes()
}

/// The problem a client gets for `e` (a failure of the store is logged).
fn problem(e: Error) -> Problem {
    let problem = e.to_problem();
    if problem.status >= 500 {
        tracing::error!(error = %e, "image store failure");
    } else {
        tracing::debug!(error = %e, "image request refused");
    }
    problem
}

impl ImageService for ImageStore {
    async fn list_images(&self) -> Answer<Vec<Image>> {
        let store = self.clone();
        blocking(move || store.list()).await.map_err(problem)
    }

    async fn image_usage(&self) -> Answer<StoreUsage> {
        let store = self.clone();
        blocking(move || store.usage()).await.map_err(problem)
    }

    async fn pull_image(&self, req: PullRequest) -> Answer<EventStream> {
        pull(self.clone(), req).await.map_err(problem)
    }

    async fn import_image(&self, body: ByteStream) -> Answer<ImportResult> {
        let images = self
            .import(StreamReader::new(body))
            .await
            .map_err(problem)?;
        Ok(ImportResult { images })
    }

    async fn remove_image(&self, image: String) -> Answer<()> {
        let store = self.clone();
        blocking(move || store.remove(&image))
            .await
            .map_err(problem)
    }
}

/// Starts a pull and streams its progress. A bad body or reference is a
/// plain 400 before any event; failures of the pull itself arrive as the
/// last progress event (`status: "error"` with a problem). The pull goes on
/// if the client goes away, so a retry finds the layers already there.
async fn pull(store: ImageStore, request: PullRequest) -> Result<EventStream, Error> {
    reference::parse(&request.reference)?;
    // A registry that resolves to an internal address: a 422 before any
    // event (redirects and token realms are checked during the pull).
    super::egress::check_registry(&request).await?;
    let (tx, rx) = mpsc::unbounded_channel::<PullProgress>();
    tokio::spawn(async move {
        let events = tx.clone();
        let progress = move |p: PullProgress| {
            let _ = events.send(p);
        };
        let last = match store.pull(&request, &progress).await {
            Ok(image) => {
                tracing::info!(reference = %request.reference, image = %image.id, "image pulled");
                PullProgress {
                    layer: String::new(),
                    current: image.size_bytes,
                    total: image.size_bytes,
                    status: "done".to_string(),
                    image: Some(image),
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(reference = %request.reference, error = %e, "image pull failed");
                PullProgress {
                    layer: String::new(),
                    current: 0,
                    total: 0,
                    status: "error".to_string(),
                    image: None,
                    error: Some(e.to_problem()),
                }
            }
        };
        let _ = tx.send(last);
    });
    Ok(EventStream::json(UnboundedReceiverStream::new(rx)).then_end())
}

/// Runs filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("an image store task failed", io::Error::other(e)))?
}
