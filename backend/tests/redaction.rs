//! Viewers and operators don't see secrets: env values of container specs
//! and command lines beyond argv[0] are withheld on every route that carries
//! them; deployers still see everything.

mod common;

use axum::http::Method;
use berth_api::auth::{Role, Scope};
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::{Value, json};

const SECRET: &str = "hunter2-s3cret";

/// A container whose spec and command carry the secret.
fn add_secret_container(agent: &FakeAgent, name: &str) {
    agent.add_container(name, "running");
    let mut map = agent.state.containers.lock().unwrap();
    let c = map.get_mut(name).unwrap();
    let cmd = json!(["/app/server", format!("--db-password={SECRET}")]);
    c["cmd"] = cmd.clone();
    c["spec"] = json!({"name": name, "image": "busybox", "cmd": cmd,
        "env": {"DB_PASSWORD": SECRET, "MODE": "prod"}});
}

/// The container view carries no secret, says so, and keeps its shape.
fn assert_redacted(c: &Value, what: &str) {
    assert!(!c.to_string().contains(SECRET), "{what}: {c}");
    assert_eq!(c["redacted"], true, "{what}: {c}");
    assert_eq!(c["cmd"], json!(["/app/server"]), "{what}");
    assert_eq!(c["spec"]["cmd"], json!(["/app/server"]), "{what}");
    assert_eq!(
        c["spec"]["env"],
        json!({"DB_PASSWORD": "", "MODE": ""}),
        "{what}"
    );
    // Still a valid Container for the dashboard.
    serde_json::from_value::<berth_api::containers::Container>(c.clone())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn assert_full(c: &Value, what: &str) {
    assert_eq!(c["spec"]["env"]["DB_PASSWORD"], SECRET, "{what}: {c}");
    assert_eq!(c["cmd"][1], format!("--db-password={SECRET}"), "{what}");
    assert!(c.get("redacted").is_none(), "{what}: {c}");
}

db_test!(
    secrets_are_withheld_below_deployer_on_every_route,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        let other = FakeAgent::start().await;
        let host2 = other.join(&t, &owner.token, "node-2", &[]).await;
        add_secret_container(&agent, "app");
        add_secret_container(&other, "app2");
        *agent.state.namespace_command.lock().unwrap() =
            Some(format!("/usr/bin/mysqld --password={SECRET} --port 3306"));

        let viewer = t
            .user("viewer", &[(Role::Viewer, Scope::Host(host.clone()))])
            .await;
        let operator = t
            .user("op", &[(Role::Operator, Scope::Host(host.clone()))])
            .await;
        // Deployer on node-2 only, viewer on node-1.
        let mixed = t
            .user(
                "mixed",
                &[
                    (Role::Viewer, Scope::Host(host.clone())),
                    (Role::Deployer, Scope::Host(host2.clone())),
                ],
            )
            .await;
        let deployer = t
            .user("dep", &[(Role::Deployer, Scope::Host(host.clone()))])
            .await;
        let base = format!("/api/v1/hosts/{host}");

        for u in [&viewer, &operator] {
            let who = &u.username;
            let r = t.get(&format!("{base}/containers/app"), &u.token).await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert_redacted(&r.json(), &format!("{who} inspect"));
            let r = t.get(&format!("{base}/containers"), &u.token).await;
            assert_redacted(&r.json()["items"][0], &format!("{who} host list"));
            let r = t.get("/api/v1/containers", &u.token).await;
            assert_redacted(&r.json()["items"][0], &format!("{who} fleet list"));
            let r = t.get(&format!("{base}/namespaces"), &u.token).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["items"][0]["command"], "/usr/bin/mysqld", "{who}");
            assert!(!r.text().contains(SECRET));
        }
        // An operator's action answers with the container: redacted too.
        let r = t
            .call(
                Method::POST,
                &format!("{base}/containers/app/restart"),
                Some(&operator.token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_redacted(&r.json(), "operator restart");
        // Errors still relay.
        let r = t
            .get(&format!("{base}/containers/nope"), &viewer.token)
            .await;
        assert_eq!(r.status, 404);

        // The fleet list redacts per host.
        let r = t.get("/api/v1/containers", &mixed.token).await;
        let items = r.json()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        for c in &items {
            if c["host"] == host.as_str() {
                assert_redacted(c, "mixed, node-1");
            } else {
                assert_full(c, "mixed, node-2");
            }
        }

        // Deployers (and up) see everything.
        for u in [&deployer, &owner] {
            let r = t.get(&format!("{base}/containers/app"), &u.token).await;
            assert_full(&r.json(), "deployer inspect");
            let r = t.get(&format!("{base}/containers"), &u.token).await;
            assert_full(&r.json()["items"][0], "deployer host list");
            let r = t
                .get(&format!("/api/v1/containers?host={host}"), &u.token)
                .await;
            assert_full(&r.json()["items"][0], "deployer fleet list");
            let r = t.get(&format!("{base}/namespaces"), &u.token).await;
            assert_eq!(
                r.json()["items"][0]["command"],
                format!("/usr/bin/mysqld --password={SECRET} --port 3306")
            );
        }
    }
);
