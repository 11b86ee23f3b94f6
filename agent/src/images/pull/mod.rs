//! Registry pulls with the `oci-client` crate (OCI distribution-spec; Docker
//! registry v2): manifests and indexes (the host's platform is picked),
//! anonymous, basic and bearer-token auth, plain HTTP only for a registry the
//! caller names insecure.
//!
//! Layers download in parallel (`StoreOptions::pull_concurrency`). Each one
//! is unpacked while it downloads: the bytes go through a channel to a
//! blocking thread that writes them to a temporary blob file and feeds the
//! same bytes to the decompressor and the unpacker. Once the stream ends the
//! blob's digest and size are checked; only then are the blob and the
//! snapshot moved into place. A failed pull therefore leaves no image and
//! nothing half-written (partial downloads and unpacks in `tmp/` are removed
//! at once); layers it completed stay, verified, so a retried pull skips
//! them, and [`ImageStore::gc`] collects them if no retry comes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use berth_api::images::{Image, PullProgress, PullRequest, RegistryAuth as ApiAuth};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

mod errors;

use super::bridge;
use super::digest::{parse_sha256, sha256_of};
use super::egress;
use super::error::{Error, Result};
use super::import::{is_index_type, is_manifest_type, pick_platform};
use super::reference;
use super::store::{ImageStore, LayerRecord, Lease, NewImage};
use super::unpack::Compression;
use errors::{map_error, stream_error};

/// Manifest media types asked for.
const ACCEPT: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// Largest manifest or config accepted.
const MAX_JSON: u64 = 16 << 20;
/// Minimum gap between two progress events of one layer.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A progress sink: called for every event of a pull.
pub type Progress<'a> = &'a (dyn Fn(PullProgress) + Send + Sync);

fn event(layer: &str, current: u64, total: u64, status: &str) -> PullProgress {
    PullProgress {
        layer: layer.to_string(),
        current,
        total,
        status: status.to_string(),
        image: None,
        error: None,
    }
}

impl ImageStore {
    /// Pulls `request.reference` from its registry into the store, reporting
    /// progress to `progress`, and returns the image. Errors say what went
    /// wrong: [`Error::UnknownRemote`], [`Error::AuthRefused`],
    /// [`Error::DigestMismatch`], [`Error::Registry`] (unreachable or
    /// misbehaving), [`Error::Unsupported`] (no image for this platform).
    ///
    /// Unless `request.allow_internal_registries`, every connection (the
    /// registry, its token realm, redirects) goes through an
    /// [`egress::EgressProxy`] that refuses internal addresses; such a pull
    /// fails with [`Error::InternalRegistry`].
    pub async fn pull(&self, request: &PullRequest, progress: Progress<'_>) -> Result<Image> {
        let reference = reference::parse(&request.reference)?;
        let proxy = if request.allow_internal_registries {
            None
        } else {
            egress::check_registry(request).await?;
            Some(
                egress::EgressProxy::start()
                    .await
                    .map_err(|e| Error::io("failed to start the pull's egress proxy", e))?,
            )
        };
        let result = self
            .pull_reference(&reference, request, proxy.as_ref(), progress)
            .await;
        match (result, proxy.as_ref().and_then(|p| p.refused())) {
            (Err(_), Some(why)) => Err(Error::InternalRegistry(why)),
            (result, _) => result,
        }
    }

