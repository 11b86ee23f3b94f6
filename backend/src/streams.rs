//! Shared upstream streams: one SSE subscription to an agent per (host,
//! stream) serves every viewer, so a hundred open dashboards cost the agent
//! one stream (docs/architecture.md, "The backend").
//!
//! The first viewer opens the upstream; its failure (404, host down) is that
//! viewer's HTTP error. Each stream keeps its last few events (the log tail,
//! the latest sample) and replays them to viewers who join later. When the
//! last viewer leaves, the upstream is closed; when the upstream ends
//! (`event: end`), every viewer gets the end and the stream is forgotten.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use berth_api::Problem;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::{OnceCell, broadcast};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Sent to idle viewers so proxies keep the connection.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The last event of every stream.
pub const END_EVENT: &[u8] = b"event: end\ndata: {}\n\n";

/// Which stream: the host and the agent path with its query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub host: String,
    pub path: String,
}

#[derive(Debug, Clone)]
enum Event {
    /// One SSE event block, `\n\n` included.
    Data(Bytes),
    End,
}

struct Shared {
    tx: broadcast::Sender<Event>,
    /// Recent events, and whether the stream has ended.
    replay: Mutex<(VecDeque<Bytes>, bool)>,
    replay_cap: usize,
    opened: OnceCell<Result<(), Problem>>,
    cancel: CancellationToken,
    viewers: Mutex<usize>,
}

/// Every shared stream of this replica.
#[derive(Default)]
pub struct StreamHub {
    streams: Mutex<HashMap<StreamKey, Arc<Shared>>>,
}

impl std::fmt::Debug for StreamHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHub").finish_non_exhaustive()
    }
}

/// Leaves the stream when the viewer's response body is dropped.
struct Viewer {
    hub: Arc<StreamHub>,
    key: StreamKey,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.metrics.viewer_left();
        let mut map = self.hub.streams.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = self
            .shared
            .viewers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.shared.cancel.cancel();
            if map
                .get(&self.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
            {
                map.remove(&self.key);
            }
        }
    }
}

impl StreamHub {
    /// Number of open upstreams (for tests and metrics).
    pub fn open_streams(&self) -> usize {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Joins the stream `key`, opening it with `open` if nobody watches it
    /// yet, and answers the viewer's SSE response.
    pub async fn watch<F, Fut>(
        self: &Arc<Self>,
        key: StreamKey,
        replay_cap: usize,
        metrics: Arc<Metrics>,
        open: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<reqwest::Response, ApiError>>,
    {
        let events = self.join(key, replay_cap, metrics, open).await?;
        Ok(sse_response(events))
    }

    /// Joins the stream `key` as [`StreamHub::watch`] does, but gives the
    /// viewer's event blocks (replay first, keep-alive comments while idle,
    /// [`END_EVENT`] last) instead of a response, for callers that merge
    /// several streams into one. Dropping the stream leaves it.
    pub async fn join<F, Fut>(
        self: &Arc<Self>,
        key: StreamKey,
        replay_cap: usize,
        metrics: Arc<Metrics>,
        open: F,
    ) -> Result<BoxStream<'static, Bytes>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<reqwest::Response, ApiError>>,
    {
        let shared = {
            let mut map = self.streams.lock().unwrap_or_else(|e| e.into_inner());
            let shared = map
                .entry(key.clone())
                .or_insert_with(|| {
                    Arc::new(Shared {
                        tx: broadcast::channel(256).0,
                        replay: Mutex::new((VecDeque::new(), false)),
                        replay_cap: replay_cap.max(1),
                        opened: OnceCell::new(),
                        cancel: CancellationToken::new(),
                        viewers: Mutex::new(0),
                    })
                })
                .clone();
            *shared.viewers.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            shared
        };
        metrics.viewer_joined();
        let viewer = Viewer {
            hub: self.clone(),
            key: key.clone(),
            shared: shared.clone(),
            metrics: metrics.clone(),
        };
        let opened = shared
            .opened
            .get_or_init(|| async {
                match open().await {
                    Ok(resp) => {
                        metrics.upstream_opened();
                        tokio::spawn(pump(
                            self.clone(),
                            key.clone(),
                            shared.clone(),
                            resp,
                            metrics.clone(),
                        ));
                        Ok(())
                    }
                    Err(e) => Err(e.problem()),
                }
            })
            .await
            .clone();
        if let Err(p) = opened {
            // Forget the failed stream so the next viewer tries again.
            let mut map = self.streams.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &shared)) {
                map.remove(&key);
            }
            drop(map);
            drop(viewer);
            return Err(problem_error(p));
        }
        let (replay, ended, rx) = {
            let g = shared.replay.lock().unwrap_or_else(|e| e.into_inner());
            (g.0.clone(), g.1, shared.tx.subscribe())
        };
        Ok(viewer_stream(viewer, replay, ended, rx).boxed())
    }
}

