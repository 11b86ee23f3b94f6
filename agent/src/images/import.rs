//! Import of `docker save` tarballs and OCI-layout tarballs (OCI image-spec
//! "Image Layout"; Docker's `manifest.json` format, both the legacy
//! `<id>/layer.tar` layout and the OCI-style one of Docker 25+).
//!
//! The tar is read once, as a stream: each regular file is written to a
//! staging file under `tmp/` while its sha256 is computed, so nothing is held
//! in memory and nothing is re-read to be verified. Names inside the archive
//! are only keys of a map, never paths on the host. Once the stream ends the
//! staged blobs named by the manifests are checked against their digests and
//! sizes, committed, and their layers unpacked into snapshots.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use berth_api::images::Image;
use chrono::Utc;
use oci_spec::image::{Arch, Descriptor, ImageConfiguration, ImageIndex, ImageManifest, Os};
use serde::Deserialize;

use super::digest::{HashingWriter, parse_sha256};
use super::error::{Error, Result};
use super::reference;
use super::store::{ImageStore, LayerRecord, Lease, NewImage};
use super::unpack::{self, Compression};

/// Entries an archive may hold.
const MAX_ENTRIES: usize = 100_000;
/// Largest JSON document read from an archive.
const MAX_JSON: u64 = 16 << 20;
/// Index nesting followed before giving up.
const MAX_INDEX_DEPTH: usize = 4;

const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// True for a manifest media type the store understands.
pub(crate) fn is_manifest_type(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// True for an index (manifest list) media type.
pub(crate) fn is_index_type(media_type: &str) -> bool {
    INDEX_TYPES.contains(&media_type)
}

/// Picks the manifest of an index that matches this host (os and
/// architecture as Go names them: linux/amd64).
pub(crate) fn pick_platform(index: &ImageIndex) -> Result<Descriptor> {
    let (os, arch) = (Os::default(), Arch::default());
    index
        .manifests()
        .iter()
        .find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| p.os() == &os && p.architecture() == &arch)
        })
        .cloned()
        .ok_or_else(|| {
            let offered: Vec<String> = index
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref())
                .map(|p| format!("{}/{}", p.os(), p.architecture()))
                .collect();
            Error::Unsupported(format!(
                "no image for this host's platform {os}/{arch} (the index offers: {})",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            ))
        })
}

/// One regular file of the archive, staged on disk.
struct Staged {
    file: PathBuf,
    digest: String,
    size: u64,
}

struct Archive {
    files: HashMap<String, Staged>,
    /// Symlinks and hardlinks: name → cleaned target name.
    links: HashMap<String, String>,
}

impl Archive {
    fn get(&self, name: &str) -> Result<&Staged> {
        let mut name = clean(name);
        for _ in 0..16 {
            if let Some(staged) = self.files.get(&name) {
                return Ok(staged);
            }
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None => break,
            }
        }
        Err(Error::BadArchive(format!(
            "the archive has no file {name:?}"
        )))
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let staged = self.get(name)?;
        if staged.size > MAX_JSON {
            return Err(Error::BadArchive(format!(
                "{name} is {} bytes, more than a JSON document may be",
                staged.size
            )));
        }
        let bytes =
            std::fs::read(&staged.file).map_err(|e| Error::io_path("read", &staged.file, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::BadArchive(format!("{name}: {e}")))
    }

    /// The staged blob a descriptor names, checked against its digest and
    /// size.
    fn blob(&self, descriptor: &Descriptor, what: &str) -> Result<&Staged> {
        let digest = descriptor.digest().to_string();
        let hex = parse_sha256(&digest)?;
        let staged = self.get(&format!("blobs/sha256/{hex}"))?;
        verify(staged, &digest, Some(descriptor.size()), what)?;
        Ok(staged)
    }
}

fn verify(staged: &Staged, digest: &str, size: Option<u64>, what: &str) -> Result<()> {
    if staged.digest != digest {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual: staged.digest.clone(),
        });
    }
    if let Some(size) = size
        && size != staged.size
    {
        return Err(Error::DigestMismatch {
            what: format!("{what} (size)"),
            expected: format!("{size} bytes"),
            actual: format!("{} bytes", staged.size),
        });
    }
    Ok(())
}

/// Lexically cleaned archive name (`./a/../b` → `b`).
fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Reads a whole archive from `reader` and imports every image in it.
pub(crate) fn import_tar<R: Read>(store: &ImageStore, reader: R) -> Result<Vec<Image>> {
    let staging = store.temp_dir("import")?;
    let archive = stage(store, reader, &staging.0)?;
    let mut lease = store.lease();
    let started = Utc::now();
    let images = if archive.has("manifest.json") {
        import_docker(store, &archive, &mut lease)?
    } else if archive.has("index.json") {
        import_oci(store, &archive, &mut lease)?
    } else {
        return Err(Error::BadArchive(
            "neither manifest.json (docker save) nor index.json (OCI layout) is in the archive"
                .to_string(),
        ));
    };
    let mut out = Vec::with_capacity(images.len());
    for image in images {
        out.push(store.record_image(image, started)?);
    }
    Ok(out)
}

