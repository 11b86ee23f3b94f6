//! The RBAC matrix: every declared endpoint (`http::endpoints()`) × every role × in and out
//! of scope (host-scoped and group-scoped bindings), plus unauthenticated
//! calls. A row without a sample request here fails the test, and so does a
//! row the router or the OpenAPI document lacks.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, header};
use berth_api::auth::{Role, Scope};
use berth_server::http::{Access, Endpoint, endpoints};
use common::fake_agent::FakeAgent;
use common::{TestApp, TestUser};
use serde_json::{Value, json};

struct Fx {
    t: TestApp,
    owner: TestUser,
    a: FakeAgent,
    _b: FakeAgent,
    h_in: String,
    h_out: String,
    n: AtomicUsize,
}

/// One concrete request for a row.
struct Sample {
    path: String,
    body: Option<Value>,
    raw: Option<&'static [u8]>,
    /// The host whose scope the call is about.
    host: String,
    /// Statuses that mean "allowed" besides 2xx.
    also_ok: &'static [u16],
    /// The answer is a stream: look at the head only.
    stream: bool,
    /// Status of an unauthenticated call to a public row.
    public_status: u16,
    /// Only a global or group role will do (joining a host: the new host
    /// must land in the caller's scope, which a host-scoped role cannot be).
    needs_group: bool,
    /// Agents made for this case, kept alive until it ends.
    _agents: Vec<FakeAgent>,
}

impl Sample {
    fn new(path: String, host: &str) -> Self {
        Sample {
            path,
            body: None,
            raw: None,
            host: host.to_string(),
            also_ok: &[],
            stream: false,
            public_status: 200,
            needs_group: false,
            _agents: Vec::new(),
        }
    }
    fn body(mut self, v: Value) -> Self {
        self.body = Some(v);
        self
    }
}

impl Fx {
    fn next(&self) -> usize {
        self.n.fetch_add(1, Ordering::Relaxed)
    }

