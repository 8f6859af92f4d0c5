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
