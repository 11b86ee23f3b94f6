//! The multiplexed live stats stream:
//! `GET /api/v1/stats/stream?container=<host>/<c>&container=...`.
//!
//! A browser opens at most six HTTP/1.1 connections per origin, so a page with
//! twenty live container graphs can't hold twenty SSE streams. This endpoint
//! carries many containers' samples in one response. Each container is
//! followed through the shared upstream hub (`streams`), under the same key as
//! the per-container `/stats/stream`, so a container watched here and on its
//! own page still costs its agent one stream.
//!
//! Authorization is per host, as on the per-container stream: every host the
//! query names must be one the caller may view, else the whole call is 404
//! (a host out of scope does not exist). A container that can't be followed
//! (no such container, its host is down) gets one event with the problem and
//! `ended: true`; the others go on. When every container's stream has ended
//! the response ends with `event: end`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use berth_api::Problem;
use berth_api::agent_api::AgentRequest;
use berth_api::containers::validate_container_name;
use berth_api::metrics::{STATS_STREAM_MAX_CONTAINERS, StatsStreamEvent};
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::authorize::HostsInQuery;
use super::proxy::shared_stream_events;
use crate::agents::HostClient;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;
use crate::streams::{END_EVENT, KEEP_ALIVE, is_comment, is_end, parse_block, sse_response};

/// Documents the query (the handler reads the raw pairs: `container` repeats).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsStreamQuery {
    /// `<host>/<container>`: a host id (or unique name) and a container id or
    /// name. Repeat it for each container, at most 100.
    #[param(schema_with = berth_api::schema::stats_stream_containers)]
    pub container: Vec<String>,
}

/// One container the query asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wanted {
    pub host: String,
    pub container: String,
}

/// Reads the query pairs: `container=<host>/<c>`, each once (repeats are
/// dropped), at least one and at most [`STATS_STREAM_MAX_CONTAINERS`].
pub fn parse_query(pairs: &[(String, String)]) -> ApiResult<Vec<Wanted>> {
    let mut out: Vec<Wanted> = Vec::new();
    for (k, v) in pairs {
        if k != "container" {
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter {k:?}: this stream takes container=<host>/<container>, repeated"
            )));
        }
        // Container names have no '/', so the last one splits.
        let Some((host, container)) = v.rsplit_once('/') else {
            return Err(ApiError::BadRequest(format!(
                "container={v:?} is not <host>/<container>"
            )));
        };
        if host.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "container={v:?} names no host (<host>/<container>)"
            )));
        }
        validate_container_name(container)
            .map_err(|e| ApiError::BadRequest(format!("container={v:?}: {e}")))?;
        let w = Wanted {
            host: host.to_string(),
            container: container.to_string(),
        };
        if !out.contains(&w) {
            out.push(w);
        }
    }
    if out.is_empty() {
        return Err(ApiError::BadRequest(
            "container: name at least one container as container=<host>/<container>".into(),
        ));
    }
    if out.len() > STATS_STREAM_MAX_CONTAINERS {
        return Err(ApiError::BadRequest(format!(
            "{} containers asked for; one stream follows at most {STATS_STREAM_MAX_CONTAINERS} (open another for the rest)",
            out.len()
        )));
    }
    Ok(out)
}

