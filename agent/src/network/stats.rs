//! Per-container network counters, for the metrics sampler: the sums over
//! the container's interfaces (loopback excluded) of `/proc/<pid>/net/dev`,
//! which shows the network namespace of process `<pid>` (proc(5)).

use std::path::Path;

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
    /// Parses the text of a `net/dev` file.
    pub fn parse(text: &str) -> Result<Self> {
        let mut total = NetStats::default();
        for line in text.lines().skip(2) {
            let Some((iface, counters)) = line.split_once(':') else {
                continue;
            };
            if iface.trim() == "lo" {
                continue;
            }
            let f: Vec<u64> = counters
                .split_whitespace()
                .map(|v| v.parse::<u64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::Corrupt {
                    path: "net/dev".into(),
                    detail: format!("{line:?}: {e}"),
                })?;
            if f.len() < 16 {
                return Err(Error::Corrupt {
                    path: "net/dev".into(),
                    detail: format!("{line:?}: expected 16 counters"),
                });
            }
            total.rx_bytes += f[0];
            total.rx_packets += f[1];
            total.tx_bytes += f[8];
            total.tx_packets += f[9];
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
    fn garbage_is_an_error_not_a_panic() {
        let text = "h1\nh2\n eth0: 1 2 x\n";
        assert!(NetStats::parse(text).is_err());
        assert!(NetStats::parse("h1\nh2\n eth0: 1 2 3\n").is_err());
    }

    #[test]
    fn reads_this_process() {
        let s = NetStats::of_pid(std::process::id());
        assert!(s.is_ok(), "{s:?}");
    }
}
