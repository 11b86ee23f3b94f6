//! Links, addresses and routes over rtnetlink (rtnetlink(7)): the bridge,
//! the veth pair of each container, and the container side's address,
//! loopback and default route.
//!
//! A [`Netlink`] is one route-netlink socket; the namespace it acts on is
//! the one it was created in ([`Netlink::connect_in`]), whatever thread later
//! drives it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use super::error::{Error, Result};
use super::netns;

/// `EEXIST`, `ENODEV` and friends as netlink reports them.
fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// A link as the kernel lists it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<InfoKind>,
    /// The index of the bridge (or bond) this link is a port of.
    pub controller: Option<u32>,
    /// `ip link set … alias`: on the bridge, the agent that owns it.
    pub alias: Option<String>,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Self {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            kind: None,
            controller: None,
            alias: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            link.kind = Some(k.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// A route-netlink connection bound to one network namespace. Its
/// background task ends when it is dropped.
pub struct Netlink {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// A connection in the network namespace `ns`.
    pub async fn connect_in(ns: &OwnedFd) -> Result<Self> {
        let (conn, handle, _) = netns::run_in(ns, "open a netlink socket", || {
            rtnetlink::new_connection().map_err(|e| Error::io("open a netlink socket", e))
        })
        .await?;
        let task = tokio::spawn(conn);
        Ok(Self { handle, task })
    }

    /// The link called `name`, if any.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(m)) => Ok(Some(Link::from_message(&m))),
            Ok(None) => Ok(None),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(Error::netlink(format!("look up link {name}"), e)),
        }
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let mut out = Vec::new();
        let mut links = self.handle.link().get().execute();
        while let Some(m) = links
            .try_next()
            .await
            .map_err(|e| Error::netlink("list links", e))?
        {
            out.push(Link::from_message(&m));
        }
        Ok(out)
    }

    /// Makes sure a bridge `name` exists, is up, carries `address/prefix`
    /// and is marked (its alias) as `owner`'s; returns its index. A
    /// non-bridge link of that name, or a bridge another owner marked, is a
    /// conflict: two agents sharing a bridge would hand out the same
    /// addresses.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix: u8,
        owner: &str,
    ) -> Result<u32> {
        let link = match self.link(name).await? {
            Some(l) => l,
            None => {
                match self
                    .handle
                    .link()
                    .add(LinkBridge::new(name).build())
                    .execute()
                    .await
                {
                    Ok(()) => {}
                    // Another agent sharing this kernel made it meanwhile.
                    Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
                    Err(e) => return Err(Error::netlink(format!("create bridge {name}"), e)),
                }
                self.link(name).await?.ok_or_else(|| {
                    Error::Conflict(format!("bridge {name} vanished right after it was created"))
                })?
            }
        };
        if link.kind != Some(InfoKind::Bridge) {
            return Err(Error::Conflict(format!(
                "link {name} exists and is not a bridge ({:?}): choose another bridge name",
                link.kind
            )));
        }
        match &link.alias {
            Some(a) if a == owner => {}
            Some(a) => {
                return Err(Error::Conflict(format!(
                    "bridge {name} belongs to another agent ({a:?}, not {owner:?}): give each agent its own bridge, subnet and nftables table, or, if that agent and its data are gone for good, remove the bridge with `ip link delete {name}`"
                )));
            }
            None => self
                .handle
                .link()
                .set(LinkUnspec::new_with_index(link.index).alias(owner).build())
                .execute()
                .await
                .map_err(|e| Error::netlink(format!("mark bridge {name} as {owner:?}'s"), e))?,
        }
        if !self.has_address(link.index, address).await? {
            match self
                .handle
                .address()
                .add(link.index, IpAddr::V4(address), prefix)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(Error::netlink(
                        format!("add {address}/{prefix} to {name}"),
                        e,
                    ));
                }
            }
        }
        self.set_up(link.index, name).await?;
        Ok(link.index)
    }

    async fn has_address(&self, index: u32, address: Ipv4Addr) -> Result<bool> {
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(m) = addrs
            .try_next()
            .await
            .map_err(|e| Error::netlink("list addresses", e))?
        {
            if m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(a)) if *a == address))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Brings link `index` up.
    pub async fn set_up(&self, index: u32, name: &str) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("bring {name} up"), e))
    }

    /// Creates the veth pair `host` ↔ `peer`: `host` stays here as a port of
    /// the bridge `bridge` (up, hairpin on), `peer` is born inside the
    /// namespace `peer_ns` with hardware address `mac`. Returns `host`'s
    /// index.
    pub async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        mac: [u8; 6],
        peer_ns: &OwnedFd,
        bridge: u32,
    ) -> Result<u32> {
        let peer_msg = LinkUnspec::new_with_name(peer)
            .address(mac.to_vec())
            .setns_by_fd(peer_ns.as_raw_fd())
            .build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .controller(bridge)
            .up()
            .build();
        match self.handle.link().add(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {
                return Err(Error::Conflict(format!(
                    "a link named {host} (or {peer} in the container's namespace) already exists"
                )));
            }
            Err(e) => return Err(Error::netlink(format!("create veth {host}"), e)),
        }
        let index = self
            .link(host)
            .await?
            .ok_or_else(|| {
                Error::Conflict(format!("veth {host} vanished right after it was created"))
            })?
            .index;
        // Hairpin: a container reaching its own published port through a
        // host address is DNATed back out of the port it came in on; when
        // br_netfilter is loaded that is a bridged frame, which the bridge
        // would otherwise never send back where it came from.
        self.handle
            .link()
            .set_port(LinkBridgePort::new(index).hairpin(true).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("turn hairpin on for {host}"), e))?;
        Ok(index)
    }

    /// Deletes link `name`; `false` when it did not exist.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(Error::netlink(format!("delete link {name}"), e)),
        }
    }

    /// Inside a container's namespace: loopback up, and when `ip` is given,
    /// `ifname` up with `ip/prefix` and a default route via `gateway`.
    pub async fn configure_inside(
        &self,
        ifname: &str,
        ip: Option<(Ipv4Addr, u8, Ipv4Addr)>,
    ) -> Result<()> {
        let lo = self
            .link("lo")
            .await?
            .ok_or_else(|| Error::Conflict("the container's namespace has no loopback".into()))?;
        self.set_up(lo.index, "lo").await?;
        let Some((ip, prefix, gateway)) = ip else {
            return Ok(());
        };
        let link = self.link(ifname).await?.ok_or_else(|| {
            Error::Conflict(format!(
                "{ifname} did not arrive in the container's namespace"
            ))
        })?;
        match self
            .handle
            .address()
            .add(link.index, IpAddr::V4(ip), prefix)
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(Error::netlink(format!("add {ip}/{prefix} to {ifname}"), e)),
        }
        self.set_up(link.index, ifname).await?;
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(link.index)
            .build();
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(Error::netlink(
                format!("add the default route via {gateway}"),
                e,
            )),
        }
    }
}
