//! Where a pull may connect. A registry is named by the caller, so without a
//! check a pull could reach the host's own services: loopback, link-local,
//! the cloud metadata endpoints. Those are refused unless the host's
//! `allow_internal_registries` setting (admins, on the server) allows them.
//!
//! The check is on the RESOLVED addresses of every connection the pull makes
//! (the registry, its token realm, any redirect): the registry client is
//! sent through [`EgressProxy`], a small HTTP proxy on 127.0.0.1 that
//! resolves each target itself, refuses it when any of its addresses is
//! internal, and connects to the very address it checked (no second
//! resolution, so no DNS rebinding between check and connect).
//!
//! Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: an
//! on-premises registry usually lives there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use berth_api::images::PullRequest;

/// AWS's IPv6 instance metadata address.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// The IPv4 metadata address (AWS, GCP, Azure, OpenStack...).
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Largest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

/// Why a pull may not connect to `ip` (without the host's permission), or
/// `None` when it may.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6 == METADATA_V6 {
                Some("the cloud metadata address")
            } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else {
                None
            }
        }
    }
}

fn refused_v4(v4: Ipv4Addr) -> Option<&'static str> {
    if v4.is_loopback() {
        Some("a loopback address")
    } else if v4 == METADATA_V4 {
        Some("the cloud metadata address")
    } else if v4.is_link_local() {
        Some("a link-local address")
    } else if v4.octets()[0] == 0 {
        // 0.0.0.0/8: Linux connects 0.0.0.0 to the local host.
        Some("the unspecified address")
    } else if v4.is_multicast() || v4.is_broadcast() {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

/// Why a target may not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It resolves to an internal address (the message says which).
    Internal(String),
    /// It does not resolve at all.
    Unresolvable(String),
}

