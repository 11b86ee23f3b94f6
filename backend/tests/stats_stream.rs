//! The multiplexed live stats stream over a real socket: many containers on
//! several hosts in one SSE response, sharing upstreams with the
//! per-container stream; a missing container is reported without stopping
//! the others; hosts out of scope make the call 404; bad queries are 400.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use berth_api::auth::{Role, Scope};
use berth_api::metrics::StatsStreamEvent;
use common::fake_agent::FakeAgent;
use common::{TestApp, serve};
use futures::StreamExt;

/// The data events of an SSE response, read as they come.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
    seen: Vec<StatsStreamEvent>,
}

impl Events {
    fn new(resp: reqwest::Response) -> Self {
        Events {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    /// Reads until `done` says the events seen so far are enough.
    async fn until(&mut self, done: impl Fn(&[StatsStreamEvent]) -> bool) -> &[StatsStreamEvent] {
        while !done(&self.seen) {
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no event within 10 s; seen {:?}", self.seen))
                .expect("the stream goes on")
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    self.seen.push(
                        serde_json::from_str(data)
                            .unwrap_or_else(|e| panic!("{data} is not a StatsStreamEvent: {e}")),
                    );
                }
            }
        }
        &self.seen
    }
}

fn samples_of(events: &[StatsStreamEvent]) -> BTreeSet<(String, String)> {
    events
        .iter()
        .filter(|e| e.sample.is_some())
        .map(|e| (e.host.clone(), e.container.clone()))
        .collect()
}

