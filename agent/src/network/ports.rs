//! Published ports: what a spec may ask for, and whether the host can give
//! it. A host port is free when no other container of this agent has
//! reserved it (same protocol) and no socket on the host listens on it; the
//! second is tested by binding the wildcard address in the host's network
//! namespace, as a server would.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

use berth_api::containers::{NetworkMode, PortMapping, Protocol};

use super::error::{Error, Result};
use super::netns;

/// Checks that `ports` make sense for `mode`: only `bridge` publishes, no
/// port is 0, no host port is asked twice for one protocol.
pub fn validate(mode: &NetworkMode, ports: &[PortMapping]) -> Result<()> {
    if !ports.is_empty() {
        match mode {
            NetworkMode::Bridge => {}
            NetworkMode::Host => {
                return Err(Error::Invalid(
                    "ports: a container with network \"host\" uses the host's ports directly; publishing needs network \"bridge\"".into(),
                ));
            }
            NetworkMode::None => {
                return Err(Error::Invalid(
                    "ports: a container with network \"none\" has no network to publish; use network \"bridge\"".into(),
                ));
            }
            NetworkMode::Container(c) => {
                return Err(Error::Invalid(format!(
                    "ports: a container with network \"container:{c}\" shares that container's network; publish the ports on {c} instead"
                )));
            }
        }
    }
    let mut seen = HashSet::new();
    for p in ports {
        if p.host_port == 0 {
            return Err(Error::Invalid(format!(
                "ports: host_port 0 (for container_port {}) is not a port; give 1-65535",
                p.container_port
            )));
        }
        if p.container_port == 0 {
            return Err(Error::Invalid(format!(
                "ports: container_port 0 (for host_port {}) is not a port; give 1-65535",
                p.host_port
            )));
        }
        if !seen.insert((p.host_port, p.protocol)) {
            return Err(Error::Invalid(format!(
                "ports: host port {}/{} is published twice",
                p.host_port, p.protocol
            )));
        }
    }
    Ok(())
}

/// Fails with [`Error::Conflict`] when a socket on the host (in the network
/// namespace `host_ns`) holds one of `ports`.
pub async fn check_host_free(host_ns: &OwnedFd, ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let ports = ports.to_vec();
    netns::run_in(host_ns, "check the host ports", move || {
        for p in &ports {
            let addr = (Ipv4Addr::UNSPECIFIED, p.host_port);
            let bound = match p.protocol {
                Protocol::Tcp => TcpListener::bind(addr).map(drop),
                Protocol::Udp => UdpSocket::bind(addr).map(drop),
            };
            match bound {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(Error::Conflict(format!(
                        "host port {}/{} is already in use on this host",
                        p.host_port, p.protocol
                    )));
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("test host port {}/{}", p.host_port, p.protocol),
                        e,
                    ));
                }
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(h: u16, c: u16, protocol: Protocol) -> PortMapping {
        PortMapping {
            host_port: h,
            container_port: c,
            protocol,
        }
    }

    #[test]
    fn only_bridge_publishes() {
        let p = [port(8080, 80, Protocol::Tcp)];
        assert!(validate(&NetworkMode::Bridge, &p).is_ok());
        for m in [
            NetworkMode::Host,
            NetworkMode::None,
            NetworkMode::Container("x".into()),
        ] {
            let e = validate(&m, &p).unwrap_err();
            assert_eq!(e.status(), 400, "{m}: {e}");
        }
        assert!(validate(&NetworkMode::None, &[]).is_ok());
    }

    #[test]
    fn zero_and_duplicates_are_invalid() {
        assert!(validate(&NetworkMode::Bridge, &[port(0, 80, Protocol::Tcp)]).is_err());
        assert!(validate(&NetworkMode::Bridge, &[port(80, 0, Protocol::Tcp)]).is_err());
        let dup = [port(53, 53, Protocol::Udp), port(53, 5353, Protocol::Udp)];
        assert!(
            validate(&NetworkMode::Bridge, &dup)
                .unwrap_err()
                .to_string()
                .contains("53/udp")
        );
        let both = [port(53, 53, Protocol::Udp), port(53, 53, Protocol::Tcp)];
        assert!(validate(&NetworkMode::Bridge, &both).is_ok());
    }
}