fn stage<R: Read>(store: &ImageStore, reader: R, dir: &std::path::Path) -> Result<Archive> {
    let max_blob = store.options().max_blob_bytes;
    let mut archive = Archive {
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| Error::BadArchive(format!("not a tar archive: {e}")))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(Error::TooLarge {
                what: "the archive's entry count".to_string(),
                limit: MAX_ENTRIES as u64,
            });
        }
        let mut entry = entry
            .map_err(|e| Error::BadArchive(format!("not a tar archive, or truncated: {e}")))?;
        let Ok(raw_name) = String::from_utf8(entry.path_bytes().into_owned()) else {
            continue; // docker save and OCI layouts only use ASCII names
        };
        let name = clean(&raw_name);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let declared = entry.size();
                if declared > max_blob {
                    return Err(Error::TooLarge {
                        what: format!("archive entry {raw_name:?}"),
                        limit: max_blob,
                    });
                }
                let path = dir.join(n.to_string());
                let file = File::create(&path).map_err(|e| Error::io_path("create", &path, e))?;
                let mut writer = HashingWriter::new(file);
                copy_entry(&mut entry, &mut writer, &raw_name)?;
                let (_, digest, size) = writer.finish();
                if size != declared {
                    return Err(Error::BadArchive(format!(
                        "entry {raw_name:?} is truncated: {size} of {declared} bytes"
                    )));
                }
                archive.files.insert(
                    name,
                    Staged {
                        file: path,
                        digest,
                        size,
                    },
                );
            }
            tar::EntryType::Symlink => {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    let resolved = if target.starts_with('/') {
                        clean(&target)
                    } else {
                        clean(&format!("{base}/{target}"))
                    };
                    archive.links.insert(name, resolved);
                }
            }
            tar::EntryType::Link => {
                if let Some(target) = entry.link_name_bytes() {
                    archive
                        .links
                        .insert(name, clean(&String::from_utf8_lossy(&target)));
                }
            }
            _ => {}
        }
    }
    Ok(archive)
}

