//! A viewer sees no button its role forbids, and a request forged from its
//! browser session is refused by the server all the same.

use anyhow::{Result, ensure};
use berth_e2e::browser::{Browser, import_busybox, owner_stack, run_container, user_with_role};
use berth_e2e::is_root;

const VIEWER_PASSWORD: &str = "viewer password 1";
const DEPLOYER_PASSWORD: &str = "deployer password 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_viewer_sees_no_forbidden_buttons_and_forgery_fails() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    let id = run_container(&stack, &host.id, "guarded", &image, &["sleep", "600"]).await?;
    user_with_role(&stack, "vera", VIEWER_PASSWORD, "viewer").await?;

    let b = Browser::start(&stack.url, "viewer").await?;
    let r = async {
        b.login("vera", VIEWER_PASSWORD).await?;
        b.goto("/containers").await?;
        b.wait("[data-testid=container-row][data-name=guarded]").await?;
        for forbidden in [
            "[data-testid=new-container]",
            "[data-testid=container-row] [data-testid=start]",
            "[data-testid=container-row] [data-testid=stop]",
            "[data-testid=container-row] [data-testid=delete]",
        ] {
            ensure!(!b.exists(forbidden).await?, "a viewer sees {forbidden}");
        }
        b.screenshot("containers").await?;

        b.goto(&format!("/hosts/{}/containers/guarded", host.id)).await?;
        b.wait_text("[data-testid=container-state]", "running").await?;
        ensure!(
            b.all("[data-testid=container-actions] button").await?.is_empty(),
            "a viewer sees container actions"
        );
        b.click("[data-testid=tab-console]").await?;
        ensure!(!b.exists("[data-testid=console-connect]").await?, "a viewer can open a console");
        b.goto(&format!("/hosts/{}/images", host.id)).await?;
        b.wait("[data-testid=image-row]").await?;
        ensure!(!b.exists("[data-testid=pull-form]").await?, "a viewer sees the pull form");
        ensure!(!b.exists("[data-testid=remove-image]").await?, "a viewer sees remove");
        ensure!(!b.exists("nav a[href='/admin/users']").await?, "a viewer sees user admin");
        b.screenshot("images").await?;

        // Forged: the same call the hidden button would make, with the
        // session cookie and the CSRF header.
        let status = b
            .eval(&format!(
                "return fetch('/api/v1/hosts/{}/containers/{id}/stop', {{method: 'POST', headers: {{'X-Berth-CSRF': '1'}}}}).then(r => r.status);",
                host.id
            ))
            .await?;
        ensure!(status == 403, "a viewer's forged stop answered {status}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let r = b.finish(r, &stack).await;
    r?;

    // Without the CSRF header the cookie alone is not enough, even for a role
    // that may delete: a deployer's cookie-only DELETE is refused, and the
    // same DELETE with the header goes through (so the 403 is the CSRF rule,
    // not RBAC).
    user_with_role(&stack, "dora", DEPLOYER_PASSWORD, "deployer").await?;
    let victim = run_container(&stack, &host.id, "csrf-victim", &image, &["sleep", "600"]).await?;
    let b = Browser::start(&stack.url, "deployer-csrf").await?;
    let r = async {
        b.login("dora", DEPLOYER_PASSWORD).await?;
        b.goto("/containers").await?;
        b.wait("[data-testid=container-row][data-name=csrf-victim]").await?;
        let url = format!("/api/v1/hosts/{}/containers/{victim}?force=true", host.id);
        let answer = b
            .eval(&format!(
                "return fetch('{url}', {{method: 'DELETE'}}).then(async r => [r.status, await r.text()]);"
            ))
            .await?;
        ensure!(
            answer[0] == 403
                && answer[1]
                    .as_str()
                    .unwrap_or("")
                    .to_ascii_lowercase()
                    .contains("x-berth-csrf"),
            "a deployer's cookie-only DELETE answered {answer}"
        );
        let c: serde_json::Value = stack
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/hosts/{}/containers/{victim}", host.id),
                None::<&()>,
            )
            .await?
            .map_err(|p| anyhow::anyhow!("{p}"))?;
        ensure!(c["state"] == "running", "after the refused DELETE the container is {}", c["state"]);
        let status = b
            .eval(&format!(
                "return fetch('{url}', {{method: 'DELETE', headers: {{'X-Berth-CSRF': '1'}}}}).then(r => r.status);"
            ))
            .await?;
        ensure!(status == 204, "the deployer's DELETE with the CSRF header answered {status}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await?;
    // Still running: nothing the viewer did reached the container.
    let c: serde_json::Value = stack
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/hosts/{}/containers/{id}", host.id),
            None::<&()>,
        )
        .await?
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    ensure!(c["state"] == "running", "the container is {}", c["state"]);
    Ok(())
}
