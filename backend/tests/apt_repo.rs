//! The server's own apt repository and the one-line install, against the
//! real tools a Debian host uses: `dpkg-deb` builds the packages, `curl`
//! fetches with the certificate pin, Debian's `gpgv` checks the
//! signatures, and `apt-get` (in a sandbox of its own: sources, state,
//! cache and keys under a temp dir, never the system's) updates and
//! downloads over HTTPS from the test server with exactly the source and
//! apt setting the install script writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Backend, TestApp};
use serde_json::json;

/// A server on a real socket (HTTPS), its packages dir and scratch space.
struct Server {
    t: TestApp,
    url: String,
    packages: PathBuf,
    scratch: tempfile::TempDir,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scratch = tempfile::tempdir().unwrap();
    let packages = scratch.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let (u, p) = (url.clone(), packages.clone());
    let t = TestApp::with_config(Backend::Sqlite, move |c| {
        c.public_url = Some(u);
        c.packages_dir = Some(p);
    })
    .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(berth_server::server::serve(
        listener,
        t.app.clone(),
        t.state.identity.server_config().unwrap(),
        shutdown.clone(),
    ));
    Server {
        t,
        url,
        packages,
        scratch,
        shutdown,
    }
}

impl Server {
    fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    fn pin(&self) -> String {
        self.t.state.server_cert.curl_pin()
    }

    /// `curl` with the server's pin (and --insecure: the certificate is
    /// self-signed) into `out`.
    fn fetch(&self, route: &str, out: &Path) -> Output {
        run(Command::new("curl")
            .args(["--pinnedpubkey", &self.pin(), "--insecure", "-fsS", "-o"])
            .arg(out)
            .arg(format!("{}{route}", self.url)))
    }

    fn fetch_ok(&self, route: &str, name: &str) -> PathBuf {
        let out = self.path(name);
        let o = self.fetch(route, &out);
        assert!(o.status.success(), "GET {route}: {}", text(&o));
        out
    }
}

fn run(c: &mut Command) -> Output {
    c.output()
        .unwrap_or_else(|e| panic!("running {:?}: {e}", c.get_program()))
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Builds `berth-agent_<version>_<arch>.deb` in `dir` with dpkg-deb and
/// the given compressor; returns its path.
fn build_deb(dir: &Path, version: &str, arch: &str, compress: &str) -> PathBuf {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.path().join("usr/share/doc/berth-agent")).unwrap();
    std::fs::write(
        root.path().join("DEBIAN/control"),
        format!(
            "Package: berth-agent\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: Berth tests <tests@example.invalid>\nSection: admin\nPriority: optional\n\
             Description: a test package\n made by backend/tests/apt_repo.rs\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.path().join("usr/share/doc/berth-agent/version"),
        format!("{version} {arch}\n"),
    )
    .unwrap();
    let out = dir.join(format!("berth-agent_{version}_{arch}.deb"));
    let o = run(Command::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{compress}"), "--build"])
        .arg(root.path())
        .arg(&out));
    assert!(o.status.success(), "dpkg-deb: {}", text(&o));
    out
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The paragraph of `Packages` whose Version is `version`.
fn paragraph<'a>(packages: &'a str, version: &str) -> &'a str {
    packages
        .split("\n\n")
        .find(|p| p.lines().any(|l| l == format!("Version: {version}")))
        .unwrap_or_else(|| panic!("no {version} in {packages}"))
}

fn field<'a>(paragraph: &'a str, name: &str) -> &'a str {
    paragraph
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {paragraph}"))
}