fn problem_error(p: Problem) -> ApiError {
    match p.host {
        Some(host) => ApiError::Host {
            status: p.status,
            host,
            detail: p.detail,
        },
        None => ApiError::Internal(p.detail),
    }
}

/// An SSE response around a stream of event blocks.
pub fn sse_response<S>(events: S) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let mut resp = Response::new(Body::from_stream(events.map(Ok::<_, Infallible>)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn viewer_stream(
    viewer: Viewer,
    replay: VecDeque<Bytes>,
    ended: bool,
    rx: broadcast::Receiver<Event>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    struct St {
        _viewer: Viewer,
        replay: VecDeque<Bytes>,
        ended: bool,
        done: bool,
        rx: broadcast::Receiver<Event>,
    }
    let st = St {
        _viewer: viewer,
        replay,
        ended,
        done: false,
        rx,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(b) = st.replay.pop_front() {
            return Some((b, st));
        }
        if st.ended {
            st.done = true;
            return Some((Bytes::from_static(END_EVENT), st));
        }
        loop {
            tokio::select! {
                r = st.rx.recv() => match r {
                    Ok(Event::Data(b)) => return Some((b, st)),
                    Ok(Event::End) | Err(broadcast::error::RecvError::Closed) => {
                        st.done = true;
                        return Some((Bytes::from_static(END_EVENT), st));
                    }
                    // A slow viewer skips what it missed.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                },
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    return Some((Bytes::from_static(b": keep-alive\n\n"), st));
                }
            }
        }
    })
}

/// Splits a byte stream into SSE event blocks (each ending in `\n\n`);
/// comment-only blocks are dropped.
#[derive(Default)]
pub struct SseSplitter {
    buf: BytesMut,
}

impl SseSplitter {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        self.buf
            .extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        let mut out = Vec::new();
        while let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let block = self.buf.split_to(i + 2).freeze();
            if !is_comment(&block) {
                out.push(block);
            }
        }
        out
    }
}

/// Is this block the stream's `event: end`?
pub fn is_end(block: &[u8]) -> bool {
    block
        .split(|b| *b == b'\n')
        .any(|l| l == b"event: end" || l == b"event:end")
}

/// The event name (`message` when none is given) and the joined `data:`
/// lines of one block.
pub fn parse_block(block: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(block);
    let mut name = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => name = value.to_string(),
            "data" => data.push(value),
            _ => {}
        }
    }
    (name, data.join("\n"))
}

/// Is this block only comments (a keep-alive)?
pub fn is_comment(block: &[u8]) -> bool {
    block
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .all(|l| l.starts_with(b":"))
}

/// An `event: error` block carrying a problem.
pub fn error_event(p: &Problem) -> Bytes {
    Bytes::from(format!(
        "event: error\ndata: {}\n\n",
        serde_json::to_string(p).unwrap_or_else(|_| "{}".into())
    ))
}

