//! Log rotation through a real container at the default limits (10 MB × 3):
//! a container writes about 34 MB; the log is then `container.log`,
//! `.1` and `.2` (no `.3`), none over 10 MiB, the rotated ones nearly full,
//! the kept lines contiguous up to the last one (nothing lost at a rotation
//! boundary, the oldest dropped), and `logs?tail=` spans the boundary
//! between the rotated file and the live one. Needs root.

mod common;

use std::path::Path;

use common::{TestAgent, is_root, skip};
use serde_json::json;

/// Lines the container prints: `%07d` counter, a space, 100 × `x`.
const LINES: u64 = 200_000;
const MAX_SIZE: u64 = 10 * 1024 * 1024;

/// The counters of a log file's lines, in order.
fn counters(path: &Path) -> anyhow::Result<Vec<u64>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            let t = v["text"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no text in {l}"))?;
            anyhow::ensure!(t.len() == 108 && t.ends_with('x'), "cut line {t:?}");
            Ok(t[..7].parse()?)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_log_rotates_at_10_mb_keeping_3_files() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let agent = TestAgent::start("logrot").await?;
    agent.import_busybox().await?;
    let script = format!(
        "awk 'BEGIN {{ p = sprintf(\"%100s\", \"\"); gsub(/ /, \"x\", p); \
         for (i = 1; i <= {LINES}; i++) printf \"%07d %s\\n\", i, p }}'"
    );
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "chatty", "image": "busybox", "network": "none",
                    "cmd": ["sh", "-c", script]}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let v = agent
        .wait_for("chatty", "stopped", |c| c["state"] == "stopped")
        .await?;
    assert_eq!(v["exit_code"], 0, "{v}");

    let dir = agent.config.paths().container_dir(&id).join("logs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(
        names,
        ["container.log", "container.log.1", "container.log.2"],
        "three files kept"
    );
    let size = |n: &str| std::fs::metadata(dir.join(n)).map(|m| m.len());
    for n in &names {
        assert!(size(n)? <= MAX_SIZE, "{n}: {} bytes", size(n)?);
    }
    for n in ["container.log.1", "container.log.2"] {
        // Rotated when the next line (~170 bytes) would not fit.
        assert!(size(n)? > MAX_SIZE - 1024, "{n}: {} bytes", size(n)?);
    }

    // Oldest first; contiguous across both boundaries, ending at the last
    // line; the first ~4 MB were dropped with the file that held them.
    let old2 = counters(&dir.join("container.log.2"))?;
    let old1 = counters(&dir.join("container.log.1"))?;
    let live = counters(&dir.join("container.log"))?;
    assert!(!live.is_empty());
    let all: Vec<u64> = old2.iter().chain(&old1).chain(&live).copied().collect();
    assert!(all[0] > 1, "the oldest lines were not dropped");
    assert_eq!(*all.last().unwrap(), LINES);
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap in the kept lines"
    );

    // tail reaches back over the live file into container.log.1.
    let n = live.len() + 5;
    let (s, tail) = agent
        .get_json(&format!("/v1/containers/chatty/logs?tail={n}"))
        .await?;
    assert_eq!(s, 200, "{tail}");
    let got: Vec<u64> = tail
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap()[..7].parse().unwrap())
        .collect();
    let want: Vec<u64> = (LINES + 1 - n as u64..=LINES).collect();
    assert_eq!(got, want, "tail={n}");
    assert_eq!(&got[..5], &old1[old1.len() - 5..]);

    assert_eq!(agent.delete("/v1/containers/chatty").await?, 204);
    assert!(!dir.exists(), "the log went with the container");
    Ok(())
}
