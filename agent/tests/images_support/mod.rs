//! Helpers for the image store's tests: the busybox fixture, hand-made tar
//! archives (raw headers, so names like `../x` survive: the `tar` crate's
//! builder refuses them), `docker save` wrappers and a fingerprint of a
//! directory tree to prove nothing changed outside the store.
//!
//! Other crates that need a busybox image (the e2e tests) can do what
//! [`busybox_tar`] does: run `agent/tests/fixtures/make-busybox-tar.sh OUT`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// True when running as root; otherwise prints why the test is skipped.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        berth_testkit::skip(&format!(
            "{test}: needs root (mknod, chown, overlay mounts)"
        ));
        false
    }
}

/// Builds the busybox `docker save` tarball into `dir` with the fixture
/// script and returns its path.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-busybox-tar.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .expect("run make-busybox-tar.sh");
    assert!(status.success(), "make-busybox-tar.sh failed");
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A tar archive written header by header.
#[derive(Default)]
pub struct RawTar {
    pub buf: Vec<u8>,
}

pub struct Header<'a> {
    pub name: &'a [u8],
    pub kind: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub link: &'a [u8],
    pub major: u32,
    pub minor: u32,
}

impl<'a> Header<'a> {
    pub fn new(name: &'a str, kind: u8) -> Self {
        Self {
            name: name.as_bytes(),
            kind,
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            size: 0,
            link: b"",
            major: 0,
            minor: 0,
        }
    }

    pub fn encode(&self) -> [u8; 512] {
        let mut h = [0u8; 512];
        assert!(self.name.len() <= 100 && self.link.len() <= 100);
        h[..self.name.len()].copy_from_slice(self.name);
        octal(&mut h[100..108], u64::from(self.mode));
        octal(&mut h[108..116], u64::from(self.uid));
        octal(&mut h[116..124], u64::from(self.gid));
        octal(&mut h[124..136], self.size);
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = self.kind;
        h[157..157 + self.link.len()].copy_from_slice(self.link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], u64::from(self.major));
        octal(&mut h[337..345], u64::from(self.minor));
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        let chk = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(chk.as_bytes());
        h
    }
}

fn octal(field: &mut [u8], value: u64) {
    let s = format!("{:0width$o}\0", value, width = field.len() - 1);
    assert_eq!(
        s.len(),
        field.len(),
        "value {value} too large for the field"
    );
    field.copy_from_slice(s.as_bytes());
}

impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header and `data`, padded to a block.
    pub fn raw(&mut self, header: Header<'_>, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(&header.encode());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let mut h = Header::new(name, b'5');
        h.mode = mode;
        self.raw(h, b"")
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.file_mode(name, data, 0o644)
    }

    pub fn file_mode(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        let mut h = Header::new(name, b'0');
        h.mode = mode;
        h.size = data.len() as u64;
        self.raw(h, data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Header::new(name, b'2');
        h.mode = 0o777;
        h.link = target.as_bytes();
        self.raw(h, b"")
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Header::new(name, b'1');
        h.link = target.as_bytes();
        self.raw(h, b"")
    }

    pub fn device(&mut self, name: &str, kind: u8, major: u32, minor: u32) -> &mut Self {
        let mut h = Header::new(name, kind);
        h.mode = 0o600;
        h.major = major;
        h.minor = minor;
        self.raw(h, b"")
    }

    /// The archive with its two zero blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

/// A `docker save` archive (legacy layout) holding one image made of
/// `layers` (uncompressed tars), tagged `tag`.
pub fn docker_save(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    docker_save_with(layers, tag, "{\"Cmd\":[\"sh\"]}")
}

/// As [`docker_save`], with the image config's `config` object given.
pub fn docker_save_with(layers: &[Vec<u8>], tag: &str, config: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("\"sha256:{}\"", sha256_hex(l)))
        .collect();
    let config_json = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{config},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
        diff_ids.join(",")
    );
    let config_hex = sha256_hex(config_json.as_bytes());
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = format!(
        "[{{\"Config\":\"{config_hex}.json\",\"RepoTags\":[\"{tag}\"],\"Layers\":[{}]}}]",
        layer_names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut outer = RawTar::new();
    outer.file(&format!("{config_hex}.json"), config_json.as_bytes());
    for (name, layer) in layer_names.iter().zip(layers) {
        outer.file(name, layer);
    }
    outer.file("manifest.json", manifest.as_bytes());
    outer.finish()
}

