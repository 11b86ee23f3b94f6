//! `exec`: a process from `--process process.json`, or from the command
//! line on top of the container's own `process` (env, user, capabilities,
//! no_new_privs, AppArmor, as runc does).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use oci_spec::runtime::Process;

use berth_runtime::{ExecOptions, Runtime, config};

#[derive(Args, Debug)]
pub struct ExecArgs {
    pub id: String,
    /// A process.json to run.
    #[arg(long, short = 'p')]
    process: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(long, short = 't')]
    tty: bool,
    /// Do not wait for the process.
    #[arg(long, short = 'd')]
    detach: bool,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// KEY=value, repeatable.
    #[arg(long, short = 'e')]
    env: Vec<String>,
    /// uid[:gid].
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// Additional gids, repeatable.
    #[arg(long, short = 'g')]
    additional_gids: Vec<u32>,
    /// Add a capability (CAP_X), repeatable.
    #[arg(long, short = 'c')]
    cap: Vec<String>,
    #[arg(long)]
    no_new_privs: bool,
    /// Exec into a paused container too.
    #[arg(long)]
    ignore_paused: bool,
    /// AppArmor profile.
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux process label.
    #[arg(long)]
    process_label: Option<String>,
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for compatibility (cgroup of the process: the container's).
    #[arg(long)]
    cgroup: Option<String>,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Builds the process to run.
fn process(rt: &Runtime, a: &ExecArgs) -> Result<Process> {
    if let Some(p) = &a.process {
        let bytes = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
        return Ok(config::parse_process(&bytes)?);
    }
    if a.command.is_empty() {
        bail!("exec needs a command (or --process process.json)");
    }
    let st = rt.state(&a.id)?;
    let spec = config::load(st.oci.bundle()).ok();
    let mut p = spec.and_then(|s| s.process().clone()).unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u.parse()?, g.parse()?),
            None => (u.parse()?, 0),
        };
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid);
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        // Added to the process's own sets; a process without any starts from
        // empty sets (oci-spec's `Default` would add three capabilities).
        let mut caps = p.capabilities().clone().unwrap_or_else(no_capabilities);
        for c in &a.cap {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(c.clone()))
                    .with_context(|| format!("unknown capability {c}"))?;
            let add = |s: Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(aa) = &a.apparmor {
        p.set_apparmor_profile(Some(aa.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

/// `exec`.
pub fn exec(rt: &Runtime, a: &ExecArgs) -> Result<i32> {
    let p = process(rt, a)?;
    if p.terminal().unwrap_or(false) && a.console_socket.is_none() && a.detach {
        bail!("exec --tty --detach needs --console-socket");
    }
    let mut opts = ExecOptions {
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        ..Default::default()
    };
    let mut master = None;
    if p.terminal().unwrap_or(false) && a.console_socket.is_none() {
        let (m, s) = super::foreground::openpty_pair()?;
        opts.stdio = Some([s.try_clone()?, s.try_clone()?, s]);
        opts.stdio_tty = true;
        master = Some(m);
    }
    let pid = rt.exec(&a.id, &p, opts)?;
    if a.detach {
        return Ok(0);
    }
    super::foreground::wait_relaying(pid, master.as_ref())
}

/// Five empty capability sets.
fn no_capabilities() -> oci_spec::runtime::LinuxCapabilities {
    let none = || Some(oci_spec::runtime::Capabilities::new());
    let mut c = oci_spec::runtime::LinuxCapabilities::default();
    c.set_bounding(none());
    c.set_effective(none());
    c.set_permitted(none());
    c.set_inheritable(none());
    c.set_ambient(none());
    c
}
