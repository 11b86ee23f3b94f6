//! Pulls from a real registry: Debian's `docker-registry` on 127.0.0.1 with
//! a temporary storage dir, images pushed with skopeo. Covers progress,
//! pulls by tag and digest, a multi-layer image with whiteouts (zstd), a
//! multi-arch index, basic and bearer auth, the errors a pull can end with,
//! an interrupted pull and its retry, and the SSE endpoint.

mod images_support;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_agent::images::{Error, ImageStore, http};
use berth_api::images::{PullProgress, PullRequest, RegistryAuth};
use images_support::{
    RawTar, Registry, busybox_tar, docker_save, free_port, require_root, require_skopeo,
    sha256_hex, write_multiarch_layout,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn request(reference: String) -> PullRequest {
    PullRequest {
        reference,
        auth: None,
        insecure: true,
        // The test registry is on 127.0.0.1.
        allow_internal_registries: true,
    }
}

/// Pulls and returns the result with every progress event.
async fn pull(
    store: &ImageStore,
    req: &PullRequest,
) -> (Result<berth_api::images::Image, Error>, Vec<PullProgress>) {
    let events = Mutex::new(Vec::new());
    let sink = |p: PullProgress| events.lock().unwrap().push(p);
    let result = store.pull(req, &sink).await;
    (result, events.into_inner().unwrap())
}

fn ready(test: &str) -> bool {
    require_root(test) && require_skopeo(test)
}

/// Nothing half-made: no temporary files, every blob matches its name and
/// every snapshot is complete.
fn assert_store_consistent(root: &Path) {
    assert_eq!(
        fs::read_dir(root.join("tmp")).unwrap().count(),
        0,
        "tmp/ is not empty"
    );
    for entry in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(sha256_hex(&fs::read(entry.path()).unwrap()), name);
    }
    for entry in fs::read_dir(root.join("snapshots")).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.path().join("fs").is_dir());
        assert!(entry.path().join("size").is_file());
    }
}

#[tokio::test]
async fn pulls_busybox_by_tag_and_digest_with_progress_and_runs_it() {
    if !ready("pulls_busybox_by_tag_and_digest_with_progress_and_runs_it") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tar(tmp.path());
    registry.push(
        &format!("docker-archive:{}", tar.display()),
        "library/busybox:1.0",
        &[],
    );
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let reference = format!("{}/library/busybox:1.0", registry.addr);
    let (image, events) = pull(&store, &request(reference.clone())).await;
    let image = image.unwrap();
    assert_eq!(image.references, std::slice::from_ref(&reference));
    assert_eq!(image.layers.len(), 1);

    // Progress: resolving, then per layer waiting → downloading (with
    // sizes) → extracting → complete.
    assert_eq!(events[0].status, "resolving");
    let layer_events: Vec<&PullProgress> = events.iter().filter(|e| !e.layer.is_empty()).collect();
    let statuses: Vec<&str> = layer_events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses.first(), Some(&"waiting"));
    assert!(statuses.contains(&"downloading"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"complete"));
    let total = layer_events[0].total;
    assert!(total > 500_000, "{total}");
    let downloading: Vec<u64> = layer_events
        .iter()
        .filter(|e| e.status == "downloading")
        .map(|e| e.current)
        .collect();
    assert!(downloading.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*downloading.last().unwrap(), total);

    // Again: everything exists.
    let (again, events) = pull(&store, &request(reference.clone())).await;
    assert_eq!(again.unwrap().id, image.id);
    assert!(events.iter().any(|e| e.status == "exists"));

    // By digest: the manifest digest the registry has.
    let digest = {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let by_digest = format!("{}/library/busybox@{digest}", registry.addr);
    let (same, _) = pull(&store, &request(by_digest.clone())).await;
    let same = same.unwrap();
    assert_eq!(same.id, image.id);
    assert!(store.get(&by_digest).is_ok());
    assert_store_consistent(&tmp.path().join("images"));

    // A container rootfs from the pulled image runs busybox.
    let container = tmp.path().join("c");
    let rootfs = store.mount_rootfs(&reference, &container).unwrap();
    let out = std::process::Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/sh", "-c", "echo pulled"])
        .output();
    store.unmount_rootfs(&container).unwrap();
    let out = out.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pulled\n");
}

