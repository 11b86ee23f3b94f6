//! Containers on the bridge through the whole agent: an address from IPAM,
//! a published port answering on the host's localhost, two containers that
//! reach each other, and `none` with only loopback, up. The agent's
//! networking lives in a scratch network namespace (the test's "host").
//! Needs root.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestAgent, is_root, skip};
use serde_json::json;

fn in_netns(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(args)
        .output()
        .expect("nsenter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_ports_and_none() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (network namespaces, nftables)");
        return Ok(());
    }
    for tool in ["nft", "nsenter", "curl", "ip"] {
        if Command::new(tool).arg("--version").output().is_err() {
            skip(&format!("{tool} is not installed"));
            return Ok(());
        }
    }
    let agent = TestAgent::start("bridge").await?;
    agent.import_busybox().await?;
    let host_ns = agent
        .config
        .network_netns
        .clone()
        .unwrap()
        .to_string_lossy()
        .to_string();
    // The scratch "host" needs its loopback for 127.0.0.1.
    let out = in_netns(&host_ns, &["ip", "link", "set", "lo", "up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (s, web) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "web", "image": "busybox",
                    "cmd": ["sh", "-c", "while true; do echo hello-from-berth | nc -l -p 80; done"],
                    "ports": [{"host_port": 18080, "container_port": 80, "protocol": "tcp"}]}),
        )
        .await?;
    assert_eq!(s, 201, "{web}");
    let (_, web) = agent.get_json("/v1/containers/web").await?;
    assert_eq!(web["network"], "bridge", "{web}");
    let ip = web["ip_address"].as_str().expect("an address").to_string();
    assert!(ip.starts_with("10.88."), "{ip}");

    // The same host port again is taken.
    let (s, p) = agent
        .post_json(
            "/v1/containers",
            &json!({"image": "busybox", "cmd": ["true"], "ports": [{"host_port": 18080, "container_port": 81}]}),
        )
        .await?;
    assert_eq!(s, 409, "{p}");

    // The published port answers on the host's localhost.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = in_netns(
            &host_ns,
            &[
                "curl",
                "-s",
                "--http0.9",
                "--max-time",
                "2",
                "http://127.0.0.1:18080/",
            ],
        );
        if String::from_utf8_lossy(&out.stdout).contains("hello-from-berth") {
            break;
        }
        if Instant::now() > deadline {
            let rules = in_netns(&host_ns, &["nft", "list", "ruleset"]);
            panic!(
                "no answer on 127.0.0.1:18080: {}\nrules: {}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&rules.stdout)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A second container reaches the first by its address.
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "client", "image": "busybox", "cmd": ["sleep", "600"]}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let (_, client) = agent.get_json("/v1/containers/client").await?;
    assert_ne!(client["ip_address"], web["ip_address"]);
    let pid = client["pid"].as_u64().unwrap();
    let out = in_netns(
        &format!("/proc/{pid}/ns/net"),
        &[
            "curl",
            "-s",
            "--http0.9",
            "--max-time",
            "3",
            &format!("http://{ip}/"),
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello-from-berth"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts = std::fs::read_to_string(
        agent
            .config
            .paths()
            .container_dir(client["id"].as_str().unwrap())
            .join("etc/hosts"),
    )?;
    assert!(hosts.contains("client"), "{hosts}");

    // none: loopback only, and up.
    let (s, c) = agent
        .post_json("/v1/containers?start=true", &json!({"name": "alone", "image": "busybox", "cmd": ["sleep", "600"], "network": "none"}))
        .await?;
    assert_eq!(s, 201, "{c}");
    let (_, alone) = agent.get_json("/v1/containers/alone").await?;
    let pid = alone["pid"].as_u64().unwrap();
    let out = in_netns(
        &format!("/proc/{pid}/ns/net"),
        &["busybox", "ip", "-o", "link"],
    );
    let links = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    let out = in_netns(
        &format!("/proc/{pid}/ns/net"),
        &[
            "curl",
            "-s",
            "--http0.9",
            "--max-time",
            "2",
            &format!("http://{ip}/"),
        ],
    );
    assert!(!out.status.success(), "none reached the bridge");

    for name in ["web", "client", "alone"] {
        assert_eq!(
            agent
                .delete(&format!("/v1/containers/{name}?force=true"))
                .await?,
            204
        );
    }
    // Released: the port can be published again.
    let (s, p) = agent
        .post_json("/v1/containers", &json!({"image": "busybox", "cmd": ["true"], "ports": [{"host_port": 18080, "container_port": 80}]}))
        .await?;
    assert_eq!(s, 201, "{p}");
    Ok(())
}
