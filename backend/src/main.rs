//! `berth-server`: load the configuration (flags, environment,
//! `/etc/berth/server.toml`), set up logging and SIGHUP, run.

fn main() {
    let source = berth_server::config::Cli::source(std::env::args_os().collect());
    let loaded = match source.load() {
        Ok(l) => l,
        Err(berth_net::daemon::config_file::Error::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("berth-server: {e}");
            std::process::exit(2);
        }
    };
    let cli = match berth_server::config::Cli::from_loaded(&loaded) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-server: {e:#}");
            std::process::exit(2);
        }
    };
    let logging = berth_net::daemon::logging::init(berth_net::daemon::logging::Options {
        format: cli.daemon.log_format,
        filter: cli.daemon.log_filter.as_deref(),
        default_filter: berth_server::config::DEFAULT_LOG_FILTER,
        stderr: false,
        target: false,
    });
    if let Some(file) = &loaded.file {
        tracing::info!(file = %file.display(), "read the config file");
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-server: start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(async move {
        berth_net::daemon::logging::reload_on_sighup(source, loaded, logging);
        berth_server::run(cli.config).await
    });
    if let Err(e) = result {
        eprintln!("Error: {e:?}");
        std::process::exit(1);
    }
}
