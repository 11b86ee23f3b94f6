//! Reading a `.deb`'s control file: the `ar` archive, its
//! `control.tar.{xz,zst,gz}` (or uncompressed `control.tar`), and the
//! `control` paragraph in it. Every size is bounded, so a hostile file
//! costs little; a bad one is an error, never a panic.

use std::io::Read;
use std::path::Path;

/// Largest `control.tar.*` member read (compressed).
const MAX_CONTROL_MEMBER: u64 = 16 << 20;
/// Largest `control` file (uncompressed).
const MAX_CONTROL_FILE: u64 = 1 << 20;
/// Memory the xz decoder may use, KiB.
const XZ_MEM_LIMIT_KB: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a Debian package: {0}")]
    Format(String),
}

/// A control paragraph: its fields in their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub fields: Vec<(String, String)>,
}

impl Control {
    /// The value of `name` (field names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses one deb822 paragraph (continuation lines start with a blank).
    pub fn parse(text: &str) -> Result<Control, DebError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, v)) = fields.last_mut() else {
                    return Err(DebError::Format("a continuation line comes first".into()));
                };
                v.push('\n');
                v.push_str(line);
                continue;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| {
                DebError::Format(format!("control line without a colon: {line:?}"))
            })?;
            let k = k.trim();
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(DebError::Format(format!("bad field name {k:?}")));
            }
            fields.push((k.to_string(), v.trim().to_string()));
        }
        let c = Control { fields };
        for need in ["Package", "Version", "Architecture"] {
            let v = c.get(need).unwrap_or_default();
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err(DebError::Format(format!(
                    "the control file's {need} is missing or holds blanks"
                )));
            }
        }
        let name_ok = c.get("Package").is_some_and(|p| {
            p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
        });
        let arch_ok = c
            .get("Architecture")
            .is_some_and(|a| a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !name_ok || !arch_ok {
            return Err(DebError::Format(
                "the Package or Architecture field has characters Debian does not allow".into(),
            ));
        }
        Ok(c)
    }

    pub fn package(&self) -> &str {
        self.get("Package").unwrap_or_default()
    }

    pub fn version(&self) -> &str {
        self.get("Version").unwrap_or_default()
    }

    pub fn architecture(&self) -> &str {
        self.get("Architecture").unwrap_or_default()
    }
}

/// The control paragraph of the `.deb` at `path`.
pub fn read_control(path: &Path) -> Result<Control, DebError> {
    let file = std::fs::File::open(path)?;
    let mut ar = ar::Archive::new(file);
    let mut first = true;
    while let Some(entry) = ar.next_entry() {
        let entry = entry.map_err(|e| DebError::Format(format!("not an ar archive: {e}")))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if first {
            if name != "debian-binary" {
                return Err(DebError::Format(format!(
                    "the first member is {name:?}, not debian-binary"
                )));
            }
            first = false;
            continue;
        }
        if entry.header().size() > MAX_CONTROL_MEMBER && name.starts_with("control.tar") {
            return Err(DebError::Format(format!("{name} is too large")));
        }
        let limited = entry.take(MAX_CONTROL_MEMBER);
        let text = match name.as_str() {
            "control.tar" => control_from_tar(limited)?,
            "control.tar.gz" => control_from_tar(flate2::read::GzDecoder::new(limited))?,
            "control.tar.xz" => control_from_tar(lzma_rust2::XzReader::new_mem_limit(
                limited,
                true,
                XZ_MEM_LIMIT_KB,
            ))?,
            "control.tar.zst" => control_from_tar(zstd::stream::read::Decoder::new(limited)?)?,
            n if n.starts_with("control.tar") => {
                return Err(DebError::Format(format!("unsupported member {n}")));
            }
            _ => continue,
        };
        return Control::parse(&text);
    }
    Err(DebError::Format("no control.tar member".into()))
}

/// The `control` file of a control tarball.
fn control_from_tar(reader: impl Read) -> Result<String, DebError> {
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries()? {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().to_string();
        if path.trim_start_matches("./") != "control" || !entry.header().entry_type().is_file() {
            continue;
        }
        let mut text = String::new();
        entry.take(MAX_CONTROL_FILE).read_to_string(&mut text)?;
        return Ok(text);
    }
    Err(DebError::Format("control.tar has no control file".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_paragraph_with_continuations() {
        let c = Control::parse(
            "Package: berth-agent\nVersion: 1:0.2.0-1\nArchitecture: arm64\nDescription: one\n two\n .\n",
        )
        .unwrap();
        assert_eq!(c.package(), "berth-agent");
        assert_eq!(c.version(), "1:0.2.0-1");
        assert_eq!(c.architecture(), "arm64");
        assert_eq!(c.get("description"), Some("one\n two\n ."));
    }

    #[test]
    fn refuses_bad_paragraphs() {
        for bad in [
            "",
            "Package: a\nVersion: 1\n",
            "Package: a b\nVersion: 1\nArchitecture: amd64\n",
            "Package: A\nVersion: 1\nArchitecture: amd64\n",
            "Package: a\nVersion: 1\nArchitecture: ../x\n",
            " continuation first\n",
            "no colon here\n",
        ] {
            assert!(Control::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn garbage_is_not_a_package() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.deb");
        std::fs::write(&p, b"!<arch>\nnonsense").unwrap();
        assert!(read_control(&p).is_err());
        std::fs::write(&p, b"hello").unwrap();
        assert!(read_control(&p).is_err());
        assert!(read_control(&dir.path().join("missing.deb")).is_err());
    }
}
