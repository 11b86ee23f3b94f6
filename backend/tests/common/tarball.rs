//! Tar archives for the fake agent's import and the tests that feed it: the
//! fake checks an import body the way a real agent's import begins (a tar
//! archive, read as a stream, holding `manifest.json` or `index.json`), so a
//! test that sends it something else gets the real agent's 400, not a 201;
//! and small valid archives to send.

use std::sync::OnceLock;

use axum::body::Body;
use futures::StreamExt;

/// Tar's block size.
pub const BLOCK: usize = 512;

/// What the real agent answers (as a 400) for an archive it can't import.
pub const NOT_TAR: &str = "not a tar archive, or truncated";
pub const NO_MANIFEST: &str =
    "neither manifest.json (docker save) nor index.json (OCI layout) is in the archive";

/// Reads a tar stream to its end without keeping it: every header's
/// checksum, every entry whole. `Ok(bytes read)` when it is an archive that
/// holds `manifest.json` or `index.json`, else the refusal's detail.
pub async fn check_import(body: Body) -> Result<u64, String> {
    let mut stream = body.into_data_stream();
    let mut header: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut skip: u64 = 0;
    let mut ended = false;
    let mut names: Vec<String> = Vec::new();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("body: {e}"))?;
        total += chunk.len() as u64;
        let mut c: &[u8] = &chunk;
        while !c.is_empty() && !ended {
            if skip > 0 {
                let k = usize::try_from(skip).unwrap_or(usize::MAX).min(c.len());
                c = &c[k..];
                skip -= k as u64;
                continue;
            }
            let k = (BLOCK - header.len()).min(c.len());
            header.extend_from_slice(&c[..k]);
            c = &c[k..];
            if header.len() < BLOCK {
                break;
            }
            match entry(&header)? {
                None => ended = true,
                Some((name, size)) => {
                    names.push(name);
                    skip = size.div_ceil(BLOCK as u64) * BLOCK as u64;
                }
            }
            header.clear();
        }
    }
    if skip > 0 || !header.is_empty() {
        return Err(format!("{NOT_TAR}: the archive ends inside an entry"));
    }
    let has = |want: &str| names.iter().any(|n| n.trim_start_matches("./") == want);
    if !has("manifest.json") && !has("index.json") {
        return Err(NO_MANIFEST.to_string());
    }
    Ok(total)
}

/// One header block: `None` at the end-of-archive (zero) block, else the
/// entry's name and size; an error when the checksum does not hold.
fn entry(block: &[u8]) -> Result<Option<(String, u64)>, String> {
    if block.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    let h = tar::Header::from_byte_slice(block);
    let stored = h.cksum().map_err(|e| format!("{NOT_TAR}: {e}"))?;
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    if sum != stored {
        return Err(format!("{NOT_TAR}: header checksum mismatch"));
    }
    let size = h.entry_size().map_err(|e| format!("{NOT_TAR}: {e}"))?;
    let name = String::from_utf8_lossy(&h.path_bytes()).into_owned();
    Ok(Some((name, size)))
}

/// A tar header block for a regular file.
pub fn file_header(name: &str, size: u64) -> [u8; BLOCK] {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).expect("a short name");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    *h.as_bytes()
}

/// A small archive the fake accepts: a `docker save` manifest and config
/// (an image without layers).
pub fn tiny_image_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let mut out = Vec::new();
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let manifest = br#"[{"Config":"config.json","RepoTags":["tiny:latest"],"Layers":[]}]"#;
        for (name, data) in [
            ("config.json", &config[..]),
            ("manifest.json", &manifest[..]),
        ] {
            out.extend_from_slice(&file_header(name, data.len() as u64));
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        out
    })
}
