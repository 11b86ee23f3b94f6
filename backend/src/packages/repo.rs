//! Building the apt repository from a directory of `.deb` files: each
//! package's control paragraph plus `Filename`, `Size` and `SHA256` in
//! `main/binary-<arch>/Packages` (and `.gz`), a `Release` listing their
//! sizes and SHA-256 sums, signed as `InRelease` and `Release.gpg`. The
//! files are kept in memory and served by exact path (see `super::http`);
//! the `.deb`s stay on disk under their pool path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::deb::{self, Control};
use super::openpgp::RepoKey;
use super::version;

/// The suite (and codename) hosts name in their sources.
pub const SUITE: &str = "berth";
/// The one component.
pub const COMPONENT: &str = "main";
/// Architectures that always have an index (empty when no package).
pub const ARCHES: [&str; 2] = ["amd64", "arm64"];
/// The agent's package.
pub const AGENT_PACKAGE: &str = "berth-agent";

/// One `.deb` of the directory, read and hashed.
#[derive(Debug, Clone)]
pub struct Deb {
    pub control: Control,
    /// Where it is on disk.
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Its path in the repository (`pool/main/b/berth-agent/…deb`).
    pub pool_path: String,
}

/// What the directory held at a build: for each `.deb`, its name, size
/// and modification time. A different listing means a rebuild.
pub type Listing = BTreeMap<String, (u64, Option<SystemTime>)>;

/// A built repository.
#[derive(Debug, Default)]
pub struct Repo {
    /// Index files by their path under `/apt/` (`dists/berth/InRelease`).
    pub files: HashMap<String, Bytes>,
    /// Packages by pool path.
    pub debs: HashMap<String, Deb>,
    pub listing: Listing,
}

impl Repo {
    /// The newest package `name` for `arch` (or `all`).
    pub fn newest(&self, name: &str, arch: &str) -> Option<&Deb> {
        self.debs
            .values()
            .filter(|d| {
                d.control.package() == name
                    && (d.control.architecture() == arch || d.control.architecture() == "all")
            })
            .max_by(|a, b| version::compare(a.control.version(), b.control.version()))
    }
}

/// The `.deb` files directly in `dir` (regular files, not symlinks).
pub fn listing(dir: &Path) -> Listing {
    let mut out = Listing::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".deb") {
            continue;
        }
        // symlink_metadata: a symlink is not followed, and is skipped.
        match e.path().symlink_metadata() {
            Ok(m) if m.file_type().is_file() => {
                out.insert(name, (m.len(), m.modified().ok()));
            }
            Ok(_) => {
                tracing::warn!(file = %e.path().display(), "not a regular file (symlinks are not followed); skipped")
            }
            Err(err) => {
                tracing::warn!(file = %e.path().display(), error = %err, "unreadable; skipped")
            }
        }
    }
    out
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = open_no_follow(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, hex::encode(h.finalize())))
}

/// Opens a file without following a symlink in its last component.
pub fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The pool path of a package: `pool/main/<initial>/<name>/<name>_<version
/// without epoch>_<arch>.deb`.
fn pool_path(c: &Control) -> String {
    let name = c.package();
    let initial = if name.starts_with("lib") && name.len() > 3 {
        &name[..4]
    } else {
        &name[..1]
    };
    let v = c.version();
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    format!(
        "pool/{COMPONENT}/{initial}/{name}/{name}_{v}_{}.deb",
        c.architecture()
    )
}

