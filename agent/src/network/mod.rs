//! Container networking: the bridge, veth pairs, IPAM, NAT and published
//! ports, built on the kernel's own interfaces (rtnetlink for links,
//! addresses and routes; nftables for NAT).
//!
//! **Owner: the networking engineer.** The agent's container service calls
//! this API; it never configures networking itself.
//!
//! # Modes (`berth_api::containers::NetworkMode`)
//! - `bridge` (default): a veth pair from the bridge (`berth0`, subnet
//!   10.88.0.0/16, gateway .1 by default) into the container's namespace,
//!   where it is `eth0` with an address from IPAM, a default route via the
//!   gateway, and loopback up. Outbound traffic is masqueraded; published
//!   ports are DNATed (tcp and udp, from every host address and from the
//!   host's 127.0.0.1).
//! - `none`: a namespace with only loopback, up.
//! - `host`: no namespace of its own.
//! - `container:<id>`: the namespace of container `<id>`, whose network
//!   must be attached (it runs).
//!
//! # API
//! ```text
//! Network::open(NetworkConfig) -> Result<Network>                   (async) at agent start
//! Network::reconcile(&self, existing: &HashSet<String>) -> Result<Vec<String>>  (async) after adopting containers
//! Network::validate(&NetworkMode, &[PortMapping]) -> Result<()>          input check only (400s)
//! Network::reserve(&self, id, &NetworkMode, &[PortMapping]) -> Result<Reservation>  (async) at create
//! Network::attach(&self, id, netns: Option<&Path>) -> Result<Attachment>           (async) before each start
//! Network::detach(&self, id) -> Result<()>                              (async) after the container stopped
//! Network::release(&self, id) -> Result<()>                             (async) at delete
//! Network::write_etc_files(&self, dir, hostname, name, ip) -> Result<Vec<(PathBuf, &'static str)>>
//! Network::stats(&self, pid) -> Result<NetStats>                        (metrics sampler)
//! Network::reservation(&self, id) / reservations(&self)                 (async) inspection
//! Network::teardown(self) -> Result<()>                                 (async) remove bridge, table, namespaces
//! ```
//! Errors carry their HTTP meaning ([`Error::status`]): `Invalid` 400,
//! `Conflict`/`NotReserved` 409 (a taken host port, an exhausted pool, a
//! `container:` peer that is not running), the rest 500.
//!
//! # How the container service uses it
//! 1. create: `reserve(id, mode, ports)` for *every* container (host and
//!    none too, so that `container:<id>` can find them). A taken host port
//!    or a duplicate is refused here (409). The address is allocated and
//!    fsynced before `reserve` returns. Calling it again for the same id with
//!    the same mode and ports returns the same reservation.
//! 2. start, before writing config.json: `attach(id, None)`. For bridge and
//!    none it creates a persistent namespace `<netns_dir>/<id>` and sets it
//!    up; the bundle must then *join* `attachment.netns` (a `network`
//!    namespace entry with that path), and must not ask for a new one. For
//!    `container:<x>` it returns x's namespace path; for host, `netns` is
//!    `None` (no network namespace entry). The namespace outlives the
//!    container's processes, so a restarted container keeps its address,
//!    and containers keep their network while the agent is down.
//!    `attach(id, Some(path))` instead configures an existing namespace, e.g.
//!    `/proc/<pid>/ns/net` of a created-but-not-started init; the network
//!    then dies with that namespace.
//! 3. `write_etc_files(container_dir, hostname, name, attachment.ip)` and
//!    bind the returned files over /etc/hostname, /etc/hosts,
//!    /etc/resolv.conf.
//! 4. after the container stopped (and is not restarted at once):
//!    `detach(id)` removes its DNAT rules, its veth and its namespace; the
//!    address and ports stay reserved. 5. delete: `release(id)` (also
//!    detaches). 6. at agent start, after re-adopting containers:
//!    `reconcile(&ids_of_all_known_containers)` releases everything held by
//!    containers that no longer exist (e.g. the agent died mid-create).
//!
//! # Crash safety
//! State lives in `<data>/network/` (`addresses/<ip>` owner files,
//! `containers/<id>.json` records, a `lock` held while the agent runs).
//! Every change is written before the kernel is touched; only address
//! claims are fsynced, since everything else shares the fate of the kernel
//! objects it describes (see `ipam.rs` and `state.rs`). `open` re-claims
//! the address of every record, checks each recorded attachment against the
//! kernel, deletes veths and namespace files that no record owns, and
//! rebuilds the nftables table from the records, so no stale rule survives
//! a crash.
//!
//! # Host changes (documented for operators)
//! `net.ipv4.ip_forward=1` and `net.ipv4.conf.<bridge>.route_localnet=1`
//! (see `sysctl.rs`); the bridge; one nftables table `ip <table>` (default
//! `berth`; make it unique per agent when several share a kernel), never
//! any other table. The bridge (its alias, `berth:<mark>`) and the table
//! (an empty chain `owner_<mark>`) carry a mark of the agent's state
//! directory; `open` refuses a bridge or table another agent marked, so two
//! agents configured alike fail loudly instead of sharing addresses and
//! replacing each other's rules. A host whose forward policy drops packets in another
//! table (e.g. Docker's iptables FORWARD DROP) must allow the bridge there.

