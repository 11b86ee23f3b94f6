//! The router's contract with any service: how it reads requests, refuses
//! bad ones and renders answers, against a stub service.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;

#[derive(Clone)]
struct Stub;

fn stub<T>() -> Answer<T> {
    Err(Problem::new(501, "not in the stub"))
}

impl ImageService for Stub {
    async fn list_images(&self) -> Answer<Vec<Image>> {
        Ok(vec![])
    }
    async fn image_usage(&self) -> Answer<StoreUsage> {
        stub()
    }
    async fn pull_image(&self, req: PullRequest) -> Answer<EventStream> {
        Ok(EventStream::json(futures::stream::iter([req.reference])).then_end())
    }
    async fn import_image(&self, mut body: ByteStream) -> Answer<ImportResult> {
        let mut n = 0;
        while let Some(chunk) = body.next().await {
            n += chunk.map_err(|e| Problem::new(400, e.to_string()))?.len();
        }
        // The test sends 5 bytes: anything else is a 400 naming the count.
        if n == 5 {
            Ok(ImportResult { images: vec![] })
        } else {
            Err(Problem::new(400, format!("{n} bytes")))
        }
    }
    async fn remove_image(&self, _: String) -> Answer<()> {
        Ok(())
    }
}

impl AgentService for Stub {
    async fn info(&self) -> Answer<AgentInfo> {
        stub()
    }
    async fn leave(&self) -> Answer<()> {
        Ok(())
    }
    async fn list_containers(&self, _: ListQuery) -> Answer<Vec<Container>> {
        Ok(vec![])
    }
    async fn create_container(
        &self,
        q: CreateQuery,
        spec: ContainerSpec,
    ) -> Answer<CreatedContainer> {
        Ok(CreatedContainer {
            id: format!("start={}", q.start),
            name: spec.image,
        })
    }
    async fn inspect_container(&self, c: String) -> Answer<Container> {
        Err(Problem::new(404, format!("no such container: {c}")))
    }
    async fn remove_container(&self, _: String, _: RemoveQuery) -> Answer<()> {
        Ok(())
    }
    async fn container_action(
        &self,
        _: String,
        _: ContainerAction,
        _: ActionQuery,
    ) -> Answer<Container> {
        stub()
    }
    async fn logs(&self, _: String, _: LogsQuery) -> Answer<Vec<LogLine>> {
        Ok(vec![])
    }
    async fn follow_logs(&self, _: String, _: LogsQuery) -> Answer<EventStream> {
        Ok(EventStream::new(futures::stream::empty()).then_end())
    }
    async fn stats(&self, _: String, _: WindowQuery) -> Answer<Vec<ContainerSample>> {
        stub()
    }
    async fn stats_stream(&self, _: String) -> Answer<EventStream> {
        stub()
    }
    async fn container_namespaces(&self, _: String) -> Answer<Vec<ContainerNamespace>> {
        stub()
    }
    async fn exec(&self, _: String, _: ExecQuery, ws: ExecUpgrade) -> Answer<Response> {
        ws.on_upgrade(|_| async {})
    }
    async fn host_metrics(&self, _: WindowQuery) -> Answer<Vec<HostSample>> {
        stub()
    }
    async fn host_metrics_stream(&self) -> Answer<EventStream> {
        stub()
    }
    async fn namespaces(&self) -> Answer<Vec<NamespaceEntry>> {
        stub()
    }
    async fn cgroups(&self) -> Answer<CgroupNode> {
        stub()
    }
    async fn prometheus(&self) -> Answer<String> {
        Ok("up 1\n".into())
    }
}