#[tokio::test]
async fn pulls_a_multi_layer_zstd_image_with_whiteouts() {
    if !ready("pulls_a_multi_layer_zstd_image_with_whiteouts") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut base = RawTar::new();
    base.dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .file("etc/group", b"root:x:0:\n")
        .dir("home", 0o755)
        .file("home/old", b"old");
    let mut middle = RawTar::new();
    middle
        .file("etc/.wh.group", b"")
        .dir("home", 0o755)
        .file("home/.wh..wh..opq", b"")
        .file("home/new", b"new");
    let mut top = RawTar::new();
    top.file_mode("usr/bin/tool", &vec![42u8; 300_000], 0o4755);
    let archive = tmp.path().join("layers.tar");
    fs::write(
        &archive,
        docker_save(&[base.finish(), middle.finish(), top.finish()], "layers:1"),
    )
    .unwrap();
    registry.push(
        &format!("docker-archive:{}", archive.display()),
        "test/layers:1",
        &["--dest-compress-format", "zstd"],
    );
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let reference = format!("{}/test/layers:1", registry.addr);
    let (image, _) = pull(&store, &request(reference.clone())).await;
    let image = image.unwrap();
    assert_eq!(image.layers.len(), 3);
    let state = fs::read_to_string(tmp.path().join("images/state.json")).unwrap();
    assert_eq!(state.matches("tar+zstd").count(), 3, "{state}");

    let container = tmp.path().join("c");
    let rootfs = store.mount_rootfs(&reference, &container).unwrap();
    let checks = || {
        assert!(rootfs.join("etc/passwd").is_file());
        assert!(!rootfs.join("etc/group").exists());
        assert!(!rootfs.join("home/old").exists());
        assert_eq!(fs::read(rootfs.join("home/new")).unwrap(), b"new");
        let tool = fs::metadata(rootfs.join("usr/bin/tool")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(tool.permissions().mode() & 0o7777, 0o4755);
    };
    let result = std::panic::catch_unwind(checks);
    store.unmount_rootfs(&container).unwrap();
    result.unwrap();
}

#[tokio::test]
async fn a_multi_arch_index_gives_the_host_platform() {
    if !ready("a_multi_arch_index_gives_the_host_platform") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other_arch = if host_arch == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    let layer = |arch: &str| {
        let mut t = RawTar::new();
        t.file("arch", arch.as_bytes());
        t.finish()
    };
    let layout = tmp.path().join("layout");
    write_multiarch_layout(
        &layout,
        &[
            (other_arch, layer(other_arch)),
            (host_arch, layer(host_arch)),
            ("s390x", layer("s390x")),
        ],
    );
    registry.push(
        &format!("oci:{}:latest", layout.display()),
        "test/multi:latest",
        &["--all"],
    );
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let (image, _) = pull(
        &store,
        &request(format!("{}/test/multi:latest", registry.addr)),
    )
    .await;
    let image = image.unwrap();
    assert_eq!(image.architecture.as_deref(), Some(host_arch));
    let resolved = store.resolve(&image.id).unwrap();
    assert_eq!(
        fs::read(resolved.layers[0].join("arch")).unwrap(),
        host_arch.as_bytes()
    );

    // An index without this host's platform: a clear 422.
    let layout2 = tmp.path().join("layout2");
    write_multiarch_layout(&layout2, &[("s390x", layer("s390x"))]);
    registry.push(
        &format!("oci:{}:latest", layout2.display()),
        "test/foreign:latest",
        &["--all"],
    );
    let (err, _) = pull(
        &store,
        &request(format!("{}/test/foreign:latest", registry.addr)),
    )
    .await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("s390x"), "{err}");
}

