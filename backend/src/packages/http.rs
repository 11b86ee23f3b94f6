//! The repository's routes, outside the API and without login (a fresh
//! host has no account; what they serve is public, and its integrity comes
//! from the pinned connection and the repository's signatures):
//!
//! - `GET /apt/{path}`: the repository. Only paths of the last build are
//!   served, looked up whole (an index in memory, or a `.deb` by its pool
//!   path), so no request names a file of its own: `..`, another directory
//!   or a symlink can't be reached. A `.deb` is opened without following
//!   symlinks.
//! - `GET /install/agent.sh`: the install script of the one-line join.
//! - `GET /install/berth-archive-keyring.gpg` (binary, for `Signed-By:`)
//!   and `.asc` (armored): the repository's public key.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// The keyring's path on the server.
pub const KEYRING_ROUTE: &str = "/install/berth-archive-keyring.gpg";

/// The routes, merged into the app (`crate::app`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apt/{*path}", get(apt))
        .route("/install/agent.sh", get(install_script))
        .route(KEYRING_ROUTE, get(keyring))
        .route("/install/berth-archive-keyring.asc", get(keyring_armored))
        .method_not_allowed_fallback(crate::http::method_not_allowed)
}

fn with_type(body: impl Into<Body>, content_type: &'static str) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with(".gz") {
        "application/gzip"
    } else if path.ends_with(".gpg") {
        "application/pgp-signature"
    } else {
        "text/plain; charset=utf-8"
    }
}

async fn apt(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    let release = path.starts_with("dists/")
        && ["/InRelease", "/Release", "/Release.gpg"]
            .iter()
            .any(|s| path.ends_with(s));
    // A new listing is noticed when apt asks for the release file first.
    let repo = if release {
        state.packages.refresh().await
    } else {
        state.packages.current()
    };
    if let Some(bytes) = repo.files.get(&path) {
        return with_type(bytes.clone(), content_type(&path));
    }
    let Some(deb) = repo.debs.get(&path) else {
        return ApiError::NotFound(format!("no such file in the repository: /apt/{path}"))
            .into_response();
    };
    let opened = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&deb.file)
        .await;
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(file = %deb.file.display(), error = %e, "a package of the repository is unreadable");
            return ApiError::NotFound(format!("/apt/{path} is gone from the server"))
                .into_response();
        }
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    if len != deb.size {
        return ApiError::NotFound(format!(
            "/apt/{path} changed on the server since its index was built: update the package lists"
        ))
        .into_response();
    }
    let mut r = with_type(
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        "application/vnd.debian.binary-package",
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

async fn install_script(State(state): State<AppState>) -> Response {
    let repo = state.packages.refresh().await;
    let text = super::script::render(
        &state.packages,
        &repo,
        &state.config.public_url(),
        &state.server_cert,
    );
    with_type(text, "text/x-shellscript; charset=utf-8")
}

async fn keyring(State(state): State<AppState>) -> Response {
    with_type(
        state.packages.key().public_keyring(),
        "application/pgp-keys",
    )
}

async fn keyring_armored(State(state): State<AppState>) -> Response {
    with_type(
        state.packages.key().public_keyring_armored(),
        "application/pgp-keys",
    )
}