    async fn pull_reference(
        &self,
        reference: &Reference,
        request: &PullRequest,
        proxy: Option<&egress::EgressProxy>,
        progress: Progress<'_>,
    ) -> Result<Image> {
        let started = Utc::now();
        let registry = reference.resolve_registry().to_string();
        let client = client_for(&registry, request.insecure, proxy);
        let auth = match &request.auth {
            None => RegistryAuth::Anonymous,
            Some(ApiAuth::Basic { username, password }) => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Some(ApiAuth::Bearer { token }) => RegistryAuth::Bearer(token.clone()),
        };
        progress(event("", 0, 0, "resolving"));
        let mut lease = self.lease();

        let (bytes, media_type, manifest_ref) = self
            .fetch_manifest(&client, reference, &auth, &registry, &mut lease)
            .await?;
        let manifest: ImageManifest = parse_json(&bytes, "image manifest")?;
        let manifest_digest = self.commit_blob_bytes(&bytes, &mut lease)?;

        let (config_digest, config) = self
            .fetch_config(
                &client,
                &manifest_ref,
                &manifest,
                &registry,
                reference,
                &mut lease,
            )
            .await?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::Registry(format!(
                "{reference}: the config lists {} layers, the manifest {}",
                diff_ids.len(),
                manifest.layers().len()
            )));
        }

        // Layers, in parallel.
        let mut jobs = Vec::new();
        for (desc, diff_id) in manifest.layers().iter().zip(&diff_ids) {
            let media = desc.media_type().to_string();
            let compression = Compression::from_media_type(&media)
                .ok_or_else(|| Error::Unsupported(format!("layer media type {media}")))?;
            if desc.size() > self.options().max_blob_bytes {
                return Err(Error::TooLarge {
                    what: format!("layer {}", desc.digest()),
                    limit: self.options().max_blob_bytes,
                });
            }
            lease.hold(parse_sha256(desc.digest().as_ref())?);
            lease.hold(parse_sha256(diff_id)?);
            progress(event(desc.digest().as_ref(), 0, desc.size(), "waiting"));
            jobs.push((desc.clone(), diff_id.clone(), compression));
        }
        let concurrency = self.options().pull_concurrency.max(1);
        let layers: Vec<LayerRecord> =
            futures::stream::iter(jobs.into_iter().map(|(desc, diff_id, compression)| {
                let client = &client;
                let manifest_ref = &manifest_ref;
                let registry = &registry;
                async move {
                    self.pull_layer(
                        client,
                        manifest_ref,
                        registry,
                        &desc,
                        &diff_id,
                        compression,
                        progress,
                    )
                    .await
                }
            }))
            .buffered(concurrency)
            .try_collect()
            .await?;

        let image = NewImage {
            manifest_digest,
            manifest_media_type: media_type,
            config_digest,
            config,
            layers,
            references: vec![reference.whole()],
        };
        let store = self.clone();
        let image = tokio::task::spawn_blocking(move || store.record_image(image, started))
            .await
            .map_err(|e| Error::io("the pull task failed", io::Error::other(e)))??;
        drop(lease);
        Ok(image)
    }

    /// The image manifest `reference` names (through its image index when
    /// it names one, picking this host's platform, the index committed as a
    /// blob): its bytes, its media type and the reference its blobs are
    /// fetched by.
    async fn fetch_manifest(
        &self,
        client: &Client,
        reference: &Reference,
        auth: &RegistryAuth,
        registry: &str,
        lease: &mut Lease,
    ) -> Result<(bytes::Bytes, String, Reference)> {
        let fail = |e| map_error(e, registry, reference);
        let (mut bytes, _) = client
            .pull_manifest_raw(reference, auth, &ACCEPT)
            .await
            .map_err(fail)?;
        let mut media_type = manifest_media_type(&bytes)?;
        let mut manifest_ref = reference.clone();
        if is_index_type(&media_type) {
            let index: ImageIndex = parse_json(&bytes, "image index")?;
            self.commit_blob_bytes(&bytes, lease)?;
            let chosen = pick_platform(&index)?;
            manifest_ref = reference.clone_with_digest(chosen.digest().to_string());
            let (raw, _) = client
                .pull_manifest_raw(&manifest_ref, auth, &ACCEPT)
                .await
                .map_err(fail)?;
            let actual = sha256_of(&raw);
            if actual != chosen.digest().to_string() {
                return Err(Error::DigestMismatch {
                    what: "image manifest".to_string(),
                    expected: chosen.digest().to_string(),
                    actual,
                });
            }
            bytes = raw;
            media_type = manifest_media_type(&bytes)?;
        }
        if !is_manifest_type(&media_type) {
            return Err(Error::Unsupported(format!(
                "{reference} is a {media_type}, not a container image"
            )));
        }
        Ok((bytes, media_type, manifest_ref))
    }

    /// The image config: small, fetched whole (unless stored) and checked
    /// against its digest; its digest and the config.
    async fn fetch_config(
        &self,
        client: &Client,
        manifest_ref: &Reference,
        manifest: &ImageManifest,
        registry: &str,
        reference: &Reference,
        lease: &mut Lease,
    ) -> Result<(String, ImageConfiguration)> {
        let fail = |e| map_error(e, registry, reference);
        let config_desc = manifest.config();
        if config_desc.size() > MAX_JSON {
            return Err(Error::TooLarge {
                what: "the image config".to_string(),
                limit: MAX_JSON,
            });
        }
        let config_digest = config_desc.digest().to_string();
        let config_hex = parse_sha256(&config_digest)?.to_string();
        lease.hold(&config_hex);
        let config_bytes = if self.has_blob(&config_hex, Some(config_desc.size())) {
            std::fs::read(self.blob_path(&config_hex))
                .map_err(|e| Error::io_path("read", &self.blob_path(&config_hex), e))?
        } else {
            let mut out: Vec<u8> = Vec::new();
            client
                .pull_blob(manifest_ref, config_digest.as_str(), &mut out)
                .await
                .map_err(fail)?;
            let actual = sha256_of(&out);
            if actual != config_digest {
                return Err(Error::DigestMismatch {
                    what: "image config".to_string(),
                    expected: config_digest,
                    actual,
                });
            }
            self.commit_blob_bytes(&out, lease)?;
            out
        };
        let config: ImageConfiguration = parse_json(&config_bytes, "image config")?;
        Ok((config_digest, config))
    }

    #[allow(clippy::too_many_arguments)]
    async fn pull_layer(
        &self,
        client: &Client,
        reference: &Reference,
        registry: &str,
        desc: &Descriptor,
        diff_id: &str,
        compression: Compression,
        progress: Progress<'_>,
    ) -> Result<LayerRecord> {
        let digest = desc.digest().to_string();
        let total = desc.size();
        let blob_hex = parse_sha256(&digest)?.to_string();
        let diff_hex = parse_sha256(diff_id)?.to_string();
        let record = LayerRecord {
            digest: digest.clone(),
            media_type: desc.media_type().to_string(),
            size: total,
            diff_id: diff_id.to_string(),
        };
        let have_blob = self.has_blob(&blob_hex, Some(total));
        if have_blob && self.snapshot_size(&diff_hex).is_some() {
            progress(event(&digest, total, total, "exists"));
            return Ok(record);
        }
        if have_blob {
            progress(event(&digest, total, total, "extracting"));
            let store = self.clone();
            let blob = self.blob_path(&blob_hex);
            let diff = diff_id.to_string();
            tokio::task::spawn_blocking(move || {
                let file = File::open(&blob).map_err(|e| Error::io_path("open", &blob, e))?;
                store.unpack_snapshot(&diff, file, compression)
            })
            .await
            .map_err(|e| Error::io("an unpack task failed", io::Error::other(e)))??;
            progress(event(&digest, total, total, "complete"));
            return Ok(record);
        }

        let mut stream = client
            .pull_blob_stream(reference, digest.as_str())
            .await
            .map_err(|e| map_error(e, registry, reference))?;
        progress(event(&digest, 0, total, "downloading"));
        let (tx, reader) = bridge::channel();
        let store = self.clone();
        let (want_digest, diff) = (digest.clone(), diff_id.to_string());
        let unpacking = tokio::task::spawn_blocking(move || {
            store.unpack_download(reader, &want_digest, total, &blob_hex, &diff, compression)
        });

        let mut current = 0u64;
        let mut reported = 0u64;
        let mut last = Instant::now();
        let mut download_error = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    current += bytes.len() as u64;
                    if tx.send(Ok(bytes)).await.is_err() {
                        break; // the unpack failed; its error says why
                    }
                    // Every 100 ms, and at least every 1% for a smooth bar.
                    if last.elapsed() >= PROGRESS_EVERY
                        || (current - reported) * 100 >= total
                        || current == total
                    {
                        last = Instant::now();
                        reported = current;
                        progress(event(&digest, current, total, "downloading"));
                    }
                }
                Err(e) => {
                    let err = stream_error(e, &digest, registry);
                    let _ = tx
                        .send(Err(io::Error::other(format!("download failed: {err}"))))
                        .await;
                    download_error = Some(err);
                    break;
                }
            }
        }
        drop(tx);
        if download_error.is_none() {
            progress(event(&digest, current, total, "extracting"));
        }
        let unpacked = unpacking
            .await
            .map_err(|e| Error::io("an unpack task failed", io::Error::other(e)))?;
        if let Some(err) = download_error {
            return Err(err);
        }
        unpacked?;
        progress(event(&digest, total, total, "complete"));
        Ok(record)
    }

    /// The blocking half of a layer download: tee the bytes to a temporary
    /// blob file and the unpacker, then verify and commit both.
    fn unpack_download(
        &self,
        reader: bridge::ChannelReader,
        digest: &str,
        size: u64,
        blob_hex: &str,
        diff_id: &str,
        compression: Compression,
    ) -> Result<()> {
        let path = self.temp_path("download");
        let file = File::create(&path).map_err(|e| Error::io_path("create", &path, e))?;
        let _cleanup = RemoveFile(path.clone());
        let mut tee = Tee {
            inner: reader,
            file,
            hasher: Sha256::new(),
            count: 0,
            limit: size,
            write_error: None,
        };
        let prepared = self.prepare_snapshot(diff_id, &mut tee, compression);
        // Whatever the unpacker left (padding, or everything after an
        // error) still belongs to the blob.
        let drained = io::copy(&mut tee, &mut io::sink());
        if let Some(e) = tee.write_error.take() {
            return Err(Error::io_path("write", &path, e));
        }
        if let Err(e) = drained {
            return Err(Error::Registry(format!("download of {digest} failed: {e}")));
        }
        let actual = format!("sha256:{}", hex::encode(tee.hasher.finalize_reset()));
        if tee.count != size || actual != digest {
            return Err(Error::DigestMismatch {
                what: format!("layer {digest}"),
                expected: format!("{digest} ({size} bytes)"),
                actual: format!("{actual} ({} bytes)", tee.count),
            });
        }
        let prepared = prepared?;
        self.commit_blob_file(&path, blob_hex)?;
        self.commit_snapshot(prepared)?;
        Ok(())
    }
}