    /// The sample of a row, made fresh for each case (destructive calls get
    /// their own objects).
    async fn sample(&self, e: &Endpoint) -> Option<Sample> {
        let t = &self.t;
        let n = self.next();
        let h = self.h_in.clone();
        let hp = |rest: &str| format!("/api/v1/hosts/{h}{rest}");
        let s = match (e.method, e.path.as_str()) {
            ("GET", "/api/v1/health") | ("GET", "/api/v1/openapi.json") => {
                Sample::new(e.path.clone(), &h)
            }
            ("GET", "/metrics") => {
                // No BERTH_METRICS_TOKEN here: not served (tests/web_security.rs
                // covers the token).
                let mut s = Sample::new(e.path.clone(), &h);
                s.public_status = 404;
                s
            }
            ("POST", "/api/v1/setup") => {
                let mut s = Sample::new(e.path.clone(), &h)
                    .body(json!({"setup_token": "x", "username": "x", "password": "long enough password"}));
                s.public_status = 409;
                s
            }
            ("POST", "/api/v1/auth/login") => Sample::new(e.path.clone(), &h)
                .body(json!({"username": "owner", "password": common::PASSWORD})),
            ("POST", "/api/v1/auth/logout") => {
                let mut s = Sample::new(e.path.clone(), &h);
                s.public_status = 204;
                s
            }
            ("POST", "/api/v1/hosts/register") => {
                let mut s = Sample::new(e.path.clone(), &h).body(json!({
                    "secret": "not-a-join-secret", "name": "x", "address": "https://127.0.0.1:1",
                    "facts": common::fake_agent::facts(), "certificate_pem": self.a.cert_pem,
                }));
                s.public_status = 401;
                s
            }
            ("GET", "/api/v1/auth/me")
            | ("GET", "/api/v1/users")
            | ("GET", "/api/v1/teams")
            | ("GET", "/api/v1/role-bindings")
            | ("GET", "/api/v1/tokens")
            | ("GET", "/api/v1/audit")
            | ("GET", "/api/v1/hosts")
            | ("GET", "/api/v1/containers") => Sample::new(e.path.clone(), &h),
            ("POST", "/api/v1/users") => Sample::new(e.path.clone(), &h)
                .body(json!({"username": format!("new{n}"), "password": "a long password"})),
            ("GET", "/api/v1/users/{id}")
            | ("PATCH", "/api/v1/users/{id}")
            | ("DELETE", "/api/v1/users/{id}") => {
                let v = t.user(&format!("victim{n}"), &[]).await;
                let s = Sample::new(format!("/api/v1/users/{}", v.id), &h);
                if e.method == "PATCH" {
                    s.body(json!({"disabled": true}))
                } else {
                    s
                }
            }
            ("POST", "/api/v1/teams") => {
                Sample::new(e.path.clone(), &h).body(json!({"name": format!("team{n}")}))
            }
            ("GET", "/api/v1/teams/{id}") | ("DELETE", "/api/v1/teams/{id}") => {
                let team = berth_server::db::teams::create(&t.state.db, &format!("team{n}"))
                    .await
                    .unwrap();
                Sample::new(format!("/api/v1/teams/{}", team.id), &h)
            }
            ("PUT", "/api/v1/teams/{id}/members/{user_id}")
            | ("DELETE", "/api/v1/teams/{id}/members/{user_id}") => {
                let team = berth_server::db::teams::create(&t.state.db, &format!("team{n}"))
                    .await
                    .unwrap();
                let v = t.user(&format!("member{n}"), &[]).await;
                if e.method == "DELETE" {
                    berth_server::db::teams::add_member(&t.state.db, &team.id, &v.id)
                        .await
                        .unwrap();
                }
                Sample::new(format!("/api/v1/teams/{}/members/{}", team.id, v.id), &h)
            }
            ("POST", "/api/v1/role-bindings") => {
                let v = t.user(&format!("grantee{n}"), &[]).await;
                Sample::new(e.path.clone(), &h).body(
                    json!({"subject": {"user": v.id}, "role": "viewer", "scope": {"host": h}}),
                )
            }
            ("DELETE", "/api/v1/role-bindings/{id}") => {
                let v = t
                    .user(
                        &format!("grantee{n}"),
                        &[(Role::Viewer, Scope::Host(h.clone()))],
                    )
                    .await;
                let id: String =
                    sqlx::query_scalar("SELECT id FROM role_bindings WHERE subject_id = $1")
                        .bind(&v.id)
                        .fetch_one(&t.state.db.pool)
                        .await
                        .unwrap();
                Sample::new(format!("/api/v1/role-bindings/{id}"), &h)
            }
            ("POST", "/api/v1/tokens") => {
                Sample::new(e.path.clone(), &h).body(json!({"name": "t"}))
            }
            ("DELETE", "/api/v1/tokens/{id}") => {
                Sample::new("/api/v1/tokens/{own_token}".into(), &h)
            }
            ("POST", "/api/v1/hosts/join-tokens") => {
                let mut s = Sample::new(e.path.clone(), &h).body(json!({"groups": ["g-in"]}));
                s.needs_group = true;
                s
            }
            ("GET", "/api/v1/hosts/{host}") | ("PATCH", "/api/v1/hosts/{host}") => {
                let s = Sample::new(hp(""), &h);
                if e.method == "PATCH" {
                    s.body(json!({"labels": {"k": "v"}}))
                } else {
                    s
                }
            }
            ("DELETE", "/api/v1/hosts/{host}") => {
                let agent = FakeAgent::start().await;
                let id = agent
                    .join(t, &self.owner.token, &format!("doomed{n}"), &["g-in"])
                    .await;
                let mut s = Sample::new(format!("/api/v1/hosts/{id}"), &id);
                s._agents.push(agent);
                s
            }
            ("GET", "/api/v1/hosts/{host}/metrics") => Sample::new(hp("/metrics"), &h),
            ("GET", "/api/v1/hosts/{host}/namespaces") => Sample::new(hp("/namespaces"), &h),
            ("GET", "/api/v1/hosts/{host}/cgroups") => Sample::new(hp("/cgroups"), &h),
            ("GET", "/api/v1/hosts/{host}/metrics/stream") => {
                let mut s = Sample::new(hp("/metrics/stream"), &h);
                s.stream = true;
                s
            }
            ("GET", "/api/v1/hosts/{host}/containers") => Sample::new(hp("/containers"), &h),
            ("POST", "/api/v1/hosts/{host}/containers") => Sample::new(hp("/containers"), &h)
                .body(json!({"name": format!("new{n}"), "image": "busybox"})),
            ("GET", "/api/v1/hosts/{host}/containers/{c}") => Sample::new(hp("/containers/c1"), &h),
            ("DELETE", "/api/v1/hosts/{host}/containers/{c}") => {
                self.a.add_container(&format!("gone{n}"), "stopped");
                Sample::new(hp(&format!("/containers/gone{n}")), &h)
            }
            ("POST", "/api/v1/hosts/{host}/containers/{c}/{action}") => {
                // A running one each time: stopping a stopped container is
                // a 409, as on a real agent.
                self.a.add_container(&format!("up{n}"), "running");
                Sample::new(hp(&format!("/containers/up{n}/stop")), &h)
            }
            ("GET", "/api/v1/hosts/{host}/containers/{c}/logs") => {
                Sample::new(hp("/containers/c1/logs"), &h)
            }
            ("GET", "/api/v1/hosts/{host}/containers/{c}/stats") => {
                Sample::new(hp("/containers/c1/stats"), &h)
            }
            ("GET", "/api/v1/hosts/{host}/containers/{c}/namespaces") => {
                Sample::new(hp("/containers/c1/namespaces"), &h)
            }
            ("GET", "/api/v1/hosts/{host}/containers/{c}/stats/stream") => {
                let mut s = Sample::new(hp("/containers/c1/stats/stream"), &h);
                s.stream = true;
                s
            }
            ("GET", "/api/v1/stats/stream") => {
                let mut s = Sample::new(format!("/api/v1/stats/stream?container={h}/c1"), &h);
                s.stream = true;
                s
            }
            ("POST", "/api/v1/hosts/{host}/containers/{c}/exec-ticket") => {
                Sample::new(hp("/containers/c1/exec-ticket"), &h).body(json!({"tty": true}))
            }
            ("GET", "/api/v1/hosts/{host}/containers/{c}/exec") => {
                // Not a WebSocket request: allowed callers get 400 (after authorization).
                let mut s = Sample::new(hp("/containers/c1/exec"), &h);
                s.also_ok = &[400];
                s
            }
            ("GET", "/api/v1/hosts/{host}/images") => Sample::new(hp("/images"), &h),
            ("POST", "/api/v1/hosts/{host}/images/pull") => {
                Sample::new(hp("/images/pull"), &h).body(json!({"reference": "busybox"}))
            }
            ("POST", "/api/v1/hosts/{host}/images/import") => {
                let mut s = Sample::new(hp("/images/import"), &h);
                s.raw = Some(common::tarball::tiny_image_tar());
                s
            }
            ("DELETE", "/api/v1/hosts/{host}/images/{image}") => {
                Sample::new(hp("/images/sha256:ab"), &h)
            }
            _ => return None,
        };
        Some(s)
    }