mod attach;
mod config;
mod error;
pub mod etc;
mod ipam;
mod link;
mod netns;
mod nft;
mod ports;
mod recover;
mod state;
mod stats;
mod sysctl;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::containers::{NetworkMode, PortMapping};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use config::{CONTAINER_IFNAME, DEFAULT_BRIDGE, DEFAULT_SUBNET, DEFAULT_TABLE, NetworkConfig};
pub use error::{Error, Result};
pub use ipnetwork::Ipv4Network;
pub use stats::NetStats;

use ipam::Ipam;
use link::Netlink;
use state::{Record, Records};

/// What `reserve` set aside for a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: String,
    pub mode: NetworkMode,
    /// The container's address (bridge mode).
    pub ip: Option<Ipv4Addr>,
    pub ports: Vec<PortMapping>,
}

/// A container's network, up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The namespace the container must join; `None` for host networking.
    pub netns: Option<PathBuf>,
    /// Its address (bridge mode, or the peer's for `container:`).
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// `eth0`'s hardware address.
    pub mac: Option<String>,
    /// The host side of its veth pair.
    pub veth: Option<String>,
}

impl Attachment {
    fn host() -> Self {
        Self {
            netns: None,
            ip: None,
            prefix_len: 0,
            gateway: None,
            mac: None,
            veth: None,
        }
    }
}

/// The network of one agent. Cheap to clone; every method may be called
/// from any task or thread.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: NetworkConfig,
    /// Marks the bridge and the table as this agent's.
    owner: String,
    /// The namespace the agent's network lives in (where `open` ran).
    host_ns: OwnedFd,
    host: Netlink,
    bridge_index: u32,
    ipam: Ipam,
    records: Records,
    state: tokio::sync::Mutex<BTreeMap<String, Record>>,
    _lock: Flock<File>,
}

/// Container ids become file names: keep them plain.
fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "container id {id:?}: 1-128 characters of letters, digits, '_', '-' and '.'"
        )))
    }
}

impl Network {
    /// Opens the network of an agent: locks the state, makes sure the bridge
    /// is there with its gateway address and the sysctls are set, checks
    /// recorded attachments against the kernel (clearing dead ones and
    /// removing veths and namespace files nothing owns), and rebuilds the
    /// nftables table from the records. Runs in (and keeps using) the network
    /// namespace of the calling thread.
    pub async fn open(cfg: NetworkConfig) -> Result<Network> {
        cfg.validate()?;
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(|e| Error::io(format!("create {}", cfg.state_dir.display()), e))?;
        let lock_path = cfg.state_dir.join("lock");
        let lock_file = File::create(&lock_path)
            .map_err(|e| Error::io(format!("open {}", lock_path.display()), e))?;
        let lock =
            Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|_| Error::Locked {
                path: cfg.state_dir.clone(),
            })?;

