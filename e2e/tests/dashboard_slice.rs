//! The foundation slice in headless Chromium, as a person would do it: set
//! up the owner with the setup token, see the local host online, import a
//! busybox image by file upload, create a container with `sleep 600` and a
//! 64 MiB memory limit, see it running, stop it, delete it. A screenshot of
//! each page lands in `target/e2e/`.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use berth_e2e::browser::Browser;
use berth_e2e::{Stack, busybox_tarball, is_root};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_slice_setup_import_create_stop_delete() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root to run containers");
        return Ok(());
    }
    let tar = busybox_tarball()?;
    let stack = Stack::start().await?;
    let b = Browser::start(&stack.url, "slice").await?;
    let r = run(&stack, &b, &tar).await;
    b.finish(r, &stack).await
}

async fn run(stack: &Stack, b: &Browser, tar: &std::path::Path) -> Result<()> {
    // A private page without a session goes to the login page, keeping it.
    b.goto("/containers").await?;
    b.wait("#login-username").await?;
    ensure!(
        b.path().await?.starts_with("/login?next=%2Fcontainers"),
        "expected a redirect to the login page, at {}",
        b.path().await?
    );

    // Setup with the token from the data dir.
    b.goto("/setup").await?;
    b.screenshot("setup").await?;
    b.fill("#setup-token", &stack.setup_token()?).await?;
    b.fill("#setup-username", "admin").await?;
    b.fill("#setup-password", PASSWORD).await?;
    b.fill("#setup-again", PASSWORD).await?;
    b.click("form button[type=submit]").await?;
    b.wait_text("[data-testid=username]", "admin").await?;

    // The local host is online.
    b.click("nav a[href='/hosts']").await?;
    // The page refreshes the list every 15 s; the agent may still be joining.
    b.wait_until_for(
        "the local host online",
        "return document.querySelector('[data-testid=host-row][data-status=online]') !== null;",
        Duration::from_secs(60),
    )
    .await?;
    b.screenshot("hosts").await?;

    // Import busybox through the upload form of the images page.
    b.click("nav a[href$='/images']").await?;
    let input = b.wait("#import-file").await?;
    input
        .send_keys(tar.to_str().context("tarball path is not UTF-8")?)
        .await?;
    b.click("[data-testid=import-submit]").await?;
    b.wait("[data-testid=image-row]").await?;
    b.screenshot("images").await?;
    let refs = b
        .wait("[data-testid=image-row]")
        .await?
        .attr("data-refs")
        .await?
        .unwrap_or_default();
    let image = refs
        .split(", ")
        .next()
        .filter(|r| !r.is_empty() && *r != "<none>")
        .context("the imported image has no reference")?
        .to_string();

    // Create `sleep 600` with 64 MiB.
    b.click("nav a[href='/containers']").await?;
    b.click("[data-testid=new-container]").await?;
    b.fill("#c-image", &image).await?;
    b.fill("#c-name", "web1").await?;
    b.fill("#c-cmd", "sleep 600").await?;
    b.fill("#c-memory", "64m").await?;
    b.fill("#c-pids", "64").await?;
    b.screenshot("create").await?;
    b.click("[data-testid=create-submit]").await?;
    b.wait_text("[data-testid=container-state]", "running")
        .await?;
    b.wait_text("[data-testid=container-limits]", "memory 64.0 MiB")
        .await?;
    b.screenshot("container").await?;

    // In the table: running; stop; delete.
    b.click("nav a[href='/containers']").await?;
    b.wait("[data-testid=container-row][data-name=web1][data-state=running]")
        .await?;
    b.screenshot("containers").await?;
    b.click("[data-testid=container-row][data-name=web1] [data-testid=stop]")
        .await?;
    b.wait("[data-testid=container-row][data-name=web1][data-state=stopped]")
        .await?;
    b.click("[data-testid=container-row][data-name=web1] [data-testid=delete]")
        .await?;
    b.click("[data-testid=container-row][data-name=web1] [data-testid=confirm-yes]")
        .await?;
    b.wait_until(
        "web1 gone from the table",
        "return document.querySelector('[data-testid=container-row][data-name=web1]') === null;",
    )
    .await?;
    b.screenshot("deleted").await?;
    Ok(())
}
