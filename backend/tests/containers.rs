//! Host-level calls relayed to agents: containers, images, inventory, the
//! fan-out with its per-host deadline, and the streamed image import.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, header};
use berth_api::auth::{Role, Scope};
use common::TestApp;
use common::fake_agent::FakeAgent;
use serde_json::{Value, json};

db_test!(
    container_calls_are_relayed_with_the_agents_answers,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        let base = format!("/api/v1/hosts/{host}/containers");

        let r = t.post(&format!("{base}?start=true"), &owner.token, json!({"name": "web", "image": "busybox", "cmd": ["sleep", "600"], "limits": {"memory_bytes": 67108864}})).await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["name"], "web");
        // The agent saw the signed call on behalf of the owner.
        assert!(
            agent
                .state
                .requests
                .lock()
                .unwrap()
                .iter()
                .any(|l| l == "POST /v1/containers?start=true owner")
        );

        let r = t.get(&base, &owner.token).await;
        assert_eq!(r.status, 200);
        let list = r.json();
        assert_eq!(list["items"][0]["name"], "web");
        assert_eq!(list["items"][0]["host"], host.as_str());
        assert_eq!(list["errors"], json!([]));

        let r = t.get(&format!("{base}/web"), &owner.token).await;
        assert_eq!(r.json()["state"], "running");
        // The agent's errors come back with their status, detail and the host.
        let r = t
            .call(
                Method::POST,
                &format!("{base}/web/start"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 409);
        assert_eq!(r.detail(), "already running");
        assert_eq!(r.json()["host"], host.as_str());
        let r = t.get(&format!("{base}/nope"), &owner.token).await;
        assert_eq!(r.status, 404);
        assert!(r.detail().contains("nope"));
        let r = t
            .post(
                &base,
                &owner.token,
                json!({"name": "web", "image": "busybox"}),
            )
            .await;
        assert_eq!(r.status, 409);
        // Actions and their parameters.
        let r = t
            .call(
                Method::POST,
                &format!("{base}/web/stop?timeout=5"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["state"], "stopped");
        assert!(
            agent
                .state
                .requests
                .lock()
                .unwrap()
                .iter()
                .any(|l| l == "POST /v1/containers/web/stop?timeout=5 owner")
        );
        let r = t
            .call(
                Method::POST,
                &format!("{base}/web/explode"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 404);
        assert!(r.detail().contains("explode"));
        let r = t
            .call(
                Method::POST,
                &format!("{base}/web/start?timeout=x"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 400);
        // Bad specs are refused before any agent sees them.
        let r = t
            .post(
                &base,
                &owner.token,
                json!({"image": "busybox", "cmd": "sleep 1"}),
            )
            .await;
        assert_eq!(r.status, 400);
        assert!(r.detail().contains("cmd"), "{}", r.detail());
        let r = t
            .post(
                &base,
                &owner.token,
                json!({"image": "busybox", "name": "bad/name"}),
            )
            .await;
        assert_eq!(r.status, 422);
        // Logs, stats, namespaces.
        let r = t
            .get(&format!("{base}/web/logs?tail=10"), &owner.token)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["items"][1]["text"], "world");
        let r = t
            .get(&format!("{base}/web/logs?tail=ten"), &owner.token)
            .await;
        assert_eq!(r.status, 400);
        let r = t
            .get(&format!("{base}/web/stats?window=24h"), &owner.token)
            .await;
        assert_eq!(r.status, 200);
        assert!(
            agent
                .state
                .requests
                .lock()
                .unwrap()
                .iter()
                .any(|l| l == "GET /v1/containers/web/stats?window=24h owner")
        );
        let r = t
            .get(&format!("{base}/web/stats?window=2h"), &owner.token)
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(
            t.get(&format!("{base}/web/namespaces"), &owner.token)
                .await
                .json()["items"][0]["type"],
            "pid"
        );
        // Delete.
        let r = t
            .call(
                Method::DELETE,
                &format!("{base}/web?force=true"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(r.status, 204);
        assert!(
            t.get(&base, &owner.token).await.json()["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
);

db_test!(host_bind_mounts_need_admin, |t: TestApp| async move {
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let host = agent.join(&t, &owner.token, "node-1", &[]).await;
    let dep = t
        .user("dep", &[(Role::Deployer, Scope::Host(host.clone()))])
        .await;
    let adm = t
        .user("adm", &[(Role::Admin, Scope::Host(host.clone()))])
        .await;
    let base = format!("/api/v1/hosts/{host}/containers");
    let spec = |name: &str| json!({"name": name, "image": "busybox", "mounts": [{"source": "/etc", "target": "/host-etc", "readonly": true}]});
    let r = t.post(&base, &dep.token, spec("m1")).await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("bind mounts"));
    assert_eq!(
        t.post(
            &base,
            &dep.token,
            json!({"name": "plain", "image": "busybox"})
        )
        .await
        .status,
        201
    );
    assert_eq!(t.post(&base, &adm.token, spec("m2")).await.status, 201);
});

db_test!(images_and_inventory_are_relayed, |t: TestApp| async move {
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let host = agent.join(&t, &owner.token, "node-1", &[]).await;
    let r = t
        .get(&format!("/api/v1/hosts/{host}/images"), &owner.token)
        .await;
    assert_eq!(r.json()["items"][0]["id"], "sha256:ab");
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/hosts/{host}/images/in-use"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/v1/hosts/{host}/images/docker.io%2Flibrary%2Fbusybox:latest"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(
        agent
            .state
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "DELETE /v1/images/docker.io%2Flibrary%2Fbusybox:latest owner"),
        "{:?}",
        agent.state.requests.lock().unwrap()
    );
    let r = t
        .post(
            &format!("/api/v1/hosts/{host}/images/pull"),
            &owner.token,
            json!({"reference": "busybox:latest"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/event-stream");
    assert!(r.text().contains("\"status\":\"done\""), "{}", r.text());
    let r = t
        .post(
            &format!("/api/v1/hosts/{host}/images/pull"),
            &owner.token,
            json!({"reference": "x", "bogus": 1}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        t.get(
            &format!("/api/v1/hosts/{host}/metrics?window=1h"),
            &owner.token
        )
        .await
        .json()["items"][0]["cpu_percent"],
        1.0
    );
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}/namespaces"), &owner.token)
            .await
            .json()["items"][0]["command"],
        "init"
    );
    assert_eq!(
        t.get(&format!("/api/v1/hosts/{host}/cgroups"), &owner.token)
            .await
            .json()["path"],
        "/"
    );
});

db_test!(
    image_import_streams_the_body_to_the_agent,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let agent = FakeAgent::start().await;
        let host = agent.join(&t, &owner.token, "node-1", &[]).await;
        // A tar with a 64 MiB entry, in 64 KiB chunks: far over the JSON
        // body limit, and streamed. (The fake, like a real agent, refuses a
        // body that is not a tar with a manifest.)
        const CHUNK: usize = 64 << 10;
        const N: usize = 1024;
        let tiny = common::tarball::tiny_image_tar();
        let entries = &tiny[..tiny.len() - 2 * common::tarball::BLOCK];
        let mut head = entries.to_vec();
        head.extend_from_slice(&common::tarball::file_header(
            "layer.tar",
            (CHUNK * N) as u64,
        ));
        let tail = vec![0u8; 2 * common::tarball::BLOCK];
        let total = head.len() + CHUNK * N + tail.len();
        let produced = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let p2 = produced.clone();
        let stream = futures::stream::iter(0..N).map(move |_| {
            p2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; CHUNK]))
        });
        use futures::StreamExt;
        let stream = futures::stream::iter([Ok(bytes::Bytes::from(head))])
            .chain(stream)
            .chain(futures::stream::iter([Ok(bytes::Bytes::from(tail))]));
        let req = Request::post(format!("/api/v1/hosts/{host}/images/import"))
            .header(header::AUTHORIZATION, format!("Bearer {}", owner.token))
            .header(header::CONTENT_TYPE, "application/x-tar")
            .body(Body::from_stream(stream))
            .unwrap();
        let r = t.send(req).await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(
            agent
                .state
                .imported_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
            total as u64
        );
        // A viewer may not import: refused before the body is read.
        let viewer = t.user("v", &[(Role::Viewer, Scope::Global)]).await;
        let before = produced.load(std::sync::atomic::Ordering::Relaxed);
        let p3 = produced.clone();
        let stream = futures::stream::iter(0..N).map(move |_| {
            p3.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; CHUNK]))
        });
        let req = Request::post(format!("/api/v1/hosts/{host}/images/import"))
            .header(header::AUTHORIZATION, format!("Bearer {}", viewer.token))
            .body(Body::from_stream(stream))
            .unwrap();
        assert_eq!(t.send(req).await.status, 403);
        assert!(produced.load(std::sync::atomic::Ordering::Relaxed) - before < 4);
    }
);

