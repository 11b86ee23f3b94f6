//! The overview page and the app's qualities: tiles with links, the first
//! paint time and wasm size (recorded in target/e2e/dashboard-metrics.json),
//! login keeping the page you asked for, logout, the theme switch, keyboard
//! focus, and a phone-width layout.

use std::time::Instant;

use anyhow::{Result, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, owner_stack, record_metric};
use berth_e2e::{is_root, workspace_root};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_overview_tiles_login_theme_keyboard_phone() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, api_host) = owner_stack().await?;
    let b = Browser::start(&stack.url, "overview").await?;
    let r = async {
        // A bookmarked page survives the login.
        b.goto("/hosts").await?;
        b.wait("#login-username").await?;
        b.fill("#login-username", "admin").await?;
        b.fill("#login-password", "wrong password!").await?;
        b.click("form button[type=submit]").await?;
        // The API's detail, not "error".
        let problem = b.text("[data-testid=problem]").await?;
        ensure!(problem.contains("401"), "login failure shows {problem:?}");
        b.fill("#login-password", OWNER_PASSWORD).await?;
        b.click("form button[type=submit]").await?;
        b.wait("[data-testid=hosts-table]").await?;
        ensure!(b.path().await? == "/hosts", "after login at {}", b.path().await?);

        // The overview, timed from navigation to the tiles' data.
        let start = Instant::now();
        b.goto("/").await?;
        b.wait_until(
            "a host counted online",
            "const e = document.querySelector('[data-testid=hosts-online]'); return e && e.textContent.trim() === '1';",
        )
        .await?;
        let tiles_ms = start.elapsed().as_millis();
        let fcp = b
            .eval("const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null;")
            .await?;
        let nav = b
            .eval("const n = performance.getEntriesByType('navigation')[0]; return n ? n.domContentLoadedEventEnd : null;")
            .await?;
        record_metric(
            "overview",
            json!({"first_contentful_paint_ms": fcp, "dom_content_loaded_ms": nav, "tiles_with_data_ms": tiles_ms}),
        )?;
        eprintln!(
            "FIRSTPAINT overview: first contentful paint {fcp} ms, DOM content loaded {nav} ms, tiles with data {tiles_ms} ms"
        );
        ensure!(fcp.as_f64().is_some(), "no first-contentful-paint entry");
        b.screenshot("overview").await?;

        // Each tile links to its page.
        b.click("[data-testid=tile-containers] h2 a").await?;
        b.wait("[data-testid=containers-table]").await?;
        b.goto("/").await?;
        b.click("[data-testid=tile-hosts] h2 a").await?;
        b.wait("[data-testid=hosts-table]").await?;

        // Keyboard: the skip link is the first stop and it is visibly focused.
        b.goto("/").await?;
        b.eval("document.activeElement && document.activeElement.blur(); return true;")
            .await?;
        b.client()
            .active_element()
            .await?
            .send_keys("\u{E004}")
            .await?;
        let focused = b
            .eval("const a = document.activeElement; return a ? [a.className, getComputedStyle(a).outlineStyle] : null;")
            .await?;
        ensure!(
            focused[0] == "skip-link" && focused[1] != "none",
            "first Tab should focus the skip link with an outline, got {focused}"
        );

        // Dark theme.
        b.click("button[aria-label='Switch to dark theme']").await?;
        let theme = b
            .eval("return document.documentElement.getAttribute('data-theme');")
            .await?;
        ensure!(theme == "dark", "theme is {theme}");
        b.screenshot("overview-dark").await?;
        b.click("button[aria-label='Switch to light theme']").await?;

        // Phone width: one column, the menu folds behind a button.
        b.resize(390, 844).await?;
        b.goto("/containers").await?;
        let overflow = b
            .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
            .await?;
        ensure!(
            overflow.as_i64().unwrap_or(99) <= 0,
            "the page scrolls sideways by {overflow} px at phone width"
        );
        b.click(".menu-toggle").await?;
        b.screenshot("phone-menu").await?;
        // Every page at phone width: no sideways scroll of the page (wide
        // tables scroll in their own box), and every input has a label.
        let host_id = api_host.id.clone();
        let pages = [
            "/".to_string(),
            "/hosts".to_string(),
            format!("/hosts/{host_id}"),
            format!("/hosts/{host_id}/images"),
            "/containers".to_string(),
            "/containers/new".to_string(),
            "/admin/users".to_string(),
            "/admin/teams".to_string(),
            "/admin/roles".to_string(),
            "/admin/tokens".to_string(),
            "/admin/audit".to_string(),
        ];
        for page in &pages {
            b.goto(page).await?;
            b.wait("main h1").await?;
            let found = b
                .eval(
                    "const bad = Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')) \
                       .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') \
                                 && !e.getAttribute('aria-labelledby')) \
                       .map(e => e.id || e.name || e.outerHTML.slice(0, 80)); \
                     return {unlabelled: bad, \
                             overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};",
                )
                .await?;
            ensure!(
                found["unlabelled"].as_array().is_some_and(Vec::is_empty),
                "inputs without a label on {page}: {}",
                found["unlabelled"]
            );
            ensure!(
                found["overflow"].as_i64().unwrap_or(99) <= 0,
                "{page} scrolls sideways by {} px at phone width",
                found["overflow"]
            );
        }
        b.resize(1280, 900).await?;

        // Logout returns to the login page; the session is gone.
        b.goto("/").await?;
        b.click("[data-testid=logout]").await?;
        b.wait("#login-username").await?;
        b.goto("/containers").await?;
        b.wait("#login-username").await?;

        // The wasm, as served.
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            workspace_root().join("frontend/dist/manifest.json"),
        )?)?;
        let wasm = workspace_root().join(format!(
            "frontend/dist{}",
            manifest["wasm"].as_str().unwrap_or_default()
        ));
        let raw = std::fs::metadata(&wasm)?.len();
        let gz = std::fs::metadata(wasm.with_extension("wasm.gz"))?.len();
        record_metric("wasm", json!({"bytes": raw, "gzip_bytes": gz}))?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
