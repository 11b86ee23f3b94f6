//! First run, sessions, cookies and CSRF, revocation, rate limits, bad
//! tokens and API tokens.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_api::auth::{Role, Scope};
use berth_server::http::setup::{FirstRun, first_run};
use common::{PASSWORD, TestApp};
use serde_json::json;

async fn login(t: &TestApp, user: &str, password: &str) -> common::Resp {
    t.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": user, "password": password})),
    )
    .await
}

db_test!(
    setup_token_is_single_use_and_private,
    |t: TestApp| async move {
        let FirstRun::SetupToken(token) = first_run(&t.state).await.unwrap() else {
            panic!("expected a setup token");
        };
        let file = t.state.config.data_dir.join("setup-token");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
        // A restart keeps the same token.
        assert_eq!(
            first_run(&t.state).await.unwrap(),
            FirstRun::SetupToken(token.clone())
        );
        // No user yet: nothing works without the token.
        let r = t.call(Method::GET, "/api/v1/hosts", None, None).await;
        assert_eq!(r.status, 401);

        let body =
            |tok: &str, pw: &str| json!({"setup_token": tok, "username": "alice", "password": pw});
        let r = t
            .call(
                Method::POST,
                "/api/v1/setup",
                None,
                Some(body("wrong", PASSWORD)),
            )
            .await;
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("setup token"));
        let r = t
            .call(
                Method::POST,
                "/api/v1/setup",
                None,
                Some(body(&token, "short")),
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.detail().contains("12"));
        let r = t
            .call(
                Method::POST,
                "/api/v1/setup",
                None,
                Some(body(&token, PASSWORD)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["username"], "alice");
        assert!(!file.exists(), "the token file is removed once used");
        // Single use.
        let r = t
            .call(
                Method::POST,
                "/api/v1/setup",
                None,
                Some(body(&token, PASSWORD)),
            )
            .await;
        assert_eq!(r.status, 409);
        r.detail();
        assert_eq!(first_run(&t.state).await.unwrap(), FirstRun::Done);

        let r = login(&t, "alice", PASSWORD).await;
        assert_eq!(r.status, 200);
        let me = r.json()["user"].clone();
        assert_eq!(me["roles"], json!([{"role": "owner", "scope": "global"}]));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_password_creates_the_owner_admin() {
    for backend in common::backends() {
        let t = TestApp::with_config(backend.clone(), |c| {
            c.admin_password = Some("an admin password".into());
        })
        .await;
        assert_eq!(first_run(&t.state).await.unwrap(), FirstRun::AdminCreated);
        assert!(!t.state.config.data_dir.join("setup-token").exists());
        let r = login(&t, "admin", "an admin password").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["user"]["roles"][0]["role"], "owner");

        let t = TestApp::with_config(backend.clone(), |c| {
            c.admin_password = Some("too short".into());
        })
        .await;
        assert!(first_run(&t.state).await.is_err());

        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "from a file, 12+ chars\n").unwrap();
        let t = TestApp::with_config(backend, |c| {
            c.admin_password_file = Some(file.path().to_path_buf());
        })
        .await;
        assert_eq!(first_run(&t.state).await.unwrap(), FirstRun::AdminCreated);
        assert_eq!(
            login(&t, "admin", "from a file, 12+ chars").await.status,
            200
        );
    }
}

db_test!(login_me_logout_and_the_cookie, |t: TestApp| async move {
    let alice = t.user("alice", &[(Role::Viewer, Scope::Global)]).await;
    let r = login(&t, "alice", "wrong password!!").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.detail(), "wrong user name or password");
    let r = login(&t, "nobody", PASSWORD).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.detail(), "wrong user name or password");

    let r = login(&t, "alice", PASSWORD).await;
    assert_eq!(r.status, 200);
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("berth_session="));
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/")
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: not Secure");
    let body = r.json();
    let token = body["token"].as_str().unwrap().to_string();
    let exp = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    // Eight hours from now: between 7.9 h and 8.01 h, in seconds.
    let secs = exp.timestamp() - chrono::Utc::now().timestamp();
    assert!((28_440..=28_836).contains(&secs), "expires in {secs} s");
    assert_eq!(body["user"]["id"], alice.id.as_str());

    // Bearer and cookie both work.
    let r = t.get("/api/v1/auth/me", &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["username"], "alice");
    let cookie_pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |m: Method, path: &str, csrf: bool| {
        let mut b = Request::builder()
            .method(m)
            .uri(path)
            .header(header::COOKIE, &cookie_pair);
        if csrf {
            b = b.header("X-Berth-CSRF", "1");
        }
        b.header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"name\":\"t1\"}"))
            .unwrap()
    };
    let r = t
        .send(with_cookie(Method::GET, "/api/v1/auth/me", false))
        .await;
    assert_eq!(r.status, 200);
    // A cookie-authenticated mutation needs the CSRF header.
    let r = t
        .send(with_cookie(Method::POST, "/api/v1/tokens", false))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("X-Berth-CSRF") || r.detail().contains("x-berth-csrf"));
    let r = t
        .send(with_cookie(Method::POST, "/api/v1/tokens", true))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Logout ends the session everywhere and clears the cookie.
    let r = t
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(r.status, 204);
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = t.get("/api/v1/auth/me", &token).await;
    assert_eq!(r.status, 401);
    assert!(r.detail().contains("ended"));
});

