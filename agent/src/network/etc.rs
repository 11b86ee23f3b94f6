//! The /etc files that make a container's network usable by name:
//! `hostname`, `hosts` (localhost, and the container's hostname and name on
//! its own address) and `resolv.conf` (resolv.conf(5)) from the host's
//! upstream DNS servers.
//!
//! Loopback nameservers (systemd-resolved's 127.0.0.53, a local dnsmasq on
//! 127.0.0.1, ::1) are skipped: inside another network namespace they would
//! be the container's own loopback, where nothing answers. When systemd-
//! resolved runs, `/run/systemd/resolve/resolv.conf` lists the real upstream
//! servers, so it is read instead of /etc/resolv.conf.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// The resolv.conf systemd-resolved writes with the upstream servers.
pub const SYSTEMD_RESOLV: &str = "/run/systemd/resolve/resolv.conf";

/// Which host file to read the DNS servers from: `configured` when given,
/// else systemd-resolved's upstream list when present, else
/// /etc/resolv.conf.
pub fn host_resolv_source(configured: Option<&Path>) -> PathBuf {
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    let systemd = Path::new(SYSTEMD_RESOLV);
    if systemd.is_file() {
        systemd.to_path_buf()
    } else {
        PathBuf::from("/etc/resolv.conf")
    }
}

/// The host's resolv.conf without loopback nameservers; `search`, `domain`
/// and `options` lines are kept, comments and unknown lines dropped.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        let mut words = t.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                let Some(addr) = words.next() else { continue };
                // "fe80::1%eth0" names a host interface: useless inside.
                let usable = matches!(addr.parse::<IpAddr>(), Ok(a) if !a.is_loopback());
                if usable {
                    out.push_str(&format!("nameserver {addr}\n"));
                    servers += 1;
                }
            }
            Some("search" | "domain" | "options") => {
                out.push_str(t);
                out.push('\n');
            }
            _ => {}
        }
    }
    if servers == 0 {
        out.insert_str(
            0,
            "# the host lists no nameserver reachable from a container\n",
        );
    }
    out
}

/// `/etc/hosts`: localhost lines, then `ip hostname [name]` (127.0.1.1 when
/// the container has no address of its own).
pub fn hosts(hostname: &str, name: &str, ip: Option<Ipv4Addr>) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    let names = if hostname == name || name.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname} {name}")
    };
    let addr = ip.unwrap_or(Ipv4Addr::new(127, 0, 1, 1));
    out.push_str(&format!("{addr}\t{names}\n"));
    out
}

/// A word that may go into /etc/hosts or /etc/hostname: printable, no
/// whitespace, at most 253 bytes.
fn check_name(what: &str, v: &str) -> Result<()> {
    if v.len() > 253
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(Error::Invalid(format!(
            "{what} {v:?}: must be at most 253 characters without spaces, control characters or '#'"
        )));
    }
    Ok(())
}

/// Writes `<dir>/etc/{hostname,hosts,resolv.conf}` and returns the binds
/// (host file, path in the container) for the OCI bundle.
pub fn write(
    dir: &Path,
    hostname: &str,
    name: &str,
    ip: Option<Ipv4Addr>,
    host_resolv: &Path,
) -> Result<Vec<(PathBuf, &'static str)>> {
    if hostname.is_empty() {
        return Err(Error::Invalid("hostname: must not be empty".into()));
    }
    check_name("hostname", hostname)?;
    check_name("name", name)?;
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).map_err(|e| Error::io(format!("create {}", etc.display()), e))?;
    let host = match std::fs::read_to_string(host_resolv) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(format!("read {}", host_resolv.display()), e)),
    };
    let files = [
        ("hostname", format!("{hostname}\n"), "/etc/hostname"),
        ("hosts", hosts(hostname, name, ip), "/etc/hosts"),
        ("resolv.conf", resolv_conf(&host), "/etc/resolv.conf"),
    ];
    let mut binds = Vec::with_capacity(files.len());
    for (file, text, target) in files {
        let path = etc.join(file);
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        binds.push((path, target));
    }
    Ok(binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_skipped() {
        let r = resolv_conf(
            "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::1\nsearch lan\noptions edns0\nbogus line\n",
        );
        assert_eq!(
            r,
            "nameserver 10.0.0.2\nnameserver 2001:db8::1\nsearch lan\noptions edns0\n"
        );
    }

    #[test]
    fn no_usable_server_is_said_in_a_comment() {
        let r = resolv_conf("nameserver 127.0.0.53\nsearch x\n");
        assert!(r.starts_with("# "), "{r}");
        assert!(!r.contains("127.0.0.53"));
        assert!(r.contains("search x"));
    }

    #[test]
    fn writes_all_three_files() {
        let d = tempfile::tempdir().unwrap();
        let resolv = d.path().join("resolv");
        std::fs::write(&resolv, "nameserver 127.0.0.53\nnameserver 9.9.9.9\n").unwrap();
        let binds = write(
            d.path(),
            "box",
            "web",
            Some(Ipv4Addr::new(10, 88, 0, 5)),
            &resolv,
        )
        .unwrap();
        let targets: Vec<&str> = binds.iter().map(|b| b.1).collect();
        assert_eq!(targets, ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]);
        let hosts = std::fs::read_to_string(d.path().join("etc/hosts")).unwrap();
        assert!(hosts.ends_with("10.88.0.5\tbox web\n"), "{hosts}");
        assert_eq!(
            std::fs::read_to_string(d.path().join("etc/hostname")).unwrap(),
            "box\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("etc/resolv.conf")).unwrap(),
            "nameserver 9.9.9.9\n"
        );
    }

    #[test]
    fn names_cannot_inject_lines() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("r");
        assert!(write(d.path(), "a\n10.0.0.1 evil", "web", None, &r).is_err());
        assert!(write(d.path(), "", "web", None, &r).is_err());
        assert!(write(d.path(), "ok", "we b", None, &r).is_err());
    }

    #[test]
    fn hosts_without_address_uses_127_0_1_1() {
        assert!(hosts("h", "h", None).ends_with("127.0.1.1\th\n"));
    }

    #[test]
    fn prefers_the_configured_source() {
        assert_eq!(
            host_resolv_source(Some(Path::new("/x"))),
            PathBuf::from("/x")
        );
    }
}
