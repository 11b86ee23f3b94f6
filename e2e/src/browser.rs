//! Headless Chromium for the dashboard tests, driven over WebDriver with the
//! `fantoccini` crate. Each [`Browser`] starts its own `/usr/bin/chromedriver`
//! on a free port (in its own process group, so nothing of it outlives the
//! value), with a fresh profile directory and the flags that work headless
//! as root (`docs/development.md`, "The dashboard build").
//!
//! The helpers wait rather than sleep: [`Browser::goto`] waits for the app's
//! `html[data-ready=true]` marker, [`Browser::wait`] for an element, and
//! [`Browser::wait_until`] for any condition a script can compute.
//! Screenshots go to `target/e2e/<test>-<name>.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::{artefacts_dir, free_port};

/// Where Debian puts the browser and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait lasts before it fails the test.
pub const WAIT: Duration = Duration::from_secs(30);

/// Are Chromium and its driver installed? (`scripts/setup.sh test` installs them.)
pub fn available() -> Result<()> {
    for p in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(p).is_file() {
            bail!(
                "{p} is missing: apt-get install chromium chromium-driver (scripts/setup.sh test)"
            );
        }
    }
    Ok(())
}

/// A headless Chromium session on the dashboard at `base`.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    /// `http://127.0.0.1:<port>` of the server.
    pub base: String,
    /// Prefix of this test's screenshots.
    pub test: String,
    /// `http://127.0.0.1:<port>` of this session's chromedriver.
    driver_url: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a 1280×900 headless Chromium.
    pub async fn start(base: &str, test: &str) -> Result<Browser> {
        // chromedriver's port is free when picked, but another process may
        // take it first: chromedriver then exits, and starts again on
        // another port (a few times).
        for _ in 0..5 {
            if let Some(b) = Self::try_start(base, test).await? {
                return Ok(b);
            }
        }
        bail!("chromedriver lost the race for a free port 5 times")
    }

    /// As [`Browser::start`]; `None` when chromedriver exited because
    /// another process holds its port.
    async fn try_start(base: &str, test: &str) -> Result<Option<Browser>> {
        available()?;
        let profile = tempfile::Builder::new()
            .prefix("berth-chromium-")
            .tempdir()?;
        let port = free_port();
        let log = artefacts_dir().join(format!("{test}-chromedriver.log"));
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Drop kills chromedriver and every Chromium
        // process it started, and nothing else.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;

        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            client: None,
            driver,
            base: base.trim_end_matches('/').to_string(),
            test: test.to_string(),
            driver_url: url.clone(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = browser.driver.try_wait() {
                        if matches!(
                            std::net::TcpListener::bind(("127.0.0.1", port)),
                            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
                        ) {
                            return Ok(None);
                        }
                        bail!("chromedriver exited with {status}; see {}", log.display());
                    }
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => bail!("no WebDriver session at {url}: {e}; see {}", log.display()),
            }
        };
        browser.client = Some(client);
        Ok(Some(browser))
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the session is open until close()")
    }

    /// Sends the Chrome DevTools Protocol command `cmd` with `params` to the
    /// page (chromedriver's `goog/cdp/execute`) and gives back its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        let id = self
            .client()
            .session_id()
            .await?
            .context("the WebDriver session has no id")?;
        let url = format!("{}/session/{id}/goog/cdp/execute", self.driver_url);
        let r = reqwest::Client::new()
            .post(&url)
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .with_context(|| format!("sending {cmd} to chromedriver"))?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .with_context(|| format!("reading chromedriver's answer to {cmd}"))?;
        if !status.is_success() {
            bail!("chromedriver refused {cmd} ({status}): {v}");
        }
        Ok(v["value"].clone())
    }

    /// Lets the page download files (without asking) into `dir`.
    pub async fn allow_downloads(&self, dir: &Path) -> Result<()> {
        self.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.display().to_string()}),
        )
        .await
        .map(|_| ())
    }

    /// Grants the dashboard's origin read and write access to the clipboard
    /// (`navigator.clipboard.readText` and `writeText`).
    pub async fn grant_clipboard(&self) -> Result<()> {
        self.cdp(
            "Browser.grantPermissions",
            json!({"origin": self.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await
        .map(|_| ())
    }

    /// Opens `path` on the dashboard and waits until the app has mounted.
    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client()
            .goto(&format!("{}{path}", self.base))
            .await
            .with_context(|| format!("opening {path}"))?;
        self.wait_ready().await
    }

    /// Waits for the app's `data-ready` marker.
    pub async fn wait_ready(&self) -> Result<()> {
        self.wait("html[data-ready='true']").await.map(|_| ())
    }

    /// Waits for an element matching `css`.
    pub async fn wait(&self, css: &str) -> Result<Element> {
        self.client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for {css}"))
    }

    /// Is there an element matching `css` right now?
    pub async fn exists(&self, css: &str) -> Result<bool> {
        Ok(!self.client().find_all(Locator::Css(css)).await?.is_empty())
    }

    /// Every element matching `css` right now.
    pub async fn all(&self, css: &str) -> Result<Vec<Element>> {
        Ok(self.client().find_all(Locator::Css(css)).await?)
    }

    /// Waits until `script` (a function body returning a value) returns
    /// something truthy, and gives that value back.
    pub async fn wait_until(&self, what: &str, script: &str) -> Result<Value> {
        self.wait_until_for(what, script, WAIT).await
    }

    pub async fn wait_until_for(&self, what: &str, script: &str, limit: Duration) -> Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let last = match self.client().execute(script, vec![]).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(v) => v,
                Err(e) => json!(e.to_string()),
            };
            if Instant::now() > deadline {
                let shot = self.screenshot("timeout").await.ok();
                let at = self.path().await.unwrap_or_default();
                bail!(
                    "timed out after {limit:?} waiting for {what} on {at} (last: {last}); screenshot {shot:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until the element `css` contains `text`.
    pub async fn wait_text(&self, css: &str, text: &str) -> Result<()> {
        let script = format!(
            "return Array.from(document.querySelectorAll({css})).some(e => e.textContent.includes({text}));",
            css = json!(css),
            text = json!(text)
        );
        self.wait_until(&format!("{text:?} in {css}"), &script)
            .await
            .map(|_| ())
    }

    /// Text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self.wait(css).await?.text().await?)
    }

    /// Clicks the first element matching `css` once it is there.
    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.wait(css).await?;
        el.click().await.with_context(|| format!("clicking {css}"))
    }

    /// Clears the input `css` and types `value` into it.
    pub async fn fill(&self, css: &str, value: &str) -> Result<()> {
        let el = self.wait(css).await?;
        el.clear()
            .await
            .with_context(|| format!("clearing {css}"))?;
        el.send_keys(value)
            .await
            .with_context(|| format!("typing into {css}"))
    }

    /// Picks the option with `value` in the select `css`.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        let el = self.wait(css).await?;
        el.select_by_value(value)
            .await
            .with_context(|| format!("choosing {value} in {css}"))
    }

    /// Presses and releases `key` (a character or a WebDriver key code such
    /// as `'\u{E004}'`, Tab) on the keyboard, wherever the focus is. Unlike
    /// `send_keys` on the active element, this also works when the focus
    /// is on a file input (which takes sent keys as a file name).
    pub async fn press_key(&self, key: char) -> Result<()> {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client()
            .perform_actions(keys)
            .await
            .with_context(|| format!("pressing {key:?}"))
    }

    /// Double-clicks with the mouse at the viewport point (`x`, `y`) in CSS
    /// pixels (a word selection in a terminal, for instance).
    pub async fn double_click_at(&self, x: f64, y: f64) -> Result<()> {
        use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
        let button = MOUSE_BUTTON_LEFT;
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x,
                y,
            })
            .then(PointerAction::Down { button })
            .then(PointerAction::Up { button })
            .then(PointerAction::Down { button })
            .then(PointerAction::Up { button });
        self.client()
            .perform_actions(mouse)
            .await
            .with_context(|| format!("double-clicking at ({x}, {y})"))
    }

    /// Runs `script` and returns its value.
    pub async fn eval(&self, script: &str) -> Result<Value> {
        Ok(self.client().execute(script, vec![]).await?)
    }

    /// The current path (`/hosts/...`).
    pub async fn path(&self) -> Result<String> {
        let u = self.client().current_url().await?;
        Ok(match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
    }

    /// Sets the window size (the viewport is a little smaller).
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        Ok(self.client().set_window_size(width, height).await?)
    }

    /// Frame times over `ms` milliseconds of requestAnimationFrame, as
    /// `{frames, avg_ms, p95_ms, max_ms, over_50ms, long_tasks}`: how smooth
    /// the page is while it works (`long_tasks`: main-thread tasks over
    /// 50 ms, where the browser reports them).
    pub async fn frame_times(&self, ms: u64) -> Result<Value> {
        let script = format!(
            r#"
return new Promise(resolve => {{
  let long = 0, obs = null;
  try {{
    obs = new PerformanceObserver(l => {{ long += l.getEntries().length; }});
    obs.observe({{type: 'longtask'}});
  }} catch (e) {{ long = null; }}
  const times = []; let last = performance.now(); const end = last + {ms};
  function tick(now) {{
    times.push(now - last); last = now;
    if (now < end) requestAnimationFrame(tick);
    else {{
      if (obs) obs.disconnect();
      times.sort((a, b) => a - b);
      resolve({{frames: times.length,
               avg_ms: times.reduce((a, b) => a + b, 0) / times.length,
               p95_ms: times[Math.floor(times.length * 0.95)],
               max_ms: times[times.length - 1],
               over_50ms: times.filter(t => t > 50).length,
               long_tasks: long}});
    }}
  }}
  requestAnimationFrame(tick);
}});
"#
        );
        self.eval(&script).await
    }

    /// Runs `action` (a script body that changes the page) and gives the
    /// milliseconds until the change is painted: the action, the app's
    /// reactive update, and two animation frames (the second starts after
    /// the first paint of the new DOM).
    pub async fn time_to_paint(&self, action: &str) -> Result<f64> {
        let script = format!(
            r#"
const t0 = performance.now();
{action}
await new Promise(r => setTimeout(r, 0));
await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
return performance.now() - t0;
"#
        );
        let v = self
            .client()
            .execute(&format!("return (async () => {{ {script} }})();"), vec![])
            .await?;
        v.as_f64()
            .with_context(|| format!("timing {action:?} gave {v}"))
    }

    /// Saves a screenshot as `target/e2e/<test>-<name>.png`, after checking
    /// that no view-macro source leaked into the page as text (a mis-parsed
    /// attribute renders as literal `on:click=move |_| ...`).
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let text = self
            .eval("return document.body ? document.body.innerText : ''")
            .await?;
        let text = text.as_str().unwrap_or_default();
        for leak in ["on:click", "move |", "=move", ".get()"] {
            anyhow::ensure!(
                !text.contains(leak),
                "page {name:?} shows view source as text ({leak:?}): {text}"
            );
        }
        let png = self.client().screenshot().await?;
        let path = artefacts_dir().join(format!("{}-{name}.png", self.test));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Logs in through the login page and waits for the overview.
    pub async fn login(&self, username: &str, password: &str) -> Result<()> {
        self.goto("/login").await?;
        self.fill("#login-username", username).await?;
        self.fill("#login-password", password).await?;
        self.click("form button[type=submit]").await?;
        self.wait("[data-testid=username]").await?;
        Ok(())
    }

    /// Ends a test's browser session: when the test failed (`r`), a
    /// `failure` screenshot and the server's log first. The test's own error
    /// wins over an error closing the browser.
    pub async fn finish(self, r: Result<()>, stack: &crate::Stack) -> Result<()> {
        if r.is_err() {
            let _ = self.screenshot("failure").await;
            eprintln!("server log:\n{}", stack.log());
        }
        let closed = self.close().await;
        r.and(closed)
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(mut self) -> Result<()> {
        if let Some(c) = self.client.take() {
            c.close().await?;
        }
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium it started
        // (the group was made for it by process_group(0)).
        let pgid = berth_testkit::pid(self.driver.id());
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// Creates a user with one global role, as the stack's owner; returns the
/// user's id.
pub async fn user_with_role(
    stack: &crate::Stack,
    username: &str,
    password: &str,
    role: &str,
) -> Result<String> {
    let user: Value = stack
        .api(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(&json!({"username": username, "password": password})),
        )
        .await?
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let _: Value = stack
        .api(
            reqwest::Method::POST,
            "/api/v1/role-bindings",
            Some(&json!({"subject": {"user": user["id"]}, "role": role, "scope": "global"})),
        )
        .await?
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    Ok(user["id"].as_str().unwrap_or_default().to_string())
}

/// The owner's password in dashboard tests.
pub const OWNER_PASSWORD: &str = "correct horse battery";

/// A stack whose owner `admin` exists (no setup step), logged in for API
/// calls, with its local host online.
pub async fn owner_stack() -> Result<(crate::Stack, berth_api::hosts::Host)> {
    let mut stack = crate::Stack::start_with(crate::StackOptions {
        admin_password: Some(OWNER_PASSWORD.into()),
        ..Default::default()
    })
    .await?;
    stack.login("admin", OWNER_PASSWORD).await?;
    let host = stack
        .wait_local_host_online(Duration::from_secs(60))
        .await?;
    Ok((stack, host))
}

/// Imports the busybox test image on `host`; returns its first reference.
pub async fn import_busybox(stack: &crate::Stack, host: &str) -> Result<String> {
    let tar = crate::busybox_tarball()?;
    let v = stack.import_image(host, &tar).await?;
    v["images"][0]["references"][0]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the import named no reference: {v}"))
}

/// Creates and starts a container through the API; returns its id.
pub async fn run_container(
    stack: &crate::Stack,
    host: &str,
    name: &str,
    image: &str,
    cmd: &[&str],
) -> Result<String> {
    let spec = json!({"name": name, "image": image, "cmd": cmd, "limits": {"memory_bytes": 64u64 << 20, "pids": 64}});
    let r: std::result::Result<Value, berth_api::Problem> = stack
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/hosts/{host}/containers?start=true"),
            Some(&spec),
        )
        .await?;
    let v = r.map_err(|p| anyhow::anyhow!("creating {name}: {p}"))?;
    v["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("create answered without an id: {v}"))
}

/// Appends one measurement to `target/e2e/dashboard-metrics.json`
/// (name → value), for the report.
pub fn record_metric(name: &str, value: Value) -> Result<()> {
    let path = artefacts_dir().join("dashboard-metrics.json");
    let mut all: serde_json::Map<String, Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.insert(name.to_string(), value);
    std::fs::write(&path, serde_json::to_string_pretty(&all)?)?;
    Ok(())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_matches_javascript_for_json() {
        assert!(!truthy(&json!(null)));
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!("")));
        assert!(truthy(&json!(3)));
        assert!(truthy(&json!({"a": 1})));
    }
}
