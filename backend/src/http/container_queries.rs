//! The query parameters of the container endpoints, with the limits the
//! server checks stated for the OpenAPI document.

use berth_api::containers::ContainerState;
use berth_api::metrics::Window;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAllQuery {
    /// Only this host (id).
    pub host: Option<String>,
    /// Only containers with this label, `key=value` (or just `key`).
    #[param(schema_with = berth_api::schema::label_filter)]
    pub label: Option<String>,
    /// created, running, paused or stopped.
    #[param(value_type = Option<ContainerState>)]
    pub state: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HostListQuery {
    /// Only containers with this label, `key=value` (or just `key`).
    #[param(schema_with = berth_api::schema::label_filter)]
    pub label: Option<String>,
    /// created, running, paused or stopped.
    #[param(value_type = Option<ContainerState>)]
    pub state: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Start the container once created.
    pub start: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Kill a running container first.
    pub force: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// stop, restart: seconds between SIGTERM and SIGKILL.
    pub timeout: Option<u32>,
    /// kill: the signal (name or number).
    #[param(schema_with = berth_api::schema::signal)]
    pub signal: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// The last N lines (or `all`).
    #[param(schema_with = berth_api::schema::log_tail)]
    pub tail: Option<String>,
    /// RFC 3339 time: lines at or after it.
    #[param(schema_with = berth_api::schema::date_time)]
    pub since: Option<String>,
    /// Keep the stream open (SSE of log lines).
    pub follow: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// `1h` (a sample a second, default) or `24h` (a sample a minute).
    pub window: Option<Window>,
}

pub fn window_pair(w: Option<Window>) -> Option<String> {
    w.map(|w| match w {
        Window::Hour => "1h".to_string(),
        Window::Day => "24h".to_string(),
    })
}
