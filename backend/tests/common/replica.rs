//! `berth-server` processes for the replica tests: each with its own data
//! dir and port, sharing a PostgreSQL database and a secrets dir.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::real_agent::free_port;

/// One `berth-server` process, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Replica {
    child: Child,
    /// Its plain-HTTP base URL (the same port speaks HTTPS).
    pub url: String,
    /// Its public URL, the HTTPS one join tokens carry.
    pub public_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        // Exited (and reaped) already: its pid may be another process's now.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, not yet reaped.
        unsafe {
            libc::kill(berth_testkit::pid(self.child.id()).as_raw(), libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `berth-server` on `db_url` with the secrets in `secrets`, and
/// waits until it answers its health check.
pub async fn start(db_url: &str, secrets: &std::path::Path) -> Replica {
    // The port is free when picked, but another process may take it before
    // the server binds it: the server then exits, and starts again on
    // another port.
    'attempt: loop {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_berth-server"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path())
            .env("DATABASE_URL", db_url)
            .env("BERTH_SECRETS_DIR", secrets)
            .env("BERTH_PUBLIC_URL", format!("https://127.0.0.1:{port}"))
            .env("BERTH_ADMIN_PASSWORD", "replicated password")
            // The test talks plain HTTP to the shared port.
            .env("BERTH_ALLOW_PLAIN_HTTP", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let mut r = Replica {
            child,
            url,
            public_url: format!("https://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = reqwest::get(format!("{}/api/v1/health", r.url)).await
                && resp.status() == 200
            {
                return r;
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                let taken = matches!(
                    std::net::TcpListener::bind(("127.0.0.1", port)),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
                );
                assert!(taken, "the replica exited ({status})");
                continue 'attempt;
            }
            assert!(Instant::now() < deadline, "replica not healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