fn copy_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    out: &mut HashingWriter<File>,
    name: &str,
) -> Result<()> {
    use std::io::Write;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = entry.read(&mut buf).map_err(|e| {
            Error::BadArchive(format!("entry {name:?} is truncated or unreadable: {e}"))
        })?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("failed to stage archive entry {name:?}"), e))?;
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn import_docker(
    store: &ImageStore,
    archive: &Archive,
    lease: &mut Lease,
) -> Result<Vec<NewImage>> {
    let entries: Vec<DockerEntry> = archive.read_json("manifest.json")?;
    if entries.is_empty() {
        return Err(Error::BadArchive(
            "manifest.json lists no images".to_string(),
        ));
    }
    let mut images = Vec::new();
    for entry in entries {
        let config_staged = archive.get(&entry.config)?;
        let config_digest = config_staged.digest.clone();
        let config = commit_config(store, config_staged, &entry.config, lease)?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != entry.layers.len() {
            return Err(Error::BadArchive(format!(
                "image config {} lists {} layers, manifest.json {}",
                entry.config,
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (name, diff_id) in entry.layers.iter().zip(diff_ids) {
            let staged = archive.get(name)?;
            let hex = parse_sha256(&staged.digest)?.to_string();
            lease.hold(&hex);
            let blob = store.commit_blob_file(&staged.file, &hex)?;
            let compression =
                unpack::sniff_file(&blob).map_err(|e| Error::io_path("read", &blob, e))?;
            if compression == Compression::None {
                verify(staged, &diff_id, None, &format!("layer {name}"))?;
            }
            store.ensure_snapshot(&diff_id, &blob, compression, lease)?;
            layers.push(LayerRecord {
                digest: staged.digest.clone(),
                media_type: compression.oci_media_type().to_string(),
                size: staged.size,
                diff_id,
            });
        }
        // A docker save has no manifest blob: write the OCI manifest it
        // stands for, so every image in the store has one.
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPES[0],
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_staged.size,
            },
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type,
                "digest": l.digest,
                "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| Error::io("failed to encode a manifest", io::Error::other(e)))?;
        let manifest_digest = store.commit_blob_bytes(&manifest_bytes, lease)?;
        let mut references = Vec::new();
        for tag in entry.repo_tags.unwrap_or_default() {
            references.push(
                reference::normalise(&tag).map_err(|e| {
                    Error::BadArchive(format!("manifest.json has a bad RepoTag: {e}"))
                })?,
            );
        }
        images.push(NewImage {
            manifest_digest,
            manifest_media_type: MANIFEST_TYPES[0].to_string(),
            config_digest,
            config,
            layers,
            references,
        });
    }
    Ok(images)
}

fn commit_config(
    store: &ImageStore,
    staged: &Staged,
    name: &str,
    lease: &mut Lease,
) -> Result<ImageConfiguration> {
    if staged.size > MAX_JSON {
        return Err(Error::BadArchive(format!(
            "image config {name} is too large"
        )));
    }
    let hex = parse_sha256(&staged.digest)?.to_string();
    lease.hold(&hex);
    let path = store.commit_blob_file(&staged.file, &hex)?;
    ImageConfiguration::from_file(&path)
        .map_err(|e| Error::BadArchive(format!("image config {name}: {e}")))
}

fn import_oci(store: &ImageStore, archive: &Archive, lease: &mut Lease) -> Result<Vec<NewImage>> {
    let index: ImageIndex = archive.read_json("index.json")?;
    if index.manifests().is_empty() {
        return Err(Error::BadArchive("index.json lists no images".to_string()));
    }
    let mut images = Vec::new();
    for top in index.manifests() {
        let references = top_references(top);
        let mut descriptor = top.clone();
        let mut depth = 0;
        while is_index_type(descriptor.media_type().as_ref()) {
            depth += 1;
            if depth > MAX_INDEX_DEPTH {
                return Err(Error::BadArchive(
                    "image indexes nest too deeply".to_string(),
                ));
            }
            let staged = archive.blob(&descriptor, "image index")?;
            let nested = read_staged_json::<ImageIndex>(staged, "image index")?;
            let hex = parse_sha256(&staged.digest)?.to_string();
            lease.hold(&hex);
            store.commit_blob_file(&staged.file, &hex)?;
            descriptor = pick_platform(&nested)?;
        }
        if !is_manifest_type(descriptor.media_type().as_ref()) {
            return Err(Error::Unsupported(format!(
                "index.json names a {} rather than an image manifest",
                descriptor.media_type()
            )));
        }
        let staged = archive.blob(&descriptor, "image manifest")?;
        let manifest = read_staged_json::<ImageManifest>(staged, "image manifest")?;
        let manifest_hex = parse_sha256(&staged.digest)?.to_string();
        lease.hold(&manifest_hex);
        store.commit_blob_file(&staged.file, &manifest_hex)?;

        let config_staged = archive.blob(manifest.config(), "image config")?;
        let config = commit_config(store, config_staged, "in the manifest", lease)?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::BadArchive(format!(
                "the image config lists {} layers, its manifest {}",
                diff_ids.len(),
                manifest.layers().len()
            )));
        }
        let mut layers = Vec::new();
        for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let media_type = descriptor.media_type().to_string();
            let compression = Compression::from_media_type(&media_type)
                .ok_or_else(|| Error::Unsupported(format!("layer media type {media_type}")))?;
            let staged = archive.blob(descriptor, "layer")?;
            let hex = parse_sha256(&staged.digest)?.to_string();
            lease.hold(&hex);
            let blob = store.commit_blob_file(&staged.file, &hex)?;
            store.ensure_snapshot(&diff_id, &blob, compression, lease)?;
            layers.push(LayerRecord {
                digest: staged.digest.clone(),
                media_type,
                size: staged.size,
                diff_id,
            });
        }
        images.push(NewImage {
            manifest_digest: format!("sha256:{manifest_hex}"),
            manifest_media_type: descriptor.media_type().to_string(),
            config_digest: config_staged.digest.clone(),
            config,
            layers,
            references,
        });
    }
    Ok(images)
}

/// The full references an OCI-layout index entry names: containerd's
/// `io.containerd.image.name`, or `org.opencontainers.image.ref.name` when
/// it is a whole reference rather than a bare tag.
fn top_references(descriptor: &Descriptor) -> Vec<String> {
    let Some(annotations) = descriptor.annotations() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(name) = annotations.get("io.containerd.image.name")
        && let Ok(r) = reference::normalise(name)
    {
        out.push(r);
    }
    if let Some(name) = annotations.get("org.opencontainers.image.ref.name")
        && (name.contains('/') || name.contains(':'))
        && let Ok(r) = reference::normalise(name)
        && !out.contains(&r)
    {
        out.push(r);
    }
    out
}

fn read_staged_json<T: for<'de> Deserialize<'de>>(staged: &Staged, what: &str) -> Result<T> {
    if staged.size > MAX_JSON {
        return Err(Error::BadArchive(format!("{what} is too large")));
    }
    let bytes = std::fs::read(&staged.file).map_err(|e| Error::io_path("read", &staged.file, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::BadArchive(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_archive_names() {
        assert_eq!(clean("./manifest.json"), "manifest.json");
        assert_eq!(clean("a/../blobs//sha256/x"), "blobs/sha256/x");
        assert_eq!(clean("../../etc/passwd"), "etc/passwd");
    }
}
