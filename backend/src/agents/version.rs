//! Is a host's agent older than this server? Agents report their version at
//! join and in every health check (`AgentInfo::version`); the host's answer
//! says `agent_outdated` when that version is older than the server's
//! (`berth_api::VERSION`, which `GET /api/v1/health` reports too).
//!
//! Versions compare as SemVer 2.0 precedence: build metadata is ignored
//! (`0.2.0+ci1` is `0.2.0`) and a pre-release is older than its release
//! (`0.2.0-rc.1` < `0.2.0`). Debian package versions are read too: an epoch
//! (`1:`) is dropped, a Debian revision of digits only (`0.2.0-1`, which
//! SemVer would read as a pre-release) is dropped, and Debian's `~`
//! (`0.2.0~rc1`, older than `0.2.0`) is a pre-release. A version that is
//! empty or does not parse is unknown: never reported as outdated.

use std::cmp::Ordering;

use semver::Version;

/// The version as SemVer, or `None` when it is not one.
pub fn parse(version: &str) -> Option<Version> {
    let v = version.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    // A Debian epoch: digits and a colon.
    let v = match v.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        _ => v,
    };
    // A Debian revision of digits only ("-1"), after the last hyphen.
    let v = match v.rsplit_once('-') {
        Some((upstream, rev))
            if !rev.is_empty()
                && rev.bytes().all(|b| b.is_ascii_digit())
                && !upstream.is_empty() =>
        {
            upstream
        }
        _ => v,
    };
    let v = v.replacen('~', "-", 1);
    Version::parse(&v).ok()
}

/// How `agent` compares with `server`, or `None` when either is unknown.
pub fn compare(agent: &str, server: &str) -> Option<Ordering> {
    Some(parse(agent)?.cmp_precedence(&parse(server)?))
}

/// The agent's version is known and older than this server's.
pub fn agent_outdated(agent: &str) -> bool {
    compare(agent, berth_api::VERSION) == Some(Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn older(agent: &str, server: &str) -> bool {
        compare(agent, server) == Some(Ordering::Less)
    }

    #[test]
    fn numeric_not_lexical() {
        assert!(older("0.9.0", "0.10.0"));
        assert!(older("0.1.0", "0.2.0"));
        assert!(older("1.9.9", "2.0.0"));
        assert!(!older("0.10.0", "0.9.0"));
        assert_eq!(compare("0.2.0", "0.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("0.3.0", "0.2.0"), Some(Ordering::Greater));
    }

    #[test]
    fn build_metadata_is_ignored_and_prereleases_are_older() {
        assert_eq!(compare("0.2.0+ci1", "0.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("0.2.0+ci1", "0.2.0+ci2"), Some(Ordering::Equal));
        assert!(older("0.2.0-rc.1", "0.2.0"));
        assert!(older("0.2.0-alpha", "0.2.0-beta"));
        assert!(older("0.1.0-fake", "0.2.0"));
        assert!(!older("0.2.0", "0.2.0-rc.1"));
    }

    #[test]
    fn debian_package_versions() {
        // A Debian revision is a build of the same upstream version.
        assert_eq!(compare("0.2.0-1", "0.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("0.2.0-12", "0.2.0-1"), Some(Ordering::Equal));
        assert_eq!(compare("1:0.2.0-1", "0.2.0"), Some(Ordering::Equal));
        assert!(older("0.1.0-1", "0.2.0"));
        // `~` sorts before the release, as in dpkg.
        assert!(older("0.2.0~rc1", "0.2.0"));
        assert!(older("0.2.0~rc1-1", "0.2.0-1"));
        assert_eq!(compare("v0.2.0", "0.2.0"), Some(Ordering::Equal));
    }

    #[test]
    fn unknown_is_not_outdated() {
        for v in ["", "  ", "x", "0.2", "latest", "0.2.0.1", ":0.2.0", "-1"] {
            assert_eq!(compare(v, "0.2.0"), None, "{v:?}");
            assert!(!agent_outdated(v), "{v:?}");
        }
        assert_eq!(compare("0.2.0", "dev"), None);
    }

    #[test]
    fn against_this_server() {
        assert!(!agent_outdated(berth_api::VERSION));
        assert!(agent_outdated("0.0.1"));
        assert!(!agent_outdated("999.0.0"));
    }
}
