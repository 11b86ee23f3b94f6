//! The server against REAL `berth-agent` processes (not the fake agent):
//! several agents on loopback, each joined through a real join token, each
//! with its own data dir, port, cgroup parent and network namespace.
//! Every agent is resumed, killed and cleaned up by its guard, even when an
//! assertion fails.

mod common;

use std::time::{Duration, Instant};

use common::real_agent::{RealAgent, Served, agent_bin};
use reqwest::Method;

/// 1. The fan-out deadline with a hanging (SIGSTOPped, not dead) agent: the
/// list answers within the deadline plus a margin, the live host answers,
/// and the frozen one is a 504 entry in `errors`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_answers_within_the_deadline_when_a_real_agent_hangs() {
    let Some(bin) = agent_bin() else { return };
    let s = Served::start(|c| c.fanout_deadline_ms = 1500).await;
    s.run_health_checks();
    let owner = s.t.owner().await;
    let live = s.join_agent(&owner, &bin, "live").await;
    let mut hung = s.join_agent(&owner, &bin, "hung").await;
    // Online hosts get the whole deadline (offline ones a shorter one).
    for id in [&live.host_id, &hung.host_id] {
        s.wait_status(&owner.token, id, "online", Duration::from_secs(10))
            .await;
    }

    // Both answer while running.
    let r = s.t.get("/api/v1/containers", &owner.token).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(r.json()["errors"], serde_json::json!([]), "{}", r.text());

    hung.sigstop();
    let start = Instant::now();
    let r = s.t.get("/api/v1/containers", &owner.token).await;
    let took = start.elapsed();
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert!(
        took < Duration::from_millis(1500 + 1500),
        "the list took {took:?} with a deadline of 1.5 s"
    );
    assert!(
        took >= Duration::from_millis(1400),
        "answered in {took:?}: the online, stopped agent was not given its deadline"
    );
    let v = r.json();
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(
        errors[0]["host"].as_str(),
        Some(hung.host_id.as_str()),
        "{v}"
    );
    assert_eq!(errors[0]["status"], 504, "{v}");
    assert!(
        !errors
            .iter()
            .any(|e| e["host"].as_str() == Some(live.host_id.as_str())),
        "{v}"
    );

    // Resumed, it answers again.
    hung.sigcont();
    let r = s.t.get("/api/v1/containers", &owner.token).await;
    assert_eq!(r.json()["errors"], serde_json::json!([]), "{}", r.text());
}

/// 5. Health: a frozen agent goes `offline` within a bounded time and comes
/// back `online` once resumed, while another agent stays online throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_real_agent_goes_offline_and_back_online() {
    let Some(bin) = agent_bin() else { return };
    let s = Served::start(|c| c.health_interval_ms = 500).await;
    s.run_health_checks();
    let owner = s.t.owner().await;
    let steady = s.join_agent(&owner, &bin, "steady").await;
    let mut a = s.join_agent(&owner, &bin, "flaky").await;
    s.wait_status(&owner.token, &a.host_id, "online", Duration::from_secs(10))
        .await;

    a.sigstop();
    // Offline after 9 s without a good answer, checked every 0.5 s.
    let took = s
        .wait_status(&owner.token, &a.host_id, "offline", Duration::from_secs(15))
        .await;
    eprintln!("offline after {took:?}");
    assert_eq!(s.host_status(&owner.token, &steady.host_id).await, "online");

    a.sigcont();
    let took = s
        .wait_status(&owner.token, &a.host_id, "online", Duration::from_secs(5))
        .await;
    eprintln!("online again after {took:?}");
}

