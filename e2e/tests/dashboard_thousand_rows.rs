//! The containers table with 1,000 containers on a real agent (created, not
//! started: a bundle and a rootfs mount each, no process): the DOM holds one
//! page of rows, not a thousand; free-text filtering and sorting work on the
//! whole set; the last page reaches the last row. The time to show the list
//! and to filter, sort and page is measured in the browser and recorded
//! (target/e2e/dashboard-metrics.json).

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, import_busybox, owner_stack, record_metric};
use berth_e2e::is_root;
use serde_json::{Value, json};

const CONTAINERS: usize = 1000;
/// Concurrent create calls (the agent serialises the names; this overlaps
/// the round trips).
const LANES: usize = 4;

/// Creates containers `r0000`… whose index `% LANES == lane`, not started.
async fn create_lane(stack: &berth_e2e::Stack, host: &str, image: &str, lane: usize) -> Result<()> {
    for i in (lane..CONTAINERS).step_by(LANES) {
        let name = format!("r{i:04}");
        let spec = json!({"name": name, "image": image, "cmd": ["true"], "network": "none"});
        let r: std::result::Result<Value, berth_api::Problem> = stack
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/hosts/{host}/containers"),
                Some(&spec),
            )
            .await?;
        r.map_err(|p| anyhow::anyhow!("creating {name}: {p}"))?;
    }
    Ok(())
}

/// Names of the rows in the DOM, in order.
const ROW_NAMES: &str = "return Array.from(document.querySelectorAll('[data-testid=container-row]')).map(r => r.dataset.name);";

