//! Generated container names, for a create that gives none.

use rand::RngCore;

/// `<image short name>-<6 hex>`, e.g. `busybox-3fa2c1`.
pub(super) fn generated_name(image: &str) -> String {
    let base = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split(['@', ':'])
        .next()
        .unwrap_or("container");
    let base: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(40)
        .collect();
    let base = if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "container".to_string()
    } else {
        base
    };
    let mut raw = [0u8; 3];
    rand::rng().fill_bytes(&mut raw);
    format!("{base}-{}", hex::encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid() {
        for image in [
            "busybox",
            "docker.io/library/busybox:latest",
            "x@sha256:ab",
            "_",
        ] {
            let n = generated_name(image);
            berth_api::containers::validate_container_name(&n).unwrap();
        }
        assert!(generated_name("registry:5000/team/web:1").starts_with("web-"));
    }
}
