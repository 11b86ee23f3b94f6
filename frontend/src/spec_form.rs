//! The create form's text fields turned into a [`ContainerSpec`], checked
//! before anything is sent: every mistake names the field and what is wrong.

use std::collections::BTreeMap;

use berth_api::containers::{
    ContainerSpec, Limits, MountSpec, NetworkMode, PortMapping, Protocol, RestartPolicy,
    RuntimeKind, validate_container_name,
};

use crate::format::{parse_bytes, parse_cpus};

/// The form as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecForm {
    pub name: String,
    pub image: String,
    /// A command line, split like a shell would (quotes, backslashes).
    pub cmd: String,
    /// `KEY=VALUE` lines.
    pub env: String,
    pub workdir: String,
    pub user: String,
    pub hostname: String,
    pub memory: String,
    pub cpus: String,
    pub pids: String,
    /// `8080:80`, `8080:80/udp` lines.
    pub ports: String,
    /// `/host/path:/container/path[:ro]` lines.
    pub mounts: String,
    pub network: String,
    pub restart: String,
    /// `KEY=VALUE` lines.
    pub labels: String,
    pub runtime: String,
}

/// Splits a command line into words: spaces separate, quotes group,
/// a backslash escapes the next character (outside single quotes).
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('"'), '"') => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => return Err("the command ends with a lone backslash".into()),
            },
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("the command has an unclosed {q} quote"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `KEY=VALUE` lines into a map.
pub fn parse_pairs(text: &str, what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("{what}, line {}: {line:?} is not KEY=VALUE", n + 1));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{what}, line {}: the key is empty", n + 1));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("{what}: {k:?} is given twice"));
        }
    }
    Ok(out)
}

fn parse_port(n: usize, line: &str) -> Result<PortMapping, String> {
    let (ports, proto) = match line.rsplit_once('/') {
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some((_, other)) => {
            return Err(format!(
                "ports, line {n}: unknown protocol {other:?} (tcp or udp)"
            ));
        }
        None => (line, Protocol::Tcp),
    };
    let (h, c) = ports
        .split_once(':')
        .ok_or_else(|| format!("ports, line {n}: {line:?} is not HOST:CONTAINER (e.g. 8080:80)"))?;
    let port = |s: &str, which: &str| -> Result<u16, String> {
        match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!(
                "ports, line {n}: the {which} port {s:?} is not a number from 1 to 65535"
            )),
        }
    };
    Ok(PortMapping {
        host_port: port(h, "host")?,
        container_port: port(c, "container")?,
        protocol: proto,
    })
}