#[tokio::test]
async fn basic_auth_is_used_and_refusals_are_clear() {
    if !ready("basic_auth_is_used_and_refusals_are_clear") {
        return;
    }
    let Some(registry) = Registry::start(Some(("alice", "s3cret"))) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut t = RawTar::new();
    t.file("hello", b"auth");
    let archive = tmp.path().join("a.tar");
    fs::write(&archive, docker_save(&[t.finish()], "private:1")).unwrap();
    registry.push(
        &format!("docker-archive:{}", archive.display()),
        "team/private:1",
        &[],
    );
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let reference = format!("{}/team/private:1", registry.addr);

    let (err, _) = pull(&store, &request(reference.clone())).await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::AuthRefused(_)), "{err}");
    assert_eq!(err.status(), 401);

    let mut wrong = request(reference.clone());
    wrong.auth = Some(RegistryAuth::Basic {
        username: "alice".into(),
        password: "wrong".into(),
    });
    let (err, _) = pull(&store, &wrong).await;
    assert!(matches!(err.unwrap_err(), Error::AuthRefused(_)));

    let mut right = request(reference.clone());
    right.auth = Some(RegistryAuth::Basic {
        username: "alice".into(),
        password: "s3cret".into(),
    });
    let (image, _) = pull(&store, &right).await;
    let image = image.unwrap();
    let resolved = store.resolve(&image.id).unwrap();
    assert_eq!(fs::read(resolved.layers[0].join("hello")).unwrap(), b"auth");
    assert_store_consistent(&tmp.path().join("images"));
}

#[tokio::test]
async fn failures_are_clear_and_leave_nothing_half_made() {
    if !ready("failures_are_clear_and_leave_nothing_half_made") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let root = tmp.path().join("images");

    // Unknown repository and unknown tag: 404.
    for name in ["nothing/here:1", "library/busybox:nope"] {
        let (err, _) = pull(&store, &request(format!("{}/{name}", registry.addr))).await;
        let err = err.unwrap_err();
        assert!(matches!(err, Error::UnknownRemote(_)), "{name}: {err}");
        assert_eq!(err.status(), 404);
    }

    // Unreachable registry: 502 saying so.
    let closed = format!("127.0.0.1:{}/x/y:1", free_port());
    let (err, _) = pull(&store, &request(closed)).await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::Registry(_)), "{err}");
    assert_eq!(err.status(), 502);
    assert!(err.to_string().contains("unreachable"), "{err}");

    // Plain HTTP only when asked: the same registry without `insecure`.
    let mut t = RawTar::new();
    t.file("data", &vec![7u8; 200_000]);
    let layer = t.finish();
    let archive = tmp.path().join("d.tar");
    fs::write(&archive, docker_save(std::slice::from_ref(&layer), "d:1")).unwrap();
    registry.push(
        &format!("docker-archive:{}", archive.display()),
        "test/d:1",
        &[],
    );
    let reference = format!("{}/test/d:1", registry.addr);
    let mut secure = request(reference.clone());
    secure.insecure = false;
    let (err, _) = pull(&store, &secure).await;
    assert!(matches!(err.unwrap_err(), Error::Registry(_)));

    // A corrupted blob in the registry: digest mismatch, no image, no blob.
    let layer_hex = manifest_layers(&registry, "test/d:1").remove(0);
    let data = registry.blob_data(&layer_hex);
    let mut bytes = fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&data, &bytes).unwrap();
    let (err, _) = pull(&store, &request(reference.clone())).await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert!(!root.join("blobs/sha256").join(&layer_hex).exists());
    assert!(!root.join("snapshots").join(&layer_hex).exists());
    assert_store_consistent(&root);

    // Bad references are refused before any network use.
    let err = store
        .pull(&request("UPPER/case".into()), &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
}

/// The layer digests (hex) of `name`'s manifest in the registry.
fn manifest_layers(registry: &Registry, name: &str) -> Vec<String> {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{name}", registry.addr))
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap()[7..].to_string())
        .collect()
}

