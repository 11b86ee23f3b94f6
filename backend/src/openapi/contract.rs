//! Completes the generated document with what follows from each route's
//! declared [`Access`] rather than from one handler: the errors every operation of a kind
//! can answer, the problem media type, and unique operation ids.

use serde_json::{Map, Value, json};

use crate::rbac::Access;

/// The `$ref` of the problem schema.
const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// One operation of the document and the access its route declares.
struct Endpoint<'a> {
    path: &'a str,
    access: Access,
}

/// Adds the common answers to every operation of `doc` (an OpenAPI 3
/// document as JSON) and makes its operation ids unique; `access` gives the
/// declared access of a method (upper case) and path.
pub fn complete(doc: &mut Value, access: impl Fn(&str, &str) -> Option<Access>) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if let Some(access) = access(&method.to_uppercase(), path) {
                complete_operation(&Endpoint { path, access }, op);
            }
        }
    }
}

/// Is the call relayed to the agent of the host its path (or query) names?
fn relayed(e: &Endpoint) -> bool {
    match e.access {
        Access::Host(_) => e.path.starts_with("/api/v1/hosts/{host}/"),
        Access::QueryHosts(_) => true,
        _ => false,
    }
}

/// The statuses an operation can answer whatever its handler does, with
/// what each means there.
fn common_answers(e: &Endpoint, op: &Value) -> Vec<(u16, &'static str)> {
    let json_body = op
        .pointer("/requestBody/content/application~1json")
        .is_some();
    let has_query = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let mut out = Vec::new();
    if json_body || has_query || relayed(e) {
        out.push((400, "a malformed body or query; the detail says what"));
    }
    if !matches!(e.access, Access::Public) {
        out.push((
            401,
            "not logged in, or a credential that is not (or no longer) valid",
        ));
    }
    if !matches!(
        e.access,
        Access::Public | Access::JoinSecret | Access::MetricsToken
    ) {
        out.push((
            403,
            "not allowed: the caller's role or scope, or a cookie-authenticated call without X-Berth-CSRF or from another origin",
        ));
    }
    if matches!(e.access, Access::Host(_) | Access::QueryHosts(_)) {
        out.push((
            404,
            "no such host (or one outside the caller's scope), or no such object on it",
        ));
    }
    if json_body {
        out.push((413, "the body is larger than the server takes"));
        out.push((
            415,
            "the body is not sent as JSON (Content-Type: application/json)",
        ));
        out.push((422, "well-formed but invalid; the detail says which field"));
    }
    if relayed(e) {
        out.push((
            409,
            "the host refused it in the object's current state (e.g. not running)",
        ));
        out.push((
            422,
            "the host refused the request as invalid; the detail says why",
        ));
        out.push((
            502,
            "the host failed or sent an answer that is not the contract's; the problem names it",
        ));
        out.push((504, "the host did not answer in time; the problem names it"));
    }
    out
}

fn problem_content() -> Value {
    json!({ berth_api::error::PROBLEM_JSON: { "schema": { "$ref": PROBLEM_REF } } })
}

fn complete_operation(e: &Endpoint, op: &mut Value) {
    let tag = op["tags"][0].as_str().unwrap_or("api").to_string();
    if let Some(id) = op["operationId"].as_str() {
        op["operationId"] = json!(format!("{tag}_{id}"));
    }
    let answers = common_answers(e, op);
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, description) in answers {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({ "description": description, "content": problem_content() }));
    }
    for r in responses.values_mut() {
        problem_media_type(r);
    }
}

/// A response whose body is the problem schema is `application/problem+json`,
/// as the server sends it; a response without a description gets the
/// status's reason.
fn problem_media_type(r: &mut Value) {
    let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let is_problem = |c: &Value| c["schema"]["$ref"] == PROBLEM_REF;
    if content.get("application/json").is_some_and(is_problem) {
        let mut moved = Map::new();
        for (k, v) in std::mem::take(content) {
            let k = if k == "application/json" {
                berth_api::error::PROBLEM_JSON.to_string()
            } else {
                k
            };
            moved.insert(k, v);
        }
        *content = moved;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_problem_json_and_host_calls_say_502() {
        let mut doc = json!({"paths": {"/api/v1/hosts/{host}/images": {"get": {
            "tags": ["images"], "operationId": "list",
            "responses": {"200": {"description": "ok"},
                "404": {"description": "", "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}}}}
        }}}});
        complete(&mut doc, |_, _| {
            Some(Access::Host(crate::rbac::Action::ViewHost))
        });
        let op = &doc["paths"]["/api/v1/hosts/{host}/images"]["get"];
        assert_eq!(op["operationId"], "images_list");
        assert!(op["responses"]["404"]["content"]["application/problem+json"].is_object());
        assert!(op["responses"]["404"]["content"]["application/json"].is_null());
        for s in ["401", "403", "502", "504"] {
            assert!(
                op["responses"][s]["content"]["application/problem+json"].is_object(),
                "{s}"
            );
        }
        assert!(op["responses"]["415"].is_null(), "no body, no 415");
    }
}
