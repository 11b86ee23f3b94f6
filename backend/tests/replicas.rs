//! Two `berth-server` processes on one PostgreSQL database serve the same
//! users, sessions and hosts: log in on one, use the token on the other;
//! an agent joined through one is reachable through the other (the request
//! signing key and the session secret are shared as files through
//! `BERTH_SECRETS_DIR`). Needs
//! `BERTH_TEST_POSTGRES_URL`; without it the test says so and returns.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use berth_api::agent::{RegisterRequest, RegisterResponse};
use common::fake_agent::FakeAgent;
use common::replica::start;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_users_sessions_and_hosts() {
    let Ok(admin_url) = std::env::var("BERTH_TEST_POSTGRES_URL") else {
        berth_testkit::skip("BERTH_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)");
        return;
    };
    berth_server::tls::install_default_provider();
    let (db_url, _guard) = common::fresh_pg_database(&admin_url).await;
    // Start both at once: migrations and first-run race on the same database.
    let secrets = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(
        start(&db_url, secrets.path()),
        start(&db_url, secrets.path())
    );
    let http = reqwest::Client::new();

    let login: Value = http
        .post(format!("{}/api/v1/auth/login", a.url))
        .json(&json!({"username": "admin", "password": "replicated password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a session").to_string();
    let me: Value = http
        .get(format!("{}/api/v1/auth/me", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin", "the session made on A works on B");
    let users: Value = http
        .get(format!("{}/api/v1/users", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "one owner, not one per replica"
    );

    let r = http
        .post(format!("{}/api/v1/teams", b.url))
        .bearer_auth(&token)
        .json(&json!({"name": "ops"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let teams: Value = http
        .get(format!("{}/api/v1/teams", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(teams["items"][0]["name"], "ops");

    // Join an agent through A (over pinned TLS), reach it through B.
    let jt: Value = http
        .post(format!("{}/api/v1/hosts/join-tokens", a.url))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payload = berth_server::agents::join::decode_token(jt["token"].as_str().unwrap()).unwrap();
    let agent = FakeAgent::start().await;
    let pinned =
        berth_server::tls::pinned_client_config(&payload.fingerprint, &[b"http/1.1"]).unwrap();
    let tls = reqwest::Client::builder()
        .tls_backend_preconfigured(pinned)
        .build()
        .unwrap();
    let reg: RegisterResponse = tls
        .post(format!(
            "{}/api/v1/hosts/register",
            a.url.replace("http://", "https://")
        ))
        .json(&RegisterRequest {
            secret: payload.secret,
            name: "shared".into(),
            address: agent.address(),
            facts: common::fake_agent::facts(),
            runtimes: vec!["berth".into()],
            certificate_pem: agent.cert_pem.clone(),
            agent_version: "x".into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    *agent.state.host_id.lock().unwrap() = reg.host_id.clone();
    let key = {
        use ed25519_dalek::pkcs8::DecodePublicKey;
        ed25519_dalek::VerifyingKey::from_public_key_pem(&reg.server_public_key_pem)
            .unwrap()
            .to_bytes()
            .to_vec()
    };
    *agent.state.server_key.lock().unwrap() = Some(key);
    agent.add_container("web", "running");
    let r: Value = http
        .get(format!("{}/api/v1/hosts/{}/containers", b.url, reg.host_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["items"][0]["name"], "web",
        "B signs with the key A gave the agent: {r}"
    );
    assert_eq!(agent.state.refused.load(Ordering::Relaxed), 0);
    // Both replicas' health checks see it online.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h: Value = http
            .get(format!("{}/api/v1/hosts/{}", b.url, reg.host_id))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["status"] == "online" {
            break;
        }
        assert!(Instant::now() < deadline, "host not online: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Logout on B ends the session on A.
    let r = http
        .post(format!("{}/api/v1/auth/logout", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .get(format!("{}/api/v1/auth/me", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    drop((a, b));
}
