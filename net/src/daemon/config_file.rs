//! A daemon's config file: one flat TOML table whose keys are the
//! snake_case of the command's long flags (`--data-dir` → `data_dir`).
//!
//! Precedence is flag > environment > file > default. clap parses the
//! command line (and the environment) first; every key of the file whose
//! argument did not come from the command line or the environment
//! (`ArgMatches::value_source`) is then appended to the command line as its
//! flag and the whole is parsed again, so a value in the file goes through
//! exactly the parser (and checks) its flag does.
//!
//! Each value is also checked on its own first, so that a bad file names the
//! key and the line: unknown keys, a value of the wrong TOML type (a table
//! for a path, a string for a switch) and a value the flag's parser refuses
//! are all errors. The file is chosen by the `config` argument ([`CONFIG_ID`],
//! see [`super::DaemonArgs`]): a missing default file is fine, a missing file
//! named on the command line or in `BERTH_CONFIG` is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use toml::de::{DeTable, DeValue};

/// The id of the argument that names the config file.
pub const CONFIG_ID: &str = "config";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line (or environment) itself is wrong: print it with
    /// `clap::Error::exit` (it also carries `--help` and `--version`).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    #[error("config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}, line {line}: {message}", path.display())]
    Bad {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {}: {message}", path.display())]
    Combined { path: PathBuf, message: String },
}

/// How to load a daemon's configuration; kept to load it again on SIGHUP.
#[derive(Debug, Clone)]
pub struct Source {
    cmd: Command,
    argv: Vec<OsString>,
    default_path: PathBuf,
}

/// A loaded configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The command line with the file's values merged in.
    pub matches: ArgMatches,
    /// The file that was read (none when the default file is absent).
    pub file: Option<PathBuf>,
    /// Every key of the file and its value as given to the flag.
    pub values: BTreeMap<String, String>,
}

impl Loaded {
    /// The matches of the subcommand that ran (the deepest one).
    pub fn leaf(&self) -> &ArgMatches {
        let mut m = &self.matches;
        while let Some((_, sub)) = m.subcommand() {
            m = sub;
        }
        m
    }
}

impl Source {
    /// `cmd` parses `argv` (with the program name first); `default_path` is
    /// read when no `--config`/`BERTH_CONFIG` names another file.
    pub fn new(cmd: Command, argv: Vec<OsString>, default_path: impl Into<PathBuf>) -> Self {
        Self {
            cmd,
            argv,
            default_path: default_path.into(),
        }
    }

    /// Parses the command line, the environment and the config file.
    pub fn load(&self) -> Result<Loaded, Error> {
        // Lenient first: a flag may need a partner that only the file gives
        // (`--tls-key` given, `tls_cert` in the file). The final parse
        // below checks everything.
        let first = self
            .cmd
            .clone()
            .ignore_errors(true)
            .try_get_matches_from(&self.argv)?;
        let (leaf_cmd, leaf) = leaf_of(&self.cmd, &first);
        if !leaf_cmd.get_arguments().any(|a| a.get_id() == CONFIG_ID) {
            return self.without_file();
        }
        let explicit = from_user(leaf.value_source(CONFIG_ID));
        let path = leaf
            .get_one::<PathBuf>(CONFIG_ID)
            .cloned()
            .unwrap_or_else(|| self.default_path.clone());
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return self.without_file();
            }
            Err(source) => return Err(Error::Read { path, source }),
        };
        let entries = parse(&path, &text)?;
        let known = keys(&self.cmd);
        let mut extra = Vec::new();
        let mut values = BTreeMap::new();
        for entry in entries {
            let Some(arg) = file_args(leaf_cmd).find(|a| key_of(a) == entry.key) else {
                if known.contains(&entry.key) {
                    // A key of another subcommand (`join_token` while `join`).
                    continue;
                }
                return Err(bad(
                    &path,
                    entry.key_line,
                    format!("unknown key `{}`", entry.key),
                ));
            };
            let args = to_args(arg, &entry.value)
                .map_err(|m| bad(&path, entry.value_line, format!("`{}`: {m}", entry.key)))?;
            values.insert(entry.key.clone(), render(&args));
            if !from_user(leaf.value_source(arg.get_id().as_str())) {
                extra.extend(args);
            }
        }
        let mut argv = self.argv.clone();
        argv.extend(extra.into_iter().map(OsString::from));
        let matches = match self.cmd.clone().try_get_matches_from(argv) {
            Ok(m) => m,
            Err(e) => {
                // The command line's own mistake is reported as such.
                self.cmd.clone().try_get_matches_from(&self.argv)?;
                return Err(Error::Combined {
                    path,
                    message: clap_message(&e),
                });
            }
        };
        Ok(Loaded {
            matches,
            file: Some(path),
            values,
        })
    }
}

