//! The container page: state and actions, live graphs, logs that follow
//! (search, pause), the console (`echo hi` shows `hi`), namespaces, cgroup
//! and inspect; and the frame time while its graphs update.

use std::time::Duration;

use anyhow::{Result, ensure};
use berth_e2e::browser::{
    Browser, OWNER_PASSWORD, import_busybox, owner_stack, record_metric, run_container,
};
use berth_e2e::is_root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_container_logs_console_namespaces_inspect() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    run_container(
        &stack,
        &host.id,
        "app1",
        &image,
        &[
            "sh",
            "-c",
            "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done",
        ],
    )
    .await?;
    let b = Browser::start(&stack.url, "container").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        let page = format!("/hosts/{}/containers/app1", host.id);
        b.goto(&page).await?;
        b.wait_text("[data-testid=container-state]", "running").await?;

        // Graphs get points; measure frames while they update.
        b.wait_text("[data-testid=live-status]", "live").await?;
        b.wait_until_for(
            "stats points",
            "return Number(document.querySelector('[data-testid=graph]').dataset.points) >= 2;",
            Duration::from_secs(20),
        )
        .await?;
        let frames = b.frame_times(5000).await?;
        record_metric("container_page_frames", frames.clone())?;
        ensure!(
            frames["p95_ms"].as_f64().unwrap_or(999.0) < 50.0,
            "janky frames while graphs update: {frames}"
        );
        b.screenshot("stats").await?;

        // Logs follow; search narrows; pause holds new lines.
        b.click("[data-testid=tab-logs]").await?;
        b.wait_text("[data-testid=log-view]", "tick-2").await?;
        b.fill("#log-search", "tick-1").await?;
        b.wait_until(
            "search narrows the lines",
            "return Array.from(document.querySelectorAll('[data-testid=log-view] .line')).every(l => l.textContent.includes('tick-1'));",
        )
        .await?;
        b.fill("#log-search", "").await?;
        b.click("[data-testid=log-pause]").await?;
        b.wait_text("[data-testid=log-status]", "paused").await?;
        b.wait_until_for(
            "lines waiting while paused",
            "return !document.querySelector('[data-testid=log-status]').textContent.includes('(0 new');",
            Duration::from_secs(10),
        )
        .await?;
        b.click("[data-testid=log-pause]").await?;
        b.screenshot("logs").await?;

        // The console.
        b.click("[data-testid=tab-console]").await?;
        b.click("[data-testid=console-connect]").await?;
        b.wait_text("[data-testid=console-status]", "connected").await?;
        b.wait(".xterm-helper-textarea").await?;
        b.wait_until(
            "the terminal has focus",
            "return document.activeElement && document.activeElement.classList.contains('xterm-helper-textarea');",
        )
        .await?;
        b.client()
            .active_element()
            .await?
            .send_keys("echo hi\n")
            .await?;
        b.wait_until(
            "hi on its own line",
            "return Array.from(document.querySelectorAll('.xterm-rows > div')).some(r => r.textContent.trim() === 'hi');",
        )
        .await?;
        b.screenshot("console").await?;

        // Namespaces: the seven, the isolated ones marked own.
        b.click("[data-testid=tab-namespaces]").await?;
        b.wait("[data-testid=container-ns] tr[data-ns=pid][data-shared=false]")
            .await?;
        b.screenshot("namespaces").await?;

        // cgroup and inspect.
        b.click("[data-testid=tab-cgroup]").await?;
        b.wait("[data-testid=cg-node]").await?;
        b.click("[data-testid=tab-inspect]").await?;
        b.wait_text("[data-testid=inspect-json]", "\"name\": \"app1\"").await?;

        // Actions: stop, then start again.
        b.click("[data-testid=action-stop]").await?;
        b.wait_text("[data-testid=container-state]", "stopped").await?;
        b.click("[data-testid=action-start]").await?;
        b.wait_text("[data-testid=container-state]", "running").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
