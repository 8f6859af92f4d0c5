//! The commands of the grammar, and their ip-xfrm rendering.

use std::fmt;

use crate::ip::{addr_to_ip, Addr, Dir, Family, Prefix};
use crate::route::{NeighSpec, RouteSpec};
use crate::sad::SaSpec;
use crate::spd::{
    Action, Level, Mode, PolicyId, PolicyLifetime, PolicySpec, PolicyType, PortRange, Selector,
};

/// One configuration or control command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    PolicyAdd(PolicySpec),
    PolicyUpdate(PolicySpec),
    PolicyDelete(PolicyId),
    PolicyGet(PolicyId),
    /// `policy flush [dir D] [ptype T]`: `None` = all.
    PolicyFlush {
        dir: Option<Dir>,
        ptype: Option<PolicyType>,
    },
    PolicyCount,
    /// `policy list [dir D]`.
    PolicyList {
        dir: Option<Dir>,
    },
    /// The action for packets that match no policy in this direction.
    PolicySetDefault(Dir, Action),
    SaAdd(SaSpec),
    SaUpdate(SaSpec),
    /// SAs are named by (spi, dst), the SAD key; `family` is `dst`'s.
    SaDelete {
        spi: u32,
        dst: Addr,
        family: Family,
    },
    SaGet {
        spi: u32,
        dst: Addr,
        family: Family,
    },
    SaFlush,
    SaCount,
    SaList,
    RouteAdd(RouteSpec),
    RouteDel(Prefix),
    RouteList,
    NeighAdd(NeighSpec),
    NeighDel {
        port: u16,
        addr: Option<Addr>,
    },
    Stats {
        json: bool,
    },
    Flows {
        lcore: Option<u16>,
        limit: Option<usize>,
    },
    /// Stream acquire/expire/kill events.
    Monitor,
}

/// The family of a neighbor address, which `NeighSpec` does not carry:
/// addresses below 2^32 are IPv4. The IPv6 addresses this misreads are the
/// IPv4-compatible ones (`::a.b.c.d`), deprecated by RFC 4291 section 2.5.5.1.
pub(crate) fn neigh_family(a: Addr) -> Family {
    if a <= u32::MAX as u128 {
        Family::V4
    } else {
        Family::V6
    }
}

struct A(Family, Addr);

impl fmt::Display for A {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", addr_to_ip(self.0, self.1))
    }
}

pub(crate) fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        132 => "sctp",
        _ => return None,
    })
}

pub(crate) fn is_icmp(p: u8) -> bool {
    p == 1 || p == 58
}

fn range(r: &PortRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

struct Sel<'a>(&'a Selector);

impl fmt::Display for Sel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "src {} dst {}", s.src, s.dst)?;
        if let Some(p) = s.ingress {
            write!(f, " dev {p}")?;
        }
        if s.proto != 0 {
            match proto_name(s.proto) {
                Some(n) => write!(f, " proto {n}")?,
                None => write!(f, " proto {}", s.proto)?,
            }
            let (a, b) = if is_icmp(s.proto) {
                ("type", "code")
            } else {
                ("sport", "dport")
            };
            if !s.sport.is_any() {
                write!(f, " {a} {}", range(&s.sport))?;
            }
            if !s.dport.is_any() {
                write!(f, " {b} {}", range(&s.dport))?;
            }
        }
        Ok(())
    }
}

fn dir_ptype(f: &mut fmt::Formatter<'_>, dir: Dir, ptype: PolicyType) -> fmt::Result {
    write!(f, " dir {dir} ptype {}", ptype_str(ptype))
}

fn ptype_str(p: PolicyType) -> &'static str {
    match p {
        PolicyType::Main => "main",
        PolicyType::Sub => "sub",
    }
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Tunnel => "tunnel",
        Mode::Transport => "transport",
    }
}