impl Source {
    fn without_file(&self) -> Result<Loaded, Error> {
        Ok(Loaded {
            matches: self.cmd.clone().try_get_matches_from(&self.argv)?,
            file: None,
            values: BTreeMap::new(),
        })
    }
}

/// Every key a config file may hold for `cmd` and its subcommands.
pub fn keys(cmd: &Command) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_keys(cmd, &mut out);
    out
}

fn collect_keys(cmd: &Command, out: &mut BTreeSet<String>) {
    if cmd.get_arguments().any(|a| a.get_id() == CONFIG_ID) {
        out.extend(file_args(cmd).map(key_of));
    }
    for sub in cmd.get_subcommands() {
        collect_keys(sub, out);
    }
}

/// What an example config file gets wrong about `cmd`: keys it never
/// names (set or commented out as `# key = value`), keys `cmd` does not
/// have, and commented-out values that are not the flag's default. Empty
/// when the example is complete and true.
pub fn example_mistakes(cmd: &Command, text: &str) -> Vec<String> {
    let all = keys(cmd);
    let mut named = BTreeSet::new();
    let mut mistakes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (commented, rest) = match line.trim().strip_prefix('#') {
            Some(r) => (true, r.trim()),
            None => (false, line.trim()),
        };
        let Some((key, value)) = rest.split_once(" = ") else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        if !all.contains(key) {
            mistakes.push(format!("line {}: `{key}` is not a key", i + 1));
            continue;
        }
        named.insert(key.to_string());
        if let Some(default) = commented.then(|| default_of(cmd, key)).flatten() {
            let shown = value.trim().trim_matches('"');
            if shown != default {
                mistakes.push(format!(
                    "line {}: `{key}` shows {shown:?}, its default is {default:?}",
                    i + 1
                ));
            }
        }
    }
    mistakes.extend(
        all.difference(&named)
            .map(|k| format!("`{k}` is not in the example")),
    );
    mistakes
}

/// The default value of `key` in `cmd` or a subcommand, as text.
fn default_of(cmd: &Command, key: &str) -> Option<String> {
    let own = file_args(cmd).find(|a| key_of(a) == key).and_then(|a| {
        let d = a.get_default_values();
        (!d.is_empty()).then(|| {
            d.iter()
                .map(|v| v.to_string_lossy())
                .collect::<Vec<_>>()
                .join(",")
        })
    });
    own.or_else(|| cmd.get_subcommands().find_map(|s| default_of(s, key)))
}

/// Was the value given by the user (command line or environment)?
fn from_user(source: Option<ValueSource>) -> bool {
    matches!(
        source,
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

fn leaf_of<'a>(cmd: &'a Command, matches: &'a ArgMatches) -> (&'a Command, &'a ArgMatches) {
    let (mut c, mut m) = (cmd, matches);
    while let Some((name, sub)) = m.subcommand() {
        match c.find_subcommand(name) {
            Some(sc) => (c, m) = (sc, sub),
            None => break,
        }
    }
    (c, m)
}

/// The arguments a file may set: long flags, except `--config`, `--help`
/// and `--version`.
fn file_args(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        a.get_long().is_some()
            && a.get_id() != CONFIG_ID
            && !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
    })
}

