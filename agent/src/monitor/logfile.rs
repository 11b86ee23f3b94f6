//! The container log as the monitor writes it: JSON lines of `LogLine`
//! (`{stream, time, text, partial?}`), rotated by size.
//!
//! `container.log` is the live file; when the next line would push it past
//! `max_size` it becomes `container.log.1` (older ones shift up, the oldest
//! past `max_files` is removed), as Docker's json-file driver does. Lines are
//! split on `\n`; bytes that are not UTF-8 become U+FFFD; a line longer than
//! `max_line` is cut into pieces marked `partial`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_api::containers::{LogLine, LogStream};
use chrono::{DateTime, Utc};

/// Name of the live log file in a container's log dir.
pub const LOG_FILE: &str = "container.log";
/// Default size of one log file before rotation.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// Default number of files kept (the live one included).
pub const DEFAULT_MAX_FILES: u32 = 3;
/// Longest line kept whole (Docker uses 16 KiB too).
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// The files of a log, oldest first: `container.log.{N-1}` .. `.1`, `container.log`.
pub fn log_files(dir: &Path, max_files: u32) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..max_files.max(1))
        .rev()
        .map(|i| dir.join(format!("{LOG_FILE}.{i}")))
        .collect();
    v.push(dir.join(LOG_FILE));
    v
}

/// Limits of one log.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_size: u64,
    pub max_files: u32,
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            max_files: DEFAULT_MAX_FILES,
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

/// Appends lines to a rotating JSON-lines log.
pub struct LogWriter {
    dir: PathBuf,
    limits: Limits,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Opens (appending) the live file in `dir`, creating the dir.
    pub fn open(dir: &Path, limits: Limits) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = open_append(&dir.join(LOG_FILE))?;
        let size = file.metadata()?.len();
        Ok(Self {
            dir: dir.to_path_buf(),
            limits,
            file,
            size,
        })
    }

    /// Writes one entry (already cut to the line limit).
    pub fn write(&mut self, line: &LogLine) -> io::Result<()> {
        let mut buf = serde_json::to_vec(line).map_err(io::Error::other)?;
        buf.push(b'\n');
        if self.size > 0 && self.size + buf.len() as u64 > self.limits.max_size {
            self.rotate()?;
        }
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let files = log_files(&self.dir, self.limits.max_files);
        // files[0] is the oldest kept; it is dropped, the rest shift up.
        if files.len() > 1 {
            let _ = std::fs::remove_file(&files[0]);
            for pair in files.windows(2) {
                match std::fs::rename(&pair[1], &pair[0]) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        } else {
            std::fs::remove_file(&files[0])?;
        }
        self.file = open_append(&self.dir.join(LOG_FILE))?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Splits one stream's bytes into log entries.
pub struct LineSplitter {
    stream: LogStream,
    pending: Vec<u8>,
    max_line: usize,
    /// When the first byte of `pending` arrived.
    pending_since: Option<DateTime<Utc>>,
}

impl LineSplitter {
    pub fn new(stream: LogStream, max_line: usize) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            max_line: max_line.max(1),
            pending_since: None,
        }
    }

    /// Feeds bytes read at `now`; returns the complete entries.
    pub fn feed(&mut self, bytes: &[u8], now: DateTime<Utc>) -> Vec<LogLine> {
        let mut out = Vec::new();
        if self.pending_since.is_none() && !bytes.is_empty() {
            self.pending_since = Some(now);
        }
        for &b in bytes {
            if b == b'\n' {
                out.push(self.entry(false, now));
            } else {
                self.pending.push(b);
                if self.pending.len() >= self.max_line {
                    out.push(self.entry(true, now));
                }
            }
        }
        if !self.pending.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(now);
        }
        out
    }

    /// Bytes waiting for their newline, if any, since when.
    pub fn pending_since(&self) -> Option<DateTime<Utc>> {
        if self.pending.is_empty() {
            None
        } else {
            self.pending_since
        }
    }

    /// Emits what is pending: at end of stream (a last line without its
    /// newline, whole) or after a long wait (`partial`, the rest follows).
    pub fn flush(&mut self, partial: bool, now: DateTime<Utc>) -> Option<LogLine> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.entry(partial, now))
    }

    fn entry(&mut self, partial: bool, now: DateTime<Utc>) -> LogLine {
        // Never cut a UTF-8 sequence in two when cutting a long line.
        let mut take = self.pending.len();
        if partial {
            let cut = utf8_boundary(&self.pending);
            if cut > 0 {
                take = cut;
            }
        }
        let rest = self.pending.split_off(take);
        let bytes = std::mem::replace(&mut self.pending, rest);
        let time = self.pending_since.unwrap_or(now);
        self.pending_since = if self.pending.is_empty() {
            None
        } else {
            Some(now)
        };
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if text.ends_with('\r') && !partial {
            text.pop();
        }
        LogLine {
            stream: self.stream,
            time,
            text,
            partial,
        }
    }
}

