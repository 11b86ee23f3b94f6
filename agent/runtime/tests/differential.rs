//! Differential testing against runc and crun (issue 18): the same bundle,
//! runc's own template (`runc spec`) changed one or a few fields at a time,
//! goes through runc, crun and berth-runtime, and a probe inside the
//! container prints what the process got (`differential/probe.sh`). The
//! rules and the table of explained differences are in
//! `differential/compare.rs`; docs/testing.md lists the compared fields
//! and the variants.
//!
//! CI runs every hand-written variant and `DIFF_VARIANTS` generated ones
//! (default 40) from `DIFF_SEED` (default 18); `bench/differential.sh`
//! runs more. `DIFF_ONLY=<text>` keeps the variants whose name contains it.

mod common;
#[path = "differential/mod.rs"]
mod diff;

use std::time::Instant;

use diff::compare::{compare, render};
use diff::world::{Outcome, RUNTIMES, World};
use diff::{generated, probe, variants};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn short(o: &Outcome) -> &'static str {
    match o {
        Outcome::Ran(_) => "ran",
        Outcome::Refused(_) => "refused",
    }
}

#[test]
fn berth_matches_runc_and_crun() {
    if !common::can_run() {
        return;
    }
    for tool in ["runc", "crun", "nsenter", "unshare"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            berth_testkit::skip(&format!("needs {tool} (Debian's runc, crun, util-linux)"));
            return;
        }
    }
    let seed: u64 = env_or("DIFF_SEED", 18);
    let n: usize = env_or("DIFF_VARIANTS", 40);
    let only = std::env::var("DIFF_ONLY").unwrap_or_default();
    let started = Instant::now();
    let mut world = World::new(std::path::Path::new(env!("CARGO_BIN_EXE_berth-runtime")));
    let base = variants::base(&world.runc_template());
    let mut all = variants::hand_written(&base);
    all.extend(generated::generated(&base, seed, n));
    all.retain(|v| v.name.contains(&only));

    let mut diffs = Vec::new();
    let mut disagreements = 0;
    for v in &all {
        let t = Instant::now();
        let mut spec = v.spec.clone();
        spec["process"]["args"] = serde_json::json!(probe::args(&spec));
        // The three at once: they share nothing but the read-only rootfs.
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let world = &world;
            let spec = &spec;
            let runs: Vec<_> = RUNTIMES
                .iter()
                .map(|rt| s.spawn(move || world.run(rt, spec)))
                .collect();
            runs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        world.next_variant();
        let found = compare(&v.name, &outcomes[0], &outcomes[1], &outcomes[2]);
        if outcomes[0] != outcomes[1] {
            disagreements += 1;
        }
        println!(
            "{:<70} runc {:<7} crun {:<7} berth {:<7} {:<9} {:.2}s",
            v.name.chars().take(70).collect::<String>(),
            short(&outcomes[0]),
            short(&outcomes[1]),
            short(&outcomes[2]),
            if found.is_empty() { "ok" } else { "DIFFERENT" },
            t.elapsed().as_secs_f64()
        );
        diffs.extend(found);
    }
    println!(
        "{} variants (seed {seed}, {n} generated) in {:.1} s; runc and crun \
         differ on {disagreements}; {} unexplained difference(s)",
        all.len(),
        started.elapsed().as_secs_f64(),
        diffs.len()
    );
    assert!(
        diffs.is_empty(),
        "berth differs from runc and crun where the rules do not allow it:{}",
        render(&diffs)
    );
}

/// The rules themselves (no root needed): a harness that cannot fail
/// proves nothing.
#[test]
fn the_rules_catch_differences() {
    use std::collections::BTreeMap;
    let ran = |pairs: &[(&str, &str)]| {
        Outcome::Ran(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let refused = |m: &str| Outcome::Refused(m.to_string());
    let a = ran(&[("status.CapEff", "0")]);
    let b = ran(&[("status.CapEff", "1")]);
    // All agree: nothing to report.
    assert!(compare("x", &a, &a, &a).is_empty());
    // runc and crun agree, berth does not: the field, with the values.
    let d = compare("x", &a, &a, &b);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].field, "status.CapEff");
    assert_eq!(d[0].berth.as_deref(), Some("1"));
    assert!(render(&d).contains("runc and crun agree"));
    // They disagree and the table says nothing: reported even though
    // berth matches one of them.
    assert_eq!(compare("x", &a, &b, &a).len(), 1);
    // Both refuse: berth must refuse, with a message.
    assert!(compare("x", &refused("no"), &refused("no"), &refused("bad spec")).is_empty());
    let d = compare("x", &refused("no"), &refused("no"), &a);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].field, "outcome");
    let silent = refused("(no error output; exit 1; stdout \"\")");
    assert_eq!(
        compare("x", &refused("no"), &refused("no"), &silent)[0].field,
        "error message"
    );
    // The table picks runc for a named variant's outcome: berth must
    // follow runc, not crun.
    assert!(compare("cwd-relative", &refused("abs"), &a, &refused("abs")).is_empty());
    assert_eq!(
        compare("cwd-relative", &refused("abs"), &a, &a)[0].field,
        "outcome"
    );
    // A pattern with `*` in the middle.
    let gen_cpu = "gen3:/linux/resources/cpu=edge:{\"shares\":1}";
    assert!(compare(gen_cpu, &refused("min 2"), &a, &refused("min 2")).is_empty());
    // An Own row lets berth differ on that field only.
    let cg = |v: &str| ran(&[("mount./sys/fs/cgroup", v), ("status.CapEff", "0")]);
    assert!(compare("x", &cg("rw"), &cg("rw"), &cg("ro")).is_empty());
}