db_test!(
    one_stream_carries_many_containers_on_shared_upstreams,
    |t: TestApp| async move {
        let s = serve(&t).await;
        let owner = t.owner().await;
        let a = FakeAgent::start().await;
        let b = FakeAgent::start().await;
        let ha = a.join(&t, &owner.token, "node-a", &[]).await;
        let hb = b.join(&t, &owner.token, "node-b", &[]).await;
        a.add_container("web", "running");
        a.add_container("db", "running");
        b.add_container("web", "running");
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{}/api/v1", s.port);

        // Someone already watches a/web on its own page.
        let single = client
            .get(format!("{base}/hosts/{ha}/containers/web/stats/stream"))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(single.status(), 200);

        let url = format!(
            "{base}/stats/stream?container={ha}/web&container={ha}/db&container={hb}/web&container={ha}/nope&container={ha}/web"
        );
        let mux = client
            .get(&url)
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(mux.status(), 200);
        assert_eq!(mux.headers()["content-type"], "text/event-stream");
        let want: BTreeSet<(String, String)> = [
            (ha.clone(), "web".to_string()),
            (ha.clone(), "db".to_string()),
            (hb.clone(), "web".to_string()),
        ]
        .into();
        // Two samples of each, and the missing container's problem.
        let mut mux = Events::new(mux);
        let events = mux
            .until(|evs| {
                let twice = want.iter().all(|k| {
                    evs.iter()
                        .filter(|e| e.sample.is_some() && (&e.host, &e.container) == (&k.0, &k.1))
                        .count()
                        >= 2
                });
                twice && evs.iter().any(|e| e.container == "nope")
            })
            .await
            .to_vec();
        assert_eq!(samples_of(&events), want);
        let nope: Vec<_> = events.iter().filter(|e| e.container == "nope").collect();
        assert_eq!(nope.len(), 1, "{nope:?}");
        let p = nope[0].problem.as_ref().expect("a problem for nope");
        assert_eq!(p.status, 404);
        assert!(p.detail.contains("nope"), "{p:?}");
        assert!(nope[0].ended && nope[0].sample.is_none());
        for e in events.iter().filter(|e| e.sample.is_some()) {
            assert!(e.sample.as_ref().unwrap().cpu_percent > 0.0);
            assert!(!e.ended && e.problem.is_none());
        }

        // One upstream per container: a/web is shared with the single viewer,
        // and the repeated a/web in the query did not open a second one.
        assert_eq!(a.state.streams_opened.load(Ordering::Relaxed), 2);
        assert_eq!(b.state.streams_opened.load(Ordering::Relaxed), 1);
        assert_eq!(t.state.streams.open_streams(), 3);

        // The single viewer leaves: a/web stays open for the multiplexed one.
        drop(single);
        // Negative check, not synchronisation: give a wrong close of a/web
        // the time to happen (the server sees the client go at once).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(t.state.streams.open_streams(), 3);
        assert_eq!(a.state.streams_open.load(Ordering::Relaxed), 2);
        // It still gets a/web's samples.
        let before = mux.seen.len();
        mux.until(|evs| {
            evs[before..]
                .iter()
                .any(|e| e.sample.is_some() && e.host == ha && e.container == "web")
        })
        .await;

        // A second multiplexed viewer joins the same upstreams; when every
        // viewer has gone, every upstream closes.
        let again = client
            .get(format!(
                "{base}/stats/stream?container={ha}/web&container={hb}/web"
            ))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        let mut again = Events::new(again);
        again.until(|evs| samples_of(evs).len() == 2).await;
        assert_eq!(a.state.streams_opened.load(Ordering::Relaxed), 2);
        assert_eq!(b.state.streams_opened.load(Ordering::Relaxed), 1);
        drop(mux);
        drop(again);
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.state.streams.open_streams() > 0
            || a.state.streams_open.load(Ordering::Relaxed) > 0
            || b.state.streams_open.load(Ordering::Relaxed) > 0
        {
            assert!(Instant::now() < deadline, "upstreams still open");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
);

db_test!(
    hosts_out_of_scope_and_bad_queries_are_refused,
    |t: TestApp| async move {
        let owner = t.owner().await;
        let a = FakeAgent::start().await;
        let b = FakeAgent::start().await;
        let ha = a.join(&t, &owner.token, "node-a", &["blue"]).await;
        let hb = b.join(&t, &owner.token, "node-b", &["green"]).await;
        a.add_container("web", "running");
        b.add_container("web", "running");
        let viewer = t
            .user("viewer", &[(Role::Viewer, Scope::Group("blue".into()))])
            .await;

        // In scope: allowed (only the head is read: the body never ends).
        use tower::ServiceExt;
        let req = axum::http::Request::get(format!("/api/v1/stats/stream?container={ha}/web"))
            .header("authorization", format!("Bearer {}", viewer.token))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = t.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        drop(resp);

        // One host out of scope refuses the whole call, by id or by name,
        // before any upstream opens; it reads like an unknown host.
        let opened = b.state.streams_opened.load(Ordering::Relaxed);
        for q in [
            format!("container={ha}/web&container={hb}/web"),
            "container=node-b/web".to_string(),
            "container=no-such-host/web".to_string(),
        ] {
            let r = t
                .get(&format!("/api/v1/stats/stream?{q}"), &viewer.token)
                .await;
            assert_eq!(r.status, 404, "{q}: {}", r.text());
            assert!(r.detail().starts_with("no host"), "{q}: {}", r.text());
        }
        assert_eq!(b.state.streams_opened.load(Ordering::Relaxed), opened);

        // Not logged in.
        let r = t
            .call(
                axum::http::Method::GET,
                &format!("/api/v1/stats/stream?container={ha}/web"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 401);

        // Bad queries name what was wrong.
        let many: Vec<String> = (0..101).map(|i| format!("container={ha}/c{i}")).collect();
        for (q, want) in [
            (String::new(), "at least one"),
            (format!("container={ha}"), "is not <host>/<container>"),
            (
                format!("container={ha}/bad%20name"),
                "invalid container name",
            ),
            (
                format!("container={ha}/web&window=1h"),
                "unknown query parameter",
            ),
            (many.join("&"), "at most 100"),
        ] {
            let r = t
                .get(&format!("/api/v1/stats/stream?{q}"), &viewer.token)
                .await;
            assert_eq!(r.status, 400, "{q}: {}", r.text());
            assert!(r.detail().contains(want), "{q}: {}", r.text());
        }
    }
);
