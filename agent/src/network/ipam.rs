//! IP address management: one IPv4 address per bridge-mode container, from
//! the bridge subnet, never handed out twice.
//!
//! Each allocation is a file `<dir>/<address>` holding the owner's container
//! id, created with `O_EXCL` and fsynced (file and directory) *before* the
//! address is used anywhere: write-ahead. A crash at any later point leaves
//! the file, so the address stays taken until the owner is known to be gone
//! ([`Ipam::release`], which the agent's reconcile calls for containers that
//! no longer exist). `O_EXCL` also keeps two processes that share the
//! directory by mistake from taking the same address.
//!
//! Only claims are fsynced: a claim is the one fact that must survive even
//! an OS crash (containers restarted after a reboot must not find their
//! address given away). A release is not synced: a lost unlink leaves a
//! claim whose owner is gone, which reconcile frees.
//!
//! Allocation is next-fit from a cursor (`<dir>/.cursor`, best effort), so a
//! released address is not reused at once (fewer stale ARP and conntrack
//! entries pointing at a new owner). The network address, the gateway
//! (first host) and the broadcast address are never allocated.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnetwork::Ipv4Network;

use super::error::{Error, Result};

const CURSOR: &str = ".cursor";

/// The address pool of one subnet, persisted in a directory.
#[derive(Debug)]
pub struct Ipam {
    dir: PathBuf,
    subnet: Ipv4Network,
}

