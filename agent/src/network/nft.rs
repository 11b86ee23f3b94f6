//! Berth's own nftables table (nft(8), libnftables-json(5)): NAT for the
//! bridge subnet and DNAT for published ports.
//!
//! The whole table is a pure function of the persisted state ([`render`]).
//! At agent start it is replaced in one `nft -j -f -` transaction: `add
//! table` (so that the next command cannot fail), `delete table`, then the
//! table again with every chain and rule. So the kernel never holds a rule
//! for a container the state does not know, not even after a crash, and no
//! other table is ever named. A start only appends its container's rules
//! ([`render_append`]); a container going away flushes and refills the
//! `published` chain in one transaction ([`render_published`]), since
//! deleting costs an RCU grace period that a start should not wait for.
//! Connections already established keep their NAT bindings: those live in
//! conntrack, not in the table.
//!
//! ```text
//! table ip <name> {
//!   chain prerouting  { type nat hook prerouting priority dstnat; fib daddr type local jump published }
//!   chain output      { type nat hook output priority -100;       fib daddr type local jump published }
//!   chain published   { tcp dport 18080 dnat to 10.88.0.2:80 comment "<container id>" ... }
//!   chain postrouting { type nat hook postrouting priority srcnat;
//!     ip saddr <subnet> oifname != <bridge> masquerade            # outbound
//!     oifname <bridge> ip saddr 127.0.0.0/8 masquerade            # host's localhost → container
//!     oifname <bridge> ip saddr <subnet> ct status dnat masquerade # container → a published port (hairpin)
//!   }
//!   chain guard { type filter hook prerouting priority raw;
//!     iifname <bridge> ip daddr 127.0.0.0/8 drop }                # CVE-2020-8558, see below
//! }
//! ```
//! Reaching a published port from the host's 127.0.0.1 needs
//! `net.ipv4.conf.<bridge>.route_localnet=1` (a packet from 127.0.0.1 may
//! not otherwise leave through a non-loopback device before postrouting
//! rewrites its source). That sysctl would also let a container send to the
//! host's 127.0.0.1 services through the bridge; the `guard` chain drops
//! exactly those packets, as kube-proxy and Docker do since CVE-2020-8558.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

use berth_api::containers::Protocol;
use ipnetwork::Ipv4Network;
use nftables::expr::{
    CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix,
};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NAT, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::error::{Error, Result};
use super::netns;

/// One published port of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub container: String,
    pub protocol: Protocol,
    pub host_port: u16,
    pub ip: Ipv4Addr,
    pub container_port: u16,
}

/// What the table is built from.
#[derive(Debug, Clone)]
pub struct TableSpec<'a> {
    pub table: &'a str,
    /// Marks the table as this agent's: an empty chain `owner_<owner>`.
    pub owner: &'a str,
    pub bridge: &'a str,
    pub subnet: Ipv4Network,
    pub forwards: &'a [Forward],
}

const PUBLISHED: &str = "published";
const OWNER_PREFIX: &str = "owner_";

fn s(v: impl Into<String>) -> Cow<'static, str> {
    Cow::Owned(v.into())
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn payload(protocol: &str, field: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: s(protocol),
            field: s(field),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn prefix(addr: Ipv4Addr, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(s(addr.to_string()))),
        len: u32::from(len),
    }))
}

fn string(v: &str) -> Expression<'static> {
    Expression::String(s(v))
}

fn daddr_is_local() -> Statement<'static> {
    let mut flags = HashSet::new();
    flags.insert(FibFlag::Daddr);
    matches(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags,
        })),
        Operator::EQ,
        string("local"),
    )
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

fn table(name: &str) -> Table<'static> {
    Table {
        family: NfFamily::IP,
        name: s(name),
        handle: None,
    }
}

fn base_chain(
    t: &str,
    name: &str,
    kind: NfChainType,
    hook: NfHook,
    prio: i32,
) -> NfObject<'static> {
    NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: s(t),
        name: s(name),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    })))
}

