//! `hugetlb` controller: v1 `hugetlb.<size>.limit_in_bytes`, v2
//! `hugetlb.<size>.max` (cgroup-v1/hugetlb.rst).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgroups::{HugetlbStats, Result, files};

/// Whether `dir` uses the v2 file names.
fn is_v2(dir: &Path) -> bool {
    dir.join("cgroup.controllers").exists()
}

pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    let v2 = is_v2(dir);
    for l in limits {
        let size = l.page_size();
        let (file, value) = if v2 {
            let v = if l.limit() < 0 {
                "max".to_string()
            } else {
                l.limit().to_string()
            };
            (format!("hugetlb.{size}.max"), v)
        } else {
            (
                format!("hugetlb.{size}.limit_in_bytes"),
                l.limit().to_string(),
            )
        };
        files::write(dir, &file, value)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut BTreeMap<String, HugetlbStats>) -> Result<()> {
    let v2 = is_v2(dir);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let usage_suffix = if v2 { ".current" } else { ".usage_in_bytes" };
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(usage_suffix))
            .filter(|s| !s.contains('.'))
        else {
            continue;
        };
        let mut s = HugetlbStats {
            usage: files::read_u64_opt(dir, &name)?.unwrap_or(0),
            ..Default::default()
        };
        if v2 {
            if let Some(ev) = files::read_opt(dir, &format!("hugetlb.{size}.events"))? {
                s.failcnt = files::keyed_u64(&ev, "max");
            }
        } else {
            s.max_usage = files::read_u64_opt(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?;
            s.failcnt = files::read_u64_opt(dir, &format!("hugetlb.{size}.failcnt"))?.unwrap_or(0);
        }
        out.insert(size.to_string(), s);
    }
    Ok(())
}
