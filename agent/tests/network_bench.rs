//! The network benchmark (run by bench/network.sh; ignored by `cargo
//! test`): what network setup adds to a container start, bridge against
//! none, and iperf3 throughput host → container through a published port
//! against a direct veth. Everything runs in a scratch "host" namespace.
//!
//! Setup: per iteration, `reserve` + `attach` of a fresh container in each
//! of none, bridge, and bridge with one published port, interleaved so that
//! machine noise hits all three alike; then `release`. The attach of none
//! makes the namespace and brings loopback up (what any container start
//! needs), so bridge − none is the cost of bridge networking itself.
//!
//! Throughput: `iperf3 -c` in the host namespace against `iperf3 -s` in a
//! container: through the published port via 127.0.0.1 (output DNAT +
//! masquerade) and via a host address (DNAT), to the container's address
//! over the bridge (routed, no NAT), and over a plain veth pair into a bare
//! namespace (no bridge, no NAT: the ceiling).

mod network_support;

use std::time::{Duration, Instant};

use berth_agent::network::Network;
use berth_api::containers::{NetworkMode, PortMapping, Protocol};
use network_support::*;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.total_cmp(b));
    // The nearest rank for `pct` percent, rounded half up.
    let pick = |pct: usize| ms[((ms.len() - 1) * pct + 50) / 100];
    let median = pick(50);
    println!(
        "  {name:<14} n={:<3} min {:>6.2} ms  median {:>6.2} ms  p95 {:>6.2} ms",
        ms.len(),
        pick(0),
        median,
        pick(95)
    );
    median
}

