//! What a container spec may reach: the host's network is admin-only
//! (directly, or by joining a container on it), on both runtimes.

mod common;

use berth_api::auth::{Role, Scope};
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::{Value, json};

/// Adds a container with this network (and runtime) to the fake agent.
fn add_with_network(agent: &FakeAgent, name: &str, network: &str, runtime: &str) {
    agent.add_container(name, "running");
    let mut map = agent.state.containers.lock().unwrap();
    let c = map.get_mut(name).unwrap();
    c["network"] = json!(network);
    c["runtime"] = json!(runtime);
}

fn creates_seen(agent: &FakeAgent) -> usize {
    agent
        .state
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("POST /v1/containers"))
        .count()
}

db_test!(
    host_network_is_admin_only_on_both_runtimes,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        let deployer = t
            .user("dep", &[(Role::Deployer, Scope::Host(host.clone()))])
            .await;
        let admin = t
            .user("adm", &[(Role::Admin, Scope::Host(host.clone()))])
            .await;
        let base = format!("/api/v1/hosts/{host}/containers");
        add_with_network(&agent, "hostnet", "host", "berth");
        add_with_network(&agent, "dhostnet", "host", "docker");
        add_with_network(&agent, "linked", "container:hostnet", "berth");
        add_with_network(&agent, "plain", "bridge", "berth");
        add_with_network(&agent, "dplain", "bridge", "docker");

        let before = creates_seen(&agent);
        for runtime in ["berth", "docker"] {
            // The attack: a deployer asks for the host's network namespace.
            let r = t
                .post(
                    &base,
                    &deployer.token,
                    json!({"name": format!("sniff-{runtime}"), "image": "busybox",
                           "network": "host", "runtime": runtime}),
                )
                .await;
            assert_eq!(r.status, 403, "{runtime}: {}", r.text());
            let d = r.detail();
            assert!(d.contains("network") && d.contains("admin"), "{d}");
        }
        // Or by joining the network of a container that has it (directly or
        // through another container: link).
        for (name, via, runtime) in [
            ("j1", "hostnet", "berth"),
            ("j2", "linked", "berth"),
            ("j3", "dhostnet", "docker"),
        ] {
            let r = t
                .post(
                    &base,
                    &deployer.token,
                    json!({"name": name, "image": "busybox", "network": format!("container:{via}"),
                           "runtime": runtime}),
                )
                .await;
            assert_eq!(r.status, 403, "{name}: {}", r.text());
            assert!(r.detail().contains("host's network"), "{}", r.detail());
        }
        // A name that the other runtime would resolve is refused too, and an
        // unknown one is a clear 422.
        for (via, runtime) in [("plain", "docker"), ("nope", "berth")] {
            let r = t
                .post(
                    &base,
                    &deployer.token,
                    json!({"image": "busybox", "network": format!("container:{via}"), "runtime": runtime}),
                )
                .await;
            assert_eq!(r.status, 422, "{via}: {}", r.text());
            assert!(
                r.detail().contains(&format!("container:{via}")),
                "{}",
                r.detail()
            );
        }
        // Nothing refused reached the agent.
        assert_eq!(creates_seen(&agent), before);

        // Legitimate uses still work: a deployer joins a bridged container;
        // an admin may use the host's network on either runtime.
        for (name, body) in [
            (
                "ok1",
                json!({"name": "ok1", "image": "busybox", "network": "container:plain"}),
            ),
            (
                "ok2",
                json!({"name": "ok2", "image": "busybox", "network": "container:dplain", "runtime": "docker"}),
            ),
            (
                "ok3",
                json!({"name": "ok3", "image": "busybox", "network": "none"}),
            ),
        ] {
            let r = t.post(&base, &deployer.token, body).await;
            assert_eq!(r.status, 201, "{name}: {}", r.text());
        }
        for (name, body) in [
            (
                "a1",
                json!({"name": "a1", "image": "busybox", "network": "host"}),
            ),
            (
                "a2",
                json!({"name": "a2", "image": "busybox", "network": "host", "runtime": "docker"}),
            ),
            (
                "a3",
                json!({"name": "a3", "image": "busybox", "network": "container:linked"}),
            ),
        ] {
            let r = t.post(&base, &admin.token, body).await;
            assert_eq!(r.status, 201, "{name}: {}", r.text());
        }
        let _: Value = json!(null);
    }
);
