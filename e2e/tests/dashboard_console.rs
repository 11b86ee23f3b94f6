//! The container page's log download and its console's resize, paste and
//! copy: the downloaded file holds the container's log lines (both
//! streams); `stty size` in the shell follows the window's width and the
//! console box's height; text pasted into the terminal (a paste event, and
//! the Paste button from the clipboard) runs in the shell; a word selected
//! with a double-click lands on the clipboard through the Copy button.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use berth_e2e::browser::{Browser, OWNER_PASSWORD, import_busybox, owner_stack, run_container};
use berth_e2e::is_root;
use fantoccini::Locator;
use serde_json::json;

/// Types `line` into the terminal (focusing it first).
async fn type_line(b: &Browser, line: &str) -> Result<()> {
    b.eval("document.querySelector('.xterm-helper-textarea').focus(); return true;")
        .await?;
    b.client()
        .active_element()
        .await?
        .send_keys(line)
        .await
        .with_context(|| format!("typing {line:?}"))
}

/// Waits for a terminal row `<tag>=<rows> <cols>=` (the answer of
/// `echo <tag>=$(stty size)=`) and gives back (rows, cols).
async fn stty_answer(b: &Browser, tag: &str) -> Result<(u64, u64)> {
    let script = format!(
        "const re = new RegExp('^' + {tag} + '=(\\\\d+)\\\\s(\\\\d+)=$');
         for (const r of document.querySelectorAll('.xterm-rows > div')) {{
           const m = r.textContent.trim().match(re);
           if (m) return [Number(m[1]), Number(m[2])];
         }}
         return null;",
        tag = json!(tag)
    );
    let v = b
        .wait_until(&format!("the answer {tag}=<rows> <cols>="), &script)
        .await?;
    Ok((v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0)))
}

/// How many rows the terminal shows.
async fn shown_rows(b: &Browser) -> Result<u64> {
    let v = b
        .eval("return document.querySelectorAll('.xterm-rows > div').length;")
        .await?;
    v.as_u64().context("no row count")
}

/// Waits for a terminal row that reads exactly `text`.
async fn wait_row(b: &Browser, text: &str) -> Result<()> {
    let script = format!(
        "return Array.from(document.querySelectorAll('.xterm-rows > div')).some(r => r.textContent.trim() === {t});",
        t = json!(text)
    );
    b.wait_until(&format!("a row {text:?}"), &script)
        .await
        .map(|_| ())
}

/// Clicks the console toolbar's button labelled `label`.
async fn click_button(b: &Browser, label: &str) -> Result<()> {
    b.client()
        .find(Locator::XPath(&format!(
            "//div[@class='console']//button[normalize-space()='{label}']"
        )))
        .await
        .with_context(|| format!("finding the {label} button"))?
        .click()
        .await
        .with_context(|| format!("clicking {label}"))
}

