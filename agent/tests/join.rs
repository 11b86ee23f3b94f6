//! `join` against a real HTTPS server: the certificate is pinned by the
//! token's fingerprint (a mismatch aborts with a clear message), the
//! registration carries the secret, facts and the agent's certificate, and
//! join.json is written private. Needs no root.

mod common;

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use berth_agent::config::Config;
use berth_agent::join::{JoinState, join};
use berth_api::agent::{RegisterRequest, RegisterResponse};
use tokio_util::sync::CancellationToken;

fn token(url: &str, fingerprint: &str, secret: &str) -> String {
    let json = serde_json::json!({"url": url, "fingerprint": fingerprint, "secret": secret});
    format!(
        "berthjoin1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_pins_the_server_and_saves_the_key() -> anyhow::Result<()> {
    common::install_crypto();
    let server_dir = tempfile::tempdir()?;
    let server = berth_agent::tls::load_or_create(server_dir.path(), &[])?;
    let key = common::ServerKey::new("ignored");
    let seen: Arc<Mutex<Option<RegisterRequest>>> = Arc::default();
    let seen2 = seen.clone();
    let public = key.public_pem.clone();
    let app = Router::new().route(
        "/api/v1/hosts/register",
        post(move |Json(req): Json<RegisterRequest>| {
            let seen = seen2.clone();
            let public = public.clone();
            async move {
                let ok = req.secret == "s3cret";
                *seen.lock().unwrap() = Some(req);
                if ok {
                    Ok(Json(RegisterResponse {
                        host_id: "h-42".into(),
                        server_public_key_pem: public,
                    }))
                } else {
                    Err((
                        axum::http::StatusCode::UNAUTHORIZED,
                        Json(berth_api::Problem::new(401, "unknown join token")),
                    ))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    tokio::spawn(berth_agent::server::serve(
        listener,
        server.server_config()?,
        app,
        stop.clone(),
    ));

    let data = tempfile::tempdir()?;
    let mut config = Config::with_data_dir(data.path());
    config.listen = "127.0.0.1:7999".parse()?;
    config.name = Some("node-1".into());

    // A fingerprint that is not the server's aborts before anything is sent.
    let wrong = "ab".repeat(32);
    let e = join(&config, &token(&url, &wrong, "s3cret"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "server certificate fingerprint mismatch: expected {wrong}, got {}",
            server.fingerprint()
        )),
        "{e}"
    );
    assert!(seen.lock().unwrap().is_none());

    // A refused secret: the server's detail comes through.
    let e = join(&config, &token(&url, server.fingerprint(), "nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("unknown join token"), "{e}");

    // The real thing.
    let state = join(&config, &token(&url, server.fingerprint(), "s3cret")).await?;
    assert_eq!(state.host_id, "h-42");
    let req = seen.lock().unwrap().clone().unwrap();
    assert_eq!(req.name, "node-1");
    assert_eq!(req.address, "https://127.0.0.1:7999");
    assert!(req.runtimes.contains(&"berth".to_string()));
    assert!(req.facts.cpus >= 1 && req.facts.memory_bytes > 0);
    let agent_identity = berth_agent::tls::load_or_create(&config.paths().tls_dir(), &[])?;
    assert_eq!(req.certificate_pem, agent_identity.cert_pem);
    let saved = JoinState::load(&config.paths().join_file())?.unwrap();
    assert_eq!(saved, state);
    assert_eq!(saved.server_fingerprint, server.fingerprint());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(config.paths().join_file())?
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    stop.cancel();
    Ok(())
}
