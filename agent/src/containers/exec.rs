//! Execs: the process an exec runs (the container's own, with another
//! argv) and its start through the OCI runtime. The HTTP layer bridges its
//! stdio to a WebSocket.

use super::registry::Containers;
use super::{Error, Result};
use crate::runtime::{ExecChild, ExecIo};

impl Containers {
    /// The process an exec runs: the container's own process (user, env,
    /// cwd, capabilities) with `argv`. 409 unless the container runs.
    pub fn exec_process(
        &self,
        key: &str,
        argv: Vec<String>,
        tty: bool,
    ) -> Result<(String, oci_spec::runtime::Process)> {
        let (id, _) = self.running_pid(key)?;
        let e = self.find(&id)?;
        let spec = oci_spec::runtime::Spec::load(e.dir.join("bundle/config.json"))
            .map_err(|err| Error::internal("read the container's config.json", err))?;
        let mut process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::internal("exec", "config.json has no process"))?;
        if argv.first().is_none_or(String::is_empty) {
            return Err(Error::Invalid("cmd: give the command to run".into()));
        }
        process.set_args(Some(argv));
        process.set_terminal(Some(false));
        if tty {
            let mut env = process.env().clone().unwrap_or_default();
            if !env.iter().any(|v| v.starts_with("TERM=")) {
                env.push("TERM=xterm".into());
            }
            process.set_env(Some(env));
        }
        Ok((id, process))
    }

    /// Starts `process` in container `id` with `io`. Blocking.
    pub fn exec_start(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ExecIo,
    ) -> Result<ExecChild> {
        self.inner
            .runtime
            .exec(id, process, io)
            .map_err(|e| match e {
                crate::runtime::Error::NotFound(_) => {
                    Error::Conflict(format!("container {id} is not running"))
                }
                crate::runtime::Error::Failed { detail, .. } if detail.contains("not running") => {
                    Error::Conflict(format!("container {id} is not running"))
                }
                other => Error::Invalid(format!("exec failed: {other}")),
            })
    }
}
