//! Content digests (OCI image-spec "Digests"): only `sha256:<64 lowercase hex>`
//! is accepted, and readers/writers that hash what flows through them so a
//! blob is verified while it is written, never re-read.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use super::error::{Error, Result};

/// Checks `sha256:<hex>` and returns the hex part.
pub fn parse_sha256(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| Error::Unsupported(format!("digest {digest:?} is not sha256")))?;
    if is_hex64(hex) {
        Ok(hex)
    } else {
        Err(Error::BadArchive(format!("malformed digest {digest:?}")))
    }
}

/// True for exactly 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A reader that hashes and counts what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (trailing padding after a tar's end
    /// marker still counts towards the digest) and returns `(digest, size)`.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what is written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Returns the inner writer with `(digest, size)`.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parse_sha256(&good).unwrap(), "a".repeat(64));
        assert!(parse_sha256("sha512:abcd").is_err());
        assert!(parse_sha256(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(parse_sha256(&format!("sha256:{}", "a".repeat(63))).is_err());
        assert!(parse_sha256(&format!("sha256:../{}", "a".repeat(61))).is_err());
    }

    #[test]
    fn hashing_reader_and_writer_agree() {
        let data = b"hello layer".repeat(1000);
        let reader = HashingReader::new(&data[..]);
        let (d1, n1) = reader.finish().unwrap();
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (out, d2, n2) = w.finish();
        assert_eq!(out, data);
        assert_eq!((d1.clone(), n1), (d2, n2));
        assert_eq!(d1, sha256_of(&data));
    }
}
