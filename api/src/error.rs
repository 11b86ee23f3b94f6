//! The error body of every failed call: RFC 9457 `application/problem+json`.

use serde::{Deserialize, Serialize};

/// Media type of [`Problem`] bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `{ type, title, status, detail }`, plus the host for fan-out failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{title} ({status}): {detail}")]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type", default = "about_blank")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    /// The host that failed or timed out, for 502/504 and host-scoped errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

fn about_blank() -> String {
    "about:blank".to_string()
}

impl Problem {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            type_: about_blank(),
            title: title_for(status).to_string(),
            status,
            detail: detail.into(),
            host: None,
        }
    }

    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
}

/// The reason phrase used as a problem's title.
pub fn title_for(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_type_field() {
        let p = Problem::new(404, "no container named web");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["status"], 404);
        assert!(v.get("host").is_none());
    }
}