        let ipam = Ipam::open(&cfg.state_dir.join("addresses"), cfg.subnet)?;
        let records = Records::open(&cfg.state_dir.join("containers"))?;
        let mut map = records.load_all()?;
        config::check_state_config(&cfg, &ipam, &map)?;

        // Two agents must never share a bridge or a table (they would hand
        // out the same addresses and replace each other's rules): both are
        // marked with the owner's state directory, and a mark of another
        // owner is refused.
        let owner = config::owner_mark(&cfg.state_dir)?;
        let host_ns = netns::current()?;
        if let Some(Some(other)) = nft::owner_of(&cfg.nft, &host_ns, &cfg.table).await?
            && other != owner
        {
            return Err(Error::Conflict(format!(
                "nftables table ip {} belongs to another agent (mark {other}, this agent's state {} is {owner}): give each agent its own table, bridge and subnet, or, if that agent and its data are gone for good, remove its leftovers with `nft delete table ip {}; ip link delete {}`",
                cfg.table,
                cfg.state_dir.display(),
                cfg.table,
                cfg.bridge
            )));
        }
        let host = Netlink::connect_in(&host_ns).await?;
        let gateway = ipam.gateway();
        let bridge_index = host
            .ensure_bridge(
                &cfg.bridge,
                gateway,
                cfg.subnet.prefix(),
                &format!("berth:{owner}"),
            )
            .await?;
        sysctl::set(&host_ns, "net/ipv4/ip_forward", "1").await?;
        sysctl::set(
            &host_ns,
            &format!("net/ipv4/conf/{}/route_localnet", cfg.bridge),
            "1",
        )
        .await?;
        netns::ensure_shared_dir(&cfg.netns_dir)?;

