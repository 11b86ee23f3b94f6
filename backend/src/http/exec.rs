//! `GET .../containers/{c}/exec`: a WebSocket relayed to the agent's exec
//! WebSocket. Binary frames are the terminal's bytes, text frames are
//! `{"resize":[cols,rows]}`; both pass through unchanged. The agent side is
//! opened first, so a missing container is a plain HTTP error, not a socket
//! that closes at once.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::proxy::{client_for, pairs};
use crate::agents::HostClient;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::rbac::Action;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExecQuery {
    /// The command (default: the agent's, `/bin/sh`).
    pub cmd: Option<String>,
    /// Allocate a terminal.
    pub tty: Option<bool>,
}

type Upstream = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

async fn connect_agent(c: &HostClient, url: reqwest::Url, sub: &str) -> ApiResult<Upstream> {
    let fail = |detail: String| ApiError::Host {
        status: 502,
        host: c.host_id.clone(),
        detail,
    };
    let host = url
        .host_str()
        .ok_or_else(|| fail("the host's address has no host name".into()))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| c.timeout_error(std::time::Duration::from_secs(5)))?
    .map_err(|e| fail(format!("host {} is unreachable: {e}", c.name)))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.clone())
        .map_err(|e| fail(format!("bad host name {host:?}: {e}")))?;
    let tls = TlsConnector::from(c.ws_tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| fail(format!("TLS with host {} failed: {e}", c.name)))?;
    let mut ws_url = url.clone();
    let _ = ws_url.set_scheme("wss");
    let mut req = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| fail(format!("bad exec URL: {e}")))?;
    let bearer = c.bearer(sub)?;
    req.headers_mut().insert(
        "authorization",
        bearer
            .parse()
            .map_err(|_| ApiError::internal("bearer header"))?,
    );
    match tokio_tungstenite::client_async(req, tls).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            Err(c.answer_error(status, &body))
        }
        Err(e) => Err(fail(format!("exec on host {} failed: {e}", c.name))),
    }
}

/// Opens a terminal in a container (deployers): a WebSocket.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}/exec", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name"), ExecQuery),
    responses((status = 101, description = "WebSocket: binary frames are the terminal, text frames {\"resize\":[cols,rows]}"),
        (status = 400, description = "not a WebSocket request", body = berth_api::Problem),
        (status = 404, body = berth_api::Problem), (status = 409, description = "not running", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn exec(
    State(state): State<AppState>,
    p: Principal,
    Path((host, name)): Path<(String, String)>,
    Query(q): Query<ExecQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let (_, c) = client_for(&state, &p, &host, Action::Exec).await?;
    let ws = ws.map_err(|e| {
        ApiError::BadRequest(format!("exec needs a WebSocket request: {}", e.body_text()))
    })?;
    let query = pairs(&[("cmd", q.cmd), ("tty", q.tty.map(|b| b.to_string()))]);
    let url = c.url(&["v1", "containers", &name, "exec"], &query);
    let upstream = connect_agent(&c, url, &p.username).await?;
    let metrics = state.metrics.clone();
    Ok(ws
        .on_upgrade(move |socket| async move {
            metrics.viewer_joined();
            relay(socket, upstream).await;
            metrics.viewer_left();
        })
        .into_response())
}

fn to_upstream(m: Message) -> Option<tungstenite::Message> {
    Some(match m {
        Message::Text(t) => tungstenite::Message::text(t.as_str()),
        Message::Binary(b) => tungstenite::Message::binary(b),
        Message::Ping(b) => tungstenite::Message::Ping(b),
        Message::Pong(b) => tungstenite::Message::Pong(b),
        Message::Close(f) => {
            tungstenite::Message::Close(f.map(|f| tungstenite::protocol::CloseFrame {
                code: f.code.into(),
                reason: f.reason.as_str().into(),
            }))
        }
    })
}

fn to_client(m: tungstenite::Message) -> Option<Message> {
    Some(match m {
        tungstenite::Message::Text(t) => Message::Text(t.as_str().into()),
        tungstenite::Message::Binary(b) => Message::Binary(b),
        tungstenite::Message::Ping(b) => Message::Ping(b),
        tungstenite::Message::Pong(b) => Message::Pong(b),
        tungstenite::Message::Close(f) => Message::Close(f.map(|f| CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        tungstenite::Message::Frame(_) => return None,
    })
}

async fn relay(client: WebSocket, upstream: Upstream) {
    let (mut c_tx, mut c_rx) = client.split();
    let (u_tx, mut u_rx) = upstream.split();
    let u_tx = Arc::new(tokio::sync::Mutex::new(u_tx));
    let up = {
        let u_tx = u_tx.clone();
        async move {
            while let Some(Ok(m)) = c_rx.next().await {
                let close = matches!(m, Message::Close(_));
                if let Some(m) = to_upstream(m)
                    && u_tx.lock().await.send(m).await.is_err()
                {
                    break;
                }
                if close {
                    break;
                }
            }
        }
    };
    let down = async move {
        while let Some(Ok(m)) = u_rx.next().await {
            let close = matches!(m, tungstenite::Message::Close(_));
            if let Some(m) = to_client(m)
                && c_tx.send(m).await.is_err()
            {
                break;
            }
            if close {
                break;
            }
        }
        let _ = c_tx.close().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    let _ = u_tx.lock().await.close().await;
}