/// 6. Removing a host sends its agent away: `join.json` is gone and the
/// agent refuses the server's signed requests with 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_host_makes_the_real_agent_forget_its_join() {
    let Some(bin) = agent_bin() else { return };
    let s = Served::start(|_| {}).await;
    let owner = s.t.owner().await;
    let a = s.join_agent(&owner, &bin, "leaver").await;
    let record = berth_server::db::hosts::get(&s.t.state.db, &a.host_id)
        .await
        .unwrap()
        .expect("host record");

    // Signed requests work before.
    let c = s.t.state.agents.client(&record).unwrap();
    let rb = c
        .request(Method::GET, c.url(&["v1", "info"], &[]), "berth-server")
        .unwrap();
    let before = rb.send().await.expect("agent reachable");
    assert_eq!(before.status().as_u16(), 200);

    let r =
        s.t.call(
            axum::http::Method::DELETE,
            &format!("/api/v1/hosts/{}", a.host_id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text());

    let join = a.data_dir.join("join.json");
    let start = Instant::now();
    while join.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "join.json still there:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rb = c
        .request(Method::GET, c.url(&["v1", "info"], &[]), "berth-server")
        .unwrap();
    let after = rb.send().await.expect("agent still serving");
    assert_eq!(after.status().as_u16(), 401, "{:?}", after.text().await);
}

/// 4. An impostor at a joined host's address (another real agent with its
/// own TLS identity, started on the same port after the first one stopped)
/// is refused with a 502 naming the certificate pin mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_agent_at_a_joined_address_is_refused() {
    let Some(bin) = agent_bin() else { return };
    let s = Served::start(|c| c.fanout_deadline_ms = 3000).await;
    let owner = s.t.owner().await;
    let mut a = s.join_agent(&owner, &bin, "genuine").await;
    let port = a.port;
    let r =
        s.t.get(
            &format!("/api/v1/hosts/{}/containers", a.host_id),
            &owner.token,
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());

    a.kill();
    // A fresh agent (new data dir, new key and certificate), never joined,
    // on the genuine one's port.
    let imp = RealAgent::start(&bin, "impostor", Some(port), None);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "impostor not listening:\n{}",
            imp.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r =
        s.t.get(
            &format!("/api/v1/hosts/{}/containers", a.host_id),
            &owner.token,
        )
        .await;
    assert_eq!(r.status.as_u16(), 502, "{}", r.text());
    let detail = r.detail().to_lowercase();
    eprintln!("impostor refused: {detail}");
    // The refusal happens in the TLS handshake (the pin check), so no HTTP
    // request, signed or not, reaches the impostor.
    assert!(
        detail.contains("fingerprint") || detail.contains("pin"),
        "the 502 does not name the pin mismatch: {detail}"
    );
}

/// 7 (part). "Not really a tar" through the server's import endpoint: the
/// REAL agent refuses it with a 4xx that the server relays as a problem
/// (the RBAC matrix's fake agent answers 201 to the same body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_refuses_an_import_that_is_not_a_tar() {
    let Some(bin) = agent_bin() else { return };
    let s = Served::start(|_| {}).await;
    let owner = s.t.owner().await;
    let a = s.join_agent(&owner, &bin, "importer").await;
    let body = "this is not a tar archive, just some text\n".repeat(40);
    let req = axum::http::Request::builder()
        .method(axum::http::Method::POST)
        .uri(format!("/api/v1/hosts/{}/images/import", a.host_id))
        .header("authorization", format!("Bearer {}", owner.token))
        .header("content-type", "application/x-tar")
        .body(axum::body::Body::from(body))
        .unwrap();
    let r = s.t.send(req).await;
    assert!(
        r.status.is_client_error(),
        "expected a 4xx, got {}: {}",
        r.status,
        r.text()
    );
    let detail = r.detail();
    eprintln!("{}: {detail}", r.status);
    assert_eq!(r.status.as_u16(), 400, "{detail}");
    assert!(detail.contains("not a tar archive"), "{detail}");
    // Nothing was imported.
    let r =
        s.t.get(&format!("/api/v1/hosts/{}/images", a.host_id), &owner.token)
            .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(r.json()["items"], serde_json::json!([]), "{}", r.text());
}
