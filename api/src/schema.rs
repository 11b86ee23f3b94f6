//! OpenAPI schemas of the fields whose limits the server or the agent
//! enforces (the `openapi` feature). Each is built from the constant the
//! check uses, so the document states exactly what is refused; fields name
//! them with `#[schema(schema_with = ...)]` or `#[param(schema_with = ...)]`.

use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Array, Object};

use crate::{limits, metrics};

pub(crate) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn integer(min: u64, max: u64) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

/// Not only white space (the server trims it).
const NOT_BLANK: &str = r"\S";
/// No NUL character.
const NO_NUL: &str = r"^[^\u0000]*$";

pub fn password() -> Object {
    string()
        .min_length(Some(limits::MIN_PASSWORD_LEN))
        .max_length(Some(limits::MAX_PASSWORD_LEN))
        .build()
}

/// The current password: anything up to the longest password (a wrong one
/// is a 403).
pub fn current_password() -> Object {
    string().max_length(Some(limits::MAX_PASSWORD_LEN)).build()
}

pub fn account_name() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(limits::MAX_NAME_LEN))
        .pattern(Some(limits::name_pattern()))
        .build()
}

pub fn token_name() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(limits::MAX_TOKEN_NAME_LEN))
        .pattern(Some(NOT_BLANK))
        .build()
}

pub fn group() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(limits::MAX_GROUP_LEN))
        .pattern(Some(limits::group_pattern()))
        .build()
}

pub fn groups() -> Array {
    ArrayBuilder::new().items(group()).build()
}

/// An `https://` URL with a host.
pub fn https_url() -> Object {
    string().pattern(Some("^https://[^/?#]")).build()
}

pub fn host_name() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(limits::MAX_HOST_NAME_LEN))
        .pattern(Some(NOT_BLANK))
        .build()
}

/// Host labels: keys of letters, digits, `_.-/`; values of at most
/// [`limits::MAX_LABEL_VALUE_LEN`] characters.
pub fn host_labels() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            string()
                .min_length(Some(1))
                .max_length(Some(limits::MAX_LABEL_KEY_LEN))
                .pattern(Some(limits::label_key_pattern())),
        ))
        .additional_properties(Some(string().max_length(Some(limits::MAX_LABEL_VALUE_LEN))))
        .build()
}

/// Absolute paths without `..`, at most [`limits::MAX_ALLOWLIST`] of them.
pub fn bind_mount_allowlist() -> Array {
    ArrayBuilder::new()
        .items(
            string()
                .max_length(Some(limits::MAX_ALLOWLIST_PATH_LEN))
                .pattern(Some(limits::absolute_path_pattern())),
        )
        .max_items(Some(limits::MAX_ALLOWLIST))
        .build()
}

pub fn join_ttl() -> Object {
    integer(1, limits::MAX_JOIN_TTL_SECS)
}

pub fn audit_limit() -> Object {
    integer(1, limits::MAX_AUDIT_LIMIT)
}

pub fn audit_outcome() -> Object {
    string().enum_values(Some(["success", "failure"])).build()
}

pub fn date_time() -> Object {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

pub fn container_name() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(limits::MAX_CONTAINER_NAME_LEN))
        .pattern(Some(limits::container_name_pattern()))
        .build()
}

pub fn image_reference() -> Object {
    string()
        .min_length(Some(1))
        .pattern(Some(NOT_BLANK))
        .build()
}

pub fn command() -> Array {
    ArrayBuilder::new()
        .items(string().pattern(Some(NO_NUL)))
        .min_items(Some(1))
        .build()
}

pub fn env() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(string().pattern(Some(r"^[^=\u0000]+$"))))
        .additional_properties(Some(string().pattern(Some(NO_NUL))))
        .build()
}

pub fn container_path() -> Object {
    string()
        .pattern(Some(limits::absolute_path_pattern()))
        .build()
}

pub fn container_user() -> Object {
    string()
        .pattern(Some(r"^[^\u0000\n:]*(:[^\u0000\n:]*)?$"))
        .build()
}

pub fn hostname() -> Object {
    let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    string()
        .min_length(Some(1))
        .max_length(Some(limits::MAX_HOSTNAME_LEN))
        .pattern(Some(format!(r"^{label}(\.{label})*$")))
        .build()
}

pub fn container_labels() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(string().min_length(Some(1))))
        .additional_properties(Some(string()))
        .build()
}

pub fn memory_bytes() -> Object {
    integer(limits::MIN_MEMORY_BYTES, i64::MAX as u64)
}

/// The upper bound is the host's CPU count × 1e9 (its `facts.cpus`).
pub fn nano_cpus() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(limits::MIN_NANO_CPUS))
        .description(Some("at most the host's CPUs × 1e9 (facts.cpus)"))
        .build()
}

pub fn pids() -> Object {
    integer(1, i64::MAX as u64)
}

pub fn port() -> Object {
    integer(1, u16::MAX.into())
}

/// `key=value` or `key` (a label filter).
pub fn label_filter() -> Object {
    string().pattern(Some("^[^=]")).build()
}

pub fn log_tail() -> Object {
    string()
        .pattern(Some("^(all|[0-9]*)$"))
        .description(Some(
            "the last N lines (at most 5000 are replayed to a follower), or `all`",
        ))
        .build()
}

pub fn container_ref() -> Object {
    string()
        .pattern(Some(format!(
            "^[^/]+/{}",
            limits::container_name_pattern().trim_start_matches('^')
        )))
        .build()
}

pub fn stats_stream_containers() -> Array {
    ArrayBuilder::new()
        .items(container_ref())
        .min_items(Some(1))
        .max_items(Some(metrics::STATS_STREAM_MAX_CONTAINERS))
        .build()
}

pub fn signal() -> Object {
    string()
        .pattern(Some(r"^\s*(SIG|sig)?[A-Za-z0-9+]+\s*$"))
        .description(Some("a signal name (TERM, SIGKILL, HUP) or number"))
        .build()
}
