//! The agent's image endpoints (`berth_api::agent_api::Endpoint`'s
//! `ListImages`, `ImageUsage`, `ImportImage`, `PullImage`, `RemoveImage`).
//! A pull answers SSE of `PullProgress`, ending with `done` or `error`, then
//! `event: end`.
//!
//! Errors are problem+json with the status [`Error::status`] gives. The
//! agent's router serves [`route`] behind its auth layer; [`router`] is the
//! same routes alone, for tests.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};
use berth_api::agent_api::Endpoint;
use berth_api::images::{Image, ImportResult, PullProgress, PullRequest, StoreUsage};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::io::StreamReader;

use super::{Error, ImageStore, reference};

/// The image routes, with the store as state.
pub fn router() -> Router<Arc<ImageStore>> {
    Endpoint::ALL
        .iter()
        .filter_map(|&e| route(e).map(|r| (e, r)))
        .fold(Router::new(), |router, (e, r)| router.route(e.pattern(), r))
}

/// The handler of an image endpoint; `None` for every other endpoint.
pub fn route(e: Endpoint) -> Option<MethodRouter<Arc<ImageStore>>> {
    use Endpoint as E;
    let m = crate::http::method_filter(e.method());
    Some(match e {
        E::ListImages => on(m, list),
        E::ImageUsage => on(m, usage),
        E::ImportImage => on(m, import),
        E::PullImage => on(m, pull),
        E::RemoveImage => on(m, remove),
        _ => return None,
    })
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, "image store failure");
        } else {
            tracing::debug!(error = %self, "image request refused");
        }
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, berth_api::error::PROBLEM_JSON)],
            Json(problem),
        )
            .into_response()
    }
}

async fn list(State(store): State<Arc<ImageStore>>) -> Result<Json<Vec<Image>>, Error> {
    let store = store.clone();
    blocking(move || store.list()).await.map(Json)
}

async fn usage(State(store): State<Arc<ImageStore>>) -> Result<Json<StoreUsage>, Error> {
    let store = store.clone();
    blocking(move || store.usage()).await.map(Json)
}

async fn import(
    State(store): State<Arc<ImageStore>>,
    body: Body,
) -> Result<(StatusCode, Json<ImportResult>), Error> {
    let reader = StreamReader::new(body.into_data_stream().map_err(io::Error::other));
    let images = store.import(reader).await?;
    Ok((StatusCode::CREATED, Json(ImportResult { images })))
}

/// Starts a pull and streams its progress. A bad body or reference is a
/// plain 400 before any event; failures of the pull itself arrive as the
/// last progress event (`status: "error"` with a problem). The pull goes on
/// if the client goes away, so a retry finds the layers already there.
async fn pull(
    State(store): State<Arc<ImageStore>>,
    body: Bytes,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    let request: PullRequest = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("invalid pull request: {e}")))?;
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
    let events = UnboundedReceiverStream::new(rx)
        .map(|p| {
            Ok(Event::default()
                .json_data(&p)
                .unwrap_or_else(|_| Event::default().data("{}")))
        })
        .chain(futures::stream::once(async {
            Ok(Event::default().event("end").data("{}"))
        }));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

async fn remove(
    State(store): State<Arc<ImageStore>>,
    Path(image): Path<String>,
) -> Result<StatusCode, Error> {
    let store = store.clone();
    blocking(move || store.remove(&image)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("an image store task failed", io::Error::other(e)))?
}