db_test!(
    fan_out_returns_healthy_hosts_and_names_dead_and_slow_ones,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let good = FakeAgent::start().await;
        let slow = FakeAgent::start().await;
        let dead = FakeAgent::start().await;
        let hg = good.join(&t, &owner.token, "good", &[]).await;
        let hs = slow.join(&t, &owner.token, "slow", &[]).await;
        let hd = dead.join(&t, &owner.token, "dead", &[]).await;
        good.add_container("a", "running");
        good.add_container("b", "stopped");
        slow.add_container("c", "running");
        // Far beyond the deadline + the bound below: an answer that waited
        // for it could not pass.
        *slow.state.delay.lock().unwrap() = Duration::from_secs(60);
        let dead_addr = dead.addr;
        drop(dead);
        common::wait_until(
            "the dead agent's port to close",
            Duration::from_secs(10),
            || async { tokio::net::TcpStream::connect(dead_addr).await.is_err() },
        )
        .await;

        let start = Instant::now();
        let r = t.get("/api/v1/containers", &owner.token).await;
        let took = start.elapsed();
        assert_eq!(r.status, 200);
        let v = r.json();
        let names: Vec<_> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        assert!(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["host"] == hg.as_str())
        );
        let errors = v["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let err = |h: &str| errors.iter().find(|e| e["host"] == h).cloned().unwrap();
        assert_eq!(err(&hs)["status"], 504);
        assert!(err(&hs)["detail"].as_str().unwrap().contains("3000 ms"));
        assert_eq!(err(&hd)["status"], 502);
        // The answer came after the 3 s deadline (a timer never fires early)
        // and well before the slow host would have answered; the upper
        // bound is generous because two shared cores can stall a test for
        // seconds.
        assert!(
            took < Duration::from_secs(3 + 10),
            "the page waited for the slow host: {took:?}"
        );
        assert!(
            took >= Duration::from_millis(2900),
            "the slow host had its 3 s: {took:?}"
        );

        // Filters.
        let r = t
            .get(
                &format!("/api/v1/containers?host={hg}&state=running"),
                &owner.token,
            )
            .await
            .json();
        assert_eq!(r["items"].as_array().unwrap().len(), 1);
        assert_eq!(r["errors"], json!([]));
        // A label filter: `key=value`, or a key alone for any value.
        let names = |r: Value| -> Vec<String> {
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].to_string())
                .collect()
        };
        let per_host = format!("/api/v1/hosts/{hg}/containers");
        for (query, want) in [
            ("label=app", vec!["\"a\"", "\"b\""]),
            ("label=app=b", vec!["\"b\""]),
            ("label=tier", vec![]),
        ] {
            let r = t.get(&format!("{per_host}?{query}"), &owner.token).await;
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            assert_eq!(names(r.json()), want, "{query}");
        }
        let r = t.get(&format!("{per_host}?label==b"), &owner.token).await;
        assert_eq!(r.status, 400);
        assert!(r.detail().starts_with("label="), "{}", r.detail());
        let r = t.get("/api/v1/containers?host=nope", &owner.token).await;
        assert_eq!(r.status, 404);
        // Metrics saw the per-host latencies.
        // (/metrics itself needs BERTH_METRICS_TOKEN; tests/web_security.rs.)
        let m = t.state.metrics.render();
        assert!(
            m.contains(&format!(
                "berth_fanout_host_duration_seconds_count{{host=\"{hs}\",outcome=\"timeout\"}} 1"
            )),
            "{m}"
        );
    }
);

