//! `berth-agent`'s config file: the shipped example names every flag of
//! `join` and `run` with its default, the precedence holds for the real
//! command line, keys of `run` are fine in a file read by `join`, and a
//! bad file names key and line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use berth_agent::config::{Cli, Command};
use berth_net::daemon::config_file::{Error, example_mistakes};
use clap::CommandFactory;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/etc/agent.toml");

fn load(args: &[&str], file: &Path) -> Result<Cli, Error> {
    let argv: Vec<OsString> = std::iter::once(OsString::from("berth-agent"))
        .chain(args.iter().map(OsString::from))
        .chain([OsString::from("--config"), file.as_os_str().to_owned()])
        .collect();
    let loaded = Cli::source(argv).load()?;
    Ok(Cli::from_loaded(&loaded).expect("a loaded config converts"))
}

fn file_with(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_names_every_flag_with_its_default() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let mistakes = example_mistakes(&Cli::command(), &text);
    assert!(
        mistakes.is_empty(),
        "packaging/etc/agent.toml: {mistakes:#?}"
    );
    for sub in ["run", "join"] {
        let args: &[&str] = if sub == "run" {
            &["run"]
        } else {
            &["join", "tok"]
        };
        let cli = load(args, Path::new(EXAMPLE)).unwrap();
        let (Command::Run { daemon, .. } | Command::Join { daemon, .. }) = cli.command else {
            panic!("{sub}: not a daemon command");
        };
        assert_eq!(
            daemon.log_format,
            berth_net::daemon::LogFormat::Json,
            "{sub}"
        );
    }
}

#[test]
fn flag_beats_file_beats_default_for_run_and_join() {
    let dir = tempfile::tempdir().unwrap();
    let file = file_with(
        &dir,
        "listen = \"127.0.0.1:7000\"\nname = \"h1\"\njoin_token = \"t\"\n\
         cgroup_parent = \"/berth-file\"\n",
    );
    let cli = load(&["run", "--name", "h2"], &file).unwrap();
    let Command::Run {
        join_token, config, ..
    } = cli.command
    else {
        panic!("not run");
    };
    assert_eq!(config.name.as_deref(), Some("h2"), "flag");
    assert_eq!(config.listen.to_string(), "127.0.0.1:7000", "file");
    assert_eq!(join_token.as_deref(), Some("t"), "file, run only");
    assert_eq!(config.cgroup_parent, "/berth-file");
    assert_eq!(config.bridge, "berth0", "default");

    // `join` reads the same file; `join_token` is `run`'s and is skipped.
    let cli = load(&["join", "tok"], &file).unwrap();
    let Command::Join { token, config, .. } = cli.command else {
        panic!("not join");
    };
    assert_eq!(token, "tok");
    assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
}

#[test]
fn bad_files_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = file_with(&dir, "listen = \"127.0.0.1:7000\"\ncgroup = \"/x\"\n");
    let e = load(&["run"], &file).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("unknown key `cgroup`"),
        "{e}"
    );
    let file = file_with(&dir, "\n\nlisten = 7443\n");
    let e = load(&["run"], &file).unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("`listen`"), "{e}");
    let file = file_with(&dir, "log_filter = \"info,[[\"\n");
    let e = load(&["run"], &file).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("`log_filter`"), "{e}");
}

#[test]
fn the_monitor_reads_no_file() {
    // The hidden monitor has no --config: a broken default file can't stop
    // containers from starting. (Its flags are checked by clap as before.)
    let dir = tempfile::tempdir().unwrap();
    let file = file_with(&dir, "this is not toml\n");
    let argv = ["berth-agent", "monitor", "--config", file.to_str().unwrap()];
    let loaded = Cli::source(argv.iter().map(OsString::from).collect()).load();
    assert!(
        matches!(loaded, Err(Error::Cli(_))),
        "monitor has no --config flag"
    );
}
