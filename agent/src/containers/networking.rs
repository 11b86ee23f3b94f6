//! A container's side of networking (the bridge, veths, addresses and NAT
//! are `crate::network`'s): the mode a create gets, the network namespace
//! its bundle joins, taking its network down after a run, releasing it at
//! delete, and forgetting the networks of containers gone while the agent
//! was away.

use std::collections::HashSet;
use std::path::PathBuf;

use berth_api::containers::NetworkMode;

use super::bundle::NetNs;
use super::record::Record;
use super::registry::{Containers, Live};
use super::{Error, Result};
use crate::network::Attachment;

impl Containers {
    /// The network a create asked for (`None`: bridge when this host has
    /// container networking, else none), with a `container:<c>` peer
    /// resolved to its id.
    pub(super) fn network_mode(&self, asked: Option<NetworkMode>) -> Result<NetworkMode> {
        let has_network = self.inner.network.is_some();
        Ok(match asked {
            None if has_network => NetworkMode::Bridge,
            None | Some(NetworkMode::None) => NetworkMode::None,
            Some(NetworkMode::Bridge) if has_network => NetworkMode::Bridge,
            Some(NetworkMode::Bridge) => {
                return Err(Error::Invalid(
                    "network \"bridge\": container networking could not be set up on this host (see the agent's log); use \"none\" or \"host\"".into(),
                ));
            }
            Some(NetworkMode::Host) => NetworkMode::Host,
            Some(NetworkMode::Container(c)) => {
                let other = self.find(&c).map_err(|_| {
                    Error::Invalid(format!("network \"container:{c}\": no such container"))
                })?;
                NetworkMode::Container(other.id.clone())
            }
        })
    }

    /// The network namespace the container's bundle joins: that of `net`
    /// when attached, else the host's, its peer's (which must run), or a
    /// new one.
    pub(super) fn netns(&self, record: &Record, net: Option<&Attachment>) -> Result<NetNs> {
        Ok(match (net, &record.network) {
            (Some(att), _) => match &att.netns {
                Some(path) => NetNs::Join(path.clone()),
                None => NetNs::Host,
            },
            (None, NetworkMode::Host) => NetNs::Host,
            (None, NetworkMode::Container(other)) => {
                let e = self.find(other).map_err(|_| {
                    Error::Conflict(format!("network container {other} no longer exists"))
                })?;
                match e.live() {
                    Live::Running { pid, .. } => {
                        NetNs::Join(PathBuf::from(format!("/proc/{pid}/ns/net")))
                    }
                    _ => {
                        return Err(Error::Conflict(format!(
                            "network container {} is not running",
                            e.record().name
                        )));
                    }
                }
            }
            _ => NetNs::New,
        })
    }

    /// The resolv.conf containers get a copy of.
    pub(super) fn resolv_source(&self) -> PathBuf {
        match &self.inner.network {
            Some(n) => crate::network::etc::host_resolv_source(n.config().resolv_conf.as_deref()),
            None => self.inner.cfg.host_resolv.clone(),
        }
    }

    /// Takes the container's veth and rules down; its address and ports
    /// stay reserved.
    pub(super) async fn detach_network(&self, id: &str) {
        if let Some(n) = &self.inner.network
            && let Err(e) = n.detach(id).await
        {
            tracing::warn!(%id, error = %e, "could not take the container's network down");
        }
    }

    /// Releases everything the container's network held.
    pub(super) async fn release_network(&self, id: &str) {
        if let Some(n) = &self.inner.network
            && let Err(e) = n.release(id).await
        {
            tracing::warn!(%id, error = %e, "could not release the container's network");
        }
    }

    /// Releases the networks of containers that no longer exist.
    pub(super) async fn reconcile_network(&self) {
        let Some(n) = &self.inner.network else {
            return;
        };
        let ids: HashSet<String> = self.entries().iter().map(|e| e.id.clone()).collect();
        match n.reconcile(&ids).await {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(
                    count = gone.len(),
                    "released the network of containers that no longer exist"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "network reconcile failed"),
        }
    }
}
