//! Crash safety of IPAM and of the nftables table (root): an agent process
//! is SIGKILLed between allocating an address and attaching it, or with a
//! container attached; the next agent never hands the address out twice,
//! rebuilds the table from its state, and reclaims everything once the
//! container is known to be gone.

mod network_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use berth_agent::network::{Error, Network, NetworkConfig};
use berth_api::containers::{NetworkMode, PortMapping, Protocol};
use network_support::*;

const CHILD_ENV: &str = "BERTH_NET_CRASH_CHILD";

fn web_port() -> PortMapping {
    PortMapping {
        host_port: 18080,
        container_port: 80,
        protocol: Protocol::Tcp,
    }
}

/// Not a test: the agent process the crash tests start and kill. It opens
/// the network described by its environment, reserves (and with `attach`,
/// attaches) container `crashy`, says `ready`, and waits to be killed.
#[test]
#[ignore = "helper process of the crash tests, started by them"]
fn crash_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        eprintln!("skipped: this is the crash tests' child process, not a test");
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let mut cfg = NetworkConfig::new(
        std::path::Path::new("/nonexistent"),
        std::path::Path::new("/nonexistent"),
    );
    cfg.state_dir = var("BERTH_NET_STATE").into();
    cfg.netns_dir = var("BERTH_NET_NETNS_DIR").into();
    cfg.bridge = var("BERTH_NET_BRIDGE");
    cfg.table = var("BERTH_NET_TABLE");
    cfg.subnet = var("BERTH_NET_SUBNET").parse().expect("subnet");
    let host = std::path::PathBuf::from(var("BERTH_NET_NS"));
    block_on_in(&host, || async move {
        let net = Network::open(cfg).await.expect("child: open");
        let r = net
            .reserve("crashy", &NetworkMode::Bridge, &[web_port()])
            .await
            .expect("child: reserve");
        if mode == "attach" {
            net.attach("crashy", None).await.expect("child: attach");
        }
        println!("ready {}", r.ip.expect("an address"));
        // Wait for the SIGKILL; never clean anything.
        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        std::process::exit(3);
    });
}

/// Runs `crash_child` in `mode` against `cfg` in `s`'s host namespace,
/// waits until it is ready, SIGKILLs it and returns the address it took.
fn run_and_kill_child(s: &Scratch, cfg: &NetworkConfig, mode: &str) -> Ipv4Addr {
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .env("BERTH_NET_NS", &s.host.path)
        .env("BERTH_NET_STATE", &cfg.state_dir)
        .env("BERTH_NET_NETNS_DIR", &cfg.netns_dir)
        .env("BERTH_NET_BRIDGE", &cfg.bridge)
        .env("BERTH_NET_TABLE", &cfg.table)
        .env("BERTH_NET_SUBNET", cfg.subnet.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child agent");
    let mut proc = Proc { child };
    let mut out = BufReader::new(proc.child.stdout.take().expect("piped stdout"));
    let line = loop {
        let mut l = String::new();
        let n = out.read_line(&mut l).unwrap_or(0);
        // The harness prints "test crash_child ... " before it, unterminated.
        if n == 0 || l.contains("ready ") {
            break l.trim().to_string();
        }
    };
    let ip = line
        .split_once("ready ")
        .map(|(_, ip)| ip)
        .unwrap_or_else(|| panic!("the child agent did not get ready: {line:?}"))
        .parse()
        .expect("an address");
    // SIGKILL: no destructor, no cleanup.
    proc.child.kill().expect("kill the child agent");
    let status = proc.child.wait().expect("reap the child agent");
    assert!(!status.success());
    ip
}

fn one(id: &str) -> HashSet<String> {
    [id.to_string()].into_iter().collect()
}

#[test]
fn an_address_survives_a_kill_between_allocate_and_attach() {
    require_root_network!();
    let s = Scratch::new("crash1");
    // A /30 has exactly one address to give.
    let cfg = s.config("a", "10.211.0.0/30");
    let taken = run_and_kill_child(&s, &cfg, "reserve");
    assert_eq!(taken, Ipv4Addr::new(10, 211, 0, 2));
    s.run(|| async {
        let net = Network::open(cfg.clone())
            .await
            .expect("open after the crash");
        let r = net
            .reservation("crashy")
            .await
            .expect("the reservation was durable");
        assert_eq!(r.ip, Some(taken));
        let e = net
            .reserve("next", &NetworkMode::Bridge, &[])
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Conflict(_)),
            "the address must not be handed out twice: {e}"
        );

        // The agent learns that `crashy` never made it: reclaim.
        let released = net.reconcile(&one("keeper")).await.expect("reconcile");
        assert_eq!(released, ["crashy"]);
        let r = net
            .reserve("next", &NetworkMode::Bridge, &[web_port()])
            .await
            .expect("reclaimed");
        assert_eq!(r.ip, Some(taken));
        net.release("next").await.unwrap();
    });
}

