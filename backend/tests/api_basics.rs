//! Health, errors as problem+json, bad input, security headers, the
//! dashboard fallback and the OpenAPI document.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::TestApp;
use serde_json::json;

db_test!(health_needs_no_auth, |t: TestApp| async move {
    let r = t.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["version"], berth_api::VERSION);
});

db_test!(
    unknown_api_routes_are_404_problems,
    |t: TestApp| async move {
        let r = t
            .call(Method::GET, "/api/v1/nothing/here", None, None)
            .await;
        assert_eq!(r.status, 404);
        assert!(r.detail().contains("/api/v1/nothing/here"));
        let r = t.call(Method::GET, "/api/v2", None, None).await;
        assert_eq!(r.status, 404);
        r.detail();
    }
);

db_test!(wrong_method_is_405_problem, |t: TestApp| async move {
    let r = t.call(Method::DELETE, "/api/v1/health", None, None).await;
    assert_eq!(r.status, 405);
    assert!(r.detail().contains("DELETE"));
});

db_test!(every_answer_has_security_headers, |t: TestApp| async move {
    for path in ["/api/v1/health", "/api/v1/nope", "/", "/hosts/x"] {
        let r = t.call(Method::GET, path, None, None).await;
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        if path.starts_with("/api/") {
            // API answers are inert (sandboxed), whatever they hold.
            assert!(csp.starts_with("sandbox"), "{path}: {csp}");
        } else {
            assert!(
                csp.contains("default-src 'self'") && csp.contains("'wasm-unsafe-eval'"),
                "{path}: {csp}"
            );
        }
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    }
});

db_test!(unauthenticated_calls_are_401, |t: TestApp| async move {
    for path in [
        "/api/v1/hosts",
        "/api/v1/auth/me",
        "/api/v1/containers",
        "/api/v1/users",
    ] {
        let r = t.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.detail(), "not logged in");
    }
    let r = t
        .call(Method::GET, "/api/v1/hosts", Some("garbage"), None)
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .send(
            Request::get("/api/v1/hosts")
                .header(header::AUTHORIZATION, "Basic YTpi")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.detail().contains("Bearer"));
});

db_test!(
    malformed_bodies_are_400_saying_what_is_wrong,
    |t: TestApp| async move {
        let owner = t.owner().await;
        // Not JSON at all.
        let r = t
            .send(
                Request::post("/api/v1/teams")
                    .header(header::AUTHORIZATION, format!("Bearer {}", owner.token))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{\"name\": "))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 400);
        assert!(r.detail().starts_with("malformed JSON"), "{}", r.detail());
        // Wrong type, named by its path.
        let r = t
            .post("/api/v1/teams", &owner.token, json!({"name": 5}))
            .await;
        assert_eq!(r.status, 400);
        let d = r.detail();
        assert!(d.contains("name") && d.contains("invalid type"), "{d}");
        // Missing field.
        let r = t
            .post("/api/v1/users", &owner.token, json!({"username": "x"}))
            .await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("password"), "{}", r.detail());
        // Empty body where one is needed.
        let r = t
            .call(Method::POST, "/api/v1/teams", Some(&owner.token), None)
            .await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("JSON body"));
        // A non-JSON media type.
        let r = t
            .send(
                Request::post("/api/v1/teams")
                    .header(header::AUTHORIZATION, format!("Bearer {}", owner.token))
                    .header(header::CONTENT_TYPE, "application/xml")
                    .body(Body::from("<team/>"))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 415);
        r.detail();
        // Bad query values.
        let r = t.get("/api/v1/audit?limit=abc", &owner.token).await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("limit"), "{}", r.detail());
        let r = t.get("/api/v1/audit?since=yesterday", &owner.token).await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("RFC 3339"));
        let r = t
            .get("/api/v1/containers?state=sleeping", &owner.token)
            .await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("sleeping"));
    }
);

db_test!(bodies_over_the_limit_are_413, |t: TestApp| async move {
    let owner = t.owner().await;
    let big = "x".repeat(2 << 20);
    let r = t
        .post("/api/v1/teams", &owner.token, json!({ "name": big }))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    r.detail();
});

