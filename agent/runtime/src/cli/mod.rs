//! The runc-compatible command line: the same commands, flags and output
//! shapes as runc, so any tool that drives runc (containerd-shim, podman,
//! youki's contest) can drive `berth-runtime`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use berth_runtime::{CreateOptions, DEFAULT_ROOT, Runtime};

mod exec;
mod foreground;
mod info;

#[derive(Parser, Debug)]
#[command(
    name = "berth-runtime",
    version,
    about = "Berth's OCI runtime (runc-compatible)"
)]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Write errors (and debug messages) to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Log debug messages too.
    #[arg(long, global = true)]
    debug: bool,
    /// Place cgroups through systemd (needs a running systemd).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// With `spec`: write a spec for running without root; elsewhere
    /// accepted for compatibility (rootless mode is detected).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for compatibility (checkpointing is not supported).
    #[arg(long, global = true)]
    criu: Option<String>,
    #[command(subcommand)]
    cmd: Command,
}

/// runc's `checkpoint` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct CheckpointArgs {
    id: String,
    /// Where to write the images (default: ./checkpoint).
    #[arg(long)]
    image_path: Option<PathBuf>,
    /// Where to write CRIU's logs and work files.
    #[arg(long)]
    work_path: Option<PathBuf>,
    /// The previous images (pre-dump), relative to --image-path.
    #[arg(long)]
    parent_path: Option<PathBuf>,
    #[arg(long)]
    leave_running: bool,
    #[arg(long)]
    tcp_established: bool,
    #[arg(long)]
    tcp_skip_in_flight: bool,
    #[arg(long)]
    link_remap: bool,
    #[arg(long)]
    ext_unix_sk: bool,
    #[arg(long)]
    shell_job: bool,
    #[arg(long)]
    lazy_pages: bool,
    #[arg(long)]
    status_fd: Option<i32>,
    #[arg(long)]
    page_server: Option<String>,
    #[arg(long)]
    file_locks: bool,
    #[arg(long)]
    pre_dump: bool,
    #[arg(long)]
    manage_cgroups_mode: Option<String>,
    #[arg(long)]
    empty_ns: Vec<String>,
    #[arg(long)]
    auto_dedup: bool,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct CreateArgs {
    /// Path to the bundle (default: the current directory).
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Write the init's pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (terminal: true).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Use move + chroot instead of pivot_root (a ramfs root).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for compatibility (no session keyring is made).
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many extra fds (from 3) to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
}