/// Where to cut `b` so that no UTF-8 sequence is split: before an
/// incomplete trailing sequence, else at the end.
fn utf8_boundary(b: &[u8]) -> usize {
    let n = b.len();
    let Some(lead) = (n.saturating_sub(4)..n)
        .rev()
        .find(|&j| b[j] & 0xC0 != 0x80)
    else {
        return n;
    };
    let need = match b[lead] {
        x if x >> 5 == 0b110 => 2,
        x if x >> 4 == 0b1110 => 3,
        x if x >> 3 == 0b11110 => 4,
        _ => 1,
    };
    if n - lead >= need { n } else { lead }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn splits_lines_and_keeps_partial_tail() {
        let mut s = LineSplitter::new(LogStream::Stdout, 100);
        let out = s.feed(b"a\nbc\r\nde", now());
        assert_eq!(
            out.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a", "bc"]
        );
        assert!(s.pending_since().is_some());
        let out = s.feed(b"f\n", now());
        assert_eq!(out[0].text, "def");
        assert!(s.flush(false, now()).is_none());
    }

    #[test]
    fn long_lines_are_cut_and_marked_partial() {
        let mut s = LineSplitter::new(LogStream::Stderr, 4);
        let out = s.feed(b"abcdefghij\n", now());
        let texts: Vec<_> = out.iter().map(|l| (l.text.as_str(), l.partial)).collect();
        assert_eq!(texts, [("abcd", true), ("efgh", true), ("ij", false)]);
    }

    #[test]
    fn utf8_is_not_cut_and_invalid_bytes_are_replaced() {
        let mut s = LineSplitter::new(LogStream::Stdout, 4);
        // "aé" is 3 bytes, then "é" again: a cut at 4 would split the second é.
        let out = s.feed("aéé\n".as_bytes(), now());
        assert_eq!(out[0].text, "aé");
        assert!(out[0].partial);
        assert_eq!(out[1].text, "é");
        let mut s = LineSplitter::new(LogStream::Stdout, 100);
        let out = s.feed(b"ok\xff\xfe\n", now());
        assert_eq!(out[0].text, "ok\u{fffd}\u{fffd}");
    }

    #[test]
    fn rotates_by_size_keeping_max_files() {
        let d = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_size: 200,
            max_files: 3,
            max_line: 1000,
        };
        let mut w = LogWriter::open(d.path(), limits).unwrap();
        for i in 0..40 {
            w.write(&LogLine {
                stream: LogStream::Stdout,
                time: now(),
                text: format!("line {i}"),
                partial: false,
            })
            .unwrap();
        }
        let files = log_files(d.path(), 3);
        for f in &files {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 200, "{} is {len} bytes", f.display());
        }
        assert!(!d.path().join("container.log.3").exists());
        // The newest line is last in the live file, and lines are in order across files.
        let all: Vec<LogLine> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<LogLine>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(all.last().unwrap().text, "line 39");
        let nums: Vec<u32> = all.iter().map(|l| l.text[5..].parse().unwrap()).collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    }
}
