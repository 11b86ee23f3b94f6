//! Joining (tokens, registration, pinned certificates), host changes,
//! removal as revocation, and health checks.

mod common;

use std::time::{Duration, Instant};

use axum::http::Method;
use berth_api::auth::{Role, Scope};
use berth_server::agents::join::decode_token;
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::json;

db_test!(
    join_token_carries_url_fingerprint_and_secret,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let r = t
            .post(
                "/api/v1/hosts/join-tokens",
                &owner.token,
                json!({"groups": ["prod"], "expires_in": 600}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let token = v["token"].as_str().unwrap();
        assert_eq!(v["command"], format!("berth-agent join {token}"));
        // The one line for a fresh host pins the certificate's public key
        // (self-signed here, so curl skips only the CA chain).
        assert_eq!(
            v["install_command"],
            format!(
                "curl --pinnedpubkey '{}' --insecure -fsSL https://127.0.0.1:8080/install/agent.sh | sh -s -- {token}",
                t.state.server_cert.curl_pin()
            )
        );
        let p = decode_token(token).unwrap();
        assert_eq!(p.url, "https://127.0.0.1:8080");
        assert_eq!(p.fingerprint, t.state.fingerprint());
        assert_eq!(p.fingerprint.len(), 64);
        // Only the secret's hash is stored.
        let stored: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM join_tokens")
            .fetch_all(&t.state.db.pool)
            .await
            .unwrap();
        assert_eq!(stored, vec![berth_server::auth::secret_hash(&p.secret)]);
        let exp = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
        assert!((exp.timestamp() - chrono::Utc::now().timestamp() - 600).abs() < 5);
        // An empty body is fine (no groups, one hour).
        let r = t
            .call(
                Method::POST,
                "/api/v1/hosts/join-tokens",
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        let r = t
            .post(
                "/api/v1/hosts/join-tokens",
                &owner.token,
                json!({"groups": ["bad group!"]}),
            )
            .await;
        assert_eq!(r.status, 422);
        let r = t
            .post(
                "/api/v1/hosts/join-tokens",
                &owner.token,
                json!({"expires_in": 0}),
            )
            .await;
        assert_eq!(r.status, 422);
    }
);

db_test!(
    register_pins_the_agent_and_refuses_used_expired_and_forged_tokens,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &["prod"]).await;
        let h = t
            .get(&format!("/api/v1/hosts/{host}"), &owner.token)
            .await
            .json();
        assert_eq!(h["name"], "node-1");
        assert_eq!(h["status"], "online");
        assert_eq!(h["groups"], json!(["prod"]));
        assert_eq!(h["address"], agent.address());
        assert_eq!(h["facts"]["cgroup"], "hybrid");
        assert_eq!(h["runtimes"], json!(["berth"]));
        let rec = berth_server::db::hosts::get(&t.state.db, &host)
            .await
            .unwrap()
            .unwrap();
        let der = berth_server::tls::first_cert_der(&agent.cert_pem).unwrap();
        assert_eq!(rec.cert_sha256, berth_server::tls::fingerprint(&der));
        // The server signed its health check; the agent checked it.
        assert!(
            agent
                .state
                .requests
                .lock()
                .unwrap()
                .iter()
                .any(|r| r.starts_with("GET /v1/info"))
        );

        // A used token.
        let r = t
            .post("/api/v1/hosts/join-tokens", &owner.token, json!({}))
            .await;
        let secret = decode_token(r.json()["token"].as_str().unwrap())
            .unwrap()
            .secret;
        let other = FakeAgent::start().await;
        other
            .register(&t, &secret, "node-2")
            .await
            .expect("first use");
        let r = FakeAgent::start()
            .await
            .register(&t, &secret, "node-3")
            .await
            .unwrap_err();
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("already used"));
        // A forged one.
        let r = FakeAgent::start()
            .await
            .register(&t, "made-up-secret", "node-4")
            .await
            .unwrap_err();
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("unknown"));
        // An expired one.
        let r = t
            .post(
                "/api/v1/hosts/join-tokens",
                &owner.token,
                json!({"expires_in": 1}),
            )
            .await;
        let secret = decode_token(r.json()["token"].as_str().unwrap())
            .unwrap()
            .secret;
        // What is waited for is wall-clock time itself (the token's 1 s
        // lifetime, kept in milliseconds), so a sleep past it is right here.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let r = FakeAgent::start()
            .await
            .register(&t, &secret, "node-5")
            .await
            .unwrap_err();
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("expired"));
        let hosts = t.get("/api/v1/hosts", &owner.token).await.json();
        assert_eq!(hosts["items"].as_array().unwrap().len(), 2);

        // Bad registrations are 4xx, never 500.
        let r = t
            .post("/api/v1/hosts/join-tokens", &owner.token, json!({}))
            .await;
        let secret = decode_token(r.json()["token"].as_str().unwrap())
            .unwrap()
            .secret;
        let mut body = json!({"secret": secret, "name": "x", "address": "http://plain:1", "facts": common::fake_agent::facts(), "certificate_pem": agent.cert_pem});
        let r = t
            .call(
                Method::POST,
                "/api/v1/hosts/register",
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.detail().contains("https"));
        body["address"] = json!("https://127.0.0.1:1");
        body["certificate_pem"] = json!("not a certificate");
        let r = t
            .call(Method::POST, "/api/v1/hosts/register", None, Some(body))
            .await;
        assert_eq!(r.status, 422);
        let r = t
            .call(
                Method::POST,
                "/api/v1/hosts/register",
                None,
                Some(json!({"secret": 1})),
            )
            .await;
        assert_eq!(r.status, 400);
    }
);

