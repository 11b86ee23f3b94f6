//! Web-facing attacks on the server, each performed and shown refused (and
//! the legitimate path shown to work):
//! - cross-site WebSocket hijacking of the exec console (foreign or missing
//!   Origin, no / reused / expired / foreign exec ticket);
//! - a hostile agent's HTML or script relayed on the dashboard's origin;
//! - login CSRF with text/plain and form bodies (415);
//! - plain HTTP when TLS is on (308 to HTTPS, HSTS, Secure cookie);
//! - `/metrics` open to anyone.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use berth_api::auth::{CSRF_HEADER, Role, SESSION_COOKIE, Scope};
use common::fake_agent::FakeAgent;
use common::{Resp, TestApp, serve};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// Opens the exec WebSocket with the given headers: the socket, or the
/// refusal's status and body.
async fn open_ws(
    port: u16,
    path: &str,
    headers: &[(&str, String)],
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, String),
> {
    let mut req = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            assert_eq!(resp.status(), 101);
            Ok(ws)
        }
        Err(tungstenite::Error::Http(r)) => {
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            assert_eq!(ct, "application/problem+json", "refusals are problems");
            let body = String::from_utf8_lossy(r.body().as_deref().unwrap_or(&[])).into_owned();
            Err((r.status().as_u16(), body))
        }
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

fn cookie(token: &str) -> (&'static str, String) {
    ("cookie", format!("{SESSION_COOKIE}={token}"))
}

/// `POST .../exec-ticket` as a cookie user of the dashboard.
async fn ticket(t: &TestApp, token: &str, host: &str, c: &str, body: Value) -> Resp {
    t.send(
        Request::post(format!("/api/v1/hosts/{host}/containers/{c}/exec-ticket"))
            .header(header::COOKIE, format!("{SESSION_COOKIE}={token}"))
            .header(CSRF_HEADER, "1")
            .header(header::CONTENT_TYPE, "application/json")
            // The public URL's origin (the default: https://127.0.0.1:8080).
            .header(header::ORIGIN, "https://127.0.0.1:8080")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn echo_works<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::binary(b"id\n".to_vec())).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an answer")
        .unwrap()
        .unwrap();
    assert_eq!(m.into_data().as_ref(), b"id\n");
}

