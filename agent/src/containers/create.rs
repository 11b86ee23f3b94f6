//! `create`, in steps: check the spec and choose its network; under the
//! create lock, pick a free name and resolve the image; reserve the
//! network and write the record; make the container's files; register it;
//! and start it when asked. A step that fails undoes what the earlier ones
//! made.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::containers::{ContainerSpec, CreatedContainer, NetworkMode, RuntimeKind};
use chrono::Utc;
use rand::RngCore;

use super::names::generated_name;
use super::oci::blocking;
use super::record::Record;
use super::registry::{Containers, Entry, Live};
use super::{Error, Result, bundle, validate};
use crate::images::ResolvedImage;
use crate::network::Network;

impl Containers {
    /// Creates a container from `spec`; starts it too when `start`.
    pub async fn create(&self, spec: ContainerSpec, start: bool) -> Result<CreatedContainer> {
        let network = self.check(&spec)?;
        let guard = self.inner.create_lock.lock().await;
        let name = self.free_name(&spec)?;
        let image = self.resolve_image(&spec.image).await?;
        let id = new_id();
        let dir = self.inner.cfg.paths.container_dir(&id);
        let record = self
            .new_record(spec, &image, id.clone(), name.clone(), network)
            .await?;
        self.make_files(&record, &dir).await?;
        let entry = Arc::new(Entry::new(id.clone(), dir, record, Live::Created));
        self.insert(entry.clone());
        drop(guard);
        tracing::info!(%id, %name, "created container");
        if start {
            let _ops = entry.ops.lock().await;
            self.start_entry(&entry).await?;
        }
        Ok(CreatedContainer { id, name })
    }

    /// Checks the spec, and chooses the network it gets.
    fn check(&self, spec: &ContainerSpec) -> Result<NetworkMode> {
        validate::validate(spec, self.inner.cfg.cpus).map_err(Error::Invalid)?;
        if spec.runtime == Some(RuntimeKind::Docker) {
            return Err(Error::Invalid(
                "runtime \"docker\": no Docker engine is bridged on this agent".into(),
            ));
        }
        let network = self.network_mode(spec.network.clone())?;
        Network::validate(&network, &spec.ports).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(network)
    }

    /// The spec's name, or a generated one; 409 when it is taken (the
    /// caller holds the create lock).
    fn free_name(&self, spec: &ContainerSpec) -> Result<String> {
        let name = match &spec.name {
            Some(n) => n.clone(),
            None => generated_name(&spec.image),
        };
        if self.find(&name).is_ok() {
            return Err(Error::Conflict(format!(
                "the name {name:?} is already in use"
            )));
        }
        Ok(name)
    }

    /// The image the spec names, which must be on this host.
    async fn resolve_image(&self, reference: &str) -> Result<ResolvedImage> {
        let images = self.inner.images.clone();
        let r = reference.to_string();
        blocking(move || images.resolve(&r))
            .await?
            .map_err(|e| match e {
                crate::images::Error::NotFound(_) => Error::Invalid(format!(
                    "image {reference:?} is not on this host: pull or import it first"
                )),
                other => Error::Image(other),
            })
    }

    /// Reserves the container's network and makes its record; refuses (and
    /// releases the network) when neither spec nor image gives a command.
    async fn new_record(
        &self,
        spec: ContainerSpec,
        image: &ResolvedImage,
        id: String,
        name: String,
        network: NetworkMode,
    ) -> Result<Record> {
        let image_config = image.config.config().as_ref();
        let stop_signal = image_config.and_then(|c| c.stop_signal().clone());
        let reservation = match &self.inner.network {
            Some(n) => Some(n.reserve(&id, &network, &spec.ports).await?),
            None => None,
        };
        let record = Record {
            ip_address: reservation
                .as_ref()
                .and_then(|r| r.ip)
                .map(|ip| ip.to_string()),
            id,
            name,
            cmd: bundle::command(&spec, image_config),
            spec,
            image_id: image.id.clone(),
            network,
            stop_signal,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            restart_count: 0,
            manually_stopped: false,
            should_run: false,
        };
        if record.cmd.is_empty() {
            self.release_network(&record.id).await;
            return Err(Error::Invalid(
                "cmd: the image has no command, so the spec must give one".into(),
            ));
        }
        Ok(record)
    }

    /// Makes the container's files; when that fails, removes what was made
    /// and releases its network.
    async fn make_files(&self, record: &Record, dir: &Path) -> Result<()> {
        let made = {
            let this = self.clone();
            let record = record.clone();
            let dir = dir.to_path_buf();
            blocking(move || this.prepare(&record, &dir)).await?
        };
        if let Err(e) = made {
            let this = self.clone();
            let (id, dir, image_id): (String, PathBuf, String) = (
                record.id.clone(),
                dir.to_path_buf(),
                record.image_id.clone(),
            );
            let _ = blocking(move || this.remove_files(&id, &dir, &image_id)).await;
            self.release_network(&record.id).await;
            return Err(e);
        }
        Ok(())
    }
}

/// A new container id: 64 random hex digits.
fn new_id() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}