/// A TCP relay that, while `cut` is non-zero, closes any connection after
/// relaying that many bytes towards the client.
async fn cutting_proxy(upstream: String) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cut = Arc::new(AtomicU64::new(0));
    let limit = cut.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let limit = limit.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::io::copy(&mut cr, &mut sw);
                let down = async {
                    let mut buf = vec![0u8; 16 << 10];
                    let mut sent = 0u64;
                    loop {
                        let n = sr.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        let max = limit.load(Ordering::SeqCst);
                        if max > 0 && sent + n as u64 > max {
                            // Less than `n`, a usize: it fits.
                            let keep = usize::try_from(max - sent).expect("below n");
                            cw.write_all(&buf[..keep]).await?;
                            return Ok(());
                        }
                        cw.write_all(&buf[..n]).await?;
                        sent += n as u64;
                    }
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    (addr, cut)
}

#[tokio::test]
async fn an_interrupted_pull_can_be_retried() {
    if !ready("an_interrupted_pull_can_be_retried") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut small = RawTar::new();
    small.file("small", b"small layer");
    let mut big = RawTar::new();
    // Incompressible: the registry gets it gzipped at about this size.
    let noise: Vec<u8> = (0..100_000u32)
        .flat_map(|i| <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()))
        .collect();
    big.file("big", &noise);
    let archive = tmp.path().join("i.tar");
    fs::write(
        &archive,
        docker_save(&[small.finish(), big.finish()], "i:1"),
    )
    .unwrap();
    registry.push(
        &format!("docker-archive:{}", archive.display()),
        "test/interrupt:1",
        &[],
    );
    let (proxy, cut) = cutting_proxy(registry.addr.clone()).await;
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let root = tmp.path().join("images");
    let reference = format!("{proxy}/test/interrupt:1");

    cut.store(1_000_000, Ordering::SeqCst);
    let (err, events) = pull(&store, &request(reference.clone())).await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::Registry(_)), "{err}");
    assert!(
        events
            .iter()
            .any(|e| e.status == "downloading" && e.current > 0 && e.current < e.total),
        "the pull was cut halfway"
    );
    assert!(store.list().unwrap().is_empty());
    assert_store_consistent(&root);

    cut.store(0, Ordering::SeqCst);
    let (image, _) = pull(&store, &request(reference.clone())).await;
    let image = image.unwrap();
    let resolved = store.resolve(&image.id).unwrap();
    assert_eq!(fs::read(resolved.layers[1].join("big")).unwrap(), noise);
    assert_store_consistent(&root);
}