db_test!(
    disable_and_password_change_end_sessions,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let bob = t.user("bob", &[(Role::Viewer, Scope::Global)]).await;
        let bob2 = t.session_for(&bob.id).await;
        let tok = t
            .post("/api/v1/tokens", &bob.token, json!({"name": "ci"}))
            .await
            .json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(t.get("/api/v1/hosts", &tok).await.status, 200);

        // Password change by the user: every session and API token ends.
        let r = t
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", bob.id),
                Some(&bob.token),
                Some(json!({"password": "a new long password", "current_password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(t.get("/api/v1/hosts", &bob.token).await.status, 401);
        assert_eq!(t.get("/api/v1/hosts", &bob2).await.status, 401);
        assert_eq!(t.get("/api/v1/hosts", &tok).await.status, 401);
        assert_eq!(login(&t, "bob", PASSWORD).await.status, 401);
        let fresh = login(&t, "bob", "a new long password").await.json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(t.get("/api/v1/hosts", &fresh).await.status, 200);
        // A user may not disable itself, nor change others.
        let r = t
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", bob.id),
                Some(&fresh),
                Some(json!({"disabled": true})),
            )
            .await;
        assert_eq!(r.status, 403);
        let r = t
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", owner.id),
                Some(&fresh),
                Some(json!({"password": "hijacked password"})),
            )
            .await;
        assert_eq!(r.status, 403);

        // Disabled by the owner: sessions and tokens stop, login is refused.
        let r = t
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", bob.id),
                Some(&owner.token),
                Some(json!({"disabled": true})),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["disabled"], true);
        assert_eq!(t.get("/api/v1/hosts", &fresh).await.status, 401);
        assert_eq!(t.get("/api/v1/hosts", &tok).await.status, 401);
        let r = login(&t, "bob", "a new long password").await;
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("disabled"));
        // The owner cannot lock itself out.
        let r = t
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", owner.id),
                Some(&owner.token),
                Some(json!({"disabled": true})),
            )
            .await;
        assert_eq!(r.status, 409);
        let r = t
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{}", owner.id),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 409);
    }
);

fn forge(header_json: &str, claims: &serde_json::Value, sig: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        sig
    )
}

