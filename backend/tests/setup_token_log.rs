//! The first-run setup token is printed on the terminal and written to
//! `<data dir>/setup-token` (0600), but never goes through tracing, so it
//! never lands in a log collector.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_server::Config;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_token_never_reaches_the_log() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.dashboard_dir = Some(dir.path().join("dist"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    // Run on this task so the thread-local subscriber sees the startup.
    let file = dir.path().join("data/setup-token");
    let server = berth_server::run_until(config, shutdown.clone());
    let wait = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !file.exists() {
            assert!(Instant::now() < deadline, "no setup-token file");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The startup message that says where the token is has been
        // written (the rest of the log, to the shutdown, follows).
        while !String::from_utf8_lossy(&logs.0.lock().unwrap()).contains("setup token") {
            assert!(Instant::now() < deadline, "no setup token message");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
    };
    let (r, ()) = tokio::join!(server, wait);
    r.expect("server ran");

    let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(token.len() >= 16);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("setup token"),
        "the log says where it is: {logs}"
    );
    assert!(!logs.contains(&token), "the token is in the log: {logs}");
}