/// Reads from the download, writing every byte to the blob file and the
/// hash as it passes. More bytes than the descriptor's size is an error.
struct Tee<R> {
    inner: R,
    file: File,
    hasher: Sha256,
    count: u64,
    limit: u64,
    write_error: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the blob is longer than its declared {} bytes", self.limit),
            ));
        }
        self.hasher.update(&buf[..n]);
        if let Err(e) = self.file.write_all(&buf[..n]) {
            let kind = e.kind();
            self.write_error = Some(e);
            return Err(io::Error::new(kind, "failed to write the blob file"));
        }
        Ok(n)
    }
}

struct RemoveFile(std::path::PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn client_for(registry: &str, insecure: bool, proxy: Option<&egress::EgressProxy>) -> Client {
    // reqwest's rustls needs a process-wide crypto provider; the agent may
    // have installed one already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = proxy.map(|p| p.url());
    Client::new(ClientConfig {
        https_proxy: proxy.clone(),
        http_proxy: proxy,
        protocol: if insecure {
            ClientProtocol::HttpsExcept(vec![registry.to_string()])
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
}

/// The media type of a manifest document: its `mediaType`, or what its
/// shape says.
fn manifest_media_type(bytes: &[u8]) -> Result<String> {
    let value: serde_json::Value = parse_json(bytes, "manifest")?;
    if let Some(m) = value.get("mediaType").and_then(|m| m.as_str()) {
        return Ok(m.to_string());
    }
    Ok(if value.get("manifests").is_some() {
        ACCEPT[0].to_string()
    } else {
        ACCEPT[2].to_string()
    })
}

fn parse_json<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    if bytes.len() as u64 > MAX_JSON {
        return Err(Error::TooLarge {
            what: what.to_string(),
            limit: MAX_JSON,
        });
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Registry(format!("the registry sent an invalid {what}: {e}")))
}
