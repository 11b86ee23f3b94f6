//! Linux namespaces (namespaces(7)): which ones the init is cloned with,
//! which ones it joins by path (setns(2)), and the user namespace's id maps
//! (user_namespaces(7), "User and group ID mappings").

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType};

use crate::error::{Error, Result};

/// The clone(2)/setns(2) flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The name under `/proc/<pid>/ns/`.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Every namespace type, in the order a process joins them: the user
/// namespace first (it grants the rights to join the others), the mount
/// namespace last but one so that paths opened before still resolve.
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// A namespace to join, opened by the parent.
#[derive(Debug)]
pub struct JoinNs {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// What the spec's `linux.namespaces` asks for.
#[derive(Debug, Default)]
pub struct NamespacePlan {
    /// Flags of the namespaces to create. `CLONE_NEWCGROUP` is not among
    /// them: the init unshares it once it sits in its own cgroup.
    pub clone_flags: libc::c_int,
    /// Whether a new cgroup namespace is wanted.
    pub new_cgroupns: bool,
    /// Namespaces to join, in [`JOIN_ORDER`]; a pid namespace is joined by
    /// the parent thread before the clone (it applies to children only).
    pub join: Vec<JoinNs>,
}

impl NamespacePlan {
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Result<Self> {
        let mut plan = NamespacePlan::default();
        for t in JOIN_ORDER {
            let Some((i, ns)) = namespaces.iter().enumerate().find(|(_, n)| n.typ() == t) else {
                continue;
            };
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => {
                    let fd = File::open(path).map_err(|e| {
                        Error::config(
                            format!("linux.namespaces[{i}].path"),
                            format!("cannot open {}: {e}", path.display()),
                        )
                    })?;
                    plan.join.push(JoinNs {
                        typ: t,
                        path: path.clone(),
                        fd: fd.into(),
                    });
                }
                _ if t == LinuxNamespaceType::Cgroup => plan.new_cgroupns = true,
                _ => plan.clone_flags |= clone_flag(t),
            }
        }
        Ok(plan)
    }

    /// Whether the container gets a namespace of type `t` other than the
    /// runtime's (new or joined).
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        (t == LinuxNamespaceType::Cgroup && self.new_cgroupns)
            || self.clone_flags & clone_flag(t) != 0
            || self.join.iter().any(|j| j.typ == t)
    }

    /// The joined namespace of type `t`.
    pub fn joined(&self, t: LinuxNamespaceType) -> Option<&JoinNs> {
        self.join.iter().find(|j| j.typ == t)
    }
}

/// Renders id mappings the way `/proc/<pid>/uid_map` wants them.
pub fn format_id_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes uid and gid maps of `pid` (which must sit in a new user namespace).
pub fn write_id_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let write = |file: &str, text: &str| {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&path, text).map_err(|e| Error::io("write", path, e))
    };
    if !uid.is_empty() {
        write("uid_map", &format_id_map(uid))?;
    }
    if !gid.is_empty() {
        write("gid_map", &format_id_map(gid))?;
    }
    Ok(())
}

/// The inode identifying a namespace file, to tell whether two processes
/// share a namespace.
pub fn ns_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxIdMappingBuilder, LinuxNamespaceBuilder};

    #[test]
    fn plan_splits_new_and_joined() {
        let ns = |t| LinuxNamespaceBuilder::default().typ(t).build().unwrap();
        let mut net = ns(LinuxNamespaceType::Network);
        net.set_path(Some("/proc/self/ns/net".into()));
        let plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Pid),
            ns(LinuxNamespaceType::Mount),
            ns(LinuxNamespaceType::Cgroup),
            net,
        ])
        .unwrap();
        assert_eq!(plan.clone_flags, libc::CLONE_NEWPID | libc::CLONE_NEWNS);
        assert!(plan.new_cgroupns);
        assert_eq!(plan.join.len(), 1);
        assert!(plan.has(LinuxNamespaceType::Network));
        assert!(!plan.has(LinuxNamespaceType::Uts));
    }

    #[test]
    fn missing_join_path_names_the_field() {
        let mut uts = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Uts)
            .build()
            .unwrap();
        uts.set_path(Some("/nonexistent/ns".into()));
        let err = NamespacePlan::from_spec(&[uts]).unwrap_err().to_string();
        assert!(err.contains("linux.namespaces[0].path"), "{err}");
    }

    #[test]
    fn id_maps_render() {
        let m = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(1000u32)
            .size(65536u32)
            .build()
            .unwrap();
        assert_eq!(format_id_map(&[m]), "0 1000 65536\n");
    }
}