/// Live stats of many containers in one SSE stream (see the module docs).
#[utoipa::path(get, path = "/api/v1/stats/stream", tag = "containers",
    params(StatsStreamQuery),
    responses(
        (status = 200, description = "SSE: each data event is a StatsStreamEvent (one sample a second per container, \
            or a container's problem / end); `event: end` once every container's stream has ended",
            body = StatsStreamEvent, content_type = "text/event-stream"),
        (status = 400, description = "no container, a malformed one, or more than 100", body = berth_api::Problem),
        (status = 404, description = "a named host does not exist or is out of the caller's scope", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    hosts: HostsInQuery,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let wanted = parse_query(&pairs)?;
    // Every host first: one out of scope refuses the whole call, before any
    // upstream is opened.
    let mut clients: HashMap<String, Arc<HostClient>> = HashMap::new();
    for w in &wanted {
        if !clients.contains_key(&w.host) {
            let h = hosts.host(&state, &w.host).await?;
            clients.insert(w.host.clone(), state.agents.client(&h)?);
        }
    }
    let opened = futures::future::join_all(wanted.into_iter().map(|w| {
        let client = clients[&w.host].clone();
        let (state, p) = (&state, &hosts.principal);
        async move {
            // The same agent path and replay as the per-container stream, so
            // both share one upstream.
            let request = AgentRequest::stats_stream(&w.container);
            let events = shared_stream_events(state, p, client, request, 1).await;
            (w, events)
        }
    }))
    .await;
    let subs: Vec<BoxStream<'static, Bytes>> = opened
        .into_iter()
        .map(|(w, events)| match events {
            Ok(blocks) => container_events(w, blocks).boxed(),
            Err(e) => {
                let ev = event_block(&w, None, Some(e.problem()), true);
                futures::stream::iter([ev]).boxed()
            }
        })
        .collect();
    Ok(sse_response(merge(subs)))
}

/// One data block of the multiplexed stream.
fn event_block(w: &Wanted, sample: Option<Value>, problem: Option<Problem>, ended: bool) -> Bytes {
    // The sample goes through as the agent sent it (fields this server does
    // not know yet included), hence a Value rather than a ContainerSample.
    let mut v = json!({"host": w.host, "container": w.container});
    if let Some(s) = sample {
        v["sample"] = s;
    }
    if let Some(p) = problem {
        v["problem"] = serde_json::to_value(p).unwrap_or(Value::Null);
    }
    if ended {
        v["ended"] = Value::Bool(true);
    }
    Bytes::from(format!("data: {v}\n\n"))
}

/// Re-labels one container's shared stream: samples become
/// `{host, container, sample}`, an `error` event `{host, container, problem}`,
/// and its end (or a broken stream) `{host, container, ended: true}`.
fn container_events(
    w: Wanted,
    blocks: BoxStream<'static, Bytes>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    futures::stream::unfold(Some((w, blocks)), |st| async move {
        let (w, mut blocks) = st?;
        loop {
            let Some(block) = blocks.next().await else {
                let ev = event_block(&w, None, None, true);
                return Some((ev, None));
            };
            if is_comment(&block) {
                continue;
            }
            if is_end(&block) {
                let ev = event_block(&w, None, None, true);
                return Some((ev, None));
            }
            let (name, data) = parse_block(&block);
            let ev = if name == "error" {
                let problem = serde_json::from_str::<Problem>(&data).unwrap_or_else(|_| {
                    Problem::new(502, format!("the host's stream failed: {data}"))
                        .with_host(&w.host)
                });
                event_block(&w, None, Some(problem), false)
            } else {
                match serde_json::from_str::<Value>(&data) {
                    Ok(sample) => event_block(&w, Some(sample), None, false),
                    Err(e) => {
                        tracing::warn!(host = %w.host, container = %w.container, error = %e,
                            "a stats event of the host is not JSON; skipped");
                        continue;
                    }
                }
            };
            return Some((ev, Some((w, blocks))));
        }
    })
}