#[tokio::test]
async fn pull_over_http_streams_sse_progress() {
    if !ready("pull_over_http_streams_sse_progress") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tar(tmp.path());
    registry.push(
        &format!("docker-archive:{}", tar.display()),
        "library/busybox:sse",
        &[],
    );
    let store = Arc::new(ImageStore::open(tmp.path().join("images")).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = http::router().with_state(store.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    berth_net::install_providers();
    let client = reqwest::Client::new();

    let res = client
        .post(format!("{base}/v1/images/pull"))
        .json(&request(format!("{}/library/busybox:sse", registry.addr)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = res.text().await.unwrap();
    let events: Vec<PullProgress> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "{}")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(events.iter().any(|e| e.status == "downloading"));
    let last = events.last().unwrap();
    assert_eq!(last.status, "done");
    assert_eq!(
        last.image.as_ref().unwrap().references,
        [format!("{}/library/busybox:sse", registry.addr)]
    );
    assert!(text.trim_end().ends_with("event: end\ndata: {}"), "{text}");

    // A failure is the last event, with a problem.
    let res = client
        .post(format!("{base}/v1/images/pull"))
        .json(&request(format!("{}/library/none:1", registry.addr)))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    let last: PullProgress = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "{}")
        .map(|d| serde_json::from_str(d).unwrap())
        .next_back()
        .unwrap();
    assert_eq!(last.status, "error");
    assert_eq!(last.error.unwrap().status, 404);

    // Bad bodies: 400 problem+json before any stream.
    for body in [
        "{\"reference\": 5}",
        "not json",
        "{\"reference\": \"NO SUCH\"}",
    ] {
        let res = client
            .post(format!("{base}/v1/images/pull"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let problem: berth_api::Problem = res.json().await.unwrap();
        assert!(!problem.detail.is_empty());
    }
    server.abort();
}

/// A registry front that wants bearer tokens, as Docker Hub does: `/v2/`
/// answers 401 with a `Bearer realm=".../token"` challenge, `/token` trades
/// basic credentials `alice:s3cret` for the token `tok-123`, and requests
/// carrying that token are relayed to the (open) registry behind.
async fn bearer_front(upstream: String) -> String {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use base64::Engine as _;

    #[derive(Clone)]
    struct Front {
        upstream: String,
        realm: String,
        client: reqwest::Client,
    }
    async fn handle(State(front): State<Front>, req: Request) -> Response {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if path.starts_with("/token") {
            let good = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
            );
            return if auth == good {
                axum::Json(serde_json::json!({"token": "tok-123"})).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "bad credentials").into_response()
            };
        }
        if auth != "Bearer tok-123" {
            let mut res = (StatusCode::UNAUTHORIZED, "token required").into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!(
                    "Bearer realm=\"{}\",service=\"berth-test\"",
                    front.realm
                ))
                .unwrap(),
            );
            return res;
        }
        let mut forward = front.client.request(
            req.method().clone(),
            format!("http://{}{path}", front.upstream),
        );
        for (name, value) in req.headers() {
            if name != header::HOST && name != header::AUTHORIZATION {
                forward = forward.header(name, value);
            }
        }
        let upstream = forward.send().await.unwrap();
        let mut res = Response::builder().status(upstream.status().as_u16());
        for (name, value) in upstream.headers() {
            res = res.header(name, value);
        }
        res.body(Body::from_stream(upstream.bytes_stream()))
            .unwrap()
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let front = Front {
        upstream,
        realm: format!("http://{addr}/token"),
        client: {
            berth_net::install_providers();
            reqwest::Client::new()
        },
    };
    let app = axum::Router::new().fallback(handle).with_state(front);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

#[tokio::test]
async fn bearer_token_auth_works_both_ways() {
    if !ready("bearer_token_auth_works_both_ways") {
        return;
    }
    let Some(registry) = Registry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut t = RawTar::new();
    t.file("hello", b"bearer");
    let archive = tmp.path().join("b.tar");
    fs::write(&archive, docker_save(&[t.finish()], "b:1")).unwrap();
    registry.push(
        &format!("docker-archive:{}", archive.display()),
        "team/tokened:1",
        &[],
    );
    let front = bearer_front(registry.addr.clone()).await;
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    let reference = format!("{front}/team/tokened:1");

    // Anonymous: the token server refuses.
    let (err, _) = pull(&store, &request(reference.clone())).await;
    let err = err.unwrap_err();
    assert!(matches!(err, Error::AuthRefused(_)), "{err}");

    // A wrong token given directly.
    let mut wrong = request(reference.clone());
    wrong.auth = Some(RegistryAuth::Bearer {
        token: "tok-999".into(),
    });
    let (err, _) = pull(&store, &wrong).await;
    assert!(matches!(err.unwrap_err(), Error::AuthRefused(_)));

    // Basic credentials traded for a token at the realm.
    let mut basic = request(reference.clone());
    basic.auth = Some(RegistryAuth::Basic {
        username: "alice".into(),
        password: "s3cret".into(),
    });
    let (image, _) = pull(&store, &basic).await;
    let image = image.unwrap();
    store.remove(&image.id).unwrap();

    // The token itself.
    let mut token = request(reference.clone());
    token.auth = Some(RegistryAuth::Bearer {
        token: "tok-123".into(),
    });
    let (image, _) = pull(&store, &token).await;
    let resolved = store.resolve(&image.unwrap().id).unwrap();
    assert_eq!(
        fs::read(resolved.layers[0].join("hello")).unwrap(),
        b"bearer"
    );
}