fn parse_mount(n: usize, line: &str) -> Result<MountSpec, String> {
    let parts: Vec<&str> = line.split(':').collect();
    let (source, target, readonly) = match parts.as_slice() {
        [s, t] => (*s, *t, false),
        [s, t, "ro"] => (*s, *t, true),
        [s, t, "rw"] => (*s, *t, false),
        _ => {
            return Err(format!(
                "mounts, line {n}: {line:?} is not /host/path:/container/path[:ro]"
            ));
        }
    };
    if !source.starts_with('/') || !target.starts_with('/') {
        return Err(format!(
            "mounts, line {n}: both paths must be absolute (start with /)"
        ));
    }
    if target.split('/').any(|c| c == "..") {
        return Err(format!("mounts, line {n}: the target may not contain .."));
    }
    Ok(MountSpec {
        source: source.to_string(),
        target: target.to_string(),
        readonly,
    })
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl SpecForm {
    /// The spec, or the first mistake found.
    pub fn to_spec(&self) -> Result<ContainerSpec, String> {
        let image = self.image.trim();
        if image.is_empty() {
            return Err("image: choose an image (e.g. busybox:latest)".into());
        }
        if image.chars().any(char::is_whitespace) {
            return Err(format!("image: {image:?} may not contain spaces"));
        }
        let name = opt(&self.name);
        if let Some(n) = &name {
            validate_container_name(n).map_err(|e| format!("name: {e}"))?;
        }
        let cmd = split_command(&self.cmd).map_err(|e| format!("command: {e}"))?;
        let limits = Limits {
            memory_bytes: opt(&self.memory)
                .map(|m| parse_bytes(&m))
                .transpose()
                .map_err(|e| format!("memory limit: {e}"))?,
            nano_cpus: opt(&self.cpus)
                .map(|c| parse_cpus(&c))
                .transpose()
                .map_err(|e| format!("CPU limit: {e}"))?,
            pids: opt(&self.pids)
                .map(|p| match p.parse::<u64>() {
                    Ok(v) if v > 0 => Ok(v),
                    _ => Err(format!("pids limit: {p:?} is not a whole number above 0")),
                })
                .transpose()?,
        };
        if limits.memory_bytes.is_some_and(|m| m < 4 << 20) {
            return Err("memory limit: at least 4 MiB, or the container cannot start".into());
        }
        let mut ports = Vec::new();
        for (i, line) in self.ports.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() {
                let p = parse_port(i + 1, line)?;
                if ports
                    .iter()
                    .any(|q: &PortMapping| q.host_port == p.host_port && q.protocol == p.protocol)
                {
                    return Err(format!(
                        "ports: host port {}/{} is published twice",
                        p.host_port, p.protocol
                    ));
                }
                ports.push(p);
            }
        }
        let mut mounts = Vec::new();
        for (i, line) in self.mounts.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() {
                mounts.push(parse_mount(i + 1, line)?);
            }
        }
        let network = opt(&self.network)
            .map(|n| n.parse::<NetworkMode>())
            .transpose()
            .map_err(|e| format!("network: {e}"))?;
        if !ports.is_empty() && matches!(network, Some(NetworkMode::None | NetworkMode::Host)) {
            return Err("ports: publishing ports needs the bridge network".into());
        }
        let restart = opt(&self.restart)
            .map(|r| r.parse::<RestartPolicy>())
            .transpose()
            .map_err(|e| format!("restart: {e}"))?;
        let runtime = match self.runtime.trim() {
            "" => None,
            "berth" => Some(RuntimeKind::Berth),
            "docker" => Some(RuntimeKind::Docker),
            other => return Err(format!("runtime: unknown runtime {other:?}")),
        };
        Ok(ContainerSpec {
            name,
            image: image.to_string(),
            cmd: (!cmd.is_empty()).then_some(cmd),
            env: parse_pairs(&self.env, "environment")?,
            workdir: opt(&self.workdir),
            user: opt(&self.user),
            hostname: opt(&self.hostname),
            limits,
            ports,
            mounts,
            network,
            restart,
            labels: parse_pairs(&self.labels, "labels")?,
            runtime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(split_command("sleep 600").unwrap(), ["sleep", "600"]);
        assert_eq!(
            split_command(r#"sh -c 'echo "hi there"; sleep 1'"#).unwrap(),
            ["sh", "-c", "echo \"hi there\"; sleep 1"]
        );
        assert_eq!(split_command(r#"a\ b "" c"#).unwrap(), ["a b", "", "c"]);
        assert!(split_command("echo 'oops").is_err());
    }

    #[test]
    fn a_full_form_becomes_a_spec() {
        let f = SpecForm {
            name: "web-1".into(),
            image: "busybox".into(),
            cmd: "sleep 600".into(),
            env: "A=1\nB=x=y".into(),
            memory: "64m".into(),
            pids: "64".into(),
            cpus: "0.5".into(),
            ports: "8080:80\n5353:53/udp".into(),
            mounts: "/srv/data:/data:ro".into(),
            restart: "on-failure:3".into(),
            labels: "app=web".into(),
            ..Default::default()
        };
        let s = f.to_spec().unwrap();
        assert_eq!(s.limits.memory_bytes, Some(64 << 20));
        assert_eq!(s.limits.nano_cpus, Some(500_000_000));
        assert_eq!(s.env["B"], "x=y");
        assert_eq!(s.ports[1].protocol, Protocol::Udp);
        assert!(s.mounts[0].readonly);
        assert_eq!(s.cmd.unwrap(), ["sleep", "600"]);
        assert_eq!(
            s.restart,
            Some(RestartPolicy::OnFailure {
                max_retries: Some(3)
            })
        );
    }

    #[test]
    fn mistakes_name_the_field() {
        let bad = |f: SpecForm| f.to_spec().unwrap_err();
        let base = SpecForm {
            image: "busybox".into(),
            ..Default::default()
        };
        assert!(
            bad(SpecForm {
                image: "".into(),
                ..base.clone()
            })
            .starts_with("image")
        );
        assert!(
            bad(SpecForm {
                memory: "lots".into(),
                ..base.clone()
            })
            .starts_with("memory")
        );
        assert!(
            bad(SpecForm {
                pids: "0".into(),
                ..base.clone()
            })
            .starts_with("pids")
        );
        assert!(
            bad(SpecForm {
                ports: "80".into(),
                ..base.clone()
            })
            .starts_with("ports")
        );
        assert!(
            bad(SpecForm {
                ports: "70000:80".into(),
                ..base.clone()
            })
            .contains("65535")
        );
        assert!(
            bad(SpecForm {
                mounts: "data:/data".into(),
                ..base.clone()
            })
            .starts_with("mounts")
        );
        assert!(
            bad(SpecForm {
                name: "-x".into(),
                ..base.clone()
            })
            .starts_with("name")
        );
        assert!(
            bad(SpecForm {
                restart: "sometimes".into(),
                ..base.clone()
            })
            .starts_with("restart")
        );
        assert!(
            bad(SpecForm {
                env: "NOVALUE".into(),
                ..base
            })
            .starts_with("environment")
        );
    }
}
