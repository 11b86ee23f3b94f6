//! Bridge networking for real (root): containers on the bridge reach each
//! other, published tcp and udp ports answer on the host's addresses and
//! its 127.0.0.1, none mode has no way out, a taken port is a 409, and the
//! nftables table holds no rule for a container once it is gone.

mod network_support;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_agent::network::{Error, Network};
use berth_api::containers::{NetworkMode, PortMapping, Protocol};
use network_support::*;

fn tcp(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_port,
        container_port,
        protocol: Protocol::Tcp,
    }
}

fn udp(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_port,
        container_port,
        protocol: Protocol::Udp,
    }
}

#[test]
fn two_containers_on_the_bridge_ping_each_other() {
    require_root_network!();
    let s = Scratch::new("ping");
    let cfg = s.config("a", "10.201.0.0/24");
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        let mut atts = Vec::new();
        for id in ["c1", "c2"] {
            let r = net
                .reserve(id, &NetworkMode::Bridge, &[])
                .await
                .expect("reserve");
            let a = net.attach(id, None).await.expect("attach");
            assert_eq!(a.ip, r.ip);
            assert_eq!(a.gateway, Some(Ipv4Addr::new(10, 201, 0, 1)));
            assert_eq!(a.prefix_len, 24);
            atts.push(a);
        }
        assert_ne!(atts[0].ip, atts[1].ip);
        let a_ns = atts[0].netns.clone().expect("own netns");
        let b_ip = atts[1].ip.expect("address").to_string();

        // eth0 carries the address and the MAC; lo is up; default route.
        let addr = in_netns(&a_ns, &["/bin/busybox", "ip", "addr", "show", "eth0"]);
        let addr = String::from_utf8_lossy(&addr.stdout);
        assert!(
            addr.contains(&format!("{}/24", atts[0].ip.unwrap())),
            "{addr}"
        );
        assert!(addr.contains(atts[0].mac.as_deref().unwrap()), "{addr}");
        let route =
            String::from_utf8_lossy(&in_netns(&a_ns, &["/bin/busybox", "ip", "route"]).stdout)
                .into_owned();
        assert!(route.contains("default via 10.201.0.1 dev eth0"), "{route}");
        let lo = in_netns(
            &a_ns,
            &["/bin/busybox", "ping", "-c", "1", "-W", "2", "127.0.0.1"],
        );
        assert!(lo.status.success(), "loopback is down in the container");

        let ping = in_netns(
            &a_ns,
            &["/bin/busybox", "ping", "-c", "2", "-W", "2", &b_ip],
        );
        assert!(
            ping.status.success(),
            "c1 cannot ping c2 ({b_ip}): {}",
            String::from_utf8_lossy(&ping.stdout)
        );
        let gw = in_netns(
            &a_ns,
            &["/bin/busybox", "ping", "-c", "1", "-W", "2", "10.201.0.1"],
        );
        assert!(gw.status.success(), "c1 cannot ping the gateway");

        // The stats of a process in c1's namespace count that traffic.
        let sleeper = spawn_in(&a_ns, &["/bin/busybox", "sleep", "30"]);
        let stats = wait_for(Duration::from_secs(3), || {
            net.stats(sleeper.pid()).ok().filter(|s| s.tx_packets >= 3)
        })
        .expect("stats of the container's process");
        assert!(
            stats.rx_packets >= 3 && stats.rx_bytes > 0 && stats.tx_bytes > 0,
            "{stats:?}"
        );

        // Attaching again is idempotent while the network is up.
        assert_eq!(net.attach("c1", None).await.expect("re-attach"), atts[0]);

        for id in ["c1", "c2"] {
            net.release(id).await.expect("release");
        }
        assert!(
            !a_ns.exists(),
            "the namespace file is removed with the container"
        );
        let links = run_ok(&["ip", "-n", &s.host.name, "-o", "link"]);
        assert!(!links.contains(atts[0].veth.as_deref().unwrap()), "{links}");
    });
}

