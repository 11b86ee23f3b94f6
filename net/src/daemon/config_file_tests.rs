use std::net::SocketAddr;

use clap::{CommandFactory, FromArgMatches, Parser};

use super::*;
use crate::daemon::DaemonArgs;

/// A toy daemon with one argument of each kind.
#[derive(Debug, Parser)]
#[command(name = "toy")]
struct Toy {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[arg(long, env = "BERTH_TOY_LISTEN", default_value = "127.0.0.1:1")]
    listen: SocketAddr,
    #[arg(long, env = "BERTH_TOY_SWITCH")]
    switch: bool,
    #[arg(long, value_delimiter = ',')]
    proxies: Vec<String>,
    #[arg(long, default_value_t = 5)]
    count: u32,
    #[arg(long, requires = "key_file")]
    cert_file: Option<PathBuf>,
    #[arg(long, requires = "cert_file")]
    key_file: Option<PathBuf>,
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(text: &str) -> Self {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("toy.toml"), text).unwrap();
        Dir(d)
    }
    fn file(&self) -> PathBuf {
        self.0.path().join("toy.toml")
    }
    /// Loads with the file as the default path and `args` on the command line.
    fn load(&self, args: &[&str]) -> Result<Toy, Error> {
        let argv = std::iter::once("toy")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let loaded = Source::new(Toy::command(), argv, self.file()).load()?;
        Ok(Toy::from_arg_matches(&loaded.matches).unwrap())
    }
}

fn bad_line(r: Result<Toy, Error>) -> (usize, String) {
    match r {
        Err(Error::Bad { line, message, .. }) => (line, message),
        other => panic!("expected a bad file, got {other:?}"),
    }
}

#[test]
fn default_wins_without_anything_else() {
    let toy = Dir::new("").load(&[]).unwrap();
    assert_eq!(toy.listen.to_string(), "127.0.0.1:1");
    assert_eq!(toy.count, 5);
    assert!(!toy.switch);
}

#[test]
fn file_wins_over_default() {
    let dir = Dir::new(
        "listen = \"127.0.0.1:2\"\nswitch = true\ncount = 7\nproxies = [\"a\", \"b,c\"]\n",
    );
    let toy = dir.load(&[]).unwrap();
    assert_eq!(toy.listen.to_string(), "127.0.0.1:2");
    assert!(toy.switch);
    assert_eq!(toy.count, 7);
    assert_eq!(toy.proxies, ["a", "b", "c"]);
}

#[test]
fn flag_wins_over_file() {
    let dir = Dir::new("listen = \"127.0.0.1:2\"\ncount = 7\n");
    let toy = dir.load(&["--listen", "127.0.0.1:3"]).unwrap();
    assert_eq!(toy.listen.to_string(), "127.0.0.1:3");
    assert_eq!(toy.count, 7, "the other key still comes from the file");
}

