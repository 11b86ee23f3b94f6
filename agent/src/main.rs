//! `berth-agent`: `join <token>`, `run`, and the internal `monitor`.

use clap::{Parser, Subcommand};

use berth_agent::config::Config;
use berth_agent::monitor::MonitorArgs;
use berth_agent::{Agent, Binaries};

#[derive(Parser)]
#[command(name = "berth-agent", version, about = "Berth's host daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join the server named by a join token, then exit.
    Join {
        token: String,
        #[command(flatten)]
        config: Config,
    },
    /// Serve the agent API (joining first when --join-token is given and the
    /// agent has not joined yet).
    Run {
        #[arg(long, env = "BERTH_AGENT_JOIN_TOKEN")]
        join_token: Option<String>,
        /// A runc-compatible OCI runtime binary (default: the built-in runtime library).
        #[arg(long, env = "BERTH_AGENT_OCI_RUNTIME")]
        oci_runtime: Option<std::path::PathBuf>,
        #[command(flatten)]
        config: Config,
    },
    /// Internal: the per-container monitor.
    #[command(hide = true)]
    Monitor(MonitorArgs),
}

fn main() {
    let cli = Cli::parse();
    // CVE-2019-5736: the agent clones every exec into a container from
    // itself, and a monitor clones every container's init; a container
    // process that reaches one of them through /proc/<pid>/exe (or a
    // `#!/proc/self/exe` script run by an exec) must find a sealed memfd,
    // not the berth-agent file on the host. Re-run from a sealed copy
    // before anything else (no-op when already sealed: monitors started
    // by a sealed agent run from the agent's copy and cost nothing more).
    if matches!(cli.command, Command::Run { .. } | Command::Monitor(_))
        && let Err(e) = berth_runtime::sealed::reexec_sealed()
    {
        let why = format!("re-run from a sealed copy of the binary (CVE-2019-5736): {e}");
        if matches!(cli.command, Command::Monitor(_)) {
            // The agent reads this line as the reason the container failed.
            println!("error {why}");
        } else {
            eprintln!("berth-agent: {why}");
        }
        std::process::exit(1);
    }
    if berth_runtime::sealed::is_sealed() {
        // Run from a memfd, the process would be called after its fd
        // number (or "exe" for a monitor started through /proc/self/exe).
        // SAFETY: PR_SET_NAME copies at most 16 bytes of a NUL-terminated
        // static string.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, c"berth-agent".as_ptr());
        }
    }
    // The monitor forks first thing: it must stay single-threaded until then.
    if let Command::Monitor(args) = cli.command {
        std::process::exit(berth_agent::monitor::run(args));
    }
    // Every thread that mallocs may otherwise get an arena of its own
    // (up to 8 per core), each keeping freed memory: two are plenty for
    // an agent that mostly waits.
    #[cfg(target_env = "gnu")]
    // SAFETY: called while this is the only thread, before any other
    // allocation-heavy work; it only sets a glibc malloc parameter.
    // A fixed mmap threshold (glibc otherwise raises it to 32 MiB after
    // the first big free) sends big buffers back to the kernel when freed
    // instead of leaving them in the heap, and a small trim threshold
    // hands back the heap's free top.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 * 1024);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Each blocking thread may get its own malloc arena: keep them few.
        .max_blocking_threads(16)
        // Idle blocking threads (and their stacks) go soon.
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-agent: start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(real_main(cli.command)) {
        eprintln!("berth-agent: {e:#}");
        std::process::exit(1);
    }
}

async fn real_main(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Join { token, config } => {
            let state = berth_agent::join::join(&config, &token).await?;
            println!(
                "joined {} as host {}; start the agent with `berth-agent run`",
                state.server_url, state.host_id
            );
            Ok(())
        }
        Command::Run {
            join_token,
            oci_runtime,
            config,
        } => {
            let paths = config.paths();
            if !paths.join_file().exists()
                && let Some(token) = &join_token
            {
                let state = berth_agent::join::join(&config, token).await?;
                tracing::info!(host_id = %state.host_id, server = %state.server_url, "joined");
            }
            let mut bins = Binaries::locate(oci_runtime)?;
            if berth_runtime::sealed::is_sealed() {
                // Monitors run from this same sealed copy (main re-ran the
                // agent from it): no copy of their own, never the host file.
                bins.monitor = std::path::PathBuf::from("/proc/self/exe");
            }
            match &bins.runtime {
                Some(r) => tracing::info!(runtime = %r.display(), "OCI runtime binary"),
                None => tracing::info!("OCI runtime: the built-in library"),
            }
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let listen = config.listen;
            let agent = Agent::open(config, bins).await?;
            tracing::info!(%listen, fingerprint = %agent.identity().fingerprint(), "serving");
            let shutdown = tokio_util::sync::CancellationToken::new();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(t) => t,
                        Err(_) => return,
                    };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::info!("shutting down; containers keep running");
                signal.cancel();
            });
            agent.serve(listener, shutdown).await?;
            Ok(())
        }
        Command::Monitor(_) => Ok(()),
    }
}
