//! Over a real socket: plain HTTP and HTTPS on one port, the Secure cookie
//! over TLS, registration over pinned TLS, shared SSE streams (50 viewers,
//! one upstream) and the exec WebSocket relay.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use berth_api::agent::RegisterRequest;
use common::fake_agent::FakeAgent;
use common::{TestApp, serve};
use futures::{SinkExt, StreamExt};
use serde_json::json;

fn pinned_client(t: &TestApp) -> reqwest::Client {
    let cfg = berth_server::tls::pinned_client_config(t.state.fingerprint(), &[b"h2", b"http/1.1"])
        .unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .no_proxy()
        .build()
        .unwrap()
}

db_test!(http_and_https_share_one_port, |t: TestApp| async move {
    let s = serve(&t).await;
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = plain
        .get(format!("http://127.0.0.1:{}/api/v1/health", s.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    let tls = pinned_client(&t);
    let r = tls
        .get(format!("https://127.0.0.1:{}/api/v1/health", s.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "h2 over TLS by ALPN");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    // A client that checks the fingerprint refuses another certificate.
    let wrong = berth_server::tls::pinned_client_config(&"00".repeat(32), &[b"http/1.1"]).unwrap();
    let wrong = reqwest::Client::builder()
        .tls_backend_preconfigured(wrong)
        .build()
        .unwrap();
    assert!(
        wrong
            .get(format!("https://127.0.0.1:{}/api/v1/health", s.port))
            .send()
            .await
            .is_err()
    );
    // HTTP/2 prior knowledge on the plain side works too.
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap();
    let r = h2c
        .get(format!("http://127.0.0.1:{}/api/v1/health", s.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
});

db_test!(
    the_cookie_is_secure_over_tls_only,
    |t: TestApp| async move {
        let s = serve(&t).await;
        t.user("alice", &[]).await;
        let body = json!({"username": "alice", "password": common::PASSWORD});
        let r = pinned_client(&t)
            .post(format!("https://127.0.0.1:{}/api/v1/auth/login", s.port))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let c = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            c.contains("; Secure") && c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v1/auth/login", s.port))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            !r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
);

db_test!(registration_over_pinned_tls, |t: TestApp| async move {
    let s = serve(&t).await;
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let r = t
        .post("/api/v1/hosts/join-tokens", &owner.token, json!({}))
        .await;
    let mut payload =
        berth_server::agents::join::decode_token(r.json()["token"].as_str().unwrap()).unwrap();
    payload.url = format!("https://127.0.0.1:{}", s.port);
    // What `berth-agent join` does: trust only the token's fingerprint.
    let cfg =
        berth_server::tls::pinned_client_config(&payload.fingerprint, &[b"http/1.1"]).unwrap();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .build()
        .unwrap();
    let req = RegisterRequest {
        secret: payload.secret.clone(),
        name: "joined-over-tls".into(),
        address: agent.address(),
        facts: common::fake_agent::facts(),
        runtimes: vec!["berth".into()],
        certificate_pem: agent.cert_pem.clone(),
        agent_version: "x".into(),
    };
    let r = client
        .post(format!("{}/api/v1/hosts/register", payload.url))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["server_public_key_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert_eq!(v["host_id"].as_str().unwrap().len(), 20);
    // Replayed: refused.
    let r = client
        .post(format!("{}/api/v1/hosts/register", payload.url))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
});

/// Reads SSE `data:` events from a response until `n` arrived.
async fn read_events(resp: reqwest::Response, n: usize) -> Vec<String> {
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                events.push(data.to_string());
            }
        }
    }
    events
}

db_test!(
    fifty_viewers_share_one_upstream_stream,
    |t: TestApp| async move {
        let s = serve(&t).await;
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node", &[]).await;
        agent.add_container("web", "running");
        let url = format!(
            "http://127.0.0.1:{}/api/v1/hosts/{host}/containers/web/stats/stream",
            s.port
        );
        let client = reqwest::Client::new();
        let mut viewers = Vec::new();
        for _ in 0..50 {
            let r = client
                .get(&url)
                .bearer_auth(&owner.token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "text/event-stream");
            viewers.push(r);
        }
        let all = futures::future::join_all(viewers.into_iter().map(|r| read_events(r, 3))).await;
        for events in &all {
            assert_eq!(events.len(), 3);
            let v: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
            assert!(v["cpu_percent"].is_number());
        }
        assert_eq!(
            agent.state.streams_opened.load(Ordering::Relaxed),
            1,
            "one upstream for 50 viewers"
        );
        assert_eq!(t.state.metrics.upstream_streams_opened(), 1);
        drop(all);
        // Viewers gone: the upstream closes.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while t.state.streams.open_streams() > 0
            || agent.state.streams_open.load(Ordering::Relaxed) > 0
        {
            assert!(std::time::Instant::now() < deadline, "upstream still open");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A new viewer opens a new one; an unknown container is a plain 404.
        let r = client
            .get(&url)
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        read_events(r, 1).await;
        assert_eq!(agent.state.streams_opened.load(Ordering::Relaxed), 2);
        let r = client
            .get(format!(
                "http://127.0.0.1:{}/api/v1/hosts/{host}/containers/nope/stats/stream",
                s.port
            ))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
);

db_test!(
    followed_logs_are_shared_and_end_for_everyone,
    |t: TestApp| async move {
        let s = serve(&t).await;
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node", &[]).await;
        agent.add_container("web", "running");
        let url = format!(
            "http://127.0.0.1:{}/api/v1/hosts/{host}/containers/web/logs?follow=true&tail=10",
            s.port
        );
        let client = reqwest::Client::new();
        let a = client
            .get(&url)
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        let b = client
            .get(&url)
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        let (ta, tb) = tokio::join!(a.text(), b.text());
        let (ta, tb) = (ta.unwrap(), tb.unwrap());
        assert!(ta.ends_with("event: end\ndata: {}\n\n"), "{ta}");
        assert!(tb.ends_with("event: end\ndata: {}\n\n"), "{tb}");
        assert_eq!(ta.matches("data: {\"t\"").count(), 5, "{ta}");
        assert_eq!(
            tb.matches("data: {\"t\"").count(),
            5,
            "late viewers get the replayed lines: {tb}"
        );
        assert_eq!(agent.state.streams_opened.load(Ordering::Relaxed), 1);
    }
);

db_test!(exec_websocket_is_relayed, |t: TestApp| async move {
    let s = serve(&t).await;
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let host = agent.join(&t, &owner.token, "node", &[]).await;
    agent.add_container("web", "running");
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut req = format!(
        "ws://127.0.0.1:{}/api/v1/hosts/{host}/containers/web/exec?cmd=/bin/sh&tty=true",
        s.port
    )
    .into_client_request()
    .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", owner.token).parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(resp.status(), 101);
    ws.send(Message::binary(b"ls\n".to_vec())).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.into_data().as_ref(), b"ls\n");
    ws.send(Message::text("{\"resize\":[120,40]}"))
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        m.into_text().unwrap().as_str(),
        "resized {\"resize\":[120,40]}"
    );
    ws.close(None).await.unwrap();
    assert!(
        agent
            .state
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r == "GET /v1/containers/web/exec?cmd=%2Fbin%2Fsh&tty=true owner")
    );
    // Viewers may not exec; a plain GET is a 400 problem.
    let viewer = t
        .user(
            "v",
            &[(
                berth_api::auth::Role::Viewer,
                berth_api::auth::Scope::Global,
            )],
        )
        .await;
    let mut req = format!(
        "ws://127.0.0.1:{}/api/v1/hosts/{host}/containers/web/exec",
        s.port
    )
    .into_client_request()
    .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", viewer.token).parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let r = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/api/v1/hosts/{host}/containers/web/exec",
            s.port
        ))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
});
