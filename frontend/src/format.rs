//! How numbers, sizes and times read on the page, and how the create form
//! reads sizes back (`64m`, `1.5 GiB`, `0.5` CPUs).

use chrono::{DateTime, Utc};

use crate::num::{f64_from_u64, u64_from_f64};

const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    bytes_f(f64_from_u64(n))
}

pub fn bytes_f(n: f64) -> String {
    let mut v = n;
    let mut i = 0;
    while v.abs() >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else if v.abs() >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// `1,000`: thousands separated, as people read counts.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1 container`, `2 containers`, `1,000 containers` (regular plurals).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

/// A rate in bytes per second.
pub fn rate(n: f64) -> String {
    format!("{}/s", bytes_f(n))
}

pub fn percent(p: f64) -> String {
    if p >= 10.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// Reads a size: a number of bytes, or with a unit (k, m, g, t; KiB, MB, ...;
/// powers of 1024 either way, as `docker run -m` does).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the size is empty".into());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (try 64m, 512MiB or 1g)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use k, m, g or t)"
            ));
        }
    };
    let v = num * f64_from_u64(mult);
    if !v.is_finite() || v < 1.0 || v > f64_from_u64(u64::MAX) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(u64_from_f64(v.round()))
}

/// Reads a CPU count (`0.5`, `2`) as nano-CPUs.
pub fn parse_cpus(s: &str) -> Result<u64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of CPUs (try 0.5 or 2)"))?;
    if !(0.01..=1024.0).contains(&v) {
        return Err(format!("{s:?} CPUs is out of range (0.01 to 1024)"));
    }
    Ok(u64_from_f64((v * 1e9).round()))
}

pub fn cpus(nano: u64) -> String {
    let v = f64_from_u64(nano) / 1e9;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    if s < 0 {
        return "just now".into();
    }
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// `2026-11-03 14:05:09` in UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Now, from the browser's clock.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64 MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
        assert!(parse_bytes("0").is_err());
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
        assert_eq!(bytes(12), "12 B");
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count(1, "container"), "1 container");
        assert_eq!(count(0, "container"), "0 containers");
        assert_eq!(count(1000, "container"), "1,000 containers");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn cpus_read_and_print() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("-1").is_err());
        assert_eq!(cpus(2_000_000_000), "2");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
