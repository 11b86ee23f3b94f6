//! The admin pages: users, teams and members, role bindings with a scope,
//! an API token shown once (and working), and the audit log with filters.

use anyhow::{Context, Result, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, owner_stack};
use berth_e2e::is_root;

const NEW_OWNER_PASSWORD: &str = "a new owner password 2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_admin_users_teams_roles_tokens_audit() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let b = Browser::start(&stack.url, "admin").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;

        // Users.
        b.goto("/admin/users").await?;
        b.fill("#u-name", "carol").await?;
        b.fill("#u-pass", "a long password 1").await?;
        b.click("[data-testid=user-form] button[type=submit]").await?;
        b.wait("[data-testid=user-row][data-name=carol]").await?;
        b.screenshot("users").await?;

        // Teams and a member.
        b.goto("/admin/teams").await?;
        b.fill("#t-name", "ops").await?;
        b.click("[data-testid=team-form] button[type=submit]").await?;
        let card = "[data-testid=team-card][data-name=ops]";
        b.wait(card).await?;
        let carol = b
            .eval("return Array.from(document.querySelectorAll('[data-testid=team-card][data-name=ops] select option')).find(o => o.textContent === 'carol').value;")
            .await?;
        let carol = carol.as_str().context("carol is not offered")?.to_string();
        b.select(&format!("{card} select"), &carol).await?;
        b.click(&format!("{card} form button[type=submit]")).await?;
        b.wait_text(&format!("{card} [data-testid=team-member]"), "carol")
            .await?;
        b.screenshot("teams").await?;

        // A role binding for the team on this host.
        b.goto("/admin/roles").await?;
        b.select("#rb-kind", "team").await?;
        b.wait("#rb-subject option:nth-child(2)").await?;
        let ops = b
            .eval("return Array.from(document.querySelectorAll('#rb-subject option')).find(o => o.textContent === 'ops').value;")
            .await?;
        b.select("#rb-subject", ops.as_str().context("ops is not offered")?)
            .await?;
        b.select("#rb-role", "operator").await?;
        b.select("#rb-scope", "host").await?;
        b.select("#rb-host", &host.id).await?;
        b.click("[data-testid=role-form] button[type=submit]").await?;
        b.wait_text("[data-testid=roles-table]", "team ops").await?;
        b.wait_text("[data-testid=roles-table]", &format!("host {}", host.id))
            .await?;
        b.screenshot("roles").await?;

        // A token, shown once, that works.
        b.goto("/admin/tokens").await?;
        b.fill("#tk-name", "ci").await?;
        b.click("[data-testid=token-form] button[type=submit]").await?;
        let token = b.text("[data-testid=token-secret]").await?;
        b.wait("[data-testid=token-created] button.primary").await?;
        b.screenshot("token").await?;
        let me = reqwest::Client::new()
            .get(format!("{}/api/v1/auth/me", stack.url))
            .bearer_auth(token.trim())
            .send()
            .await?;
        ensure!(me.status().is_success(), "the new token was refused: {}", me.status());
        b.goto("/admin/tokens").await?;
        b.wait("[data-testid=token-row]").await?;
        ensure!(
            !b.exists("[data-testid=token-secret]").await?,
            "the secret is shown again"
        );

        // The audit log, filtered by action.
        b.goto("/admin/audit").await?;
        b.wait("[data-testid=audit-row]").await?;
        b.fill("#a-action", "team.create").await?;
        b.click("[data-testid=audit-form] button[type=submit]").await?;
        b.wait_until(
            "only team.create rows",
            "const rows = document.querySelectorAll('[data-testid=audit-row]'); return rows.length > 0 && Array.from(rows).every(r => r.dataset.action === 'team.create');",
        )
        .await?;
        ensure!(b.path().await?.contains("action=team.create"), "filters are not in the URL");
        b.screenshot("audit").await?;

        // One's own password needs the current one: only one's own row asks
        // for it, and the server takes the change with it. (Last: the change
        // ends every session of the owner, this browser's too.)
        b.goto("/admin/users").await?;
        let me_row = "[data-testid=user-row][data-name=admin]";
        b.wait(&format!("{me_row} [data-testid=current-password]")).await?;
        ensure!(
            !b.exists("[data-testid=user-row][data-name=carol] [data-testid=current-password]")
                .await?,
            "another user's row asks for the current password"
        );
        b.fill(&format!("{me_row} [data-testid=current-password]"), OWNER_PASSWORD)
            .await?;
        b.fill(&format!("{me_row} input[placeholder='new password']"), NEW_OWNER_PASSWORD)
            .await?;
        b.eval(&format!(
            "Array.from(document.querySelectorAll('{me_row} button')).find(x => x.textContent === 'Set password').click(); return true;"
        ))
        .await?;
        let login = |password: &'static str| {
            let url = format!("{}/api/v1/auth/login", stack.url);
            async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&serde_json::json!({"username": "admin", "password": password}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        };
        // Wait for the page to say so before logging in: failed logins count
        // towards the owner's lockout.
        b.wait_text("[data-testid=toast-ok]", "admin: password set").await?;
        ensure!(login(NEW_OWNER_PASSWORD).await? == 200, "the new password does not work");
        ensure!(login(OWNER_PASSWORD).await? == 401, "the old password still works");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