#[test]
fn a_kill_with_a_container_attached_leaves_nothing_stale() {
    require_root_network!();
    let s = Scratch::new("crash2");
    let cfg = s.config("a", "10.212.0.0/30");
    let taken = run_and_kill_child(&s, &cfg, "attach");
    let host_links = || run_ok(&["ip", "-n", &s.host.name, "-o", "link"]);
    assert!(host_links().contains(": bv"), "the child made a veth");
    s.run(|| async {
        let net = Network::open(cfg.clone())
            .await
            .expect("open after the crash");
        // The container may still run: its network and rules are kept.
        let t = s.nft_table(&cfg.table).expect("table");
        assert_eq!(rules_of(&t, "published").len(), 1, "rebuilt from state");
        let a = net
            .attach("crashy", None)
            .await
            .expect("the attachment is alive");
        assert_eq!(a.ip, Some(taken));
        let e = net
            .reserve("other", &NetworkMode::Bridge, &[])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");

        let released = net.reconcile(&HashSet::new()).await.expect("reconcile");
        assert_eq!(released, ["crashy"]);
        let t = s.nft_table(&cfg.table).expect("table");
        assert!(rules_of(&t, "published").is_empty(), "no stale rule: {t}");
        assert!(!host_links().contains(": bv"), "no stale veth");
        assert!(
            !a.netns.as_ref().unwrap().exists(),
            "no stale namespace file"
        );
        let r = net
            .reserve("other", &NetworkMode::Bridge, &[])
            .await
            .expect("reclaimed");
        assert_eq!(r.ip, Some(taken));
        net.release("other").await.unwrap();
    });
}

#[test]
fn a_half_made_attachment_is_cleaned_at_open() {
    require_root_network!();
    let s = Scratch::new("crash3");
    let cfg = s.config("a", "10.213.0.0/24");
    run_and_kill_child(&s, &cfg, "attach");
    // As if the crash came between the namespace and the veth.
    let links = run_ok(&["ip", "-n", &s.host.name, "-o", "link"]);
    let veth = links
        .split(": ")
        .find(|w| w.starts_with("bv"))
        .and_then(|w| w.split('@').next())
        .expect("the child's veth")
        .to_string();
    run_ok(&["ip", "-n", &s.host.name, "link", "del", &veth]);
    let netns_file = cfg.netns_dir.join("crashy");
    assert!(netns_file.exists());
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        assert!(
            !netns_file.exists(),
            "the dead attachment's namespace is removed"
        );
        let t = s.nft_table(&cfg.table).expect("table");
        assert!(
            rules_of(&t, "published").is_empty(),
            "no rule for a dead attachment"
        );
        assert!(
            net.reservation("crashy").await.is_some(),
            "the reservation stays"
        );
        let a = net.attach("crashy", None).await.expect("attach again");
        assert!(netns_file.exists() && a.veth.is_some());
        let t = s.nft_table(&cfg.table).expect("table");
        assert_eq!(rules_of(&t, "published").len(), 1);
        net.release("crashy").await.unwrap();
    });
}

#[test]
fn a_bare_address_claim_is_reclaimed_only_by_reconcile() {
    require_root_network!();
    let s = Scratch::new("crash4");
    let cfg = s.config("a", "10.214.0.0/30");
    // What a crash between claiming the address and writing the record
    // leaves: the claim alone.
    let claims = cfg.state_dir.join("addresses");
    std::fs::create_dir_all(&claims).unwrap();
    std::fs::write(claims.join("10.214.0.2"), "ghost").unwrap();
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        assert!(
            net.reserve("c", &NetworkMode::Bridge, &[]).await.is_err(),
            "claimed"
        );
        assert_eq!(net.reconcile(&one("c")).await.unwrap(), ["ghost"]);
        let r = net
            .reserve("c", &NetworkMode::Bridge, &[])
            .await
            .expect("free now");
        assert_eq!(r.ip, Some(Ipv4Addr::new(10, 214, 0, 2)));
        // Reconcile keeps what exists.
        assert!(net.reconcile(&one("c")).await.unwrap().is_empty());
        assert!(net.reservation("c").await.is_some());
        net.release("c").await.unwrap();
    });
}