fn policy_body(f: &mut fmt::Formatter<'_>, p: &PolicySpec) -> fmt::Result {
    write!(f, "{}", Sel(&p.selector))?;
    dir_ptype(f, p.dir, p.ptype)?;
    let action = match p.action {
        Action::Allow => "allow",
        Action::Block => "block",
    };
    write!(f, " action {action} priority {}", p.priority)?;
    if let Some(i) = p.index {
        write!(f, " index {i}")?;
    }
    for t in &p.templates {
        f.write_str(" tmpl")?;
        if let Some(a) = t.src {
            write!(f, " src {}", A(t.family, a))?;
        }
        if let Some(a) = t.dst {
            write!(f, " dst {}", A(t.family, a))?;
        }
        f.write_str(" proto esp")?;
        if let Some(spi) = t.spi {
            write!(f, " spi {spi:#x}")?;
        }
        let level = match t.level {
            Level::Required => "required",
            Level::Use => "use",
        };
        write!(
            f,
            " reqid {} mode {} level {level}",
            t.reqid,
            mode_str(t.mode)
        )?;
    }
    let PolicyLifetime {
        soft_add_secs,
        hard_add_secs,
        soft_use_secs,
        hard_use_secs,
    } = p.lifetime;
    for (name, v) in [
        ("time-soft", soft_add_secs),
        ("time-hard", hard_add_secs),
        ("time-use-soft", soft_use_secs),
        ("time-use-hard", hard_use_secs),
    ] {
        if v != 0 {
            write!(f, " limit {name} {v}")?;
        }
    }
    Ok(())
}

fn policy_id(f: &mut fmt::Formatter<'_>, id: &PolicyId) -> fmt::Result {
    match id {
        PolicyId::Index(i) => write!(f, "index {i}"),
        PolicyId::Selector {
            selector,
            dir,
            ptype,
        } => {
            write!(f, "{}", Sel(selector))?;
            dir_ptype(f, *dir, *ptype)
        }
    }
}

fn sa_body(f: &mut fmt::Formatter<'_>, s: &SaSpec) -> fmt::Result {
    write!(
        f,
        "src {} dst {} proto esp spi {:#x} reqid {} mode {} replay-window {}",
        A(s.family, s.src),
        A(s.family, s.dst),
        s.spi,
        s.reqid,
        mode_str(s.mode),
        s.replay_window
    )?;
    if s.esn {
        f.write_str(" flag esn")?;
    }
    f.write_str(" aead 'rfc4106(gcm(aes))' 0x")?;
    for b in s.key.iter().chain(s.salt.iter()) {
        write!(f, "{b:02x}")?;
    }
    f.write_str(" 128")?;
    let l = &s.lifetime;
    for (name, v) in [
        ("byte-soft", l.soft_bytes),
        ("byte-hard", l.hard_bytes),
        ("packet-soft", l.soft_packets),
        ("packet-hard", l.hard_packets),
        ("time-soft", l.soft_add_secs),
        ("time-hard", l.hard_add_secs),
        ("time-use-soft", l.soft_use_secs),
        ("time-use-hard", l.hard_use_secs),
    ] {
        if v != 0 {
            write!(f, " limit {name} {v}")?;
        }
    }
    Ok(())
}