#[test]
fn published_tcp_port_answers_on_localhost_host_addresses_and_hairpin() {
    require_root_network!();
    let s = Scratch::new("httpd");
    let cfg = s.config("a", "10.202.0.0/24");
    // A host address other than loopback, as a NIC's would be.
    run_ok(&[
        "ip",
        "-n",
        &s.host.name,
        "addr",
        "add",
        "198.51.100.7/32",
        "dev",
        "lo",
    ]);
    let www = s.dir.path().join("www");
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        net.reserve("web", &NetworkMode::Bridge, &[tcp(18080, 80)])
            .await
            .expect("reserve");
        let a = net.attach("web", None).await.expect("attach");
        let ns = a.netns.clone().unwrap();
        let _httpd = httpd(&ns, &www, 80, "hello from berth\n");
        let host = s.host.path.clone();
        let body = wait_for(Duration::from_secs(5), || {
            curl_in(&host, "http://127.0.0.1:18080/")
        });
        assert_eq!(
            body.as_deref(),
            Some("hello from berth\n"),
            "curl 127.0.0.1:18080 on the host"
        );
        assert_eq!(
            curl_in(&host, "http://198.51.100.7:18080/").as_deref(),
            Some("hello from berth\n"),
            "through a host address"
        );
        assert_eq!(
            curl_in(&host, "http://10.202.0.1:18080/").as_deref(),
            Some("hello from berth\n"),
            "through the gateway address"
        );
        // Hairpin: the container reaches its own published port.
        assert_eq!(
            curl_in(&ns, "http://198.51.100.7:18080/").as_deref(),
            Some("hello from berth\n"),
            "from the container itself through a host address"
        );
        // The port is not open on the container's own address unpublished.
        assert!(curl_in(&host, "http://127.0.0.1:18081/").is_none());

        // Another container reaches it through the host too.
        net.reserve("client", &NetworkMode::Bridge, &[])
            .await
            .expect("reserve client");
        let c = net.attach("client", None).await.expect("attach client");
        assert_eq!(
            curl_in(c.netns.as_ref().unwrap(), "http://198.51.100.7:18080/").as_deref(),
            Some("hello from berth\n"),
            "from another container through a host address"
        );

        net.release("web").await.expect("release");
        assert!(
            curl_in(&host, "http://127.0.0.1:18080/").is_none(),
            "the rule went with the container"
        );
        net.release("client").await.expect("release client");
    });
}

/// Echoes UDP datagrams on `port` inside namespace `ns` until told to stop.
fn udp_echo(
    ns: &Path,
    port: u16,
) -> (
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let file = std::fs::File::open(ns).expect("open netns");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        use std::os::fd::AsFd;
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind echo");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 1500];
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let mut reply = b"echo:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = sock.send_to(&reply, from);
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("echo server ready");
    (handle, stop)
}

fn udp_ask(host_ns: &Path, to: SocketAddr, msg: &str) -> Option<String> {
    let msg = msg.to_string();
    in_ns_thread(host_ns, move || {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        for _ in 0..5 {
            sock.send_to(msg.as_bytes(), to).ok()?;
            let mut buf = [0u8; 1500];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        None
    })
}

#[test]
fn udp_echo_through_a_published_udp_port() {
    require_root_network!();
    let s = Scratch::new("udp");
    let cfg = s.config("a", "10.203.0.0/24");
    run_ok(&[
        "ip",
        "-n",
        &s.host.name,
        "addr",
        "add",
        "198.51.100.8/32",
        "dev",
        "lo",
    ]);
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        net.reserve("dns", &NetworkMode::Bridge, &[udp(15353, 53)])
            .await
            .expect("reserve");
        let a = net.attach("dns", None).await.expect("attach");
        let (server, stop) = udp_echo(a.netns.as_ref().unwrap(), 53);
        let host = s.host.path.clone();
        let local = udp_ask(&host, "127.0.0.1:15353".parse().unwrap(), "ping1");
        let remote = udp_ask(&host, "198.51.100.8:15353".parse().unwrap(), "ping2");
        // Not published for tcp.
        let tcp_refused = curl_in(&host, "http://127.0.0.1:15353/").is_none();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        server.join().unwrap();
        assert_eq!(local.as_deref(), Some("echo:ping1"), "udp via 127.0.0.1");
        assert_eq!(
            remote.as_deref(),
            Some("echo:ping2"),
            "udp via a host address"
        );
        assert!(tcp_refused);
        net.release("dns").await.expect("release");
    });
}

