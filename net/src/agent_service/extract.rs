//! How [`super::router`] reads a request: typed queries, JSON bodies and a
//! pull's body, each refusal a problem+json naming what is wrong. Public so
//! that a router serving part of the API (the agent's image routes in its
//! tests) reads requests the same way.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use berth_api::Problem;
use berth_api::agent_api::QueryParams;
use berth_api::images::PullRequest;
use bytes::Bytes;

/// A refused request: its problem+json answer.
#[derive(Debug, Clone)]
pub struct Refused(pub Problem);

impl Refused {
    fn bad_request(detail: impl Into<String>) -> Self {
        Refused(Problem::new(400, detail))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        crate::problem::response(&self.0)
    }
}

/// The typed query of an agent route (`berth_api::agent_api`); a parameter
/// it can't read is a 400 naming it.
#[derive(Debug, Clone, Default)]
pub struct Query<T>(pub T);

impl<T: QueryParams, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
                .map_err(|e| Refused::bad_request(format!("malformed query: {}", e.body_text())))?;
        T::from_pairs(&pairs)
            .map(Query)
            .map_err(|e| Refused::bad_request(e.detail))
    }
}

/// A JSON body (`Content-Type: application/json`, at most
/// [`super::JSON_BODY_LIMIT`] bytes); a body that is not one is a 400 with
/// serde's message (413 when too large).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Refused;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => {
                    Refused::bad_request("the body must be JSON (Content-Type: application/json)")
                }
                JsonRejection::JsonDataError(e) => {
                    Refused::bad_request(format!("invalid body: {}", inner_message(&e)))
                }
                JsonRejection::JsonSyntaxError(e) => {
                    Refused::bad_request(format!("malformed JSON: {}", inner_message(&e)))
                }
                JsonRejection::BytesRejection(e) => bytes_refused(&e),
                other => Refused::bad_request(other.body_text()),
            }),
        }
    }
}

/// A pull's `PullRequest`: JSON whatever the content type says (as the
/// agent always read it), a 400 "invalid pull request" otherwise.
#[derive(Debug, Clone)]
pub struct PullBody(pub PullRequest);

impl<S: Send + Sync> FromRequest<S> for PullBody {
    type Rejection = Refused;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| bytes_refused(&e))?;
        serde_json::from_slice(&body)
            .map(PullBody)
            .map_err(|e| Refused::bad_request(format!("invalid pull request: {e}")))
    }
}

/// A body that could not be read (too large: 413), with axum's status.
fn bytes_refused(e: &BytesRejection) -> Refused {
    Refused(Problem::new(e.status().as_u16(), e.body_text()))
}

/// serde's message (with line and column) without axum's prefix.
fn inner_message(e: &dyn std::error::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Path parameters; one that can't be read (not UTF-8 once decoded) is a
/// 400 problem.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| Refused(Problem::new(e.status().as_u16(), e.body_text())))
    }
}