db_test!(
    dashboard_falls_back_to_index_but_api_never_does,
    |t: TestApp| async move {
        let dist = t.dir.path().join("dist");
        std::fs::create_dir_all(dist.join("pkg")).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>Berth</title>",
        )
        .unwrap();
        std::fs::write(dist.join("pkg/app-0123abcd45.js"), "console.log(1)").unwrap();
        std::fs::write(dist.join("style.css"), "body{}").unwrap();

        for route in [
            "/",
            "/login",
            "/setup",
            "/hosts/h1",
            "/hosts/h1/containers/web.1",
            "/containers",
            "/admin/users",
        ] {
            let r = t.call(Method::GET, route, None, None).await;
            assert_eq!(r.status, 200, "{route}");
            assert!(r.text().contains("<title>Berth</title>"), "{route}");
            assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache", "{route}");
        }
        let r = t
            .call(Method::GET, "/pkg/app-0123abcd45.js", None, None)
            .await;
        assert_eq!(r.status, 200);
        assert!(
            r.headers[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let r = t.call(Method::GET, "/style.css", None, None).await;
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
        // A missing asset is a 404, not the app.
        let r = t.call(Method::GET, "/pkg/missing.wasm", None, None).await;
        assert_eq!(r.status, 404);
        // API paths never get index.html.
        let r = t
            .call(Method::GET, "/api/v1/hosts/h1/whatever", None, None)
            .await;
        assert_eq!(r.status, 404);
        r.detail();
    }
);

db_test!(dashboard_assets_are_gzipped, |t: TestApp| async move {
    let dist = t.dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "x").unwrap();
    std::fs::write(dist.join("big.js"), "console.log('hello');\n".repeat(200)).unwrap();
    let r = t
        .send(
            Request::get("/big.js")
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers[header::CONTENT_ENCODING], "gzip");
    assert!(r.body.len() < 1000);
});

db_test!(openapi_document_is_served, |t: TestApp| async move {
    let r = t
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/hosts/{host}/containers"]["post"].is_object());
    assert!(doc["components"]["schemas"]["ContainerSpec"].is_object());
    // Swagger UI's files come from the dashboard's vendor dir or the
    // repository's tools/node_modules, never a CDN.
    let dist_vendor = t.dir.path().join("dist/vendor/swagger-ui");
    std::fs::create_dir_all(&dist_vendor).unwrap();
    std::fs::write(dist_vendor.join("swagger-ui-bundle.js"), "/* bundle */").unwrap();
    std::fs::write(dist_vendor.join("swagger-ui.css"), "/* css */").unwrap();
    let r = t.call(Method::GET, "/api/docs", None, None).await;
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("/api/docs/init.js"));
    assert!(!page.contains("<script>"), "no inline script (CSP)");
    // Every file the page loads carries the Subresource Integrity hash of
    // the bytes the server serves for it.
    for url in [
        "/api/docs/assets/swagger-ui.css",
        "/api/docs/assets/swagger-ui-bundle.js",
        "/api/docs/init.js",
    ] {
        let at = page
            .find(&format!("\"{url}\""))
            .unwrap_or_else(|| panic!("{url} in {page}"));
        let tag_end = at + page[at..].find('>').unwrap();
        let tag = &page[at..tag_end];
        let sri = tag
            .split("integrity=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no integrity on {url}: {tag}"));
        let body = t.call(Method::GET, url, None, None).await;
        assert_eq!(body.status, 200, "{url}");
        assert_eq!(sri, berth_server::dashboard::sri(&body.body), "{url}");
    }
    let r = t.call(Method::GET, "/api/docs/init.js", None, None).await;
    assert!(r.text().contains("/api/v1/openapi.json"));
    let r = t
        .call(
            Method::GET,
            "/api/docs/assets/swagger-ui-bundle.js",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "/* bundle */");
    let r = t
        .call(Method::GET, "/api/docs/assets/missing.js", None, None)
        .await;
    assert_eq!(r.status, 404);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics() {
    for backend in common::backends() {
        let t = TestApp::with_config(backend, |c| c.metrics_token = Some("scrape-me".into())).await;
        prometheus_metrics_on(t).await;
    }
}

async fn prometheus_metrics_on(t: TestApp) {
    t.call(Method::GET, "/api/v1/health", None, None).await;
    let r = t
        .call(Method::GET, "/metrics", Some("scrape-me"), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text();
    assert!(
        text.contains(
            "berth_http_requests_total{route=\"/api/v1/health\",method=\"GET\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("berth_hosts_online"));
}
