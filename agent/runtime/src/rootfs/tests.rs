//! Planning against the real filesystem (read only) and applying against
//! the recording fake.

use std::path::Path;

use oci_spec::runtime::{LinuxDevice, Mount};

use super::options::MOUNT_ATTR_RDONLY;
use super::resolve::IN_ROOT;
use super::*;
use crate::syscall::fake::Recorder;

fn mounts(json: &str) -> Vec<Mount> {
    serde_json::from_str(json).unwrap()
}

/// An input with nothing in it but `dir` as bundle and rootfs and a v1
/// memory hierarchy.
fn input(dir: &Path) -> RootfsInput<'_> {
    RootfsInput {
        bundle: dir,
        rootfs: dir,
        mounts: &[],
        devices: &[],
        readonly_root: false,
        propagation: None,
        masked_paths: &[],
        readonly_paths: &[],
        no_pivot: false,
        userns: false,
        host_mntns: false,
        new_cgroupns: false,
        cgroup_dirs: vec![("memory".into(), "/sys/fs/cgroup/memory/berth/x".into())],
        uid_maps: &[],
        gid_maps: &[],
    }
}

#[test]
fn symlinks_resolve_inside_the_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("real/sub")).unwrap();
    std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../etc", r.join("up")).unwrap();
    std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
    let res = |p: &str| resolve_in_rootfs(r, Path::new(p)).unwrap();
    assert_eq!(res("/abs/sub/x"), Path::new("real/sub/x"));
    assert_eq!(res("/up/passwd"), Path::new("etc/passwd"));
    assert_eq!(res("/../../a/./b/../c"), Path::new("a/c"));
    assert!(resolve_in_rootfs(r, Path::new("/loop/x")).is_err());
}

#[test]
fn options_parse() {
    let o = MountOptions::parse(&[
        "nosuid".into(),
        "strictatime".into(),
        "mode=755".into(),
        "size=65536k".into(),
        "rprivate".into(),
        "rro".into(),
    ]);
    assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
    assert_eq!(o.data, ["mode=755", "size=65536k"]);
    assert_eq!(o.propagation, [libc::MS_PRIVATE | libc::MS_REC]);
    assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY);
    let o = MountOptions::parse(&["ro".into(), "rw".into(), "rbind".into()]);
    assert_eq!(o.flags, 0);
    assert!(o.bind && o.recursive);
}

#[test]
fn fd_paths_render() {
    let mut buf = [0u8; 32];
    assert_eq!(fd_path(7, &mut buf), c"/proc/self/fd/7");
    assert_eq!(fd_path(1234, &mut buf), c"/proc/self/fd/1234");
}

#[test]
fn dev_tmpfs_brings_default_devices_and_symlinks() {
    let m = mounts(
        r#"[{"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}]"#,
    );
    let dir = Path::new("/tmp");
    let plan = RootfsPlan::new(&RootfsInput {
        mounts: &m,
        ..input(dir)
    })
    .unwrap();
    assert!(plan.dev_symlinks);
    assert_eq!(plan.devices.len(), 6);
    assert_eq!(plan.mounts[1].rel.as_c_str(), c"dev");
    let rec = Recorder::default();
    let rootfd = plan.mount_all(&rec).unwrap();
    assert!(rootfd > 100);
    let calls = rec.calls_starting("mount");
    assert!(calls[0].starts_with("mount - / - 0x84000"), "{calls:?}");
    assert!(
        calls[1].starts_with("mount /tmp /tmp - 0x5000"),
        "{calls:?}"
    );
    assert!(calls[2].contains(" proc 0x0 -"), "{calls:?}");
    assert!(calls[3].contains(" tmpfs 0x2 mode=755"), "{calls:?}");
    assert_eq!(rec.calls_starting("mknodat").len(), 6);
    assert!(rec.calls_starting("symlinkat pts/ptmx").len() == 1);
}

