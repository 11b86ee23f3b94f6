//! Two `berth-server` processes on one PostgreSQL database and one secrets
//! dir (docs/architecture.md rule 3), and a REAL `berth-agent` joined
//! through replica A: replica B takes A's session, lists the host online
//! and runs its containers (import, create, start, list, stop, delete),
//! signing with the key the agent pinned when it joined A; what B did is
//! what A sees. Needs `BERTH_TEST_POSTGRES_URL` (a skip without it).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::real_agent::{Answer, RealAgent, agent_bin, answer, busybox_tar};
use common::replica::{Replica, start};
use reqwest::Method;
use serde_json::{Value, json};

/// Calls one replica's API with a bearer token, over plain HTTP.
struct Api<'a> {
    http: reqwest::Client,
    replica: &'a Replica,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.replica.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        answer(rb.send().await.expect("replica reachable")).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn import(&self, host: &str, tar: &Path) -> Answer {
        let f = tokio::fs::File::open(tar).await.expect("open the tar");
        let r = self
            .http
            .post(format!(
                "{}/api/v1/hosts/{host}/images/import",
                self.replica.url
            ))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-tar")
            .body(reqwest::Body::wrap_stream(
                tokio_util::io::ReaderStream::new(f),
            ))
            .send()
            .await
            .expect("import");
        answer(r).await
    }

    /// The state of container `c` on `host`, as this replica reports it.
    async fn state(&self, host: &str, c: &str) -> String {
        let r = self
            .get(&format!("/api/v1/hosts/{host}/containers/{c}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["state"].as_str().unwrap_or_default().to_string()
    }
}

async fn login(replica: &Replica) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", replica.url))
        .json(&json!({"username": "admin", "password": "replicated password"}))
        .send()
        .await
        .expect("login");
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["token"].as_str().expect("a session").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_b_runs_containers_of_a_real_agent_joined_through_replica_a() {
    let Ok(admin_url) = std::env::var("BERTH_TEST_POSTGRES_URL") else {
        berth_testkit::skip("BERTH_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)");
        return;
    };
    let Some(bin) = agent_bin() else { return };
    let Some(tar) = busybox_tar() else { return };
    berth_server::tls::install_default_provider();
    let (db_url, _db) = common::fresh_pg_database(&admin_url).await;
    let secrets = tempfile::tempdir().unwrap();
    let (ra, rb) = tokio::join!(
        start(&db_url, secrets.path()),
        start(&db_url, secrets.path())
    );
    let http = reqwest::Client::new();
    // A session made on A (the documented design: sessions live in the
    // shared database, signed with the shared secret).
    let token = login(&ra).await;
    let a = Api {
        http: http.clone(),
        replica: &ra,
        token: token.clone(),
    };
    let b = Api {
        http,
        replica: &rb,
        token,
    };
    let me = b.get("/api/v1/auth/me").await;
    assert_eq!(me.status, 200, "A's session on B: {}", me.text);
    assert_eq!(me.body["username"], "admin");

    // The agent joins through A (its token carries A's public URL and pins
    // A's certificate).
    let jt = a
        .call(Method::POST, "/api/v1/hosts/join-tokens", Some(json!({})))
        .await;
    assert_eq!(jt.status, 200, "{}", jt.text);
    let mut agent = RealAgent::start(&bin, "replicated", None, jt.body["token"].as_str());
    agent.host_id = agent.wait_joined(Duration::from_secs(30)).await;
    let h = agent.host_id.clone();

    wait_listed_online(&b, &h, &agent).await;
    operate_through_b(&a, &b, &agent, &tar).await;
    drop(agent);
    drop((ra, rb));
}

/// Waits until replica B lists the host `h` as online.
async fn wait_listed_online(b: &Api<'_>, h: &str, agent: &RealAgent) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = b.get("/api/v1/hosts").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let listed = r.body["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|x| x["id"] == h)
                .map(|x| x["status"].clone())
        });
        if listed.as_ref().is_some_and(|s| s == "online") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B does not list host {h} online: {listed:?}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Through B: import busybox, create, start, list, stop and delete a
/// container on the agent's host; A sees each change.
async fn operate_through_b(a: &Api<'_>, b: &Api<'_>, agent: &RealAgent, tar: &Path) {
    let h = agent.host_id.as_str();
    let r = b.import(h, tar).await;
    assert_eq!(
        r.status,
        201,
        "import through B: {}\n{}",
        r.text,
        agent.log()
    );
    let base = format!("/api/v1/hosts/{h}/containers");
    let spec =
        json!({"name": "web", "image": "busybox", "cmd": ["sleep", "600"], "network": "none"});
    let r = b.call(Method::POST, &base, Some(spec)).await;
    assert_eq!(r.status, 201, "create through B: {}", r.text);
    assert_eq!(a.state(h, "web").await, "created", "A sees what B made");
    let r = b
        .call(Method::POST, &format!("{base}/web/start"), None)
        .await;
    assert_eq!(r.status, 200, "start through B: {}", r.text);
    let r = b.get(&base).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().cloned().unwrap_or_default();
    assert!(
        items
            .iter()
            .any(|c| c["name"] == "web" && c["state"] == "running"),
        "B's list: {items:?}"
    );
    let r = a.get("/api/v1/containers").await;
    assert_eq!(r.body["errors"], json!([]), "{}", r.text);
    assert!(
        r.body["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|c| c["name"] == "web" && c["host"] == h)),
        "A's fan-out: {}",
        r.text
    );
    let r = b
        .call(Method::POST, &format!("{base}/web/stop?timeout=5"), None)
        .await;
    assert_eq!(r.status, 200, "stop through B: {}", r.text);
    assert_eq!(a.state(h, "web").await, "stopped");
    let r = b.call(Method::DELETE, &format!("{base}/web"), None).await;
    assert_eq!(r.status, 204, "delete through B: {}", r.text);
    assert_eq!(a.get(&format!("{base}/web")).await.status, 404);
}
