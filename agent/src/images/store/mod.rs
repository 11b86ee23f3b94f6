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
//!
//! The parts: `records` holds what `state.json` keeps and what queries
//! answer, `index` finds, lists, references and removes images, `blobs`
//! and `snapshots` commit content, `gc` collects what nothing references
//! and measures the store; this module opens the store, keeps its index
//! and leases, and hands out `tmp/` paths.

mod blobs;
mod gc;
mod index;
mod records;
mod snapshots;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{Error, Result};
use super::unpack::UnpackLimits;
pub(crate) use records::NewImage;
use records::State;
pub use records::{GcReport, ImageRecord, LayerRecord, ResolvedImage};

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

    // ----- internals shared by the parts, import and pull -----

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

    /// Writes the index through to `state.json` (write, fsync, rename).
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
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io_path("create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io_path("write", path, e))
}

/// Fsyncs a directory (after a rename or link in it).
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_path("sync", dir, e))
}
