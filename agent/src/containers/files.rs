//! A container's dir (`<data>/containers/<id>/`, see the module doc of
//! `containers`): made at create, its `bundle/config.json` rewritten from
//! the record at each start, and removed at delete. Everything here blocks.

use std::path::Path;

use super::record::{RECORD_FILE, Record};
use super::registry::Containers;
use super::{Error, Result, bundle, user};
use crate::network::Attachment;

impl Containers {
    /// Makes the container's files: dirs, rootfs, /etc files, record,
    /// bundle. Blocking.
    pub(super) fn prepare(&self, record: &Record, dir: &Path) -> Result<()> {
        for d in [dir.join("logs"), dir.join("bundle")] {
            std::fs::create_dir_all(&d)
                .map_err(|e| Error::internal(format!("create {}", d.display()), e))?;
        }
        self.inner.images.add_user(&record.image_id, &record.id)?;
        self.inner.images.mount_rootfs(&record.image_id, dir)?;
        crate::fsutil::write_json(&dir.join(RECORD_FILE), record, 0o600)
            .map_err(|e| Error::internal("save the container record", e))?;
        // Check now what would fail at start: the user and the bundle.
        self.write_bundle(record, dir, None)?;
        Ok(())
    }

    /// (Re)writes `bundle/config.json` from the record, joining the network
    /// namespace of `net` when attached. Blocking.
    pub(super) fn write_bundle(
        &self,
        record: &Record,
        dir: &Path,
        net: Option<&Attachment>,
    ) -> Result<()> {
        let image = self.inner.images.resolve(&record.image_id)?;
        let image_config = image.config.config().clone();
        let rootfs_dir = dir.join("rootfs");
        let user_spec = record
            .spec
            .user
            .clone()
            .or_else(|| image_config.as_ref().and_then(|c| c.user().clone()))
            .unwrap_or_default();
        let user = user::resolve(&rootfs_dir, &user_spec).map_err(Error::Invalid)?;
        let hostname = record
            .spec
            .hostname
            .clone()
            .unwrap_or_else(|| record.id.get(..12).unwrap_or(&record.id).to_string());
        let netns = self.netns(record, net)?;
        let resolv = self.resolv_source();
        let ip = net.and_then(|a| a.ip);
        let etc_files = crate::network::etc::write(dir, &hostname, &record.name, ip, &resolv)?;
        let cgroups_path = self.cgroup_path(&record.id);
        let spec = bundle::build(&bundle::BundleInput {
            spec: &record.spec,
            image: image_config.as_ref(),
            user: &user,
            rootfs: &rootfs_dir,
            cgroups_path,
            hostname,
            netns,
            etc_files,
        })
        .map_err(Error::Invalid)?;
        let json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| Error::internal("encode config.json", e))?;
        crate::fsutil::write_atomic(&dir.join("bundle/config.json"), &json, 0o600)
            .map_err(|e| Error::internal("write config.json", e))?;
        Ok(())
    }

    /// Removes what a container left: runtime state, rootfs mount, image
    /// use, its dir. Blocking.
    pub(super) fn remove_files(&self, id: &str, dir: &Path, image_id: &str) -> Result<()> {
        let _ = self.inner.runtime.delete(id, true);
        self.inner.images.unmount_rootfs(dir)?;
        let _ = std::fs::remove_file(self.socket_path(id));
        if let Err(e) = self.inner.images.remove_user(image_id, id) {
            tracing::warn!(%id, error = %e, "could not release the image");
        }
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!("remove {}", dir.display()), e)),
        }
    }
}