db_test!(
    exec_websocket_hijacking_is_refused,
    |t: TestApp| async move {
        let s = serve(&t).await;
        let own = format!("http://127.0.0.1:{}", s.port);
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node", &[]).await;
        agent.add_container("web", "running");
        let deployer = t.user("dep", &[(Role::Deployer, Scope::Global)]).await;
        let exec = format!("/api/v1/hosts/{host}/containers/web/exec?cmd=%2Fbin%2Fsh&tty=true");
        let with_ticket = |tk: &str| format!("{exec}&ticket={tk}");
        let new_ticket = || async {
            let r = ticket(
                &t,
                &deployer.token,
                &host,
                "web",
                json!({"cmd": "/bin/sh", "tty": true}),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            let v = r.json();
            assert!(v["expires_at"].is_string());
            v["ticket"].as_str().unwrap().to_string()
        };

        // A page on another port of the same host (same site: the cookie
        // goes along) opens the console: its Origin is refused, ticket or not.
        let tk = new_ticket().await;
        for origin in [
            format!("http://127.0.0.1:{}", s.port + 1),
            "http://127.0.0.1".to_string(),
            format!("https://127.0.0.1:{}", s.port),
            "null".to_string(),
            format!("http://127.0.0.1:{}.evil.example", s.port),
        ] {
            let (status, body) = open_ws(
                s.port,
                &with_ticket(&tk),
                &[cookie(&deployer.token), ("origin", origin.clone())],
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("{origin} was let in"));
            assert_eq!(status, 403, "{origin}: {body}");
            assert!(body.contains("Origin"), "{body}");
        }
        // No Origin at all, with the cookie: refused.
        let (status, body) = open_ws(s.port, &with_ticket(&tk), &[cookie(&deployer.token)])
            .await
            .expect_err("a cookie WebSocket without Origin was let in");
        assert_eq!(status, 403, "{body}");
        // A same-site page's fetch metadata is refused too.
        let (status, _) = open_ws(
            s.port,
            &with_ticket(&tk),
            &[
                cookie(&deployer.token),
                ("origin", own.clone()),
                ("sec-fetch-site", "same-site".into()),
            ],
        )
        .await
        .expect_err("Sec-Fetch-Site: same-site was let in");
        assert_eq!(status, 403);

        // Own origin but no ticket: refused.
        let (status, body) = open_ws(
            s.port,
            &exec,
            &[cookie(&deployer.token), ("origin", own.clone())],
        )
        .await
        .expect_err("a cookie WebSocket without a ticket was let in");
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("ticket"), "{body}");
        // A made-up ticket: refused.
        let (status, _) = open_ws(
            s.port,
            &with_ticket("berthexec_00"),
            &[cookie(&deployer.token), ("origin", own.clone())],
        )
        .await
        .expect_err("a made-up ticket was let in");
        assert_eq!(status, 403);

        // The legitimate path: own origin, fresh ticket (the refused
        // attempts above did not get past the Origin check, so it is unused).
        let mut ws = open_ws(
            s.port,
            &with_ticket(&tk),
            &[cookie(&deployer.token), ("origin", own.clone())],
        )
        .await
        .expect("the dashboard's own console");
        echo_works(&mut ws).await;
        ws.close(None).await.unwrap();
        // The same ticket again: refused (single use).
        let (status, body) = open_ws(
            s.port,
            &with_ticket(&tk),
            &[cookie(&deployer.token), ("origin", own.clone())],
        )
        .await
        .expect_err("a ticket was used twice");
        assert_eq!(status, 403);
        assert!(body.contains("already used"), "{body}");

        // Another user's ticket: refused (and burnt).
        let other = t.user("other", &[(Role::Deployer, Scope::Global)]).await;
        let tk = new_ticket().await;
        let (status, body) = open_ws(
            s.port,
            &with_ticket(&tk),
            &[cookie(&other.token), ("origin", own.clone())],
        )
        .await
        .expect_err("another user's ticket was let in");
        assert_eq!(status, 403);
        assert!(body.contains("another user"), "{body}");

        // A ticket for another command: refused.
        let tk = new_ticket().await;
        let (status, body) = open_ws(
            s.port,
            &format!(
                "/api/v1/hosts/{host}/containers/web/exec?cmd=%2Fbin%2Fbash&tty=true&ticket={tk}"
            ),
            &[cookie(&deployer.token), ("origin", own.clone())],
        )
        .await
        .expect_err("a ticket for another cmd was let in");
        assert_eq!(status, 403);
        assert!(body.contains("cmd"), "{body}");

        // An expired ticket: refused.
        let tk = new_ticket().await;
        sqlx::query("UPDATE exec_tickets SET expires_at = $1")
            .bind(berth_server::db::now_ms() - 1)
            .execute(&t.state.db.pool)
            .await
            .unwrap();
        let (status, body) = open_ws(
            s.port,
            &with_ticket(&tk),
            &[cookie(&deployer.token), ("origin", own.clone())],
        )
        .await
        .expect_err("an expired ticket was let in");
        assert_eq!(status, 403);
        assert!(body.contains("expired"), "{body}");

        // Getting a ticket is a mutation: without the CSRF header (what a
        // foreign page's form or no-cors fetch sends) it is refused, and so
        // is a foreign Origin.
        let r = t
            .send(
                Request::post(format!("/api/v1/hosts/{host}/containers/web/exec-ticket"))
                    .header(
                        header::COOKIE,
                        format!("{SESSION_COOKIE}={}", deployer.token),
                    )
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text());
        let r = t
            .send(
                Request::post(format!("/api/v1/hosts/{host}/containers/web/exec-ticket"))
                    .header(
                        header::COOKIE,
                        format!("{SESSION_COOKIE}={}", deployer.token),
                    )
                    .header(CSRF_HEADER, "1")
                    .header(header::ORIGIN, "http://127.0.0.1:1")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 403);
        assert!(r.detail().contains("Origin"));
        // Viewers get no ticket.
        let viewer = t.user("viewer", &[(Role::Viewer, Scope::Global)]).await;
        let r = ticket(&t, &viewer.token, &host, "web", json!({})).await;
        assert_eq!(r.status, 403, "{}", r.text());

        // Bearer callers (scripts) need neither Origin nor ticket.
        let mut ws = open_ws(
            s.port,
            &exec,
            &[("authorization", format!("Bearer {}", deployer.token))],
        )
        .await
        .expect("a bearer exec");
        echo_works(&mut ws).await;
        ws.close(None).await.unwrap();

        // 9b: the exec's command line is in the audit log, the default
        // shell included.
        let mut ws = open_ws(
            s.port,
            &format!("/api/v1/hosts/{host}/containers/web/exec"),
            &[("authorization", format!("Bearer {}", deployer.token))],
        )
        .await
        .expect("a bearer exec with the default shell");
        ws.close(None).await.unwrap();
        let details: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_events WHERE action = 'container.exec' ORDER BY time",
        )
        .fetch_all(&t.state.db.pool)
        .await
        .unwrap();
        assert!(
            details.iter().any(|d| d == "cmd: /bin/sh; tty: true"),
            "{details:?}"
        );
        assert!(
            details
                .iter()
                .any(|d| d == "cmd: (default shell); tty: false"),
            "{details:?}"
        );
    }
);

