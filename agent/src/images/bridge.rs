//! A bridge from an async byte source to a blocking `Read`: the tar and
//! decompression crates are synchronous, so they run on a blocking thread
//! and are fed chunk by chunk through a small bounded channel. The body is
//! never held whole in memory.

use std::io::{self, Read};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// Chunks in flight between the async side and the blocking reader.
const DEPTH: usize = 16;

/// Makes a connected (sender, reader) pair.
pub fn channel() -> (mpsc::Sender<io::Result<Bytes>>, ChannelReader) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        tx,
        ChannelReader {
            rx,
            current: Bytes::new(),
        },
    )
}

/// The blocking end: reads what the sender sends, EOF when it is dropped.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Copies `source` into `tx` until EOF, an error (forwarded), or the reader
/// goes away. Returns the number of bytes sent.
pub async fn pump<R: AsyncRead + Unpin>(mut source: R, tx: mpsc::Sender<io::Result<Bytes>>) -> u64 {
    let mut sent = 0u64;
    loop {
        let mut buf = BytesMut::with_capacity(128 << 10);
        match source.read_buf(&mut buf).await {
            Ok(0) => return sent,
            Ok(n) => {
                sent += n as u64;
                if tx.send(Ok(buf.freeze())).await.is_err() {
                    return sent;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return sent;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_cross_intact() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (tx, mut reader) = channel();
        let expected = data.clone();
        let reading = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            out
        });
        let sent = pump(&data[..], tx).await;
        assert_eq!(sent, data.len() as u64);
        assert_eq!(reading.await.unwrap(), expected);
    }
}
