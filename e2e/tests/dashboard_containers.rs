//! The containers table and the create form, driven by clicks and typing:
//! filters by state, host and label and a column sort; bulk stop, start,
//! restart and remove of checked rows (each checked through the API and in
//! the table), the bulk calls in flight together and the rows patched from
//! the actions' answers while every list fetch is held back (as is a row's
//! own Start); and the create form refusing bad values without sending
//! anything, then creating a container whose inspect holds exactly the
//! settings typed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use berth_api::containers::{
    Container, ContainerState, NetworkMode, PortMapping, Protocol, RestartPolicy,
};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, import_busybox, owner_stack};
use berth_e2e::{Stack, free_port, is_root};
use fantoccini::Locator;
use serde_json::{Value, json};

/// A long-running command that leaves promptly on SIGTERM (as PID 1 the
/// shell would otherwise ignore it and stop would wait for the kill).
const LOOP: &str = "trap 'exit 0' TERM; while :; do sleep 1; done";

/// Names of the rows in the DOM, in order.
const ROW_NAMES: &str = "return Array.from(document.querySelectorAll('[data-testid=container-row]')).map(r => r.dataset.name);";

/// Every container the owner sees, by name.
async fn containers(stack: &Stack) -> Result<BTreeMap<String, Container>> {
    let r: std::result::Result<Value, berth_api::Problem> = stack
        .api(reqwest::Method::GET, "/api/v1/containers", None::<&()>)
        .await?;
    let v = r.map_err(|p| anyhow::anyhow!("listing containers: {p}"))?;
    let items: Vec<Container> = serde_json::from_value(v["items"].clone())
        .with_context(|| format!("decoding the list: {v}"))?;
    Ok(items.into_iter().map(|c| (c.name.clone(), c)).collect())
}

/// Waits until the API shows each of `names` in `state`.
async fn wait_states(stack: &Stack, names: &[&str], state: ContainerState) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = containers(stack).await?;
        let wrong: Vec<String> = names
            .iter()
            .filter(|n| all.get(**n).map(|c| c.state) != Some(state))
            .map(|n| format!("{n}: {:?}", all.get(*n).map(|c| c.state)))
            .collect();
        if wrong.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the API never showed {state:?} for {wrong:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn row_names(b: &Browser) -> Result<Vec<String>> {
    Ok(serde_json::from_value(b.eval(ROW_NAMES).await?)?)
}

/// Waits until the table lists exactly `want`, in that order.
async fn wait_rows(b: &Browser, want: &[&str]) -> Result<()> {
    let script = format!(
        "{ROW_NAMES_FN} return JSON.stringify(names()) === {want};",
        want = json!(serde_json::to_string(want)?)
    );
    b.wait_until(&format!("the rows {want:?}"), &script)
        .await
        .map(|_| ())
}
const ROW_NAMES_FN: &str = "const names = () => Array.from(document.querySelectorAll('[data-testid=container-row]')).map(r => r.dataset.name);";

/// Waits until the table shows each of `names` in `state`.
async fn wait_row_states(b: &Browser, names: &[&str], state: &str) -> Result<()> {
    let script = format!(
        "const want = {names}; return want.every(n => {{ \
           const r = document.querySelector(`[data-testid=container-row][data-name=\"${{n}}\"]`); \
           return r && r.dataset.state === {state}; }});",
        names = json!(names),
        state = json!(state)
    );
    b.wait_until(&format!("{names:?} {state} in the table"), &script)
        .await
        .map(|_| ())
}

/// Ticks the row checkboxes of `names` (a click each, as a user would).
async fn check(b: &Browser, names: &[&str]) -> Result<()> {
    for n in names {
        b.click(&format!("input[type=checkbox][aria-label='Select {n}']"))
            .await?;
    }
    b.wait_text(
        "[data-testid=bulk-bar]",
        &format!("{} selected", names.len()),
    )
    .await
}

/// Clicks the bulk bar's button that says `label`.
async fn bulk(b: &Browser, label: &str) -> Result<()> {
    let xpath = format!("//div[@data-testid='bulk-bar']//button[normalize-space()='{label}']");
    let el = b
        .client()
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&xpath))
        .await
        .with_context(|| format!("the bulk {label} button"))?;
    el.click()
        .await
        .with_context(|| format!("clicking bulk {label}"))?;
    Ok(())
}

