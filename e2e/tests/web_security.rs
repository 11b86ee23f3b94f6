//! Web attacks in a real browser:
//! - cross-site WebSocket hijacking: a page served from ANOTHER PORT of
//!   127.0.0.1 (the same site, so Chromium sends the victim's SameSite=Strict
//!   cookie along) opens the exec WebSocket and asks for an exec ticket; both
//!   are refused, and the server's audit log shows the refusal was of the
//!   victim's cookie (not a missing one). The dashboard's own console still
//!   works.
//! - a hostile agent's answers (HTML with inline and same-origin script, JS)
//!   opened in the browser through the server: no script runs.
//! - open redirect after login: `?next=` values pointing off-site land on
//!   the overview, a local one is followed.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, import_busybox, owner_stack, run_container};
use berth_e2e::is_root;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP server on a free 127.0.0.1 port answering every request with
/// `html`; stops when dropped.
struct Attacker {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn attacker(html: String) -> Result<Attacker> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(Attacker { port, task })
}

/// The hostile page: tries the console three ways and writes what happened
/// into `#ws`, `#ws-ticket` and `#ticket`.
fn hostile_page(server_port: u16, host: &str) -> String {
    let base = format!("127.0.0.1:{server_port}/api/v1/hosts/{host}/containers/victim");
    format!(
        r#"<!doctype html><title>free kittens</title>
<p id="ws">pending</p><p id="ws-ticket">pending</p><p id="ticket">pending</p>
<script>
function attack(id, url) {{
  const out = document.getElementById(id);
  let opened = false;
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {{ opened = true; out.textContent = 'OPENED'; ws.send(new TextEncoder().encode('echo hijacked\n')); }};
  ws.onclose = (e) => {{ if (!opened) out.textContent = 'refused ' + e.code; }};
}}
attack('ws', 'ws://{base}/exec?cmd=%2Fbin%2Fsh&tty=true');
attack('ws-ticket', 'ws://{base}/exec?cmd=%2Fbin%2Fsh&tty=true&ticket=berthexec_guess');
fetch('http://{base}/exec-ticket', {{
  method: 'POST', credentials: 'include',
  headers: {{'content-type': 'application/json', 'x-berth-csrf': '1'}},
  body: '{{"cmd":"/bin/sh","tty":true}}'
}}).then(r => r.text().then(t => {{ document.getElementById('ticket').textContent = 'GOT ' + r.status + ' ' + t; }}))
  .catch(e => {{ document.getElementById('ticket').textContent = 'refused ' + e; }});
</script>"#
    )
}

async fn wait_result(b: &Browser, id: &str) -> Result<String> {
    let v = b
        .wait_until(
            &format!("the page's #{id} result"),
            &format!(
                "const t = document.getElementById({id}).textContent; return t === 'pending' ? null : t;",
                id = json!(id)
            ),
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_websocket_cannot_be_hijacked_from_another_port() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    run_container(
        &stack,
        &host.id,
        "victim",
        &image,
        &["sh", "-c", "while true; do sleep 1; done"],
    )
    .await?;
    let evil = attacker(hostile_page(stack.port, &host.id)).await?;
    let b = Browser::start(&stack.url, "web-security").await?;
    let r = async {
        // The victim logs in to the dashboard: the session cookie is set.
        b.login("admin", OWNER_PASSWORD).await?;

        // ... and then visits a page on another port of the same host.
        b.client()
            .goto(&format!("http://127.0.0.1:{}/", evil.port))
            .await?;
        let ws = wait_result(&b, "ws").await?;
        let ws_ticket = wait_result(&b, "ws-ticket").await?;
        let ticket = wait_result(&b, "ticket").await?;
        b.screenshot("hijack-refused").await?;
        ensure!(ws.starts_with("refused"), "the hijacking WebSocket: {ws}");
        ensure!(
            ws_ticket.starts_with("refused"),
            "the hijacking WebSocket with a guessed ticket: {ws_ticket}"
        );
        ensure!(
            ticket.starts_with("refused"),
            "the foreign page got an exec ticket: {ticket}"
        );

        // The refusals were of the victim's cookie (a missing cookie would
        // be a 401 "not logged in"): the audit log has them as 403s for a
        // foreign Origin.
        let audit: Value = stack
            .api::<Value>(
                reqwest::Method::GET,
                "/api/v1/audit?action=container.exec",
                None::<&()>,
            )
            .await?
            .map_err(|p| anyhow::anyhow!("audit: {p}"))?;
        let items = audit["items"].as_array().context("audit items")?;
        let refused: Vec<&Value> = items
            .iter()
            .filter(|e| e["action"] == "container.exec")
            .collect();
        ensure!(
            refused.len() >= 2
                && refused.iter().all(|e| {
                    let d = e["detail"].as_str().unwrap_or_default();
                    e["status"] == 403
                        && (d.contains("cross-origin request refused")
                            || d.contains("this server's own pages"))
                }),
            "expected the hijack attempts as 403 cross-origin refusals: {refused:#?}"
        );

        // The dashboard's own console still works (it gets a ticket first).
        b.goto(&format!("/hosts/{}/containers/victim", host.id))
            .await?;
        b.wait_text("[data-testid=container-state]", "running").await?;
        b.click("[data-testid=tab-console]").await?;
        b.click("[data-testid=console-connect]").await?;
        b.wait_text("[data-testid=console-status]", "connected").await?;
        b.wait(".xterm-helper-textarea").await?;
        b.eval("document.querySelector('.xterm-helper-textarea').focus(); return true;")
            .await?;
        b.client()
            .active_element()
            .await?
            .send_keys("echo own-$((6*7))\n")
            .await?;
        b.wait_until(
            "the shell's answer own-42",
            "return Array.from(document.querySelectorAll('.xterm-rows > div')).some(r => r.textContent.trim() === 'own-42');",
        )
        .await?;
        b.screenshot("own-console").await?;
        Ok(())
    }
    .await;
    b.finish(r, &stack).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_next_never_leaves_the_site() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, _host) = owner_stack().await?;
    let b = Browser::start(&stack.url, "web-security-next").await?;
    let r = async {
        for (next, want) in [
            ("/%5Cevil.example", "/"),
            ("//evil.example", "/"),
            ("https://evil.example/", "/"),
            ("/%09/evil.example", "/"),
            ("/hosts", "/hosts"),
        ] {
            // A fresh, logged-out visit to the login page with ?next=.
            b.client().delete_all_cookies().await?;
            b.goto(&format!("/login?next={next}")).await?;
            b.fill("#login-username", "admin").await?;
            b.fill("#login-password", OWNER_PASSWORD).await?;
            b.click("form button[type=submit]").await?;
            b.wait("[data-testid=username]").await?;
            // Signed in, the login page navigates to `next`: wait until the
            // path is `want`, or the page has left the site.
            let site = format!("127.0.0.1:{}", stack.port);
            b.wait_until(
                &format!("?next={next} to lead to {want}"),
                &format!("return location.host !== {site:?} || location.pathname === {want:?};"),
            )
            .await?;
            let url = b.client().current_url().await?;
            ensure!(
                url.host_str() == Some("127.0.0.1") && url.port() == Some(stack.port),
                "?next={next} left the site: {url}"
            );
            ensure!(url.path() == want, "?next={next} led to {url}, not {want}");
        }
        Ok(())
    }
    .await;
    b.finish(r, &stack).await
}

