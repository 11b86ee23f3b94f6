//! Twenty live container graphs on the host page, fed by one multiplexed
//! stream (`GET /api/v1/stats/stream`): every graph gets new points each
//! second, the browser holds one stats connection instead of twenty (it
//! would allow only six), and the frame time while they update is measured
//! and recorded (target/e2e/dashboard-metrics.json). Also: graphs on a fresh
//! host show the data's span rather than a sliver of the window, with axis
//! labels, in both the 1 h and the 24 h view.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use berth_e2e::browser::{
    Browser, OWNER_PASSWORD, import_busybox, owner_stack, record_metric, run_container,
};
use berth_e2e::is_root;
use serde_json::{Value, json};

const CONTAINERS: usize = 20;

/// The `berth_http_requests_total` count of a route, from the server's
/// Prometheus text (0 when absent).
fn requests_of(metrics: &str, route: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("berth_http_requests_total{{route=\"{route}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_twenty_live_graphs_one_stream_frame_time() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    let started = Instant::now();
    for i in 1..=CONTAINERS {
        let name = format!("g{i:02}");
        // A few busy ones, so some lines move; the rest sleep.
        let cmd: Vec<&str> = if i % 5 == 0 {
            vec![
                "sh",
                "-c",
                "while true; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 1; done",
            ]
        } else {
            vec!["sleep", "3600"]
        };
        run_container(&stack, &host.id, &name, &image, &cmd).await?;
    }
    eprintln!("{CONTAINERS} containers started in {:?}", started.elapsed());

    let b = Browser::start(&stack.url, "live-graphs").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        b.goto(&format!("/hosts/{}", host.id)).await?;

        // A fresh host: its 1 h graphs show the seconds they have, from the
        // left edge, and say so on the axis.
        b.wait_text("[data-testid=live-status]", "live").await?;
        let first_graph = "document.querySelector('[data-testid=graph]')";
        // More than the axis' shortest span (10 s of an hour), so the data
        // set the width rather than the minimum.
        b.wait_until_for(
            "the host's CPU graph has 12 points",
            &format!("return Number({first_graph}.dataset.points) >= 12;"),
            Duration::from_secs(30),
        )
        .await?;
        let axis = b
            .eval(&format!(
                "const g = {first_graph}; \
                 const d = g.querySelector('path.line').getAttribute('d'); \
                 return {{partial: g.dataset.partial, start: g.querySelector('.graph-x .start').textContent, \
                   end: g.querySelector('.graph-x .end').textContent, first_x: parseFloat(d.slice(1))}};"
            ))
            .await?;
        ensure!(
            axis["partial"] == "true",
            "a fresh host's 1 h graph is partial: {axis}"
        );
        let start = axis["start"].as_str().unwrap_or_default();
        ensure!(
            start.starts_with('\u{2212}') && !start.contains('h'),
            "the axis starts where the data do, not an hour back: {axis}"
        );
        ensure!(axis["end"] == "now", "{axis}");
        ensure!(
            axis["first_x"].as_f64().unwrap_or(999.0) < 5.0,
            "the line starts at the left edge, not as a sliver at the right: {axis}"
        );
        b.screenshot("host-fresh-1h").await?;
        // The 24 h view of a fresh host: the same treatment.
        b.click("[aria-label='History window'] button:nth-child(2)")
            .await?;
        b.wait_until(
            "the 24 h view drawn",
            &format!(
                "return document.querySelector(\"[aria-label='History window'] button:nth-child(2)\").getAttribute('aria-pressed') === 'true' \
                 && Number({first_graph}.dataset.points) >= 1;"
            ),
        )
        .await?;
        let day = b
            .eval(&format!(
                "const g = {first_graph}; return [g.dataset.partial, g.querySelector('.graph-x .start').textContent];"
            ))
            .await?;
        ensure!(
            day[0] == "true" && !day[1].as_str().unwrap_or("h").contains(" h"),
            "the 24 h view of a fresh host shows its minutes: {day}"
        );
        b.screenshot("host-fresh-24h").await?;
        b.click("[aria-label='History window'] button:nth-child(1)")
            .await?;

        // The panel: one graph per running container, all getting points.
        b.wait_text("[data-testid=panel-status]", "live").await?;
        let panel = "[data-testid=container-graphs] [data-testid=graph]";
        let count = format!("return document.querySelectorAll('{panel}').length;");
        b.wait_until_for(
            "twenty container graphs",
            &format!("return document.querySelectorAll('{panel}').length === {CONTAINERS};"),
            Duration::from_secs(30),
        )
        .await?;
        let all_have = |n: usize| {
            format!(
                "return Array.from(document.querySelectorAll('{panel}')).every(g => Number(g.dataset.points) >= {n});"
            )
        };
        b.wait_until_for("3 points in every graph", &all_have(3), Duration::from_secs(30))
            .await?;

        // One stats connection for twenty graphs: the server saw the
        // multiplexed stream opened once and no per-container stream.
        let metrics = reqwest::Client::new()
            .get(format!("{}/metrics", stack.url))
            .bearer_auth(berth_e2e::METRICS_TOKEN)
            .send()
            .await?
            .text()
            .await?;
        let mux = requests_of(&metrics, "/api/v1/stats/stream");
        let single = requests_of(&metrics, "/api/v1/hosts/{host}/containers/{c}/stats/stream");
        ensure!(
            mux == 1 && single == 0,
            "the panel should use one multiplexed stream: {mux} multiplexed, {single} per-container"
        );

        // Frame time over 10 s while 20 graphs (and the host's 5) update.
        let lasts = format!(
            "return Array.from(document.querySelectorAll('{panel}')).map(g => Number(g.dataset.last));"
        );
        let before: Vec<f64> = serde_json::from_value(b.eval(&lasts).await?)?;
        let frames = b.frame_times(10_000).await?;
        let after: Vec<f64> = serde_json::from_value(b.eval(&lasts).await?)?;
        let updated = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| b > a)
            .count();
        let graphs = b.eval(&count).await?;
        let points = b
            .eval(&format!(
                "const p = Array.from(document.querySelectorAll('{panel}')).map(g => Number(g.dataset.points)); return [Math.min(...p), Math.max(...p)];"
            ))
            .await?;
        let mut rec = frames.clone();
        rec["container_graphs"] = graphs.clone();
        rec["host_graphs"] = json!(5);
        rec["graphs_updated_during_measurement"] = json!(updated);
        rec["points_per_graph_min_max"] = points;
        rec["stats_connections"] = json!(mux);
        record_metric("host_page_20_live_graphs_frames", rec.clone())?;
        eprintln!(
            "FRAME with {CONTAINERS} live graphs over 10 s: avg={:.1} ms p95={:.1} ms max={:.1} ms \
             frames={} long_tasks={} graphs_updated={updated}/{CONTAINERS} stats_connections={mux}",
            frames["avg_ms"].as_f64().unwrap_or(f64::NAN),
            frames["p95_ms"].as_f64().unwrap_or(f64::NAN),
            frames["max_ms"].as_f64().unwrap_or(f64::NAN),
            frames["frames"],
            frames["long_tasks"],
        );
        eprintln!("frame time with {CONTAINERS} live graphs: {rec}");
        ensure!(
            updated == CONTAINERS,
            "every graph should have new points after 10 s: {updated} of {CONTAINERS}"
        );
        let p95 = frames["p95_ms"].as_f64().context("p95")?;
        ensure!(p95 < 50.0, "janky frames with 20 live graphs: {frames}");
        b.eval("document.querySelector('[data-testid=container-graphs]').scrollIntoView(); return true;")
            .await?;
        b.screenshot("panel").await?;

        // The metric switch redraws every graph from the same rings.
        b.click("[aria-label='Metric shown per container'] button:nth-child(2)")
            .await?;
        b.wait_until(
            "memory graphs",
            &format!(
                "return Array.from(document.querySelectorAll('{panel} .legend b')).every(e => /iB|B$/.test(e.textContent));"
            ),
        )
        .await?;
        b.screenshot("panel-memory").await?;

        // A container that stops: its graph goes quiet, the others go on;
        // the panel drops it at the next refresh.
        let r: std::result::Result<Value, berth_api::Problem> = stack
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/hosts/{}/containers/g01/kill", host.id),
                None::<&()>,
            )
            .await?;
        r.map_err(|p| anyhow::anyhow!("kill g01: {p}"))?;
        b.wait_until_for(
            "g01 leaves the panel",
            &format!(
                "return document.querySelectorAll('{panel}').length === {} && !document.querySelector('[data-container=g01]');",
                CONTAINERS - 1
            ),
            Duration::from_secs(30),
        )
        .await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
