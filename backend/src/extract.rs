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

/// A JSON body. A missing `Content-Type` is accepted, and so are curl's
/// default (`application/x-www-form-urlencoded`) and `text/plain`; any other
/// type than JSON is a 415. Syntax and type errors are 400 with the field path; a body over the
/// limit is 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(&req)?;
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "the request needs a JSON body".to_string(),
            ));
        }
        decode(&bytes).map(Json)
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(&req)?;
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        decode(&bytes).map(OptionalJson)
    }
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    let tolerated = [
        "",
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
    ];
    if tolerated.contains(&essence) || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected a JSON body (Content-Type: application/json), got {essence:?}"
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
