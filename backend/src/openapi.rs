//! The OpenAPI 3 document's base: title, security schemes, tags and the
//! schemas no operation names. Its paths come from the routes themselves
//! (each handler's `#[utoipa::path]`, collected where the route is
//! declared: `http::api_routes`), and `http::document_json` merges both;
//! served at `/api/v1/openapi.json` and browsable at `/api/docs`.
//!
//! What every operation of a kind can answer is added from the route's
//! declared access in [`complete`], so no handler has to repeat it: 401 and
//! 403 for the authenticated, 404, 502 and 504 for the calls relayed to a
//! host, 400, 413 and 415 for JSON bodies; every problem is
//! `application/problem+json`; operation ids are unique (`<tag>_<handler>`).

mod contract;

pub use contract::complete;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
/// The base document (no paths).
pub struct ApiDoc;

/// The served document as JSON (a request extension of the API routes,
/// for the `GET /api/v1/openapi.json` handler).
#[derive(Debug, Clone, Copy)]
pub struct Document(pub &'static str);