        let network = Network {
            inner: Arc::new(Inner {
                cfg,
                owner,
                host_ns,
                host,
                bridge_index,
                ipam,
                records,
                state: tokio::sync::Mutex::new(BTreeMap::new()),
                _lock: lock,
            }),
        };
        network.recover(&mut map).await?;
        network.apply_table(&map, TableChange::Replace).await?;
        *network.inner.state.lock().await = map;
        Ok(network)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.cfg
    }

    /// The bridge's address, the containers' default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        self.inner.ipam.gateway()
    }

    /// Checks that `ports` make sense for `mode` (no state consulted): only
    /// bridge publishes, ports 1-65535, no host port twice per protocol.
    pub fn validate(mode: &NetworkMode, ports: &[PortMapping]) -> Result<()> {
        ports::validate(mode, ports)
    }

    /// Reserves a container's network: validates, refuses a host port that
    /// another container reserved or a host socket holds (409), allocates
    /// its address (bridge mode) durably, and records it all. Idempotent for
    /// the same mode and ports.
    pub async fn reserve(
        &self,
        id: &str,
        mode: &NetworkMode,
        ports: &[PortMapping],
    ) -> Result<Reservation> {
        check_id(id)?;
        ports::validate(mode, ports)?;
        let mut map = self.inner.state.lock().await;
        if let Some(r) = map.get(id) {
            if &r.mode == mode && r.ports == ports {
                return Ok(reservation_of(r));
            }
            return Err(Error::Conflict(format!(
                "container {id} already has a network reservation ({}); release it first",
                r.mode
            )));
        }
        if let NetworkMode::Container(other) = mode
            && !map.contains_key(other)
        {
            return Err(Error::Invalid(format!(
                "network \"container:{other}\": that container has no network on this agent"
            )));
        }
        for p in ports {
            let taken = map.values().find(|r| {
                r.ports
                    .iter()
                    .any(|q| q.host_port == p.host_port && q.protocol == p.protocol)
            });
            if let Some(r) = taken {
                return Err(Error::Conflict(format!(
                    "host port {}/{} is already published by container {}",
                    p.host_port, p.protocol, r.id
                )));
            }
        }
        ports::check_host_free(&self.inner.host_ns, ports).await?;
        // Write-ahead: the address is durably ours before anything uses it.
        let ip = match mode {
            NetworkMode::Bridge => Some(self.inner.ipam.allocate(id)?),
            _ => None,
        };
        let record = Record {
            id: id.to_string(),
            mode: mode.clone(),
            ip,
            ports: ports.to_vec(),
            attached: None,
        };
        if let Err(e) = self.inner.records.save(&record) {
            if let Some(ip) = ip {
                let _ = self.inner.ipam.release(ip, id);
            }
            return Err(e);
        }
        let r = reservation_of(&record);
        map.insert(id.to_string(), record);
        Ok(r)
    }

    /// The reservation of `id`, if any.
    pub async fn reservation(&self, id: &str) -> Option<Reservation> {
        self.inner.state.lock().await.get(id).map(reservation_of)
    }

    /// Every reservation.
    pub async fn reservations(&self) -> Vec<Reservation> {
        self.inner
            .state
            .lock()
            .await
            .values()
            .map(reservation_of)
            .collect()
    }

    /// Takes a container's network down: its DNAT rules, its veth and the
    /// namespace the module made. Its address and ports stay reserved.
    /// Idempotent.
    pub async fn detach(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let mut map = self.inner.state.lock().await;
        self.detach_locked(&mut map, id).await
    }

    async fn detach_locked(&self, map: &mut BTreeMap<String, Record>, id: &str) -> Result<()> {
        let Some(record) = map.get_mut(id) else {
            return Ok(());
        };
        let Some(att) = record.attached.take() else {
            return Ok(());
        };
        let had_ports = !record.ports.is_empty();
        // State first: a crash below leaves orphans that `open` sweeps.
        self.inner.records.save(record)?;
        if had_ports {
            self.apply_table(map, TableChange::Refill).await?;
        }
        if let Some(veth) = &att.veth {
            self.inner.host.delete(veth).await?;
        }
        if att.owned {
            netns::remove_persistent(&att.netns)?;
        }
        Ok(())
    }

    /// Frees everything of a container: detaches it, forgets its record and
    /// releases its address. Idempotent.
    pub async fn release(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let mut map = self.inner.state.lock().await;
        self.release_locked(&mut map, id).await
    }

    async fn release_locked(&self, map: &mut BTreeMap<String, Record>, id: &str) -> Result<()> {
        self.detach_locked(map, id).await?;
        self.inner.records.remove(id)?;
        map.remove(id);
        if let Some(ip) = self.inner.ipam.address_of(id)? {
            self.inner.ipam.release(ip, id)?;
        }
        Ok(())
    }

    /// Releases the network of every container not in `existing` (records
    /// and bare address claims alike, e.g. from an agent killed mid-create).
    /// Returns the ids released.
    pub async fn reconcile(&self, existing: &HashSet<String>) -> Result<Vec<String>> {
        let mut map = self.inner.state.lock().await;
        let mut ids: HashSet<String> = map.keys().cloned().collect();
        ids.extend(
            self.inner
                .ipam
                .allocations()?
                .into_iter()
                .map(|(_, owner)| owner),
        );
        let mut gone: Vec<String> = ids
            .into_iter()
            .filter(|id| !existing.contains(id))
            .collect();
        gone.sort();
        for id in &gone {
            self.release_locked(&mut map, id).await?;
            tracing::info!(%id, "released the network of a container that no longer exists");
        }
        Ok(gone)
    }

    /// Writes `<dir>/etc/{hostname,hosts,resolv.conf}` for a container and
    /// returns the binds (host file, path in the container).
    pub fn write_etc_files(
        &self,
        dir: &Path,
        hostname: &str,
        name: &str,
        ip: Option<Ipv4Addr>,
    ) -> Result<Vec<(PathBuf, &'static str)>> {
        let source = etc::host_resolv_source(self.inner.cfg.resolv_conf.as_deref());
        etc::write(dir, hostname, name, ip, &source)
    }

    /// The network counters of the namespace of process `pid` (the
    /// container's init), loopback excluded.
    pub fn stats(&self, pid: u32) -> Result<NetStats> {
        NetStats::of_pid(pid)
    }

    /// Removes what `open` and `attach` made in the kernel: every
    /// attachment, the nftables table, the bridge and the namespace
    /// directory's self-bind. Reservations stay on disk. For tests and
    /// uninstalling; a running agent never calls it.
    pub async fn teardown(self) -> Result<()> {
        let mut map = self.inner.state.lock().await;
        let ids: Vec<String> = map.keys().cloned().collect();
        for id in ids {
            self.detach_locked(&mut map, &id).await?;
        }
        nft::apply(
            &self.inner.cfg.nft,
            &self.inner.host_ns,
            &nft::render_removal(&self.inner.cfg.table),
        )
        .await?;
        self.inner.host.delete(&self.inner.cfg.bridge).await?;
        netns::release_shared_dir(&self.inner.cfg.netns_dir)?;
        Ok(())
    }

    /// Brings the nftables table in line with `map`: `Replace` rebuilds it
    /// whole (at open), `Refill` rewrites the published ports (when a
    /// container goes away), `Append(id)` adds the rules of `id` only (a
    /// start: cheap, deletes nothing).
    async fn apply_table(
        &self,
        map: &BTreeMap<String, Record>,
        change: TableChange<'_>,
    ) -> Result<()> {
        let cfg = &self.inner.cfg;
        let commands = match change {
            TableChange::Append(id) => {
                let forwards = forwards_of(map.values().filter(|r| r.id == id));
                if forwards.is_empty() {
                    return Ok(());
                }
                nft::render_append(&cfg.table, &forwards)
            }
            TableChange::Replace | TableChange::Refill => {
                let forwards = forwards_of(map.values());
                let spec = nft::TableSpec {
                    table: &cfg.table,
                    owner: &self.inner.owner,
                    bridge: &cfg.bridge,
                    subnet: cfg.subnet,
                    forwards: &forwards,
                };
                if matches!(change, TableChange::Replace) {
                    nft::render(&spec)
                } else {
                    nft::render_published(&spec)
                }
            }
        };
        nft::apply(&cfg.nft, &self.inner.host_ns, &commands).await
    }
}