/// Reads one `.deb`, reusing `previous`'s hash when the file is unchanged.
fn read_deb(path: &Path, meta: (u64, Option<SystemTime>), previous: Option<&Repo>) -> Option<Deb> {
    if let Some(prev) = previous.and_then(|p| p.debs.values().find(|d| d.file == path))
        && previous.and_then(|p| p.listing.get(&*file_name(path))) == Some(&meta)
    {
        return Some(prev.clone());
    }
    let control = match deb::read_control(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "not a usable Debian package; skipped");
            return None;
        }
    };
    let (size, sha256) = match sha256_file(path) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "unreadable; skipped");
            return None;
        }
    };
    let pool_path = pool_path(&control);
    Some(Deb {
        control,
        file: path.to_path_buf(),
        size,
        sha256,
        pool_path,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The Packages paragraph of one package.
fn paragraph(d: &Deb) -> String {
    let mut s = String::new();
    for (k, v) in &d.control.fields {
        if ["Filename", "Size", "SHA256", "MD5sum", "SHA1"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(k))
        {
            continue;
        }
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push_str(&format!(
        "Filename: {}\nSize: {}\nSHA256: {}\n",
        d.pool_path, d.size, d.sha256
    ));
    s
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Builds the repository from `dir`, signed with `key`. `previous` saves
/// re-hashing unchanged files.
pub fn build(dir: &Path, key: &RepoKey, previous: Option<&Repo>) -> Repo {
    let listing = listing(dir);
    let mut debs: BTreeMap<String, Deb> = BTreeMap::new();
    for (name, meta) in &listing {
        let path = dir.join(name);
        let Some(d) = read_deb(&path, *meta, previous) else {
            continue;
        };
        if let Some(other) = debs.get(&d.pool_path) {
            tracing::warn!(file = %path.display(), same_as = %other.file.display(), "the same package, version and architecture twice; skipped");
            continue;
        }
        debs.insert(d.pool_path.clone(), d);
    }
    let mut arches: BTreeSet<String> = ARCHES.iter().map(ToString::to_string).collect();
    for d in debs.values() {
        if d.control.architecture() != "all" {
            arches.insert(d.control.architecture().to_string());
        }
    }
    let mut files = HashMap::new();
    let mut sums = String::new();
    for arch in &arches {
        let text: Vec<String> = debs
            .values()
            .filter(|d| d.control.architecture() == arch || d.control.architecture() == "all")
            .map(paragraph)
            .collect();
        let packages = text.join("\n").into_bytes();
        let gz = gzip(&packages);
        for (name, data) in [("Packages", packages), ("Packages.gz", gz)] {
            let rel = format!("{COMPONENT}/binary-{arch}/{name}");
            sums.push_str(&format!(
                " {} {:>16} {rel}\n",
                hex::encode(Sha256::digest(&data)),
                data.len()
            ));
            files.insert(format!("dists/{SUITE}/{rel}"), Bytes::from(data));
        }
    }
    let release = release_text(&arches, &sums);
    files.insert(
        format!("dists/{SUITE}/InRelease"),
        Bytes::from(key.clearsign(&release)),
    );
    files.insert(
        format!("dists/{SUITE}/Release.gpg"),
        Bytes::from(key.detached_sign(release.as_bytes())),
    );
    files.insert(format!("dists/{SUITE}/Release"), Bytes::from(release));
    tracing::info!(dir = %dir.display(), packages = debs.len(), "built the apt repository");
    Repo {
        files,
        debs: debs.into_iter().collect(),
        listing,
    }
}

fn release_text(arches: &BTreeSet<String>, sums: &str) -> String {
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S UTC");
    let arches: Vec<&str> = arches.iter().map(String::as_str).collect();
    format!(
        "Origin: Berth\nLabel: Berth\nSuite: {SUITE}\nCodename: {SUITE}\nVersion: {}\n\
         Date: {date}\nArchitectures: {}\nComponents: {COMPONENT}\n\
         Description: Berth's packages, served by berth-server\nSHA256:\n{sums}",
        berth_api::VERSION,
        arches.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(p: &str, v: &str, a: &str) -> Control {
        Control::parse(&format!("Package: {p}\nVersion: {v}\nArchitecture: {a}\n")).unwrap()
    }

    #[test]
    fn pool_paths_drop_the_epoch() {
        assert_eq!(
            pool_path(&control("berth-agent", "1:0.2.0-1", "arm64")),
            "pool/main/b/berth-agent/berth-agent_0.2.0-1_arm64.deb"
        );
        assert_eq!(
            pool_path(&control("libfoo", "1", "amd64")),
            "pool/main/libf/libfoo/libfoo_1_amd64.deb"
        );
    }

    #[test]
    fn an_empty_directory_is_an_empty_signed_repository() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk.deb"), b"not a deb").unwrap();
        let key = RepoKey::generate();
        let r = build(dir.path(), &key, None);
        assert!(r.debs.is_empty());
        assert_eq!(
            r.listing.len(),
            1,
            "the junk is listed (so it is not re-read)"
        );
        let release = std::str::from_utf8(&r.files["dists/berth/Release"]).unwrap();
        assert!(
            release.contains("Architectures: amd64 arm64\n"),
            "{release}"
        );
        assert!(
            release.contains("main/binary-arm64/Packages.gz"),
            "{release}"
        );
        assert!(r.files["dists/berth/main/binary-amd64/Packages"].is_empty());
        assert!(r.newest(AGENT_PACKAGE, "amd64").is_none());
    }
}
