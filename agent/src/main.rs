//! `berth-agent`: `join <token>`, `run`, and the internal `monitor`.

use berth_agent::config::{Cli, Command};
use berth_agent::{Agent, Binaries};

fn main() {
    let source = Cli::source(std::env::args_os().collect());
    let loaded = match source.load() {
        Ok(l) => l,
        Err(berth_net::daemon::config_file::Error::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("berth-agent: {e}");
            std::process::exit(2);
        }
    };
    let cli = Cli::from_loaded(&loaded).unwrap_or_else(|e| e.exit());
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
    let daemon = match &cli.command {
        Command::Join { daemon, .. } | Command::Run { daemon, .. } => daemon.clone(),
        Command::Monitor(_) => return,
    };
    let logging = berth_net::daemon::logging::init(berth_net::daemon::logging::Options {
        format: daemon.log_format,
        filter: daemon.log_filter.as_deref(),
        default_filter: berth_agent::config::DEFAULT_LOG_FILTER,
        stderr: true,
        target: true,
    });
    if let Some(file) = &loaded.file {
        tracing::info!(file = %file.display(), "read the config file");
    }
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
    let reload = matches!(cli.command, Command::Run { .. }).then_some((source, loaded, logging));
    if let Err(e) = rt.block_on(real_main(cli.command, reload)) {
        eprintln!("berth-agent: {e:#}");
        std::process::exit(1);
    }
}

/// What SIGHUP needs to reload the log filter (for `run`).
type Reload = (
    berth_net::daemon::Source,
    berth_net::daemon::Loaded,
    berth_net::daemon::logging::Handle,
);

async fn real_main(command: Command, reload: Option<Reload>) -> anyhow::Result<()> {
    if let Some((source, loaded, logging)) = reload {
        berth_net::daemon::logging::reload_on_sighup(source, loaded, logging);
    }
    match command {
        Command::Join { token, config, .. } => {
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
            ..
        } => {
            // Bind before joining: the server may call as soon as the host
            // is joined, and a port that is taken must not cost the
            // single-use join token.
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
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
            let listen = config.listen;
            let agent = Agent::open(config, bins).await?;
            tracing::info!(%listen, fingerprint = %agent.identity().fingerprint(), "serving");
            // Listening, and every container re-adopted: ready for systemd.
            berth_net::daemon::notify_ready();
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