/// How `apply_table` changes the nftables table.
enum TableChange<'a> {
    Replace,
    Refill,
    Append(&'a str),
}

/// The DNAT rules of the attached bridge-mode containers among `records`.
fn forwards_of<'a>(records: impl Iterator<Item = &'a Record>) -> Vec<nft::Forward> {
    records
        .filter(|r| r.mode == NetworkMode::Bridge && r.attached.is_some())
        .filter_map(|r| r.ip.map(|ip| (r, ip)))
        .flat_map(|(r, ip)| {
            r.ports.iter().map(move |p| nft::Forward {
                container: r.id.clone(),
                protocol: p.protocol,
                host_port: p.host_port,
                ip,
                container_port: p.container_port,
            })
        })
        .collect()
}

fn reservation_of(r: &Record) -> Reservation {
    Reservation {
        id: r.id.clone(),
        mode: r.mode.clone(),
        ip: r.ip,
        ports: r.ports.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only if the agent can hold a `Network` in shared state and
    /// await its methods from spawned tasks and axum handlers.
    #[allow(dead_code)]
    fn network_and_its_futures_are_send(n: &Network, p: &Path) {
        fn send<T: Send + Sync>(_: &T) {}
        fn send_future<T: Send>(_: T) {}
        send(n);
        send_future(Network::open(NetworkConfig::new(p, p)));
        send_future(n.reserve("x", &NetworkMode::Bridge, &[]));
        send_future(n.attach("x", Some(p)));
        send_future(n.detach("x"));
        send_future(n.release("x"));
        send_future(n.reconcile(&HashSet::new()));
        send_future(n.clone().teardown());
    }

    #[test]
    fn ids_must_be_plain() {
        assert!(check_id(&"a".repeat(64)).is_ok());
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