db_test!(
    alg_none_wrong_alg_and_expired_tokens_are_401,
    |t: TestApp| async move {
        let alice = t.user("alice", &[(Role::Owner, Scope::Global)]).await;
        let parts: Vec<&str> = alice.token.split('.').collect();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        // alg none.
        let none = forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, "");
        assert_eq!(t.get("/api/v1/auth/me", &none).await.status, 401);
        // The right claims, re-signed with another algorithm and key (by
        // hand: Berth's JWT provider signs only HS256 and EdDSA).
        let other = {
            use hmac::Mac;
            let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#);
            let body = URL_SAFE_NO_PAD.encode(claims.to_string());
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"guessed").unwrap();
            mac.update(format!("{head}.{body}").as_bytes());
            let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            format!("{head}.{body}.{sig}")
        };
        assert_eq!(t.get("/api/v1/auth/me", &other).await.status, 401);
        // The header switched to HS512 over the real signature.
        let switched = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#),
            parts[1],
            parts[2]
        );
        assert_eq!(t.get("/api/v1/auth/me", &switched).await.status, 401);
        // Tampered claims.
        let mut c2 = claims.clone();
        c2["sub"] = json!("someone-else");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(c2.to_string()),
            parts[2]
        );
        assert_eq!(t.get("/api/v1/auth/me", &tampered).await.status, 401);
        // Expired (signed with the real key).
        let now = chrono::Utc::now().timestamp();
        let expired = t
            .state
            .sessions
            .issue(&berth_server::auth::session::SessionClaims {
                iss: berth_server::auth::session::SESSION_ISSUER.into(),
                sub: alice.id.clone(),
                sid: claims["sid"].as_str().unwrap().into(),
                iat: now - 7200,
                exp: now - 3600,
            })
            .unwrap();
        let r = t.get("/api/v1/auth/me", &expired).await;
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("expired"));
        // The genuine token still works.
        assert_eq!(t.get("/api/v1/auth/me", &alice.token).await.status, 200);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_rate_limited_per_user_and_per_address() {
    for backend in common::backends() {
        let t = TestApp::with_config(backend, |c| {
            c.login_failures_per_user = 3;
            c.login_rate_per_address = 6;
        })
        .await;
        t.user("carol", &[]).await;
        for _ in 0..3 {
            assert_eq!(login(&t, "carol", "wrong password!!").await.status, 401);
        }
        // The user is locked for a while, even with the right password.
        let r = login(&t, "carol", PASSWORD).await;
        assert_eq!(r.status, 429);
        let retry: u64 = r.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=301).contains(&retry), "{retry}");
        r.detail();
        // Another user from the same address: the address has 6 attempts a
        // minute, 3 of them used by carol (the refused one does not count).
        t.user("dave", &[]).await;
        for _ in 0..3 {
            assert_eq!(login(&t, "dave", PASSWORD).await.status, 200);
        }
        let r = login(&t, "dave", PASSWORD).await;
        assert_eq!(
            r.status, 429,
            "the 7th attempt from one address in a minute"
        );
        assert!(r.headers.contains_key(header::RETRY_AFTER));
        // Another address is not limited.
        let mut req = Request::post("/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"username": "dave", "password": PASSWORD}).to_string(),
            ))
            .unwrap();
        req.extensions_mut().insert(berth_server::server::ConnInfo {
            remote: "10.1.2.3:5555".parse().unwrap(),
            tls: false,
        });
        assert_eq!(t.send(req).await.status, 200);
    }
}

db_test!(
    api_tokens_are_shown_once_hashed_and_bounded_by_their_user,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let erin = t.user("erin", &[(Role::Admin, Scope::Global)]).await;
        let r = t
            .post("/api/v1/tokens", &erin.token, json!({"name": "ci"}))
            .await;
        assert_eq!(r.status, 201);
        let created = r.json();
        let secret = created["token"].as_str().unwrap().to_string();
        assert!(secret.starts_with("berth_"));
        // Listed without the secret; stored only as a hash.
        let list = t.get("/api/v1/tokens", &erin.token).await.json();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(!list.to_string().contains(&secret));
        let stored: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens")
            .fetch_all(&t.state.db.pool)
            .await
            .unwrap();
        assert_eq!(stored, vec![berth_server::auth::secret_hash(&secret)]);
        // The token acts as erin: admin things work, owner things don't.
        assert_eq!(t.get("/api/v1/users", &secret).await.status, 200);
        assert_eq!(
            t.post("/api/v1/teams", &secret, json!({"name": "x"}))
                .await
                .status,
            403
        );
        // Lowering erin lowers the token at once.
        let b: Vec<String> =
            sqlx::query_scalar("SELECT id FROM role_bindings WHERE subject_id = $1")
                .bind(&erin.id)
                .fetch_all(&t.state.db.pool)
                .await
                .unwrap();
        let r = t
            .call(
                Method::DELETE,
                &format!("/api/v1/role-bindings/{}", b[0]),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 204);
        assert_eq!(t.get("/api/v1/users", &secret).await.status, 403);
        // Others cannot see or revoke it.
        let r = t
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()),
                Some(&t.user("frank", &[]).await.token),
                None,
            )
            .await;
        assert_eq!(r.status, 404);
        // Revocation.
        let r = t
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()),
                Some(&erin.token),
                None,
            )
            .await;
        assert_eq!(r.status, 204);
        let r = t.get("/api/v1/auth/me", &secret).await;
        assert_eq!(r.status, 401);
        assert!(r.detail().contains("API token"));
        // Expiry: in the past is refused, in the future works until then.
        let r = t
            .post(
                "/api/v1/tokens",
                &erin.token,
                json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(r.status, 422);
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        let r = t
            .post(
                "/api/v1/tokens",
                &erin.token,
                json!({"name": "short", "expires_at": soon}),
            )
            .await;
        assert_eq!(r.status, 201);
        let short = r.json()["token"].as_str().unwrap().to_string();
        assert_eq!(t.get("/api/v1/auth/me", &short).await.status, 200);
        // What is waited for is wall-clock time itself (`soon`, 2 s after
        // it was computed), so a sleep past it is right here.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(t.get("/api/v1/auth/me", &short).await.status, 401);
    }
);