db_test!(fan_out_only_covers_visible_hosts, |t: TestApp| async move {
    let owner = t.owner().await;
    let a = FakeAgent::start().await;
    let b = FakeAgent::start().await;
    let ha = a.join(&t, &owner.token, "a", &["team-a"]).await;
    b.join(&t, &owner.token, "b", &["team-b"]).await;
    a.add_container("mine", "running");
    b.add_container("theirs", "running");
    let u = t
        .user("u", &[(Role::Viewer, Scope::Group("team-a".into()))])
        .await;
    let v = t.get("/api/v1/containers", &u.token).await.json();
    let names: Vec<_> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["mine"]);
    assert_eq!(v["items"][0]["host"], ha.as_str());
    assert!(
        b.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| !r.starts_with("GET /v1/containers"))
    );
    let nobody = t.user("nobody", &[]).await;
    let v = t.get("/api/v1/containers", &nobody.token).await.json();
    assert_eq!(v["items"], json!([]));
});

db_test!(connections_to_agents_are_pooled, |t: TestApp| async move {
    let owner = t.owner().await;
    let agent = FakeAgent::start().await;
    let host = agent.join(&t, &owner.token, "a", &[]).await;
    let rec = berth_server::db::hosts::get(&t.state.db, &host)
        .await
        .unwrap()
        .unwrap();
    let c1 = t.state.agents.client(&rec).unwrap();
    let before = agent.state.peers.lock().unwrap().len();
    for _ in 0..20 {
        assert_eq!(
            t.get(&format!("/api/v1/hosts/{host}/containers"), &owner.token)
                .await
                .status,
            200
        );
    }
    let c2 = t.state.agents.client(&rec).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&c1, &c2),
        "one client (and pool) per host"
    );
    let after = agent.state.peers.lock().unwrap().len();
    assert!(
        after - before <= 1,
        "20 calls opened {} connections",
        after - before
    );
});

/// The fake's import check follows tar framing as a real agent's import
/// does: a whole archive with a manifest passes, anything else is refused.
#[tokio::test]
async fn the_fake_agent_checks_imports_like_a_real_one() {
    use common::tarball::{BLOCK, NO_MANIFEST, NOT_TAR, check_import, tiny_image_tar};
    let tiny = tiny_image_tar();
    assert_eq!(check_import(Body::from(tiny)).await, Ok(tiny.len() as u64));
    for (body, want) in [
        (tiny[..BLOCK + 10].to_vec(), NOT_TAR),
        (b"not really a tar".to_vec(), NOT_TAR),
        (vec![b'x'; 2 * BLOCK], NOT_TAR),
        (vec![0u8; 2 * BLOCK], NO_MANIFEST),
    ] {
        let e = check_import(Body::from(body)).await.unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}
