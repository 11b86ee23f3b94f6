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
    fn oci_client_reads_what_berth_api_normalised() {
        // The cases of every form are berth_api::image_ref's tests; here
        // oci-client must agree with each normalised text.
        let digest = format!("sha256:{}", "0".repeat(64));
        for input in [
            "busybox",
            "me/app:1",
            "index.docker.io/library/alpine:3",
            "localhost:5000/a/b/c:v1",
            &*format!("busybox@{digest}"),
        ] {
            let want = berth_api::image_ref::normalise(input).unwrap();
            assert_eq!(normalise(input).unwrap(), want);
            assert_eq!(parse(input).unwrap().whole(), want, "{input}");
        }
    }

    #[test]
    fn an_ipv6_registry_oci_client_cannot_read_is_a_400() {
        // berth_api normalises it (Docker's grammar allows it); oci-client's
        // parser has no IPv6 literals, so a pull refuses it clearly.
        assert_eq!(normalise("[::1]:5000/x").unwrap(), "[::1]:5000/x:latest");
        if let Err(e) = parse("[::1]:5000/x") {
            assert_eq!(e.status(), 400, "{e}");
        }
    }

    #[test]
    fn refusals_are_400_naming_the_reference() {
        for bad in ["", "Busybox", "x@sha256:1234", "x:tag!"] {
            let err = normalise(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}: {err}");
        }
    }
}
