//! The store proper: its directories, its persisted index of images, blob and
//! snapshot commits, leases that protect in-flight content from GC, and the
//! queries the rest of the agent makes.
//!
//! ```text
//! <root>/blobs/sha256/<hex>      content-addressed blobs (manifests, configs, layers)
//! <root>/snapshots/<hex>/fs      one unpacked layer, named by its diff id
//! <root>/snapshots/<hex>/size    bytes of file content in it
//! <root>/tmp/                    partial downloads, staging, unpacks in progress
//! <root>/state.json              images, their references and users
//! ```
//! Every commit is write-to-temp, fsync, then link/rename into place, so a
//! crash never leaves a half-written blob or snapshot under its final name;
//! `tmp/` is emptied at open.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_api::images::{Image, StoreUsage};
use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use super::digest::{is_hex64, parse_sha256, sha256_of};
use super::error::{Error, Result};
use super::reference;
use super::unpack::{self, Compression, UnpackLimits};

/// Tunables of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Limits on one layer's unpacked content.
    pub unpack: UnpackLimits,
    /// Largest single blob accepted (import entry or download).
    pub max_blob_bytes: u64,
    /// Layers downloaded at once by a pull.
    pub pull_concurrency: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            unpack: UnpackLimits::default(),
            max_blob_bytes: 32 << 30,
            pull_concurrency: 4,
        }
    }
}

/// One layer of an image as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the blob as distributed (compressed or not).
    pub digest: String,
    pub media_type: String,
    /// Size of the blob.
    pub size: u64,
    /// Digest of the uncompressed tar: names the snapshot.
    pub diff_id: String,
}

/// One image as stored in `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<config digest>`.
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub layers: Vec<LayerRecord>,
    pub references: BTreeSet<String>,
    pub created_at: DateTime<Utc>,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub used_by: BTreeSet<String>,
    /// Unpacked size of its layers.
    pub size_bytes: u64,
}

impl ImageRecord {
    fn to_api(&self) -> Image {
        Image {
            id: self.id.clone(),
            references: self.references.iter().cloned().collect(),
            size_bytes: self.size_bytes,
            created_at: self.created_at,
            layers: self.layers.iter().map(|l| l.diff_id.clone()).collect(),
            used_by: self.used_by.iter().cloned().collect(),
            architecture: self.architecture.clone(),
            os: self.os.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    images: BTreeMap<String, ImageRecord>,
}

/// An image ready to run: what the container service needs.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `sha256:<config digest>`.
    pub id: String,
    pub references: Vec<String>,
    /// The image config: `config()` holds Entrypoint, Cmd, Env, WorkingDir,
    /// User.
    pub config: ImageConfiguration,
    /// Snapshot directories, bottom layer first.
    pub layers: Vec<PathBuf>,
    /// Diff ids, bottom layer first.
    pub diff_ids: Vec<String>,
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_removed: u64,
    pub snapshots_removed: u64,
    pub bytes_freed: u64,
}

/// The image store of one agent. Cheap to clone: clones share the store.
/// One process should open a given root at a time: the index is kept in
/// memory and written through.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) options: StoreOptions,
    state: Mutex<State>,
    /// Blob hexes and snapshot hexes that in-flight pulls and imports hold.
    leases: Mutex<HashMap<String, usize>>,
    counter: AtomicU64,
}

/// Protects content from GC until dropped (after the image record that
/// references it is saved, or after a failure).
pub(crate) struct Lease {
    store: ImageStore,
    names: Vec<String>,
}

impl Lease {
    /// Adds a blob or snapshot hex to the lease.
    pub(crate) fn hold(&mut self, hex: &str) {
        let mut leases = self.store.leases();
        *leases.entry(hex.to_string()).or_default() += 1;
        self.names.push(hex.to_string());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut leases = self.store.leases();
        for name in &self.names {
            if let Some(n) = leases.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    leases.remove(name);
                }
            }
        }
    }
}

/// A directory under `tmp/` removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A layer unpacked and verified in `tmp/`, not yet under its final name.
pub(crate) struct PreparedSnapshot {
    hex: String,
    tmp: TempDir,
    size: u64,
}

