//! The served OpenAPI document is a contract a client can generate code
//! from: every `$ref` has a target, operation ids are unique, errors are
//! `application/problem+json`, and the limits the server enforces are
//! stated with the constants the server checks against.

use std::collections::BTreeMap;

use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(berth_server::http::document_json()).expect("the document is JSON")
}

/// Every `$ref` in `v`, with the JSON pointer where it is.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    out.push((
                        x.as_str().unwrap_or("<not a string>").to_string(),
                        at.to_string(),
                    ));
                } else {
                    refs(
                        x,
                        &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_ref_has_a_target() {
    let d = doc();
    let mut all = Vec::new();
    refs(&d, "", &mut all);
    assert!(
        all.len() > 50,
        "the walk found the references ({})",
        all.len()
    );
    let dangling: Vec<_> = all
        .iter()
        .filter(|(r, _)| r.strip_prefix('#').and_then(|ptr| d.pointer(ptr)).is_none())
        .collect();
    assert!(
        dangling.is_empty(),
        "references without a target: {dangling:#?}"
    );
}

#[test]
fn the_walk_finds_a_dangling_ref() {
    // The check above can fail: a document with a reference to nothing.
    let d = serde_json::json!({"a": {"$ref": "#/components/schemas/Nothing"}, "components": {}});
    let mut all = Vec::new();
    refs(&d, "", &mut all);
    assert_eq!(
        all,
        vec![("#/components/schemas/Nothing".to_string(), "/a".to_string())]
    );
    assert!(d.pointer("/components/schemas/Nothing").is_none());
}

fn operations(d: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in d["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            out.push((method.to_uppercase(), path.clone(), op));
        }
    }
    out
}

#[test]
fn operation_ids_are_unique() {
    let d = doc();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (method, path, op) in operations(&d) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_string();
        if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId {id} is used by {other} and {method} {path}");
        }
    }
}

#[test]
fn errors_are_problem_json_and_host_calls_document_502_and_504() {
    let d = doc();
    for (method, path, op) in operations(&d) {
        for (status, r) in op["responses"].as_object().expect("responses") {
            if status.starts_with('4') || status.starts_with('5') {
                let content = r["content"].as_object();
                assert!(
                    content.is_some_and(|c| c.contains_key("application/problem+json")
                        && !c.contains_key("application/json")),
                    "{method} {path} {status}: {r}"
                );
            }
        }
        let authed = !["/api/v1/health", "/api/v1/openapi.json", "/api/v1/setup"]
            .contains(&path.as_str())
            && !path.starts_with("/api/v1/auth/lo");
        if authed {
            assert!(op["responses"]["401"].is_object(), "{method} {path}: 401");
        }
        if path.starts_with("/api/v1/hosts/{host}/") {
            for s in ["404", "502", "504"] {
                assert!(op["responses"][s].is_object(), "{method} {path}: {s}");
            }
        }
    }
}

/// The schema of a component's property.
fn property<'a>(d: &'a Value, schema: &str, field: &str) -> &'a Value {
    let p = &d["components"]["schemas"][schema]["properties"][field];
    assert!(p.is_object(), "{schema}.{field} is in the document");
    p
}

/// The query parameter `name` of an operation.
fn query<'a>(d: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    d["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name && p["in"] == "query"))
        .map(|p| &p["schema"])
        .unwrap_or_else(|| panic!("{method} {path} has the query parameter {name}"))
}

#[test]
fn limits_come_from_the_constants_the_checks_use() {
    use berth_api::{auth, containers, hosts};
    let d = doc();
    for schema in ["SetupRequest", "CreateUser"] {
        let pw = property(&d, schema, "password");
        assert_eq!(pw["minLength"], auth::MIN_PASSWORD_LEN, "{schema}");
        assert_eq!(pw["maxLength"], auth::MAX_PASSWORD_LEN, "{schema}");
        assert_eq!(
            property(&d, schema, "username")["pattern"],
            auth::name_pattern()
        );
    }
    assert_eq!(
        property(&d, "CreateTeam", "name")["pattern"],
        auth::name_pattern()
    );
    assert_eq!(
        property(&d, "CreateToken", "name")["maxLength"],
        auth::MAX_TOKEN_NAME_LEN
    );
    assert_eq!(
        property(&d, "CreateJoinToken", "expires_in")["maximum"],
        hosts::MAX_JOIN_TTL_SECS
    );
    assert_eq!(
        property(&d, "PatchHost", "groups")["items"]["pattern"],
        hosts::group_pattern()
    );
    assert_eq!(
        property(&d, "PatchHost", "bind_mount_allowlist")["maxItems"],
        hosts::MAX_ALLOWLIST
    );
    assert_eq!(
        property(&d, "PatchHost", "labels")["propertyNames"]["pattern"],
        hosts::label_key_pattern()
    );
    assert_eq!(
        property(&d, "ContainerSpec", "name")["pattern"],
        containers::container_name_pattern()
    );
    assert_eq!(
        property(&d, "Limits", "memory_bytes")["minimum"],
        containers::MIN_MEMORY_BYTES
    );
    assert_eq!(
        property(&d, "Limits", "nano_cpus")["minimum"],
        containers::MIN_NANO_CPUS
    );
    assert_eq!(
        query(&d, "/api/v1/audit", "get", "limit")["maximum"],
        auth::MAX_AUDIT_LIMIT
    );
    assert_eq!(
        query(&d, "/api/v1/stats/stream", "get", "container")["maxItems"],
        berth_api::metrics::STATS_STREAM_MAX_CONTAINERS
    );
    // Query formats and enums, not free strings.
    assert_eq!(
        query(
            &d,
            "/api/v1/hosts/{host}/containers/{c}/logs",
            "get",
            "since"
        )["format"],
        "date-time"
    );
    assert!(
        query(
            &d,
            "/api/v1/hosts/{host}/containers/{c}/logs",
            "get",
            "tail"
        )["pattern"]
            .is_string()
    );
    let scope = &d["components"]["schemas"]["Scope"]["oneOf"];
    assert_eq!(
        scope[1]["properties"]["group"]["pattern"],
        hosts::group_pattern()
    );
}