db_test!(
    the_server_talks_only_to_the_pinned_certificate,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        agent.add_container("web", "running");
        let r = t
            .get(&format!("/api/v1/hosts/{host}/containers"), &owner.token)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        // Another agent (another certificate) takes over the address: refused.
        let impostor = FakeAgent::start().await;
        sqlx::query("UPDATE hosts SET address = $1 WHERE id = $2")
            .bind(impostor.address())
            .bind(&host)
            .execute(&t.state.db.pool)
            .await
            .unwrap();
        let r = t
            .get(&format!("/api/v1/hosts/{host}/containers"), &owner.token)
            .await;
        assert_eq!(r.status, 502);
        assert!(
            r.detail().contains("certificate other than the one pinned"),
            "{}",
            r.detail()
        );
        assert_eq!(r.json()["host"], host.as_str());
        assert!(impostor.state.requests.lock().unwrap().is_empty());
    }
);

db_test!(patch_and_scoping_of_hosts, |t: TestApp| async move {
    let owner = t.owner().await;
    let a = FakeAgent::start().await;
    let b = FakeAgent::start().await;
    let ha = a.join(&t, &owner.token, "a", &["prod"]).await;
    let hb = b.join(&t, &owner.token, "b", &["dev"]).await;
    let viewer = t
        .user("vic", &[(Role::Viewer, Scope::Group("prod".into()))])
        .await;
    let list = t.get("/api/v1/hosts", &viewer.token).await.json();
    let ids: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![ha.clone()]);
    let r = t.get(&format!("/api/v1/hosts/{hb}"), &viewer.token).await;
    assert_eq!(r.status, 404, "out of scope is not found");
    let r = t
        .call(
            Method::PATCH,
            &format!("/api/v1/hosts/{ha}"),
            Some(&viewer.token),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 403);

    let r = t
        .call(
            Method::PATCH,
            &format!("/api/v1/hosts/{hb}"),
            Some(&owner.token),
            Some(
                json!({"name": "bee", "groups": ["prod", "dev", "prod"], "labels": {"rack": "r1"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["groups"], json!(["dev", "prod"]));
    assert_eq!(r.json()["labels"]["rack"], "r1");
    // Now in the viewer's group: visible, by id and by name.
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{hb}"), &viewer.token)
            .await
            .status,
        200
    );
    assert_eq!(
        t.get("/api/v1/hosts/bee", &viewer.token).await.json()["id"],
        hb.as_str()
    );
    let r = t
        .call(
            Method::PATCH,
            &format!("/api/v1/hosts/{hb}"),
            Some(&owner.token),
            Some(json!({"labels": {"bad key!": "x"}})),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = t
        .call(
            Method::PATCH,
            &format!("/api/v1/hosts/{hb}"),
            Some(&owner.token),
            Some(json!({"groups": "prod"})),
        )
        .await;
    assert_eq!(r.status, 400);
});

db_test!(removing_a_host_revokes_it, |t: TestApp| async move {
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let host = agent.join(&t, &owner.token, "node-1", &[]).await;
    let binding = t
        .user("hal", &[(Role::Viewer, Scope::Host(host.clone()))])
        .await;
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/hosts/{host}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    // The agent was told to leave and now refuses the server.
    assert!(agent.state.left.load(std::sync::atomic::Ordering::Relaxed));
    assert!(
        agent
            .state
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with("POST /v1/leave"))
    );
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}"), &owner.token)
            .await
            .status,
        404
    );
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}/containers"), &owner.token)
            .await
            .status,
        404
    );
    // The pinned certificate and the host's bindings are gone.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let me = t.get("/api/v1/auth/me", &binding.token).await.json();
    assert_eq!(me["roles"], json!([]));
    // Even an unreachable agent is removed (revoked on the server's side).
    let agent2 = FakeAgent::start().await;
    let host2 = agent2.join(&t, &owner.token, "node-2", &[]).await;
    let addr = agent2.addr;
    drop(agent2);
    common::wait_until(
        "the dropped agent's port to close",
        Duration::from_secs(10),
        || async { tokio::net::TcpStream::connect(addr).await.is_err() },
    )
    .await;
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/hosts/{host2}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_mark_hosts_offline_within_10s_and_online_again() {
    for backend in common::backends() {
        let t = TestApp::with_config(backend, |c| c.health_interval_ms = 3000).await;
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let checker = tokio::spawn(berth_server::agents::health::run(
            t.state.clone(),
            shutdown.clone(),
        ));
        async fn status(t: &TestApp, host: &str, token: &str) -> String {
            t.get(&format!("/api/v1/hosts/{host}"), token).await.json()["status"]
                .as_str()
                .unwrap()
                .to_string()
        }
        assert_eq!(status(&t, &host, &owner.token).await, "online");
        // The agent stops answering (its signature check refuses everything).
        agent
            .state
            .left
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let lost = Instant::now();
        while status(&t, &host, &owner.token).await == "online" {
            assert!(
                lost.elapsed() < Duration::from_secs(10),
                "still online after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("offline after {:?}", lost.elapsed());
        agent
            .state
            .left
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let back = Instant::now();
        while status(&t, &host, &owner.token).await == "offline" {
            assert!(
                back.elapsed() < Duration::from_secs(5),
                "not online 5 s after coming back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        shutdown.cancel();
        checker.await.unwrap();
    }
}

db_test!(
    agents_older_than_the_server_are_flagged,
    |t: TestApp| async move {
        let owner = t.owner().await;
        // The version the flag compares with is the one the health check reports.
        let health = t
            .call(Method::GET, "/api/v1/health", None, None)
            .await
            .json();
        assert_eq!(health["version"], berth_api::VERSION);
        let mut agents = Vec::new();
        for (name, version) in [
            ("old", "0.1.0"),
            ("current", berth_api::VERSION),
            ("packaged", &format!("{}-1", berth_api::VERSION)),
            ("newer", "999.0.0"),
            ("odd", "nightly"),
        ] {
            let a = FakeAgent::start().await;
            a.set_version(version);
            let id = a.join(&t, &owner.token, name, &[]).await;
            agents.push((a, id));
        }
        let flags = |list: &serde_json::Value| -> Vec<(String, String, bool)> {
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h["name"].as_str().unwrap().to_string(),
                        h["agent_version"].as_str().unwrap_or("").to_string(),
                        h["agent_outdated"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        let list = t.get("/api/v1/hosts", &owner.token).await.json();
        let packaged = format!("{}-1", berth_api::VERSION);
        assert_eq!(
            flags(&list),
            vec![
                ("current".into(), berth_api::VERSION.into(), false),
                ("newer".into(), "999.0.0".into(), false),
                ("odd".into(), "nightly".into(), false),
                ("old".into(), "0.1.0".into(), true),
                ("packaged".into(), packaged, false),
            ]
        );
        // The old agent is upgraded: its next health check clears the flag.
        let (old, old_id) = &agents[0];
        old.set_version(berth_api::VERSION);
        let url = format!("/api/v1/hosts/{old_id}");
        let h = t.get(&url, &owner.token).await.json();
        assert_eq!(h["agent_outdated"], true);
        let record = berth_server::db::hosts::get(&t.state.db, old_id)
            .await
            .unwrap()
            .unwrap();
        berth_server::agents::health::check(&t.state, &record, Duration::from_secs(5))
            .await
            .unwrap();
        let h = t.get(&url, &owner.token).await.json();
        assert_eq!(h["agent_version"], berth_api::VERSION);
        assert_eq!(h["agent_outdated"], false);
    }
);
