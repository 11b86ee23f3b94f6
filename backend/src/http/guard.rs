//! Middleware that guards the web-facing side of the server:
//!
//! - [`cross_origin`]: a call authenticated by the session cookie must come
//!   from this server's own pages. A browser attaches the cookie to requests
//!   from any page of the same *site* (another port of the same host is the
//!   same site, so SameSite=Strict does not help), so such calls are refused
//!   when their `Origin` is not this server (the public URL, or the scheme and
//!   `Host` the request came to) or their `Sec-Fetch-Site` says another page
//!   made them. A WebSocket upgrade authenticated by cookie must carry an
//!   `Origin` (browsers always send one). Bearer callers are not affected: a
//!   browser never adds an `Authorization` header by itself.
//! - [`api_headers`]: every API answer is inert: `Content-Security-Policy:
//!   sandbox` and `X-Content-Type-Options: nosniff`, whatever a handler (or
//!   an agent behind it) said.
//! - [`https_only`]: with TLS (the default), plain HTTP on the shared port is
//!   redirected (308) to the public HTTPS URL and HTTPS answers carry
//!   `Strict-Transport-Security`; `--allow-plain-http` turns both off.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_api::auth::SESSION_COOKIE;

use crate::error::ApiError;
use crate::server::ConnInfo;
use crate::state::AppState;

/// The CSP of every API answer: nothing in it may run.
pub const API_CSP: &str = "sandbox; default-src 'none'; frame-ancestors 'none'";

/// The HSTS header sent on HTTPS answers when plain HTTP is redirected.
pub const HSTS: &str = "max-age=31536000";

/// Is the call authenticated by the session cookie (and not a bearer)?
pub fn cookie_authenticated(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION)
        && crate::auth::cookie(headers, SESSION_COOKIE).is_some_and(|v| !v.is_empty())
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The `scheme://host[:port]` origin of a URL, normalised (lowercase, no
/// default port), or `None` when it is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

/// The origins this server's own pages have: the public URL's, and the one
/// the request was sent to (its scheme and `Host`).
pub fn own_origins(state: &AppState, headers: &HeaderMap, tls: bool) -> Vec<String> {
    let mut v: Vec<String> = origin_of(&state.config.public_url()).into_iter().collect();
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let scheme = if tls { "https" } else { "http" };
        if let Some(o) = origin_of(&format!("{scheme}://{host}/")) {
            v.push(o);
        }
    }
    v
}

/// Why a cookie-authenticated request is refused, if it is.
pub fn refusal(state: &AppState, headers: &HeaderMap, tls: bool) -> Option<String> {
    if !cookie_authenticated(headers) {
        return None;
    }
    if let Some(site) = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        && (site == "cross-site" || site == "same-site")
    {
        return Some(format!(
            "a request authenticated by the session cookie must come from this server's own pages (Sec-Fetch-Site: {site})"
        ));
    }
    match headers.get(header::ORIGIN) {
        Some(o) => {
            let raw = o.to_str().unwrap_or("");
            let own = own_origins(state, headers, tls);
            match origin_of(raw) {
                Some(origin) if own.contains(&origin) => None,
                _ => Some(format!(
                    "cross-origin request refused: Origin {raw:?} is not this server ({})",
                    own.join(", ")
                )),
            }
        }
        None if is_websocket(headers) => Some(
            "a WebSocket authenticated by the session cookie must carry an Origin header".into(),
        ),
        None => None,
    }
}

/// Refuses cookie-authenticated calls made by another page (see the module
/// docs), with a 403 problem before any handler (or WebSocket upgrade) runs.
pub async fn cross_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tls = req.extensions().get::<ConnInfo>().is_some_and(|c| c.tls);
    if let Some(why) = refusal(&state, req.headers(), tls) {
        return ApiError::Forbidden(why).into_response();
    }
    next.run(req).await
}

fn is_api_path(path: &str) -> bool {
    (path == "/api" || path.starts_with("/api/") || path == "/metrics")
        && path != "/api/docs"
        && !path.starts_with("/api/docs/")
}

/// Makes every API answer inert in a browser (see the module docs).
pub async fn api_headers(req: Request, next: Next) -> Response {
    let api = is_api_path(req.uri().path());
    let mut resp = next.run(req).await;
    if api {
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    resp
}

/// Where a plain HTTP request is sent: the same path on the public URL.
pub fn https_location(public_url: &str, uri: &Uri) -> String {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{pq}", public_url.trim_end_matches('/'))
}

/// Redirects plain HTTP to HTTPS and sends HSTS over HTTPS, unless plain
/// HTTP is allowed (`--allow-plain-http`, or an `http://` public URL).
pub async fn https_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.config.plain_http_allowed() {
        return next.run(req).await;
    }
    let Some(tls) = req.extensions().get::<ConnInfo>().map(|c| c.tls) else {
        return next.run(req).await; // not from a socket (embedding)
    };
    if !tls {
        let to = https_location(&state.config.public_url(), req.uri());
        let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
        if let Ok(v) = HeaderValue::from_str(&to) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalise() {
        assert_eq!(
            origin_of("https://Berth.example:443/x").as_deref(),
            Some("https://berth.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("file:///etc"), None);
    }

    #[test]
    fn api_paths() {
        assert!(is_api_path("/api/v1/hosts"));
        assert!(is_api_path("/metrics"));
        assert!(!is_api_path("/api/docs"));
        assert!(!is_api_path("/api/docs/assets/x.js"));
        assert!(!is_api_path("/hosts"));
    }

    #[test]
    fn redirect_keeps_the_path() {
        let uri: Uri = "/hosts/h1?x=1".parse().unwrap();
        assert_eq!(
            https_location("https://b.example:8080/", &uri),
            "https://b.example:8080/hosts/h1?x=1"
        );
    }
}
