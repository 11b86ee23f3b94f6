//! The API against its own OpenAPI document, on a throwaway stack (server,
//! local agent, SQLite, its own data dir, ports, cgroup parent and network
//! namespace, all removed when the stack drops, with every container the
//! fuzzer made):
//!
//! 1. `openapi-spec-validator` checks the served document;
//! 2. `schemathesis` reads it from the running server and calls every
//!    operation with generated data (examples, coverage, fuzzing, stateful
//!    phases; fixed seed, bounded time) as the owner, through an API token.
//!    The bar: no 5xx, every status documented, every body and content type
//!    as documented.
//!
//! Relayed routes reach the real agent: the `{host}`, `{c}` and `{image}`
//! path parameters are drawn, most of the time, from the real host, a
//! running container and its image (schemathesis dictionaries).
//!
//! The Python tools live in `target/py` (`scripts/setup.sh test`).
//! `BERTH_FUZZ_SECONDS` sets the time budget (default 100 s).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use berth_e2e::{Stack, StackOptions, artefacts_dir, busybox_tarball, is_root, workspace_root};
use serde_json::{Value, json};

const PASSWORD: &str = "fuzz-owner-password";
/// The fixed seed: a failure reproduces with the same seed and budget.
const SEED: u64 = 20261203;

/// Operations (by operationId) that are not fuzzed, and why.
const EXCLUDED: &[(&str, &str)] = &[
    (
        "hosts_delete",
        "DELETE /api/v1/hosts/{host} removes the local host: its agent forgets its join and every relayed route after it only answers 404",
    ),
    (
        "tokens_delete",
        "DELETE /api/v1/tokens/{id} learns the fuzzer's own token id from GET /api/v1/tokens and revokes it: every call after it is a 401",
    ),
    (
        "containers_exec",
        "GET .../exec is a WebSocket: schemathesis speaks plain HTTP only",
    ),
];

/// Schemathesis hooks: an image import's body is bytes (a tar), sent as is.
const HOOKS: &str = r#"import schemathesis
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")
"#;

fn python_tool(name: &str) -> PathBuf {
    workspace_root().join("target/py/bin").join(name)
}

/// The schemathesis configuration of this run.
fn config(token: &str, host: &str, containers: &[String], images: &[String]) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"seed = {SEED}
# One worker: hypothesis on two threads trips a CPython 3.11 AST bug
# ("AST constructor recursion depth mismatch"), and one is reproducible.
workers = 1
# Bounded per operation, so every operation gets its turn and the stateful
# phase runs within the time budget.
generation.max-examples = 20
request-timeout = 20
max-stream-events = 3
headers = {{ Authorization = "Bearer {token}" }}

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true

[dictionaries.hosts]
values = [{host:?}]
[dictionaries.containers]
values = [{containers}]
[dictionaries.images]
values = [{images}]
# A stop or restart waits `timeout` seconds for the container to exit
# before SIGKILL, by design; `sleep` ignores SIGTERM as PID 1, so a large
# one would only hold the call (and the budget) that long.
[dictionaries.stop_timeouts]
values = [0, 1, 2]

[parameters]
"path.host" = {{ dictionary = "hosts", probability = 0.85 }}
"path.c" = {{ dictionary = "containers", probability = 0.7 }}
"path.image" = {{ dictionary = "images", probability = 0.5 }}
"query.timeout" = {{ dictionary = "stop_timeouts", probability = 1.0 }}
"#,
        containers = list(containers),
        images = list(images),
    )
}

/// Runs a tool, echoing its output; fails when it does.
fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let started = Instant::now();
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- {what} ({:.0?}):\n{text}", started.elapsed());
    ensure!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    Ok(text)
}

/// Logs in, makes the objects the fuzzer aims at and an API token: (token,
/// host id, container names and ids, image reference and id).
async fn prepare(stack: &mut Stack) -> Result<(String, String, Vec<String>, Vec<String>)> {
    stack.login("admin", PASSWORD).await?;
    let host = stack
        .wait_local_host_online(Duration::from_secs(90))
        .await?;
    let imported = stack.import_image(&host.id, &busybox_tarball()?).await?;
    let image = imported["images"][0]["references"][0]
        .as_str()
        .context("the import named no image")?
        .to_string();
    let image_id = imported["images"][0]["id"].as_str().unwrap_or_default();
    let mut containers = Vec::new();
    for name in ["fuzz-a", "fuzz-b"] {
        let created: Value = stack
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/hosts/{}/containers?start=true", host.id),
                Some(&json!({"name": name, "image": image, "cmd": ["sleep", "3600"]})),
            )
            .await?
            .map_err(|p| anyhow::anyhow!("creating {name}: {p}"))?;
        containers.push(name.to_string());
        if let Some(id) = created["id"].as_str() {
            containers.push(id.to_string());
        }
    }
    let token: Value = stack
        .api(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(&json!({"name": "api-fuzz"})),
        )
        .await?
        .map_err(|p| anyhow::anyhow!("making the API token: {p}"))?;
    let token = token["token"].as_str().context("no token")?.to_string();
    Ok((
        token,
        host.id,
        containers,
        vec![image, image_id.to_string()],
    ))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_openapi_contract() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("needs root (the local agent runs containers)");
        return Ok(());
    }
    let (validator, fuzzer) = (
        python_tool("openapi-spec-validator"),
        python_tool("schemathesis"),
    );
    if !validator.is_file() || !fuzzer.is_file() {
        berth_testkit::skip(
            "openapi-spec-validator and schemathesis are not in target/py: run scripts/setup.sh test",
        );
        return Ok(());
    }
    let seconds: u64 = std::env::var("BERTH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut stack = Stack::start_with(StackOptions {
        admin_password: Some(PASSWORD.into()),
        ..Default::default()
    })
    .await?;
    let (token, host, containers, images) = prepare(&mut stack).await?;
    let work = tempfile::Builder::new().prefix("berth-fuzz-").tempdir()?;
    let doc_url = format!("{}/api/v1/openapi.json", stack.url);
    let doc = reqwest::get(&doc_url).await?.text().await?;
    let doc_file = write(work.path(), "openapi.json", &doc)?;
    run(
        Command::new(&validator).arg(&doc_file),
        "openapi-spec-validator",
    )?;

    let cfg = write(
        work.path(),
        "schemathesis.toml",
        &config(&token, &host, &containers, &images),
    )?;
    write(work.path(), "berth_fuzz_hooks.py", HOOKS)?;
    let report = artefacts_dir().join("schemathesis");
    let mut cmd = Command::new(&fuzzer);
    cmd.arg("--config-file").arg(&cfg).arg("run").arg(&doc_url);
    for (id, _why) in EXCLUDED {
        cmd.arg("--exclude-operation-id").arg(id);
    }
    let out = run(
        cmd.arg("--max-time")
            .arg(seconds.to_string())
            .arg("--report")
            .arg(std::env::var("BERTH_FUZZ_REPORT").unwrap_or_else(|_| "junit".into()))
            .arg("--report-dir")
            .arg(&report)
            .env("SCHEMATHESIS_HOOKS", "berth_fuzz_hooks")
            .env("PYTHONPATH", work.path())
            .current_dir(work.path()),
        "schemathesis",
    );
    if out.is_err() {
        eprintln!("--- the stack's log:\n{}", stack.log());
    }
    let out = out?;
    if out.contains("No operations") {
        bail!("schemathesis ran no operation");
    }
    stack.shutdown();
    Ok(())
}
