//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the `berth-api` schemas; served at `/api/v1/openapi.json`
//! and browsable at `/api/docs`.
//!
//! What every operation of a kind can answer is added from the endpoint
//! table (`http::ENDPOINTS`) in [`contract`], so no handler has to repeat
//! it: 401 and 403 for the authenticated, 404, 502 and 504 for the calls
//! relayed to a host, 400, 413 and 415 for JSON bodies; every problem is
//! `application/problem+json`; operation ids are unique (`<tag>_<handler>`).

mod contract;

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a session token from login, or an API token"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                berth_api::auth::SESSION_COOKIE,
                "set by login; mutating calls must also send X-Berth-CSRF: 1",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth",
        description = "The control plane of Berth: hosts, containers, images, accounts and audit. \
                       Errors are application/problem+json; lists are {items, errors}.",
    ),
    paths(
        http::system::health,
        http::system::openapi_json,
        http::system::prometheus,
        http::setup::setup,
        http::session::login,
        http::session::logout,
        http::session::me,
        http::users::list,
        http::users::create,
        http::users::get,
        http::users::patch,
        http::users::delete,
        http::teams::list,
        http::teams::create,
        http::teams::get,
        http::teams::delete,
        http::teams::add_member,
        http::teams::remove_member,
        http::bindings::list,
        http::bindings::create,
        http::bindings::delete,
        http::tokens::list,
        http::tokens::create,
        http::tokens::delete,
        http::audit_log::list,
        http::hosts::list,
        http::hosts::join_token,
        http::hosts::register,
        http::hosts::get,
        http::hosts::patch,
        http::hosts::delete,
        http::inventory::metrics,
        http::inventory::metrics_stream,
        http::inventory::namespaces,
        http::inventory::cgroups,
        http::containers::list_all,
        http::containers::list,
        http::containers::create,
        http::containers::get,
        http::containers::delete,
        http::containers::action,
        http::containers::logs,
        http::containers::stats,
        http::containers::stats_stream,
        http::containers::namespaces,
        http::stats::stream,
        http::exec::exec_ticket,
        http::exec::exec,
        http::images::list,
        http::images::pull,
        http::images::import,
        http::images::delete,
    ),
    components(schemas(berth_api::metrics::Window, berth_api::containers::ContainerAction)),
    modifiers(&Security),
    tags(
        (name = "system", description = "health, OpenAPI, metrics"),
        (name = "sessions", description = "first-run setup, login, logout"),
        (name = "users"), (name = "teams"), (name = "roles"), (name = "tokens"), (name = "audit"),
        (name = "hosts", description = "joined hosts and their inventory"),
        (name = "containers"), (name = "images"),
    )
)]
pub struct ApiDoc;

/// The document as JSON (built once).
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = berth_api::VERSION.to_string();
        let mut v = serde_json::to_value(&doc).unwrap_or_default();
        contract::complete(&mut v);
        serde_json::to_string(&v).unwrap_or_else(|_| "{}".to_string())
    })
}
