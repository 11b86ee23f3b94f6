//! Device access rules shared by v1's `devices` controller and v2's eBPF
//! program.

use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One allow or deny rule: `type major:minor access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// `a` (all), `c` (char) or `b` (block).
    pub kind: char,
    /// `None` is the wildcard `*`.
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |n: Option<i64>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

const fn allow(
    kind: char,
    major: Option<i64>,
    minor: Option<i64>,
    access: &'static str,
) -> (char, Option<i64>, Option<i64>, &'static str) {
    (kind, major, minor, access)
}

/// Devices every container may use (as runc): mknod of anything, and the
/// default `/dev` nodes plus ptys.
pub const DEFAULT_ALLOWED_DEVICES: &[(char, Option<i64>, Option<i64>, &str)] = &[
    allow('c', None, None, "m"),
    allow('b', None, None, "m"),
    allow('c', Some(1), Some(3), "rwm"), // null
    allow('c', Some(1), Some(5), "rwm"), // zero
    allow('c', Some(1), Some(7), "rwm"), // full
    allow('c', Some(1), Some(8), "rwm"), // random
    allow('c', Some(1), Some(9), "rwm"), // urandom
    allow('c', Some(5), Some(0), "rwm"), // tty
    allow('c', Some(5), Some(1), "rwm"), // console
    allow('c', Some(5), Some(2), "rwm"), // ptmx
    allow('c', Some(136), None, "rwm"),  // pts/*
];

impl DeviceRule {
    /// Converts one spec rule.
    pub fn from_spec(r: &LinuxDeviceCgroup) -> Self {
        let kind = match r.typ() {
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
            Some(LinuxDeviceType::B) => 'b',
            Some(LinuxDeviceType::P) => 'p',
            Some(LinuxDeviceType::A) | None => 'a',
        };
        let access = r
            .access()
            .clone()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "rwm".into());
        DeviceRule {
            allow: r.allow(),
            kind,
            major: r.major().filter(|&m| m >= 0),
            minor: r.minor().filter(|&m| m >= 0),
            access,
        }
    }

    /// The spec's rules in order, then [`DEFAULT_ALLOWED_DEVICES`]. Named
    /// pipes (`p`) are not device-controlled and are dropped.
    pub fn with_defaults(rules: &[LinuxDeviceCgroup]) -> Vec<DeviceRule> {
        let mut out: Vec<DeviceRule> = rules
            .iter()
            .map(Self::from_spec)
            .filter(|r| r.kind != 'p')
            .collect();
        out.extend(
            DEFAULT_ALLOWED_DEVICES
                .iter()
                .map(|&(kind, major, minor, access)| DeviceRule {
                    allow: true,
                    kind,
                    major,
                    minor,
                    access: access.to_string(),
                }),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn rules_render_like_the_kernel_wants() {
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        let rules = DeviceRule::with_defaults(&[deny_all]);
        assert_eq!(rules[0].to_string(), "a *:* rwm");
        assert!(!rules[0].allow);
        assert!(
            rules
                .iter()
                .any(|r| r.to_string() == "c 1:3 rwm" && r.allow)
        );
        assert!(rules.iter().any(|r| r.to_string() == "c 136:* rwm"));
    }
}
