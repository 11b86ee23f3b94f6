//! The audit trail records what a route declares: the container action
//! route records `container.<action>` for a real action only, and a host
//! route records the id of the host its caller was authorized on.

mod common;

use axum::http::Method;
use common::TestApp;
use common::fake_agent::FakeAgent;

async fn actions(t: &TestApp) -> Vec<(String, Option<String>, u16)> {
    sqlx::query_as::<_, (String, Option<String>, i64)>(
        "SELECT action, host, status FROM audit_events ORDER BY time",
    )
    .fetch_all(&t.state.db.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(a, h, s)| (a, h, u16::try_from(s).unwrap()))
    .collect()
}

db_test!(
    an_unknown_container_action_is_refused_and_not_audited,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let id = agent.join(&t, &owner.token, "box", &[]).await;
        agent.add_container("c1", "running");
        let r = t
            .call(
                Method::POST,
                "/api/v1/hosts/box/containers/c1/bogus",
                Some(&owner.token),
                None,
            )
            .await;
        assert!(r.status.is_client_error(), "{} {}", r.status, r.text());
        let r = t
            .call(
                Method::POST,
                "/api/v1/hosts/box/containers/c1/stop",
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let all = actions(&t).await;
        assert!(all.iter().all(|(a, _, _)| !a.contains("bogus")), "{all:?}");
        let stops: Vec<_> = all
            .iter()
            .filter(|(a, _, _)| a.starts_with("container."))
            .collect();
        assert_eq!(
            stops,
            [&("container.stop".to_string(), Some(id), 200)],
            "{all:?}"
        );
    }
);

db_test!(
    a_refused_host_call_is_audited_with_the_callers_name,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let id = agent.join(&t, &owner.token, "box", &["g"]).await;
        agent.add_container("c1", "running");
        let viewer = t
            .user(
                "viewer",
                &[(
                    berth_api::auth::Role::Viewer,
                    berth_api::auth::Scope::Global,
                )],
            )
            .await;
        let r = t
            .call(
                Method::POST,
                &format!("/api/v1/hosts/{id}/containers/c1/kill"),
                Some(&viewer.token),
                None,
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text());
        let (actor, action, host, status): (String, String, Option<String>, i64) = sqlx::query_as(
            "SELECT actor, action, host, status FROM audit_events WHERE action LIKE 'container.%'",
        )
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
        assert_eq!(
            (actor.as_str(), action.as_str(), host, status),
            ("viewer", "container.kill", Some(id), 403)
        );
    }
);