impl Ipam {
    /// The pool of `subnet`, persisted in `dir` (created if missing).
    pub fn open(dir: &Path, subnet: Ipv4Network) -> Result<Self> {
        if subnet.prefix() > 30 {
            return Err(Error::Invalid(format!(
                "subnet {subnet}: needs at least a /30 (network, gateway, one container, broadcast)"
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            subnet,
        })
    }

    /// The gateway: the subnet's first host address (the bridge's).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet.network()) + 1)
    }

    /// The first and last allocatable addresses, as integers.
    fn range(&self) -> (u32, u32) {
        let net = u32::from(self.subnet.network());
        let bcast = u32::from(self.subnet.broadcast());
        (net + 2, bcast - 1)
    }

    /// Every allocation: (address, owner).
    pub fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("list {}", self.dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("list {}", self.dir.display()), e))?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let path = entry.path();
            let owner = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            out.push((ip, owner.trim().to_string()));
        }
        out.sort();
        Ok(out)
    }

    /// The address `owner` holds, if any.
    pub fn address_of(&self, owner: &str) -> Result<Option<Ipv4Addr>> {
        Ok(self
            .allocations()?
            .into_iter()
            .find(|(_, o)| o == owner)
            .map(|(ip, _)| ip))
    }

    /// Allocates an address for `owner` (its existing one if it holds one)
    /// and makes the allocation durable before returning it.
    pub fn allocate(&self, owner: &str) -> Result<Ipv4Addr> {
        let taken = self.allocations()?;
        if let Some((ip, _)) = taken.iter().find(|(_, o)| o == owner) {
            return Ok(*ip);
        }
        let (first, last) = self.range();
        let size = last - first + 1;
        let start = self
            .cursor()
            .filter(|c| (first..=last).contains(c))
            .map(|c| if c == last { first } else { c + 1 })
            .unwrap_or(first);
        let used: std::collections::HashSet<u32> =
            taken.iter().map(|(ip, _)| u32::from(*ip)).collect();
        for step in 0..size {
            let candidate = first + (start - first + step) % size;
            if used.contains(&candidate) {
                continue;
            }
            let ip = Ipv4Addr::from(candidate);
            match self.claim(ip, owner) {
                Ok(()) => {
                    self.set_cursor(candidate);
                    return Ok(ip);
                }
                // Taken by someone else since we listed: try the next one.
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "no free address left in {} ({} in use): delete containers or configure a larger subnet",
            self.subnet,
            taken.len()
        )))
    }

    /// Frees `ip` if `owner` holds it; freeing a free address is fine.
    pub fn release(&self, ip: Ipv4Addr, owner: &str) -> Result<()> {
        let path = self.dir.join(ip.to_string());
        match std::fs::read_to_string(&path) {
            Ok(o) if o.trim() == owner => {}
            Ok(o) => {
                return Err(Error::Conflict(format!(
                    "address {ip} belongs to {}, not to {owner}",
                    o.trim()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        }
        // Not synced: if a crash loses the unlink, the address stays
        // claimed by a container that is gone, and `reconcile` frees it.
        std::fs::remove_file(&path).map_err(|e| Error::io(format!("remove {}", path.display()), e))
    }

    /// Makes sure `owner` holds `ip`: claims it when free; a claim by
    /// someone else is a conflict.
    pub fn ensure_claim(&self, ip: Ipv4Addr, owner: &str) -> Result<()> {
        let path = self.dir.join(ip.to_string());
        match std::fs::read_to_string(&path) {
            Ok(o) if o.trim() == owner => Ok(()),
            Ok(o) => Err(Error::Conflict(format!(
                "address {ip} belongs to {}, not to {owner}",
                o.trim()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.claim(ip, owner),
            Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
        }
    }

    fn claim(&self, ip: Ipv4Addr, owner: &str) -> Result<()> {
        let path = self.dir.join(ip.to_string());
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("claim {}", path.display()), e))?;
        let written = f
            .write_all(owner.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(format!("write {}", path.display()), e));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        sync_dir(&self.dir)
    }

    fn cursor(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(CURSOR))
            .ok()?
            .trim()
            .parse::<Ipv4Addr>()
            .ok()
            .map(u32::from)
    }

    fn set_cursor(&self, at: u32) {
        // Only a hint: losing it costs nothing but the next-fit order.
        let _ = std::fs::write(self.dir.join(CURSOR), Ipv4Addr::from(at).to_string());
    }
}

/// fsyncs a directory so that a create, rename or unlink in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("sync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(prefix: &str) -> (tempfile::TempDir, Ipam) {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::open(d.path(), prefix.parse().unwrap()).unwrap();
        (d, ipam)
    }

    #[test]
    fn skips_network_gateway_and_broadcast() {
        let (_d, ipam) = pool("10.1.0.0/29");
        assert_eq!(ipam.gateway(), Ipv4Addr::new(10, 1, 0, 1));
        let got: Vec<Ipv4Addr> = (0..5)
            .map(|i| ipam.allocate(&format!("c{i}")).unwrap())
            .collect();
        assert_eq!(
            got,
            (2..=6)
                .map(|h| Ipv4Addr::new(10, 1, 0, h))
                .collect::<Vec<_>>()
        );
        let err = ipam.allocate("c5").unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    }

    #[test]
    fn allocation_is_idempotent_per_owner() {
        let (_d, ipam) = pool("10.1.0.0/24");
        let a = ipam.allocate("x").unwrap();
        assert_eq!(ipam.allocate("x").unwrap(), a);
        assert_eq!(ipam.allocations().unwrap().len(), 1);
    }

    #[test]
    fn next_fit_does_not_reuse_a_released_address_at_once() {
        let (_d, ipam) = pool("10.1.0.0/24");
        let a = ipam.allocate("a").unwrap();
        ipam.release(a, "a").unwrap();
        let b = ipam.allocate("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(ipam.address_of("b").unwrap(), Some(b));
        assert_eq!(ipam.address_of("a").unwrap(), None);
    }

    #[test]
    fn wraps_around_to_released_addresses() {
        let (_d, ipam) = pool("10.1.0.0/30");
        let only = ipam.allocate("a").unwrap();
        assert_eq!(only, Ipv4Addr::new(10, 1, 0, 2));
        assert!(ipam.allocate("b").is_err());
        ipam.release(only, "a").unwrap();
        assert_eq!(ipam.allocate("b").unwrap(), only);
    }

    #[test]
    fn release_checks_the_owner() {
        let (_d, ipam) = pool("10.1.0.0/24");
        let a = ipam.allocate("a").unwrap();
        assert!(ipam.release(a, "b").is_err());
        ipam.release(a, "a").unwrap();
        ipam.release(a, "a").unwrap();
    }

    #[test]
    fn a_new_pool_over_the_same_dir_sees_old_allocations() {
        let d = tempfile::tempdir().unwrap();
        let subnet: Ipv4Network = "10.1.0.0/24".parse().unwrap();
        let a = Ipam::open(d.path(), subnet).unwrap().allocate("a").unwrap();
        let again = Ipam::open(d.path(), subnet).unwrap();
        assert_ne!(again.allocate("b").unwrap(), a);
        assert_eq!(again.address_of("a").unwrap(), Some(a));
    }

    #[test]
    fn ensure_claim_reclaims_a_lost_claim_but_not_a_taken_one() {
        let (_d, ipam) = pool("10.1.0.0/24");
        let ip = Ipv4Addr::new(10, 1, 0, 9);
        ipam.ensure_claim(ip, "a").unwrap();
        ipam.ensure_claim(ip, "a").unwrap();
        assert_eq!(ipam.address_of("a").unwrap(), Some(ip));
        assert!(matches!(
            ipam.ensure_claim(ip, "b"),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn tiny_subnets_are_refused() {
        let d = tempfile::tempdir().unwrap();
        assert!(Ipam::open(d.path(), "10.1.0.0/31".parse().unwrap()).is_err());
    }
}