/// What an import or pull has gathered for one image, its blobs committed.
pub(crate) struct NewImage {
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub config_digest: String,
    pub config: ImageConfiguration,
    pub layers: Vec<LayerRecord>,
    pub references: Vec<String>,
}

impl ImageStore {
    /// Opens (creating if needed) a store rooted at `root`, normally
    /// `<agent data dir>/images`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with(root, StoreOptions::default())
    }

    /// Opens a store with non-default limits.
    pub fn open_with(root: impl Into<PathBuf>, options: StoreOptions) -> Result<Self> {
        let root: PathBuf = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("failed to read the current directory", e))?
                .join(root)
        };
        // 0700: snapshots hold setuid binaries and device nodes as the images
        // ship them; no one but root may reach them from the host.
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for dir in [
            root.clone(),
            root.join("blobs/sha256"),
            root.join("snapshots"),
            root.join("tmp"),
        ] {
            builder
                .create(&dir)
                .map_err(|e| Error::io_path("create", &dir, e))?;
        }
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io_path("chmod", &root, e))?;
        // Leftovers of a crash: nothing in tmp/ is referenced. Entries are
        // named `<what>-<pid>-<n>`; those of a live process (another store
        // on the same root, which should not be, or this one) are left.
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io_path("read", &tmp, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &tmp, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
            if owner.is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists()) {
                continue;
            }
            let res = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            res.map_err(|e| Error::io_path("remove", &path, e))?;
        }
        let state_path = root.join("state.json");
        let state = match fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::io_path(
                    "parse",
                    &state_path,
                    io::Error::new(io::ErrorKind::InvalidData, e),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(Error::io_path("read", &state_path, e)),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                options,
                state: Mutex::new(state),
                leases: Mutex::new(HashMap::new()),
                counter: AtomicU64::new(0),
            }),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The store's options.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let state = self.state();
        let mut images: Vec<Image> = state.images.values().map(ImageRecord::to_api).collect();
        images.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(images)
    }

    /// One image as the API shows it.
    pub fn get(&self, reference_or_id: &str) -> Result<Image> {
        let state = self.state();
        let id = find(&state, reference_or_id)?;
        Ok(state.images[&id].to_api())
    }

    /// Finds an image by id (`sha256:<hex>`, `<hex>`, or a unique prefix of
    /// at least 12 hex digits) or by reference (normalised, `busybox` works),
    /// and returns what a container needs to run it.
    pub fn resolve(&self, reference_or_id: &str) -> Result<ResolvedImage> {
        let record = {
            let state = self.state();
            let id = find(&state, reference_or_id)?;
            state.images[&id].clone()
        };
        let config_hex = parse_sha256(&record.id)?;
        let config_path = self.blob_path(config_hex);
        let config = ImageConfiguration::from_file(&config_path).map_err(|e| {
            Error::io_path(
                "read image config",
                &config_path,
                io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            )
        })?;
        let mut layers = Vec::with_capacity(record.layers.len());
        for layer in &record.layers {
            let dir = self.snapshot_fs(parse_sha256(&layer.diff_id)?);
            if !dir.is_dir() {
                return Err(Error::io_path(
                    "find snapshot",
                    &dir,
                    io::Error::from(io::ErrorKind::NotFound),
                ));
            }
            layers.push(dir);
        }
        Ok(ResolvedImage {
            id: record.id.clone(),
            references: record.references.iter().cloned().collect(),
            config,
            diff_ids: record.layers.iter().map(|l| l.diff_id.clone()).collect(),
            layers,
        })
    }

    /// Records that container `container_id` uses the image (persisted; a
    /// used image cannot be removed).
    pub fn add_user(&self, image: &str, container_id: &str) -> Result<()> {
        let mut state = self.state();
        let id = find(&state, image)?;
        if let Some(record) = state.images.get_mut(&id)
            && record.used_by.insert(container_id.to_string())
        {
            self.save(&state)?;
        }
        Ok(())
    }

    /// Forgets that `container_id` uses the image. Unknown images and
    /// containers are fine (idempotent).
    pub fn remove_user(&self, image: &str, container_id: &str) -> Result<()> {
        let mut state = self.state();
        let Ok(id) = find(&state, image) else {
            return Ok(());
        };
        if let Some(record) = state.images.get_mut(&id)
            && record.used_by.remove(container_id)
        {
            self.save(&state)?;
        }
        Ok(())
    }

    /// Removes a reference, or a whole image. By reference, when the image
    /// has other references, only that reference goes (like `docker rmi` of
    /// a tag). The image itself goes when its last reference or its id is
    /// removed, unless containers use it ([`Error::InUse`]). Blobs and
    /// snapshots nothing else uses are then collected.
    pub fn remove(&self, reference_or_id: &str) -> Result<()> {
        let mut state = self.state();
        let id = find(&state, reference_or_id)?;
        let by_reference = reference::normalise(reference_or_id)
            .ok()
            .filter(|r| state.images[&id].references.contains(r));
        let record = state.images.get_mut(&id).expect("found above");
        if let Some(r) = &by_reference
            && record.references.len() > 1
        {
            record.references.remove(r);
            self.save(&state)?;
            return Ok(());
        }
        if !record.used_by.is_empty() {
            return Err(Error::InUse {
                image: id.clone(),
                containers: record.used_by.iter().cloned().collect(),
            });
        }
        state.images.remove(&id);
        self.save(&state)?;
        self.gc_locked(&state)?;
        Ok(())
    }

    /// Removes every blob and snapshot that no image references and no pull
    /// or import in progress holds.
    pub fn gc(&self) -> Result<GcReport> {
        let state = self.state();
        self.gc_locked(&state)
    }

    fn gc_locked(&self, state: &State) -> Result<GcReport> {
        let leases = self.leases();
        let mut blobs = BTreeSet::new();
        let mut snapshots = BTreeSet::new();
        for image in state.images.values() {
            for digest in [&image.manifest_digest, &image.id] {
                blobs.insert(digest.trim_start_matches("sha256:").to_string());
            }
            for layer in &image.layers {
                blobs.insert(layer.digest.trim_start_matches("sha256:").to_string());
                snapshots.insert(layer.diff_id.trim_start_matches("sha256:").to_string());
            }
        }
        let mut report = GcReport::default();
        let blob_dir = self.inner.root.join("blobs/sha256");
        for entry in fs::read_dir(&blob_dir).map_err(|e| Error::io_path("read", &blob_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &blob_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if blobs.contains(&name) || leases.contains_key(&name) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(entry.path())
                .map_err(|e| Error::io_path("remove", &entry.path(), e))?;
            report.blobs_removed += 1;
            report.bytes_freed += size;
        }
        let snap_dir = self.inner.root.join("snapshots");
        for entry in fs::read_dir(&snap_dir).map_err(|e| Error::io_path("read", &snap_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &snap_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if snapshots.contains(&name) || leases.contains_key(&name) {
                continue;
            }
            let size = read_size(&entry.path());
            fs::remove_dir_all(entry.path())
                .map_err(|e| Error::io_path("remove", &entry.path(), e))?;
            report.snapshots_removed += 1;
            report.bytes_freed += size;
        }
        if report.blobs_removed + report.snapshots_removed > 0 {
            tracing::info!(
                blobs = report.blobs_removed,
                snapshots = report.snapshots_removed,
                bytes = report.bytes_freed,
                "image store garbage collected"
            );
        }
        Ok(report)
    }

    /// Disk use of the whole store.
    pub fn usage(&self) -> Result<StoreUsage> {
        let images = self.state().images.len() as u64;
        let mut usage = StoreUsage {
            blobs_bytes: 0,
            snapshots_bytes: 0,
            images,
        };
        let blob_dir = self.inner.root.join("blobs/sha256");
        for entry in fs::read_dir(&blob_dir).map_err(|e| Error::io_path("read", &blob_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &blob_dir, e))?;
            usage.blobs_bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
        let snap_dir = self.inner.root.join("snapshots");
        for entry in fs::read_dir(&snap_dir).map_err(|e| Error::io_path("read", &snap_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &snap_dir, e))?;
            usage.snapshots_bytes += read_size(&entry.path());
        }
        Ok(usage)
    }

    // ----- internals shared by import and pull -----

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn leases(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.inner.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lease(&self) -> Lease {
        Lease {
            store: self.clone(),
            names: Vec::new(),
        }
    }

    fn save(&self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| Error::io("failed to encode the image index", io::Error::other(e)))?;
        let path = self.inner.root.join("state.json");
        let tmp = self.temp_path("state");
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &path).map_err(|e| Error::io_path("replace", &path, e))?;
        sync_dir(&self.inner.root)
    }

    /// A fresh unique path under `tmp/`.
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        self.inner
            .root
            .join("tmp")
            .join(format!("{what}-{}-{n}", std::process::id()))
    }

    /// A fresh directory under `tmp/`, removed on drop.
    pub(crate) fn temp_dir(&self, what: &str) -> Result<TempDir> {
        let path = self.temp_path(what);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::io_path("create", &path, e))?;
        Ok(TempDir(path))
    }

    pub(crate) fn blob_path(&self, hex: &str) -> PathBuf {
        self.inner.root.join("blobs/sha256").join(hex)
    }

    pub(crate) fn snapshot_dir(&self, hex: &str) -> PathBuf {
        self.inner.root.join("snapshots").join(hex)
    }

    pub(crate) fn snapshot_fs(&self, hex: &str) -> PathBuf {
        self.snapshot_dir(hex).join("fs")
    }

    /// True when the blob is committed with the expected size.
    pub(crate) fn has_blob(&self, hex: &str, size: Option<u64>) -> bool {
        match fs::metadata(self.blob_path(hex)) {
            Ok(m) => size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    /// Commits a fully written and verified file as blob `hex`: fsync, then
    /// hard-link into place (an existing blob with that digest wins, it has
    /// the same content). The file itself stays where it is.
    pub(crate) fn commit_blob_file(&self, file: &Path, hex: &str) -> Result<PathBuf> {
        debug_assert!(is_hex64(hex));
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io_path("sync", file, e))?;
        let dest = self.blob_path(hex);
        match fs::hard_link(file, &dest) {
            Ok(()) => sync_dir(dest.parent().expect("blob has a parent"))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io_path("commit blob", &dest, e)),
        }
        Ok(dest)
    }

    /// Writes bytes as a blob and returns its digest.
    pub(crate) fn commit_blob_bytes(&self, bytes: &[u8], lease: &mut Lease) -> Result<String> {
        let digest = sha256_of(bytes);
        let hex = parse_sha256(&digest)?.to_string();
        lease.hold(&hex);
        if !self.has_blob(&hex, Some(bytes.len() as u64)) {
            let tmp = self.temp_path("blob");
            write_synced(&tmp, bytes)?;
            let res = self.commit_blob_file(&tmp, &hex);
            let _ = fs::remove_file(&tmp);
            res?;
        }
        Ok(digest)
    }

    /// Unpacks layer blob `blob` into the snapshot named by `diff_id` unless
    /// it exists. Returns the snapshot's size.
    pub(crate) fn ensure_snapshot(
        &self,
        diff_id: &str,
        blob: &Path,
        compression: Compression,
        lease: &mut Lease,
    ) -> Result<u64> {
        let hex = parse_sha256(diff_id)?.to_string();
        lease.hold(&hex);
        if let Some(size) = self.snapshot_size(&hex) {
            return Ok(size);
        }
        let file = File::open(blob).map_err(|e| Error::io_path("open", blob, e))?;
        self.unpack_snapshot(diff_id, file, compression)
    }

    /// The size of snapshot `hex` if it is committed.
    pub(crate) fn snapshot_size(&self, hex: &str) -> Option<u64> {
        let dir = self.snapshot_dir(hex);
        dir.join("fs").is_dir().then(|| read_size(&dir))
    }

    /// Unpacks a layer stream into a new snapshot (the caller holds a lease
    /// on the diff id). The snapshot appears under its final name only once
    /// complete and verified.
    pub(crate) fn unpack_snapshot(
        &self,
        diff_id: &str,
        blob: impl io::Read,
        compression: Compression,
    ) -> Result<u64> {
        let prepared = self.prepare_snapshot(diff_id, blob, compression)?;
        self.commit_snapshot(prepared)
    }

    /// Unpacks a layer stream into a temporary directory, checking its diff
    /// id; [`Self::commit_snapshot`] then moves it into place.
    pub(crate) fn prepare_snapshot(
        &self,
        diff_id: &str,
        blob: impl io::Read,
        compression: Compression,
    ) -> Result<PreparedSnapshot> {
        let hex = parse_sha256(diff_id)?.to_string();
        let tmp = self.temp_dir("snapshot")?;
        let fs_dir = tmp.0.join("fs");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&fs_dir)
            .map_err(|e| Error::io_path("create", &fs_dir, e))?;
        let stats = unpack::unpack_blob(
            blob,
            compression,
            &fs_dir,
            diff_id,
            &self.inner.options.unpack,
        )
        .map_err(|e| e.into_error(diff_id))?;
        write_synced(&tmp.0.join("size"), stats.size.to_string().as_bytes())?;
        Ok(PreparedSnapshot {
            hex,
            tmp,
            size: stats.size,
        })
    }

    /// Moves a prepared snapshot under its final name (a snapshot already
    /// there, from a concurrent pull of the same layer, wins).
    pub(crate) fn commit_snapshot(&self, prepared: PreparedSnapshot) -> Result<u64> {
        // One syncfs instead of an fsync per file.
        if let Ok(dir) = File::open(&prepared.tmp.0) {
            let _ = nix::unistd::syncfs(&dir);
        }
        let dest = self.snapshot_dir(&prepared.hex);
        match nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &prepared.tmp.0,
            nix::fcntl::AT_FDCWD,
            &dest,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => {}
            Err(e) => return Err(Error::io_path("commit snapshot", &dest, e)),
        }
        sync_dir(&self.inner.root.join("snapshots"))?;
        Ok(prepared.size)
    }

    /// Records a new image (or new references of a known one). References
    /// move from the image that had them, as a tag moves in Docker.
    pub(crate) fn record_image(
        &self,
        new: NewImage,
        created_fallback: DateTime<Utc>,
    ) -> Result<Image> {
        let id = new.config_digest.clone();
        let mut size = 0;
        for layer in &new.layers {
            size += self
                .snapshot_size(parse_sha256(&layer.diff_id)?)
                .unwrap_or(0);
        }
        let created_at = new
            .config
            .created()
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.with_timezone(&Utc))
            .unwrap_or(created_fallback);
        let mut state = self.state();
        for reference in &new.references {
            for other in state.images.values_mut() {
                if other.id != id {
                    other.references.remove(reference);
                }
            }
        }
        let record = state
            .images
            .entry(id.clone())
            .or_insert_with(|| ImageRecord {
                id: id.clone(),
                manifest_digest: new.manifest_digest.clone(),
                manifest_media_type: new.manifest_media_type.clone(),
                layers: new.layers.clone(),
                references: BTreeSet::new(),
                created_at,
                architecture: Some(new.config.architecture().to_string()),
                os: Some(new.config.os().to_string()),
                used_by: BTreeSet::new(),
                size_bytes: size,
            });
        record.references.extend(new.references.iter().cloned());
        let image = record.to_api();
        self.save(&state)?;
        Ok(image)
    }
}

/// The id of the image `reference_or_id` names.
fn find(state: &State, reference_or_id: &str) -> Result<String> {
    let wanted = reference_or_id.trim();
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    if hex.len() >= 12 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        let matches: Vec<&String> = state
            .images
            .keys()
            .filter(|id| id.trim_start_matches("sha256:").starts_with(hex))
            .collect();
        match matches.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            _ => {
                return Err(Error::BadReference {
                    reference: reference_or_id.to_string(),
                    reason: "the id prefix matches several images".to_string(),
                });
            }
        }
        if wanted.starts_with("sha256:") || hex.len() == 64 {
            return Err(Error::NotFound(reference_or_id.to_string()));
        }
    }
    let normalised = reference::normalise(wanted)?;
    state
        .images
        .values()
        .find(|i| i.references.contains(&normalised))
        .map(|i| i.id.clone())
        .ok_or_else(|| Error::NotFound(reference_or_id.to_string()))
}

fn read_size(snapshot_dir: &Path) -> u64 {
    fs::read_to_string(snapshot_dir.join("size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io_path("create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io_path("write", path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_path("sync", dir, e))
}
