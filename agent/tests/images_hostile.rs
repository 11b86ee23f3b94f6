//! Hostile layers: each test unpacks a hand-made tarball and checks that
//! nothing outside the snapshot changed (a fingerprint of the whole test
//! directory outside the store, taken before and after), and what the
//! snapshot holds instead.

mod images_support;

use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_agent::images::unpack::{self, UnpackError, UnpackLimits};
use berth_agent::images::{Error, ImageStore};
use images_support::{Header, RawTar, docker_save, fingerprint, require_root, sha256_hex};

/// A test directory with things to attack: `outside/secret` (a file),
/// `outside/dir/` and the snapshot `store/snap`.
struct Scene {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    store: PathBuf,
    snap: PathBuf,
}

impl Scene {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let outside = root.join("outside");
        fs::create_dir_all(outside.join("dir")).unwrap();
        fs::write(outside.join("secret"), b"do not touch").unwrap();
        let store = root.join("store");
        let snap = store.join("snap");
        fs::create_dir_all(&snap).unwrap();
        Self {
            _tmp: tmp,
            root,
            outside,
            store,
            snap,
        }
    }

    /// Unpacks `tar` into the snapshot and checks that nothing outside
    /// the store changed.
    fn unpack(&self, tar: &[u8]) -> Result<unpack::UnpackStats, UnpackError> {
        self.unpack_with(tar, &UnpackLimits::default())
    }

    fn unpack_with(
        &self,
        tar: &[u8],
        limits: &UnpackLimits,
    ) -> Result<unpack::UnpackStats, UnpackError> {
        let before = fingerprint(&self.root, &self.store);
        let result = unpack::unpack(Cursor::new(tar), &self.snap, limits);
        let after = fingerprint(&self.root, &self.store);
        assert_eq!(before, after, "something outside the store changed");
        assert_eq!(
            fs::read(self.outside.join("secret")).unwrap(),
            b"do not touch"
        );
        result
    }

    fn abs_outside(&self) -> String {
        self.outside.display().to_string()
    }
}

#[test]
fn dotdot_names_stay_inside() {
    if !require_root("dotdot_names_stay_inside") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    t.file("../../../../../outside/secret", b"pwned")
        .file("a/../../../escape", b"x")
        .file("./b/./c/../d", b"y");
    s.unpack(&t.finish()).unwrap();
    assert_eq!(fs::read(s.snap.join("outside/secret")).unwrap(), b"pwned");
    assert_eq!(fs::read(s.snap.join("escape")).unwrap(), b"x");
    assert_eq!(fs::read(s.snap.join("b/d")).unwrap(), b"y");
}

#[test]
fn long_gnu_and_pax_names_are_cleaned_too() {
    if !require_root("long_gnu_and_pax_names_are_cleaned_too") {
        return;
    }
    let s = Scene::new();
    let long = format!("{}{}/long", "../".repeat(40), s.abs_outside());
    let mut t = RawTar::new();
    // GNU long name: an `L` entry carrying the name of the next one.
    let mut data = long.clone().into_bytes();
    data.push(0);
    let mut h = Header::new("././@LongLink", b'L');
    h.size = data.len() as u64;
    t.raw(h, &data);
    t.file("placeholder", b"gnu");
    // PAX: an `x` entry whose `path` record overrides the next name.
    let record = |key: &str, value: &str| {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}")
    };
    let pax = record("path", &format!("../../..{}/pax", s.abs_outside()));
    let mut h = Header::new("PaxHeaders/x", b'x');
    h.size = pax.len() as u64;
    t.raw(h, pax.as_bytes());
    t.file("placeholder2", b"pax");
    s.unpack(&t.finish()).unwrap();
    let inside = s.snap.join(s.abs_outside().trim_start_matches('/'));
    assert_eq!(fs::read(inside.join("long")).unwrap(), b"gnu");
    assert_eq!(fs::read(inside.join("pax")).unwrap(), b"pax");
    assert!(!s.outside.join("long").exists() && !s.outside.join("pax").exists());
}

#[test]
fn absolute_names_stay_inside() {
    if !require_root("absolute_names_stay_inside") {
        return;
    }
    let s = Scene::new();
    let name = format!("{}/abs", s.abs_outside());
    let mut t = RawTar::new();
    t.file(&name, b"abs");
    s.unpack(&t.finish()).unwrap();
    assert!(!s.outside.join("abs").exists());
    let inside = s.snap.join(name.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"abs");
}