/// The environment can't be changed safely in a threaded test: these two
/// run this test binary again with the variable set, as [`env_child`].
fn in_child(env: &[(&str, &str)], args: &str, file: &str) -> String {
    let dir = Dir::new(file);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "daemon::config_file::tests::env_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("BERTH_TOY_CHILD_ARGS", args)
    .env("BERTH_TOY_CHILD_FILE", dir.file())
    .env_remove("BERTH_TOY_LISTEN")
    .env_remove("BERTH_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    stdout
        .lines()
        .find_map(|l| l.split_once("CHILD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no answer from the child: {stdout}"))
        .to_string()
}

#[test]
fn env_child() {
    let Some(args) = std::env::var_os("BERTH_TOY_CHILD_ARGS") else {
        return;
    };
    let file = std::env::var_os("BERTH_TOY_CHILD_FILE").unwrap();
    let argv = std::iter::once(OsString::from("toy"))
        .chain(
            args.to_string_lossy()
                .split_whitespace()
                .map(OsString::from),
        )
        .collect();
    let loaded = Source::new(Toy::command(), argv, PathBuf::from(file))
        .load()
        .unwrap();
    let toy = Toy::from_arg_matches(&loaded.matches).unwrap();
    println!("CHILD listen={} switch={}", toy.listen, toy.switch);
}

#[test]
fn env_wins_over_file() {
    let got = in_child(
        &[
            ("BERTH_TOY_LISTEN", "127.0.0.1:4"),
            ("BERTH_TOY_SWITCH", "false"),
        ],
        "",
        "listen = \"127.0.0.1:2\"\nswitch = true\n",
    );
    assert_eq!(got, "listen=127.0.0.1:4 switch=false");
}

#[test]
fn flag_wins_over_env() {
    let got = in_child(
        &[("BERTH_TOY_LISTEN", "127.0.0.1:4")],
        "--listen 127.0.0.1:5",
        "listen = \"127.0.0.1:2\"\n",
    );
    assert_eq!(got, "listen=127.0.0.1:5 switch=false");
}

#[test]
fn unknown_key_names_key_and_line() {
    let (line, msg) = bad_line(Dir::new("count = 1\n\n# a comment\nlisten_on = \"x\"\n").load(&[]));
    assert_eq!(line, 4);
    assert!(msg.contains("unknown key `listen_on`"), "{msg}");
}

#[test]
fn wrong_types_name_key_and_line() {
    let (line, msg) = bad_line(Dir::new("count = 1\nswitch = \"yes\"\n").load(&[]));
    assert_eq!(line, 2);
    assert!(
        msg.contains("`switch`") && msg.contains("true or false"),
        "{msg}"
    );

    let (line, msg) = bad_line(Dir::new("\n\ncount = \"many\"\n").load(&[]));
    assert_eq!(line, 3);
    assert!(
        msg.contains("`count`") && msg.contains("invalid value 'many'"),
        "{msg}"
    );

    let (line, msg) = bad_line(Dir::new("listen = 8080\n").load(&[]));
    assert_eq!(line, 1);
    assert!(msg.contains("`listen`") && msg.contains("8080"), "{msg}");

    let (line, msg) = bad_line(Dir::new("count = 1\n[listen]\nport = 1\n").load(&[]));
    assert_eq!(line, 2);
    assert!(msg.contains("found a table"), "{msg}");

    let (line, msg) = bad_line(Dir::new("count = 1\nlog_format = \"xml\"\n").load(&[]));
    assert_eq!(line, 2);
    assert!(
        msg.contains("`log_format`") && msg.contains("json"),
        "{msg}"
    );
}

#[test]
fn a_bad_value_is_an_error_even_when_a_flag_overrides_it() {
    let (line, _) = bad_line(Dir::new("count = -1\n").load(&["--count", "2"]));
    assert_eq!(line, 1);
}

#[test]
fn toml_syntax_errors_have_a_line() {
    let (line, _) = bad_line(Dir::new("count = 1\nlisten = \"unterminated\n").load(&[]));
    assert_eq!(line, 2);
}

#[test]
fn missing_files() {
    let dir = Dir::new("");
    std::fs::remove_file(dir.file()).unwrap();
    assert!(dir.load(&[]).is_ok(), "a missing default file is fine");
    let named = dir.0.path().join("nope.toml");
    match dir.load(&["--config", named.to_str().unwrap()]) {
        Err(Error::Read { path, .. }) => assert_eq!(path, named),
        other => panic!("a missing explicit file is an error: {other:?}"),
    }
}

#[test]
fn requirements_hold_across_file_and_flags() {
    let dir = Dir::new("cert_file = \"/c\"\n");
    match dir.load(&[]) {
        Err(Error::Combined { message, .. }) => assert!(message.contains("key-file"), "{message}"),
        other => panic!("expected the missing pair to be refused: {other:?}"),
    }
    let toy = dir.load(&["--key-file", "/k"]).unwrap();
    assert_eq!(toy.cert_file.as_deref(), Some(Path::new("/c")));
}

#[test]
fn keys_are_the_long_flags() {
    let keys = keys(&Toy::command());
    let want = [
        "cert_file",
        "count",
        "key_file",
        "listen",
        "log_filter",
        "log_format",
        "proxies",
        "switch",
    ];
    assert_eq!(keys.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

#[test]
fn values_record_what_the_file_said() {
    let dir = Dir::new("switch = true\nproxies = [\"a\", \"b\"]\ncount = 3\n");
    let argv = vec![OsString::from("toy")];
    let loaded = Source::new(Toy::command(), argv, dir.file())
        .load()
        .unwrap();
    assert_eq!(loaded.values["switch"], "true");
    assert_eq!(loaded.values["proxies"], "a,b");
    assert_eq!(loaded.values["count"], "3");
    assert_eq!(loaded.file.as_deref(), Some(dir.file().as_path()));
}

#[test]
fn examples_must_name_every_key_with_its_default() {
    let cmd = Toy::command();
    let complete = "listen = \"127.0.0.1:9\"\n# listen = \"127.0.0.1:1\"\n# switch = false\n\
        # proxies = []\n# count = 5\n# cert_file = \"/c\"\n# key_file = \"/k\"\n\
        # log_format = \"text\"\n# log_filter = \"info\"\n# Some prose = not a key line\n";
    assert_eq!(example_mistakes(&cmd, complete), Vec::<String>::new());
    let wrong = "# count = 6\n# colour = \"red\"\n";
    let mistakes = example_mistakes(&cmd, wrong);
    assert!(
        mistakes.iter().any(|m| m.contains("`count` shows \"6\"")),
        "{mistakes:?}"
    );
    assert!(
        mistakes.iter().any(|m| m.contains("`colour` is not a key")),
        "{mistakes:?}"
    );
    assert!(
        mistakes
            .iter()
            .any(|m| m.contains("`listen` is not in the example")),
        "{mistakes:?}"
    );
}
