//! The image store: content-addressed blobs, layer snapshots shared between
//! images, overlayfs root filesystems, registry pulls and tarball imports
//! (docs/architecture.md "The agent"; OCI image-spec v1.1).
//!
//! Use from the rest of the agent:
//! ```no_run
//! # async fn demo() -> Result<(), berth_agent::images::Error> {
//! use berth_agent::images::ImageStore;
//! let store = ImageStore::open("/var/lib/berth/agent/images")?;
//! let tar = tokio::fs::File::open("busybox.tar").await.map_err(|e| berth_agent::images::Error::io("open", e))?;
//! let imported = store.import(tar).await?;                 // docker save or OCI layout
//! let image = store.resolve("busybox")?;                   // → docker.io/library/busybox:latest
//! let cmd = image.config.config().as_ref().and_then(|c| c.cmd().clone());
//! store.add_user(&image.id, "c0ffee")?;                    // DELETE of the image is now 409
//! let rootfs = store.mount_rootfs(&image.id, std::path::Path::new("/run/berth/c0ffee"))?;
//! // ... run the container in `rootfs` ...
//! store.unmount_rootfs(std::path::Path::new("/run/berth/c0ffee"))?;
//! store.remove_user(&image.id, "c0ffee")?;
//! # let _ = (imported, cmd, rootfs); Ok(()) }
//! ```
//! The HTTP side is [`http::route`], which the agent's router serves for
//! the image endpoints of `berth_api::agent_api::Endpoint` with an
//! `Arc<ImageStore>` state ([`http::router`]: the same routes alone).
//!
//! Safety of layer unpacking is in [`unpack`]; the on-disk layout in
//! [`store`].

mod bridge;
pub mod digest;
pub mod egress;
mod error;
pub mod http;
mod import;
pub mod overlay;
mod pull;
pub mod reference;
pub mod store;
pub mod unpack;

use std::io;
use std::path::{Path, PathBuf};

use berth_api::images::Image;
use tokio::io::AsyncRead;

pub use error::{Error, Result};
pub use pull::Progress;
pub use store::{GcReport, ImageStore, ResolvedImage, StoreOptions};

impl ImageStore {
    /// Imports a `docker save` or OCI-layout tarball read from `body`, as a
    /// stream: entries go to disk as they arrive, nothing is held whole in
    /// memory. Returns the images it held (with their normalised
    /// references). A failed import leaves no image and no blob behind
    /// (blobs it committed are collectable garbage).
    pub async fn import<R: AsyncRead + Unpin>(&self, body: R) -> Result<Vec<Image>> {
        let (tx, reader) = bridge::channel();
        let store = self.clone();
        let work = tokio::task::spawn_blocking(move || import::import_tar(&store, reader));
        let (_, result) = tokio::join!(bridge::pump(body, tx), work);
        let result =
            result.map_err(|e| Error::io("the import task failed", io::Error::other(e)))?;
        if result.is_err() {
            // Blobs committed before the failure are referenced by nothing.
            let _ = self.gc();
        }
        result
    }

    /// Mounts the root filesystem of a container of image `image` (id or
    /// reference) at `<container_dir>/rootfs`: an overlay with the image's
    /// snapshots as lower dirs and `<container_dir>/{upper,work}` as the
    /// container's own layer. Idempotent.
    pub fn mount_rootfs(&self, image: &str, container_dir: &Path) -> Result<PathBuf> {
        let resolved = self.resolve(image)?;
        overlay::mount_layers(&resolved.layers, container_dir)
    }

    /// Unmounts `<container_dir>/rootfs`; not mounted is fine. The upper dir
    /// is left for the caller to delete with the container.
    pub fn unmount_rootfs(&self, container_dir: &Path) -> Result<()> {
        overlay::unmount(container_dir)
    }
}