#[test]
fn missing_targets_are_created_inside_the_root() {
    let m = mounts(r#"[{"destination":"/a/b/../c","type":"tmpfs","source":"tmpfs"}]"#);
    let dir = Path::new("/tmp");
    let plan = RootfsPlan::new(&RootfsInput {
        mounts: &m,
        ..input(dir)
    })
    .unwrap();
    assert_eq!(plan.mounts[0].rel.as_c_str(), c"a/c");
    let rec = Recorder::default();
    rec.missing.borrow_mut().insert("a/c".into());
    plan.mount_all(&rec).unwrap();
    let mk = rec.calls_starting("mkdirat");
    assert_eq!(mk.len(), 1, "{:?}", rec.calls.borrow());
    assert!(mk[0].contains(" c 755"));
    // Every open of a target is scoped to the root.
    for c in rec.calls_starting("openat2") {
        if !c.contains("/tmp") && !c.ends_with("ENOENT") {
            assert!(c.contains(&format!("{:#x}", IN_ROOT)), "{c}");
        }
    }
}

#[test]
fn bind_needs_an_existing_source_and_ro_means_remount() {
    let m = mounts(
        r#"[{"destination":"/x","type":"bind","source":"/nonexistent/src","options":["rbind"]}]"#,
    );
    let dir = Path::new("/tmp");
    let err = RootfsPlan::new(&RootfsInput {
        mounts: &m,
        ..input(dir)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("mounts[0].source"), "{err}");
    let m =
        mounts(r#"[{"destination":"/x","type":"bind","source":"/tmp","options":["rbind","ro"]}]"#);
    let plan = RootfsPlan::new(&RootfsInput {
        mounts: &m,
        ..input(dir)
    })
    .unwrap();
    let rec = Recorder::default();
    plan.mount_all(&rec).unwrap();
    let calls = rec.calls_starting("mount");
    assert!(
        calls[2].starts_with("mount /tmp /proc/self/fd/"),
        "{calls:?}"
    );
    assert!(calls[2].contains(" - 0x5000 "), "{calls:?}");
    assert!(calls[3].starts_with("mount - /proc/self/fd/"), "{calls:?}");
    assert!(
        calls[3].contains(" - 0x1021 "),
        "remount bind ro: {calls:?}"
    );
}

#[test]
fn v1_cgroup_mount_becomes_tmpfs_and_binds() {
    let m = mounts(
        r#"[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro","nosuid"]}]"#,
    );
    let dir = Path::new("/tmp");
    let plan = RootfsPlan::new(&RootfsInput {
        mounts: &m,
        ..input(dir)
    })
    .unwrap();
    assert_eq!(plan.mounts.len(), 3);
    assert!(matches!(plan.mounts[0].kind, MountKind::Fs { .. }));
    assert_eq!(plan.mounts[0].flags & libc::MS_RDONLY, 0);
    assert_eq!(plan.mounts[1].rel.as_c_str(), c"sys/fs/cgroup/memory");
    assert!(matches!(plan.mounts[2].kind, MountKind::Remount));
}

#[test]
fn devices_must_live_under_dev() {
    let d: Vec<LinuxDevice> =
        serde_json::from_str(r#"[{"path":"/etc/evil","type":"c","major":1,"minor":3}]"#).unwrap();
    let dir = Path::new("/tmp");
    let err = RootfsPlan::new(&RootfsInput {
        devices: &d,
        ..input(dir)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("linux.devices[0].path"), "{err}");
}

#[test]
fn masking_after_pivot() {
    let dir = Path::new("/tmp");
    let masked = ["/proc/kcore".to_string(), "/proc/acpi".to_string()];
    let readonly = ["/proc/sys".to_string()];
    let plan = RootfsPlan::new(&RootfsInput {
        readonly_root: true,
        masked_paths: &masked,
        readonly_paths: &readonly,
        ..input(dir)
    })
    .unwrap();
    let mut rec = Recorder::default();
    rec.files.insert("/proc/kcore".into());
    plan.finish(&rec).unwrap();
    let calls = rec.calls_starting("mount");
    assert!(
        calls[0].starts_with("mount /dev/null /proc/kcore - 0x1000"),
        "{calls:?}"
    );
    assert!(
        calls[1].starts_with("mount tmpfs /proc/acpi tmpfs 0x1"),
        "{calls:?}"
    );
    assert!(
        calls[2].starts_with("mount /proc/sys /proc/sys - 0x5000"),
        "{calls:?}"
    );
    assert!(
        calls[3].starts_with("mount - /proc/sys - 0x1027"),
        "{calls:?}"
    );
    assert!(calls[4].starts_with("mount - / - 0x1027"), "{calls:?}");
}