#[test]
fn writes_through_an_absolute_symlink_stay_inside() {
    if !require_root("writes_through_an_absolute_symlink_stay_inside") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    // `root` points at `/`, which inside the snapshot is the snapshot.
    t.symlink("root", "/")
        .file("root/etc/evil", b"1")
        .symlink("out", &s.abs_outside())
        .dir(
            &format!("{}/", s.abs_outside().trim_start_matches('/')),
            0o755,
        )
        .file("out/secret", b"2");
    s.unpack(&t.finish()).unwrap();
    assert_eq!(fs::read(s.snap.join("etc/evil")).unwrap(), b"1");
    let inside = s.snap.join(s.abs_outside().trim_start_matches('/'));
    assert_eq!(fs::read(inside.join("secret")).unwrap(), b"2");
    assert!(
        fs::symlink_metadata(s.snap.join("out"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn writes_through_a_relative_symlink_stay_inside() {
    if !require_root("writes_through_a_relative_symlink_stay_inside") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    t.dir("a", 0o755)
        .symlink("a/up", "../../../../../../../")
        .file("a/up/top", b"clamped");
    s.unpack(&t.finish()).unwrap();
    // `..` stops at the snapshot root.
    assert_eq!(fs::read(s.snap.join("top")).unwrap(), b"clamped");
}

#[test]
fn a_symlink_through_a_dangling_target_fails_without_escaping() {
    if !require_root("a_symlink_through_a_dangling_target_fails_without_escaping") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    t.symlink("d", &format!("{}/dir/new", s.abs_outside()))
        .file("d/file", b"x");
    let err = s.unpack(&t.finish()).unwrap_err();
    assert!(matches!(err, UnpackError::Entry { .. }), "{err}");
    assert!(!s.outside.join("dir/new").exists());
}

#[test]
fn overwriting_a_symlink_replaces_the_link_not_its_target() {
    if !require_root("overwriting_a_symlink_replaces_the_link_not_its_target") {
        return;
    }
    let s = Scene::new();
    let secret = format!("{}/secret", s.abs_outside());
    let mut t = RawTar::new();
    t.symlink("evil", &secret)
        .file("evil", b"overwritten")
        .symlink("evil2", "../../outside/secret")
        .dir("evil2", 0o755);
    s.unpack(&t.finish()).unwrap();
    let evil = s.snap.join("evil");
    assert!(fs::symlink_metadata(&evil).unwrap().is_file());
    assert_eq!(fs::read(evil).unwrap(), b"overwritten");
    assert!(s.snap.join("evil2").is_dir());
}

#[test]
fn hardlinks_cannot_reach_outside() {
    if !require_root("hardlinks_cannot_reach_outside") {
        return;
    }
    let s = Scene::new();
    for target in [
        format!("{}/secret", s.abs_outside()),
        "../../outside/secret".to_string(),
        "../../../../../../etc/passwd".to_string(),
    ] {
        let mut t = RawTar::new();
        t.hardlink("hl", &target);
        let err = s.unpack(&t.finish()).unwrap_err();
        assert!(matches!(err, UnpackError::Entry { .. }), "{target}: {err}");
        assert_eq!(fs::metadata(s.outside.join("secret")).unwrap().nlink(), 1);
        assert!(!s.snap.join("hl").exists());
    }
    // Through a symlink that points outside: resolved in the root, so it
    // finds the layer's own file.
    let mut t = RawTar::new();
    t.symlink("o", &s.abs_outside())
        .file(
            &format!("{}/secret", s.abs_outside().trim_start_matches('/')),
            b"inner",
        )
        .hardlink("hl", "o/secret")
        .file("hl", b"rewritten");
    s.unpack(&t.finish()).unwrap();
    assert_eq!(fs::read(s.snap.join("hl")).unwrap(), b"rewritten");
    let inner = s
        .snap
        .join(s.abs_outside().trim_start_matches('/'))
        .join("secret");
    assert_eq!(fs::read(inner).unwrap(), b"inner");
}

#[test]
fn hardlinks_inside_the_layer_work() {
    if !require_root("hardlinks_inside_the_layer_work") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    t.file_mode("bin/busybox", b"#!bb", 0o755)
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("/bin/ls", "/bin/../bin/busybox");
    s.unpack(&t.finish()).unwrap();
    let a = fs::metadata(s.snap.join("bin/busybox")).unwrap();
    let b = fs::metadata(s.snap.join("bin/sh")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 3);
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !require_root("whiteouts_become_overlay_whiteouts") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    t.dir("etc", 0o755)
        .file("etc/.wh.motd", b"")
        .dir("var/cache", 0o755)
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/kept", b"k")
        // A whiteout aimed outside is cleaned like any name.
        .file("../../outside/.wh.secret", b"")
        .file(".wh..wh.plnk", b"");
    s.unpack(&t.finish()).unwrap();
    let wh = fs::symlink_metadata(s.snap.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!s.snap.join("etc/.wh.motd").exists());
    let opaque = xattr(&s.snap.join("var/cache"), "trusted.overlay.opaque");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert_eq!(fs::read(s.snap.join("var/cache/kept")).unwrap(), b"k");
    assert!(
        fs::symlink_metadata(s.snap.join("outside/secret"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(!s.snap.join(".wh..wh.plnk").exists());
}

#[test]
fn device_nodes_are_made_as_the_image_says() {
    if !require_root("device_nodes_are_made_as_the_image_says") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    t.device("dev/mem", b'3', 1, 1)
        .device("dev/sda", b'4', 8, 0)
        .device("run/fifo", b'6', 0, 0);
    s.unpack(&t.finish()).unwrap();
    let mem = fs::symlink_metadata(s.snap.join("dev/mem")).unwrap();
    assert!(mem.file_type().is_char_device());
    assert_eq!(mem.rdev(), nix::sys::stat::makedev(1, 1));
    let sda = fs::symlink_metadata(s.snap.join("dev/sda")).unwrap();
    assert!(sda.file_type().is_block_device());
    assert!(
        fs::symlink_metadata(s.snap.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[test]
fn setuid_and_owners_are_kept() {
    if !require_root("setuid_and_owners_are_kept") {
        return;
    }
    let s = Scene::new();
    let mut t = RawTar::new();
    let mut h = Header::new("usr/bin/su", b'0');
    h.mode = 0o4755;
    h.uid = 0;
    h.size = 2;
    t.raw(h, b"su");
    let mut h = Header::new("usr/bin/wall", b'0');
    h.mode = 0o2755;
    h.gid = 5;
    h.uid = 1000;
    h.size = 1;
    t.raw(h, b"w");
    t.dir("tmp", 0o1777);
    s.unpack(&t.finish()).unwrap();
    let su = fs::metadata(s.snap.join("usr/bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    let wall = fs::metadata(s.snap.join("usr/bin/wall")).unwrap();
    assert_eq!(wall.permissions().mode() & 0o7777, 0o2755);
    assert_eq!((wall.uid(), wall.gid()), (1000, 5));
    let tmp = fs::metadata(s.snap.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
}

#[test]
fn truncated_entries_fail() {
    if !require_root("truncated_entries_fail") {
        return;
    }
    let s = Scene::new();
    let mut h = Header::new("big", b'0');
    h.size = 100_000;
    let mut bytes = h.encode().to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 1000));
    let err = s.unpack(&bytes).unwrap_err();
    assert!(matches!(err, UnpackError::Archive(_)), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn huge_entries_fail() {
    if !require_root("huge_entries_fail") {
        return;
    }
    let s = Scene::new();
    // A header claiming the largest ustar size (8 GiB - 1), with no data.
    let mut h = Header::new("huge", b'0');
    h.size = 0o77777777777;
    let mut bytes = h.encode().to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 4096));
    let err = s.unpack(&bytes).unwrap_err();
    assert!(matches!(err, UnpackError::Archive(_)), "{err}");
    // Over the limit: refused before a byte is written.
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 100,
    };
    let err = s.unpack_with(&bytes, &limits).unwrap_err();
    assert!(matches!(err, UnpackError::TooLarge(..)), "{err}");
    // Many small files over the limit, and too many entries.
    let mut t = RawTar::new();
    for i in 0..5 {
        t.file(&format!("f{i}"), &vec![1u8; 300 << 10]);
    }
    let err = s.unpack_with(&t.finish(), &limits).unwrap_err();
    assert!(matches!(err, UnpackError::TooLarge(..)), "{err}");
    let mut t = RawTar::new();
    for i in 0..101 {
        t.file(&format!("e{i}"), b"");
    }
    let err = s.unpack_with(&t.finish(), &limits).unwrap_err();
    assert!(matches!(err, UnpackError::TooLarge(..)), "{err}");
}

#[tokio::test]
async fn a_hostile_layer_through_the_store_leaves_no_snapshot() {
    if !require_root("a_hostile_layer_through_the_store_leaves_no_snapshot") {
        return;
    }
    let s = Scene::new();
    let store = ImageStore::open(s.store.join("images")).unwrap();
    let before = fingerprint(&s.root, &s.store);

    // Truncated layer: 400, nothing committed.
    let mut h = Header::new("bin/x", b'0');
    h.size = 5000;
    let mut layer = h.encode().to_vec();
    layer.extend_from_slice(&[1u8; 100]);
    let tar = docker_save(&[layer], "hostile:truncated");
    let err = store.import(Cursor::new(tar)).await.unwrap_err();
    assert!(matches!(err, Error::BadLayer { .. }), "{err}");
    assert_eq!(err.status(), 400);
    assert!(store.list().unwrap().is_empty());
    assert_eq!(dir_len(&s.store.join("images/snapshots")), 0);
    assert_eq!(dir_len(&s.store.join("images/tmp")), 0);
    assert_eq!(dir_len(&s.store.join("images/blobs/sha256")), 0);

    // Escapes: the import works and everything lands inside the snapshot.
    let mut t = RawTar::new();
    t.symlink("x", &s.abs_outside())
        .file("../../../outside/secret", b"no")
        .file(&format!("{}/abs", s.abs_outside()), b"no");
    let layer = t.finish();
    let diff = sha256_hex(&layer);
    let images = store
        .import(Cursor::new(docker_save(&[layer], "hostile:escape")))
        .await
        .unwrap();
    assert_eq!(images.len(), 1);
    let snap = s.store.join("images/snapshots").join(&diff).join("fs");
    assert_eq!(fs::read(snap.join("outside/secret")).unwrap(), b"no");
    assert_eq!(fingerprint(&s.root, &s.store), before);
    assert_eq!(fs::read(s.outside.join("secret")).unwrap(), b"do not touch");
}

fn dir_len(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and `buf` is writable for its
    // length, which is what is passed.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    // A negative count is an error (ENODATA: no such attribute).
    usize::try_from(n).ok().map(|n| buf[..n].to_vec())
}
