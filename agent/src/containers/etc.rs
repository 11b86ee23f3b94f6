//! The /etc files the agent gives a container: `hostname`, `hosts` with the
//! container's own name, and `resolv.conf` from the host's upstream servers
//! (loopback resolvers skipped: they would not answer inside another network
//! namespace). Written under `<container dir>/etc/` and bind-mounted.

use std::path::{Path, PathBuf};

/// Writes the files and returns the (source, destination) binds.
pub fn write(
    dir: &Path,
    hostname: &str,
    name: &str,
    address: Option<&str>,
    host_resolv: &Path,
) -> std::io::Result<Vec<(PathBuf, &'static str)>> {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("hostname"), format!("{hostname}\n"))?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    let names = if hostname == name {
        hostname.to_string()
    } else {
        format!("{hostname} {name}")
    };
    hosts.push_str(&format!("{}\t{names}\n", address.unwrap_or("127.0.1.1")));
    std::fs::write(etc.join("hosts"), hosts)?;
    let host = std::fs::read_to_string(host_resolv).unwrap_or_default();
    std::fs::write(etc.join("resolv.conf"), resolv_conf(&host))?;
    Ok(vec![
        (etc.join("hostname"), "/etc/hostname"),
        (etc.join("hosts"), "/etc/hosts"),
        (etc.join("resolv.conf"), "/etc/resolv.conf"),
    ])
}

/// The host's resolv.conf without loopback nameservers; search and options
/// lines are kept.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("nameserver") {
            let addr = addr.trim();
            let loopback = addr
                .parse::<std::net::IpAddr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false);
            if loopback {
                continue;
            }
        }
        if t.starts_with("nameserver") || t.starts_with("search") || t.starts_with("options") {
            out.push_str(t);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_skipped() {
        let r = resolv_conf(
            "# c\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch lan\n",
        );
        assert_eq!(r, "nameserver 10.0.0.2\nsearch lan\n");
    }

    #[test]
    fn hosts_names_the_container() {
        let d = tempfile::tempdir().unwrap();
        let resolv = d.path().join("r");
        std::fs::write(&resolv, "nameserver 9.9.9.9\n").unwrap();
        let binds = write(d.path(), "box", "web", None, &resolv).unwrap();
        assert_eq!(binds.len(), 3);
        let hosts = std::fs::read_to_string(d.path().join("etc/hosts")).unwrap();
        assert!(hosts.contains("127.0.1.1\tbox web"), "{hosts}");
        assert_eq!(
            std::fs::read_to_string(d.path().join("etc/hostname")).unwrap(),
            "box\n"
        );
    }
}
