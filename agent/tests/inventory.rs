//! The namespace inventory against util-linux `lsns -J` on the same host,
//! a container's namespaces against the host's, and the cgroup tree with
//! the container's limits. Needs root.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{TestAgent, is_root, skip};
use serde_json::{Value, json};

fn find_node<'a>(n: &'a Value, path: &str) -> Option<&'a Value> {
    if n["path"] == path {
        return Some(n);
    }
    n["children"]
        .as_array()?
        .iter()
        .find_map(|c| find_node(c, path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_match_lsns_and_cgroups_show_limits() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    if Command::new("lsns").arg("--version").output().is_err() {
        skip("lsns (util-linux) is not installed");
        return Ok(());
    }
    let agent = TestAgent::start("inventory").await?;
    agent.import_busybox().await?;
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "ns", "image": "busybox", "cmd": ["sleep", "600"], "network": "none",
                    "limits": {"memory_bytes": 32u64 << 20, "pids": 20, "nano_cpus": 500_000_000u64}}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (s, hostnet) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "hostnet", "image": "busybox", "cmd": ["sleep", "600"], "network": "host"}),
        )
        .await?;
    assert_eq!(s, 201, "{hostnet}");

    // Ours and lsns's, read back to back.
    let (s, ours) = agent.get_json("/v1/namespaces").await?;
    assert_eq!(s, 200);
    let out = Command::new("lsns").arg("-J").output()?;
    let theirs: Value = serde_json::from_slice(&out.stdout)?;
    let ours: HashMap<(u64, String), Value> = ours
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                (
                    e["inode"].as_u64().unwrap(),
                    e["type"].as_str().unwrap().to_string(),
                ),
                e.clone(),
            )
        })
        .collect();
    let theirs: Vec<&Value> = theirs["namespaces"].as_array().unwrap().iter().collect();
    let mut matched = 0;
    for t in &theirs {
        let key = (
            t["ns"].as_u64().unwrap(),
            t["type"].as_str().unwrap().to_string(),
        );
        let Some(o) = ours.get(&key) else { continue };
        matched += 1;
        // Processes come and go on a busy machine; a namespace whose
        // lowest pid is stable must agree on pid, user and command.
        if o["pid"] == t["pid"] {
            assert_eq!(o["user"], t["user"], "{o} vs {t}");
            assert_eq!(o["command"], t["command"], "{o} vs {t}");
        }
    }
    assert!(
        matched * 100 >= theirs.len() * 95,
        "only {matched} of lsns's {} namespaces found",
        theirs.len()
    );
    assert!(
        ours.len() * 100 <= theirs.len() * 105 + 500,
        "{} vs {}",
        ours.len(),
        theirs.len()
    );

    // The container's own namespaces are tagged with it and exact.
    let pid = c_pid(&agent, "ns").await?;
    for t in ["mnt", "uts", "ipc", "pid", "net"] {
        let ino: u64 = std::fs::read_link(format!("/proc/{pid}/ns/{t}"))?
            .to_string_lossy()
            .rsplit_once('[')
            .unwrap()
            .1
            .trim_end_matches(']')
            .parse()?;
        let o = &ours[&(ino, t.to_string())];
        assert_eq!(o["container"], id.as_str(), "{t}: {o}");
        assert_eq!(o["pid"], pid, "{t}: {o}");
        assert_eq!(o["nprocs"], 1, "{t}: {o}");
        assert_eq!(o["command"], "sleep 600", "{t}: {o}");
    }

    // Container vs host.
    let (s, nss) = agent.get_json("/v1/containers/ns/namespaces").await?;
    assert_eq!(s, 200);
    let by: HashMap<&str, &Value> = nss
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["type"].as_str().unwrap(), n))
        .collect();
    assert_eq!(by.len(), 7, "{nss}");
    for t in ["mnt", "uts", "ipc", "pid", "net"] {
        assert_eq!(by[t]["shared_with_host"], false, "{t}");
    }
    assert_eq!(by["user"]["shared_with_host"], true);
    let (_, hn) = agent.get_json("/v1/containers/hostnet/namespaces").await?;
    let net = hn
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "net")
        .unwrap();
    assert_eq!(net["shared_with_host"], true, "{hn}");

    // The cgroup tree holds the container with its limits.
    let before = top_level_cgroups();
    let (s, tree) = agent.get_json("/v1/cgroups").await?;
    let after = top_level_cgroups();
    assert_eq!(s, 200);
    assert_eq!(tree["path"], "/");
    let path = format!("{}/{id}", agent.config.cgroup_parent);
    let node = find_node(&tree, &path).unwrap_or_else(|| panic!("{path} not in {tree}"));
    assert_eq!(node["container"], id.as_str());
    assert_eq!(node["limits"]["memory.max"], (32u64 << 20).to_string());
    assert_eq!(node["limits"]["pids.max"], "20");
    assert_eq!(node["limits"]["cpu.max"], "50000 100000");
    assert!(node["usage"]["pids"].as_u64().unwrap() >= 1);
    assert!(
        node["controllers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "memory")
    );
    // The host's top level: every top-level cgroup that was there before
    // and after the call (a VM guest may have /berth alone).
    let tops: Vec<String> = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["path"].as_str().map(str::to_string))
        .collect();
    assert!(!tops.is_empty(), "host top level: {tree}");
    for t in before.intersection(&after) {
        assert!(
            tops.contains(t),
            "{t} missing from the host top level: {tree}"
        );
    }

    let (s, _) = agent.post("/v1/containers/ns/stop?timeout=1").await?;
    assert_eq!(s, 200);
    assert_eq!(agent.get_json("/v1/containers/ns/namespaces").await?.0, 409);
    Ok(())
}

async fn c_pid(agent: &TestAgent, name: &str) -> anyhow::Result<u64> {
    let (_, c) = agent.get_json(&format!("/v1/containers/{name}")).await?;
    Ok(c["pid"].as_u64().unwrap())
}

/// The top-level cgroups ("/name") of the hierarchy the agent names
/// cgroups by: the unified one on v2, the memory controller's on v1.
fn top_level_cgroups() -> std::collections::BTreeSet<String> {
    let root = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/memory"
    };
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| format!("/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default()
}
