//! The bind-mount policy, enforced by a real agent on its filesystem for
//! both runtimes: the host's secrets (/etc, /proc, the Docker socket...),
//! also through a symlink or `..`, are refused; with an allowlist (sent by
//! the server as `mount_allow`), only paths under it are accepted. Needs
//! root.

mod common;

use common::{TestAgent, is_root, skip};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_mounts_follow_the_hosts_policy() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (the agent makes cgroups and mounts)");
        return Ok(());
    }
    let agent = TestAgent::start("mountpol").await?;
    agent.import_busybox().await?;
    let tmp = tempfile::tempdir()?;
    let base = std::fs::canonicalize(tmp.path())?;
    let etc_link = base.join("etc-link");
    std::os::unix::fs::symlink("/etc", &etc_link)?;
    let allowed = base.join("allowed");
    let other = base.join("other");
    std::fs::create_dir_all(allowed.join("sub"))?;
    std::fs::create_dir_all(&other)?;
    std::os::unix::fs::symlink(&other, allowed.join("escape"))?;

    let spec = |source: &str, runtime: &str| {
        json!({"image": "busybox", "network": "none", "runtime": runtime,
               "mounts": [{"source": source, "target": "/mnt/x"}]})
    };
    let mut denied = vec![
        "/etc".to_string(),
        "/proc".into(),
        "/".into(),
        "/tmp/../etc".into(),
        etc_link.display().to_string(),
        format!("{}/", etc_link.display()),
    ];
    for s in ["/var/run/docker.sock", "/run/docker.sock"] {
        if std::path::Path::new(s).exists() {
            denied.push(s.into());
        }
    }
    for source in &denied {
        for runtime in ["berth", "docker"] {
            let (s, p) = agent
                .post_json("/v1/containers", &spec(source, runtime))
                .await?;
            assert_eq!(s, 422, "{source} {runtime}: {p}");
            assert!(
                p["detail"].as_str().unwrap_or("").contains("refused"),
                "{source} {runtime}: {p}"
            );
        }
    }
    // With an allowlist: only under it (symlinks resolved).
    let q = format!(
        "/v1/containers?mount_allow={}",
        allowed.display().to_string().replace('/', "%2F")
    );
    for source in [
        other.display().to_string(),
        allowed.join("escape").display().to_string(),
        "/etc".to_string(),
    ] {
        let (s, p) = agent.post_json(&q, &spec(&source, "berth")).await?;
        assert_eq!(s, 422, "{source}: {p}");
        assert!(
            p["detail"].as_str().unwrap_or("").contains("outside"),
            "{p}"
        );
    }
    // An allowed path works, and the container mounts the resolved path.
    let source = format!("{}/", allowed.join("sub").display());
    let (s, p) = agent.post_json(&q, &spec(&source, "berth")).await?;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let (_, c) = agent.get_json(&format!("/v1/containers/{id}")).await?;
    assert_eq!(
        c["spec"]["mounts"][0]["source"],
        allowed.join("sub").display().to_string()
    );
    // No allowlist: a plain directory is fine.
    let (s, p) = agent
        .post_json(
            "/v1/containers",
            &spec(&other.display().to_string(), "berth"),
        )
        .await?;
    assert_eq!(s, 201, "{p}");
    let id2 = p["id"].as_str().unwrap().to_string();
    for id in [id, id2] {
        assert_eq!(
            agent
                .delete(&format!("/v1/containers/{id}?force=true"))
                .await?,
            204
        );
    }
    Ok(())
}
