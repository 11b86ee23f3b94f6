//! Reading a container's log: the last `tail` lines, lines since a time, and
//! following the live file across rotations until the container stops.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_api::containers::LogLine;
use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::watch;

use crate::containers::Live;
use crate::monitor::logfile::{LOG_FILE, log_files};

/// Which lines to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query {
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
}

fn parse_lines(reader: impl BufRead, since: Option<DateTime<Utc>>, out: &mut Vec<LogLine>) {
    for line in reader.lines().map_while(Result::ok) {
        if let Ok(l) = serde_json::from_str::<LogLine>(&line)
            && since.is_none_or(|s| l.time >= s)
        {
            out.push(l);
        }
    }
}

/// The lines of the log in `dir` (`max_files` files), oldest first, and
/// where the live file ended (its inode and length) for a follower.
pub fn read(dir: &Path, max_files: u32, q: Query) -> (Vec<LogLine>, Option<(u64, u64)>) {
    let mut out = Vec::new();
    let mut live_pos = None;
    for path in log_files(dir, max_files) {
        let Ok(mut f) = File::open(&path) else {
            continue;
        };
        let is_live = path.file_name().is_some_and(|n| n == LOG_FILE);
        let mut reader = BufReader::new(&mut f);
        parse_lines(&mut reader, q.since, &mut out);
        if is_live {
            let pos = f.stream_position().unwrap_or(0);
            let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
            live_pos = Some((ino, pos));
        }
    }
    if let Some(t) = q.tail
        && out.len() > t
    {
        out.drain(..out.len() - t);
    }
    (out, live_pos)
}

/// Follows the live file from `start` (inode, offset): yields new lines as
/// they are written, across rotations, and ends once the container is no
/// longer running and the file has been read to its end.
pub fn follow(
    dir: PathBuf,
    max_files: u32,
    start: Option<(u64, u64)>,
    mut live: watch::Receiver<Live>,
) -> impl Stream<Item = LogLine> + Send {
    async_stream(move |tx| async move {
        let path = dir.join(LOG_FILE);
        // The open file (its reader keeps what it read ahead), its inode,
        // and a line whose end has not been written yet.
        let mut cur: Option<(BufReader<File>, u64, String)> = None;
        if let Some((ino, pos)) = start
            && let Ok(mut f) = File::open(&path)
            && f.metadata().map(|m| m.ino()).ok() == Some(ino)
            && f.seek(SeekFrom::Start(pos)).is_ok()
        {
            cur = Some((BufReader::new(f), ino, String::new()));
        }
        loop {
            let running = matches!(*live.borrow(), Live::Running { .. });
            // Read what is there.
            if cur.is_none()
                && let Ok(f) = File::open(&path)
            {
                let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
                cur = Some((BufReader::new(f), ino, String::new()));
            }
            if let Some((reader, ino, partial)) = cur.as_mut() {
                let mut buf = String::new();
                while reader.read_line(&mut buf).unwrap_or(0) > 0 {
                    if buf.ends_with('\n') {
                        partial.push_str(&buf);
                        if let Ok(l) = serde_json::from_str::<LogLine>(partial.trim_end())
                            && tx.send(l).await.is_err()
                        {
                            return;
                        }
                        partial.clear();
                    } else {
                        partial.push_str(&buf);
                    }
                    buf.clear();
                }
                // Rotated: the path now names another file; the old one is
                // complete, continue with the new one from its start.
                let now_ino = std::fs::metadata(&path).map(|m| m.ino()).ok();
                if now_ino.is_some() && now_ino != Some(*ino) {
                    // Several rotations may have happened since the last
                    // look: read every file newer than ours, in order.
                    let files = log_files(&dir, max_files);
                    let old = *ino;
                    cur = None;
                    if let Some(i) = files
                        .iter()
                        .position(|f| std::fs::metadata(f).map(|m| m.ino()).ok() == Some(old))
                    {
                        for f in &files[i + 1..files.len() - 1] {
                            let Ok(file) = File::open(f) else { continue };
                            let mut lines = Vec::new();
                            parse_lines(BufReader::new(file), None, &mut lines);
                            for l in lines {
                                if tx.send(l).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    continue;
                }
            }
            if !running {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                r = live.changed() => { if r.is_err() { return; } }
            }
        }
    })
}

/// A small channel-backed stream: `f` produces items through the sender.
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T> + Send
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::logfile::{Limits, LogWriter};
    use berth_api::containers::LogStream;
    use futures::StreamExt;

    fn line(i: usize) -> LogLine {
        LogLine {
            stream: LogStream::Stdout,
            time: Utc::now(),
            text: format!("n{i}"),
            partial: false,
        }
    }

    #[test]
    fn tail_and_since_across_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_size: 300,
            max_files: 3,
            max_line: 100,
        };
        let mut w = LogWriter::open(d.path(), limits).unwrap();
        for i in 0..12 {
            w.write(&line(i)).unwrap();
        }
        let (all, pos) = read(d.path(), 3, Query::default());
        assert_eq!(all.last().unwrap().text, "n11");
        assert!(pos.is_some());
        let (t, _) = read(
            d.path(),
            3,
            Query {
                tail: Some(2),
                since: None,
            },
        );
        assert_eq!(
            t.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["n10", "n11"]
        );
        let cut = all[5].time;
        let (s, _) = read(
            d.path(),
            3,
            Query {
                tail: None,
                since: Some(cut),
            },
        );
        assert!(s.iter().all(|l| l.time >= cut));
    }

    /// On tokio's paused clock: the writer's 60 ms pauses and the
    /// follower's 100 ms polls are timers of this process only (the file is
    /// read and written synchronously), so the interleaving is the same on
    /// every run and the test takes no real time.
    #[tokio::test(start_paused = true)]
    async fn follow_sees_new_lines_across_a_rotation_and_ends_on_stop() {
        let d = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_size: 200,
            max_files: 3,
            max_line: 100,
        };
        let mut w = LogWriter::open(d.path(), limits).unwrap();
        w.write(&line(0)).unwrap();
        let (_, pos) = read(d.path(), 3, Query::default());
        let (tx, rx) = watch::channel(Live::Running {
            pid: 1,
            paused: false,
        });
        let stream = follow(d.path().to_path_buf(), 3, pos, rx);
        let writer = tokio::spawn(async move {
            for i in 1..20 {
                w.write(&line(i)).unwrap();
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            tx.send_replace(Live::Stopped);
        });
        let got: Vec<LogLine> = tokio::time::timeout(Duration::from_secs(10), stream.collect())
            .await
            .expect("follow ended");
        writer.await.unwrap();
        let texts: Vec<String> = got.iter().map(|l| l.text.clone()).collect();
        let want: Vec<String> = (1..20).map(|i| format!("n{i}")).collect();
        assert_eq!(texts, want);
    }
}