#[test]
fn none_mode_has_loopback_up_and_no_route_out() {
    require_root_network!();
    let s = Scratch::new("none");
    let cfg = s.config("a", "10.204.0.0/24");
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        let r = net
            .reserve("lonely", &NetworkMode::None, &[])
            .await
            .expect("reserve");
        assert_eq!(r.ip, None);
        let a = net.attach("lonely", None).await.expect("attach");
        assert_eq!(a.ip, None);
        assert_eq!(a.veth, None);
        let ns = a.netns.clone().expect("a namespace of its own");
        let links =
            String::from_utf8_lossy(&in_netns(&ns, &["/bin/busybox", "ip", "-o", "link"]).stdout)
                .into_owned();
        assert_eq!(links.lines().count(), 1, "only loopback: {links}");
        assert!(
            links.contains("lo:") && links.contains("UP"),
            "loopback up: {links}"
        );
        let routes =
            String::from_utf8_lossy(&in_netns(&ns, &["/bin/busybox", "ip", "route"]).stdout)
                .into_owned();
        assert!(routes.trim().is_empty(), "no routes: {routes}");
        assert!(
            in_netns(
                &ns,
                &["/bin/busybox", "ping", "-c", "1", "-W", "1", "127.0.0.1"]
            )
            .status
            .success()
        );
        let out = in_ns_thread(&ns, || {
            std::net::TcpStream::connect_timeout(
                &"10.204.0.1:80".parse().unwrap(),
                Duration::from_secs(1),
            )
            .map(|_| ())
            .map_err(|e| e.kind())
        });
        assert_eq!(out, Err(std::io::ErrorKind::NetworkUnreachable));
        net.release("lonely").await.expect("release");
        assert!(!ns.exists());
    });
}

#[test]
fn host_and_container_modes() {
    require_root_network!();
    let s = Scratch::new("modes");
    let cfg = s.config("a", "10.205.0.0/24");
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        net.reserve("h", &NetworkMode::Host, &[])
            .await
            .expect("reserve host");
        assert_eq!(
            net.attach("h", None).await.expect("attach host").netns,
            None
        );
        let e = net
            .reserve("hp", &NetworkMode::Host, &[tcp(80, 80)])
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{e}");

        net.reserve("pod", &NetworkMode::Bridge, &[tcp(18080, 80)])
            .await
            .expect("reserve pod");
        net.reserve("side", &NetworkMode::Container("pod".into()), &[])
            .await
            .expect("reserve side");
        let e = net.attach("side", None).await.unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "peer not running: {e}");
        let pod = net.attach("pod", None).await.expect("attach pod");
        let side = net.attach("side", None).await.expect("attach side");
        assert_eq!(side.netns, pod.netns, "joins the pod's namespace");
        assert_eq!(side.ip, pod.ip);
        assert_eq!(side.veth, None);
        let e = net
            .reserve("side2", &NetworkMode::Container("pod".into()), &[tcp(1, 1)])
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        let e = net
            .reserve("x", &NetworkMode::Container("nobody".into()), &[])
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        // container: of a host-mode container is the host's network.
        net.reserve("hh", &NetworkMode::Container("h".into()), &[])
            .await
            .expect("reserve");
        assert_eq!(net.attach("hh", None).await.expect("attach").netns, None);

        let e = net.attach("unknown", None).await.unwrap_err();
        assert!(matches!(e, Error::NotReserved(_)), "{e}");
        assert_eq!(e.status(), 409);
        let e = net
            .reserve("../evil", &NetworkMode::Bridge, &[])
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400);
        for id in ["side", "hh", "pod", "h"] {
            net.release(id).await.expect("release");
        }
        assert!(net.reservations().await.is_empty());
    });
}

