//! What every Berth test crate shares: [`skip`], and [`cleanup`] of what a
//! root test leaves on the host.
//!
//! A test that needs something the machine lacks (root, a tool, a kernel
//! feature, the PostgreSQL of `scripts/test.sh`) calls [`skip`] and returns.
//! libtest hides a passing test's output, so a skip would otherwise read as a
//! pass. Two switches make skips visible:
//!
//! - `BERTH_TEST_STRICT=1` (`scripts/test.sh` sets it): [`skip`] panics, so
//!   the test fails and names what was missing. A CI machine has everything.
//! - `BERTH_TEST_SKIP_LOG=<file>`: each skip appends `<test>: <why>` to the
//!   file; `scripts/test.sh` prints their number at the end of the run.

pub mod cleanup;

use std::io::Write;

/// Whether skips are failures (`BERTH_TEST_STRICT` is set and not `0`).
pub fn strict() -> bool {
    is_on(std::env::var("BERTH_TEST_STRICT").ok().as_deref())
}

fn is_on(v: Option<&str>) -> bool {
    v.is_some_and(|v| !v.is_empty() && v != "0")
}

/// Marks the running test as skipped because `why`: prints it, records it,
/// and under `BERTH_TEST_STRICT` fails the test instead. The caller returns
/// right after.
pub fn skip(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    if let Some(log) = std::env::var_os("BERTH_TEST_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        let _ = writeln!(f, "{test}: {why}");
    }
    assert!(
        !strict(),
        "BERTH_TEST_STRICT: {test} would be skipped: {why}"
    );
    eprintln!("skipped: {why}");
}

/// True when running as root; otherwise skips with `why` (what root is
/// needed for) and returns false.
pub fn require_root(why: &str) -> bool {
    if nix_geteuid() == 0 {
        return true;
    }
    skip(&format!("needs root ({why})"));
    false
}

fn nix_geteuid() -> u32 {
    // The process's effective uid, from /proc (no libc dependency here).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_switch_is_on_unless_empty_or_zero() {
        assert!(!is_on(None));
        assert!(!is_on(Some("")));
        assert!(!is_on(Some("0")));
        assert!(is_on(Some("1")));
        assert!(is_on(Some("yes")));
    }

    #[test]
    fn euid_is_read() {
        assert_ne!(nix_geteuid(), u32::MAX);
    }

    /// Run by [`a_skip_is_logged_and_fails_under_strict`] in a child
    /// process; a no-op otherwise.
    #[test]
    fn child_that_skips() {
        if std::env::var_os("BERTH_TESTKIT_CHILD").is_some() {
            skip("the child's reason");
        }
    }

    fn run_child(strict: &str, log: &std::path::Path) -> std::process::Output {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::child_that_skips", "--test-threads", "1"])
            .env("BERTH_TESTKIT_CHILD", "1")
            .env("BERTH_TEST_STRICT", strict)
            .env("BERTH_TEST_SKIP_LOG", log)
            .output()
            .unwrap()
    }

    #[test]
    fn a_skip_is_logged_and_fails_under_strict() {
        let dir = std::env::temp_dir().join(format!("berth-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips");
        let relaxed = run_child("0", &log);
        assert!(relaxed.status.success(), "{relaxed:?}");
        let strict = run_child("1", &log);
        assert!(
            !strict.status.success(),
            "a strict skip must fail: {strict:?}"
        );
        let out = String::from_utf8_lossy(&strict.stdout).to_string()
            + &String::from_utf8_lossy(&strict.stderr);
        assert!(
            out.contains("would be skipped: the child's reason"),
            "{out}"
        );
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            logged.lines().collect::<Vec<_>>(),
            [
                "tests::child_that_skips: the child's reason",
                "tests::child_that_skips: the child's reason"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
