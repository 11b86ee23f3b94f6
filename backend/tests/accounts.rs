//! Users, teams and role bindings: team grants, the admin's limits when
//! granting, the last owner, and the audit log (filters, scope, immutability).

mod common;

use axum::http::Method;
use berth_api::auth::{Role, Scope};
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::json;

db_test!(teams_give_their_members_roles, |t: TestApp| async move {
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let host = agent.join(&t, &owner.token, "web-1", &["web"]).await;
    let ann = t.user("ann", &[]).await;
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}"), &ann.token)
            .await
            .status,
        404
    );

    let team = t
        .post("/api/v1/teams", &owner.token, json!({"name": "web-team"}))
        .await;
    assert_eq!(team.status, 201);
    let team_id = team.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        t.post("/api/v1/teams", &owner.token, json!({"name": "web-team"}))
            .await
            .status,
        409
    );
    let r = t
        .call(
            Method::PUT,
            &format!("/api/v1/teams/{team_id}/members/{}", ann.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = t
        .call(
            Method::PUT,
            &format!("/api/v1/teams/{team_id}/members/nobody"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = t
        .post(
            "/api/v1/role-bindings",
            &owner.token,
            json!({"subject": {"team": team_id}, "role": "operator", "scope": {"group": "web"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        t.post(
            "/api/v1/role-bindings",
            &owner.token,
            json!({"subject": {"team": team_id}, "role": "operator", "scope": {"group": "web"}})
        )
        .await
        .status,
        409
    );

    let me = t.get("/api/v1/auth/me", &ann.token).await.json();
    assert_eq!(
        me["roles"],
        json!([{"role": "operator", "scope": {"group": "web"}}])
    );
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}"), &ann.token)
            .await
            .status,
        200
    );
    agent.add_container("app", "running");
    assert_eq!(
        t.call(
            Method::POST,
            &format!("/api/v1/hosts/{host}/containers/app/stop"),
            Some(&ann.token),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/hosts/{host}/containers"),
            &ann.token,
            json!({"image": "busybox"})
        )
        .await
        .status,
        403
    );
    let team_json = t
        .get(&format!("/api/v1/teams/{team_id}"), &owner.token)
        .await
        .json();
    assert_eq!(team_json["members"][0]["username"], "ann");

    // Leaving the team takes the role away at once.
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/teams/{team_id}/members/{}", ann.id),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}"), &ann.token)
            .await
            .status,
        404
    );
    // Deleting a team deletes its bindings.
    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/api/v1/teams/{team_id}"),
            Some(&owner.token),
            None
        )
        .await
        .status,
        204
    );
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM role_bindings WHERE subject_kind = 'team'")
            .fetch_one(&t.state.db.pool)
            .await
            .unwrap();
    assert_eq!(n, 0);
});

