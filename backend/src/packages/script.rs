//! `/install/agent.sh`: the install script, written by the server for
//! itself (`agent.sh` is the template). Everything the script trusts is in
//! it, so it all came through the connection the install command pinned:
//! the server's URL and certificate pin, each architecture's package path
//! and SHA-256, the repository's public key, the apt source and, for a
//! self-signed server, the certificate apt is to trust for this host.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::repo::{AGENT_PACKAGE, ARCHES, COMPONENT, Repo, SUITE};
use super::{Packages, ServerCert};

const TEMPLATE: &str = include_str!("agent.sh");

/// Where the script installs the keyring (`Signed-By:` names it).
pub const KEYRING_PATH: &str = "/usr/share/keyrings/berth-archive-keyring.gpg";
/// Where the script puts a self-signed server's certificate for apt.
pub const SERVER_CERT_PATH: &str = "/etc/berth/server-cert.pem";

/// `s` as one single-quoted shell word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The host of a URL (no port; IPv6 without brackets).
pub fn url_host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
        .unwrap_or_default()
}

/// The deb822 source the script installs.
pub fn sources(public_url: &str) -> String {
    format!(
        "Types: deb\nURIs: {}/apt\nSuites: {SUITE}\nComponents: {COMPONENT}\nSigned-By: {KEYRING_PATH}",
        public_url.trim_end_matches('/')
    )
}

/// The apt setting that makes apt trust a self-signed server's own
/// certificate, and only it, for the server's host.
pub fn apt_conf(public_url: &str) -> String {
    format!(
        "// Berth: trust only berth-server's own (self-signed) certificate for this host.\n\
         Acquire::https::{}::CaInfo \"{SERVER_CERT_PATH}\";",
        url_host(public_url)
    )
}

/// The `case "$arch"` lines: the package of each architecture Berth
/// builds for (or of any other one the directory holds).
fn package_cases(repo: &Repo) -> String {
    let mut out = String::new();
    let mut arches: Vec<String> = ARCHES.iter().map(ToString::to_string).collect();
    for d in repo.debs.values() {
        let a = d.control.architecture();
        if a != "all" && !arches.iter().any(|x| x == a) {
            arches.push(a.to_string());
        }
    }
    for arch in arches {
        match repo.newest(AGENT_PACKAGE, &arch) {
            Some(d) => out.push_str(&format!(
                "{arch})\n\tdeb_path={}\n\tdeb_sha256={}\n\tdeb_version={}\n\t;;\n",
                sh_quote(&d.pool_path),
                sh_quote(&d.sha256),
                sh_quote(d.control.version()),
            )),
            // Supported, but no package here: deb_path stays empty.
            None => out.push_str(&format!("{arch}) ;;\n")),
        }
    }
    out.trim_end().to_string()
}

/// Wraps base64 at 76 columns.
fn wrap(b64: &str) -> String {
    b64.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The script for this server, its packages and its certificate.
pub fn render(packages: &Packages, repo: &Repo, public_url: &str, cert: &ServerCert) -> String {
    let url = public_url.trim_end_matches('/');
    let cases = package_cases(repo);
    let pem = if cert.self_signed {
        cert.leaf_pem.trim().to_string()
    } else {
        String::new()
    };
    TEMPLATE
        .replace("@SERVER_URL_Q@", &sh_quote(url))
        .replace("@SERVER_HOST_Q@", &sh_quote(&url_host(url)))
        .replace("@PIN_Q@", &sh_quote(&cert.curl_pin()))
        .replace("@SELF_SIGNED@", if cert.self_signed { "1" } else { "0" })
        .replace("@PACKAGE_CASES@", &cases)
        .replace(
            "@KEYRING_B64@",
            &wrap(&STANDARD.encode(packages.key().public_keyring())),
        )
        .replace("@KEY_FINGERPRINT@", &packages.key().fingerprint_hex())
        .replace("@SOURCES@", &sources(url))
        .replace("@SERVER_CERT@", &pem)
        .replace("@APT_CONF@", &apt_conf(url))
        .replace("@SERVER_URL@", url)
}

/// The one line an admin runs on a fresh host.
pub fn install_command(public_url: &str, cert: &ServerCert, token: &str) -> String {
    let insecure = if cert.self_signed { " --insecure" } else { "" };
    format!(
        "curl --pinnedpubkey {}{insecure} -fsSL {}/install/agent.sh | sh -s -- {token}",
        sh_quote(&cert.curl_pin()),
        public_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_hosts() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(url_host("https://10.0.0.5:8080"), "10.0.0.5");
        assert_eq!(url_host("https://[::1]:8080/"), "::1");
        assert_eq!(url_host("https://berth.example"), "berth.example");
        assert!(apt_conf("https://10.0.0.5:8080").contains("Acquire::https::10.0.0.5::CaInfo"));
        assert!(sources("https://b:1/").contains("URIs: https://b:1/apt\n"));
    }
}
