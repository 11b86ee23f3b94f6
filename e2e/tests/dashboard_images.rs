//! The images page: pull from a local `docker-registry` with live
//! per-layer progress, the list with the containers using each image, and a
//! remove that the server refuses while a container uses the image, with
//! its reason on the page.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, owner_stack, run_container};
use berth_e2e::{busybox_tarball, free_port, is_root};

/// Debian's docker-registry on a free port with a temporary store; killed
/// on drop.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Result<Registry> {
        let dir = tempfile::tempdir()?;
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("storage").display()
            ),
        )?;
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting /usr/bin/docker-registry (apt-get install docker-registry)")?;
        let mut r = Registry {
            child,
            addr,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&r.addr).is_ok() {
                return Ok(r);
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                // Another process took the port between free_port() and
                // the registry's bind: again on another port.
                if matches!(
                    std::net::TcpListener::bind(&r.addr),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
                ) {
                    drop(r);
                    return Self::start();
                }
                bail!("docker-registry exited ({status})");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("docker-registry did not listen on {}", r.addr)
    }

    fn push_tar(&self, tar: &std::path::Path, name: &str) -> Result<()> {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", tar.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .context("running skopeo")?;
        ensure!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_images_pull_progress_list_remove() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let registry = Registry::start()?;
    registry.push_tar(&busybox_tarball()?, "e2e/busybox:1")?;
    let (stack, host) = owner_stack().await?;
    // The registry is on 127.0.0.1: pulls reach it only once an admin
    // allows internal registries on the host.
    let patched: berth_api::hosts::Host = stack
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v1/hosts/{}", host.id),
            Some(&serde_json::json!({"allow_internal_registries": true})),
        )
        .await?
        .map_err(|p| anyhow::anyhow!("allowing internal registries: {}", p.detail))?;
    ensure!(patched.allow_internal_registries);
    let b = Browser::start(&stack.url, "images").await?;
    let reference = format!("{}/e2e/busybox:1", registry.addr);
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        b.goto(&format!("/hosts/{}/images", host.id)).await?;
        b.fill("#pull-ref", &reference).await?;
        b.click("[data-testid=pull-form] input[type=checkbox]").await?;
        b.click("[data-testid=pull-submit]").await?;
        // Progress appears, per layer, then the pull ends and the list has it.
        b.wait("[data-testid=pull-progress]").await?;
        b.wait("[data-testid=pull-layer] [role=progressbar]").await?;
        b.screenshot("pull-progress").await?;
        b.wait_until_for(
            "the pull done",
            "const p = document.querySelector('[data-testid=pull-progress]'); return p && p.dataset.status === 'done';",
            Duration::from_secs(60),
        )
        .await?;
        let row = format!("[data-testid=image-row][data-refs*='{}']", registry.addr);
        b.wait(&row).await?;
        let layers = b
            .eval("return Array.from(document.querySelectorAll('[data-testid=pull-layer] [role=progressbar]')).map(e => e.getAttribute('aria-valuenow'));")
            .await?;
        ensure!(
            layers.as_array().is_some_and(|l| !l.is_empty() && l.iter().all(|v| v == "100")),
            "every layer should end at 100 %, got {layers}"
        );
        b.screenshot("pulled").await?;

        // Used by a container: the list says so, and removing is refused.
        let used = stack
            .api::<serde_json::Value>(
                reqwest::Method::GET,
                &format!("/api/v1/hosts/{}/images", host.id),
                None::<&()>,
            )
            .await?
            .map_err(|p| anyhow::anyhow!("{p}"))?;
        let full_ref = used["items"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .flat_map(|i| i["references"].as_array().cloned().unwrap_or_default())
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .find(|r| r.contains(&registry.addr))
            })
            .context("the pulled image is not listed")?;
        run_container(&stack, &host.id, "user1", &full_ref, &["sleep", "600"]).await?;
        b.goto(&format!("/hosts/{}/images", host.id)).await?;
        b.wait(&format!("{row} td a .tag")).await?;
        b.click(&format!("{row} [data-testid=remove-image]")).await?;
        b.click(&format!("{row} [data-testid=confirm-yes]")).await?;
        let toast = b.text("[data-testid=toast-error]").await?;
        ensure!(
            !toast.trim().is_empty() && toast != "error",
            "the refusal should say why, got {toast:?}"
        );
        b.screenshot("remove-refused").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
