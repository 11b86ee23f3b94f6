//! Server-sent event streams (logs, stats, metrics, pull progress), read with
//! `fetch` rather than `EventSource`: fetch can POST (a pull is a POST whose
//! answer is the progress stream), shows the problem+json of a refused
//! stream instead of a bare "error", and stops at once when aborted.
//!
//! The parser follows the WHATWG "server-sent events" interpretation rules:
//! events end at a blank line, `data:` lines join with `\n`, lines starting
//! with `:` are comments (keep-alives).

use std::cell::RefCell;
use std::rc::Rc;

use gloo_net::http::{Method, RequestBuilder};
use gloo_timers::future::TimeoutFuture;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, AbortSignal, ReadableStreamDefaultReader, ReadableStreamReadResult,
};

use crate::api::{self, ApiError};

/// What a stream reports to its reader.
#[derive(Debug, Clone)]
pub enum StreamEvent<T> {
    /// The server accepted the stream (again, after a reconnect).
    Open,
    /// One decoded event.
    Data(T),
    /// The server refused, the connection broke, or an event said `error`.
    Failed(ApiError),
    /// The server ended the stream.
    Closed,
}

/// Stops the stream when dropped: keep it as long as the page shows it.
pub struct StreamHandle {
    controller: Option<AbortController>,
}

impl StreamHandle {
    pub fn stop(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How to open a stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub method: Method,
    pub body: Option<String>,
    /// Reconnect (with back-off) when the connection breaks; never after a
    /// 4xx refusal.
    pub reconnect: bool,
}

impl StreamOptions {
    /// A GET stream that reconnects: live metrics and logs.
    pub fn live() -> Self {
        Self {
            method: Method::GET,
            body: None,
            reconnect: true,
        }
    }

    /// A POST whose answer is a stream, read once: a pull.
    pub fn post(body: String) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            reconnect: false,
        }
    }
}

/// One raw event: its `event:` name (default `message`) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub name: String,
    pub data: String,
}

/// Incremental SSE parser: feed bytes, take complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Adds bytes and returns every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<RawEvent> {
        // `\r\n` and `\n` both end lines; dropping every CR keeps the two
        // halves of a CRLF split across chunks from looking like a blank line.
        self.buf
            .extend(bytes.iter().copied().filter(|&b| b != b'\r'));
        let mut out = Vec::new();
        while let Some(end) = find_blank_line(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block[..end]);
            if let Some(ev) = parse_block(&text) {
                out.push(ev);
            }
        }
        out
    }
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n")
}

