//! Image references normalised the way Docker does (distribution's
//! `reference.ParseNormalizedNamed`): `busybox` →
//! `docker.io/library/busybox:latest`, `me/app` → `docker.io/me/app:latest`,
//! `host:5000/a/b` → `host:5000/a/b:latest`; digests are kept.

use oci_client::Reference;

use super::error::{Error, Result};

/// Parses and normalises a reference.
pub fn parse(reference: &str) -> Result<Reference> {
    let trimmed = reference.trim();
    if trimmed.is_empty() {
        return Err(Error::BadReference {
            reference: reference.to_string(),
            reason: "it is empty".to_string(),
        });
    }
    let parsed = Reference::try_from(trimmed).map_err(|e| Error::BadReference {
        reference: reference.to_string(),
        reason: e.to_string(),
    })?;
    // The grammar lets a first component like `UPPER` pass as a domain;
    // once split, a repository must be lowercase (as Docker insists).
    if parsed.repository().chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::BadReference {
            reference: reference.to_string(),
            reason: "repository name must be lowercase".to_string(),
        });
    }
    Ok(parsed)
}

/// The normalised text of a reference.
pub fn normalise(reference: &str) -> Result<String> {
    parse(reference).map(|r| r.whole())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let cases = [
            ("busybox", "docker.io/library/busybox:latest".to_string()),
            ("busybox:1.36", "docker.io/library/busybox:1.36".to_string()),
            ("me/app", "docker.io/me/app:latest".to_string()),
            (
                "index.docker.io/library/alpine:3",
                "docker.io/library/alpine:3".to_string(),
            ),
            (
                "localhost:5000/a/b/c:v1",
                "localhost:5000/a/b/c:v1".to_string(),
            ),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest".to_string()),
            (
                &*format!("busybox@{digest}"),
                format!("docker.io/library/busybox@{digest}"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "  ",
            "Busybox",
            "UPPER/case",
            "a b",
            "x@sha256:1234",
            "x:tag!",
        ] {
            let err = normalise(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}: {err}");
        }
    }
}