#[derive(Args, Debug)]
pub(crate) struct UpdateArgs {
    id: String,
    /// A JSON file (or - for stdin) with linux.resources.
    #[arg(long, short = 'r')]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (-1 for none).
    #[arg(long)]
    memory: Option<i64>,
    /// Memory reservation in bytes.
    #[arg(long)]
    memory_reservation: Option<i64>,
    /// Memory plus swap in bytes (-1 for none).
    #[arg(long)]
    memory_swap: Option<i64>,
    #[arg(long)]
    pids_limit: Option<i64>,
    #[arg(long)]
    cpu_shares: Option<u64>,
    #[arg(long)]
    cpu_quota: Option<i64>,
    #[arg(long)]
    cpu_period: Option<u64>,
    #[arg(long)]
    cpuset_cpus: Option<String>,
    #[arg(long)]
    cpuset_mems: Option<String>,
    #[arg(long)]
    blkio_weight: Option<u16>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container (it waits for `start`).
    Create {
        id: String,
        #[command(flatten)]
        args: CreateArgs,
    },
    /// Start a created container.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's init (or all its processes).
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process of the container.
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Delete a container.
    Delete {
        id: String,
        /// Kill it first if it runs.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Create and start a container (and wait for it unless --detach).
    Run {
        id: String,
        #[command(flatten)]
        args: CreateArgs,
        /// Do not wait for the container.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a process in a running container.
    Exec(Box<exec::ExecArgs>),
    /// List the processes of a container.
    Ps {
        id: String,
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a container.
    Update(Box<UpdateArgs>),
    /// Freeze a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Print container events (with --stats: one stats event).
    Events {
        id: String,
        /// Print the stats once and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events.
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Write a default config.json.
    Spec {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime supports (JSON).
    Features,
    /// Checkpoint a running container (runc's flags). Berth does not drive
    /// CRIU: the arguments and the container are checked as runc checks
    /// them, then the command fails saying checkpointing is unsupported.
    Checkpoint(CheckpointArgs),
    /// List containers.
    List {
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Only ids.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
}

/// Where errors go: stderr, and the --log file when given.
struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

impl Logger {
    /// Logs as runc does (logrus text, or JSON with --log-format json):
    /// tools that drive runc look for `level=error` on stderr.
    fn error(&mut self, msg: &str) {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let text = format!("time=\"{time}\" level=error msg={msg:?}");
        eprintln!("{text}");
        if let Some(f) = &mut self.file {
            let line = if self.json {
                serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
            } else {
                text
            };
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Parses the command line, runs it, answers the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    // Warnings (a failed poststart hook) always, debug lines with --debug,
    // on stderr as runc does.
    let level = if cli.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
    let file = cli.log.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let mut log = Logger {
        file,
        json: cli.log_format == "json",
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            log.error(&format!("{e:#}"));
            1
        }
    }
}

/// Relative cgroupsPaths go under this cgroup instead of /berth.
const CGROUP_PARENT_ENV: &str = "BERTH_CGROUP_PARENT";

fn runtime(cli: &Cli) -> Result<Runtime> {
    let mut rt =
        Runtime::new(&cli.root).with_context(|| format!("state root {}", cli.root.display()))?;
    if let Some(p) = std::env::var_os(CGROUP_PARENT_ENV) {
        rt.set_cgroup_parent(std::path::PathBuf::from(p))
            .with_context(|| format!("${CGROUP_PARENT_ENV}"))?;
    }
    Ok(rt)
}

fn create_options(args: &CreateArgs) -> CreateOptions {
    CreateOptions {
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
        ..Default::default()
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
    if cli.systemd_cgroup && !std::path::Path::new("/run/systemd/system").exists() {
        bail!("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)");
    }
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup: placing cgroups through systemd is not supported; use cgroupfs paths"
        );
    }
    // CVE-2019-5736: when the new process joins a pid namespace the
    // container's processes can see, run from a sealed copy of this binary.
    // config.json is read once here, for this check and for the create.
    let spec = match &cli.cmd {
        Command::Create { args, .. } | Command::Run { args, .. } => {
            berth_runtime::config::load(&args.bundle).ok()
        }
        _ => None,
    };
    let shared_pidns = spec.as_ref().is_some_and(|spec| {
        !spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter().any(|n| {
                    n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid
                        && n.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
                })
            })
    });
    let needs_seal = match &cli.cmd {
        Command::Exec(_) => true,
        Command::Create { .. } | Command::Run { .. } => shared_pidns,
        _ => false,
    };
    if needs_seal {
        berth_runtime::sealed::reexec_sealed().context("re-run from a sealed copy")?;
    }
    match &cli.cmd {
        Command::Create { id, args } => {
            let rt = runtime(&cli)?;
            let mut opts = create_options(args);
            opts.spec = spec;
            rt.create(id, &args.bundle, opts)?;
            Ok(0)
        }
        Command::Start { id } => {
            runtime(&cli)?.start(id)?;
            Ok(0)
        }
        Command::State { id } => info::state(&runtime(&cli)?, id),
        Command::Kill { id, signal, all } => {
            let sig = berth_runtime::signal::parse(signal).map_err(anyhow::Error::msg)?;
            runtime(&cli)?.kill(id, sig, *all)?;
            Ok(0)
        }
        Command::Delete { id, force } => {
            runtime(&cli)?.delete(id, *force)?;
            Ok(0)
        }
        Command::Run {
            id,
            args,
            detach,
            keep,
        } => foreground::run(&runtime(&cli)?, id, args, spec, *detach, *keep),
        Command::Exec(args) => exec::exec(&runtime(&cli)?, args),
        Command::Ps {
            id,
            format,
            ps_args,
        } => info::ps(&runtime(&cli)?, id, format, ps_args),
        Command::Update(a) => {
            let res = update_resources(a)?;
            runtime(&cli)?.update(&a.id, &res)?;
            Ok(0)
        }
        Command::Pause { id } => {
            runtime(&cli)?.pause(id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            runtime(&cli)?.resume(id)?;
            Ok(0)
        }
        Command::Events {
            id,
            stats,
            interval,
        } => info::events(&runtime(&cli)?, id, *stats, interval),
        Command::Spec { bundle } => info::spec(bundle, cli.rootless.as_deref() == Some("true")),
        Command::Features => info::features(),
        Command::Checkpoint(a) => checkpoint(&runtime(&cli)?, a),
        Command::List { format, quiet } => info::list(&runtime(&cli)?, format, *quiet),
    }
}

/// `checkpoint`: runc's checks of the arguments and of the container, then
/// a clear refusal (no CRIU here).
fn checkpoint(rt: &Runtime, a: &CheckpointArgs) -> Result<i32> {
    let image = a
        .image_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("checkpoint"));
    if let Some(parent) = &a.parent_path {
        if parent.is_absolute() {
            bail!(
                "--parent-path must be relative to --image-path, got {}",
                parent.display()
            );
        }
        let real = image.join(parent);
        match std::fs::metadata(&real) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("invalid --parent-path {}: not a directory", real.display()),
            Err(e) => bail!("invalid --parent-path {}: {e}", real.display()),
        }
    }
    if let Some(mode) = &a.manage_cgroups_mode
        && !matches!(mode.as_str(), "soft" | "full" | "strict" | "ignore")
    {
        bail!("--manage-cgroups-mode: {mode:?} is not one of soft, full, strict, ignore");
    }
    let st = rt.state(&a.id)?;
    if st.status_str() != "running" {
        bail!(
            "checkpoint {}: the container is {}, not running",
            a.id,
            st.status_str()
        );
    }
    bail!(
        "checkpoint {}: not supported: berth-runtime does not drive CRIU (use runc for checkpoint/restore)",
        a.id
    )
}

/// The resources `update` asks for: the -r file, then the flags on top.
fn update_resources(a: &UpdateArgs) -> Result<oci_spec::runtime::LinuxResources> {
    let mut v: serde_json::Value = match &a.resources {
        Some(p) if p.as_os_str() == "-" => {
            serde_json::from_reader(std::io::stdin()).context("read resources from stdin")?
        }
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("parse {}", p.display()))?
        }
        None => serde_json::json!({}),
    };
    let mut set = |section: &str, key: &str, value: serde_json::Value| {
        v[section][key] = value;
    };
    if let Some(m) = a.memory {
        set("memory", "limit", m.into());
    }
    if let Some(m) = a.memory_reservation {
        set("memory", "reservation", m.into());
    }
    if let Some(m) = a.memory_swap {
        set("memory", "swap", m.into());
    }
    if let Some(p) = a.pids_limit {
        set("pids", "limit", p.into());
    }
    if let Some(c) = a.cpu_shares {
        set("cpu", "shares", c.into());
    }
    if let Some(c) = a.cpu_quota {
        set("cpu", "quota", c.into());
    }
    if let Some(c) = a.cpu_period {
        set("cpu", "period", c.into());
    }
    if let Some(c) = &a.cpuset_cpus {
        set("cpu", "cpus", c.clone().into());
    }
    if let Some(c) = &a.cpuset_mems {
        set("cpu", "mems", c.clone().into());
    }
    if let Some(w) = a.blkio_weight {
        set("blockIO", "weight", w.into());
    }
    serde_json::from_value(v).context("resources")
}
