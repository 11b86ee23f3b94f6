//! Per-host policy settings: `allow_internal_registries` (admins) decides
//! whether pulls may reach internal registries, and only the server sets it
//! on the agent request; the bind-mount allowlist is the owner's.

mod common;

use axum::http::Method;
use berth_api::auth::{Role, Scope};
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::json;

db_test!(
    only_the_host_setting_lets_pulls_reach_internal_registries,
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
        let pull = format!("/api/v1/hosts/{host}/images/pull");
        let hp = format!("/api/v1/hosts/{host}");

        // Default: off, and a caller can't switch it on in the request.
        let r = t.get(&hp, &deployer.token).await;
        assert_eq!(r.json()["allow_internal_registries"], false);
        let r = t
            .post(
                &pull,
                &deployer.token,
                json!({"reference": "127.0.0.1:5000/x:1", "insecure": true, "allow_internal_registries": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let sent = agent
            .state
            .pull_bodies
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_ne!(sent["allow_internal_registries"], true, "{sent}");

        // A deployer may not change the setting.
        let r = t
            .call(
                Method::PATCH,
                &hp,
                Some(&deployer.token),
                Some(json!({"allow_internal_registries": true})),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text());

        // An admin may; the host shows it and pulls carry it.
        let r = t
            .call(
                Method::PATCH,
                &hp,
                Some(&admin.token),
                Some(json!({"allow_internal_registries": true})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["allow_internal_registries"], true);
        let r = t.get(&hp, &deployer.token).await;
        assert_eq!(r.json()["allow_internal_registries"], true);
        let r = t.get("/api/v1/hosts", &deployer.token).await;
        assert_eq!(r.json()["items"][0]["allow_internal_registries"], true);
        let r = t
            .post(
                &pull,
                &deployer.token,
                json!({"reference": "127.0.0.1:5000/x:1"}),
            )
            .await;
        assert_eq!(r.status, 200);
        let sent = agent
            .state
            .pull_bodies
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(sent["allow_internal_registries"], true, "{sent}");
        // Other fields of a PATCH leave it alone.
        let r = t
            .call(
                Method::PATCH,
                &hp,
                Some(&admin.token),
                Some(json!({"labels": {"a": "b"}})),
            )
            .await;
        assert_eq!(r.json()["allow_internal_registries"], true);
    }
);

db_test!(
    the_bind_mount_allowlist_is_the_owners,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        let admin = t.user("adm", &[(Role::Admin, Scope::Global)]).await;
        let hp = format!("/api/v1/hosts/{host}");
        let patch = |token: String, body: serde_json::Value| {
            let t = &t;
            let hp = hp.clone();
            async move { t.call(Method::PATCH, &hp, Some(&token), Some(body)).await }
        };
        let r = patch(
            admin.token.clone(),
            json!({"bind_mount_allowlist": ["/srv"]}),
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.detail().contains("owner"), "{}", r.detail());
        for bad in [json!(["srv"]), json!(["/srv/../etc"]), json!(["/a\u{0}b"])] {
            let r = patch(owner.token.clone(), json!({"bind_mount_allowlist": bad})).await;
            assert_eq!(r.status, 422, "{bad}: {}", r.text());
        }
        let many: Vec<String> = (0..65).map(|i| format!("/p{i}")).collect();
        let r = patch(owner.token.clone(), json!({"bind_mount_allowlist": many})).await;
        assert_eq!(r.status, 422);
        let r = patch(
            owner.token.clone(),
            json!({"bind_mount_allowlist": ["/srv/data/", "/opt"]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["bind_mount_allowlist"],
            json!(["/opt", "/srv/data"])
        );
        let r = t.get(&hp, &admin.token).await;
        assert_eq!(
            r.json()["bind_mount_allowlist"],
            json!(["/opt", "/srv/data"])
        );
        // Admins still change the rest of the host.
        let r = patch(admin.token.clone(), json!({"name": "renamed"})).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json()["bind_mount_allowlist"],
            json!(["/opt", "/srv/data"])
        );
        // Creates with mounts carry it to the agent, which enforces it.
        let base = format!("{hp}/containers");
        let r = t
            .post(
                &base,
                &admin.token,
                json!({"name": "m1", "image": "busybox",
                "mounts": [{"source": "/srv/data/x", "target": "/x"}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let r = t
            .post(
                &base,
                &admin.token,
                json!({"name": "m2", "image": "busybox"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let seen = agent.state.requests.lock().unwrap().clone();
        assert!(
            seen.iter().any(|l| l.starts_with("POST /v1/containers?")
                && l.contains("mount_allow=%2Fopt")
                && l.contains("mount_allow=%2Fsrv%2Fdata")),
            "{seen:?}"
        );
        // [] removes it.
        let r = patch(owner.token.clone(), json!({"bind_mount_allowlist": []})).await;
        assert_eq!(r.status, 200);
        assert!(r.json().get("bind_mount_allowlist").is_none());
    }
);