    /// Sends a sample as `who`; the status.
    async fn call(&self, e: &Endpoint, s: &Sample, who: Option<&TestUser>) -> (u16, String) {
        let mut path = s.path.clone();
        if let (true, None) = (path.contains("{own_token}"), who) {
            path = path.replace("{own_token}", "no-such-token");
        }
        if let (true, Some(who)) = (path.contains("{own_token}"), who) {
            let hash = berth_server::auth::secret_hash(&format!("berth_x{}", self.next()));
            let tok = berth_server::db::tokens::create(&self.t.state.db, &who.id, "t", &hash, None)
                .await
                .unwrap();
            path = path.replace("{own_token}", &tok.id);
        }
        let mut b = Request::builder()
            .method(Method::from_bytes(e.method.as_bytes()).unwrap())
            .uri(&path);
        if let Some(u) = who {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", u.token));
        }
        let req = if let Some(raw) = s.raw {
            b.header(header::CONTENT_TYPE, "application/x-tar")
                .body(Body::from(raw))
        } else if let Some(v) = &s.body {
            b.header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string()))
        } else {
            b.body(Body::empty())
        }
        .unwrap();
        if s.stream {
            use tower::ServiceExt;
            let resp = self.t.app.clone().oneshot(req).await.unwrap();
            return (resp.status().as_u16(), String::new());
        }
        let r = self.t.send(req).await;
        (r.status.as_u16(), r.text())
    }
}

fn allowed(status: u16, s: &Sample) -> bool {
    (200..300).contains(&status) || s.also_ok.contains(&status)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Host,
    Group,
}