fn names(v: Value) -> Result<Vec<String>> {
    Ok(serde_json::from_value(v)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_thousand_containers_paged_filter_sort() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    let started = Instant::now();
    let (a, b, c, d) = tokio::join!(
        create_lane(&stack, &host.id, &image, 0),
        create_lane(&stack, &host.id, &image, 1),
        create_lane(&stack, &host.id, &image, 2),
        create_lane(&stack, &host.id, &image, 3),
    );
    a?;
    b?;
    c?;
    d?;
    let created_in = started.elapsed();
    eprintln!("{CONTAINERS} containers created in {created_in:?}");

    let b = Browser::start(&stack.url, "thousand-rows").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        // From the click on "Containers" to the thousand listed and a page
        // of them drawn.
        let t0 = Instant::now();
        b.click("nav a[href='/containers']").await?;
        b.wait_until_for(
            "1,000 containers listed",
            "const c = document.querySelector('[data-testid=container-count]'); \
             return c && c.textContent.startsWith('1,000 containers') \
               && document.querySelectorAll('[data-testid=container-row]').length > 0;",
            Duration::from_secs(30),
        )
        .await?;
        let list_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let count = b.text("[data-testid=container-count]").await?;
        ensure!(
            count.contains("showing 1–50"),
            "the count names the page shown: {count:?}"
        );

        // One page in the DOM, sorted by name.
        let rows = names(b.eval(ROW_NAMES).await?)?;
        ensure!(
            rows.len() == 50,
            "the DOM holds one page of rows, not {}",
            rows.len()
        );
        ensure!(
            rows.first().map(String::as_str) == Some("r0000")
                && rows.last().map(String::as_str) == Some("r0049"),
            "the first page, by name: {rows:?}"
        );
        ensure!(b.text("[data-testid=page-of]").await? == "Page 1 of 20");
        b.screenshot("first-page").await?;

        // Free text over the whole thousand: one row.
        let filter_ms = b
            .time_to_paint(
                "const i = document.getElementById('f-text'); i.value = 'r0777'; \
                 i.dispatchEvent(new Event('input', {bubbles: true}));",
            )
            .await?;
        let rows = names(b.eval(ROW_NAMES).await?)?;
        ensure!(rows == ["r0777"], "filtering by r0777 shows it alone: {rows:?}");
        ensure!(b.text("[data-testid=container-count]").await? == "1 container");
        // A broader filter: the hundred r07xx, over two pages.
        b.fill("#f-text", "r07").await?;
        b.wait_text("[data-testid=container-count]", "100 containers")
            .await?;
        ensure!(b.text("[data-testid=page-of]").await? == "Page 1 of 2");
        b.screenshot("filtered").await?;
        let clear_ms = b
            .time_to_paint(
                "const i = document.getElementById('f-text'); i.value = ''; \
                 i.dispatchEvent(new Event('input', {bubbles: true}));",
            )
            .await?;
        ensure!(names(b.eval(ROW_NAMES).await?)?.len() == 50);

        // Sort by name, descending (Name is the current key: a click turns
        // it round).
        let sort_ms = b
            .time_to_paint(
                "document.querySelector(\"th[aria-sort='ascending'] button.sort\").click();",
            )
            .await?;
        let rows = names(b.eval(ROW_NAMES).await?)?;
        ensure!(
            rows.first().map(String::as_str) == Some("r0999")
                && rows.get(1).map(String::as_str) == Some("r0998"),
            "descending by name: {rows:?}"
        );
        b.click("th[aria-sort='descending'] button.sort").await?;
        b.wait_until(
            "ascending again",
            "return document.querySelector('[data-testid=container-row]').dataset.name === 'r0000';",
        )
        .await?;

        // The last page holds the last row.
        let last_page_ms = b
            .time_to_paint("document.querySelector('[data-testid=page-last]').click();")
            .await?;
        let rows = names(b.eval(ROW_NAMES).await?)?;
        ensure!(
            rows.first().map(String::as_str) == Some("r0950")
                && rows.last().map(String::as_str) == Some("r0999")
                && rows.len() == 50,
            "the last page ends with the last row: {rows:?}"
        );
        ensure!(b.text("[data-testid=page-of]").await? == "Page 20 of 20");
        ensure!(
            b.text("[data-testid=container-count]")
                .await?
                .contains("showing 951–1,000"),
            "the count names the last page"
        );
        // The largest page size: still a bounded DOM, drawn quickly.
        let big_page_ms = b
            .time_to_paint(
                "const s = document.getElementById('page-size'); s.value = '200'; \
                 s.dispatchEvent(new Event('change', {bubbles: true}));",
            )
            .await?;
        let rows = names(b.eval(ROW_NAMES).await?)?;
        ensure!(
            rows.len() == 200 && rows[0] == "r0000",
            "200 rows a page from the first: {} rows, first {:?}",
            rows.len(),
            rows.first()
        );
        let frames = b.frame_times(2000).await?;
        b.screenshot("page-of-200").await?;

        let rec = json!({
            "containers": CONTAINERS,
            "created_s": created_in.as_secs_f64(),
            "list_shown_ms": list_ms,
            "filter_ms": filter_ms,
            "clear_filter_ms": clear_ms,
            "sort_ms": sort_ms,
            "last_page_ms": last_page_ms,
            "page_of_200_ms": big_page_ms,
            "idle_frames_200_rows": frames,
        });
        record_metric("containers_table_1000_rows", rec.clone())?;
        eprintln!(
            "ROWS1000 list_shown={list_ms:.0} ms filter={filter_ms:.1} ms clear={clear_ms:.1} ms \
             sort={sort_ms:.1} ms last_page={last_page_ms:.1} ms page_of_200={big_page_ms:.1} ms \
             (DOM rows: 50 a page; created {CONTAINERS} in {created_in:.1?})"
        );
        // Smooth: each change is painted within a few frames.
        for (what, ms) in [
            ("filter", filter_ms),
            ("clear", clear_ms),
            ("sort", sort_ms),
            ("last page", last_page_ms),
        ] {
            ensure!(ms < 300.0, "{what} took {ms:.0} ms with {CONTAINERS} rows");
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