/// Gbit/s received by the server, from `iperf3 -J`.
fn iperf(client_ns: &std::path::Path, host: &str, port: u16, seconds: u32) -> Option<f64> {
    let p = port.to_string();
    let t = seconds.to_string();
    let out = in_netns(client_ns, &["iperf3", "-c", host, "-p", &p, "-t", &t, "-J"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|b| b / 1e9)
}

#[test]
#[ignore = "benchmark: run by bench/network.sh"]
fn network_bench() {
    require_root_network!();
    if !std::path::Path::new("/usr/bin/iperf3").exists() {
        berth_testkit::skip("needs iperf3");
        return;
    }
    let iterations: u16 = env_or("BENCH_ITERATIONS", 50);
    assert!(
        iterations <= u16::MAX - 20000,
        "BENCH_ITERATIONS: at most {} (one host port from 20000 each)",
        u16::MAX - 20000
    );
    let seconds: u32 = env_or("BENCH_IPERF_SECONDS", 5);
    let runs: usize = env_or("BENCH_IPERF_RUNS", 3);
    let s = Scratch::new("bench");
    let cfg = s.config("a", "10.230.0.0/16");
    run_ok(&[
        "ip",
        "-n",
        &s.host.name,
        "addr",
        "add",
        "198.51.100.9/32",
        "dev",
        "lo",
    ]);
    let host = s.host.path.clone();

    let (bridge_median, none_median) = s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        let port = |i: u16| PortMapping {
            host_port: 20000 + i,
            container_port: 80,
            protocol: Protocol::Tcp,
        };
        // [kind][reserve, attach] timings; kinds: none, bridge, bridge+port.
        let mut times: [[Vec<f64>; 2]; 3] = Default::default();
        let mut teardown = Vec::new();
        for i in 0..iterations {
            let cases: [(NetworkMode, Vec<PortMapping>); 3] = [
                (NetworkMode::None, vec![]),
                (NetworkMode::Bridge, vec![]),
                (NetworkMode::Bridge, vec![port(i)]),
            ];
            for (k, (mode, ports)) in cases.into_iter().enumerate() {
                let id = format!("c{k}-{i}");
                let t = Instant::now();
                net.reserve(&id, &mode, &ports).await.expect("reserve");
                times[k][0].push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                net.attach(&id, None).await.expect("attach");
                times[k][1].push(t.elapsed().as_secs_f64() * 1e3);
            }
            for k in 0..3 {
                let t = Instant::now();
                net.release(&format!("c{k}-{i}")).await.expect("release");
                teardown.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let [none, bridge, with_port] = times;
        println!("-- at create: reserve (address claim fsynced, host ports checked)");
        summary("none", none[0].clone());
        summary("bridge", bridge[0].clone());
        summary("bridge+1 port", with_port[0].clone());
        println!("-- at start: attach (namespace, veth, address, route, nft)");
        let n = summary("none", none[1].clone());
        let b = summary("bridge", bridge[1].clone());
        summary("bridge+1 port", with_port[1].clone());
        println!("-- at delete: release");
        summary("any", teardown);
        (b, n)
    });
    println!(
        "start: bridge adds {:.2} ms over none (median), aim < 10 ms",
        bridge_median - none_median
    );

    // Throughput.
    let (att, net_cfg) = s.run(|| async {
        let net = Network::open(cfg.clone()).await.expect("open");
        let ports = [PortMapping {
            host_port: 15201,
            container_port: 5201,
            protocol: Protocol::Tcp,
        }];
        net.reserve("iperf", &NetworkMode::Bridge, &ports)
            .await
            .expect("reserve");
        (
            net.attach("iperf", None).await.expect("attach"),
            cfg.clone(),
        )
    });
    let cns = att.netns.clone().expect("netns");
    let _server = spawn_in(&cns, &["iperf3", "-s", "-p", "5201"]);
    // A plain veth into a bare namespace, for the ceiling.
    let bare = NetNs::new(&format!("{}v", s.name));
    run_ok(&[
        "ip",
        "-n",
        &s.host.name,
        "link",
        "add",
        "bench0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &bare.name,
    ]);
    run_ok(&[
        "ip",
        "-n",
        &s.host.name,
        "addr",
        "add",
        "172.31.250.1/30",
        "dev",
        "bench0",
    ]);
    run_ok(&["ip", "-n", &s.host.name, "link", "set", "bench0", "up"]);
    run_ok(&[
        "ip",
        "-n",
        &bare.name,
        "addr",
        "add",
        "172.31.250.2/30",
        "dev",
        "eth0",
    ]);
    run_ok(&["ip", "-n", &bare.name, "link", "set", "eth0", "up"]);
    let _bare_server = spawn_in(&bare.path, &["iperf3", "-s", "-p", "5201"]);
    let ready = wait_for(Duration::from_secs(5), || {
        in_ns_thread(&host, || {
            let up = |a: &str| {
                let addr = a.parse().expect("address");
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            };
            (up("172.31.250.2:5201") && up("127.0.0.1:15201")).then_some(())
        })
    });
    assert!(ready.is_some(), "iperf3 servers did not come up");
    let cip = att.ip.expect("address").to_string();
    let mut published_local = 0.0;
    let mut published_host = 0.0;
    let mut bridged = 0.0;
    let mut direct = 0.0;
    // Interleaved, best of `runs` each: the machine is shared.
    for _ in 0..runs {
        published_local = f64::max(
            published_local,
            iperf(&host, "127.0.0.1", 15201, seconds).unwrap_or(0.0),
        );
        direct = f64::max(
            direct,
            iperf(&host, "172.31.250.2", 5201, seconds).unwrap_or(0.0),
        );
        published_host = f64::max(
            published_host,
            iperf(&host, "198.51.100.9", 15201, seconds).unwrap_or(0.0),
        );
        bridged = f64::max(bridged, iperf(&host, &cip, 5201, seconds).unwrap_or(0.0));
    }
    println!("iperf3 host -> container, best of {runs} x {seconds}s:");
    println!("iperf3 direct veth (no bridge, no NAT)      {direct:>6.2} Gbit/s");
    println!("iperf3 container address over the bridge    {bridged:>6.2} Gbit/s");
    println!(
        "iperf3 published port via 127.0.0.1          {published_local:>6.2} Gbit/s  {:>5.1}% of direct",
        100.0 * published_local / direct
    );
    println!(
        "iperf3 published port via a host address     {published_host:>6.2} Gbit/s  {:>5.1}% of direct",
        100.0 * published_host / direct
    );
    println!("aim: published >= 90% of direct");
    assert!(
        direct > 0.0 && published_local > 0.0 && published_host > 0.0,
        "iperf3 failed"
    );
    s.run(|| async {
        let net = Network::open(net_cfg).await.expect("open");
        net.release("iperf").await.expect("release");
    });
}
