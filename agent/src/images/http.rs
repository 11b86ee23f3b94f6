//! The agent's image endpoints (docs/agent-protocol.md "The agent's API"):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | /v1/images | `Vec<Image>` |
//! | GET | /v1/images/usage | `StoreUsage` |
//! | POST | /v1/images/import | tar body, streamed → 201 `ImportResult` |
//! | DELETE | /v1/images/{image} | 204; 409 while a container uses it |
//!
//! Errors are problem+json with the status [`Error::status`] gives. The
//! agent engineer merges [`router`] into the agent's router behind its auth
//! layer.

use std::io;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use berth_api::images::{Image, ImportResult, StoreUsage};
use futures::TryStreamExt;
use tokio_util::io::StreamReader;

use super::{Error, ImageStore};

/// The image routes, with the store as state.
pub fn router() -> Router<Arc<ImageStore>> {
    Router::new()
        .route("/v1/images", get(list))
        .route("/v1/images/usage", get(usage))
        .route("/v1/images/import", post(import))
        .route("/v1/images/{image}", delete(remove))
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