#[test]
fn a_taken_host_port_is_a_conflict() {
    require_root_network!();
    let s = Scratch::new("conflict");
    let cfg = s.config("a", "10.206.0.0/24");
    let host = s.host.path.clone();
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        net.reserve("one", &NetworkMode::Bridge, &[tcp(18080, 80)])
            .await
            .expect("reserve");
        let e = net
            .reserve("two", &NetworkMode::Bridge, &[tcp(18080, 8080)])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert_eq!(e.status(), 409);
        assert!(e.to_string().contains("18080/tcp"), "{e}");
        assert!(
            net.reservation("two").await.is_none(),
            "nothing kept for a refused create"
        );
        // The same number over udp is another port.
        net.reserve("two", &NetworkMode::Bridge, &[udp(18080, 80)])
            .await
            .expect("udp is free");

        // A host process listening on a port.
        let listener = in_ns_thread(&host, || TcpListener::bind("0.0.0.0:18090").expect("bind"));
        let e = net
            .reserve("three", &NetworkMode::Bridge, &[tcp(18090, 80)])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        drop(listener);
        // Another test's fork may hold a copy of the socket until its exec:
        // retry briefly.
        retry(|| async {
            net.reserve("three", &NetworkMode::Bridge, &[tcp(18090, 80)])
                .await
        })
        .await
        .expect("free again");

        // A host process that takes the port between create and start.
        let squatter = in_ns_thread(&host, || UdpSocket::bind("0.0.0.0:18091").expect("bind"));
        net.reserve("four", &NetworkMode::Bridge, &[udp(18091, 53)])
            .await
            .unwrap_err();
        drop(squatter);
        retry(|| async {
            net.reserve("four", &NetworkMode::Bridge, &[udp(18091, 53)])
                .await
        })
        .await
        .expect("reserve");
        let squatter = in_ns_thread(&host, || UdpSocket::bind("0.0.0.0:18091").expect("bind"));
        let e = net.attach("four", None).await.unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        drop(squatter);
        let links = run_ok(&["ip", "-n", &s.host.name, "-o", "link"]);
        assert_eq!(
            links.lines().filter(|l| l.contains(": bv")).count(),
            0,
            "no veth left: {links}"
        );
        retry(|| net.attach("four", None))
            .await
            .expect("attach once the port is free");

        for id in ["one", "two", "three", "four"] {
            net.release(id).await.expect("release");
        }
    });
}

/// Calls `op` every 50 ms until it succeeds or 10 s have passed; its last
/// result. For a port another process (another test's fork, until its
/// exec) may still hold for a moment.
async fn retry<T, F, Fut>(mut op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = op().await;
        if r.is_ok() || Instant::now() >= deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_table_is_rebuilt_at_open_and_empty_once_containers_are_gone() {
    require_root_network!();
    let s = Scratch::new("table");
    let cfg = s.config("a", "10.207.0.0/24");
    // Somebody else's table, which Berth must never touch.
    run_ok(&[
        "ip",
        "netns",
        "exec",
        &s.host.name,
        "nft",
        "add",
        "table",
        "ip",
        "other",
    ]);
    run_ok(&[
        "ip",
        "netns",
        "exec",
        &s.host.name,
        "nft",
        "add",
        "chain",
        "ip",
        "other",
        "c",
    ]);
    run_ok(&[
        "ip",
        "netns",
        "exec",
        &s.host.name,
        "nft",
        "add",
        "rule",
        "ip",
        "other",
        "c",
        "tcp",
        "dport",
        "1",
        "accept",
    ]);
    let www = s.dir.path().join("www");
    let table = cfg.table.clone();
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        let t = s.nft_table(&table).expect("the table exists after open");
        assert_eq!(rules_of(&t, "published").len(), 0);
        assert_eq!(rules_of(&t, "postrouting").len(), 3, "masquerade rules");

        net.reserve("a", &NetworkMode::Bridge, &[tcp(18080, 80), udp(18080, 80)])
            .await
            .unwrap();
        net.reserve("b", &NetworkMode::Bridge, &[tcp(18081, 80)])
            .await
            .unwrap();
        let a = net.attach("a", None).await.unwrap();
        net.attach("b", None).await.unwrap();
        let t = s.nft_table(&table).unwrap();
        let published = rules_of(&t, "published");
        assert_eq!(published.len(), 3, "{published:?}");
        assert_eq!(published.iter().filter(|r| r["comment"] == "a").count(), 2);

        // An agent crash: the Network goes away without cleaning; someone
        // leaves a stray rule in our table meanwhile.
        drop(net);
        run_ok(&[
            "ip",
            "netns",
            "exec",
            &s.host.name,
            "nft",
            "add",
            "rule",
            "ip",
            &table,
            "published",
            "tcp",
            "dport",
            "9999",
            "dnat",
            "to",
            "10.207.0.99:1",
        ]);
        let _httpd = httpd(a.netns.as_ref().unwrap(), &www, 80, "still here\n");
        let net = Network::open(cfg.clone()).await.expect("reopen");
        let t = s.nft_table(&table).unwrap();
        let published = rules_of(&t, "published");
        assert_eq!(
            published.len(),
            3,
            "rebuilt from state, stray rule gone: {published:?}"
        );
        assert!(!t.to_string().contains("9999"));
        let host = s.host.path.clone();
        let body = wait_for(Duration::from_secs(5), || {
            curl_in(&host, "http://127.0.0.1:18080/")
        });
        assert_eq!(
            body.as_deref(),
            Some("still here\n"),
            "the container kept its network across the restart"
        );
        assert_eq!(
            net.attach("a", None).await.unwrap(),
            a,
            "the attachment survived the restart"
        );

        net.detach("a").await.unwrap();
        let t = s.nft_table(&table).unwrap();
        assert_eq!(
            rules_of(&t, "published").len(),
            1,
            "a's rules went with its network"
        );
        assert!(
            net.reservation("a").await.is_some(),
            "detach keeps the reservation"
        );
        net.release("a").await.unwrap();
        net.release("b").await.unwrap();
        let t = s.nft_table(&table).unwrap();
        assert!(rules_of(&t, "published").is_empty(), "no rule left: {t}");

        let other = nft_table_in(&s.host.path, "other").expect("the other table is still there");
        assert_eq!(rules_of(&other, "c").len(), 1, "and untouched");
        net.teardown().await.expect("teardown");
        assert!(s.nft_table(&table).is_none(), "teardown removes the table");
        assert!(nft_table_in(&s.host.path, "other").is_some());
    });
}

