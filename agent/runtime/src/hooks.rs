//! Hooks run in the runtime's namespaces (config.md "POSIX-platform Hooks"):
//! prestart and createRuntime during create, poststart after start,
//! poststop after delete. Each gets the container's state on stdin and is
//! killed when its timeout passes. (createContainer and startContainer run
//! inside the container, from the init.)

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Runs `hooks` in order; the first failure stops the rest.
pub(crate) fn run(stage: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for h in hooks {
        run_one(stage, h, state_json)?;
    }
    Ok(())
}

fn run_one(stage: &'static str, h: &Hook, state_json: &[u8]) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        stage,
        path: h.path().clone(),
        reason,
    };
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args().as_deref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    cmd.env_clear();
    for e in h.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state_json);
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(u64::try_from(t.max(1)).unwrap_or(1)));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                h.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hooks_get_state_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {}"]}}"#,
            out.display()
        ));
        run("poststop", &[h], b"{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"x\"}");
        let slow = hook(r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#);
        let e = run("prestart", &[slow], b"{}").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        let bad = hook(r#"{"path":"/bin/false"}"#);
        assert!(run("prestart", &[bad], b"{}").is_err());
    }
}
