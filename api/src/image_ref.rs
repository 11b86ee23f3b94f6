//! Image references, parsed and normalised the way Docker does
//! (distribution's reference grammar and its "familiar" names):
//! `busybox` → `docker.io/library/busybox:latest`, `me/app` →
//! `docker.io/me/app:latest`, `index.docker.io/x/y` → `docker.io/x/y:latest`,
//! `host:5000/a/b` → `host:5000/a/b:latest`; a digest is kept (and then no
//! `latest` is added). Pure and wasm-safe: the agent (pulls, lookups) and the
//! dashboard (matching a spec's image to the image list) use this one code.

use std::fmt;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The longest name (registry and repository) Docker accepts.
pub const NAME_MAX: usize = 255;
/// The longest tag.
pub const TAG_MAX: usize = 128;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io`, `localhost:5000`, `registry.example.com`, `[::1]:5000`.
    pub registry: String,
    /// `library/busybox`, `me/app`, `a/b/c`.
    pub repository: String,
    /// `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    /// `sha256:<64 hex>` or `sha512:<128 hex>`.
    pub digest: Option<String>,
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefError {
    pub reference: String,
    pub reason: &'static str,
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an image reference: {}",
            self.reference, self.reason
        )
    }
}

impl std::error::Error for RefError {}

impl ImageRef {
    /// Parses and normalises `reference` (surrounding spaces are ignored).
    pub fn parse(reference: &str) -> Result<ImageRef, RefError> {
        let err = |reason| RefError {
            reference: reference.to_string(),
            reason,
        };
        let r = reference.trim();
        if r.is_empty() {
            return Err(err("it is empty"));
        }
        let (rest, digest) = match r.split_once('@') {
            Some((n, d)) => (n, Some(check_digest(d).map_err(err)?)),
            None => (r, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                check_tag(t).map_err(err)?;
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.len() > NAME_MAX {
            return Err(err("the name is longer than 255 characters"));
        }
        let (registry, repository) = split_registry(name);
        check_registry(registry).map_err(err)?;
        check_repository(repository).map_err(err)?;
        let registry = match registry {
            "index.docker.io" => DOCKER_HUB,
            r => r,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        Ok(ImageRef {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The normalised text of a reference.
pub fn normalise(reference: &str) -> Result<String, RefError> {
    ImageRef::parse(reference).map(|r| r.to_string())
}

/// Docker's rule: the first component names a registry when there is more
/// than one and it has a `.` or a `:`, or is `localhost`.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn check_registry(registry: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(v6) = registry.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("the registry's [address] is not closed")?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("the registry's [address] is not an IPv6 address");
        }
        let port = match after {
            "" => None,
            a => Some(
                a.strip_prefix(':')
                    .ok_or("the registry's port is not a number")?,
            ),
        };
        (None, port)
    } else {
        match registry.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let ok = !host.is_empty()
            && host.split('.').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                    && !c.starts_with('-')
                    && !c.ends_with('-')
            });
        if !ok {
            return Err("the registry is not a host name");
        }
    }
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the registry's port is not a number");
    }
    Ok(())
}

fn check_repository(repo: &str) -> Result<(), &'static str> {
    if repo.is_empty() {
        return Err("the repository name is empty");
    }
    for component in repo.split('/') {
        if component.is_empty() {
            return Err("the repository has an empty path component");
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err("repository name must be lowercase");
        }
        if !component_ok(component) {
            return Err(
                "a repository path component is lowercase letters and digits, joined by one `.`, one or two `_`, or `-`s",
            );
        }
    }
    Ok(())
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !b.first().copied().is_some_and(alnum) || !b.last().copied().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok
        || tag.len() > TAG_MAX
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        );
    }
    Ok(())
}

fn check_digest(d: &str) -> Result<String, &'static str> {
    let (algo, hex) = d.split_once(':').ok_or("a digest is algorithm:hex")?;
    let want = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err("a digest's algorithm is sha256 or sha512"),
    };
    if hex.len() != want
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err("a digest's hex has the wrong length or characters");
    }
    Ok(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let cases = [
            ("busybox", "docker.io/library/busybox:latest".to_string()),
            (
                " busybox:1.36 ",
                "docker.io/library/busybox:1.36".to_string(),
            ),
            ("me/app", "docker.io/me/app:latest".to_string()),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "index.docker.io/library/alpine:3",
                "docker.io/library/alpine:3".to_string(),
            ),
            (
                "index.docker.io/alpine",
                "docker.io/library/alpine:latest".to_string(),
            ),
            ("localhost/x", "localhost/x:latest".to_string()),
            (
                "localhost:5000/a/b/c:v1",
                "localhost:5000/a/b/c:v1".to_string(),
            ),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest".to_string()),
            ("[::1]:5000/x", "[::1]:5000/x:latest".to_string()),
            (
                "reg.example.com/a_b/c__d/e--f.g",
                "reg.example.com/a_b/c__d/e--f.g:latest".to_string(),
            ),
            (
                &*format!("busybox@{digest}"),
                format!("docker.io/library/busybox@{digest}"),
            ),
            (
                &*format!("busybox:1@{digest}"),
                format!("docker.io/library/busybox:1@{digest}"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input).unwrap(), want, "{input}");
        }
        let r = ImageRef::parse("localhost:5000/a/b:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "a/b", Some("v1"))
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for bad in [
            "",
            "  ",
            "Busybox",
            "UPPER/case",
            "a b",
            "x@sha256:1234",
            "x@md5:00",
            "x:tag!",
            "x:.tag",
            "x:",
            "a//b",
            "/a",
            "a/",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "host:port/x",
            "[::1/x",
            "[zz]:5000/x",
            "-bad.host/x",
        ] {
            assert!(normalise(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "a".repeat(256);
        assert!(normalise(&long).is_err());
        let tag = format!("x:{}", "t".repeat(129));
        assert!(normalise(&tag).is_err());
        let e = normalise("Busybox").unwrap_err().to_string();
        assert!(e.contains("must be lowercase"), "{e}");
    }
}
