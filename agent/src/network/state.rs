//! What the network module remembers per container, in
//! `<state>/containers/<id>.json`: its mode, its address, its published
//! ports and, while its network is up, where (the namespace file and the
//! host-side veth). Files are replaced atomically (write a temporary file,
//! rename it over), and the record of an attachment is written *before* the
//! kernel objects are made, so whatever an agent crash leaves behind is
//! named in a record that the next `open` checks and cleans.
//!
//! Records are not fsynced, on purpose: a start would pay several ms per
//! fsync on a busy disk, and nothing needs it. An agent crash loses no
//! written data (the page cache outlives the process). An OS crash may lose
//! the last writes, but it also loses every veth, namespace and rule they
//! describe, and the address claims that must survive it are fsynced by
//! IPAM; a reservation whose record is lost is made again by calling
//! `reserve` (which finds its owner's claimed address). A record torn by an
//! OS crash is set aside as `<id>.json.corrupt` with a warning instead of
//! keeping the agent from starting.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_api::containers::{NetworkMode, PortMapping};
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// One container's network, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub mode: NetworkMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<Attached>,
}

/// Where a container's network is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// The namespace file the container joins.
    pub netns: PathBuf,
    /// Whether the module made that file (and so removes it).
    pub owned: bool,
    /// The host side of the veth pair (bridge mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth: Option<String>,
}

/// The record files of one agent.
#[derive(Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Every record, by container id. A leftover temporary file from a
    /// crashed write is removed.
    pub fn load_all(&self) -> Result<BTreeMap<String, Record>> {
        let mut out = BTreeMap::new();
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("list {}", self.dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("list {}", self.dir.display()), e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            match serde_json::from_slice::<Record>(&bytes) {
                Ok(record) => {
                    out.insert(record.id.clone(), record);
                }
                Err(e) => {
                    let aside = self.dir.join(format!("{name}.corrupt"));
                    tracing::warn!(path = %path.display(), error = %e, "setting aside an unreadable network record");
                    std::fs::rename(&path, &aside)
                        .map_err(|e| Error::io(format!("set aside {}", path.display()), e))?;
                }
            }
        }
        Ok(out)
    }

    /// Writes `record`, replacing the old one atomically.
    pub fn save(&self, record: &Record) -> Result<()> {
        let path = self.path(&record.id);
        let tmp = self.dir.join(format!("{}.json.tmp", record.id));
        let json = serde_json::to_vec_pretty(record).map_err(|e| Error::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::io(format!("write {}", path.display()), e))
    }

    /// Removes the record of `id`; a missing one is fine.
    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", path.display()), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::Protocol;

    #[test]
    fn records_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::open(d.path()).unwrap();
        let rec = Record {
            id: "abc".into(),
            mode: NetworkMode::Bridge,
            ip: Some(Ipv4Addr::new(10, 88, 0, 2)),
            ports: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Udp,
            }],
            attached: Some(Attached {
                netns: "/run/x".into(),
                owned: true,
                veth: Some("bv1".into()),
            }),
        };
        r.save(&rec).unwrap();
        std::fs::write(d.path().join("zzz.json.tmp"), "partial").unwrap();
        let all = r.load_all().unwrap();
        assert_eq!(all.get("abc"), Some(&rec));
        assert_eq!(all.len(), 1);
        assert!(!d.path().join("zzz.json.tmp").exists());
        r.remove("abc").unwrap();
        r.remove("abc").unwrap();
        assert!(r.load_all().unwrap().is_empty());
    }

    #[test]
    fn a_torn_record_is_set_aside() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::open(d.path()).unwrap();
        std::fs::write(d.path().join("bad.json"), "").unwrap();
        assert!(r.load_all().unwrap().is_empty());
        assert!(d.path().join("bad.json.corrupt").exists());
        assert!(!d.path().join("bad.json").exists());
    }
}
