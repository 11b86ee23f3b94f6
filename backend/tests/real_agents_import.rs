//! A large image import through the server to a REAL `berth-agent`: the
//! tarball (busybox plus a layer of 64 MiB of random bytes, built in a temp
//! dir) arrives intact, its image runs, and the server streams it: the test
//! process (server, and the client reading the file) grows by far less
//! than the upload. It is the only test of its binary, so (under nextest,
//! or `cargo test --test real_agents_import`) the process's memory is its
//! own.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use berth_testkit::as_f64;
use common::real_agent::{Served, agent_bin, busybox_tar};
use common::wait_until;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Random bytes in the big layer: over 64 MiB, not a round number.
const RANDOM_BYTES: u64 = (64 << 20) + 4099;
/// The most the test process may grow while the import runs.
const MAX_GROWTH: u64 = 32 << 20;
const REFERENCE: &str = "berth-test/big:latest";

/// A `docker save` tarball of busybox plus one big random layer.
struct BigImage {
    tar: PathBuf,
    /// sha256 of the random file `/big/blob` in the image.
    blob_sha256: String,
    /// `sha256:<hex>` of the big layer (its diff id).
    diff_id: String,
}

/// Streams `src` into `dst` while hashing it; the hex sha256.
fn copy_hashing(mut src: impl Read, mut dst: impl Write) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        dst.write_all(&buf[..n]).expect("write");
    }
    hex::encode(h.finalize())
}

/// Writes `n` random bytes to `path` (1 MiB at a time); their sha256.
fn random_file(path: &Path, n: u64) -> String {
    let mut f = std::fs::File::create(path).expect("create the random file");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        rand::rng().fill_bytes(&mut buf[..k]);
        h.update(&buf[..k]);
        f.write_all(&buf[..k]).expect("write random");
        left -= k as u64;
    }
    hex::encode(h.finalize())
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(kind);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Builds the big image in `dir` from the busybox tarball, streaming the
/// large parts through files (nothing big is held in memory).
fn build_big_image(busybox: &Path, dir: &Path) -> BigImage {
    // The busybox image is small: read it whole.
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(busybox).expect("busybox tar"));
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("name").to_string_lossy().into_owned();
        let mut v = Vec::new();
        e.read_to_end(&mut v).expect("read entry");
        files.insert(name, v);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    let base_layer = manifest[0]["Layers"][0]
        .as_str()
        .expect("layer")
        .to_string();
    let mut config: Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().expect("config")])
            .expect("config");

    // The big layer: /big/blob, random.
    let blob = dir.join("blob");
    let blob_sha256 = random_file(&blob, RANDOM_BYTES);
    let layer = dir.join("layer.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&layer).expect("layer"));
        b.append_data(
            &mut header(0, 0o755, tar::EntryType::Directory),
            "big/",
            std::io::empty(),
        )
        .expect("dir");
        let f = std::fs::File::open(&blob).expect("blob");
        b.append_data(
            &mut header(RANDOM_BYTES, 0o644, tar::EntryType::Regular),
            "big/blob",
            f,
        )
        .expect("blob entry");
        b.into_inner()
            .expect("finish layer")
            .sync_all()
            .expect("sync");
    }
    std::fs::remove_file(&blob).expect("rm blob");
    let layer_hex = copy_hashing(std::fs::File::open(&layer).expect("layer"), std::io::sink());
    let diff_id = format!("sha256:{layer_hex}");
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .expect("diff_ids")
        .push(json!(diff_id));
    config["history"]
        .as_array_mut()
        .expect("history")
        .push(json!({"created": "2024-01-01T00:00:00Z", "created_by": "64 MiB of random bytes"}));
    let config = serde_json::to_vec(&config).expect("config json");
    let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
    let big_layer = format!("{layer_hex}/layer.tar");
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name, "RepoTags": [REFERENCE], "Layers": [base_layer, big_layer]
    }]))
    .expect("manifest json");

    let tar = dir.join("image.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar).expect("image tar"));
    for (name, data) in [
        ("manifest.json", &manifest),
        (config_name.as_str(), &config),
        (base_layer.as_str(), &files[&base_layer]),
    ] {
        let mut h = header(data.len() as u64, 0o644, tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice()).expect("entry");
    }
    let len = std::fs::metadata(&layer).expect("layer size").len();
    let f = std::fs::File::open(&layer).expect("layer");
    b.append_data(
        &mut header(len, 0o644, tar::EntryType::Regular),
        &big_layer,
        f,
    )
    .expect("big layer entry");
    b.into_inner()
        .expect("finish image")
        .sync_all()
        .expect("sync");
    std::fs::remove_file(&layer).expect("rm layer");
    BigImage {
        tar,
        blob_sha256,
        diff_id,
    }
}

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Samples this process's resident set every 5 ms until stopped; the peak.
fn rss_sampler() -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            peak.fetch_max(status_bytes("VmRSS"), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak.load(Ordering::Relaxed)
    });
    (stop, h)
}