#[test]
fn two_agents_sharing_a_kernel_keep_apart() {
    require_root_network!();
    let s = Scratch::new("shared");
    let cfg_a = s.config("a", "10.208.0.0/24");
    let cfg_b = s.config("b", "10.209.0.0/24");
    s.run(|| async {
        let a = Network::open(cfg_a.clone()).await.expect("open a");
        let b = Network::open(cfg_b.clone()).await.expect("open b");
        // The same container id in both agents.
        a.reserve("same", &NetworkMode::Bridge, &[tcp(18080, 80)])
            .await
            .unwrap();
        b.reserve("same", &NetworkMode::Bridge, &[tcp(18081, 80)])
            .await
            .unwrap();
        let att_a = a.attach("same", None).await.unwrap();
        let att_b = b.attach("same", None).await.unwrap();
        assert_ne!(att_a.veth, att_b.veth);
        assert_ne!(att_a.netns, att_b.netns);
        a.release("same").await.unwrap();
        let tb = s.nft_table(&cfg_b.table).unwrap();
        assert_eq!(
            rules_of(&tb, "published").len(),
            1,
            "b's rules survive a's release"
        );
        assert!(b.attach("same", None).await.is_ok());
        // A second agent on the same state is refused.
        let e = Network::open(cfg_b.clone()).await.err().expect("locked");
        assert!(matches!(e, Error::Locked { .. }), "{e}");
        // A third agent configured with a's bridge, or b's table, is refused
        // before it touches either.
        let mut c = s.config("c", "10.208.0.0/24");
        c.bridge = cfg_a.bridge.clone();
        let e = Network::open(c).await.err().expect("a's bridge");
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert!(e.to_string().contains(&cfg_a.bridge), "{e}");
        let mut c = s.config("c", "10.211.0.0/24");
        c.table = cfg_b.table.clone();
        let e = Network::open(c).await.err().expect("b's table");
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        let tb = s.nft_table(&cfg_b.table).unwrap();
        assert_eq!(rules_of(&tb, "published").len(), 1, "b's table untouched");
        b.release("same").await.unwrap();
    });
}

#[test]
fn etc_files_name_the_container_and_skip_loopback_resolvers() {
    require_root_network!();
    let s = Scratch::new("etc");
    let cfg = s.config("a", "10.210.0.0/24");
    let dir = s.dir.path().join("c1");
    s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        let r = net.reserve("c1", &NetworkMode::Bridge, &[]).await.unwrap();
        let binds = net
            .write_etc_files(&dir, "box", "web", r.ip)
            .expect("etc files");
        assert_eq!(binds.len(), 3);
        let hosts = std::fs::read_to_string(dir.join("etc/hosts")).unwrap();
        assert!(
            hosts.contains(&format!("{}\tbox web", r.ip.unwrap())),
            "{hosts}"
        );
        let resolv = std::fs::read_to_string(dir.join("etc/resolv.conf")).unwrap();
        assert_eq!(resolv, "nameserver 192.0.2.53\nsearch test\n");
        net.release("c1").await.unwrap();
    });
}