/// Waits for `dir/name` to be completely downloaded and reads it.
async fn downloaded(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let partial = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        if path.is_file() && !partial {
            return Ok(std::fs::read_to_string(&path)?);
        }
        if Instant::now() > deadline {
            let seen: Vec<_> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            bail!(
                "{} was not downloaded (the directory holds {seen:?})",
                path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_console_download_resize_copy_paste() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    run_container(
        &stack,
        &host.id,
        "con1",
        &image,
        &[
            "sh",
            "-c",
            "echo first-line; echo oops-on-stderr >&2; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done",
        ],
    )
    .await?;
    let downloads = tempfile::Builder::new()
        .prefix("berth-downloads-")
        .tempdir()?;
    let b = Browser::start(&stack.url, "console").await?;
    let r = async {
        b.login("admin", OWNER_PASSWORD).await?;
        b.allow_downloads(downloads.path()).await?;
        b.grant_clipboard().await?;
        b.goto(&format!("/hosts/{}/containers/con1", host.id)).await?;
        b.wait_text("[data-testid=container-state]", "running").await?;

        // Log download: the whole log, both streams, as a file.
        b.click("[data-testid=tab-logs]").await?;
        b.wait_text("[data-testid=log-view]", "tick-2").await?;
        b.click("[data-testid=log-download]").await?;
        let log = downloaded(downloads.path(), "con1.log").await?;
        for want in [
            " stdout first-line",
            " stderr oops-on-stderr",
            " stdout tick-0",
            " stdout tick-1",
            " stdout tick-2",
        ] {
            ensure!(log.contains(want), "the downloaded log lacks {want:?}:\n{log}");
        }
        let first = log.lines().next().unwrap_or_default();
        let stamp = first.split(' ').next().unwrap_or_default();
        ensure!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "the downloaded lines start with no RFC 3339 time: {first:?}"
        );
        b.screenshot("logs-downloaded").await?;

        // The console, and the size its pty has.
        b.click("[data-testid=tab-console]").await?;
        b.click("[data-testid=console-connect]").await?;
        b.wait_text("[data-testid=console-status]", "connected").await?;
        b.wait(".xterm-helper-textarea").await?;
        type_line(&b, "echo A1=$(stty size)=\n").await?;
        let (rows1, cols1) = stty_answer(&b, "A1").await?;
        ensure!(
            rows1 == shown_rows(&b).await?,
            "the pty has {rows1} rows, the terminal shows {}",
            shown_rows(&b).await?
        );
        ensure!(cols1 >= 80, "a 1280 px window gives only {cols1} columns");

        // A narrower window: fewer columns, as many rows (the box's height
        // is fixed).
        let width1 = b
            .eval("return document.querySelector('.xterm-screen').getBoundingClientRect().width;")
            .await?;
        b.resize(640, 900).await?;
        b.wait_until(
            "the terminal to narrow",
            &format!(
                "return document.querySelector('.xterm-screen').getBoundingClientRect().width < {} - 150;",
                width1.as_f64().unwrap_or(0.0)
            ),
        )
        .await?;
        type_line(&b, "echo A2=$(stty size)=\n").await?;
        let (rows2, cols2) = stty_answer(&b, "A2").await?;
        ensure!(
            cols2 + 20 <= cols1 && rows2 == rows1,
            "after narrowing the window the pty is {rows2}x{cols2} (was {rows1}x{cols1})"
        );

        // A taller console box, fitted with the Fit button: more rows.
        b.eval("document.querySelector('[data-testid=terminal]').style.height = '40rem'; return true;")
            .await?;
        click_button(&b, "Fit").await?;
        b.wait_until(
            "more rows",
            &format!("return document.querySelectorAll('.xterm-rows > div').length > {rows2};"),
        )
        .await?;
        type_line(&b, "echo A3=$(stty size)=\n").await?;
        let (rows3, cols3) = stty_answer(&b, "A3").await?;
        let shown3 = shown_rows(&b).await?;
        ensure!(
            rows3 >= rows2 + 5 && rows3 == shown3 && cols3 == cols2,
            "after the taller box the pty is {rows3}x{cols3} (was {rows2}x{cols2}; {shown3} rows shown)"
        );
        eprintln!("pty size: {rows1}x{cols1}, narrower window {rows2}x{cols2}, taller box {rows3}x{cols3}");
        b.screenshot("console-resized").await?;

        // Paste as the browser delivers it (a paste event on the terminal's
        // textarea): the shell runs the pasted line.
        b.eval(
            "const t = document.querySelector('.xterm-helper-textarea'); t.focus();
             const dt = new DataTransfer(); dt.setData('text/plain', 'echo pasted-$((6*7))\\n');
             t.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
             return true;",
        )
        .await?;
        wait_row(&b, "pasted-42").await?;

        // The Paste button, from the clipboard.
        b.eval(
            "return navigator.clipboard.writeText('echo from-button-$((7*8))\\n').then(() => true);",
        )
        .await?;
        click_button(&b, "Paste").await?;
        wait_row(&b, "from-button-56").await?;

        // Copy: double-click a word of the output, then the Copy button.
        type_line(&b, "echo copy-$((5*5))-me\n").await?;
        wait_row(&b, "copy-25-me").await?;
        let at = b
            .eval(
                "const r = Array.from(document.querySelectorAll('.xterm-rows > div')).find(r => r.textContent.trim() === 'copy-25-me');
                 const range = document.createRange(); range.selectNodeContents(r);
                 const t = range.getBoundingClientRect();
                 return [t.left + Math.min(30, t.width / 4), t.top + t.height / 2];",
            )
            .await?;
        let (x, y) = (
            at[0].as_f64().context("no x")?,
            at[1].as_f64().context("no y")?,
        );
        b.double_click_at(x, y).await?;
        click_button(&b, "Copy").await?;
        let copied = b
            .wait_until(
                "the selection on the clipboard",
                "return navigator.clipboard.readText().then(t => t === 'copy-25-me' ? t : null);",
            )
            .await?;
        ensure!(copied == json!("copy-25-me"), "the clipboard holds {copied}");
        b.screenshot("console-copied").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}