db_test!(
    admins_grant_up_to_admin_and_only_inside_their_scope,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let a = FakeAgent::start().await;
        let b = FakeAgent::start().await;
        let ha = a.join(&t, &owner.token, "a", &["prod"]).await;
        let hb = b.join(&t, &owner.token, "b", &["dev"]).await;
        let admin = t
            .user("pat", &[(Role::Admin, Scope::Group("prod".into()))])
            .await;
        let zed = t.user("zed", &[]).await;
        let grant = |role: &str, scope: serde_json::Value| json!({"subject": {"user": zed.id}, "role": role, "scope": scope});

        // Inside the group: up to admin.
        let r = t
            .post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("admin", json!({"group": "prod"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let r = t
            .post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("deployer", json!({"host": ha})),
            )
            .await;
        assert_eq!(r.status, 201);
        // Above admin: refused.
        let r = t
            .post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("owner", json!("global")),
            )
            .await;
        assert_eq!(r.status, 403);
        assert!(r.detail().contains("owner"));
        // Outside the scope: refused (an unseen host is not found).
        assert_eq!(
            t.post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("viewer", json!({"group": "dev"}))
            )
            .await
            .status,
            403
        );
        assert_eq!(
            t.post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("viewer", json!("global"))
            )
            .await
            .status,
            403
        );
        assert_eq!(
            t.post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("viewer", json!({"host": hb}))
            )
            .await
            .status,
            404
        );
        // Bad input.
        assert_eq!(
            t.post(
                "/api/v1/role-bindings",
                &admin.token,
                grant("root", json!("global"))
            )
            .await
            .status,
            400
        );
        assert_eq!(
            t.post(
                "/api/v1/role-bindings",
                &admin.token,
                json!({"subject": {"user": "ghost"}, "role": "viewer", "scope": {"group": "prod"}})
            )
            .await
            .status,
            422
        );
        assert_eq!(
            t.post(
                "/api/v1/role-bindings",
                &owner.token,
                grant("owner", json!({"group": "prod"}))
            )
            .await
            .status,
            422
        );
        // The admin lists only the bindings inside its scope.
        let list = t.get("/api/v1/role-bindings", &admin.token).await.json();
        for b in list["items"].as_array().unwrap() {
            assert_ne!(b["role"], "owner", "{b}");
            assert_ne!(b["scope"], json!("global"), "{b}");
        }
        assert!(list["items"].as_array().unwrap().len() >= 3);
        // It cannot remove the owner's binding (it does not even see it).
        let owner_binding: String =
            sqlx::query_scalar("SELECT id FROM role_bindings WHERE role = 'owner'")
                .fetch_one(&t.state.db.pool)
                .await
                .unwrap();
        assert_eq!(
            t.call(
                Method::DELETE,
                &format!("/api/v1/role-bindings/{owner_binding}"),
                Some(&admin.token),
                None
            )
            .await
            .status,
            404
        );
        // Nor can the owner remove the last owner binding.
        assert_eq!(
            t.call(
                Method::DELETE,
                &format!("/api/v1/role-bindings/{owner_binding}"),
                Some(&owner.token),
                None
            )
            .await
            .status,
            409
        );
        // Joining: only with a group in its scope.
        assert_eq!(
            t.post(
                "/api/v1/hosts/join-tokens",
                &admin.token,
                json!({"groups": ["dev"]})
            )
            .await
            .status,
            403
        );
        // Every group of the new host must be in its scope (issue 11, point 8).
        assert_eq!(
            t.post(
                "/api/v1/hosts/join-tokens",
                &admin.token,
                json!({"groups": ["prod", "extra"]})
            )
            .await
            .status,
            403
        );
        assert_eq!(
            t.post(
                "/api/v1/hosts/join-tokens",
                &admin.token,
                json!({"groups": ["prod"]})
            )
            .await
            .status,
            200
        );
    }
);

db_test!(users_are_managed_by_owners, |t: TestApp| async move {
    let owner = t.owner().await;
    let admin = t.user("adm", &[(Role::Admin, Scope::Global)]).await;
    let r = t
        .post(
            "/api/v1/users",
            &owner.token,
            json!({"username": "newbie", "password": "long enough pw"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(!r.text().contains("password"));
    assert_eq!(
        t.post(
            "/api/v1/users",
            &owner.token,
            json!({"username": "newbie", "password": "long enough pw"})
        )
        .await
        .status,
        409
    );
    assert_eq!(
        t.post(
            "/api/v1/users",
            &owner.token,
            json!({"username": "x y", "password": "long enough pw"})
        )
        .await
        .status,
        422
    );
    assert_eq!(
        t.post(
            "/api/v1/users",
            &owner.token,
            json!({"username": "shorty", "password": "short"})
        )
        .await
        .status,
        422
    );
    assert_eq!(
        t.post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "other", "password": "long enough pw"})
        )
        .await
        .status,
        403
    );
    let users = t.get("/api/v1/users", &admin.token).await.json();
    assert_eq!(users["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        t.get(&format!("/api/v1/users/{id}"), &admin.token)
            .await
            .json()["username"],
        "newbie"
    );
    let newbie_login = t
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "newbie", "password": "long enough pw"})),
        )
        .await;
    let nt = newbie_login.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        t.get(&format!("/api/v1/users/{id}"), &nt).await.status,
        200,
        "users read themselves"
    );
    assert_eq!(
        t.get(&format!("/api/v1/users/{}", owner.id), &nt)
            .await
            .status,
        403
    );
    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/api/v1/users/{id}"),
            Some(&owner.token),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(t.get("/api/v1/auth/me", &nt).await.status, 401);
    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/api/v1/users/{id}"),
            Some(&owner.token),
            None
        )
        .await
        .status,
        404
    );
});

