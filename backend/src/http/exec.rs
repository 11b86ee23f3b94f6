//! `GET .../containers/{c}/exec`: a WebSocket relayed to the agent's exec
//! WebSocket. Binary frames are the terminal's bytes, text frames are
//! `{"resize":[cols,rows]}`; both pass through unchanged. The agent side is
//! opened first, so a missing container is a plain HTTP error, not a socket
//! that closes at once.
//!
//! A browser's WebSocket carries the session cookie of any page on the same
//! site (another port of the same host is same-site), so a cookie alone does
//! not open a terminal: the caller first gets a single-use ticket with
//! `POST .../exec-ticket` (a mutation, so it needs the CSRF header, which a
//! foreign page cannot send) and passes it as `?ticket=`. Tickets live 30 s,
//! are bound to the user, host, container, `cmd` and `tty`, and are kept
//! (hashed) in the database, so a ticket issued by one replica works once on
//! any replica behind the same load balancer. Bearer callers (scripts) need
//! no ticket: a bearer header is never sent by a browser on its own.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::agent_api::{self, AgentApi};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite;

use super::authorize::OnHost;
use crate::agents::api::Upstream;
use crate::audit::AuditCtx;
use crate::auth::{Credential, Principal, secret_hash};
use crate::db::{self, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, OptionalJson, Path, Query};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExecQuery {
    /// The command (default: the agent's, `/bin/sh`). At most 4096 bytes.
    #[param(max_length = 4096)]
    pub cmd: Option<String>,
    /// Allocate a terminal.
    pub tty: Option<bool>,
    /// A ticket from `POST .../exec-ticket`; required when the session
    /// cookie authenticates the call, ignored from bearer callers.
    pub ticket: Option<String>,
}

/// How long an exec ticket is valid.
pub const TICKET_TTL_MS: i64 = 30_000;
/// Longest `cmd` accepted.
pub const MAX_CMD_LEN: usize = 4096;

fn check_cmd(cmd: &Option<String>) -> ApiResult<()> {
    match cmd {
        Some(c) if c.len() > MAX_CMD_LEN => Err(ApiError::BadRequest(format!(
            "cmd: {} bytes is longer than the {MAX_CMD_LEN} allowed",
            c.len()
        ))),
        _ => Ok(()),
    }
}

/// The exec a ticket is bound to, as stored.
fn exec_params(cmd: &Option<String>, tty: Option<bool>) -> String {
    serde_json::json!({ "cmd": cmd, "tty": tty }).to_string()
}

/// What the audit log shows of an exec: its command line.
fn audit_detail(cmd: &Option<String>, tty: Option<bool>) -> String {
    let cmd = match cmd.as_deref() {
        Some(c) if !c.trim().is_empty() => c.to_string(),
        _ => "(default shell)".to_string(),
    };
    format!("cmd: {cmd}; tty: {}", tty.unwrap_or(false))
}

