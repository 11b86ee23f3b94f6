//! Image references, normalised by `berth_api::image_ref` (the one
//! normalisation the dashboard uses too: Docker's rules, `busybox` →
//! `docker.io/library/busybox:latest`), then handed to `oci-client` as its
//! `Reference` for pulls.

use oci_client::Reference;

use super::error::{Error, Result};

/// Parses and normalises a reference.
pub fn parse(reference: &str) -> Result<Reference> {
    let normalised = normalise(reference)?;
    Reference::try_from(normalised.as_str()).map_err(|e| Error::BadReference {
        reference: reference.to_string(),
        reason: e.to_string(),
    })
}

/// The normalised text of a reference.
pub fn normalise(reference: &str) -> Result<String> {
    berth_api::image_ref::normalise(reference).map_err(|e| Error::BadReference {
        reference: reference.to_string(),
        reason: e.reason.to_string(),
    })
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
            // oci-client reads the same registry, repository and tag.
            assert_eq!(parse(input).unwrap().whole(), want, "{input}");
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