fn rule(
    t: &str,
    chain: &str,
    expr: Vec<Statement<'static>>,
    comment: Option<String>,
) -> NfObject<'static> {
    NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: s(t),
        chain: s(chain),
        expr: Cow::Owned(expr),
        comment: comment.map(s),
        ..Rule::default()
    })))
}

/// The commands that replace the table atomically with one built from
/// `spec`.
pub fn render(spec: &TableSpec<'_>) -> Nftables<'static> {
    let t = spec.table;
    let bridge = spec.bridge;
    let subnet = (spec.subnet.network(), spec.subnet.prefix());
    let mut o = vec![
        NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(t)))),
        NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(table(t)))),
        NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(t)))),
        base_chain(t, "prerouting", NfChainType::NAT, NfHook::Prerouting, -100),
        base_chain(t, "output", NfChainType::NAT, NfHook::Output, -100),
        base_chain(t, "postrouting", NfChainType::NAT, NfHook::Postrouting, 100),
        base_chain(t, "guard", NfChainType::Filter, NfHook::Prerouting, -300),
        NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(Chain {
            family: NfFamily::IP,
            table: s(t),
            name: s(PUBLISHED),
            ..Chain::default()
        }))),
        NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(Chain {
            family: NfFamily::IP,
            table: s(t),
            name: s(format!("{OWNER_PREFIX}{}", spec.owner)),
            ..Chain::default()
        }))),
    ];
    let jump = || {
        Statement::Jump(JumpTarget {
            target: s(PUBLISHED),
        })
    };
    o.push(rule(t, "prerouting", vec![daddr_is_local(), jump()], None));
    o.push(rule(t, "output", vec![daddr_is_local(), jump()], None));
    o.extend(masquerade_rules(t, bridge, subnet));
    o.push(rule(
        t,
        "guard",
        vec![
            matches(meta(MetaKey::Iifname), Operator::EQ, string(bridge)),
            matches(
                payload("ip", "daddr"),
                Operator::EQ,
                prefix(Ipv4Addr::new(127, 0, 0, 0), 8),
            ),
            Statement::Drop(None),
        ],
        None,
    ));
    o.extend(spec.forwards.iter().map(|f| forward_rule(t, f)));
    Nftables {
        objects: Cow::Owned(o),
    }
}

/// The postrouting rules: containers' traffic leaving the bridge is
/// masqueraded; so is what reaches a container from the host's loopback,
/// and from the subnet itself through a published port (DNAT).
fn masquerade_rules(t: &str, bridge: &str, subnet: (Ipv4Addr, u8)) -> [NfObject<'static>; 3] {
    [
        rule(
            t,
            "postrouting",
            vec![
                matches(
                    payload("ip", "saddr"),
                    Operator::EQ,
                    prefix(subnet.0, subnet.1),
                ),
                matches(meta(MetaKey::Oifname), Operator::NEQ, string(bridge)),
                masquerade(),
            ],
            None,
        ),
        rule(
            t,
            "postrouting",
            vec![
                matches(meta(MetaKey::Oifname), Operator::EQ, string(bridge)),
                matches(
                    payload("ip", "saddr"),
                    Operator::EQ,
                    prefix(Ipv4Addr::new(127, 0, 0, 0), 8),
                ),
                masquerade(),
            ],
            None,
        ),
        rule(
            t,
            "postrouting",
            vec![
                matches(meta(MetaKey::Oifname), Operator::EQ, string(bridge)),
                matches(
                    payload("ip", "saddr"),
                    Operator::EQ,
                    prefix(subnet.0, subnet.1),
                ),
                matches(
                    Expression::Named(NamedExpression::CT(CT {
                        key: s("status"),
                        family: None,
                        dir: None,
                    })),
                    Operator::IN,
                    string("dnat"),
                ),
                masquerade(),
            ],
            None,
        ),
    ]
}

