//! Attacks on accounts with a leaked API token or by guessing passwords,
//! and that each is refused while the legitimate path still works.

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use berth_api::auth::{Role, Scope};
use berth_server::server::ConnInfo;
use common::{PASSWORD, TestApp};
use serde_json::json;

async fn new_token(t: &TestApp, session: &str, name: &str) -> String {
    let r = t
        .post("/api/v1/tokens", session, json!({"name": name}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["token"].as_str().unwrap().to_string()
}

async fn patch_user(t: &TestApp, cred: &str, id: &str, body: serde_json::Value) -> common::Resp {
    t.call(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(cred),
        Some(body),
    )
    .await
}

/// A login from a given peer address, optionally with X-Forwarded-For.
async fn login_from(
    t: &TestApp,
    peer: &str,
    xff: Option<&str>,
    user: &str,
    password: &str,
) -> common::Resp {
    let mut b = Request::post("/api/v1/auth/login").header("content-type", "application/json");
    if let Some(x) = xff {
        b = b.header("x-forwarded-for", x);
    }
    let mut req = b
        .body(Body::from(
            json!({"username": user, "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut().insert(ConnInfo {
        remote: peer.parse().unwrap(),
        tls: false,
    });
    t.send(req).await
}

db_test!(
    a_leaked_token_cannot_change_the_password,
    |t: TestApp| async move {
        let _owner = t.owner().await;
        let bob = t.user("bob", &[(Role::Admin, Scope::Global)]).await;
        let tok = new_token(&t, &bob.token, "ci").await;

        // Attack: the token holder sets a password of its choosing.
        let r = patch_user(
            &t,
            &tok,
            &bob.id,
            json!({"password": "attacker password", "current_password": PASSWORD}),
        )
        .await;
        assert_eq!(r.status, 403);
        assert!(r.detail().contains("session"), "{}", r.text());
        // A session without the current password, or with a wrong one.
        let r = patch_user(
            &t,
            &bob.token,
            &bob.id,
            json!({"password": "attacker password"}),
        )
        .await;
        assert_eq!(r.status, 403);
        assert!(r.detail().contains("current_password"));
        let r = patch_user(
            &t,
            &bob.token,
            &bob.id,
            json!({"password": "attacker password", "current_password": "not the password"}),
        )
        .await;
        assert_eq!(r.status, 403);
        assert!(r.detail().contains("current_password"));
        // Nothing changed: the old password still logs in, the token works.
        assert_eq!(
            login_from(&t, "127.0.0.1:1", None, "bob", PASSWORD)
                .await
                .status,
            200
        );
        assert_eq!(t.get("/api/v1/auth/me", &tok).await.status, 200);

        // The legitimate change works, and revokes the token and sessions.
        let r = patch_user(
            &t,
            &bob.token,
            &bob.id,
            json!({"password": "a new long password", "current_password": PASSWORD}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = t.get("/api/v1/auth/me", &tok).await;
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("API token"));
        assert_eq!(t.get("/api/v1/auth/me", &bob.token).await.status, 401);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1")
            .bind(&bob.id)
            .fetch_one(&t.state.db.pool)
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
);

db_test!(
    an_owner_resetting_a_password_revokes_the_users_tokens,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let carl = t.user("carl", &[(Role::Viewer, Scope::Global)]).await;
        let tok = new_token(&t, &carl.token, "ci").await;
        // An admin resetting someone else's password needs no current one.
        let r = patch_user(
            &t,
            &owner.token,
            &carl.id,
            json!({"password": "reset by the owner"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(t.get("/api/v1/auth/me", &tok).await.status, 401);
        assert_eq!(t.get("/api/v1/auth/me", &carl.token).await.status, 401);
    }
);

db_test!(
    disabling_a_user_revokes_its_tokens_for_good,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let dan = t.user("dan", &[(Role::Viewer, Scope::Global)]).await;
        let tok = new_token(&t, &dan.token, "ci").await;
        let r = patch_user(&t, &owner.token, &dan.id, json!({"disabled": true})).await;
        assert_eq!(r.status, 200);
        assert_eq!(t.get("/api/v1/auth/me", &tok).await.status, 401);
        // Re-enabling does not bring the leaked token back.
        let r = patch_user(&t, &owner.token, &dan.id, json!({"disabled": false})).await;
        assert_eq!(r.status, 200);
        assert_eq!(t.get("/api/v1/auth/me", &tok).await.status, 401);
        assert_eq!(
            login_from(&t, "127.0.0.1:1", None, "dan", PASSWORD)
                .await
                .status,
            200
        );
    }
);

db_test!(tokens_cannot_mint_tokens, |t: TestApp| async move {
    let _owner = t.owner().await;
    let eve = t.user("eve", &[(Role::Admin, Scope::Global)]).await;
    let tok = new_token(&t, &eve.token, "ci").await;
    // Attack: a leaked token makes a fresh token that survives its revocation.
    let r = t
        .post("/api/v1/tokens", &tok, json!({"name": "persist"}))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("API tokens cannot make API tokens"));
    let list = t.get("/api/v1/tokens", &eve.token).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Sessions still make tokens.
    new_token(&t, &eve.token, "second").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_password_locks_out_only_the_guesser() {
    for backend in common::backends() {
        let t = TestApp::new(backend).await;
        t.owner().await;
        // Attacker at A fails 5 times and is then refused even with the
        // right password (for its address).
        for _ in 0..5 {
            let r = login_from(&t, "203.0.113.9:5000", None, "owner", "wrong password!!").await;
            assert_eq!(r.status, 401);
        }
        let r = login_from(&t, "203.0.113.9:5001", None, "owner", PASSWORD).await;
        assert_eq!(r.status, 429);
        r.detail();
        // The owner at B still logs in.
        let r = login_from(&t, "198.51.100.7:6000", None, "owner", PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_are_limited_by_64() {
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.login_rate_per_address = 100;
    })
    .await;
    t.owner().await;
    // Failures spread over many addresses of one /64 count together.
    for i in 1..=5 {
        let peer = format!("[2001:db8:aa:bb::{i:x}]:4000");
        let r = login_from(&t, &peer, None, "owner", "wrong password!!").await;
        assert_eq!(r.status, 401);
    }
    let r = login_from(&t, "[2001:db8:aa:bb:ffff::1]:4000", None, "owner", PASSWORD).await;
    assert_eq!(r.status, 429, "another address of the same /64");
    // Another /64 is not affected.
    let r = login_from(&t, "[2001:db8:aa:bc::1]:4000", None, "owner", PASSWORD).await;
    assert_eq!(r.status, 200);

    // The per-address limit also groups by /64.
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.login_rate_per_address = 3;
    })
    .await;
    t.owner().await;
    for i in 1..=3 {
        let peer = format!("[2001:db8:cc:dd::{i:x}]:4000");
        assert_eq!(
            login_from(&t, &peer, None, "owner", PASSWORD).await.status,
            200
        );
    }
    let r = login_from(&t, "[2001:db8:cc:dd::99]:4000", None, "owner", PASSWORD).await;
    assert_eq!(r.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_unless_from_a_trusted_proxy() {
    // No trusted proxies: an attacker rotating X-Forwarded-For is still one
    // address.
    let t = TestApp::new(common::Backend::Sqlite).await;
    t.owner().await;
    for i in 0..5 {
        let xff = format!("192.0.2.{i}");
        let r = login_from(&t, "203.0.113.9:1", Some(&xff), "owner", "wrong password!!").await;
        assert_eq!(r.status, 401);
    }
    let r = login_from(&t, "203.0.113.9:1", Some("192.0.2.200"), "owner", PASSWORD).await;
    assert_eq!(r.status, 429, "X-Forwarded-For must not reset the count");
    // Nor can it frame another address: a client at B is fine.
    let r = login_from(&t, "198.51.100.7:1", Some("203.0.113.9"), "owner", PASSWORD).await;
    assert_eq!(r.status, 200);

    // Behind a trusted proxy, the forwarded client address counts.
    let t = TestApp::with_config(common::Backend::Sqlite, |c| {
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    t.owner().await;
    for _ in 0..5 {
        // The attacker prepends a fake hop; the proxy appends the real one.
        let r = login_from(
            &t,
            "10.0.0.1:1",
            Some("198.51.100.7, 203.0.113.9"),
            "owner",
            "wrong password!!",
        )
        .await;
        assert_eq!(r.status, 401);
    }
    let r = login_from(&t, "10.0.0.1:1", Some("203.0.113.9"), "owner", PASSWORD).await;
    assert_eq!(r.status, 429, "the attacker's real address is locked");
    // The owner behind the same proxy, and the address the attacker tried
    // to frame, still log in.
    let r = login_from(&t, "10.0.0.1:1", Some("198.51.100.7"), "owner", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text());
}
