//! Request extractors whose rejections are the API's own problem+json 400s
//! (a malformed body says where and what was wrong), never axum's plain text.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. It must be sent as `application/json` (or a `+json` type):
/// anything else, a missing `Content-Type` included, is a 415 (an empty
/// body is a 400: the body is missing). A browser
/// page of another site can send `text/plain` or a form without a CORS
/// preflight, but not JSON, so this also keeps login and setup from being
/// forged (login CSRF). Syntax and type errors are 400 with the field path;
/// a body over the limit is 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let typed = req.headers().contains_key(header::CONTENT_TYPE);
        if typed {
            check_content_type(&req)?;
        }
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "the request needs a JSON body".to_string(),
            ));
        }
        if !typed {
            return Err(missing_type());
        }
        decode(&bytes).map(Json)
    }
}

/// A JSON body that may be left out: an empty body (with or without a
/// `Content-Type`) is `T::default()`; a body that is there must be sent as
/// JSON, as with [`Json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let typed = req.headers().contains_key(header::CONTENT_TYPE);
        if typed {
            check_content_type(&req)?;
        }
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !typed {
            return Err(missing_type());
        }
        decode(&bytes).map(OptionalJson)
    }
}

fn missing_type() -> ApiError {
    ApiError::UnsupportedMediaType(
        "the request body must be JSON sent with Content-Type: application/json; none was given"
            .to_string(),
    )
}

/// Is a `Content-Type` value JSON (`application/json` or `*/*+json`)?
pub fn is_json_type(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return Err(missing_type());
    };
    let raw = ct.to_str().unwrap_or("");
    if is_json_type(raw) {
        Ok(())
    } else {
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Err(ApiError::UnsupportedMediaType(format!(
            "the request body must be JSON sent with Content-Type: application/json, got {essence:?}"
        )))
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e: BytesRejection| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is larger than allowed".to_string())
            } else {
                ApiError::BadRequest(format!(
                    "could not read the request body: {}",
                    e.body_text()
                ))
            }
        })
}

/// Decodes JSON, naming the path of a bad field.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed JSON"
            }
            _ => "invalid body",
        };
        if path.is_empty() || path == "." {
            ApiError::BadRequest(format!("{what}: {inner}"))
        } else {
            ApiError::BadRequest(format!("{what}: at {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters; a bad one is a 400 naming it.
#[derive(Debug, Clone, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::BadRequest(format!("invalid query string: {}", e.body_text()))
            })
    }
}

/// Path parameters; a bad one is a 400 naming it.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| {
                ApiError::BadRequest(format!("invalid path: {}", e.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::ContainerSpec;

    #[test]
    fn only_json_types_pass() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json+json",
            "application/jsonp",
        ] {
            assert!(!is_json_type(bad), "{bad}");
        }
    }

    #[test]
    fn decode_names_the_field() {
        let e = decode::<ContainerSpec>(br#"{"image":"busybox","limits":{"pids":"x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.pids"), "{e}");
        let e = decode::<ContainerSpec>(br#"{"image":"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("malformed JSON"), "{e}");
        let e = decode::<ContainerSpec>(br#"{"image":"a"} x"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("trailing"), "{e}");
    }
}

/// The raw path parameters of the matched route, by name: what the
/// middleware (authorize, audit) reads before any handler's typed `Path`.
#[derive(Debug, Default)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// The parameters of `req` (none outside a route with parameters).
    pub async fn of(req: &mut Request) -> PathParams {
        use axum::RequestExt;
        let raw = req.extract_parts::<axum::extract::RawPathParams>().await;
        PathParams(
            raw.map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    /// The value of parameter `name`, if the path has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
