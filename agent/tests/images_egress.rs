//! Pulls can't reach internal services (SSRF): a registry on loopback (by
//! address or by a name that resolves there) is refused unless the request
//! allows internal registries (the server sets that from the host's
//! setting); a registry that redirects, or sends its token realm, to an
//! internal address is refused mid-pull; a registry's error body is not
//! echoed. The mid-pull cases run in a scratch network namespace where the
//! "registry" has a non-loopback address (10.231.0.1) and the internal
//! target is that namespace's own loopback.

mod images_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_agent::images::{Error, ImageStore, http};
use berth_api::images::{PullProgress, PullRequest};
use images_support::require_root;

fn request(reference: String, allow_internal: bool) -> PullRequest {
    PullRequest {
        reference,
        auth: None,
        insecure: true,
        allow_internal_registries: allow_internal,
    }
}

/// A tiny HTTP server on `addr` answering every request with `answer(path)`
/// (a whole HTTP response), counting requests. Runs on its own thread until
/// the process ends (tests are short).
fn http_server(
    addr: &str,
    answer: impl Fn(&str) -> String + Send + 'static,
) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind(addr).unwrap();
    let bound = l.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { break };
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let head = String::from_utf8_lossy(&buf).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            let _ = c.write_all(answer(&path).as_bytes());
        }
    });
    (bound, hits)
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

async fn pull(store: &ImageStore, req: &PullRequest) -> Result<berth_api::images::Image, Error> {
    let sink = |_: PullProgress| {};
    store.pull(req, &sink).await
}

#[tokio::test]
async fn loopback_registries_are_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("images")).unwrap();
    // An "internal service" on loopback that would answer anything.
    let (addr, hits) = http_server("127.0.0.1:0", |_| {
        response(
            "404 Not Found",
            &[("Content-Type", "application/json")],
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}"#,
        )
    });
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    // (0.0.0.0 reaches the local host on Linux.)
    for registry in [
        addr.clone(),
        format!("localhost:{port}"),
        format!("0.0.0.0:{port}"),
    ] {
        let e = pull(&store, &request(format!("{registry}/x/y:1"), false))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InternalRegistry(_)), "{registry}: {e:?}");
        assert_eq!(e.status(), 422);
        let d = e.to_string();
        assert!(
            (d.contains("loopback") || d.contains("unspecified"))
                && d.contains("allow_internal_registries"),
            "{d}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a refused pull connected");

    // The agent's endpoint: a 422 problem before any event.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = http::router().with_state(Arc::new(ImageStore::open(tmp.path().join("i2")).unwrap()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    berth_net::install_providers();
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/images/pull"))
        .json(&request(format!("localhost:{port}/x/y:1"), false))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let p: berth_api::Problem = res.json().await.unwrap();
    assert!(p.detail.contains("loopback"), "{}", p.detail);
    server.abort();
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Allowed: the pull reaches the registry (which has no such image).
    let e = pull(&store, &request(format!("{addr}/x/y:1"), true))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnknownRemote(_)), "{e:?}");
    assert!(hits.load(Ordering::SeqCst) > 0);
}

/// A scratch network namespace with lo and a veth pair, one end at 10.231.0.1,
/// deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        let name = format!("berth-test-egress-{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name.clone());
        let run = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &name, "ip"];
            a.extend_from_slice(args);
            ok(&a)
        };
        (run(&["link", "set", "lo", "up"])
            && run(&["link", "add", "e0", "type", "veth", "peer", "name", "e1"])
            && run(&["addr", "add", "10.231.0.1/24", "dev", "e0"])
            && run(&["link", "set", "e0", "up"])
            && run(&["link", "set", "e1", "up"]))
        .then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `f` on a thread inside the namespace, with its own runtime.
fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{}", ns.0);
    std::thread::spawn(move || {
        let file = std::fs::File::open(path).expect("netns file");
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

#[test]
fn redirects_and_token_realms_to_internal_addresses_are_refused() {
    if !require_root("redirects_and_token_realms_to_internal_addresses_are_refused") {
        return;
    }
    let Some(ns) = Netns::create() else {
        berth_testkit::skip("cannot create a network namespace with a veth pair (ip netns)");
        return;
    };
    in_netns(&ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let tmp = tempfile::tempdir().unwrap();
            let store = ImageStore::open(tmp.path().join("images")).unwrap();
            // The internal service: this namespace's loopback.
            let (internal, internal_hits) = http_server("127.0.0.1:0", |_| {
                response("200 OK", &[("Content-Type", "application/json")], r#"{"token":"t"}"#)
            });
            // A "public" registry that redirects the manifest to it.
            let target = format!("http://{internal}/secret");
            let (public, public_hits) = http_server("10.231.0.1:0", move |path| {
                if path == "/v2/" {
                    response("200 OK", &[], "")
                } else {
                    response("307 Temporary Redirect", &[("Location", &target)], "")
                }
            });
            let e = pull(&store, &request(format!("{public}/x/y:1"), false))
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InternalRegistry(_)), "redirect: {e:?}");
            assert!(e.to_string().contains("loopback"), "{e}");
            assert!(public_hits.load(Ordering::SeqCst) > 0, "the public registry was not reached");
            assert_eq!(internal_hits.load(Ordering::SeqCst), 0, "the redirect was followed");

            // A token realm on the internal address.
            let realm = format!("Bearer realm=\"http://{internal}/token\",service=\"r\"");
            let (public, _) = http_server("10.231.0.1:0", move |_| {
                response("401 Unauthorized", &[("WWW-Authenticate", &realm)], "")
            });
            let e = pull(&store, &request(format!("{public}/x/y:1"), false))
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InternalRegistry(_)), "realm: {e:?}");
            assert_eq!(internal_hits.load(Ordering::SeqCst), 0, "the realm was fetched");

            // A registry error body (HTML with a secret) is not echoed.
            let (public, _) = http_server("10.231.0.1:0", |_| {
                response("500 Internal Server Error", &[("Content-Type", "text/html")],
                    "<html><body>db password: hunter2 at 10.0.0.9</body></html>")
            });
            let e = pull(&store, &request(format!("{public}/x/y:1"), false))
                .await
                .unwrap_err();
            let d = e.to_problem().detail;
            assert!(!d.contains("hunter2") && !d.contains("<html"), "{d}");
            assert!(d.contains("500"), "{d}");
            // And an OCI error JSON is reduced to a short, plain code and message.
            let (public, _) = http_server("10.231.0.1:0", |_| {
                response("400 Bad Request", &[("Content-Type", "application/json")],
                    r#"{"errors":[{"code":"UNSUPPORTED","message":"<script>alert(1)</script> nope"}]}"#)
            });
            let e = pull(&store, &request(format!("{public}/x/y:1"), false))
                .await
                .unwrap_err();
            let d = e.to_problem().detail;
            assert!(!d.contains("<script"), "{d}");

            // With the host's permission the redirect is followed.
            let target = format!("http://{internal}/secret");
            let (public, _) = http_server("10.231.0.1:0", move |path| {
                if path == "/v2/" {
                    response("200 OK", &[], "")
                } else {
                    response("307 Temporary Redirect", &[("Location", &target)], "")
                }
            });
            let _ = pull(&store, &request(format!("{public}/x/y:1"), true)).await;
            assert!(internal_hits.load(Ordering::SeqCst) > 0, "allowed redirect not followed");
        });
    });
}
