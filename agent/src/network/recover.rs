//! What `open` does after a crash or a reboot before anything else: make
//! the address claims agree with the records, clear recorded attachments
//! the kernel no longer has, and remove veths on the bridge and namespace
//! files that no attachment owns.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use rtnetlink::packet_route::link::InfoKind;

use super::attach::VETH_PREFIX;
use super::error::{Error, Result};
use super::state::Record;
use super::{Network, netns};

impl Network {
    /// At open: clears recorded attachments the kernel no longer has (after
    /// a reboot or a crash mid-attach), and removes veths on the bridge and
    /// namespace files that no live attachment owns.
    pub(super) async fn recover(&self, map: &mut BTreeMap<String, Record>) -> Result<()> {
        // A record outliving its claim (an OS crash between the two):
        // claim again, so the address cannot be handed out twice.
        for r in map.values() {
            if let Some(ip) = r.ip
                && let Err(e) = self.inner.ipam.ensure_claim(ip, &r.id)
            {
                tracing::error!(id = %r.id, %ip, error = %e, "a recorded address is claimed by another container");
            }
        }
        let ids: Vec<String> = map.keys().cloned().collect();
        for id in ids {
            let Some(record) = map.get(&id).cloned() else {
                continue;
            };
            let Some(att) = &record.attached else {
                continue;
            };
            if !self.attachment_alive(&record, att).await? {
                tracing::info!(%id, "clearing a network attachment the kernel no longer has");
                self.detach_locked(map, &id).await?;
            }
        }
        let veths: HashSet<String> = map
            .values()
            .filter_map(|r| r.attached.as_ref().and_then(|a| a.veth.clone()))
            .collect();
        for l in self.inner.host.links().await? {
            let ours = l.controller == Some(self.inner.bridge_index)
                && l.name.starts_with(VETH_PREFIX)
                && l.kind == Some(InfoKind::Veth);
            if ours && !veths.contains(&l.name) {
                tracing::info!(veth = %l.name, "removing a veth no container owns");
                self.inner.host.delete(&l.name).await?;
            }
        }
        let owned: HashSet<PathBuf> = map
            .values()
            .filter_map(|r| {
                r.attached
                    .as_ref()
                    .filter(|a| a.owned)
                    .map(|a| a.netns.clone())
            })
            .collect();
        let dir = &self.inner.cfg.netns_dir;
        let entries =
            std::fs::read_dir(dir).map_err(|e| Error::io(format!("list {}", dir.display()), e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !owned.contains(&path) {
                tracing::info!(path = %path.display(), "removing a network namespace no container owns");
                netns::remove_persistent(&path)?;
            }
        }
        Ok(())
    }
}
