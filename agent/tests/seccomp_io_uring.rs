//! io_uring is off in Berth containers (as in Docker 25's default
//! profile): a static probe that really calls io_uring_setup,
//! io_uring_enter and io_uring_register gets EPERM (the profile's errno)
//! in the container and in an exec into it, while the same probe on the
//! host gets a ring (and EBADF for the bad fds) and ordinary work in the
//! container runs. Needs root and `cc -static`.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{TestAgent, is_root, skip};
use serde_json::json;

/// Prints `setup=<0|errno> enter=<errno> register=<errno>`.
const PROBE_C: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#define SYS_io_uring_enter 426
#define SYS_io_uring_register 427
#endif
int main(void) {
    unsigned char params[128]; /* struct io_uring_params is 120 bytes */
    memset(params, 0, sizeof params);
    long fd = syscall(SYS_io_uring_setup, 4, params);
    int setup = fd >= 0 ? 0 : errno;
    if (fd >= 0) close((int)fd);
    int enter = syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0) < 0 ? errno : 0;
    int reg = syscall(SYS_io_uring_register, -1, 0, NULL, 0) < 0 ? errno : 0;
    printf("uring setup=%d enter=%d register=%d\n", setup, enter, reg);
    return 0;
}
"#;

async fn log_text(agent: &TestAgent, c: &str) -> Result<Vec<String>> {
    let (_, logs) = agent.get_json(&format!("/v1/containers/{c}/logs")).await?;
    Ok(logs
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_uring_is_refused_in_containers_and_execs() -> Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs, seccomp)");
        return Ok(());
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-io-uring-")
        .tempdir()?;
    let probe = dir.path().join("uring");
    if !common::cc_static(PROBE_C, &probe)? {
        skip("no C compiler (cc) to build the static io_uring probe");
        return Ok(());
    }
    // On the host the same probe gets a ring: otherwise a refusal in the
    // container would prove nothing.
    let host = std::process::Command::new(&probe).output()?;
    let host = String::from_utf8_lossy(&host.stdout).trim().to_string();
    if !host.starts_with("uring setup=0 ") {
        skip(&format!(
            "io_uring is off on this host ({host}; /proc/sys/kernel/io_uring_disabled)"
        ));
        return Ok(());
    }
    // The calls reach io_uring on the host: EBADF for enter's bad fd, and
    // register refuses its arguments (EINVAL or EBADF), never with EPERM.
    assert!(
        host.starts_with("uring setup=0 enter=9 register=") && !host.ends_with("register=1"),
        "{host}"
    );
    let refused = "uring setup=1 enter=1 register=1";

    let agent = TestAgent::start("iouring").await?;
    agent.import_busybox().await?;
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "uring", "image": "busybox", "network": "none",
                    "mounts": [{"source": dir.path().to_str().context("utf-8 path")?,
                                "target": "/x", "readonly": true}],
                    "cmd": ["sh", "-c",
                            "/x/uring; echo work=$(seq 1 3 | wc -l); exec sleep 600"]}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let lines = log_text(&agent, "uring").await?;
        if lines.iter().any(|l| l.starts_with("work=")) {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "the container did not finish: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(lines.iter().any(|l| l == refused), "{lines:?}");
    assert!(lines.iter().any(|l| l == "work=3"), "{lines:?}");

    // An exec runs under the same filter.
    let mut ws = agent
        .ws("/v1/containers/uring/exec?cmd=/x/uring&tty=false")
        .await?;
    let (out, exit) = common::exec_output(&mut ws).await?;
    assert_eq!(exit, Some(0), "{out:?}");
    assert!(out.contains(refused), "{out:?}");

    assert_eq!(agent.delete("/v1/containers/uring?force=true").await?, 204);
    Ok(())
}