/// Issues a single-use exec ticket (deployers): the browser's way to open
/// the exec WebSocket.
#[utoipa::path(post, path = "/api/v1/hosts/{host}/containers/{c}/exec-ticket", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name")),
    request_body(content = berth_api::containers::ExecTicketRequest, description = "the exec the ticket is for (cmd at most 4096 bytes); may be empty"),
    responses((status = 201, description = "a ticket, valid once within 30 s for this user, host, container, cmd and tty", body = berth_api::containers::ExecTicket),
        (status = 400, body = berth_api::Problem), (status = 403, body = berth_api::Problem),
        (status = 404, body = berth_api::Problem), (status = 415, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn exec_ticket(
    State(state): State<AppState>,
    OnHost {
        host: h,
        principal: p,
    }: OnHost,
    audit: AuditCtx,
    Path((_host, name)): Path<(String, String)>,
    OptionalJson(req): OptionalJson<berth_api::containers::ExecTicketRequest>,
) -> ApiResult<Response> {
    check_cmd(&req.cmd)?;
    audit.set_detail(audit_detail(&req.cmd, req.tty));
    let ticket = format!("berthexec_{}", hex::encode(rand::random::<[u8; 32]>()));
    let now = now_ms();
    let expires = now + TICKET_TTL_MS;
    sqlx::query("DELETE FROM exec_tickets WHERE expires_at <= $1")
        .bind(now)
        .execute(&state.db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO exec_tickets (id, user_id, host_id, container, exec_params, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(secret_hash(&ticket))
    .bind(&p.user_id)
    .bind(&h.id)
    .bind(&name)
    .bind(exec_params(&req.cmd, req.tty))
    .bind(expires)
    .execute(&state.db.pool)
    .await?;
    let body = berth_api::containers::ExecTicket {
        ticket,
        expires_at: db::time(expires),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Consumes a ticket: it must exist, be unexpired, and match the caller and
/// the exec asked for. Whatever the outcome, the ticket is gone after.
async fn redeem_ticket(
    state: &AppState,
    p: &Principal,
    host_id: &str,
    container: &str,
    q: &ExecQuery,
) -> ApiResult<()> {
    use sqlx::Row;
    let refuse = |why: &str| {
        Err(ApiError::Forbidden(format!(
            "a WebSocket authenticated by the session cookie needs a valid exec ticket \
             (POST .../containers/{{c}}/exec-ticket, then ?ticket=): {why}"
        )))
    };
    let Some(ticket) = q.ticket.as_deref().filter(|t| !t.is_empty()) else {
        return refuse("no ticket given");
    };
    let id = secret_hash(ticket);
    let row = sqlx::query(
        "SELECT user_id, host_id, container, exec_params, expires_at FROM exec_tickets WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else {
        return refuse("unknown or already used ticket");
    };
    // Single use: only the caller whose DELETE removed the row may go on
    // (two replicas racing for one ticket: one wins).
    let gone = sqlx::query("DELETE FROM exec_tickets WHERE id = $1")
        .bind(&id)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
    if gone != 1 {
        return refuse("unknown or already used ticket");
    }
    let get = |c: &str| row.try_get::<String, _>(c).unwrap_or_default();
    let expires_at: i64 = row.try_get("expires_at").unwrap_or(0);
    if expires_at <= now_ms() {
        return refuse("the ticket has expired (they last 30 s)");
    }
    if get("user_id") != p.user_id {
        return refuse("the ticket was issued to another user");
    }
    if get("host_id") != host_id || get("container") != container {
        return refuse("the ticket is for another container");
    }
    if get("exec_params") != exec_params(&q.cmd, q.tty) {
        return refuse("the ticket is for another cmd or tty");
    }
    Ok(())
}

/// Opens a terminal in a container (deployers): a WebSocket.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}/exec", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name"), ExecQuery),
    responses((status = 101, description = "WebSocket: binary frames are the terminal, text frames {\"resize\":[cols,rows]}"),
        (status = 400, description = "not a WebSocket request", body = berth_api::Problem),
        (status = 403, description = "not allowed; or authenticated by cookie without a valid exec ticket, or from a foreign Origin", body = berth_api::Problem),
        (status = 404, body = berth_api::Problem), (status = 409, description = "not running", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn exec(
    State(state): State<AppState>,
    on: OnHost,
    audit: AuditCtx,
    Path((_host, name)): Path<(String, String)>,
    Query(q): Query<ExecQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let detail = audit_detail(&q.cmd, q.tty);
    audit.set_detail(&detail);
    let r = open_exec(state, on, name, q, ws).await;
    if let Err(e) = &r {
        audit.set_detail(format!("{detail}; refused: {e}"));
    }
    r
}

async fn open_exec(
    state: AppState,
    on: OnHost,
    name: String,
    q: ExecQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    check_cmd(&q.cmd)?;
    let c = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    if matches!(
        p.credential,
        Credential::Session {
            via_cookie: true,
            ..
        }
    ) {
        redeem_ticket(&state, &p, &h.id, &name, &q).await?;
    }
    let ws = ws.map_err(|e| {
        ApiError::BadRequest(format!("exec needs a WebSocket request: {}", e.body_text()))
    })?;
    let query = agent_api::ExecQuery {
        cmd: q.cmd.into_iter().collect(),
        tty: q.tty.unwrap_or(true),
    };
    let upstream = c
        .call(&p.username, state.config.fanout_deadline())
        .exec(&name, &query)
        .await?;
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