/// The text of the script's heredoc `<<'MARK'`.
fn heredoc<'a>(script: &'a str, mark: &str) -> &'a str {
    let start = script
        .find(&format!("<<'{mark}'\n"))
        .unwrap_or_else(|| panic!("no heredoc {mark}"));
    let body = &script[start + mark.len() + 5..];
    &body[..body.find(&format!("\n{mark}\n")).unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repository_verifies_with_gpgv_and_serves_what_it_lists() {
    let s = start().await;
    let amd = build_deb(&s.packages, "0.1.0", "amd64", "xz");
    let arm = build_deb(&s.packages, "0.1.0", "arm64", "gzip");
    std::fs::write(s.packages.join("broken.deb"), b"!<arch>\nnot really").unwrap();
    std::os::unix::fs::symlink(&amd, s.packages.join("link.deb")).unwrap();

    let keyring = s.fetch_ok("/install/berth-archive-keyring.gpg", "keyring.gpg");
    let inrelease = s.fetch_ok("/apt/dists/berth/InRelease", "InRelease");
    let o = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&inrelease));
    assert!(o.status.success(), "gpgv InRelease: {}", text(&o));
    let fp = s.t.state.packages.key().fingerprint_hex();
    assert!(
        text(&o).contains(&fp[fp.len() - 16..]) || text(&o).contains(&fp),
        "gpgv names the key: {}",
        text(&o)
    );
    // One changed byte and the signature no longer holds.
    let signed = std::fs::read_to_string(&inrelease).unwrap();
    assert!(signed.contains("Suite: berth\n"), "{signed}");
    let tampered = s.path("InRelease.tampered");
    std::fs::write(&tampered, signed.replace("Suite: berth", "Suite: bertH")).unwrap();
    let o = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&tampered));
    assert!(!o.status.success(), "a tampered InRelease verified");
    // Release.gpg is a detached signature of Release.
    let release = s.fetch_ok("/apt/dists/berth/Release", "Release");
    let detached = s.fetch_ok("/apt/dists/berth/Release.gpg", "Release.gpg");
    let o = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&detached)
        .arg(&release));
    assert!(o.status.success(), "gpgv Release.gpg: {}", text(&o));
    let release_text = std::fs::read_to_string(&release).unwrap();
    std::fs::write(
        &release,
        release_text.replace("Origin: Berth", "Origin: Evil"),
    )
    .unwrap();
    let o = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(&detached)
        .arg(&release));
    assert!(!o.status.success(), "a tampered Release verified");

    // Release lists each index with its real size and hash; Packages lists
    // each deb with its real size and hash, and the pool serves its bytes.
    for (arch, deb) in [("amd64", &amd), ("arm64", &arm)] {
        let index = format!("main/binary-{arch}/Packages");
        let got = s.fetch_ok(&format!("/apt/dists/berth/{index}"), &format!("P-{arch}"));
        let line = format!(
            " {} {:>16} {index}\n",
            sha256_hex(&got),
            std::fs::metadata(&got).unwrap().len()
        );
        assert!(release_text.contains(&line), "{line:?} in {release_text}");
        let packages = std::fs::read_to_string(&got).unwrap();
        assert_eq!(
            packages.matches("Package: berth-agent").count(),
            1,
            "{packages}"
        );
        let p = paragraph(&packages, "0.1.0");
        assert_eq!(field(p, "Architecture"), arch);
        assert_eq!(
            field(p, "Size"),
            std::fs::metadata(deb).unwrap().len().to_string()
        );
        assert_eq!(field(p, "SHA256"), sha256_hex(deb));
        let served = s.fetch_ok(&format!("/apt/{}", field(p, "Filename")), "served.deb");
        assert_eq!(std::fs::read(&served).unwrap(), std::fs::read(deb).unwrap());
    }
    let gz = s.fetch_ok("/apt/dists/berth/main/binary-amd64/Packages.gz", "P.gz");
    assert!(release_text.contains(&format!(" {} ", sha256_hex(&gz))));

    // Nothing outside the build is reachable.
    for bad in [
        "/apt/../../../../etc/passwd",
        "/apt/pool/main/b/berth-agent/../../../../../etc/passwd",
        "/apt/link.deb",
        "/apt/broken.deb",
        "/apt/berth-agent_0.1.0_amd64.deb",
        "/apt/dists/berth/../../../packages/berth-agent_0.1.0_amd64.deb",
    ] {
        let o = run(Command::new("curl")
            .args([
                "--pinnedpubkey",
                &s.pin(),
                "--insecure",
                "--path-as-is",
                "-sS",
            ])
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{}{bad}", s.url)));
        let code = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(code == "404" || code == "400", "{bad}: {code}");
    }
    // The API's methods are refused.
    let o = run(Command::new("curl")
        .args([
            "--pinnedpubkey",
            &s.pin(),
            "--insecure",
            "-sS",
            "-X",
            "POST",
        ])
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/install/agent.sh", s.url)));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "405");
}

/// apt-get with everything under `root`: sources, lists, cache, status,
/// keys; the source and the CaInfo setting are the script's own lines.
fn sandbox_apt(root: &Path, script: &str) -> impl Fn(&[&str], &Path) -> Output {
    for d in [
        "sources.list.d",
        "empty",
        "state/lists/partial",
        "cache/archives/partial",
        "log",
        "dl",
        "keys",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("status"), "").unwrap();
    let keys = root.join("keys");
    let keyring = keys.join("berth-archive-keyring.gpg");
    let cert = keys.join("server-cert.pem");
    let base64 = heredoc(script, "BERTH_KEYRING").replace('\n', "");
    use base64::Engine;
    std::fs::write(
        &keyring,
        base64::engine::general_purpose::STANDARD
            .decode(base64)
            .unwrap(),
    )
    .unwrap();
    std::fs::write(&cert, format!("{}\n", heredoc(script, "BERTH_CERT"))).unwrap();
    let sources = heredoc(script, "BERTH_SOURCES").replace(
        berth_server::packages::script::KEYRING_PATH,
        keyring.to_str().unwrap(),
    );
    assert!(sources.contains("Signed-By: "), "{sources}");
    std::fs::write(root.join("sources.list.d/berth.sources"), sources).unwrap();
    let conf = heredoc(script, "BERTH_APT_CONF").replace(
        berth_server::packages::script::SERVER_CERT_PATH,
        cert.to_str().unwrap(),
    );
    assert!(conf.contains("::CaInfo "), "{conf}");
    std::fs::write(root.join("apt.conf"), conf).unwrap();
    let root = root.to_path_buf();
    move |args: &[&str], cwd: &Path| {
        let r = root.display();
        let mut c = Command::new("apt-get");
        c.current_dir(cwd).arg("-c").arg(root.join("apt.conf"));
        for o in [
            "Dir::Etc::SourceList=/dev/null".to_string(),
            format!("Dir::Etc::SourceParts={r}/sources.list.d"),
            format!("Dir::Etc::Preferences={r}/empty/none"),
            format!("Dir::Etc::PreferencesParts={r}/empty"),
            format!("Dir::Etc::Trusted={r}/empty/none.gpg"),
            format!("Dir::Etc::TrustedParts={r}/empty"),
            format!("Dir::State={r}/state"),
            format!("Dir::State::status={r}/status"),
            format!("Dir::Cache={r}/cache"),
            format!("Dir::Log={r}/log"),
            "Debug::NoLocking=true".to_string(),
            "APT::Sandbox::User=root".to_string(),
            "Acquire::Languages=none".to_string(),
            "APT::Architecture=amd64".to_string(),
            "APT::Architectures=amd64".to_string(),
        ] {
            c.arg("-o").arg(o);
        }
        run(c.args(args))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apt_updates_over_https_and_picks_the_newest_version() {
    let s = start().await;
    build_deb(&s.packages, "0.1.0", "amd64", "xz");
    let script = std::fs::read_to_string(s.fetch_ok("/install/agent.sh", "agent.sh")).unwrap();
    let root = s.path("apt");
    let apt = sandbox_apt(&root, &script);
    let dl = root.join("dl");
    let o = apt(&["update"], &dl);
    assert!(o.status.success(), "apt-get update: {}", text(&o));
    let out = text(&o);
    assert!(!out.contains("W:") && !out.contains("E:"), "{out}");
    let o = apt(&["download", "berth-agent"], &dl);
    assert!(o.status.success(), "apt-get download: {}", text(&o));
    assert!(dl.join("berth-agent_0.1.0_amd64.deb").is_file());

    // A newer package in the directory is what apt picks next (the
    // repository notices the directory changed when apt asks for InRelease).
    let newer = build_deb(&s.packages, "0.2.0~rc1+1", "amd64", "zstd");
    let o = apt(&["update"], &dl);
    assert!(o.status.success(), "apt-get update: {}", text(&o));
    let o = apt(&["download", "berth-agent"], &dl);
    assert!(o.status.success(), "apt-get download: {}", text(&o));
    let got = dl.join("berth-agent_0.2.0~rc1+1_amd64.deb");
    assert!(got.is_file(), "{}", text(&o));
    assert_eq!(sha256_hex(&got), sha256_hex(&newer));

    // apt refuses a repository signed by another key than the keyring's...
    let keyring = root.join("keys/berth-archive-keyring.gpg");
    let ours = std::fs::read(&keyring).unwrap();
    let stranger = berth_server::packages::openpgp::RepoKey::generate();
    std::fs::write(&keyring, stranger.public_keyring()).unwrap();
    let fresh_lists = || {
        std::fs::remove_dir_all(root.join("state/lists")).unwrap();
        std::fs::create_dir_all(root.join("state/lists/partial")).unwrap();
    };
    fresh_lists();
    let o = apt(&["update"], &dl);
    assert!(
        text(&o).contains("NO_PUBKEY") && text(&o).contains("is not signed"),
        "apt took a repository its keyring did not sign: {}",
        text(&o)
    );
    std::fs::write(&keyring, ours).unwrap();
    // ...and a server whose certificate is not the one the script wrote:
    // the same setting with another certificate fails the handshake.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(root.join("keys/server-cert.pem"), other.cert.pem()).unwrap();
    fresh_lists();
    let o = apt(&["update"], &dl);
    assert!(
        text(&o).contains("Certificate verification failed"),
        "apt trusted another certificate: {}",
        text(&o)
    );
}

/// Runs the served install script (as `curl … | sh -s -- ARGS` would) with
/// `PATH` first searching `shims`.
fn sh(script: &Path, args: &[&str], shims: Option<&Path>) -> Output {
    let mut c = Command::new("sh");
    c.arg(script).args(args);
    if let Some(d) = shims {
        c.env(
            "PATH",
            format!(
                "{}:{}",
                d.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    }
    run(&mut c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_line_install_is_pinned_and_checks_what_it_downloads() {
    let s = start().await;
    let deb = build_deb(&s.packages, "0.3.0", "amd64", "xz");
    let owner = s.t.owner().await;
    let r =
        s.t.post("/api/v1/hosts/join-tokens", &owner.token, json!({}))
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let token = v["token"].as_str().unwrap().to_string();
    let line = v["install_command"].as_str().unwrap().to_string();

    // The pin in the command is the certificate's public key, as openssl
    // computes it.
    let pem = s.path("server.pem");
    std::fs::write(&pem, &s.t.state.identity.cert_pem).unwrap();
    let o = run(Command::new("sh").arg("-c").arg(format!(
        "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        pem.display()
    )));
    let pin = format!("sha256//{}", String::from_utf8_lossy(&o.stdout).trim());
    assert_eq!(
        line,
        format!(
            "curl --pinnedpubkey '{pin}' --insecure -fsSL {}/install/agent.sh | sh -s -- {token}",
            s.url
        )
    );

    // The script is POSIX sh and shellcheck-clean.
    let script = s.fetch_ok("/install/agent.sh", "agent.sh");
    let o = run(Command::new("sh").arg("-n").arg(&script));
    assert!(o.status.success(), "sh -n: {}", text(&o));
    let o = run(Command::new("shellcheck").args(["-s", "sh"]).arg(&script));
    assert!(o.status.success(), "shellcheck: {}", text(&o));

    // The one line itself, with the script's --download-only: the right pin
    // fetches the package and its checksum matches.
    let dl = s.path("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(format!("set -e; {line} --download-only {}", dl.display())));
    assert!(o.status.success(), "the one line: {}", text(&o));
    let got = dl.join("berth-agent_0.3.0_amd64.deb");
    assert_eq!(sha256_hex(&got), sha256_hex(&deb), "{}", text(&o));
    assert!(text(&o).contains("verified SHA-256"), "{}", text(&o));

    // Another key behind the pin: curl refuses during the handshake, before
    // any byte of the answer (exit 90, CURLE_SSL_PINNEDPUBKEYNOTMATCH).
    let wrong = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let o = run(Command::new("curl")
        .args(["--pinnedpubkey", wrong, "--insecure", "-fsSL"])
        .arg(format!("{}/install/agent.sh", s.url)));
    assert_eq!(o.status.code(), Some(90), "{}", text(&o));
    assert!(o.stdout.is_empty(), "curl gave bytes past a wrong pin");
    // The same with the script's own downloads.
    let body = std::fs::read_to_string(&script).unwrap();
    let pinned_wrong = s.path("wrong-pin.sh");
    std::fs::write(&pinned_wrong, body.replace(&pin, wrong)).unwrap();
    let dl2 = s.path("dl2");
    std::fs::create_dir_all(&dl2).unwrap();
    let o = sh(
        &pinned_wrong,
        &[&token, "--download-only", dl2.to_str().unwrap()],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("could not download"), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(&dl2).unwrap().count(),
        0,
        "a file came through a wrong pin"
    );

    // A package that is not the one the script names is refused.
    let bad_sum = s.path("bad-sum.sh");
    std::fs::write(&bad_sum, body.replace(&sha256_hex(&deb), &"0".repeat(64))).unwrap();
    let o = sh(
        &bad_sum,
        &[&token, "--download-only", dl2.to_str().unwrap()],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("checksum mismatch"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&dl2).unwrap().count(), 0);

    // Clear refusals: no token, a bad option, an architecture without a
    // package, one Berth does not build for.
    let o = sh(&script, &["nonsense"], None);
    assert!(text(&o).contains("join token"), "{}", text(&o));
    let o = sh(&script, &[&token, "--frobnicate", "x"], None);
    assert!(
        text(&o).contains("unknown option --frobnicate"),
        "{}",
        text(&o)
    );
    let o = sh(&script, &[&token, "--advertise", "http://x"], None);
    assert!(text(&o).contains("--advertise"), "{}", text(&o));
    for (arch, says) in [
        ("arm64", "no berth-agent package for arm64"),
        ("riscv64", "unsupported architecture riscv64"),
    ] {
        let shims = s.path(&format!("shims-{arch}"));
        std::fs::create_dir_all(&shims).unwrap();
        let dpkg = shims.join("dpkg");
        std::fs::write(&dpkg, format!("#!/bin/sh\necho {arch}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dpkg, std::fs::Permissions::from_mode(0o755)).unwrap();
        let o = sh(
            &script,
            &[&token, "--download-only", dl2.to_str().unwrap()],
            Some(&shims),
        );
        assert!(!o.status.success());
        assert!(text(&o).contains(says), "{arch}: {}", text(&o));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_signs_with_the_one_key_in_the_secrets_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = |data: &str| {
        let mut c = berth_server::Config::with_data_dir(dir.path().join(data));
        c.database_url = Some(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("shared.db").display()
        ));
        c.secrets_dir = Some(dir.path().join("secrets"));
        c
    };
    let a = berth_server::AppState::new(config("a")).await.unwrap();
    let b = berth_server::AppState::new(config("b")).await.unwrap();
    let fp = a.packages.key().fingerprint_hex();
    assert_eq!(fp, b.packages.key().fingerprint_hex());
    assert_eq!(
        a.packages.key().public_keyring(),
        b.packages.key().public_keyring()
    );
    use std::os::unix::fs::PermissionsExt;
    let file = dir.path().join("secrets/apt-signing-key");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A replica without the file refuses to start rather than make a key
    // the hosts' keyrings don't hold.
    let mut lost = config("c");
    lost.secrets_dir = Some(dir.path().join("other-secrets"));
    let e = berth_server::AppState::new(lost).await.unwrap_err();
    assert!(e.to_string().contains("is missing"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_sets_its_keys_in_agent_toml_and_keeps_the_rest() {
    let s = start().await;
    let script = std::fs::read_to_string(s.fetch_ok("/install/agent.sh", "agent.sh")).unwrap();
    // The script's own set_key, run on a copy of the packaged agent.toml.
    let start = script.find("set_key() {").unwrap();
    let end = start + script[start..].find("\n}\n").unwrap() + 3;
    let set_key = &script[start..end];
    let conf = s.path("agent.toml");
    let packaged = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/etc/agent.toml");
    std::fs::copy(packaged, &conf).unwrap();
    let token = "berthjoin1.abc_DEF-123";
    let o = run(Command::new("sh").arg("-c").arg(format!(
        "set -eu; CONF={}; {set_key}\nset_key join_token {token}; set_key advertise https://10.0.0.7:7443; set_key join_token {token}2",
        conf.display()
    )));
    assert!(o.status.success(), "{}", text(&o));
    let after = std::fs::read_to_string(&conf).unwrap();
    let before = std::fs::read_to_string(packaged).unwrap();
    // The keys once each, the second token replacing the first; every
    // line of the packaged file still there.
    assert_eq!(after.matches("\njoin_token = ").count(), 1, "{after}");
    assert!(
        after.contains(&format!("\njoin_token = \"{token}2\"\n")),
        "{after}"
    );
    assert!(
        after.contains("\nadvertise = \"https://10.0.0.7:7443\"\n"),
        "{after}"
    );
    for line in before.lines() {
        assert!(after.lines().any(|l| l == line), "lost {line:?}");
    }
}