fn parse_block(text: &str) -> Option<RawEvent> {
    let mut name = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.is_empty() || line.starts_with(':') {
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
    if data.is_empty() {
        None
    } else {
        Some(RawEvent {
            name,
            data: data.join("\n"),
        })
    }
}

/// Events that carry no data for the reader: `end` (the stream is over)
/// and keep-alives.
pub fn is_control(name: &str) -> bool {
    matches!(name, "end" | "ping" | "keepalive" | "heartbeat")
}

/// Decodes one event: `error` events and bodies that are problems become
/// failures; anything else must be a `T`.
pub fn decode_event<T: DeserializeOwned>(ev: &RawEvent) -> Result<T, ApiError> {
    if ev.name == "error" {
        return Err(match serde_json::from_str::<berth_api::Problem>(&ev.data) {
            Ok(p) => ApiError::from(p),
            Err(_) => ApiError::local(ev.data.clone()),
        });
    }
    serde_json::from_str::<T>(&ev.data).map_err(|e| {
        match serde_json::from_str::<berth_api::Problem>(&ev.data) {
            Ok(p) => ApiError::from(p),
            Err(_) => ApiError::local(format!("unexpected event in the stream: {e}")),
        }
    })
}

type Callback<T> = Rc<RefCell<dyn FnMut(StreamEvent<T>)>>;

/// Opens the stream at API path `path`; `on_event` sees each event.
pub fn open<T, F>(path: String, opts: StreamOptions, on_event: F) -> StreamHandle
where
    T: DeserializeOwned + 'static,
    F: FnMut(StreamEvent<T>) + 'static,
{
    let controller = AbortController::new().ok();
    let signal = controller.as_ref().map(|c| c.signal());
    let cb: Callback<T> = Rc::new(RefCell::new(on_event));
    wasm_bindgen_futures::spawn_local(async move {
        let mut delay = 1000;
        loop {
            let result = run_once(&path, &opts, signal.as_ref(), &cb).await;
            let aborted = signal.as_ref().is_some_and(|s| s.aborted());
            if aborted {
                return;
            }
            let refused = match result {
                Ok(()) => {
                    (cb.borrow_mut())(StreamEvent::Closed);
                    false
                }
                Err(e) => {
                    let refused = (400..500).contains(&e.status);
                    (cb.borrow_mut())(StreamEvent::Failed(e));
                    refused
                }
            };
            if !opts.reconnect || refused {
                return;
            }
            TimeoutFuture::new(delay).await;
            delay = (delay * 2).min(15_000);
            if signal.as_ref().is_some_and(|s| s.aborted()) {
                return;
            }
        }
    });
    StreamHandle { controller }
}

async fn run_once<T: DeserializeOwned>(
    path: &str,
    opts: &StreamOptions,
    signal: Option<&AbortSignal>,
    cb: &Callback<T>,
) -> Result<(), ApiError> {
    let mut b = RequestBuilder::new(&api::full_url(path))
        .method(opts.method.clone())
        .header("Accept", "text/event-stream")
        .abort_signal(signal);
    if opts.method != Method::GET {
        b = b.header(crate::api::CSRF_HEADER, "1");
    }
    let req = match &opts.body {
        Some(body) => b
            .header("Content-Type", "application/json")
            .body(body.as_str()),
        None => b.build(),
    }
    .map_err(|e| ApiError::local(e.to_string()))?;
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::local(format!("the stream could not be opened: {e}")))?;
    if !resp.ok() {
        return Err(api::problem_of(resp).await);
    }
    (cb.borrow_mut())(StreamEvent::Open);
    let body = resp
        .body()
        .ok_or_else(|| ApiError::local("the stream has no body"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut parser = SseParser::default();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|_| ApiError::local("the stream broke off"))?;
        let chunk: ReadableStreamReadResult = chunk.unchecked_into();
        if chunk.get_done().unwrap_or(false) {
            return Ok(());
        }
        let bytes = js_sys::Uint8Array::new(&chunk.get_value()).to_vec();
        for ev in parser.feed(&bytes) {
            if is_control(&ev.name) {
                if ev.name == "end" {
                    // The server says it is done: no reconnect needed.
                    let _ = reader.cancel();
                    return Ok(());
                }
                continue;
            }
            let decoded = decode_event::<T>(&ev);
            let mut f = cb.borrow_mut();
            match decoded {
                Ok(v) => f(StreamEvent::Data(v)),
                Err(e) => f(StreamEvent::Failed(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b": keep-alive\n\ndata: {\"a\"").is_empty());
        let evs = p.feed(b":1}\r\n\r\nevent: error\ndata: x\ndata: y\n\n");
        assert_eq!(
            evs,
            vec![
                RawEvent {
                    name: "message".into(),
                    data: "{\"a\":1}".into()
                },
                RawEvent {
                    name: "error".into(),
                    data: "x\ny".into()
                }
            ]
        );
    }

    #[test]
    fn error_events_become_failures() {
        let ev = RawEvent {
            name: "error".into(),
            data: r#"{"type":"about:blank","title":"Bad Gateway","status":502,"detail":"host h1 failed"}"#.into(),
        };
        let e = decode_event::<serde_json::Value>(&ev).unwrap_err();
        assert_eq!(e.status, 502);
        assert_eq!(e.detail, "host h1 failed");
    }
}
