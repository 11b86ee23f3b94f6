//! The host page: the agent's version, live graphs that get new points (and
//! a 1 h / 24 h switch), the namespace view of a running container next to
//! the host's, the cgroup tree; the hosts page's agent version and its
//! join-token dialog.

use std::time::Duration;

use anyhow::{Result, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, import_busybox, owner_stack, run_container};
use berth_e2e::is_root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_host_graphs_namespaces_cgroups_join() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    run_container(&stack, &host.id, "ns1", &image, &["sleep", "600"]).await?;
    let b = Browser::start(&stack.url, "host").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        b.goto(&format!("/hosts/{}", host.id)).await?;
        agent_version_shown_not_flagged(&b).await?;

        // A graph gets new points from the stream.
        b.wait_text("[data-testid=live-status]", "live").await?;
        let count = "return Number(document.querySelector('[data-testid=graph]').dataset.points);";
        let first = b
            .wait_until("a first point", count)
            .await?
            .as_f64()
            .unwrap_or(0.0);
        let more = format!(
            "return Number(document.querySelector('[data-testid=graph]').dataset.points) > {first};"
        );
        b.wait_until_for("new points", &more, Duration::from_secs(15))
            .await?;
        b.screenshot("graphs").await?;
        b.click("[aria-label='History window'] button:nth-child(2)")
            .await?;
        b.wait("[aria-label='History window'] button:nth-child(2)[aria-pressed=true]")
            .await?;
        b.screenshot("graphs-24h").await?;

        // The namespace view: ns1's seven next to the host's, its own marked.
        b.click("[data-testid=tab-namespaces]").await?;
        let row = "[data-testid=ns-row][data-name=ns1]";
        b.wait(row).await?;
        for t in ["mnt", "uts", "ipc", "pid"] {
            let shared = b
                .wait(&format!("{row} td[data-ns={t}]"))
                .await?
                .attr("data-shared")
                .await?;
            ensure!(
                shared.as_deref() == Some("false"),
                "{t} of ns1 is shared={shared:?}"
            );
        }
        b.wait("[data-testid=lsns-table] [data-testid=ns-group]")
            .await?;
        b.click(".ns-help-box summary").await?;
        b.wait_text(".ns-help", "Process IDs").await?;
        b.screenshot("namespaces").await?;

        // The cgroup tree has the container's node.
        b.click("[data-testid=tab-cgroups]").await?;
        b.wait("[data-testid=cgroup-tree] [data-testid=cg-node]")
            .await?;
        b.wait_text("[data-testid=cgroup-tree]", "ns1").await?;
        b.screenshot("cgroups").await?;

        // The hosts list shows the agent's version too.
        b.goto("/hosts").await?;
        agent_version_shown_not_flagged(&b).await?;
        ensure!(
            !b.exists("[data-testid=only-outdated]").await?,
            "the filter for older agents shows with none"
        );

        // Join a host: the one-line install (pinned) first, then the
        // command for a host that has the agent already.
        b.click("[data-testid=join-host]").await?;
        b.fill("#join-groups", "edge").await?;
        b.click(".modal button[type=submit]").await?;
        b.wait_text(
            "[data-testid=install-command]",
            "curl --pinnedpubkey 'sha256//",
        )
        .await?;
        b.wait_text(
            "[data-testid=install-command]",
            "/install/agent.sh | sh -s -- berthjoin1.",
        )
        .await?;
        b.wait_text("[data-testid=join-command]", "berth-agent join")
            .await?;
        b.screenshot("join").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}

/// The local agent is this build: its version is the server's, shown
/// without the "older than the server" flag.
async fn agent_version_shown_not_flagged(b: &Browser) -> Result<()> {
    b.wait_text(
        "[data-testid=agent-version][data-outdated=false] [data-testid=agent-version-number]",
        berth_api::VERSION,
    )
    .await?;
    ensure!(
        !b.exists("[data-testid=agent-outdated]").await?,
        "the local agent is flagged as older than the server"
    );
    Ok(())
}