db_test!(
    the_audit_log_records_filters_and_cannot_change,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let ha = agent.join(&t, &owner.token, "a", &["prod"]).await;
        let other = FakeAgent::start().await;
        let hb = other.join(&t, &owner.token, "b", &[]).await;
        let dep = t
            .user(
                "dep",
                &[
                    (Role::Deployer, Scope::Host(ha.clone())),
                    (Role::Admin, Scope::Host(hb.clone())),
                ],
            )
            .await;
        let ok = t
            .post(
                &format!("/api/v1/hosts/{ha}/containers"),
                &dep.token,
                json!({"name": "web", "image": "busybox"}),
            )
            .await;
        assert_eq!(ok.status, 201);
        let dup = t
            .post(
                &format!("/api/v1/hosts/{ha}/containers"),
                &dep.token,
                json!({"name": "web", "image": "busybox"}),
            )
            .await;
        assert_eq!(dup.status, 409);
        let denied = t
            .call(
                Method::DELETE,
                &format!("/api/v1/hosts/{ha}"),
                Some(&dep.token),
                None,
            )
            .await;
        assert_eq!(denied.status, 403);
        t.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "dep", "password": "not the password"})),
        )
        .await;
        t.post(
            &format!("/api/v1/hosts/{hb}/containers"),
            &dep.token,
            json!({"name": "x", "image": "busybox"}),
        )
        .await;

        let r = t
            .get(
                &format!("/api/v1/audit?actor=dep&action=container.create&host={ha}"),
                &owner.token,
            )
            .await;
        let items = r.json()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0]["outcome"], "failure");
        assert_eq!(items[0]["status"], 409);
        assert!(items[0]["detail"].as_str().unwrap().contains("exists"));
        assert_eq!(items[1]["outcome"], "success");
        assert_eq!(items[1]["target"], "web");
        assert_eq!(items[1]["source"], "127.0.0.1");
        assert_eq!(items[1]["host"], ha.as_str());
        let r = t
            .get("/api/v1/audit?action=host.*&outcome=failure", &owner.token)
            .await
            .json();
        assert_eq!(r["items"][0]["action"], "host.delete");
        assert_eq!(r["items"][0]["actor"], "dep");
        assert_eq!(r["items"][0]["status"], 403);
        let r = t
            .get(
                "/api/v1/audit?action=auth.login&outcome=failure",
                &owner.token,
            )
            .await
            .json();
        assert_eq!(r["items"][0]["actor"], "dep");
        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let r = t
            .get(
                &format!("/api/v1/audit?since={}", urlencode(&future)),
                &owner.token,
            )
            .await
            .json();
        assert_eq!(r["items"], json!([]));
        assert_eq!(
            t.get("/api/v1/audit?limit=1", &owner.token).await.json()["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Reads are not audited.
        assert_eq!(
            t.get("/api/v1/audit?action=auth.me", &owner.token)
                .await
                .json()["items"],
            json!([])
        );

        // An admin of host b sees b's rows only; a deployer sees nothing.
        let r = t.get("/api/v1/audit", &dep.token).await;
        assert_eq!(r.status, 200);
        for e in r.json()["items"].as_array().unwrap() {
            assert_eq!(e["host"], hb.as_str(), "{e}");
        }
        let viewer = t.user("v", &[(Role::Deployer, Scope::Global)]).await;
        assert_eq!(t.get("/api/v1/audit", &viewer.token).await.status, 403);

        // No endpoint changes a row, and the database refuses too.
        assert_eq!(
            t.call(Method::DELETE, "/api/v1/audit", Some(&owner.token), None)
                .await
                .status,
            405
        );
        assert!(
            sqlx::query("UPDATE audit_events SET actor = 'nobody'")
                .execute(&t.state.db.pool)
                .await
                .is_err()
        );
        assert!(
            sqlx::query("DELETE FROM audit_events")
                .execute(&t.state.db.pool)
                .await
                .is_err()
        );
    }
);

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
