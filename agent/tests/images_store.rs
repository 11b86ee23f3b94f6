//! The image store through its public API: imports of `docker save` and
//! OCI-layout tarballs (gzip and zstd layers), references, reference
//! counting, removal, GC, usage, and a container root filesystem on overlayfs
//! that really runs busybox.

mod images_support;

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use berth_agent::images::{Error, ImageStore};
use images_support::{RawTar, busybox_tar, docker_save, require_root, sha256_hex};

async fn import_file(store: &ImageStore, path: &Path) -> Vec<berth_api::images::Image> {
    let file = tokio::fs::File::open(path).await.unwrap();
    store.import(file).await.unwrap()
}

#[tokio::test]
async fn imports_docker_save_busybox_and_resolves_it() {
    if !require_root("imports_docker_save_busybox_and_resolves_it") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tar(tmp.path());
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let images = import_file(&store, &tar).await;
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert!(image.id.starts_with("sha256:") && image.id.len() == 71);
    assert_eq!(image.references, ["docker.io/library/busybox:latest"]);
    assert_eq!(image.layers.len(), 1);
    assert!(image.size_bytes > 1_000_000, "{}", image.size_bytes);
    assert_eq!(image.architecture.as_deref(), Some("amd64"));

    // Every way of naming it works.
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &image.id,
        &image.id[7..],
        &image.id[7..19],
    ] {
        let resolved = store.resolve(name).unwrap();
        assert_eq!(resolved.id, image.id, "{name}");
    }
    let resolved = store.resolve("busybox").unwrap();
    let cfg = resolved.config.config().clone().unwrap();
    assert_eq!(cfg.cmd().clone().unwrap(), ["sh"]);
    assert!(cfg.env().clone().unwrap()[0].starts_with("PATH="));
    assert_eq!(resolved.layers.len(), 1);
    assert!(resolved.layers[0].join("bin/busybox").is_file());
    assert!(resolved.layers[0].join("bin/sh").is_symlink());

    // The blobs are content-addressed and verified.
    let blobs = tmp.path().join("images/blobs/sha256");
    for entry in fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(sha256_hex(&fs::read(entry.path()).unwrap()), name);
    }
    assert!(blobs.join(&image.id[7..]).is_file());

    // Unknown names are 404, bad ones 400.
    assert_eq!(store.resolve("alpine").unwrap_err().status(), 404);
    assert_eq!(store.resolve("Not A Name").unwrap_err().status(), 400);
    assert_eq!(
        store
            .resolve(&format!("sha256:{}", "0".repeat(64)))
            .unwrap_err()
            .status(),
        404
    );

    // Importing again is idempotent; the store survives a reopen.
    let again = import_file(&store, &tar).await;
    assert_eq!(again[0].id, image.id);
    drop(store);
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    let usage = store.usage().unwrap();
    assert_eq!(usage.images, 1);
    assert_eq!(usage.snapshots_bytes, image.size_bytes);
    assert!(usage.blobs_bytes > image.size_bytes);
}

