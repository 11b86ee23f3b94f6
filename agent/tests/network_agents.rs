//! Two agents as two hosts would be (root): each agent runs in its own
//! network namespace with a veth to a shared test LAN bridge, uses the same
//! bridge name, table name, subnet and container id, and publishes the same
//! host port; a client on the LAN reaches each host's container, and each
//! container reaches the LAN masqueraded behind its host's address.

mod network_support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::time::Duration;

use berth_agent::network::{Network, NetworkConfig};
use berth_api::containers::{NetworkMode, PortMapping, Protocol};
use network_support::*;

/// The LAN: a namespace with a bridge at 192.168.77.1/24.
fn lan(name: &str) -> NetNs {
    let ns = NetNs::new(name);
    run_ok(&["ip", "-n", name, "link", "add", "lan0", "type", "bridge"]);
    run_ok(&[
        "ip",
        "-n",
        name,
        "addr",
        "add",
        "192.168.77.1/24",
        "dev",
        "lan0",
    ]);
    run_ok(&["ip", "-n", name, "link", "set", "lan0", "up"]);
    ns
}

/// Plugs host namespace `host` into the LAN as `addr`.
fn plug(lan: &NetNs, host: &NetNs, addr: &str) {
    let port = format!("{}p", host.name);
    run_ok(&[
        "ip", "-n", &lan.name, "link", "add", &port, "type", "veth", "peer", "name", "uplink",
        "netns", &host.name,
    ]);
    run_ok(&[
        "ip", "-n", &lan.name, "link", "set", &port, "master", "lan0", "up",
    ]);
    run_ok(&[
        "ip",
        "-n",
        &host.name,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        "uplink",
    ]);
    run_ok(&["ip", "-n", &host.name, "link", "set", "uplink", "up"]);
    run_ok(&[
        "ip",
        "-n",
        &host.name,
        "route",
        "add",
        "default",
        "via",
        "192.168.77.1",
    ]);
}

fn agent_config(s: &Scratch, agent: &str) -> NetworkConfig {
    // Same names in both agents: they must not meet.
    let mut cfg = s.config(agent, "10.220.0.0/24");
    cfg.bridge = format!("{}br", s.name);
    cfg.table = format!("{}t", s.name);
    cfg
}

#[test]
fn two_agents_in_two_hosts_publish_the_same_port() {
    require_root_network!();
    let s = Scratch::new("agents");
    let lan = lan(&format!("{}l", s.name));
    let host_a = NetNs::new(&format!("{}a", s.name));
    let host_b = NetNs::new(&format!("{}b", s.name));
    plug(&lan, &host_a, "192.168.77.2");
    plug(&lan, &host_b, "192.168.77.3");
    let port = [PortMapping {
        host_port: 18080,
        container_port: 80,
        protocol: Protocol::Tcp,
    }];

    let mut servers = Vec::new();
    let mut attachments = Vec::new();
    for (host, tag) in [(&host_a, "A"), (&host_b, "B")] {
        let cfg = agent_config(&s, tag);
        let att = block_on_in(&host.path, || async {
            let net = Network::open(cfg.clone()).await.expect("open");
            net.reserve("web", &NetworkMode::Bridge, &port)
                .await
                .expect("reserve");
            net.attach("web", None).await.expect("attach")
            // The Network is dropped here, as if its agent went away: the
            // kernel keeps the container's network.
        });
        let www = s.dir.path().join(format!("www{tag}"));
        servers.push(httpd(
            att.netns.as_ref().unwrap(),
            &www,
            80,
            &format!("host {tag}\n"),
        ));
        attachments.push((att, cfg));
    }
    assert_eq!(
        attachments[0].0.ip, attachments[1].0.ip,
        "same subnet, same first address"
    );

    for (addr, want) in [("192.168.77.2", "host A\n"), ("192.168.77.3", "host B\n")] {
        let url = format!("http://{addr}:18080/");
        let body = wait_for(Duration::from_secs(5), || curl_in(&lan.path, &url));
        assert_eq!(body.as_deref(), Some(want), "{url} from the LAN");
    }

    // Outbound: each container reaches the LAN as its host.
    let listener = in_ns_thread(&lan.path, || {
        TcpListener::bind("192.168.77.1:18500").expect("bind")
    });
    listener.set_nonblocking(false).unwrap();
    for (i, want) in ["192.168.77.2", "192.168.77.3"].iter().enumerate() {
        let ns = attachments[i].0.netns.clone().unwrap();
        let sender = std::thread::spawn(move || {
            in_netns(
                &ns,
                &[
                    "/bin/busybox",
                    "sh",
                    "-c",
                    "echo hi | /bin/busybox nc -w 2 192.168.77.1 18500",
                ],
            )
        });
        let (conn, peer) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = String::new();
        let _ = BufReader::new(&conn).read_line(&mut buf);
        // Closing the connection ends nc.
        drop(conn);
        sender.join().unwrap();
        assert_eq!(peer.ip().to_string(), *want, "masqueraded behind its host");
        assert_eq!(buf.trim(), "hi");
    }

    // Each agent cleans its own host only.
    drop(servers);
    for (host, (_, cfg)) in [&host_a, &host_b].into_iter().zip(attachments) {
        block_on_in(&host.path, || async {
            let net = Network::open(cfg.clone()).await.expect("reopen");
            net.release("web").await.expect("release");
            let t = nft_table_in(&host.path, &cfg.table).expect("table");
            assert!(rules_of(&t, "published").is_empty());
        });
    }
}
