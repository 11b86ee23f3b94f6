//! Bringing a container's network up: the namespace it joins (made and
//! pinned by the module, or given), for bridge mode the veth pair into the
//! bridge with the container's address, MAC and default route, and its
//! published ports appended to the nftables table. Everything is recorded
//! before it is made, and undone when a step fails.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use berth_api::containers::NetworkMode;
use sha2::{Digest, Sha256};

use super::error::{Error, Result};
use super::link::Netlink;
use super::state::{Attached, Record};
use super::{Attachment, CONTAINER_IFNAME, Network, TableChange, check_id, netns, ports};

/// The prefix of the host-side veths the module makes.
pub(super) const VETH_PREFIX: &str = "bv";

/// The host-side veth of a container: `bv` + 11 hex digits of
/// sha256(table, id), unique per agent table even when agents share a
/// kernel, and within the 15-byte limit of interface names.
fn veth_name(table: &str, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(table.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    let hex = hex::encode(h.finalize());
    format!("{VETH_PREFIX}{}", &hex[..11])
}

/// The deterministic, locally administered MAC of an address (02:42:a.b.c.d
/// in hex, as Docker does), so a reused address keeps its MAC.
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Network {
    /// Brings a reserved container's network up and says which namespace it
    /// must join. With `netns: None` the module makes (or reuses) a
    /// persistent namespace `<netns_dir>/<id>`; with `Some(path)` it
    /// configures that namespace (e.g. `/proc/<pid>/ns/net`). Idempotent
    /// while the network is up.
    pub async fn attach(&self, id: &str, netns: Option<&Path>) -> Result<Attachment> {
        check_id(id)?;
        let mut map = self.inner.state.lock().await;
        let record = map
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotReserved(id.to_string()))?;
        match &record.mode {
            NetworkMode::Host => Ok(Attachment::host()),
            NetworkMode::Container(other) => self.peer_attachment(&map, other, netns),
            NetworkMode::None | NetworkMode::Bridge => {
                if let Some(att) = &record.attached {
                    if self.attachment_alive(&record, att).await? {
                        return Ok(self.attachment_of(&record, att));
                    }
                    // Half-made or dead: clean it, then make it again.
                    self.detach_locked(&mut map, id).await?;
                }
                self.attach_locked(&mut map, record, netns).await
            }
        }
    }

    /// The attachment of `container:<other>`: other's namespace.
    fn peer_attachment(
        &self,
        map: &BTreeMap<String, Record>,
        other: &str,
        given: Option<&Path>,
    ) -> Result<Attachment> {
        let mut current = other.to_string();
        for _ in 0..8 {
            let r = map.get(&current).ok_or_else(|| {
                Error::Conflict(format!("network container {current} no longer exists"))
            })?;
            match &r.mode {
                NetworkMode::Host => return Ok(Attachment::host()),
                NetworkMode::Container(next) => current = next.clone(),
                NetworkMode::None | NetworkMode::Bridge => {
                    let att = r.attached.as_ref().ok_or_else(|| {
                        Error::Conflict(format!("network container {current} is not running"))
                    })?;
                    let mut a = self.attachment_of(r, att);
                    if let Some(p) = given {
                        a.netns = Some(p.to_path_buf());
                    }
                    a.veth = None;
                    return Ok(a);
                }
            }
        }
        Err(Error::Invalid(format!(
            "network \"container:{other}\": too many container: links in a row"
        )))
    }

    fn attachment_of(&self, r: &Record, att: &Attached) -> Attachment {
        let bridged = r.mode == NetworkMode::Bridge;
        Attachment {
            netns: Some(att.netns.clone()),
            ip: r.ip,
            prefix_len: if bridged {
                self.inner.cfg.subnet.prefix()
            } else {
                0
            },
            gateway: bridged.then(|| self.gateway()),
            mac: r.ip.filter(|_| bridged).map(|ip| mac_string(mac_of(ip))),
            veth: att.veth.clone(),
        }
    }

    /// Whether the kernel still has what `att` records.
    pub(super) async fn attachment_alive(&self, r: &Record, att: &Attached) -> Result<bool> {
        if !netns::is_nsfs(&att.netns) {
            return Ok(false);
        }
        match (&r.mode, &att.veth) {
            (NetworkMode::Bridge, Some(veth)) => Ok(self.inner.host.link(veth).await?.is_some()),
            (NetworkMode::Bridge, None) => Ok(false),
            _ => Ok(true),
        }
    }

    pub(super) async fn attach_locked(
        &self,
        map: &mut BTreeMap<String, Record>,
        mut record: Record,
        given: Option<&Path>,
    ) -> Result<Attachment> {
        let id = record.id.clone();
        let bridged = record.mode == NetworkMode::Bridge;
        if bridged {
            // A host process may have taken a port since `reserve`.
            ports::check_host_free(&self.inner.host_ns, &record.ports).await?;
        }
        let (path, owned) = match given {
            Some(p) => (p.to_path_buf(), false),
            None => (self.inner.cfg.netns_dir.join(&id), true),
        };
        let att = Attached {
            netns: path.clone(),
            owned,
            veth: bridged.then(|| veth_name(&self.inner.cfg.table, &id)),
        };
        // Write-ahead: a crash from here on leaves a record naming what to
        // clean.
        record.attached = Some(att.clone());
        self.inner.records.save(&record)?;
        map.insert(id.clone(), record.clone());
        let mut result = self.bring_up(&record, &att, owned).await;
        if result.is_ok() && !record.ports.is_empty() {
            result = self.apply_table(map, TableChange::Append(&id)).await;
        }
        match result {
            Ok(()) => Ok(self.attachment_of(&record, &att)),
            Err(e) => {
                if let Err(undo) = self.detach_locked(map, &id).await {
                    tracing::warn!(%id, error = %undo, "could not undo a failed network attach");
                }
                Err(e)
            }
        }
    }

    async fn bring_up(&self, record: &Record, att: &Attached, owned: bool) -> Result<()> {
        if owned && !netns::is_nsfs(&att.netns) {
            // A leftover plain file from a crash between create and mount.
            let _ = std::fs::remove_file(&att.netns);
            let path = att.netns.clone();
            tokio::task::spawn_blocking(move || netns::create_persistent(&path))
                .await
                .map_err(|e| Error::io("create a network namespace", std::io::Error::other(e)))??;
        }
        let ns = netns::open(&att.netns)?;
        let inside_ip = match (&att.veth, record.ip) {
            (Some(veth), Some(ip)) => {
                self.inner
                    .host
                    .create_veth(
                        veth,
                        CONTAINER_IFNAME,
                        mac_of(ip),
                        &ns,
                        self.inner.bridge_index,
                    )
                    .await?;
                Some((ip, self.inner.cfg.subnet.prefix(), self.gateway()))
            }
            _ => None,
        };
        let inside = Netlink::connect_in(&ns).await?;
        inside.configure_inside(CONTAINER_IFNAME, inside_ip).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_and_differ_per_table() {
        let a = veth_name("berth", "c1");
        assert!(a.len() <= 15 && a.starts_with(VETH_PREFIX), "{a}");
        assert_ne!(a, veth_name("berth2", "c1"));
        assert_ne!(a, veth_name("berth", "c2"));
        assert_eq!(a, veth_name("berth", "c1"));
    }

    #[test]
    fn macs_are_local_and_follow_the_address() {
        assert_eq!(
            mac_string(mac_of(Ipv4Addr::new(10, 88, 0, 2))),
            "02:42:0a:58:00:02"
        );
    }
}