/// What the hostile agent serves: a page whose inline script and
/// same-origin script (`../cgroups`, relayed from the agent too) would mark
/// the page if they ran.
const HOSTILE_PAGE: &str = "<!doctype html><html><head><title>relayed</title></head><body>\
<script src=\"../cgroups\"></script><script>document.title='pwned-inline';window.pwned=1;</script>\
<img src=x onerror=\"document.title='pwned-img'\"></body></html>";
const HOSTILE_JS: &str = "document.title='pwned-script';window.pwned=2;";

async fn hostile_answer(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path().to_string();
    if path == "/v1/info" {
        return axum::Json(json!({
            "host_id": "", "version": "0.1.0-hostile", "runtimes": ["berth"],
            "started_at": chrono::Utc::now(), "facts": facts(),
        }))
        .into_response();
    }
    if path.ends_with("/cgroups") {
        return ([("content-type", "application/javascript")], HOSTILE_JS).into_response();
    }
    ([("content-type", "text/html; charset=utf-8")], HOSTILE_PAGE).into_response()
}

fn facts() -> Value {
    json!({"kernel": "6.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "cgroup": "hybrid",
           "cpus": 1, "memory_bytes": 1u64 << 30, "hostname": "evil", "arch": "x86_64"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_agent_content_never_runs_in_the_browser() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    berth_server::tls::install_default_provider();
    let (stack, _host) = owner_stack().await?;
    // A hostile agent joins with a real join token, over pinned TLS.
    let jt: Value = stack
        .api::<Value>(
            reqwest::Method::POST,
            "/api/v1/hosts/join-tokens",
            Some(&json!({"groups": []})),
        )
        .await?
        .map_err(|p| anyhow::anyhow!("join token: {p}"))?;
    let payload = berth_server::agents::join::decode_token(jt["token"].as_str().unwrap_or(""))
        .context("decoding the join token")?;
    let dir = tempfile::tempdir()?;
    let id = berth_server::tls::load_identity(None, None, dir.path(), vec!["127.0.0.1".into()])?;
    let cert_pem = std::fs::read_to_string(dir.path().join("tls/server.crt"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    tokio::spawn(berth_server::server::serve(
        listener,
        axum::Router::new().fallback(hostile_answer),
        id.server_config()?,
        stop,
    ));
    let reg: Value = stack
        .api::<Value>(
            reqwest::Method::POST,
            "/api/v1/hosts/register",
            Some(&json!({
                "secret": payload.secret, "name": "evil", "address": format!("https://{addr}"),
                "facts": facts(), "runtimes": ["berth"], "certificate_pem": cert_pem,
                "agent_version": "0.1.0-hostile",
            })),
        )
        .await?
        .map_err(|p| anyhow::anyhow!("register: {p}"))?;
    let evil = reg["host_id"].as_str().context("host_id")?.to_string();

    let b = Browser::start(&stack.url, "web-security-agent").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        for path in [
            format!("/api/v1/hosts/{evil}/containers/page"),
            format!("/api/v1/hosts/{evil}/cgroups"),
        ] {
            b.client()
                .goto(&format!("{}{path}", stack.url))
                .await?;
            // Negative check, not synchronisation: `goto` returns once the
            // page has loaded; a script it held would have run by then, and
            // this leaves a timer or a late fetch of it the time to run too.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let v = b
                .eval("return [document.title, typeof window.pwned, document.contentType, document.body ? document.body.innerText : ''];")
                .await?;
            let title = v[0].as_str().unwrap_or_default();
            ensure!(!title.starts_with("pwned"), "{path}: a script ran: {v}");
            ensure!(v[1] == "undefined", "{path}: a script ran: {v}");
            ensure!(
                v[2] == "application/problem+json",
                "{path}: served as {}: {v}",
                v[2]
            );
            ensure!(
                v[3].as_str().unwrap_or_default().contains("not the expected JSON"),
                "{path}: {v}"
            );
        }
        b.screenshot("hostile-agent").await?;
        Ok(())
    }
    .await;
    b.finish(r, &stack).await
}