#[tokio::test]
async fn in_use_images_cannot_be_removed_and_gc_frees_space() {
    if !require_root("in_use_images_cannot_be_removed_and_gc_frees_space") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let base = {
        let mut t = RawTar::new();
        t.file("shared", b"base layer");
        t.finish()
    };
    let top_a = {
        let mut t = RawTar::new();
        t.file("a", b"a");
        t.finish()
    };
    let top_b = {
        let mut t = RawTar::new();
        t.file("b", b"b");
        t.finish()
    };
    let a = store
        .import(Cursor::new(docker_save(&[base.clone(), top_a], "app:a")))
        .await
        .unwrap()
        .remove(0);
    let b = store
        .import(Cursor::new(docker_save(&[base.clone(), top_b], "app:b")))
        .await
        .unwrap()
        .remove(0);
    // The shared layer is unpacked once.
    let snapshots = tmp.path().join("images/snapshots");
    assert_eq!(fs::read_dir(&snapshots).unwrap().count(), 3);

    store.add_user("app:a", "container-1").unwrap();
    let err = store.remove("app:a").unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err}");
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("container-1"));
    assert_eq!(store.get(&a.id).unwrap().used_by, ["container-1"]);

    // A second tag can be removed while the image is in use.
    let again = store
        .import(Cursor::new(docker_save(
            &[base.clone(), {
                let mut t = RawTar::new();
                t.file("a", b"a");
                t.finish()
            }],
            "app:also-a",
        )))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.id, a.id);
    assert_eq!(store.get(&a.id).unwrap().references.len(), 2);
    store.remove("app:also-a").unwrap();
    assert_eq!(
        store.get(&a.id).unwrap().references,
        ["docker.io/library/app:a"]
    );

    // B goes: its own layer goes with it, the shared one stays.
    store.remove(&b.id).unwrap();
    assert_eq!(store.remove(&b.id).unwrap_err().status(), 404);
    assert_eq!(fs::read_dir(&snapshots).unwrap().count(), 2);
    assert!(
        snapshots
            .join(sha256_hex(&base))
            .join("fs/shared")
            .is_file()
    );

    store.remove_user(&a.id, "container-1").unwrap();
    store.remove_user(&a.id, "container-1").unwrap();
    store.remove("app:a").unwrap();
    assert!(store.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(&snapshots).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(tmp.path().join("images/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    let usage = store.usage().unwrap();
    assert_eq!(
        (usage.images, usage.blobs_bytes, usage.snapshots_bytes),
        (0, 0, 0)
    );

    // Stray content (as a crash between commit and record would leave) is
    // collected.
    fs::write(
        tmp.path().join("images/blobs/sha256").join("ab".repeat(32)),
        b"stray",
    )
    .unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(report.bytes_freed, 5);
}

#[tokio::test]
async fn bad_archives_are_400_with_a_reason() {
    if !require_root("bad_archives_are_400_with_a_reason") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let layer = {
        let mut t = RawTar::new();
        t.file("f", b"x");
        t.finish()
    };
    let mut wrong_diff = docker_save(std::slice::from_ref(&layer), "bad:diff");
    // Corrupt the layer's content inside the archive without fixing the
    // config's diff id: find the layer's file data and flip a byte.
    let pos = wrong_diff
        .windows(layer.len().min(600))
        .position(|w| w == &layer[..layer.len().min(600)])
        .unwrap();
    wrong_diff[pos + 512] = b'y';

    let mut no_manifest = RawTar::new();
    no_manifest.file("hello.txt", b"hi");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty body", Vec::new(), "neither manifest.json"),
        (
            "not a tar",
            b"GIF89a this is not a tar archive at all".repeat(20),
            "",
        ),
        ("no manifest", no_manifest.finish(), "neither manifest.json"),
        (
            "truncated archive",
            docker_save(std::slice::from_ref(&layer), "x:y")[..1500].to_vec(),
            "",
        ),
        ("bad diff id", wrong_diff, "digest mismatch"),
        (
            "bad repo tag",
            docker_save(std::slice::from_ref(&layer), "Bad Tag!"),
            "RepoTag",
        ),
    ];
    for (what, body, needle) in cases {
        let err = store.import(Cursor::new(body)).await.unwrap_err();
        let status = err.status();
        assert!(status == 400 || status == 422, "{what}: {status} {err}");
        assert!(err.to_string().contains(needle), "{what}: {err}");
    }
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(tmp.path().join("images/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

fn skopeo_available() -> bool {
    let ok = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        berth_testkit::skip("skopeo is not installed: the OCI-layout conversions do not run");
    }
    ok
}

#[tokio::test]
async fn imports_oci_layout_tarballs_with_gzip_and_zstd_layers() {
    if !require_root("imports_oci_layout_tarballs_with_gzip_and_zstd_layers") || !skopeo_available()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let docker = busybox_tar(tmp.path());
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let mut diff_ids = Vec::new();
    for (format, tag, media) in [
        (
            "gzip",
            "oci:gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            "zstd",
            "oci:zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ] {
        let out = tmp.path().join(format!("{format}.tar"));
        let status = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-compress-format", format])
            .arg(format!("docker-archive:{}", docker.display()))
            .arg(format!("oci-archive:{}:{tag}", out.display()))
            .status()
            .unwrap();
        assert!(status.success());
        let images = import_file(&store, &out).await;
        assert_eq!(images.len(), 1, "{format}");
        assert_eq!(
            images[0].references,
            [format!("docker.io/library/{tag}")],
            "{format}"
        );
        let resolved = store.resolve(tag).unwrap();
        assert!(resolved.layers[0].join("bin/busybox").is_file());
        diff_ids.push(resolved.diff_ids.clone());
        // The layer blob is stored compressed, as distributed.
        let state = fs::read_to_string(tmp.path().join("images/state.json")).unwrap();
        assert!(state.contains(media), "{format}");
        store.remove(tag).unwrap();
        assert_eq!(
            fs::read_dir(tmp.path().join("images/snapshots"))
                .unwrap()
                .count(),
            0
        );
    }
    // The same diff id whatever the compression.
    assert_eq!(diff_ids[0], diff_ids[1]);
}

#[tokio::test]
async fn a_container_rootfs_runs_busybox_on_overlayfs() {
    if !require_root("a_container_rootfs_runs_busybox_on_overlayfs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    import_file(&store, &busybox_tar(tmp.path())).await;
    // A second image on top of busybox that deletes /etc/group, makes /home
    // opaque and ships a device node.
    let base = store.resolve("busybox").unwrap();
    let base_layer = fs::read(
        tmp.path()
            .join("images/blobs/sha256")
            .join(&base.diff_ids[0][7..]),
    )
    .unwrap();
    let mut top = RawTar::new();
    top.file("etc/.wh.group", b"")
        .dir("home", 0o755)
        .file("home/.wh..wh..opq", b"")
        .file("home/new", b"new")
        .device("dev-mem", b'3', 1, 1)
        .file_mode(
            "usr/local/bin/hello",
            b"#!/bin/sh\necho hello from layer 2\n",
            0o755,
        );
    store
        .import(Cursor::new(docker_save(
            &[base_layer, top.finish()],
            "busybox:plus",
        )))
        .await
        .unwrap();

    let container = tmp.path().join("containers/c1");
    struct Unmount<'a>(&'a ImageStore, &'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = self.0.unmount_rootfs(self.1);
        }
    }
    let rootfs = store.mount_rootfs("busybox:plus", &container).unwrap();
    let _guard = Unmount(&store, &container);
    // Mounting twice is harmless.
    assert_eq!(
        store.mount_rootfs("busybox:plus", &container).unwrap(),
        rootfs
    );

    let run = |args: &[&str]| {
        let out = Command::new("chroot")
            .arg(&rootfs)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = run(&["/bin/sh", "-c", "echo hi; /usr/local/bin/hello"]);
    assert!(ok);
    assert_eq!(out, "hi\nhello from layer 2\n");
    assert!(
        !rootfs.join("etc/group").exists(),
        "whiteout hides /etc/group"
    );
    assert!(rootfs.join("etc/passwd").exists());
    assert_eq!(fs::read(rootfs.join("home/new")).unwrap(), b"new");
    // nodev: the image's device node cannot be opened.
    let err = fs::File::open(rootfs.join("dev-mem")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    // Writes go to the container's upper dir, never to the snapshots.
    fs::write(rootfs.join("bin/busybox"), b"clobbered").unwrap();
    assert_eq!(
        fs::read(container.join("upper/bin/busybox")).unwrap(),
        b"clobbered"
    );
    assert!(
        fs::metadata(base.layers[0].join("bin/busybox"))
            .unwrap()
            .len()
            > 1_000_000
    );

    store.unmount_rootfs(&container).unwrap();
    assert!(!rootfs.join("bin").exists());
    store.unmount_rootfs(&container).unwrap();
}

#[tokio::test]
async fn many_layers_with_long_paths_still_mount() {
    if !require_root("many_layers_with_long_paths_still_mount") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // ~300-byte snapshot paths × 70 layers: far past the kernel's one page
    // of mount options.
    let deep = tmp.path().join("d".repeat(200));
    let store = ImageStore::open(deep.join("images")).unwrap();
    let layers: Vec<Vec<u8>> = (0..70)
        .map(|i| {
            let mut t = RawTar::new();
            t.file(&format!("layer{i}"), format!("{i}").as_bytes())
                .file("top", format!("{i}").as_bytes());
            t.finish()
        })
        .collect();
    store
        .import(Cursor::new(docker_save(&layers, "tall:1")))
        .await
        .unwrap();
    let container = tmp.path().join("c");
    let rootfs = store.mount_rootfs("tall:1", &container).unwrap();
    let seen = (
        fs::read_to_string(rootfs.join("layer0")),
        fs::read_to_string(rootfs.join("layer69")),
        fs::read_to_string(rootfs.join("top")),
    );
    store.unmount_rootfs(&container).unwrap();
    assert_eq!(seen.0.unwrap(), "0");
    assert_eq!(seen.1.unwrap(), "69");
    assert_eq!(seen.2.unwrap(), "69", "the top layer wins");
}

#[test]
fn open_clears_only_dead_processes_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("images");
    drop(ImageStore::open(&root).unwrap());
    // pid 2^22+1 is above the kernel's pid_max: never alive.
    let dead = root.join("tmp/download-4194305-0");
    let live = root.join(format!("tmp/download-{}-7", std::process::id()));
    let odd = root.join("tmp/stray");
    for p in [&dead, &live, &odd] {
        fs::write(p, b"partial").unwrap();
    }
    fs::create_dir(root.join("tmp/snapshot-4194305-1")).unwrap();
    let _store = ImageStore::open(&root).unwrap();
    assert!(!dead.exists());
    assert!(!odd.exists());
    assert!(!root.join("tmp/snapshot-4194305-1").exists());
    assert!(live.exists(), "a live process's work is left alone");
}
