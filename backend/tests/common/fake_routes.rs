//! The fake agent as a `berth_net::agent_service::AgentService`: the same
//! trait the real agent implements, served by the same router, so every
//! route, query, body and refusal of bad input is read exactly as the
//! agent reads it. Answers come from memory; what the fake sees is
//! counted in its `FakeState`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket};
use axum::response::Response;
use axum::response::sse::Event;
use berth_api::Problem;
use berth_api::agent::AgentInfo;
use berth_api::agent_api::{
    ActionQuery, CreateQuery, ExecQuery, ListQuery, LogsQuery, RemoveQuery, WindowQuery,
};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::images::{Image, ImportResult, PullRequest, StoreUsage};
use berth_api::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};
use berth_api::metrics::{ContainerSample, HostSample};
use berth_net::agent_service::{
    AgentService, Answer, ByteStream, EventStream, ExecUpgrade, ImageService, end_event,
};
use serde_json::{Value, json};

use super::{FakeState, container, facts};

/// The fake's service: its state, shared with the test.
#[derive(Clone)]
pub(super) struct Fake(pub(super) Arc<FakeState>);

fn refuse<T>(status: u16, detail: impl Into<String>) -> Answer<T> {
    Err(Problem::new(status, detail))
}

/// A canned JSON answer as the typed value the router sends.
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Answer<T> {
    serde_json::from_value(v).or_else(|e| refuse(500, format!("the fake's answer: {e}")))
}

/// Counts a stream while it lives.
struct Open(Arc<FakeState>);
impl Drop for Open {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A sample every `every`; after `limit` of them, `event: end`.
fn samples(st: Arc<FakeState>, every: Duration, limit: Option<usize>) -> EventStream {
    st.streams_opened.fetch_add(1, Ordering::Relaxed);
    st.streams_open.fetch_add(1, Ordering::Relaxed);
    let guard = Open(st);
    EventStream::new(futures::stream::unfold(
        (0usize, guard),
        move |(n, g)| async move {
            if limit.is_some_and(|l| n > l) {
                return None;
            }
            if limit == Some(n) {
                return Some((end_event(), (n + 1, g)));
            }
            if n > 0 {
                tokio::time::sleep(every).await;
            }
            let sample = format!(
                "{{\"t\":\"{}\",\"cpu_percent\":1.5,\"memory_bytes\":{n},\"pids\":1}}",
                chrono::Utc::now().to_rfc3339()
            );
            Some((Event::default().data(sample), (n + 1, g)))
        },
    ))
}

impl Fake {
    fn has(&self, c: &str) -> Answer<()> {
        if self.0.containers.lock().unwrap().contains_key(c) {
            Ok(())
        } else {
            refuse(404, format!("no container {c}"))
        }
    }
}

/// The one image the fake holds (`list_images`), by id or reference.
fn is_stored_image(r: &str) -> bool {
    matches!(
        r,
        "sha256:ab" | "busybox" | "busybox:latest" | "docker.io/library/busybox:latest"
    )
}

impl ImageService for Fake {
    async fn list_images(&self) -> Answer<Vec<Image>> {
        typed(
            json!([{"id": "sha256:ab", "references": ["busybox:latest"], "size_bytes": 1,
            "created_at": "2026-01-01T00:00:00Z", "layers": []}]),
        )
    }

    async fn image_usage(&self) -> Answer<StoreUsage> {
        typed(json!({"blobs_bytes": 1, "snapshots_bytes": 1, "images": 1}))
    }

    async fn pull_image(&self, req: PullRequest) -> Answer<EventStream> {
        self.0
            .pull_bodies
            .lock()
            .unwrap()
            .push(serde_json::to_value(&req).unwrap());
        let events = [
            r#"{"layer":"","current":0,"total":0,"status":"resolving"}"#,
            r#"{"layer":"","current":1,"total":1,"status":"done"}"#,
        ]
        .map(|d| Event::default().data(d));
        Ok(EventStream::new(futures::stream::iter(events)).then_end())
    }

    /// Refuses what a real agent refuses before it looks at the images
    /// (not a tar, or neither manifest.json nor index.json in it); counts
    /// the bytes.
    async fn import_image(&self, body: ByteStream) -> Answer<ImportResult> {
        match super::super::tarball::check_import(Body::from_stream(body)).await {
            Ok(n) => {
                self.0.imported_bytes.fetch_add(n, Ordering::Relaxed);
                Ok(ImportResult { images: vec![] })
            }
            Err(detail) => refuse(400, detail),
        }
    }

    async fn remove_image(&self, image: String) -> Answer<()> {
        if image == "in-use" {
            return refuse(409, "a container uses it");
        }
        if !is_stored_image(&image) {
            return refuse(404, format!("no such image: {image}"));
        }
        Ok(())
    }
}

impl AgentService for Fake {
    async fn info(&self) -> Answer<AgentInfo> {
        Ok(AgentInfo {
            host_id: self.0.host_id.lock().unwrap().clone(),
            version: self.0.version(),
            facts: facts(),
            runtimes: vec!["berth".into()],
            started_at: chrono::Utc::now(),
        })
    }