fn forward_rule(table: &str, f: &Forward) -> NfObject<'static> {
    let proto = match f.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    rule(
        table,
        PUBLISHED,
        vec![
            matches(
                payload(proto, "dport"),
                Operator::EQ,
                Expression::Number(u32::from(f.host_port)),
            ),
            Statement::DNAT(Some(NAT {
                addr: Some(string(&f.ip.to_string())),
                family: None,
                port: Some(Expression::Number(u32::from(f.container_port))),
                flags: None,
            })),
        ],
        Some(f.container.clone()),
    )
}

/// The commands that append `forwards` to the `published` chain: the fast
/// path of a start (a few ms), which deletes nothing and so waits for no RCU
/// grace period.
pub fn render_append(table: &str, forwards: &[Forward]) -> Nftables<'static> {
    Nftables {
        objects: Cow::Owned(forwards.iter().map(|f| forward_rule(table, f)).collect()),
    }
}

/// The commands that replace the content of the `published` chain with
/// `spec.forwards` in one transaction (when a container goes away).
pub fn render_published(spec: &TableSpec<'_>) -> Nftables<'static> {
    let mut o = vec![NfObject::CmdObject(NfCmd::Flush(FlushObject::Chain(
        Chain {
            family: NfFamily::IP,
            table: s(spec.table),
            name: s(PUBLISHED),
            ..Chain::default()
        },
    )))];
    o.extend(spec.forwards.iter().map(|f| forward_rule(spec.table, f)));
    Nftables {
        objects: Cow::Owned(o),
    }
}

/// The commands that remove the table (and nothing else), whether or not it
/// exists.
pub fn render_removal(table_name: &str) -> Nftables<'static> {
    Nftables {
        objects: Cow::Owned(vec![
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(table_name)))),
            NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(table(table_name)))),
        ]),
    }
}