/// Installs a `window.fetch` wrapper that holds back requests of two kinds
/// until released: `list` (`GET /api/v1/containers`, the fleet fetch) and
/// `action` (`POST .../containers/{c}/{action}`). It counts each kind. While
/// `list` is held, a row can change only from an action's own answer.
const HOLD_FETCH: &str = r#"
const real = window.__berthRealFetch || window.fetch;
window.__berthRealFetch = real;
window.__held = {list: [], action: []};
window.__seen = {list: 0, action: 0};
window.__holding = {list: true, action: arguments[0]};
window.fetch = function (input, init) {
  const url = typeof input === 'string' ? input : input.url;
  const method = ((init && init.method) || (typeof input === 'string' ? 'GET' : input.method)).toUpperCase();
  const path = new URL(url, location.href).pathname;
  const kind = path === '/api/v1/containers' && method === 'GET' ? 'list'
    : /^\/api\/v1\/hosts\/[^/]+\/containers\/[^/]+\/[a-z]+$/.test(path) && method === 'POST' ? 'action'
    : null;
  if (kind === null) return real.call(window, input, init);
  window.__seen[kind] += 1;
  if (!window.__holding[kind]) return real.call(window, input, init);
  return new Promise((resolve, reject) =>
    window.__held[kind].push(() => real.call(window, input, init).then(resolve, reject)));
};
return true;
"#;

/// Sends on the held requests of `kind` and stops holding that kind.
const RELEASE_FETCH: &str = r#"
const kind = arguments[0];
window.__holding[kind] = false;
const held = window.__held[kind];
window.__held[kind] = [];
held.forEach(send => send());
if (!window.__holding.list && !window.__holding.action) window.fetch = window.__berthRealFetch;
return held.length;
"#;

/// Holds list fetches, and action calls too when `actions`.
async fn hold_fetch(b: &Browser, actions: bool) -> Result<()> {
    b.client()
        .execute(HOLD_FETCH, vec![json!(actions)])
        .await
        .context("installing the fetch hold")?;
    Ok(())
}

/// Releases the held requests of `kind` (`list` or `action`).
async fn release_fetch(b: &Browser, kind: &str) -> Result<u64> {
    let n = b
        .client()
        .execute(RELEASE_FETCH, vec![json!(kind)])
        .await
        .with_context(|| format!("releasing held {kind} requests"))?;
    Ok(n.as_u64().unwrap_or(0))
}

/// Proves the hold catches the page's list fetches (so rows that changed
/// under it changed from the actions' answers): Refresh asks for the list
/// and the wrapper sees it. Then releases the held list fetches.
async fn refresh_is_held_then_release(b: &Browser) -> Result<()> {
    let before = b.eval("return window.__seen.list;").await?;
    b.click("header.page-head .actions button").await?;
    b.wait_until(
        "the Refresh list fetch caught by the hold",
        &format!("return window.__seen.list > {before} && window.__held.list.length > 0;"),
    )
    .await?;
    release_fetch(b, "list").await?;
    Ok(())
}