/// Merges the containers' streams into one: blocks that are ready together
/// (an agent samples every container in one round) go out as one chunk, a
/// keep-alive comment while all are idle, and `event: end` once all ended.
fn merge(subs: Vec<BoxStream<'static, Bytes>>) -> impl Stream<Item = Bytes> + Send + 'static {
    let all = futures::stream::select_all(subs).ready_chunks(STATS_STREAM_MAX_CONTAINERS);
    futures::stream::unfold(Some(all), |st| async move {
        let mut all = st?;
        tokio::select! {
            chunk = all.next() => match chunk {
                Some(blocks) => {
                    let mut out = BytesMut::new();
                    for b in blocks {
                        out.extend_from_slice(&b);
                    }
                    Some((out.freeze(), Some(all)))
                }
                None => Some((Bytes::from_static(END_EVENT), None)),
            },
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                Some((Bytes::from_static(b": keep-alive\n\n"), Some(all)))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(vals: &[&str]) -> Vec<(String, String)> {
        vals.iter()
            .map(|v| ("container".to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_host_and_container_pairs() {
        let w = parse_query(&q(&["h1/web", "h2/db", "h1/web"])).unwrap();
        assert_eq!(
            w,
            vec![
                Wanted {
                    host: "h1".into(),
                    container: "web".into()
                },
                Wanted {
                    host: "h2".into(),
                    container: "db".into()
                },
            ]
        );
        // A host name with a slash still splits at the container.
        assert_eq!(parse_query(&q(&["a/b/c1"])).unwrap()[0].host, "a/b");
    }

    #[test]
    fn refuses_what_it_cannot_follow() {
        for (pairs, want) in [
            (vec![], "at least one"),
            (q(&["web"]), "is not <host>/<container>"),
            (q(&["/web"]), "names no host"),
            (q(&["h1/"]), "invalid container name"),
            (q(&["h1/we b"]), "invalid container name"),
            (
                vec![("host".to_string(), "h1".to_string())],
                "unknown query parameter",
            ),
        ] {
            let e = parse_query(&pairs).unwrap_err();
            assert!(
                matches!(e, ApiError::BadRequest(_)) && e.to_string().contains(want),
                "{pairs:?}: {e}"
            );
        }
        let many: Vec<String> = (0..=STATS_STREAM_MAX_CONTAINERS)
            .map(|i| format!("h/c{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(
            parse_query(&q(&many))
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
    }

    #[tokio::test]
    async fn relabels_samples_errors_and_ends() {
        let w = Wanted {
            host: "h1".into(),
            container: "web".into(),
        };
        let blocks = futures::stream::iter([
            Bytes::from_static(b": keep-alive\n\n"),
            Bytes::from_static(b"data: {\"cpu_percent\":2.5,\"new_field\":1}\n\n"),
            Bytes::from_static(b"event: error\ndata: {\"type\":\"about:blank\",\"title\":\"Bad Gateway\",\"status\":502,\"detail\":\"gone\"}\n\n"),
            Bytes::from_static(END_EVENT),
            Bytes::from_static(b"data: {\"late\":true}\n\n"),
        ])
        .boxed();
        let out: Vec<Value> = container_events(w, blocks)
            .map(|b| {
                let (_, data) = parse_block(&b);
                serde_json::from_str(&data).unwrap()
            })
            .collect()
            .await;
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0]["host"], "h1");
        assert_eq!(out[0]["container"], "web");
        assert_eq!(out[0]["sample"]["cpu_percent"], 2.5);
        assert_eq!(out[0]["sample"]["new_field"], 1, "unknown fields pass");
        assert_eq!(out[1]["problem"]["detail"], "gone");
        assert_eq!(out[2]["ended"], true);
        let typed: StatsStreamEvent = serde_json::from_value(out[2].clone()).unwrap();
        assert!(typed.ended && typed.sample.is_none());
    }

    #[tokio::test]
    async fn merged_stream_ends_after_every_container() {
        let a = futures::stream::iter([Bytes::from_static(b"data: 1\n\n")]).boxed();
        let b = futures::stream::iter([Bytes::from_static(b"data: 2\n\n")]).boxed();
        let all: Vec<Bytes> = merge(vec![a, b]).collect().await;
        let text: String = all.iter().map(|b| String::from_utf8_lossy(b)).collect();
        assert!(
            text.contains("data: 1\n\n") && text.contains("data: 2\n\n"),
            "{text}"
        );
        assert!(
            text.ends_with(std::str::from_utf8(END_EVENT).unwrap()),
            "{text}"
        );
    }
}
