//! The sysctls bridge networking needs, written in the host's network
//! namespace (sysctl(8), Documentation/networking/ip-sysctl.rst):
//! - `net.ipv4.ip_forward = 1`: containers' traffic is routed through the
//!   host (outbound NAT, published ports). Like Docker, the agent turns it on
//!   for the whole namespace; it never turns it off again, since other
//!   software may rely on it by then.
//! - `net.ipv4.conf.<bridge>.route_localnet = 1`: lets DNATed packets from
//!   the host's 127.0.0.1 leave through the bridge (see `nft.rs`).
//!
//! Bridge netfilter (`net.bridge.bridge-nf-call-iptables`) is left as the
//! host has it: the rules work with or without br_netfilter.

use std::os::fd::OwnedFd;

use super::error::{Error, Result};
use super::netns;

/// Writes `value` to `/proc/sys/<key>` (key with slashes) in `ns`, unless it
/// already holds it.
pub async fn set(ns: &OwnedFd, key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    let value = value.to_string();
    netns::run_in(ns, "set a sysctl", move || {
        let current =
            std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
        if current.trim() == value {
            return Ok(());
        }
        std::fs::write(&path, &value).map_err(|e| Error::io(format!("write {value} to {path}"), e))
    })
    .await
}