db_test!(
    cookie_streams_from_other_origins_are_refused,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node", &[]).await;
        agent.add_container("web", "running");
        let path = format!("/api/v1/hosts/{host}/containers/web/stats/stream");
        let send = |extra: Vec<(&'static str, &'static str)>| {
            let mut b = Request::get(&path)
                .header(header::COOKIE, format!("{SESSION_COOKIE}={}", owner.token))
                .header(header::ACCEPT, "text/event-stream");
            for (k, v) in extra {
                b = b.header(k, v);
            }
            let req = b.body(Body::empty()).unwrap();
            let app = t.app.clone();
            async move {
                use tower::ServiceExt;
                let mut req = req;
                req.extensions_mut().insert(berth_server::server::ConnInfo {
                    remote: "127.0.0.1:40000".parse().unwrap(),
                    tls: false,
                });
                app.oneshot(req).await.unwrap().status().as_u16()
            }
        };
        // Foreign origin (a cross-origin EventSource or fetch): refused.
        assert_eq!(send(vec![("origin", "http://127.0.0.1:9")]).await, 403);
        // A same-site page's no-cors request (no Origin, Sec-Fetch-Site): refused.
        assert_eq!(send(vec![("sec-fetch-site", "same-site")]).await, 403);
        assert_eq!(send(vec![("sec-fetch-site", "cross-site")]).await, 403);
        // The dashboard's own fetch: same-origin.
        assert_eq!(send(vec![("sec-fetch-site", "same-origin")]).await, 200);
        assert_eq!(
            send(vec![("origin", "https://127.0.0.1:8080")]).await,
            200,
            "the public URL's origin"
        );
        // A bearer caller from anywhere is not a browser's ambient credential.
        let r = t
            .send(
                Request::get("/api/v1/hosts")
                    .header(header::AUTHORIZATION, format!("Bearer {}", owner.token))
                    .header(header::ORIGIN, "http://elsewhere.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 200);
    }
);

const HOSTILE_HTML: &str = "<html><script>document.title='pwned';parent.pwned=1</script><img src=x onerror=alert(1)></html>";

db_test!(
    hostile_agent_answers_are_never_served_as_content,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "evil", &[]).await;
        agent.add_container("web", "running");
        for ct in [
            "text/html",
            "application/javascript",
            "image/svg+xml",
            "application/json",
        ] {
            *agent.state.hostile.lock().unwrap() = Some((ct, HOSTILE_HTML));
            for (method, path, body) in [
                (
                    Method::GET,
                    format!("/api/v1/hosts/{host}/containers/web"),
                    None,
                ),
                (Method::GET, format!("/api/v1/hosts/{host}/cgroups"), None),
                (
                    Method::GET,
                    format!("/api/v1/hosts/{host}/containers/web/logs"),
                    None,
                ),
                (
                    Method::POST,
                    format!("/api/v1/hosts/{host}/containers/web/start"),
                    None,
                ),
                (
                    Method::POST,
                    format!("/api/v1/hosts/{host}/images/pull"),
                    Some(json!({"reference": "busybox"})),
                ),
            ] {
                let r = t
                    .call(method.clone(), &path, Some(&owner.token), body)
                    .await;
                let got_ct = r.headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .to_string();
                assert_eq!(
                    r.status,
                    502,
                    "{ct} {method} {path}: {} {}",
                    r.status,
                    r.text()
                );
                assert_eq!(got_ct, "application/problem+json", "{ct} {method} {path}");
                let d = r.detail();
                assert!(
                    d.contains("evil") && d.contains("not the expected JSON"),
                    "{d}"
                );
                assert!(!r.text().contains("<script"), "{ct} {path}: {}", r.text());
                let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
                assert!(csp.starts_with("sandbox"), "{csp}");
                assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            }
        }
        // The expected JSON with an HTML content type is relayed, but as JSON.
        *agent.state.hostile.lock().unwrap() = Some((
            "text/html",
            "{\"path\":\"<script>alert(1)</script>\",\"controllers\":[],\"children\":[]}",
        ));
        let r = t
            .get(&format!("/api/v1/hosts/{host}/cgroups"), &owner.token)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
        assert!(
            r.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
        // An honest agent still works.
        *agent.state.hostile.lock().unwrap() = None;
        let r = t
            .get(
                &format!("/api/v1/hosts/{host}/containers/web"),
                &owner.token,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
        let r = t
            .post(
                &format!("/api/v1/hosts/{host}/images/pull"),
                &owner.token,
                json!({"reference": "busybox"}),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers[header::CONTENT_TYPE], "text/event-stream");
        assert!(
            r.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
    }
);

db_test!(non_json_bodies_are_415, |t: TestApp| async move {
    let owner = t.owner().await;
    let login = json!({"username": "owner", "password": common::PASSWORD}).to_string();
    let setup = json!({"setup_token": "x", "username": "x", "password": "long enough password"})
        .to_string();
    let team = json!({"name": "t1"}).to_string();
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        for (path, body, auth) in [
            ("/api/v1/auth/login", &login, false),
            ("/api/v1/setup", &setup, false),
            ("/api/v1/teams", &team, true),
        ] {
            let mut b = Request::post(path);
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct);
            }
            if auth {
                b = b.header(header::AUTHORIZATION, format!("Bearer {}", owner.token));
            }
            let r = t.send(b.body(Body::from(body.clone())).unwrap()).await;
            assert_eq!(r.status, 415, "{ct:?} {path}: {}", r.text());
            let d = r.detail();
            assert!(d.contains("application/json"), "{d}");
            assert!(
                r.headers.get(header::SET_COOKIE).is_none(),
                "no session from a forged login"
            );
        }
    }
    // The same bodies as JSON work.
    let r = t
        .send(
            Request::post("/api/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(login))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A POST without a body needs no type.
    let r = t
        .call(Method::POST, "/api/v1/auth/logout", None, None)
        .await;
    assert_eq!(r.status, 204);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_redirected_to_https_when_tls_is_on() {
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.allow_plain_http = false;
    })
    .await;
    let owner = t.owner().await;
    let s = serve(&t).await;
    // The public URL (default: https://<listen>).
    let public = t.state.config.public_url();
    let plain = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!("http://127.0.0.1:{}/hosts/h1?x=1", s.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("{public}/hosts/h1?x=1").as_str()
    );
    // An API call is redirected too, not answered over plain HTTP.
    let r = plain
        .post(format!("http://127.0.0.1:{}/api/v1/auth/login", s.port))
        .json(&json!({"username": "owner", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert!(r.headers().get("set-cookie").is_none());
    // HTTPS answers, with HSTS, and the session cookie is Secure.
    let cfg =
        berth_server::tls::pinned_client_config(t.state.fingerprint(), &[b"http/1.1"]).unwrap();
    let tls = reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .no_proxy()
        .build()
        .unwrap();
    let r = tls
        .post(format!("https://127.0.0.1:{}/api/v1/auth/login", s.port))
        .json(&json!({"username": "owner", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let c = r.headers()["set-cookie"].to_str().unwrap();
    assert!(c.ends_with("; Secure"), "{c}");
    drop(owner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_secure_whenever_the_public_url_is_https() {
    // Not over TLS at all (e.g. embedded without a socket), public URL
    // https: the cookie is still Secure.
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.allow_plain_http = false;
        c.public_url = Some("https://berth.example:8443".into());
    })
    .await;
    t.owner().await;
    use tower::ServiceExt;
    let r = t
        .app
        .clone()
        .oneshot(
            Request::post("/api/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"username": "owner", "password": common::PASSWORD}).to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = r.headers()["set-cookie"].to_str().unwrap();
    assert!(c.ends_with("; Secure"), "{c}");
    // With --allow-plain-http, plain HTTP is served (local development) and
    // no HSTS is sent.
    let t = TestApp::new(common::Backend::Sqlite).await;
    let r = t.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_token() {
    // No token configured: not served on the main port at all.
    let t = TestApp::new(common::Backend::Sqlite).await;
    let r = t.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, 404);
    assert!(r.detail().contains("BERTH_METRICS_TOKEN"));
    // A user's session is not the metrics token.
    let owner = t.owner().await;
    let r = t.get("/metrics", &owner.token).await;
    assert_eq!(r.status, 404);

    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.metrics_token = Some("s3cret-metrics".into());
    })
    .await;
    let owner = t.owner().await;
    for bad in [
        None,
        Some("wrong"),
        Some("s3cret-metric"),
        Some(owner.token.as_str()),
    ] {
        let r = t.call(Method::GET, "/metrics", bad, None).await;
        assert_eq!(r.status, 401, "{bad:?}");
        assert!(!r.text().contains("berth_http_requests_total"));
    }
    let r = t
        .call(Method::GET, "/metrics", Some("s3cret-metrics"), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("berth_hosts_online"));

    // The separate listener of --metrics-listen: no auth, only /metrics.
    use tower::ServiceExt;
    let m = berth_server::metrics_app(t.state.clone());
    let r = m
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = m
        .oneshot(Request::get("/api/v1/hosts").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