    async fn leave(&self) -> Answer<()> {
        self.0.left.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn list_containers(&self, q: ListQuery) -> Answer<Vec<Container>> {
        let map = self.0.containers.lock().unwrap();
        Ok(map
            .values()
            .filter_map(|c| serde_json::from_value::<Container>(c.clone()).ok())
            .filter(|c| q.matches(&c.labels, c.state))
            .collect())
    }

    async fn create_container(
        &self,
        q: CreateQuery,
        spec: ContainerSpec,
    ) -> Answer<CreatedContainer> {
        let body = serde_json::to_value(&spec).unwrap();
        self.0.create_bodies.lock().unwrap().push(body);
        if !is_stored_image(&spec.image) {
            return refuse(
                422,
                format!(
                    "image {:?} is not on this host: pull or import it first",
                    spec.image
                ),
            );
        }
        let name = spec.name.clone().unwrap_or_else(|| "auto".into());
        let host = self.0.host_id.lock().unwrap().clone();
        let mut map = self.0.containers.lock().unwrap();
        if map.contains_key(&name) {
            return refuse(409, format!("a container named {name} exists"));
        }
        let c = container(&host, &name, if q.start { "running" } else { "created" });
        let id = c["id"].as_str().unwrap_or_default().to_string();
        map.insert(name.clone(), c);
        Ok(CreatedContainer { id, name })
    }

    async fn inspect_container(&self, c: String) -> Answer<Container> {
        match self.0.containers.lock().unwrap().get(&c) {
            Some(v) => typed(v.clone()),
            None => refuse(404, format!("no container {c}")),
        }
    }

    async fn remove_container(&self, c: String, q: RemoveQuery) -> Answer<()> {
        let mut map = self.0.containers.lock().unwrap();
        match map.get(&c) {
            Some(v) if v["state"] == "running" && !q.force => {
                refuse(409, format!("container {c} is running: stop it or force"))
            }
            Some(_) => {
                map.remove(&c);
                Ok(())
            }
            None => refuse(404, format!("no container {c}")),
        }
    }

    async fn container_action(
        &self,
        c: String,
        action: ContainerAction,
        _: ActionQuery,
    ) -> Answer<Container> {
        let mut map = self.0.containers.lock().unwrap();
        let Some(v) = map.get_mut(&c) else {
            return refuse(404, format!("no container {c}"));
        };
        // The real agent's conflicts: stop, kill and pause need a running
        // container, unpause a paused one.
        let (running, paused) = (v["state"] == "running", v["state"] == "paused");
        use ContainerAction as A;
        let next = match action {
            A::Start if running || paused => return refuse(409, "already running"),
            A::Stop | A::Kill | A::Pause if !running => {
                return refuse(409, format!("container {c} is not running"));
            }
            A::Unpause if !paused => return refuse(409, format!("container {c} is not paused")),
            A::Start | A::Restart | A::Unpause => "running",
            A::Stop | A::Kill => "stopped",
            A::Pause => "paused",
        };
        v["state"] = json!(next);
        typed(v.clone())
    }

    async fn logs(&self, c: String, _: LogsQuery) -> Answer<Vec<LogLine>> {
        self.has(&c)?;
        typed(json!([
            {"stream": "stdout", "time": "2026-01-01T00:00:00Z", "text": "hello"},
            {"stream": "stderr", "time": "2026-01-01T00:00:01Z", "text": "world"}
        ]))
    }

    async fn follow_logs(&self, c: String, _: LogsQuery) -> Answer<EventStream> {
        self.has(&c)?;
        Ok(samples(self.0.clone(), Duration::from_millis(20), Some(5)))
    }

    async fn stats(&self, _: String, _: WindowQuery) -> Answer<Vec<ContainerSample>> {
        let t = "2026-01-01T00:00:00Z";
        typed(json!([{"t": t, "cpu_percent": 1.0, "memory_bytes": 1, "pids": 1}]))
    }

    async fn stats_stream(&self, c: String) -> Answer<EventStream> {
        self.has(&c)?;
        Ok(samples(self.0.clone(), Duration::from_millis(50), None))
    }

    async fn container_namespaces(&self, _: String) -> Answer<Vec<ContainerNamespace>> {
        typed(
            json!([{"type": "pid", "inode": 4026532001u64, "host_inode": 4026531836u64,
            "shared_with_host": false}]),
        )
    }

    /// An echo: binary frames come back, a text frame as `resized <text>`.
    async fn exec(&self, _: String, _: ExecQuery, ws: ExecUpgrade) -> Answer<Response> {
        ws.on_upgrade(echo)
    }

    async fn host_metrics(&self, _: WindowQuery) -> Answer<Vec<HostSample>> {
        typed(
            json!([{"t": "2026-01-01T00:00:00Z", "cpu_percent": 1.0, "memory_bytes": 1,
            "load1": 0.5, "net_rx_bytes": 1, "net_tx_bytes": 1, "disk_read_bytes": 1,
            "disk_write_bytes": 1}]),
        )
    }

    async fn host_metrics_stream(&self) -> Answer<EventStream> {
        Ok(samples(self.0.clone(), Duration::from_millis(50), None))
    }

    async fn namespaces(&self) -> Answer<Vec<NamespaceEntry>> {
        let command = self
            .0
            .namespace_command
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "init".into());
        typed(
            json!([{"inode": 4026531836u64, "type": "pid", "nprocs": 1, "pid": 1,
            "user": "root", "command": command}]),
        )
    }

    async fn cgroups(&self) -> Answer<CgroupNode> {
        typed(
            json!({"path": "/", "controllers": ["memory"], "limits": {}, "usage": {}, "children": []}),
        )
    }

    async fn prometheus(&self) -> Answer<String> {
        Ok("berth_containers{state=\"running\"} 0\n".into())
    }
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(m)) = socket.recv().await {
        let reply = match m {
            Message::Binary(b) => Message::Binary(b),
            Message::Text(t) => Message::Text(format!("resized {}", t.as_str()).into()),
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
