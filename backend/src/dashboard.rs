//! The dashboard: static files of the built Leptos app, with `index.html`
//! for client-side routes (a reload of /hosts/h1 lands on the same page),
//! cache headers (immutable for content-hashed files, revalidate for the
//! rest) and precompressed `.gz` files when present. Paths under `/api`
//! never fall back to `index.html`.
//!
//! Also the browsable API docs at `/api/docs`: Swagger UI (from the
//! dashboard's `vendor/swagger-ui/`, or the repository's `tools/node_modules`)
//! over `/api/v1/openapi.json`. Nothing comes from a CDN.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::error::ApiError;
use crate::state::AppState;

/// First path segments of the dashboard's client-side routes.
const APP_ROUTES: [&str; 7] = [
    "",
    "login",
    "setup",
    "hosts",
    "containers",
    "images",
    "admin",
];

/// Is the last segment a file name with a content hash (`app-1a2b3c4d.js`,
/// `main.3f9a0c1e7b.css`)?
fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    file.split(['-', '.', '_']).any(|part| {
        part.len() >= 8
            && part.chars().all(|c| c.is_ascii_hexdigit())
            && part.chars().any(|c| c.is_ascii_digit())
    })
}

/// Should a missing file be answered with index.html?
fn is_app_route(path: &str) -> bool {
    let trimmed = path.trim_start_matches('/');
    let first = trimmed.split('/').next().unwrap_or("");
    if first == "api" {
        return false;
    }
    let last = trimmed.rsplit('/').next().unwrap_or("");
    APP_ROUTES.contains(&first) || !last.contains('.')
}

async fn index(dir: &Path) -> Response {
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(_) => {
            let mut r = Response::new(Body::from(format!(
                "<!doctype html><title>Berth</title><p>The dashboard is not built: no {} (run scripts/build-frontend.sh). The API is at <a href=\"/api/docs\">/api/docs</a>.</p>",
                dir.join("index.html").display()
            )));
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
    }
}

/// The fallback of the whole router: API paths get a problem 404, the rest
/// the dashboard.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound(format!("no such endpoint: {path}")).into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return crate::http::method_not_allowed(req.method().clone(), req.uri().clone()).await;
    }
    let dir = state.config.dashboard_dir();
    if path == "/" || path == "/index.html" {
        return index(&dir).await;
    }
    let served = ServeDir::new(&dir)
        .precompressed_gzip()
        .append_index_html_on_directories(false)
        .oneshot(req)
        .await;
    match served {
        Ok(r) if r.status() == StatusCode::NOT_FOUND && is_app_route(&path) => index(&dir).await,
        Ok(r) => {
            let mut r = r.map(Body::new);
            if r.status().is_success() || r.status() == StatusCode::NOT_MODIFIED {
                let cc = if is_hashed(&path) {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                };
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
            }
            r
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Where Swagger UI's files are.
fn swagger_dir(state: &AppState) -> Option<PathBuf> {
    let mut candidates = vec![state.config.dashboard_dir().join("vendor/swagger-ui")];
    if let Ok(exe) = std::env::current_exe() {
        for d in exe.ancestors().skip(1) {
            candidates.push(d.join("tools/node_modules/swagger-ui-dist"));
        }
    }
    candidates.push(PathBuf::from("tools/node_modules/swagger-ui-dist"));
    candidates
        .into_iter()
        .find(|d| d.join("swagger-ui-bundle.js").is_file())
}

/// The docs page; `{css}`, `{bundle}` and `{init}` are the Subresource
/// Integrity values of the files (see [`docs_page`]).
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Berth API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css" integrity="{css}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js" integrity="{bundle}" crossorigin="anonymous"></script>
<script src="/api/docs/init.js" integrity="{init}" crossorigin="anonymous"></script>
</body>
</html>
"#;

/// `sha384-<base64>`: the Subresource Integrity value of `bytes`.
pub fn sri(bytes: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(bytes))
    )
}

/// The SRI value of a vendored file, computed once per path (the files
/// change only with a new build, which means a new server).
fn file_sri(path: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().ok()?.get(path) {
        return Some(v.clone());
    }
    let v = sri(&std::fs::read(path).ok()?);
    cache.lock().ok()?.insert(path.to_path_buf(), v.clone());
    Some(v)
}

const DOCS_INIT: &str = r#"window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/api/v1/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    withCredentials: true,
    requestInterceptor: function (req) {
      if (req.method && req.method !== 'GET') { req.headers['X-Berth-CSRF'] = '1'; }
      return req;
    }
  });
});
"#;

async fn docs_page(State(state): State<AppState>) -> Response {
    let Some(dir) = swagger_dir(&state) else {
        return ApiError::NotFound(
            "Swagger UI is not installed: build the dashboard (it copies swagger-ui-dist to vendor/swagger-ui)".into(),
        )
        .into_response();
    };
    let (Some(css), Some(bundle)) = (
        file_sri(&dir.join("swagger-ui.css")),
        file_sri(&dir.join("swagger-ui-bundle.js")),
    ) else {
        return ApiError::NotFound(format!(
            "Swagger UI's files are incomplete in {}",
            dir.display()
        ))
        .into_response();
    };
    let html = DOCS_HTML
        .replace("{css}", &css)
        .replace("{bundle}", &bundle)
        .replace("{init}", &sri(DOCS_INIT.as_bytes()));
    let mut r = html.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

async fn docs_init() -> Response {
    let mut r = DOCS_INIT.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r
}

async fn docs_asset(State(state): State<AppState>, req: Request) -> Response {
    let Some(dir) = swagger_dir(&state) else {
        return ApiError::NotFound(
            "Swagger UI is not installed: build the dashboard (it copies swagger-ui-dist to vendor/swagger-ui)".into(),
        )
        .into_response();
    };
    let (mut parts, body) = req.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix("/api/docs/assets")
        .unwrap_or("/")
        .to_string();
    parts.uri = rest.parse().unwrap_or_default();
    match ServeDir::new(dir)
        .oneshot(Request::from_parts(parts, body))
        .await
    {
        Ok(r) => {
            let mut r = r.map(Body::new);
            if r.status() == StatusCode::NOT_FOUND {
                return ApiError::NotFound(format!("no such file: /api/docs/assets{rest}"))
                    .into_response();
            }
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            r
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `/api/docs`, its init script and Swagger UI's files.
pub fn docs_router() -> Router<AppState> {
    Router::new()
        .route("/api/docs", get(docs_page))
        .route("/api/docs/", get(docs_page))
        .route("/api/docs/init.js", get(docs_init))
        .route("/api/docs/assets/{*file}", get(docs_asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/pkg/berth-frontend-1a2b3c4d5e.wasm"));
        assert!(is_hashed("/assets/main.3f9a0c1e7b.css"));
        assert!(!is_hashed("/pkg/berth_frontend_bg.wasm"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/favicon.ico"));
    }

    #[test]
    fn app_routes() {
        assert!(is_app_route("/hosts/h1/containers/web.1"));
        assert!(is_app_route("/login"));
        assert!(is_app_route("/admin/users"));
        assert!(!is_app_route("/pkg/missing.wasm"));
        assert!(!is_app_route("/api/v1/nothing"));
    }
}
