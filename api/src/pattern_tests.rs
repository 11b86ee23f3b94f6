//! The patterns the OpenAPI document states accept exactly what the
//! validators accept.

use regex::Regex;

use crate::{auth, containers, hosts};

fn agree(pattern: &str, check: impl Fn(&str) -> bool, samples: &[&str]) {
    let re = Regex::new(pattern).expect("the pattern compiles");
    let mut accepted = 0;
    for s in samples {
        assert_eq!(
            re.is_match(s),
            check(s),
            "{pattern} vs the validator on {s:?}"
        );
        accepted += usize::from(check(s));
    }
    assert!(
        accepted > 0 && accepted < samples.len(),
        "the samples cover both sides"
    );
}

const SAMPLES: &[&str] = &[
    "",
    "a",
    "A9",
    "web-1",
    "a.b_c",
    "-x",
    ".x",
    "_x",
    "x@y",
    "a/b",
    "a b",
    "é",
    "a=b",
    "0123456789012345678901234567890123456789012345678901234567890123",
    "01234567890123456789012345678901234567890123456789012345678901234",
    "x\n",
    "\u{0}",
];

#[test]
fn account_names() {
    agree(&auth::name_pattern(), auth::is_valid_name, SAMPLES);
}

#[test]
fn groups() {
    agree(&hosts::group_pattern(), hosts::is_valid_group, SAMPLES);
}

#[test]
fn host_label_keys() {
    agree(
        &hosts::label_key_pattern(),
        hosts::is_valid_label_key,
        SAMPLES,
    );
}

#[test]
fn container_names() {
    agree(
        &containers::container_name_pattern(),
        |s| containers::validate_container_name(s).is_ok(),
        SAMPLES,
    );
}

#[test]
fn absolute_paths_without_dot_dot() {
    let re = Regex::new(&containers::absolute_path_pattern()).unwrap();
    for ok in [
        "/", "/a", "/a/b/", "/.x", "/..x", "/x..", "/./a", "//a", "/a/./b",
    ] {
        assert!(re.is_match(ok), "{ok}");
    }
    for bad in [
        "", "a", "a/b", "/..", "/a/../b", "/a/..", "/a\u{0}b", "../a",
    ] {
        assert!(!re.is_match(bad), "{bad}");
    }
}