/// What a tree looks like: every entry's type, mode, owner, links, size,
/// content digest or link target, keyed by relative path.
pub type Fingerprint = BTreeMap<PathBuf, String>;

/// Fingerprints `root`, skipping the subtree `skip` (the store).
pub fn fingerprint(root: &Path, skip: &Path) -> Fingerprint {
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, skip: &Path, out: &mut Fingerprint) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.starts_with(skip) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let what = if ft.is_symlink() {
            format!("link {}", fs::read_link(&path).unwrap().display())
        } else if ft.is_file() {
            format!("file {}", sha256_hex(&fs::read(&path).unwrap()))
        } else if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {}", meta.rdev())
        } else {
            "other".to_string()
        };
        out.insert(
            path.strip_prefix(root).unwrap().to_path_buf(),
            format!(
                "{what} mode={:o} uid={} nlink={} size={} mtime={}",
                meta.mode(),
                meta.uid(),
                meta.nlink(),
                meta.len(),
                meta.mtime()
            ),
        );
        if ft.is_dir() {
            walk(root, &path, skip, out);
        }
    }
}

/// A `docker-registry` (Debian's distribution 2.8) on a free 127.0.0.1 port
/// with a temporary storage dir, optionally behind htpasswd basic auth.
/// Stopped (killed and reaped) on drop.
pub struct Registry {
    child: std::process::Child,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    pub creds: Option<(String, String)>,
}

impl Registry {
    /// Starts one, or returns `None` (saying why) when the binary is missing.
    pub fn start(creds: Option<(&str, &str)>) -> Option<Self> {
        let bin = "/usr/bin/docker-registry";
        if !Path::new(bin).exists() {
            berth_testkit::skip(&format!(
                "{bin} is not installed (apt-get install docker-registry)"
            ));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = creds {
            let hash = bcrypt::hash(password, 5).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut registry = Self {
            child,
            dir,
            addr,
            creds: creds.map(|(u, p)| (u.to_string(), p.to_string())),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.addr).is_ok() {
                return Some(registry);
            }
            if let Ok(Some(status)) = registry.child.try_wait() {
                // Exited: if the port is taken now, another process took it
                // between free_port() and the registry's bind; again on
                // another port.
                let taken = matches!(
                    std::net::TcpListener::bind(&registry.addr),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
                );
                assert!(taken, "docker-registry exited ({status})");
                drop(registry);
                return Self::start(creds);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("docker-registry did not listen on {}", registry.addr);
    }

    /// Pushes with skopeo from `source` (a skopeo transport reference) to
    /// `<registry>/<name>`; `extra` goes before the arguments.
    pub fn push(&self, source: &str, name: &str, extra: &[&str]) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        cmd.args(extra);
        if let Some((u, p)) = &self.creds {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        cmd.arg(source)
            .arg(format!("docker://{}/{name}", self.addr));
        let out = cmd.output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo push of {source} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The registry's stored copy of a blob.
    pub fn blob_data(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when skopeo is installed; otherwise prints why the test is skipped.
pub fn require_skopeo(test: &str) -> bool {
    let ok = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        berth_testkit::skip(&format!("{test}: skopeo is not installed"));
    }
    ok
}

/// Writes an OCI layout at `dir` whose tag `latest` is an image index of one
/// image per `(architecture, layer tar)`.
pub fn write_multiarch_layout(dir: &Path, images: &[(&str, Vec<u8>)]) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut entries = Vec::new();
    for (arch, layer) in images {
        let (layer_digest, layer_size) = put(layer);
        let config = format!(
            "{{\"architecture\":\"{arch}\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"sh\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{layer_digest}\"]}}}}"
        );
        let (config_digest, config_size) = put(config.as_bytes());
        let manifest = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{config_digest}\",\"size\":{config_size}}},\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{layer_digest}\",\"size\":{layer_size}}}]}}"
        );
        let (m_digest, m_size) = put(manifest.as_bytes());
        entries.push(format!(
            "{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{m_digest}\",\"size\":{m_size},\"platform\":{{\"architecture\":\"{arch}\",\"os\":\"linux\"}}}}"
        ));
    }
    let index = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{}]}}",
        entries.join(",")
    );
    let (i_digest, i_size) = put(index.as_bytes());
    fs::write(
        dir.join("index.json"),
        format!(
            "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"{i_digest}\",\"size\":{i_size},\"annotations\":{{\"org.opencontainers.image.ref.name\":\"latest\"}}}}]}}"
        ),
    )
    .unwrap();
    fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
}