/// Who owns table `table` in namespace `ns`: `None` when there is no such
/// table, `Some(None)` for a table without an owner mark.
pub async fn owner_of(nft: &Path, ns: &OwnedFd, table: &str) -> Result<Option<Option<String>>> {
    let nft = nft.to_path_buf();
    let table = table.to_string();
    netns::run_in(ns, "list the nftables table", move || {
        let out = Command::new(&nft)
            .args(["-j", "list", "table", "ip", &table])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Nft(format!("run {}: {e}", nft.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(Error::Nft(format!("list table ip {table}: {}", err.trim())));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| Error::Nft(format!("list table ip {table}: {e}")))?;
        let owner = v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|o| {
                o["chain"]["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix(OWNER_PREFIX))
                    .map(str::to_string)
            });
        Ok(Some(owner))
    })
    .await
}

/// Runs `nft -j -f -` with `commands` in the network namespace `ns`.
pub async fn apply(nft: &Path, ns: &OwnedFd, commands: &Nftables<'_>) -> Result<()> {
    let payload = serde_json::to_string(commands)
        .map_err(|e| Error::Nft(format!("encode the ruleset: {e}")))?;
    let nft = nft.to_path_buf();
    netns::run_in(ns, "run nft", move || run_nft(&nft, &payload)).await
}

fn run_nft(nft: &Path, payload: &str) -> Result<()> {
    let mut child = Command::new(nft)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Nft(format!(
                "run {}: {e} (is the nftables package installed?)",
                nft.display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(payload.as_bytes())
            .map_err(|e| Error::Nft(format!("write the ruleset to {}: {e}", nft.display())))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("wait for {}: {e}", nft.display())))?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "{} refused the ruleset ({}): {}",
            nft.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_json(forwards: &[Forward]) -> serde_json::Value {
        let spec = TableSpec {
            table: "bt1",
            owner: "o1",
            bridge: "br-t",
            subnet: "10.99.0.0/16".parse().unwrap(),
            forwards,
        };
        serde_json::to_value(render(&spec)).unwrap()
    }

    #[test]
    fn table_is_replaced_not_appended() {
        let v = spec_json(&[]);
        let cmds = v["nftables"].as_array().unwrap();
        assert_eq!(cmds[0]["add"]["table"]["name"], "bt1");
        assert_eq!(cmds[1]["delete"]["table"]["name"], "bt1");
        assert_eq!(cmds[2]["add"]["table"]["name"], "bt1");
        assert!(cmds.iter().any(|c| c["add"]["chain"]["name"] == "owner_o1"));
        // Every command names our table and nothing else.
        for c in cmds {
            let obj = c.as_object().unwrap().values().next().unwrap();
            let inner = obj.as_object().unwrap().values().next().unwrap();
            let t = inner.get("table").or_else(|| inner.get("name")).unwrap();
            assert_eq!(t, "bt1", "{c}");
        }
    }

    #[test]
    fn forwards_become_dnat_rules_with_the_container_as_comment() {
        let fwd = [
            Forward {
                container: "c1".into(),
                protocol: Protocol::Tcp,
                host_port: 18080,
                ip: Ipv4Addr::new(10, 99, 0, 2),
                container_port: 80,
            },
            Forward {
                container: "c2".into(),
                protocol: Protocol::Udp,
                host_port: 5353,
                ip: Ipv4Addr::new(10, 99, 0, 3),
                container_port: 53,
            },
        ];
        let v = spec_json(&fwd);
        let rules: Vec<&serde_json::Value> = v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["add"].get("rule"))
            .filter(|r| r["chain"] == PUBLISHED)
            .collect();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["comment"], "c1");
        assert_eq!(
            rules[0]["expr"][0]["match"]["left"]["payload"]["protocol"],
            "tcp"
        );
        assert_eq!(rules[0]["expr"][0]["match"]["right"], 18080);
        assert_eq!(rules[0]["expr"][1]["dnat"]["addr"], "10.99.0.2");
        assert_eq!(rules[0]["expr"][1]["dnat"]["port"], 80);
        assert_eq!(
            rules[1]["expr"][0]["match"]["left"]["payload"]["protocol"],
            "udp"
        );
    }

    #[test]
    fn a_start_appends_and_a_removal_refills_the_published_chain() {
        let fwd = [Forward {
            container: "c1".into(),
            protocol: Protocol::Tcp,
            host_port: 1,
            ip: Ipv4Addr::new(10, 99, 0, 2),
            container_port: 2,
        }];
        let add = serde_json::to_value(render_append("bt1", &fwd)).unwrap();
        let cmds = add["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0]["add"]["rule"]["chain"], PUBLISHED);
        let spec = TableSpec {
            table: "bt1",
            owner: "o1",
            bridge: "br-t",
            subnet: "10.99.0.0/16".parse().unwrap(),
            forwards: &fwd,
        };
        let refill = serde_json::to_value(render_published(&spec)).unwrap();
        let cmds = refill["nftables"].as_array().unwrap();
        assert_eq!(cmds[0]["flush"]["chain"]["name"], PUBLISHED);
        assert_eq!(cmds[0]["flush"]["chain"]["table"], "bt1");
        assert_eq!(cmds[1]["add"]["rule"]["comment"], "c1");
    }

    #[test]
    fn masquerade_covers_the_subnet_leaving_other_links() {
        let v = spec_json(&[]);
        let post: Vec<&serde_json::Value> = v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["add"].get("rule"))
            .filter(|r| r["chain"] == "postrouting")
            .collect();
        assert_eq!(post.len(), 3);
        let out = &post[0]["expr"];
        assert_eq!(out[0]["match"]["right"]["prefix"]["addr"], "10.99.0.0");
        assert_eq!(out[0]["match"]["right"]["prefix"]["len"], 16);
        assert_eq!(out[1]["match"]["op"], "!=");
        assert_eq!(out[1]["match"]["right"], "br-t");
        assert!(out[2].get("masquerade").is_some());
        // Hairpin and localhost are masqueraded only towards the bridge.
        assert_eq!(
            post[1]["expr"][1]["match"]["right"]["prefix"]["addr"],
            "127.0.0.0"
        );
        assert_eq!(post[2]["expr"][2]["match"]["right"], "dnat");
    }
}
