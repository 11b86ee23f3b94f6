//! Per-container network counters, for the metrics sampler: the sums over
//! the container's interfaces (loopback excluded) of `/proc/<pid>/net/dev`,
//! which shows the network namespace of process `<pid>` (proc(5)), parsed
//! by procfs. The agent's one `net/dev` reader: the host sample
//! (`metrics::host`) sums the host's file with it too.

use std::path::Path;

use procfs::FromBufRead;
use procfs::net::InterfaceDeviceStatus;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// Bytes and packets a container received and sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

impl NetStats {
    /// Parses the text of a `net/dev` file (procfs's
    /// `InterfaceDeviceStatus`): a line that does not hold an interface
    /// name and its 16 counters is an error.
    pub fn parse(text: &str) -> Result<Self> {
        let devices =
            InterfaceDeviceStatus::from_buf_read(text.as_bytes()).map_err(|e| Error::Corrupt {
                path: "net/dev".into(),
                detail: e.to_string(),
            })?;
        let mut total = NetStats::default();
        for dev in devices.0.values().filter(|d| d.name != "lo") {
            total.rx_bytes = total.rx_bytes.saturating_add(dev.recv_bytes);
            total.rx_packets = total.rx_packets.saturating_add(dev.recv_packets);
            total.tx_bytes = total.tx_bytes.saturating_add(dev.sent_bytes);
            total.tx_packets = total.tx_packets.saturating_add(dev.sent_packets);
        }
        Ok(total)
    }

    /// The counters of the network namespace of process `pid`.
    pub fn of_pid(pid: u32) -> Result<Self> {
        Self::read(&Path::new("/proc").join(pid.to_string()).join("net/dev"))
    }

    /// The counters in a `net/dev` file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_interfaces_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
  eth1:       1       1    0    0    0     0          0         0        2       2    0    0    0     0       0          0
";
        let s = NetStats::parse(text).unwrap();
        assert_eq!(
            s,
            NetStats {
                rx_bytes: 1001,
                rx_packets: 11,
                tx_bytes: 2002,
                tx_packets: 22
            }
        );
    }

    #[test]
    fn an_interface_name_may_hold_colons() {
        let text = "h1\nh2\n  eth0:1:   10 1 0 0 0 0 0 0   20 2 0 0 0 0 0 0\n\
                    lo:    5 1 0 0 0 0 0 0    5 1 0 0 0 0 0 0\n\
                    veth:a: 1 1 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n";
        assert_eq!(
            NetStats::parse(text).unwrap(),
            NetStats {
                rx_bytes: 11,
                rx_packets: 2,
                tx_bytes: 22,
                tx_packets: 4
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let text = "h1\nh2\n eth0: 1 2 x\n";
        assert!(NetStats::parse(text).is_err());
        assert!(NetStats::parse("h1\nh2\n eth0: 1 2 3\n").is_err());
        let max = "h1\nh2\n a: 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
                   b: 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        assert_eq!(NetStats::parse(max).unwrap().rx_bytes, u64::MAX);
    }

    #[test]
    fn reads_this_process() {
        let s = NetStats::of_pid(std::process::id());
        assert!(s.is_ok(), "{s:?}");
    }
}