async fn rbac_matrix_on(t: TestApp) {
    let owner = t.owner().await;
    let a = FakeAgent::start().await;
    let b = FakeAgent::start().await;
    let h_in = a.join(&t, &owner.token, "in", &["g-in"]).await;
    let h_out = b.join(&t, &owner.token, "out", &["g-out"]).await;
    a.add_container("c1", "running");
    b.add_container("c1", "running");
    let fx = Fx {
        t,
        owner,
        a,
        _b: b,
        h_in,
        h_out,
        n: AtomicUsize::new(0),
    };

    let mut missing = Vec::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for e in endpoints() {
        let Some(_) = fx.sample(e).await else {
            missing.push(format!("{} {}", e.method, e.path));
            continue;
        };
        // Unauthenticated.
        let s = fx.sample(e).await.unwrap();
        let (status, body) = fx.call(e, &s, None).await;
        cases += 1;
        let want = match e.access {
            Access::Public | Access::JoinSecret | Access::MetricsToken => s.public_status,
            _ => 401,
        };
        if status != want {
            failures.push(format!(
                "{} {} unauthenticated: {status} (want {want}) {body}",
                e.method, e.path
            ));
        }
        if matches!(
            e.access,
            Access::Public | Access::JoinSecret | Access::MetricsToken
        ) {
            continue;
        }
        for role in Role::ALL {
            for kind in [Kind::Host, Kind::Group] {
                for in_scope in [true, false] {
                    if role == Role::Owner && (!in_scope || matches!(kind, Kind::Group)) {
                        continue; // owners are global only
                    }
                    let s = fx.sample(e).await.unwrap();
                    let n = fx.next();
                    let scope = match (role, kind, in_scope) {
                        (Role::Owner, _, _) => Scope::Global,
                        (_, _, _)
                            if matches!(e.access, Access::Global(_) | Access::SelfOrGlobal(_))
                                && in_scope =>
                        {
                            Scope::Global
                        }
                        (_, Kind::Host, true) => Scope::Host(s.host.clone()),
                        (_, Kind::Host, false) => Scope::Host(fx.h_out.clone()),
                        (_, Kind::Group, true) => Scope::Group("g-in".into()),
                        (_, Kind::Group, false) => Scope::Group("g-out".into()),
                    };
                    let grants = if matches!(
                        e.access,
                        Access::Anywhere(_) | Access::SelfOrAnywhere(_) | Access::User
                    ) && !in_scope
                    {
                        vec![] // "out of scope" for a scope-less row: no role at all
                    } else {
                        vec![(role, scope.clone())]
                    };
                    let who = fx.t.user(&format!("u{n}"), &grants).await;
                    let (status, body) = fx.call(e, &s, Some(&who)).await;
                    cases += 1;
                    let ok = match e.access {
                        Access::User => allowed(status, &s),
                        Access::Host(action) | Access::QueryHosts(action) => {
                            if !in_scope {
                                status == 404
                            } else if role >= action.min_role() {
                                allowed(status, &s)
                            } else {
                                status == 403
                            }
                        }
                        // The samples name another user than the caller.
                        Access::Global(action) | Access::SelfOrGlobal(action) => {
                            if in_scope && role >= action.min_role() {
                                allowed(status, &s)
                            } else {
                                status == 403
                            }
                        }
                        Access::Anywhere(action) | Access::SelfOrAnywhere(action) => {
                            let scope_ok = !s.needs_group
                                || matches!(kind, Kind::Group)
                                || role == Role::Owner;
                            if in_scope && scope_ok && role >= action.min_role() {
                                allowed(status, &s)
                            } else {
                                status == 403
                            }
                        }
                        Access::Public | Access::JoinSecret | Access::MetricsToken => {
                            unreachable!()
                        }
                    };
                    if !ok {
                        failures.push(format!(
                            "{} {} as {role} ({kind:?} scope, {}): {status} {body}",
                            e.method,
                            e.path,
                            if in_scope { "in" } else { "out" }
                        ));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rows without a sample in the RBAC matrix: {missing:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{cases} RBAC cases passed");

    // Every mutating row is audited, and was.
    let actions: BTreeSet<String> = sqlx::query_scalar("SELECT action FROM audit_events")
        .fetch_all(&fx.t.state.db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    for e in endpoints().iter().filter(|e| e.method != "GET") {
        let prefix = e.audit.prefix();
        assert!(
            prefix.is_some(),
            "{} {} changes things but has no audit action",
            e.method,
            e.path
        );
        let prefix = prefix.unwrap_or_default();
        assert!(
            actions.iter().any(|a| a.starts_with(prefix)),
            "no audit row for {} {} ({prefix})",
            e.method,
            e.path,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_matrix() {
    for backend in common::backends() {
        eprintln!("--- rbac_matrix on {backend:?}");
        rbac_matrix_on(TestApp::new(backend).await).await;
    }
}

#[tokio::test]
async fn openapi_documents_exactly_the_endpoint_table() {
    let doc: Value = serde_json::from_str(berth_server::http::document_json()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let table: BTreeSet<String> = endpoints()
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(table.len(), endpoints().len(), "duplicate endpoints");
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "endpoints missing from the OpenAPI document: {undocumented:#?}"
    );
    assert!(
        extra.is_empty(),
        "documented but not in the table: {extra:#?}"
    );
}

#[tokio::test]
async fn every_endpoint_is_routed() {
    // The served router and the table come from the same declarations:
    // every endpoint answers, none with the fallback's 404 or a 405.
    let t = TestApp::new(common::backends().remove(0)).await;
    for e in endpoints() {
        let path = e
            .path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let req = Request::builder()
            .method(Method::from_bytes(e.method.as_bytes()).unwrap())
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let r = t.send(req).await;
        let body = r.text();
        assert!(
            r.status.as_u16() != 405 && !body.contains("no such endpoint"),
            "{} {} is not routed: {} {body}",
            e.method,
            e.path,
            r.status
        );
    }
}
