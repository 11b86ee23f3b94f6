//! `berth-server`'s config file, readiness and SIGHUP: the shipped example
//! names every flag with its default, the precedence holds for the real
//! command line, a bad file names key and line, and the binary tells
//! systemd it is ready only once its port answers, and reloads its log
//! filter on SIGHUP.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use berth_net::daemon::config_file::{Error, example_mistakes};
use berth_server::config::Cli;
use clap::CommandFactory;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/etc/server.toml");

fn load(args: &[&str], file: &Path) -> Result<Cli, Error> {
    let argv: Vec<OsString> = ["berth-server", "--config"]
        .into_iter()
        .map(OsString::from)
        .chain([file.as_os_str().to_owned()])
        .chain(args.iter().map(OsString::from))
        .collect();
    let loaded = Cli::source(argv).load()?;
    Ok(Cli::from_loaded(&loaded).expect("a loaded config converts"))
}

fn file_with(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("server.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_names_every_flag_with_its_default() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let mistakes = example_mistakes(&Cli::command(), &text);
    assert!(
        mistakes.is_empty(),
        "packaging/etc/server.toml: {mistakes:#?}"
    );
    // What it sets loads, and is what the package needs.
    let cli = load(&[], Path::new(EXAMPLE)).unwrap();
    assert_eq!(cli.config.data_dir, Path::new("/var/lib/berth"));
    assert_eq!(
        cli.config.dashboard_dir(),
        Path::new("/usr/share/berth/dashboard")
    );
    assert_eq!(cli.daemon.log_format, berth_net::daemon::LogFormat::Json);
    assert_eq!(
        cli.config.packages_dir(),
        Path::new("/var/lib/berth/packages")
    );
}

#[test]
fn flag_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = file_with(
        &dir,
        "listen = \"0.0.0.0:9000\"\nsession_ttl_secs = 60\n\
         trusted_proxies = [\"10.0.0.0/8\", \"192.168.1.1\"]\nallow_plain_http = true\n",
    );
    let cli = load(&["--listen", "127.0.0.1:9001"], &file).unwrap();
    assert_eq!(cli.config.listen.to_string(), "127.0.0.1:9001", "flag");
    assert_eq!(cli.config.session_ttl_secs, 60, "file");
    assert_eq!(cli.config.trusted_proxies.len(), 2, "file array");
    assert!(cli.config.allow_plain_http, "file switch");
    assert_eq!(cli.config.body_limit, 1 << 20, "default");
}

#[test]
fn bad_files_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = file_with(&dir, "listen = \"0.0.0.0:9000\"\n\nsession_ttl = 60\n");
    let e = load(&[], &file).unwrap_err().to_string();
    assert!(
        e.contains("line 3") && e.contains("unknown key `session_ttl`"),
        "{e}"
    );
    let file = file_with(&dir, "# comment\nbody_limit = \"big\"\n");
    let e = load(&[], &file).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("`body_limit`"), "{e}");
    let file = file_with(&dir, "trusted_proxies = [\"10.0.0.0/99\"]\n");
    let e = load(&[], &file).unwrap_err().to_string();
    assert!(
        e.contains("line 1") && e.contains("`trusted_proxies`"),
        "{e}"
    );
}

#[test]
fn metrics_token_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let file = file_with(&dir, &format!("metrics_token_file = {:?}\n", token));
    let cli = load(&[], &file).unwrap();
    assert_eq!(cli.config.metrics_token.as_deref(), Some("s3cret"));
    let file = file_with(
        &dir,
        &format!("metrics_token_file = {token:?}\nmetrics_token = \"x\"\n"),
    );
    assert!(load(&[], &file).is_err(), "both the token and its file");
}

/// A running `berth-server` whose output goes to a file.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn start(dir: &Path, config: &Path, notify: &Path) -> Server {
    let log = dir.join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_berth-server"))
        .arg("--config")
        .arg(config)
        .env("NOTIFY_SOCKET", notify)
        .env("BERTH_ADMIN_PASSWORD", "correct horse battery staple")
        .env_remove("RUST_LOG")
        .env_remove("BERTH_LOG_FORMAT")
        .env_remove("BERTH_LISTEN")
        .env_remove("BERTH_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Server { child, log }
}

/// One plain-HTTP GET on a fresh connection: the status line.
fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_string())
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the server on a free port with a config file, and receives its
/// READY=1 (retrying on a new port when another process took the port).
fn start_ready(dir: &Path, notify: &UnixDatagram, notify_path: &Path) -> (Server, u16, PathBuf) {
    let config = dir.join("server.toml");
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nallow_plain_http = true\n\
                 log_filter = \"info\"\n",
                dir.join("data")
            ),
        )
        .unwrap();
        let mut server = start(dir, &config, notify_path);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut buf = [0u8; 256];
        loop {
            if let Ok(n) = notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
                return (server, port, config);
            }
            if server.child.try_wait().unwrap().is_some() {
                let out = server.output();
                assert!(out.contains("listening on"), "the server failed: {out}");
                break; // lost the port: again
            }
            assert!(Instant::now() < deadline, "no READY=1: {}", server.output());
        }
    }
    panic!("the server lost the race for a free port 5 times");
}

#[test]
fn ready_only_once_the_port_answers_and_sighup_reloads_the_log_filter() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let (server, port, config) = start_ready(dir.path(), &notify, &notify_path);
    // READY=1 came: the port answers right away, no retry.
    let status = get(port, "/api/v1/health").unwrap();
    assert!(status.contains(" 200"), "{status}");

    // SIGHUP: a new log filter applies, a changed listen is reported as
    // needing a restart, and the server keeps serving.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("log_filter = \"info\"", "log_filter = \"debug\"")
        .replace(
            "allow_plain_http = true",
            "allow_plain_http = true\nbody_limit = 5",
        );
    std::fs::write(&config, text).unwrap();
    let pid = server.child.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for("the reload to be logged", Duration::from_secs(20), || {
        let out = server.output();
        out.contains("SIGHUP: reloaded the log filter")
            && out.contains("body_limit")
            && out.contains("SIGHUP: rebuilding the apt repository")
    });
    let out = server.output();
    assert!(out.contains("log_filter=debug"), "{out}");
    assert!(out.contains("next restart"), "{out}");
    let status = get(port, "/api/v1/health").unwrap();
    assert!(
        status.contains(" 200"),
        "still serving after SIGHUP: {status}"
    );

    // A broken file on SIGHUP changes nothing and is said.
    std::fs::write(&config, "listen = [\n").unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for(
        "the failed reload to be logged",
        Duration::from_secs(20),
        || server.output().contains("did not load; nothing changed"),
    );
    let status = get(port, "/api/v1/health").unwrap();
    assert!(status.contains(" 200"), "{status}");
}