const MIB: f64 = 1048576.0;

/// The server (in this process) relays a 64 MiB+ import to a real agent
/// without holding it: the process's peak resident set grows by less than
/// 32 MiB; the image arrives whole (its big layer has the digest computed
/// here, and a container of it reads the random file back with the same
/// sha256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_import_streams_through_the_server_to_a_real_agent() {
    let Some(bin) = agent_bin() else { return };
    let Some(busybox) = busybox_tar() else { return };
    let work = tempfile::Builder::new()
        .prefix("berth-big-import-")
        .tempdir()
        .expect("tempdir");
    let img = build_big_image(&busybox, work.path());
    let size = std::fs::metadata(&img.tar).unwrap().len();
    assert!(size > 64 << 20, "{size}");

    let s = Served::start(|_| {}).await;
    let owner = s.t.owner().await;
    let a = s.join_agent(&owner, &bin, "importer").await;

    // Peak RSS from here on: the kernel's high-water mark, reset (5 >
    // clear_refs), and a sampler besides in case the reset is refused.
    let before = status_bytes("VmRSS");
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (stop, sampler) = rss_sampler();
    let r = s.import_file(&owner.token, &a.host_id, &img.tar).await;
    stop.store(true, Ordering::Relaxed);
    let sampled = sampler.join().expect("sampler");
    let peak = if hwm_reset {
        sampled.max(status_bytes("VmHWM"))
    } else {
        sampled
    };
    assert_eq!(r.status, 201, "{}\n{}", r.text, a.log());
    let growth = peak.saturating_sub(before);
    eprintln!(
        "imported {:.1} MiB: RSS before {:.1} MiB, peak {:.1} MiB (growth {:.1} MiB; HWM reset: {hwm_reset})",
        as_f64(size) / MIB,
        as_f64(before) / MIB,
        as_f64(peak) / MIB,
        as_f64(growth) / MIB
    );
    assert!(
        growth < MAX_GROWTH,
        "the process grew by {:.1} MiB relaying a {:.1} MiB import: it is not streamed",
        as_f64(growth) / MIB,
        as_f64(size) / MIB
    );

    // Listed, with the big layer's digest.
    let r =
        s.t.get(&format!("/api/v1/hosts/{}/images", a.host_id), &owner.token)
            .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let images = r.json()["items"].as_array().cloned().unwrap_or_default();
    let image = images
        .iter()
        .find(|i| i["references"].to_string().contains("berth-test/big"))
        .unwrap_or_else(|| panic!("the image is not listed: {images:?}"));
    assert_eq!(image["layers"].as_array().map(Vec::len), Some(2), "{image}");
    assert_eq!(image["layers"][1], img.diff_id.as_str(), "{image}");
    assert!(
        image["size_bytes"].as_u64() >= Some(RANDOM_BYTES),
        "{image}"
    );

    // Usable: a container of it reads the random file back.
    let spec = json!({"name": "reader", "image": REFERENCE,
        "cmd": ["sha256sum", "/big/blob"], "network": "none"});
    s.run_container(&owner.token, &a.host_id, spec).await;
    let logs = format!("/api/v1/hosts/{}/containers/reader/logs", a.host_id);
    let want = format!("{}  /big/blob", img.blob_sha256);
    wait_until(
        "the container's sha256sum",
        Duration::from_secs(60),
        || async {
            let r = s.t.get(&logs, &owner.token).await;
            r.status.as_u16() == 200
                && r.json()["items"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["text"] == want.as_str()))
        },
    )
    .await;
    drop(work);
}