fn mac(f: &mut fmt::Formatter<'_>, m: &[u8; 6]) -> fmt::Result {
    write!(
        f,
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl fmt::Display for Command {
    /// The command in ip-xfrm syntax (without the leading `ip xfrm`); it parses
    /// back to an equal command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::PolicyAdd(p) => {
                f.write_str("policy add ")?;
                policy_body(f, p)
            }
            Command::PolicyUpdate(p) => {
                f.write_str("policy update ")?;
                policy_body(f, p)
            }
            Command::PolicyDelete(id) => {
                f.write_str("policy delete ")?;
                policy_id(f, id)
            }
            Command::PolicyGet(id) => {
                f.write_str("policy get ")?;
                policy_id(f, id)
            }
            Command::PolicyFlush { dir, ptype } => {
                f.write_str("policy flush")?;
                if let Some(d) = dir {
                    write!(f, " dir {d}")?;
                }
                if let Some(t) = ptype {
                    write!(f, " ptype {}", ptype_str(*t))?;
                }
                Ok(())
            }
            Command::PolicyCount => f.write_str("policy count"),
            Command::PolicyList { dir } => {
                f.write_str("policy list")?;
                if let Some(d) = dir {
                    write!(f, " dir {d}")?;
                }
                Ok(())
            }
            Command::PolicySetDefault(d, a) => {
                let a = match a {
                    Action::Allow => "accept",
                    Action::Block => "block",
                };
                write!(f, "policy setdefault {d} {a}")
            }
            Command::SaAdd(s) => {
                f.write_str("state add ")?;
                sa_body(f, s)
            }
            Command::SaUpdate(s) => {
                f.write_str("state update ")?;
                sa_body(f, s)
            }
            Command::SaDelete { spi, dst, family } => write!(
                f,
                "state delete dst {} proto esp spi {spi:#x}",
                A(*family, *dst)
            ),
            Command::SaGet { spi, dst, family } => write!(
                f,
                "state get dst {} proto esp spi {spi:#x}",
                A(*family, *dst)
            ),
            Command::SaFlush => f.write_str("state flush"),
            Command::SaCount => f.write_str("state count"),
            Command::SaList => f.write_str("state list"),
            Command::RouteAdd(r) => {
                write!(f, "route add {}", r.prefix)?;
                if let Some(nh) = r.next_hop {
                    write!(f, " via {}", A(r.prefix.family, nh))?;
                }
                write!(f, " port {}", r.port)
            }
            Command::RouteDel(p) => write!(f, "route del {p}"),
            Command::RouteList => f.write_str("route list"),
            Command::NeighAdd(n) => {
                f.write_str("neigh add ")?;
                if let Some(a) = n.addr {
                    write!(f, "{} ", A(neigh_family(a), a))?;
                }
                f.write_str("lladdr ")?;
                mac(f, &n.mac)?;
                write!(f, " port {}", n.port)
            }
            Command::NeighDel { port, addr } => {
                f.write_str("neigh del ")?;
                if let Some(a) = addr {
                    write!(f, "{} ", A(neigh_family(*a), *a))?;
                }
                write!(f, "port {port}")
            }
            Command::Stats { json } => f.write_str(if *json { "stats --json" } else { "stats" }),
            Command::Flows { lcore, limit } => {
                f.write_str("flows")?;
                if let Some(l) = lcore {
                    write!(f, " --lcore {l}")?;
                }
                if let Some(l) = limit {
                    write!(f, " --limit {l}")?;
                }
                Ok(())
            }
            Command::Monitor => f.write_str("monitor"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_line;
    use crate::route::Mac;
    use crate::sad::{AeadAlg, SaLifetime};
    use crate::spd::{Template, IPPROTO_ESP};
    use proptest::prelude::*;

    fn family() -> impl Strategy<Value = Family> {
        prop_oneof![Just(Family::V4), Just(Family::V6)]
    }

    /// An address of the family; IPv6 ones stay above 2^32 so that a
    /// neighbor address reads back with its family (see `neigh_family`).
    fn addr(f: Family) -> BoxedStrategy<Addr> {
        match f {
            Family::V4 => any::<u32>().prop_map(u128::from).boxed(),
            Family::V6 => any::<u128>().prop_map(|a| a | 1 << 64).boxed(),
        }
    }

    fn prefix(f: Family) -> impl Strategy<Value = Prefix> {
        (addr(f), 0..=f.bits()).prop_map(move |(a, l)| Prefix::new(f, a, l))
    }

    fn ports() -> impl Strategy<Value = PortRange> {
        prop_oneof![
            Just(PortRange::ANY),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange {
                lo: a.min(b),
                hi: a.max(b)
            })
        ]
    }

    fn selector() -> impl Strategy<Value = Selector> {
        family().prop_flat_map(|f| {
            (
                prefix(f),
                prefix(f),
                prop_oneof![Just(0u8), Just(1), Just(6), Just(17), Just(58), any::<u8>()],
                ports(),
                ports(),
                proptest::option::of(any::<u16>()),
            )
                .prop_map(move |(src, dst, proto, sport, dport, ingress)| {
                    let (sport, dport) = if proto == 0 {
                        (PortRange::ANY, PortRange::ANY)
                    } else {
                        (sport, dport)
                    };
                    Selector {
                        family: f,
                        src,
                        dst,
                        proto,
                        sport,
                        dport,
                        ingress,
                    }
                })
        })
    }

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Tunnel), Just(Mode::Transport)]
    }

    /// A template; without endpoints its family is the selector's.
    fn template(sel_family: Family) -> impl Strategy<Value = Template> {
        family().prop_flat_map(move |f| {
            (
                mode(),
                proptest::option::of(addr(f)),
                proptest::option::of(addr(f)),
                any::<u32>(),
                proptest::option::of(any::<u32>()),
                prop_oneof![Just(Level::Required), Just(Level::Use)],
            )
                .prop_map(move |(mode, src, dst, reqid, spi, level)| Template {
                    proto: IPPROTO_ESP,
                    mode,
                    family: if src.is_none() && dst.is_none() {
                        sel_family
                    } else {
                        f
                    },
                    src,
                    dst,
                    reqid,
                    spi,
                    level,
                })
        })
    }

    fn maybe_u64() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), any::<u64>()]
    }

    fn ptype() -> impl Strategy<Value = PolicyType> {
        prop_oneof![Just(PolicyType::Main), Just(PolicyType::Sub)]
    }

    fn dir() -> impl Strategy<Value = Dir> {
        prop_oneof![Just(Dir::In), Just(Dir::Out), Just(Dir::Fwd)]
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![Just(Action::Allow), Just(Action::Block)]
    }

    fn policy() -> impl Strategy<Value = PolicySpec> {
        selector().prop_flat_map(|sel| {
            (
                dir(),
                ptype(),
                any::<u32>(),
                action(),
                proptest::collection::vec(template(sel.family), 0..3),
                (maybe_u64(), maybe_u64(), maybe_u64(), maybe_u64()),
                proptest::option::of(any::<u32>()),
            )
                .prop_map(
                    move |(dir, ptype, priority, action, templates, l, index)| PolicySpec {
                        selector: sel,
                        dir,
                        ptype,
                        priority,
                        action,
                        templates,
                        lifetime: PolicyLifetime {
                            soft_add_secs: l.0,
                            hard_add_secs: l.1,
                            soft_use_secs: l.2,
                            hard_use_secs: l.3,
                        },
                        index,
                    },
                )
        })
    }

    fn sa() -> impl Strategy<Value = SaSpec> {
        family().prop_flat_map(|f| {
            (
                (any::<u32>(), mode(), addr(f), addr(f), any::<u32>()),
                prop_oneof![Just(AeadAlg::Aes128Gcm), Just(AeadAlg::Aes256Gcm)],
                any::<[u8; 32]>(),
                any::<[u8; 4]>(),
                any::<u32>(),
                any::<bool>(),
                proptest::array::uniform8(maybe_u64()),
            )
                .prop_map(
                    move |((spi, mode, src, dst, reqid), alg, k, salt, win, esn, l)| SaSpec {
                        spi,
                        mode,
                        family: f,
                        src,
                        dst,
                        reqid,
                        alg,
                        key: k[..alg.key_len()].to_vec(),
                        salt,
                        replay_window: win,
                        esn,
                        lifetime: SaLifetime {
                            soft_bytes: l[0],
                            hard_bytes: l[1],
                            soft_packets: l[2],
                            hard_packets: l[3],
                            soft_add_secs: l[4],
                            hard_add_secs: l[5],
                            soft_use_secs: l[6],
                            hard_use_secs: l[7],
                        },
                    },
                )
        })
    }

    fn policy_id() -> impl Strategy<Value = PolicyId> {
        prop_oneof![
            any::<u32>().prop_map(PolicyId::Index),
            (selector(), dir(), ptype()).prop_map(|(selector, dir, ptype)| PolicyId::Selector {
                selector,
                dir,
                ptype
            }),
        ]
    }

    fn sa_key() -> impl Strategy<Value = (u32, Addr, Family)> {
        family().prop_flat_map(|f| (any::<u32>(), addr(f), Just(f)))
    }

    fn neigh_addr() -> impl Strategy<Value = Option<Addr>> {
        proptest::option::of(family().prop_flat_map(addr))
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            policy().prop_map(Command::PolicyAdd),
            policy().prop_map(Command::PolicyUpdate),
            policy_id().prop_map(Command::PolicyDelete),
            policy_id().prop_map(Command::PolicyGet),
            (proptest::option::of(dir()), proptest::option::of(ptype()))
                .prop_map(|(dir, ptype)| Command::PolicyFlush { dir, ptype }),
            Just(Command::PolicyCount),
            proptest::option::of(dir()).prop_map(|dir| Command::PolicyList { dir }),
            (dir(), action()).prop_map(|(d, a)| Command::PolicySetDefault(d, a)),
            sa().prop_map(Command::SaAdd),
            sa().prop_map(Command::SaUpdate),
            sa_key().prop_map(|(spi, dst, family)| Command::SaDelete { spi, dst, family }),
            sa_key().prop_map(|(spi, dst, family)| Command::SaGet { spi, dst, family }),
            Just(Command::SaFlush),
            Just(Command::SaCount),
            Just(Command::SaList),
            family()
                .prop_flat_map(|f| (prefix(f), any::<u16>(), proptest::option::of(addr(f))))
                .prop_map(|(prefix, port, next_hop)| Command::RouteAdd(RouteSpec {
                    prefix,
                    port,
                    next_hop
                })),
            family().prop_flat_map(prefix).prop_map(Command::RouteDel),
            Just(Command::RouteList),
            (any::<u16>(), neigh_addr(), any::<Mac>())
                .prop_map(|(port, addr, mac)| Command::NeighAdd(NeighSpec { port, addr, mac })),
            (any::<u16>(), neigh_addr()).prop_map(|(port, addr)| Command::NeighDel { port, addr }),
            any::<bool>().prop_map(|json| Command::Stats { json }),
            (
                proptest::option::of(any::<u16>()),
                proptest::option::of(any::<u32>().prop_map(|n| n as usize))
            )
                .prop_map(|(lcore, limit)| Command::Flows { lcore, limit }),
            Just(Command::Monitor),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn format_then_parse_is_identity(cmd in command()) {
            let line = cmd.to_string();
            prop_assert_eq!(parse_line(&line), Ok(Some(cmd.clone())), "line: {}", line);
            let ip = format!("ip xfrm {line}");
            prop_assert_eq!(parse_line(&ip), Ok(Some(cmd)));
        }
    }

    #[test]
    fn formats_as_ip_xfrm() {
        let line = "policy add src 10.1.0.0/16 dst 10.2.0.0/16 proto tcp dport 443 dir out ptype main action allow priority 7 tmpl src 192.0.2.1 dst 198.51.100.1 proto esp spi 0x1000 reqid 0 mode tunnel level required";
        assert_eq!(parse_line(line).unwrap().unwrap().to_string(), line);
        let line = "state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x10 reqid 3 mode transport replay-window 64 flag esn aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 128 limit packet-hard 5";
        assert_eq!(parse_line(line).unwrap().unwrap().to_string(), line);
        let line = "neigh add 10.0.0.1 lladdr 02:00:00:00:00:0a port 3";
        assert_eq!(parse_line(line).unwrap().unwrap().to_string(), line);
        // secgw lines come back in ip-xfrm syntax.
        assert_eq!(
            parse_line("neigh port 1 DE:AD:BE:EF:01:02")
                .unwrap()
                .unwrap()
                .to_string(),
            "neigh add lladdr de:ad:be:ef:01:02 port 1"
        );
        assert_eq!(
            parse_line("rt ipv6 dst 2001:db8::/32 port 2")
                .unwrap()
                .unwrap()
                .to_string(),
            "route add 2001:db8::/32 port 2"
        );
        assert_eq!(
            parse_line("sp ipv4 in esp discard pri 3 proto 6 dport 22:22").unwrap().unwrap().to_string(),
            format!(
                "policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto tcp dport 22 dir in ptype main action block priority {}",
                crate::config::SECGW_PRI_MAX - 3
            )
        );
    }
}
