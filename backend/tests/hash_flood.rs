//! A flood of concurrent logins never runs more than `HASH_PERMITS` argon2
//! computations at once, and callers beyond the queue get 429 problem+json
//! instead of piling up. (Its own test binary: the gate is process-wide.)

mod common;

use axum::body::Body;
use axum::http::Request;
use berth_server::auth::password::{self, HASH_PERMITS, HASH_QUEUE};
use berth_server::server::ConnInfo;
use common::{PASSWORD, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_bounded_by_the_hashing_gate() {
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.login_rate_per_address = 10_000;
        c.login_failures_per_user = 10_000;
    })
    .await;
    t.owner().await;
    let n = HASH_PERMITS + HASH_QUEUE + 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = t.app.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let mut req = Request::post("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"username": "owner", "password": if i % 2 == 0 { PASSWORD } else { "wrong password!!" }})
                        .to_string(),
                ))
                .unwrap();
            req.extensions_mut().insert(ConnInfo {
                remote: format!("10.0.{}.{}:1", i / 250, i % 250 + 1).parse().unwrap(),
                tls: false,
            });
            let r = app.oneshot(req).await.unwrap();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), ct, r.headers().contains_key("retry-after"))
        }));
    }
    let mut busy = 0;
    let mut answered = 0;
    for task in tasks {
        let (status, ct, retry) = task.await.unwrap();
        match status {
            200 | 401 => answered += 1,
            429 => {
                busy += 1;
                assert_eq!(ct.as_deref(), Some("application/problem+json"));
                assert!(retry);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let stats = password::hashing_stats();
    eprintln!("answered {answered}, busy {busy}, stats {stats:?}");
    assert!(stats.peak <= HASH_PERMITS, "{stats:?}");
    assert!(stats.peak >= 1);
    assert_eq!(stats.running, 0);
    assert!(
        busy > 0,
        "more than permits + queue callers: some must be turned away"
    );
    assert_eq!(stats.refused, busy);
    assert!(answered >= HASH_PERMITS + HASH_QUEUE / 2, "{answered}");
    // After the flood, logins work again.
    let r = t
        .call(
            axum::http::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "owner", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
}
