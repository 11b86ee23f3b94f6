//! Navigation inside the dashboard: where a `?next=` parameter may send the
//! browser after login.

/// The path to go to after login: `next` when it is a path on this site,
/// else `/`. Accepted are absolute paths starting with a single `/`; refused
/// are anything with a scheme or host (`https://evil.com`, `//evil.com`),
/// backslashes (browsers read `/\evil.com` as `//evil.com`), encoded slashes
/// or backslashes right after the first `/`, whitespace and control
/// characters (the URL parser drops tabs and newlines: `/\t/evil.com`), and
/// the login page itself (no loop).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) && !n.starts_with("/login") => n.to_string(),
        _ => "/".to_string(),
    }
}

/// Is `p` an absolute path on this origin (see [`safe_next`])?
pub fn is_local_path(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(|c| c.is_control() || c.is_whitespace())
        && !lower.starts_with("/%2f")
        && !lower.starts_with("/%5c")
        && p.len() <= 2048
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_next_values_go_home() {
        for bad in [
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/\\/evil.com",
            "https://evil.com",
            "http:evil.com",
            "javascript:alert(1)",
            "evil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "/%2F/evil.com",
            "/%2fevil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/ /evil.com",
            "",
            "/login",
            "/login?next=/hosts",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn local_paths_are_kept() {
        for good in [
            "/",
            "/hosts/h1",
            "/containers?host=h1&state=running",
            "/hosts/h1/containers/web#console",
            "/containers/a%20b",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
    }
}