/// Status, content type and body of one request.
async fn call(method: &str, uri: &str, ct: Option<&str>, body: &str) -> (u16, String, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = ct {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let resp = router(Stub)
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
}

/// A problem's status and detail.
fn problem_of(r: &(u16, String, String)) -> (u16, String) {
    assert_eq!(r.1, berth_api::error::PROBLEM_JSON, "{r:?}");
    let p: Problem = serde_json::from_str(&r.2).unwrap();
    assert_eq!(p.status, r.0);
    (p.status, p.detail)
}

#[tokio::test]
async fn bad_queries_paths_and_methods_are_problems() {
    let (s, d) = problem_of(&call("GET", "/v1/containers?state=bogus", None, "").await);
    assert_eq!(s, 400);
    assert!(d.starts_with("state="), "{d}");
    let (s, d) = problem_of(&call("GET", "/v1/metrics?window=2h", None, "").await);
    assert_eq!(s, 400);
    assert!(d.starts_with("window="), "{d}");
    assert_eq!(
        problem_of(&call("GET", "/v2/nothing", None, "").await).0,
        404
    );
    assert_eq!(
        problem_of(&call("DELETE", "/v1/info", None, "").await).0,
        405
    );
    let (s, _) = problem_of(&call("POST", "/v1/containers/web/explode", None, "").await);
    assert_eq!(s, 404);
    let (s, d) = problem_of(&call("GET", "/v1/containers/web", None, "").await);
    assert_eq!((s, d.as_str()), (404, "no such container: web"));
    assert_eq!(problem_of(&call("GET", "/v1/info", None, "").await).0, 501);
}

#[tokio::test]
async fn json_bodies_are_checked_and_creates_answer_201() {
    let json = Some("application/json");
    let (s, d) = problem_of(&call("POST", "/v1/containers", None, "{}").await);
    assert_eq!(s, 400);
    assert!(d.contains("Content-Type: application/json"), "{d}");
    let (s, d) = problem_of(&call("POST", "/v1/containers", json, "{").await);
    assert_eq!(s, 400);
    assert!(d.starts_with("malformed JSON"), "{d}");
    let (s, d) = problem_of(&call("POST", "/v1/containers", json, r#"{"imag":"x"}"#).await);
    assert_eq!(s, 400);
    assert!(d.starts_with("invalid body"), "{d}");
    let big = format!(r#"{{"image":"{}"}}"#, "a".repeat(JSON_BODY_LIMIT));
    assert_eq!(
        problem_of(&call("POST", "/v1/containers", json, &big).await).0,
        413
    );
    let r = call(
        "POST",
        "/v1/containers?start=true",
        json,
        r#"{"image":"busybox"}"#,
    )
    .await;
    assert_eq!(
        (r.0, r.2.as_str()),
        (201, r#"{"id":"start=true","name":"busybox"}"#)
    );
    assert_eq!(call("DELETE", "/v1/containers/web", None, "").await.0, 204);
    assert_eq!(call("POST", "/v1/leave", None, "").await.0, 204);
    assert_eq!(call("DELETE", "/v1/images/busybox", None, "").await.0, 204);
}

#[tokio::test]
async fn streams_imports_exec_and_prometheus() {
    let (s, d) = problem_of(&call("POST", "/v1/images/pull", None, "not json").await);
    assert_eq!(s, 400);
    assert!(d.starts_with("invalid pull request"), "{d}");
    let r = call(
        "POST",
        "/v1/images/pull",
        None,
        r#"{"reference":"busybox"}"#,
    )
    .await;
    assert_eq!((r.0, r.1.as_str()), (200, "text/event-stream"));
    assert_eq!(r.2, "data: \"busybox\"\n\nevent: end\ndata: {}\n\n");
    let r = call("GET", "/v1/containers/web/logs?follow=true", None, "").await;
    assert_eq!(r.2, "event: end\ndata: {}\n\n");
    let r = call("GET", "/v1/containers/web/logs", None, "").await;
    assert_eq!((r.0, r.2.as_str()), (200, "[]"));
    let r = call("POST", "/v1/images/import", None, "12345").await;
    assert_eq!((r.0, r.2.as_str()), (201, r#"{"images":[]}"#));
    let (s, d) = problem_of(&call("GET", "/v1/containers/web/exec", None, "").await);
    assert_eq!(s, 400);
    assert!(d.starts_with("exec needs a WebSocket upgrade"), "{d}");
    let r = call("GET", "/metrics", None, "").await;
    assert_eq!(
        (r.0, r.1.as_str(), r.2.as_str()),
        (200, PROMETHEUS_CONTENT_TYPE, "up 1\n")
    );
}

#[tokio::test]
async fn the_image_routes_serve_alone() {
    let app = image_routes::<std::sync::Arc<Stub>>().with_state(std::sync::Arc::new(Stub));
    let resp = app
        .oneshot(Request::get("/v1/images").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
