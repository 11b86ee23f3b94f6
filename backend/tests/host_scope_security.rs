//! A group-scoped admin cannot move hosts into or out of groups it does not
//! administer, and naming a host instead of using its id cannot dodge the
//! audit log's host filter.

mod common;

use axum::http::Method;
use berth_api::auth::{Role, Scope};
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::json;

db_test!(
    a_group_admin_cannot_join_hosts_into_foreign_groups,
    |t: TestApp| async move {
        let _owner = t.owner().await;
        let web = t
            .user("webadm", &[(Role::Admin, Scope::Group("web".into()))])
            .await;
        // Attack: a join token whose host lands in someone else's group.
        for groups in [json!(["web", "db"]), json!(["db"]), json!([])] {
            let r = t
                .post(
                    "/api/v1/hosts/join-tokens",
                    &web.token,
                    json!({"groups": groups}),
                )
                .await;
            assert_eq!(r.status, 403, "{groups}: {}", r.text());
            r.detail();
        }
        let r = t
            .post(
                "/api/v1/hosts/join-tokens",
                &web.token,
                json!({"groups": ["web", "db"]}),
            )
            .await;
        assert!(r.detail().contains("\"db\""), "{}", r.text());
        // Its own group works.
        let r = t
            .post(
                "/api/v1/hosts/join-tokens",
                &web.token,
                json!({"groups": ["web"]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
);

db_test!(
    a_group_admin_cannot_move_hosts_between_foreign_groups,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let web = t
            .user("webadm", &[(Role::Admin, Scope::Group("web".into()))])
            .await;
        let agent = FakeAgent::start().await;
        // A host shared by web and db (joined by the owner).
        let shared = agent
            .join(&t, &owner.token, "shared-1", &["web", "db"])
            .await;
        let agent2 = FakeAgent::start().await;
        let mine = agent2.join(&t, &owner.token, "web-1", &["web"]).await;
        let patch = |host: String, body: serde_json::Value| {
            let t = &t;
            let tok = web.token.clone();
            async move {
                t.call(
                    Method::PATCH,
                    &format!("/api/v1/hosts/{host}"),
                    Some(&tok),
                    Some(body),
                )
                .await
            }
        };
        // Attack 1: push its host into the db group.
        let r = patch(mine.clone(), json!({"groups": ["web", "db"]})).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.detail().contains("\"db\""));
        // Attack 2: take the shared host out of the db group (stealing it).
        let r = patch(shared.clone(), json!({"groups": ["web"]})).await;
        assert_eq!(r.status, 403, "{}", r.text());
        // Attack 3: swap web for another group it does not run.
        let r = patch(mine.clone(), json!({"groups": ["ops"]})).await;
        assert_eq!(r.status, 403);
        let h = t
            .get(&format!("/api/v1/hosts/{shared}"), &owner.token)
            .await
            .json();
        assert_eq!(h["groups"], json!(["db", "web"]));
        let h = t
            .get(&format!("/api/v1/hosts/{mine}"), &owner.token)
            .await
            .json();
        assert_eq!(h["groups"], json!(["web"]));
        // Legitimate: relabel and rename the shared host without touching
        // its groups, and give an unchanged group list.
        let r = patch(
            shared.clone(),
            json!({"groups": ["db", "web"], "labels": {"a": "b"}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        // The owner moves hosts anywhere.
        let r = t
            .call(
                Method::PATCH,
                &format!("/api/v1/hosts/{mine}"),
                Some(&owner.token),
                Some(json!({"groups": ["web", "db"]})),
            )
            .await;
        assert_eq!(r.status, 200);
    }
);

db_test!(
    the_audit_log_records_the_host_id_when_a_host_is_named,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let id = agent.join(&t, &owner.token, "named-host", &["web"]).await;
        // Act on the host by its name.
        let r = t
            .call(
                Method::PATCH,
                "/api/v1/hosts/named-host",
                Some(&owner.token),
                Some(json!({"labels": {"x": "y"}})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = t
            .get(
                &format!("/api/v1/audit?action=host.update&host={id}"),
                &owner.token,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let items = r.json()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0]["host"], id.as_str());
        assert!(!items[0].to_string().contains("named-host"), "{items:?}");
        // A name that matches no host is kept as given (nothing to resolve).
        let r = t
            .call(
                Method::PATCH,
                "/api/v1/hosts/no-such-host",
                Some(&owner.token),
                Some(json!({"labels": {}})),
            )
            .await;
        assert_eq!(r.status, 404);
    }
);
