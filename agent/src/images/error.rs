//! Errors of the image store, each mapped to the HTTP status the API answers
//! with (docs/api.md "Conventions": 400 bad input, 404 unknown, 409 in use,
//! 413 too large, 422 well-formed but unusable, 502 registry failed).

/// Everything the image store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request body that is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),

    /// A reference that does not parse (`Busybox!`, an empty string...).
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },

    /// No image with that reference or id in the store.
    #[error("no such image: {0}")]
    NotFound(String),

    /// The image is used by containers and cannot be removed.
    #[error("image {image} is in use by container(s) {}", containers.join(", "))]
    InUse {
        image: String,
        containers: Vec<String>,
    },

    /// An imported tarball is not a `docker save` or OCI-layout archive, or
    /// its content contradicts itself.
    #[error("bad image archive: {0}")]
    BadArchive(String),

    /// A layer could not be unpacked: truncated, malformed or hostile in a way
    /// that cannot be made safe.
    #[error("bad layer {layer}: {reason}")]
    BadLayer { layer: String, reason: String },

    /// Content whose digest or size is not what its descriptor says.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// Something larger than the store accepts.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },

    /// A well-formed image the store cannot use (unknown layer media type, no
    /// manifest for this host's platform...).
    #[error("unsupported image: {0}")]
    Unsupported(String),

    /// The registry has no such repository, tag or digest.
    #[error("image not found in registry: {0}")]
    UnknownRemote(String),

    /// The registry refused the credentials (or asked for some).
    #[error("registry refused authentication: {0}")]
    AuthRefused(String),

    /// The registry could not be reached or answered with garbage.
    #[error("registry failed: {0}")]
    Registry(String),

    /// The pull would connect to an internal address (loopback, link-local,
    /// cloud metadata) and the host does not allow internal registries.
    #[error("{0}")]
    InternalRegistry(String),

    /// A host-side failure: disk full, permissions, a failed mount.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The image store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a host-side I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Wraps a host-side I/O error on a path.
    pub fn io_path(
        action: &str,
        path: &std::path::Path,
        source: impl Into<std::io::Error>,
    ) -> Self {
        Error::io(format!("failed to {action} {}", path.display()), source)
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_)
            | Error::BadReference { .. }
            | Error::BadArchive(_)
            | Error::BadLayer { .. } => 400,
            Error::NotFound(_) | Error::UnknownRemote(_) => 404,
            Error::InUse { .. } => 409,
            Error::TooLarge { .. } => 413,
            Error::Unsupported(_) | Error::DigestMismatch { .. } | Error::InternalRegistry(_) => {
                422
            }
            Error::AuthRefused(_) => 401,
            Error::Registry(_) => 502,
            Error::Io { .. } => 500,
        }
    }

    /// The problem+json body of this error. Internal causes are not sent to
    /// the client: a 500 says only that the store failed.
    pub fn to_problem(&self) -> berth_api::Problem {
        let detail = match self {
            Error::Io { .. } => {
                "the image store failed on the host; see the agent's log".to_string()
            }
            other => other.to_string(),
        };
        berth_api::Problem::new(self.status(), detail)
    }
}