fn key_of(arg: &Arg) -> String {
    arg.get_long().unwrap_or_default().replace('-', "_")
}

fn bad(path: &Path, line: usize, message: String) -> Error {
    Error::Bad {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// One `key = value` of the file.
struct Entry {
    key: String,
    key_line: usize,
    value: Value,
    value_line: usize,
}

/// A TOML value, as far as flags care.
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Value>),
    /// Anything else, by its type name.
    Other(&'static str),
}

impl Value {
    fn from_toml(v: &DeValue<'_>) -> Self {
        match v {
            DeValue::String(s) => Value::Str(s.to_string()),
            DeValue::Integer(i) => {
                let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
                match i64::from_str_radix(&digits, i.radix()) {
                    Ok(n) => Value::Int(n),
                    Err(_) => Value::Other("an integer out of range"),
                }
            }
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Array(a) => {
                Value::Array(a.iter().map(|v| Value::from_toml(v.as_ref())).collect())
            }
            DeValue::Float(_) => Value::Other("a float"),
            DeValue::Datetime(_) => Value::Other("a date-time"),
            DeValue::Table(_) => Value::Other("a table"),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Other(name) => name,
        }
    }

    /// The flag's text for a scalar.
    fn scalar(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, Error> {
    let table = DeTable::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_at(text, s.start));
        bad(path, line, e.message().trim().to_string())
    })?;
    let mut entries: Vec<Entry> = table
        .get_ref()
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_line: line_at(text, k.span().start),
            value: Value::from_toml(v.get_ref()),
            value_line: line_at(text, v.span().start),
        })
        .collect();
    entries.sort_by_key(|e| e.key_line);
    Ok(entries)
}

/// The flags that give `arg` this value, checked by the flag's own parser.
fn to_args(arg: &Arg, value: &Value) -> Result<Vec<String>, String> {
    let flag = format!("--{}", arg.get_long().unwrap_or_default());
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            Value::Bool(true) => Ok(vec![flag]),
            Value::Bool(false) => Ok(Vec::new()),
            other => Err(format!(
                "expected true or false, found {}",
                other.type_name()
            )),
        };
    }
    let many = matches!(arg.get_action(), ArgAction::Append);
    let items: Vec<String> = match value {
        Value::Array(a) if many => a
            .iter()
            .map(|v| {
                v.scalar().ok_or_else(|| {
                    format!(
                        "expected an array of strings, found {} in it",
                        v.type_name()
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        other => match other.scalar() {
            Some(s) => vec![s],
            None => {
                let want = if many {
                    "a string or an array of strings"
                } else {
                    "a string or a number"
                };
                return Err(format!("expected {want}, found {}", other.type_name()));
            }
        },
    };
    let mut out = Vec::new();
    for item in items {
        check(arg, &item)?;
        out.push(flag.clone());
        out.push(item);
    }
    Ok(out)
}

/// Runs `value` through `arg`'s value parser alone (no environment, no
/// other argument), so the error is about this key only.
fn check(arg: &Arg, value: &str) -> Result<(), String> {
    let mut probe = Arg::new("value")
        .long("value")
        .action(ArgAction::Set)
        .value_parser(arg.get_value_parser().clone());
    if let Some(d) = arg.get_value_delimiter() {
        probe = probe.value_delimiter(d).action(ArgAction::Append);
    }
    Command::new("config")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from(["--value", value])
        .map(|_| ())
        .map_err(|e| clap_message(&e).replace(" for '--value <value>'", ""))
}

/// clap's message without its `error: ` prefix and `--help` advice.
fn clap_message(e: &clap::Error) -> String {
    e.render()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ")
}

fn render(args: &[String]) -> String {
    match args {
        [] => "false".to_string(),
        [_flag] => "true".to_string(),
        _ => args
            .iter()
            .skip(1)
            .step_by(2)
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[cfg(test)]
#[path = "config_file_tests.rs"]
mod tests;