/// Submits the create form with a mistake in it and checks the form names
/// it (`expect`) while no container was created.
async fn refused(stack: &Stack, b: &Browser, expect: &str, before: usize) -> Result<()> {
    b.click("[data-testid=create-submit]").await?;
    b.wait_text("[data-testid=create-form] [data-testid=problem]", expect)
        .await?;
    ensure!(
        b.path().await? == "/containers/new",
        "a refused form stays on the page"
    );
    // Negative check, not synchronisation: give a request that should not
    // have been sent the chance to land (and wrongly create a container).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = containers(stack).await?.len();
    ensure!(
        n == before,
        "a form refused for {expect:?} still created a container ({before} → {n})"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_containers_filters_bulk_actions_create_form() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let t0 = Instant::now();
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    // Three running with labels, one created and not started.
    for (name, app, start) in [
        ("web-1", "web", true),
        ("web-2", "web", true),
        ("db-1", "db", true),
        ("job-1", "batch", false),
    ] {
        let spec = json!({
            "name": name, "image": image, "cmd": ["sh", "-c", LOOP],
            "network": "none", "labels": {"app": app, "suite": "e2e"},
            "limits": {"memory_bytes": 32u64 << 20, "pids": 32},
        });
        let r: std::result::Result<Value, berth_api::Problem> = stack
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/hosts/{}/containers?start={start}", host.id),
                Some(&spec),
            )
            .await?;
        r.map_err(|p| anyhow::anyhow!("creating {name}: {p}"))?;
    }
    wait_states(&stack, &["web-1", "web-2", "db-1"], ContainerState::Running).await?;
    eprintln!("stack and 4 containers ready in {:?}", t0.elapsed());

    let b = Browser::start(&stack.url, "containers").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        b.click("nav a[href='/containers']").await?;
        wait_rows(&b, &["db-1", "job-1", "web-1", "web-2"]).await?;
        ensure!(b.text("[data-testid=container-count]").await? == "4 containers");

        // State: the server filters.
        b.select("#f-state", "running").await?;
        wait_rows(&b, &["db-1", "web-1", "web-2"]).await?;
        b.select("#f-state", "created").await?;
        wait_rows(&b, &["job-1"]).await?;
        b.select("#f-state", "").await?;
        wait_rows(&b, &["db-1", "job-1", "web-1", "web-2"]).await?;

        // Host: the one host holds them all.
        b.select("#f-host", &host.id).await?;
        wait_rows(&b, &["db-1", "job-1", "web-1", "web-2"]).await?;
        ensure!(
            b.eval(&format!(
                "return Array.from(document.querySelectorAll('[data-testid=container-row] td:nth-child(3)')).every(td => td.textContent === {});",
                json!(host.name)
            ))
            .await?
                == json!(true),
            "every row names the host {}",
            host.name
        );

        // Label: typed, then applied with the button.
        b.fill("#f-label", "app=web").await?;
        b.click("form[role=search] button[type=submit]").await?;
        wait_rows(&b, &["web-1", "web-2"]).await?;
        b.screenshot("label-filter").await?;
        // Emptied with Backspace, as a user would (WebDriver's clear sends
        // no input event).
        b.wait("#f-label")
            .await?
            .send_keys(&"\u{E003}".repeat("app=web".len()))
            .await?;
        b.click("form[role=search] button[type=submit]").await?;
        b.select("#f-host", "").await?;
        wait_rows(&b, &["db-1", "job-1", "web-1", "web-2"]).await?;

        // Sort by state: created before running, names break ties; a second
        // click turns it round.
        let state_sort = "[data-testid=containers-table] thead th:nth-child(5) button.sort";
        ensure!(b.text(state_sort).await?.starts_with("State"));
        b.click(state_sort).await?;
        wait_rows(&b, &["job-1", "db-1", "web-1", "web-2"]).await?;
        b.click(state_sort).await?;
        wait_rows(&b, &["web-2", "web-1", "db-1", "job-1"]).await?;
        b.click("[data-testid=containers-table] thead th:nth-child(2) button.sort")
            .await?;
        wait_rows(&b, &["db-1", "job-1", "web-1", "web-2"]).await?;

        // Bulk stop, start, restart of three checked rows.
        let three = ["db-1", "web-1", "web-2"];
        check(&b, &three).await?;
        b.screenshot("selected").await?;
        // With list fetches and actions held: the three stop calls are all
        // in flight at once (one after another would show one); released,
        // their answers alone turn the rows to stopped.
        hold_fetch(&b, true).await?;
        bulk(&b, "Stop").await?;
        b.wait_until(
            "three bulk stop calls in flight together",
            "return window.__held.action.length === 3;",
        )
        .await?;
        ensure!(release_fetch(&b, "action").await? == 3);
        wait_states(&stack, &three, ContainerState::Stopped).await?;
        wait_row_states(&b, &three, "stopped").await?;
        refresh_is_held_then_release(&b).await?;
        ensure!(
            containers(&stack).await?["job-1"].state == ContainerState::Created,
            "an unchecked row was left alone"
        );
        // The selection clears once every call is answered (just after
        // the last row is patched).
        b.wait_until(
            "the selection cleared after a bulk action",
            "return !document.querySelector('[data-testid=bulk-bar]');",
        )
        .await?;

        check(&b, &three).await?;
        bulk(&b, "Start").await?;
        wait_states(&stack, &three, ContainerState::Running).await?;
        wait_row_states(&b, &three, "running").await?;

        let before = containers(&stack).await?;
        check(&b, &["web-1", "web-2"]).await?;
        bulk(&b, "Restart").await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = containers(&stack).await?;
            let restarted = ["web-1", "web-2"].iter().all(|n| {
                now[*n].state == ContainerState::Running
                    && now[*n].started_at > before[*n].started_at
                    && now[*n].pid != before[*n].pid
            });
            if restarted {
                ensure!(
                    now["db-1"].started_at == before["db-1"].started_at,
                    "db-1 was not checked and must not restart"
                );
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "web-1 and web-2 never restarted: {:?}",
                ["web-1", "web-2"].map(|n| (now[n].state, now[n].started_at))
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        wait_row_states(&b, &three, "running").await?;
        // The bulk action clears the selection once all its calls are
        // answered; tick the next rows only after that.
        b.wait_until(
            "the selection cleared after restart",
            "return !document.querySelector('[data-testid=bulk-bar]');",
        )
        .await?;

        // A row's own Start: the row turns running from the answer, with
        // the list fetch held back.
        hold_fetch(&b, false).await?;
        b.click("[data-testid=container-row][data-name=job-1] [data-testid=start]")
            .await?;
        wait_row_states(&b, &["job-1"], "running").await?;
        ensure!(containers(&stack).await?["job-1"].state == ContainerState::Running);
        refresh_is_held_then_release(&b).await?;

        // Bulk remove asks first; running ones go too.
        check(&b, &["db-1", "job-1", "web-1"]).await?;
        bulk(&b, "Remove").await?;
        b.wait_text("[data-testid=bulk-bar] .confirm-q", "Remove the selected")
            .await?;
        b.screenshot("confirm-remove").await?;
        b.click("[data-testid=bulk-bar] [data-testid=confirm-yes]").await?;
        wait_rows(&b, &["web-2"]).await?;
        let left: Vec<String> = containers(&stack).await?.into_keys().collect();
        ensure!(left == ["web-2"], "after bulk remove the API lists {left:?}");
        ensure!(row_names(&b).await? == ["web-2"]);

        // The create form: mistakes are named and nothing is sent.
        b.click("[data-testid=new-container]").await?;
        b.wait("[data-testid=create-form]").await?;
        let port = free_port();
        b.fill("#c-image", &image).await?;
        b.fill("#c-name", "made-1").await?;
        b.fill("#c-cmd", "sh -c \"echo ready; trap 'exit 0' TERM; sleep 600 & wait\"")
            .await?;
        b.fill("#c-memory", "96q").await?;
        b.fill("#c-cpus", "0.5").await?;
        b.fill("#c-pids", "48").await?;
        b.fill("#c-ports", "70000:80").await?;
        b.fill("#c-env", "MODE=test\nGREETING=hello world\nnot an env line")
            .await?;
        b.fill("#c-labels", "app=made\nowner=e2e").await?;
        b.select("#c-restart", "on-failure:3").await?;
        b.select("#c-network", "bridge").await?;
        // Started at once would make the API's state race the checks below;
        // it is started from its page.
        b.click("[data-testid=create-form] input[type=checkbox]").await?;
        refused(&stack, &b, "memory limit: unknown unit \"q\" in \"96q\"", 1).await?;
        b.screenshot("refused-memory").await?;
        b.fill("#c-memory", "96m").await?;
        refused(
            &stack,
            &b,
            "ports, line 1: the host port \"70000\" is not a number from 1 to 65535",
            1,
        )
        .await?;
        b.fill("#c-ports", &format!("{port}:80")).await?;
        refused(
            &stack,
            &b,
            "environment, line 3: \"not an env line\" is not KEY=VALUE",
            1,
        )
        .await?;
        b.screenshot("refused-env").await?;
        b.fill("#c-env", "MODE=test\nGREETING=hello world").await?;

        // Valid: created, and the page of the new container opens.
        b.click("[data-testid=create-submit]").await?;
        b.wait_until(
            "the new container's page",
            "return location.pathname.endsWith('/containers/made-1');",
        )
        .await?;
        b.wait_text("[data-testid=container-state]", "created").await?;
        let r: std::result::Result<Container, berth_api::Problem> = stack
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/hosts/{}/containers/made-1", host.id),
                None::<&()>,
            )
            .await?;
        let c = r.map_err(|p| anyhow::anyhow!("inspecting made-1: {p}"))?;
        ensure!(c.image == image, "image {:?}", c.image);
        ensure!(
            c.cmd == ["sh", "-c", "echo ready; trap 'exit 0' TERM; sleep 600 & wait"],
            "cmd {:?}",
            c.cmd
        );
        ensure!(c.limits.memory_bytes == Some(96 << 20), "limits {:?}", c.limits);
        ensure!(c.limits.nano_cpus == Some(500_000_000), "limits {:?}", c.limits);
        ensure!(c.limits.pids == Some(48), "limits {:?}", c.limits);
        ensure!(
            c.ports
                == [PortMapping {
                    host_port: port,
                    container_port: 80,
                    protocol: Protocol::Tcp
                }],
            "ports {:?}",
            c.ports
        );
        ensure!(
            c.restart == RestartPolicy::OnFailure { max_retries: Some(3) },
            "restart {:?}",
            c.restart
        );
        ensure!(c.network == NetworkMode::Bridge, "network {:?}", c.network);
        let labels: BTreeMap<String, String> =
            [("app", "made"), ("owner", "e2e")].map(|(k, v)| (k.into(), v.into())).into();
        ensure!(c.labels == labels, "labels {:?}", c.labels);
        let spec = c.spec.as_ref().context("inspect gave no spec")?;
        let env: BTreeMap<String, String> = [("MODE", "test"), ("GREETING", "hello world")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        ensure!(spec.env == env, "env {:?}", spec.env);
        b.screenshot("created").await?;

        // It runs with those settings.
        b.click("[data-testid=action-start]").await?;
        b.wait_text("[data-testid=container-state]", "running").await?;
        wait_states(&stack, &["made-1"], ContainerState::Running).await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let r = b.finish(r, &stack).await;
    eprintln!("dashboard_containers took {:?}", t0.elapsed());
    r
}