async fn pump(
    hub: Arc<StreamHub>,
    key: StreamKey,
    shared: Arc<Shared>,
    resp: reqwest::Response,
    metrics: Arc<Metrics>,
) {
    let mut body = resp.bytes_stream();
    let mut split = SseSplitter::default();
    let publish = |ev: Event| {
        let mut g = shared.replay.lock().unwrap_or_else(|e| e.into_inner());
        match &ev {
            Event::Data(b) => {
                if g.0.len() == shared.replay_cap {
                    g.0.pop_front();
                }
                g.0.push_back(b.clone());
            }
            Event::End => g.1 = true,
        }
        let _ = shared.tx.send(ev);
    };
    'outer: loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => break 'outer,
            chunk = body.next() => match chunk {
                Some(Ok(c)) => {
                    for block in split.push(&c) {
                        if is_end(&block) {
                            break 'outer;
                        }
                        publish(Event::Data(block));
                    }
                }
                Some(Err(e)) => {
                    let p = Problem::new(502, format!("the host's stream failed: {e}")).with_host(&key.host);
                    publish(Event::Data(error_event(&p)));
                    break 'outer;
                }
                None => break 'outer,
            }
        }
    }
    publish(Event::End);
    metrics.upstream_closed();
    let mut map = hub.streams.lock().unwrap_or_else(|e| e.into_inner());
    if map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &shared)) {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_chunks() {
        let mut s = SseSplitter::default();
        assert!(s.push(b"data: {\"a\"").is_empty());
        let v = s.push(b":1}\n\n: ping\n\ndata: 2\r\n\r\nevent: end\ndata: {}\n\n");
        assert_eq!(v.len(), 3);
        assert_eq!(&v[0][..], b"data: {\"a\":1}\n\n");
        assert_eq!(&v[1][..], b"data: 2\n\n");
        assert!(is_end(&v[2]));
        assert!(!is_end(&v[0]));
    }

    #[test]
    fn blocks_read_as_name_and_data() {
        assert_eq!(
            parse_block(b"event: error\ndata: {\"a\":\ndata: 1}\n\n"),
            ("error".to_string(), "{\"a\":\n1}".to_string())
        );
        assert_eq!(
            parse_block(b": hi\ndata:{}\n\n"),
            ("message".to_string(), "{}".to_string())
        );
        assert!(is_comment(b": keep-alive\n\n"));
        assert!(!is_comment(b"data: 1\n\n"));
    }

    type Chunks = futures::channel::mpsc::UnboundedSender<Result<Bytes, std::io::Error>>;

    /// An upstream answer whose body is what the test sends on the channel:
    /// no socket, so tokio's paused clock only moves when every task waits.
    fn upstream() -> (Chunks, reqwest::Response) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let body = reqwest::Body::wrap_stream(rx);
        (tx, reqwest::Response::from(http::Response::new(body)))
    }

    fn key() -> StreamKey {
        StreamKey {
            host: "h1".into(),
            path: "/v1/containers/web/stats/stream".into(),
        }
    }

    async fn open(
        hub: &Arc<StreamHub>,
        resp: Option<reqwest::Response>,
    ) -> BoxStream<'static, Bytes> {
        let metrics = Arc::new(Metrics::default());
        hub.join(key(), 2, metrics, || async move {
            resp.ok_or_else(|| ApiError::Internal("opened twice".into()))
        })
        .await
        .expect("joined")
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_viewer_gets_a_keep_alive_every_15_s() {
        let hub = Arc::new(StreamHub::default());
        let (tx, resp) = upstream();
        let mut viewer = open(&hub, Some(resp)).await;
        tx.unbounded_send(Ok(Bytes::from_static(b"data: 1\n\n")))
            .unwrap();
        assert_eq!(&viewer.next().await.unwrap()[..], b"data: 1\n\n");
        // Nothing for just under KEEP_ALIVE, then the comment, on time.
        let idle = tokio::time::Instant::now();
        let early = tokio::time::timeout(KEEP_ALIVE - Duration::from_millis(1), viewer.next());
        assert!(early.await.is_err(), "a keep-alive came early");
        assert_eq!(&viewer.next().await.unwrap()[..], b": keep-alive\n\n");
        assert_eq!(idle.elapsed(), KEEP_ALIVE);
        // An event in between starts the idle time again.
        tokio::time::sleep(KEEP_ALIVE / 2).await;
        tx.unbounded_send(Ok(Bytes::from_static(b"data: 2\n\n")))
            .unwrap();
        assert_eq!(&viewer.next().await.unwrap()[..], b"data: 2\n\n");
        let idle = tokio::time::Instant::now();
        assert_eq!(&viewer.next().await.unwrap()[..], b": keep-alive\n\n");
        assert_eq!(idle.elapsed(), KEEP_ALIVE);
        // The upstream's end ends the viewer's stream.
        drop(tx);
        assert_eq!(&viewer.next().await.unwrap()[..], END_EVENT);
        assert!(viewer.next().await.is_none());
        assert_eq!(hub.open_streams(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_viewer_gets_the_replay_and_the_last_to_leave_closes_the_upstream() {
        let hub = Arc::new(StreamHub::default());
        let (tx, resp) = upstream();
        let mut first = open(&hub, Some(resp)).await;
        for n in 1..=3 {
            tx.unbounded_send(Ok(Bytes::from(format!("data: {n}\n\n"))))
                .unwrap();
            assert_eq!(first.next().await.unwrap(), format!("data: {n}\n\n"));
        }
        // The same upstream (a second open would fail), replaying the last
        // two events (the cap) before the live ones.
        let mut late = open(&hub, None).await;
        assert_eq!(&late.next().await.unwrap()[..], b"data: 2\n\n");
        assert_eq!(&late.next().await.unwrap()[..], b"data: 3\n\n");
        tx.unbounded_send(Ok(Bytes::from_static(b"data: 4\n\n")))
            .unwrap();
        assert_eq!(&late.next().await.unwrap()[..], b"data: 4\n\n");
        assert_eq!(&first.next().await.unwrap()[..], b"data: 4\n\n");
        assert_eq!(hub.open_streams(), 1);
        drop(first);
        assert_eq!(hub.open_streams(), 1, "one viewer is left");
        drop(late);
        assert_eq!(hub.open_streams(), 0);
        // The pump lets go of the upstream's body: the agent sees it close.
        tokio::time::timeout(Duration::from_secs(1), async {
            while !tx.is_closed() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the upstream was not closed");
    }
}