/// Resolves `host:port` and checks every address: the addresses when all
/// may be reached, else what is wrong with the first that may not.
pub async fn resolve_allowed(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Refusal::Unresolvable(format!("{host} does not resolve: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Refusal::Unresolvable(format!("{host} does not resolve")));
    }
    for a in &addrs {
        if let Some(why) = refused_address(a.ip()) {
            return Err(Refusal::Internal(format!(
                "{host}:{port} resolves to {} ({why}); internal registries are refused unless an admin allows them on this host (allow_internal_registries)",
                a.ip()
            )));
        }
    }
    Ok(addrs)
}

/// A per-pull HTTP proxy on 127.0.0.1 that connects only to allowed
/// addresses. Stops when dropped.
pub struct EgressProxy {
    addr: SocketAddr,
    refused: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EgressProxy {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let refused = Arc::new(Mutex::new(None));
        let r = refused.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((conn, _)) = listener.accept().await {
                let r = r.clone();
                conns.spawn(async move {
                    if let Err(why) = handle(conn).await {
                        r.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_or_insert(why);
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(EgressProxy {
            addr,
            refused,
            task,
        })
    }

    /// The proxy URL for the registry client (both http and https).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first connection it refused, and why.
    pub fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Refuses, before anything is fetched, a pull whose registry resolves to
/// an internal address when the host does not allow internal registries
/// (a name that does not resolve is left to the pull to report).
pub async fn check_registry(request: &PullRequest) -> crate::images::Result<()> {
    if request.allow_internal_registries {
        return Ok(());
    }
    let reference = super::reference::parse(&request.reference)?;
    let (host, port) = split_host_port(reference.resolve_registry());
    let port = port.unwrap_or(if request.insecure { 80 } else { 443 });
    match resolve_allowed(&host, port).await {
        Err(Refusal::Internal(why)) => Err(crate::images::Error::InternalRegistry(why)),
        _ => Ok(()),
    }
}

/// `host[:port]` or `[v6][:port]` → the host (without brackets) and the
/// port, when one is given.
fn split_host_port(target: &str) -> (String, Option<u16>) {
    if let Some(rest) = target.strip_prefix('[')
        && let Some((h, tail)) = rest.split_once(']')
    {
        return (
            h.to_string(),
            tail.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match target.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.to_string(), Some(port)),
            Err(_) => (target.to_string(), None),
        },
        _ => (target.to_string(), None),
    }
}

/// Serves one client connection: `CONNECT host:port` (HTTPS) or an
/// absolute-form HTTP request. `Err` is a refusal (the reason), recorded.
async fn handle(mut client: TcpStream) -> Result<(), String> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(());
        }
        let mut chunk = [0u8; 2048];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let rest = buf[head_end..].to_vec();
    let first = head.lines().next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("HTTP/1.1"),
    );
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let (host, port, origin_line) = if connect {
        let (h, Some(p)) = split_host_port(target) else {
            return refuse(&mut client, 400, "CONNECT needs host:port").await;
        };
        (h, p, None)
    } else {
        let Ok(url) = reqwest::Url::parse(target) else {
            return refuse(&mut client, 400, "expected an absolute http URL").await;
        };
        if url.scheme() != "http" {
            return refuse(&mut client, 400, "only http URLs are proxied").await;
        }
        let Some(h) = url.host_str() else {
            return refuse(&mut client, 400, "the URL has no host").await;
        };
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        (
            h.to_string(),
            url.port_or_known_default().unwrap_or(80),
            Some(format!("{method} {path} {version}")),
        )
    };
    let addrs = match resolve_allowed(&host, port).await {
        Ok(a) => a,
        Err(Refusal::Internal(why)) => return refuse(&mut client, 403, &why).await,
        Err(Refusal::Unresolvable(why)) => {
            let _ = refuse(&mut client, 502, &why).await;
            return Ok(());
        }
    };
    let Ok(mut upstream) = TcpStream::connect(&addrs[..]).await else {
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return Ok(());
    };
    match origin_line {
        None => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        Some(line) => {
            // The same head, in origin form, without the proxy's own headers.
            let mut out = line;
            out.push_str("\r\n");
            for h in head.split("\r\n").skip(1) {
                if h.is_empty() || h.to_ascii_lowercase().starts_with("proxy-") {
                    continue;
                }
                out.push_str(h);
                out.push_str("\r\n");
            }
            out.push_str("\r\n");
            if upstream.write_all(out.as_bytes()).await.is_err() {
                return Ok(());
            }
        }
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return Ok(());
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

async fn refuse(client: &mut TcpStream, status: u16, why: &str) -> Result<(), String> {
    let reason = match status {
        403 => "Forbidden",
        502 => "Bad Gateway",
        _ => "Bad Request",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
        why.len()
    );
    let _ = client.write_all(resp.as_bytes()).await;
    Err(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_split_with_and_without_brackets() {
        let s = |t: &str| split_host_port(t);
        assert_eq!(
            s("registry.example:5000"),
            ("registry.example".into(), Some(5000))
        );
        assert_eq!(s("registry.example"), ("registry.example".into(), None));
        assert_eq!(s("[::1]:443"), ("::1".into(), Some(443)));
        assert_eq!(s("[fd00::1]"), ("fd00::1".into(), None));
        // A bare IPv6 address is a host, not host:port.
        assert_eq!(s("fd00::1"), ("fd00::1".into(), None));
        assert_eq!(s("host:notaport"), ("host:notaport".into(), None));
    }

    #[test]
    fn internal_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(refused_address(ip).is_some(), "{a} should be refused");
        }
        for a in [
            "93.184.216.34",
            "10.0.0.5",
            "192.168.1.10",
            "172.16.0.1",
            "2001:db8::1",
            "fd00::1",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(refused_address(ip), None, "{a} should be allowed");
        }
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        for host in ["localhost", "[::1]", "127.0.0.1"] {
            match resolve_allowed(host, 5000).await {
                Err(Refusal::Internal(e)) => assert!(e.contains("loopback"), "{e}"),
                other => panic!("{host}: {other:?}"),
            }
        }
        assert!(resolve_allowed("10.1.2.3", 443).await.is_ok());
    }
}
