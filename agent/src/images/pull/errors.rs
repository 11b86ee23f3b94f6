//! How a registry's failures become the store's errors: what went wrong,
//! said plainly, with nothing of the registry's answer echoed but one short
//! sanitized line (no bodies, no markup, no credentials).

use std::io;

use oci_client::Reference;
use oci_client::errors::OciDistributionError;

use crate::images::error::Error;

/// Registry-supplied text as it may appear in our errors: one short line of
/// plain characters; an HTML page or anything long is not echoed.
fn sanitize(text: &str) -> String {
    const MAX: usize = 120;
    let t = text.trim();
    if t.contains('<') || t.contains('>') {
        return "(an HTML or markup answer, not shown)".to_string();
    }
    let clean: String = t
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " .,:;_-/()'#=+".contains(*c))
        .take(MAX)
        .collect();
    if t.chars().count() > MAX {
        format!("{clean}…")
    } else {
        clean
    }
}

/// A failed chunk of a blob download.
pub(super) fn stream_error(e: io::Error, digest: &str, registry: &str) -> Error {
    if let Some(inner) = e.get_ref()
        && let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) =
            inner.downcast_ref::<oci_client::errors::DigestError>()
    {
        return Error::DigestMismatch {
            what: format!("layer {digest}"),
            expected: expected.clone(),
            actual: actual.clone(),
        };
    }
    Error::Registry(format!(
        "download of {digest} from {registry} failed: {}",
        chain(&e)
    ))
}

/// An oci-client error as a store error that says what went wrong.
pub(super) fn map_error(e: OciDistributionError, registry: &str, reference: &Reference) -> Error {
    use OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } => Error::AuthRefused(format!(
            "{registry} refused access to {reference} (401): wrong or missing credentials"
        )),
        E::AuthenticationFailure(reason) => {
            Error::AuthRefused(format!("{registry}: {}", sanitize(&reason)))
        }
        E::ImageManifestNotFoundError(_) => Error::UnknownRemote(reference.whole()),
        E::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| {
                    serde_json::to_value(&e.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .collect();
            if codes.iter().any(|c| {
                matches!(
                    c.as_str(),
                    "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN"
                )
            }) {
                Error::UnknownRemote(reference.whole())
            } else if codes
                .iter()
                .any(|c| matches!(c.as_str(), "UNAUTHORIZED" | "DENIED"))
            {
                Error::AuthRefused(format!("{registry} denied access to {reference}"))
            } else {
                let said: Vec<String> = envelope
                    .errors
                    .iter()
                    .zip(&codes)
                    .map(|(e, code)| format!("{}: {}", sanitize(code), sanitize(&e.message)))
                    .collect();
                Error::Registry(format!("{registry}: {}", said.join("; ")))
            }
        }
        E::ServerError { code: 404, .. } => Error::UnknownRemote(reference.whole()),
        E::ServerError {
            code: 401 | 403, ..
        } => Error::AuthRefused(format!("{registry} refused access to {reference}")),
        // The body is the registry's (or whatever it redirected to): not
        // echoed.
        E::ServerError { code, .. } => Error::Registry(format!("{registry} answered HTTP {code}")),
        E::DigestError(oci_client::errors::DigestError::VerificationError { expected, actual }) => {
            Error::DigestMismatch {
                what: format!("content of {reference}"),
                expected,
                actual,
            }
        }
        E::RequestError(e) => {
            Error::Registry(format!("registry {registry} is unreachable: {}", chain(&e)))
        }
        other => Error::Registry(format!("{registry}: {}", sanitize(&other.to_string()))),
    }
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
