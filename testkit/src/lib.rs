//! What every Berth test crate shares: [`skip`], [`pid`], [`as_f64`], and
//! [`cleanup`] of what a root test leaves on the host.
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

/// The `pid_t` of a process whose id std or tokio hands out as a `u32`
/// (`Child::id()`, `std::process::id()`), for `kill(2)` and nix. The kernel
/// gives out pids up to `pid_max`, at most 2^22, so the conversion fails
/// only on an id no kernel made; that is a bug in the test, and it panics
/// naming the id.
pub fn pid(id: u32) -> nix::unistd::Pid {
    let raw = i32::try_from(id)
        .unwrap_or_else(|_| panic!("process id {id} does not fit a pid_t: not a pid"));
    nix::unistd::Pid::from_raw(raw)
}

/// A measured quantity (a count, bytes, KiB, clock ticks, microseconds) as
/// an `f64`, for the figures and ratios tests and benchmarks compute and
/// print. The one place test code turns an integer into a float: `f64`
/// holds every integer up to 2^53 exactly, and no measurement of a test
/// comes near that (2^53 bytes is 8 PiB, 2^53 µs is 285 years), so the
/// result is exact in practice; above it, it rounds to the nearest `f64`
/// and never wraps. A `usize` or `u128` goes through `u64::try_from`.
pub fn as_f64(n: u64) -> f64 {
    // Deliberate: the rounding above 2^53 is the wanted result for a
    // figure (see the doc comment), not a lost value.
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    f
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
    fn a_pid_converts() {
        assert_eq!(pid(1).as_raw(), 1);
        assert_eq!(pid(4_194_304).as_raw(), 4_194_304);
        let me = pid(std::process::id());
        assert_eq!(me, nix::unistd::Pid::this());
    }

    #[test]
    #[should_panic(expected = "not a pid")]
    fn an_id_above_pid_max_is_refused() {
        pid(u32::MAX);
    }

    #[test]
    fn a_figure_is_exact_up_to_2_pow_53() {
        assert_eq!(as_f64(0), 0.0);
        assert_eq!(as_f64(1 << 53), 9_007_199_254_740_992.0);
        assert_eq!(as_f64(u64::MAX), 18_446_744_073_709_551_615.0);
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
