//! Parsers for the three dialects (ipsec-secgw, ip-xfrm, xfgate's own
//! commands) and the file loader that ties secgw `sp ... protect SPI` lines to
//! the SAs of the same file. See `docs/config.md` for the grammar.

use std::collections::HashMap;
use std::net::IpAddr;

use super::command::{is_icmp, Command};
use super::lex::{LineReader, Tok};
use super::{ConfigError, Located, ParseError};
use crate::ip::{addr_from_ip, Addr, Dir, Family, Prefix};
use crate::route::{Mac, NeighSpec, RouteSpec};
use crate::sad::{AeadAlg, SaLifetime, SaSpec};
use crate::spd::{
    Action, Level, Mode, PolicyId, PolicyLifetime, PolicySpec, PolicyType, PortRange, Selector,
    Template, IPPROTO_ESP,
};

/// Anti-replay window of SAs whose line does not set one: secgw `sa` lines
/// (secgw sets the window on its command line, `-w`) and ip-xfrm `state`
/// lines without `replay-window` (Linux would default to 0, i.e. off; a
/// gateway fails safe instead). The gateway's `--replay-window` overrides it.
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;

/// The largest secgw `pri` (DPDK's `RTE_ACL_MAX_PRIORITY`). In secgw (rte_acl)
/// the highest priority wins; in xfgate, as in Linux, the lowest wins, so
/// secgw `pri N` becomes xfgate priority `SECGW_PRI_MAX - N`.
pub const SECGW_PRI_MAX: u32 = 0x1FFF_FFFF;

type R<T> = Result<T, ParseError>;

fn mk(t: &Tok, msg: impl Into<String>) -> ParseError {
    ParseError {
        line: t.line,
        col: t.col,
        msg: msg.into(),
        token: t.text.clone(),
    }
}

fn err<T>(t: &Tok, msg: impl Into<String>) -> R<T> {
    Err(mk(t, msg))
}

struct Cur<'a> {
    t: &'a [Tok],
    i: usize,
}

impl<'a> Cur<'a> {
    fn next(&mut self) -> Option<&'a Tok> {
        let t = self.t.get(self.i);
        if t.is_some() {
            self.i += 1;
        }
        t
    }
    fn peek(&self) -> Option<&'a Tok> {
        self.t.get(self.i)
    }
    /// The value after keyword `kw`.
    fn value(&mut self, kw: &Tok) -> R<&'a Tok> {
        self.next()
            .ok_or_else(|| mk(kw, format!("missing value after '{}'", kw.text)))
    }
    /// The token consumed last (the line has at least one).
    fn prev(&self) -> &'a Tok {
        &self.t[self.i.saturating_sub(1)]
    }
    /// No tokens may follow.
    fn end(&mut self) -> R<()> {
        match self.next() {
            Some(t) => err(t, "unexpected token"),
            None => Ok(()),
        }
    }
}

/// Set an option once; a repeated keyword is an error.
fn once<T>(slot: &mut Option<T>, v: T, kw: &Tok) -> R<()> {
    if slot.is_some() {
        return err(kw, format!("duplicate '{}'", kw.text));
    }
    *slot = Some(v);
    Ok(())
}

// ---------------------------------------------------------------- values

fn num_u64(t: &Tok, what: &str) -> R<u64> {
    let s = t.text.as_str();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse::<u64>(),
    };
    r.map_err(|_| mk(t, format!("bad {what}: expected a number")))
}

fn num_u32(t: &Tok, what: &str) -> R<u32> {
    let v = num_u64(t, what)?;
    u32::try_from(v).map_err(|_| mk(t, format!("bad {what}: {v} is larger than {}", u32::MAX)))
}

fn num_u16(t: &Tok, what: &str) -> R<u16> {
    let v = num_u64(t, what)?;
    u16::try_from(v).map_err(|_| mk(t, format!("bad {what}: {v} is larger than {}", u16::MAX)))
}

fn addr(t: &Tok) -> R<(Family, Addr)> {
    t.text
        .parse::<IpAddr>()
        .map(addr_from_ip)
        .map_err(|_| mk(t, "bad address"))
}

fn addr_of(t: &Tok, family: Family) -> R<Addr> {
    let (f, a) = addr(t)?;
    if f != family {
        return err(t, format!("address is not {}", fam_name(family)));
    }
    Ok(a)
}

fn fam_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn prefix(t: &Tok) -> R<Prefix> {
    let (a, l) = match t.text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (t.text.as_str(), None),
    };
    let (family, ad) = a
        .parse::<IpAddr>()
        .map(addr_from_ip)
        .map_err(|_| mk(t, "bad address"))?;
    let len = match l {
        None => family.bits(),
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= family.bits() => n,
            _ => {
                return err(
                    t,
                    format!(
                        "bad prefix length '{l}' (0 to {} for {})",
                        family.bits(),
                        fam_name(family)
                    ),
                )
            }
        },
    };
    Ok(Prefix::new(family, ad, len))
}

fn prefix_of(t: &Tok, family: Family) -> R<Prefix> {
    let p = prefix(t)?;
    if p.family != family {
        return err(t, format!("address is not {}", fam_name(family)));
    }
    Ok(p)
}

/// `N`, `N-M` or `N:M` (secgw).
fn port_range(t: &Tok) -> R<PortRange> {
    let s = t.text.as_str();
    let one = |x: &str| {
        x.parse::<u16>()
            .map_err(|_| mk(t, "bad port range: ports are 0 to 65535"))
    };
    let r = match s.split_once(['-', ':']) {
        Some((a, b)) => PortRange {
            lo: one(a)?,
            hi: one(b)?,
        },
        None => PortRange::single(one(s)?),
    };
    if r.lo > r.hi {
        return err(t, "bad port range: start is above end");
    }
    Ok(r)
}

fn proto(t: &Tok) -> R<u8> {
    Ok(match t.text.as_str() {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" => 58,
        "sctp" => 132,
        "any" => 0,
        s => s
            .parse::<u8>()
            .map_err(|_| mk(t, "bad protocol: expected a name or 0 to 255"))?,
    })
}

fn mac(t: &Tok) -> R<Mac> {
    let mut m = [0u8; 6];
    let mut n = 0;
    for part in t.text.split(':') {
        if n == 6 || part.is_empty() || part.len() > 2 {
            return err(t, "bad MAC address");
        }
        m[n] = u8::from_str_radix(part, 16).map_err(|_| mk(t, "bad MAC address"))?;
        n += 1;
    }
    if n != 6 {
        return err(t, "bad MAC address");
    }
    Ok(m)
}

fn dir(t: &Tok) -> R<Dir> {
    match t.text.as_str() {
        "in" => Ok(Dir::In),
        "out" => Ok(Dir::Out),
        "fwd" => Ok(Dir::Fwd),
        _ => err(t, "bad direction: expected in, out or fwd"),
    }
}

fn ptype(t: &Tok) -> R<PolicyType> {
    match t.text.as_str() {
        "main" => Ok(PolicyType::Main),
        "sub" => Ok(PolicyType::Sub),
        _ => err(t, "bad policy type: expected main or sub"),
    }
}

fn mode(t: &Tok) -> R<Mode> {
    match t.text.as_str() {
        "tunnel" => Ok(Mode::Tunnel),
        "transport" => Ok(Mode::Transport),
        "beet" | "ro" | "in_trigger" => err(t, "unsupported mode: only tunnel and transport"),
        _ => err(t, "bad mode: expected tunnel or transport"),
    }
}

fn esp_only(t: &Tok) -> R<()> {
    match t.text.as_str() {
        "esp" | "50" => Ok(()),
        "ah" | "comp" | "route2" | "hao" | "51" | "108" => {
            err(t, "unsupported IPsec protocol: only esp")
        }
        _ => err(t, "bad IPsec protocol: expected esp"),
    }
}

// ---------------------------------------------------------------- selectors

/// Selector keywords as they arrive, with their tokens for later errors.
#[derive(Default)]
struct SelB<'a> {
    src: Option<(Prefix, &'a Tok)>,
    dst: Option<(Prefix, &'a Tok)>,
    dev: Option<u16>,
    proto: Option<(u8, &'a Tok)>,
    sport: Option<(PortRange, &'a Tok)>,
    dport: Option<(PortRange, &'a Tok)>,
    itype: Option<(PortRange, &'a Tok)>,
    icode: Option<(PortRange, &'a Tok)>,
}

impl<'a> SelB<'a> {
    /// Consume one selector keyword; `false` if `k` is not one.
    fn kw(&mut self, c: &mut Cur<'a>, k: &'a Tok) -> R<bool> {
        match k.text.as_str() {
            "src" => once(&mut self.src, (prefix(c.value(k)?)?, k), k)?,
            "dst" => once(&mut self.dst, (prefix(c.value(k)?)?, k), k)?,
            "dev" => once(&mut self.dev, num_u16(c.value(k)?, "port")?, k)?,
            "proto" => once(&mut self.proto, (proto(c.value(k)?)?, k), k)?,
            "sport" => once(&mut self.sport, (port_range(c.value(k)?)?, k), k)?,
            "dport" => once(&mut self.dport, (port_range(c.value(k)?)?, k), k)?,
            "type" => once(&mut self.itype, (port_range(c.value(k)?)?, k), k)?,
            "code" => once(&mut self.icode, (port_range(c.value(k)?)?, k), k)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn build(self, at: &Tok) -> R<Selector> {
        let family = match (self.src, self.dst) {
            (Some((s, _)), Some((d, t))) => {
                if s.family != d.family {
                    return err(t, "src and dst are of different address families");
                }
                s.family
            }
            (Some((p, _)), None) | (None, Some((p, _))) => p.family,
            (None, None) => return err(at, "missing 'src' or 'dst' (the address family)"),
        };
        let proto = self.proto.map_or(0, |p| p.0);
        let icmp = is_icmp(proto);
        for (slot, name) in [(&self.sport, "sport"), (&self.dport, "dport")] {
            if let Some((r, t)) = slot {
                if proto == 0 && !r.is_any() {
                    return err(t, format!("'{name}' needs a 'proto'"));
                }
                if icmp && !r.is_any() {
                    return err(
                        t,
                        format!("'{name}' is not for ICMP: use 'type' and 'code'"),
                    );
                }
            }
        }
        for (slot, name) in [(&self.itype, "type"), (&self.icode, "code")] {
            if let Some((r, t)) = slot {
                if !icmp && !r.is_any() {
                    return err(t, format!("'{name}' is only for proto icmp or ipv6-icmp"));
                }
            }
        }
        let pick = |a: Option<(PortRange, &Tok)>, b: Option<(PortRange, &Tok)>| {
            if icmp { b } else { a }.map_or(PortRange::ANY, |x| x.0)
        };
        Ok(Selector {
            family,
            src: self.src.map_or(Prefix::any(family), |p| p.0),
            dst: self.dst.map_or(Prefix::any(family), |p| p.0),
            proto,
            sport: pick(self.sport, self.itype),
            dport: pick(self.dport, self.icode),
            ingress: self.dev,
        })
    }
}

// ---------------------------------------------------------------- ip xfrm policy

fn unsupported_xfrm(k: &Tok) -> Option<ParseError> {
    match k.text.as_str() {
        "mark" | "if_id" | "ctx" | "flag" | "offload" | "output-mark" | "extra-flag" | "encap"
        | "coa" | "sel" | "seq" | "replay-seq" | "replay-oseq" | "replay-seq-hi"
        | "replay-oseq-hi" => Some(mk(k, format!("unsupported keyword '{}'", k.text))),
        _ => None,
    }
}

fn policy(c: &mut Cur<'_>, kw: &Tok) -> R<Command> {
    let verb = c.next().ok_or_else(|| {
        mk(
            kw,
            "missing subcommand (add, update, delete, get, flush, count, list, setdefault)",
        )
    })?;
    Ok(match verb.text.as_str() {
        "add" => Command::PolicyAdd(policy_spec(c, verb)?),
        "update" => Command::PolicyUpdate(policy_spec(c, verb)?),
        "delete" | "del" => Command::PolicyDelete(policy_id(c, verb)?),
        "get" => Command::PolicyGet(policy_id(c, verb)?),
        "flush" | "deleteall" => {
            let (mut d, mut t) = (None, None);
            while let Some(k) = c.next() {
                match k.text.as_str() {
                    "dir" => once(&mut d, dir(c.value(k)?)?, k)?,
                    "ptype" => once(&mut t, ptype(c.value(k)?)?, k)?,
                    _ => return err(k, "unknown keyword"),
                }
            }
            Command::PolicyFlush { dir: d, ptype: t }
        }
        "count" => {
            c.end()?;
            Command::PolicyCount
        }
        "list" | "show" => {
            let mut d = None;
            while let Some(k) = c.next() {
                match k.text.as_str() {
                    "dir" => once(&mut d, dir(c.value(k)?)?, k)?,
                    _ => return err(k, "unknown keyword"),
                }
            }
            Command::PolicyList { dir: d }
        }
        "setdefault" => {
            let d = dir(c.value(verb)?)?;
            let a = c.value(c.prev())?;
            let action = match a.text.as_str() {
                "accept" | "allow" => Action::Allow,
                "block" => Action::Block,
                _ => return err(a, "bad default action: expected accept, allow or block"),
            };
            c.end()?;
            Command::PolicySetDefault(d, action)
        }
        _ => return err(verb, "unknown policy subcommand"),
    })
}

fn policy_spec(c: &mut Cur<'_>, verb: &Tok) -> R<PolicySpec> {
    let mut sel = SelB::default();
    let (mut d, mut pt, mut action, mut prio, mut index) = (None, None, None, None, None);
    // Templates wait for the selector's family if they name no endpoint.
    let mut tmpls: Vec<(Template, bool)> = Vec::new();
    let mut life = PolicyLifetime::default();
    while let Some(k) = c.next() {
        if sel.kw(c, k)? {
            continue;
        }
        match k.text.as_str() {
            "dir" => once(&mut d, dir(c.value(k)?)?, k)?,
            "ptype" => once(&mut pt, ptype(c.value(k)?)?, k)?,
            "action" => {
                let v = c.value(k)?;
                let a = match v.text.as_str() {
                    "allow" | "accept" => Action::Allow,
                    "block" => Action::Block,
                    _ => return err(v, "bad action: expected allow or block"),
                };
                once(&mut action, a, k)?
            }
            "priority" => once(&mut prio, num_u32(c.value(k)?, "priority")?, k)?,
            "index" => once(&mut index, num_u32(c.value(k)?, "index")?, k)?,
            "tmpl" => tmpls.push(template(c)?),
            "limit" => {
                let kind = c.value(k)?;
                let v = num_u64(c.value(kind)?, "limit")?;
                match kind.text.as_str() {
                    "time-soft" => life.soft_add_secs = v,
                    "time-hard" => life.hard_add_secs = v,
                    "time-use-soft" => life.soft_use_secs = v,
                    "time-use-hard" => life.hard_use_secs = v,
                    "byte-soft" | "byte-hard" | "packet-soft" | "packet-hard" => {
                        return err(
                            kind,
                            "unsupported policy limit: policies expire by time only",
                        )
                    }
                    _ => return err(
                        kind,
                        "bad limit: expected time-soft, time-hard, time-use-soft or time-use-hard",
                    ),
                }
            }
            _ => {
                return Err(unsupported_xfrm(k).unwrap_or_else(|| mk(k, "unknown keyword")));
            }
        }
    }
    let selector = sel.build(verb)?;
    let Some(d) = d else {
        return err(verb, "missing 'dir'");
    };
    let templates = tmpls
        .into_iter()
        .map(|(mut t, has_addr)| {
            if !has_addr {
                t.family = selector.family;
            }
            t
        })
        .collect();
    Ok(PolicySpec {
        selector,
        dir: d,
        ptype: pt.unwrap_or(PolicyType::Main),
        priority: prio.unwrap_or(0),
        action: action.unwrap_or(Action::Allow),
        templates,
        lifetime: life,
        index,
    })
}

/// `tmpl [src A] [dst A] [proto esp] [spi N] [reqid N] [mode M] [level L]`;
/// the bool says whether an endpoint fixed the family.
fn template(c: &mut Cur<'_>) -> R<(Template, bool)> {
    let (mut src, mut dst, mut spi, mut reqid, mut md, mut level, mut pr) =
        (None, None, None, None, None, None, None);
    while let Some(k) = c.peek() {
        match k.text.as_str() {
            "src" | "dst" | "proto" | "spi" | "reqid" | "mode" | "level" => {}
            _ => break,
        }
        c.next();
        let v = c.value(k)?;
        match k.text.as_str() {
            "src" => once(&mut src, (addr(v)?, v), k)?,
            "dst" => once(&mut dst, (addr(v)?, v), k)?,
            "proto" => once(&mut pr, esp_only(v)?, k)?,
            "spi" => once(&mut spi, num_u32(v, "spi")?, k)?,
            "reqid" => once(&mut reqid, num_u32(v, "reqid")?, k)?,
            "mode" => once(&mut md, mode(v)?, k)?,
            _ => {
                let l = match v.text.as_str() {
                    "required" => Level::Required,
                    "use" => Level::Use,
                    _ => return err(v, "bad level: expected required or use"),
                };
                once(&mut level, l, k)?
            }
        }
    }
    let family = match (src, dst) {
        (Some(((fs, _), _)), Some(((fd, _), t))) => {
            if fs != fd {
                return err(t, "tmpl src and dst are of different address families");
            }
            Some(fs)
        }
        (Some(((f, _), _)), None) | (None, Some(((f, _), _))) => Some(f),
        (None, None) => None,
    };
    Ok((
        Template {
            proto: IPPROTO_ESP,
            mode: md.unwrap_or(Mode::Transport),
            family: family.unwrap_or(Family::V4),
            src: src.map(|((_, a), _)| a),
            dst: dst.map(|((_, a), _)| a),
            reqid: reqid.unwrap_or(0),
            spi,
            level: level.unwrap_or(Level::Required),
        },
        family.is_some(),
    ))
}

fn policy_id(c: &mut Cur<'_>, verb: &Tok) -> R<PolicyId> {
    if let Some(k) = c.peek().filter(|k| k.text == "index") {
        c.next();
        let i = num_u32(c.value(k)?, "index")?;
        // Linux wants the direction beside an index; it is implied by the index here.
        let (mut d, mut t) = (None, None);
        while let Some(k) = c.next() {
            match k.text.as_str() {
                "dir" => once(&mut d, dir(c.value(k)?)?, k)?,
                "ptype" => once(&mut t, ptype(c.value(k)?)?, k)?,
                _ => return err(k, "unknown keyword"),
            }
        }
        return Ok(PolicyId::Index(i));
    }
    let mut sel = SelB::default();
    let (mut d, mut t) = (None, None);
    while let Some(k) = c.next() {
        if sel.kw(c, k)? {
            continue;
        }
        match k.text.as_str() {
            "dir" => once(&mut d, dir(c.value(k)?)?, k)?,
            "ptype" => once(&mut t, ptype(c.value(k)?)?, k)?,
            _ => return Err(unsupported_xfrm(k).unwrap_or_else(|| mk(k, "unknown keyword"))),
        }
    }
    let selector = sel.build(verb)?;
    let Some(d) = d else {
        return err(verb, "missing 'dir'");
    };
    Ok(PolicyId::Selector {
        selector,
        dir: d,
        ptype: t.unwrap_or(PolicyType::Main),
    })
}

// ---------------------------------------------------------------- ip xfrm state

fn state(c: &mut Cur<'_>, kw: &Tok) -> R<Command> {
    let verb = c.next().ok_or_else(|| {
        mk(
            kw,
            "missing subcommand (add, update, delete, get, flush, count, list)",
        )
    })?;
    Ok(match verb.text.as_str() {
        "add" => Command::SaAdd(sa_spec(c, verb)?),
        "update" => Command::SaUpdate(sa_spec(c, verb)?),
        "delete" | "del" | "get" => {
            let (mut src, mut dst, mut spi, mut pr) = (None, None, None, None);
            while let Some(k) = c.next() {
                let v = c.value(k)?;
                match k.text.as_str() {
                    // The SAD key is (spi, dst); src is checked and ignored.
                    "src" => once(&mut src, addr(v)?, k)?,
                    "dst" => once(&mut dst, addr(v)?, k)?,
                    "proto" => once(&mut pr, esp_only(v)?, k)?,
                    "spi" => once(&mut spi, num_u32(v, "spi")?, k)?,
                    _ => return err(k, "unknown keyword"),
                }
            }
            let Some((family, dst)) = dst else {
                return err(verb, "missing 'dst'");
            };
            let Some(spi) = spi else {
                return err(verb, "missing 'spi'");
            };
            if verb.text == "get" {
                Command::SaGet { spi, dst, family }
            } else {
                Command::SaDelete { spi, dst, family }
            }
        }
        "flush" | "deleteall" => {
            if let Some(k) = c.next() {
                if k.text != "proto" {
                    return err(k, "unknown keyword");
                }
                esp_only(c.value(k)?)?;
                c.end()?;
            }
            Command::SaFlush
        }
        "count" => {
            c.end()?;
            Command::SaCount
        }
        "list" | "show" => {
            c.end()?;
            Command::SaList
        }
        _ => return err(verb, "unknown state subcommand"),
    })
}

fn hex_key(t: &Tok) -> R<Vec<u8>> {
    let bad = || mk(t, "bad key: expected 0x and an even number of hex digits");
    let h = t
        .text
        .strip_prefix("0x")
        .or_else(|| t.text.strip_prefix("0X"))
        .ok_or_else(bad)?;
    if h.is_empty() || h.len() % 2 != 0 {
        return Err(bad());
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

fn split_keysalt(ks: Vec<u8>, alg: AeadAlg) -> (Vec<u8>, [u8; 4]) {
    let n = alg.key_len();
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&ks[n..n + 4]);
    let mut key = ks;
    key.truncate(n);
    (key, salt)
}

fn sa_spec(c: &mut Cur<'_>, verb: &Tok) -> R<SaSpec> {
    let (mut src, mut dst, mut spi, mut reqid, mut md, mut win, mut pr) =
        (None, None, None, None, None, None, None);
    let mut esn = false;
    let mut aead: Option<(AeadAlg, Vec<u8>)> = None;
    let mut life = SaLifetime::default();
    while let Some(k) = c.next() {
        match k.text.as_str() {
            "src" => once(&mut src, addr(c.value(k)?)?, k)?,
            "dst" => {
                let v = c.value(k)?;
                once(&mut dst, (addr(v)?, v), k)?
            }
            "proto" => once(&mut pr, esp_only(c.value(k)?)?, k)?,
            "spi" => once(&mut spi, num_u32(c.value(k)?, "spi")?, k)?,
            "reqid" => once(&mut reqid, num_u32(c.value(k)?, "reqid")?, k)?,
            "mode" => once(&mut md, mode(c.value(k)?)?, k)?,
            "replay-window" => once(&mut win, num_u32(c.value(k)?, "replay-window")?, k)?,
            "flag" => {
                let v = c.value(k)?;
                match v.text.as_str() {
                    "esn" => esn = true,
                    _ => return err(v, "unsupported flag: only esn"),
                }
            }
            "aead" => {
                let name = c.value(k)?;
                if name.text != "rfc4106(gcm(aes))" {
                    return err(name, "unsupported algorithm: only aead 'rfc4106(gcm(aes))'");
                }
                let kt = c.value(name)?;
                let ks = hex_key(kt)?;
                let alg = AeadAlg::from_keysalt_len(ks.len()).ok_or_else(|| {
                    mk(
                        kt,
                        format!(
                            "bad key length: {} bytes (key and 4-byte salt: 20 for AES-128, 36 for AES-256)",
                            ks.len()
                        ),
                    )
                })?;
                let icv = c.value(kt)?;
                if num_u32(icv, "ICV length")? != 128 {
                    return err(icv, "unsupported ICV length: only 128 bits");
                }
                once(&mut aead, (alg, ks), k)?
            }
            "limit" => {
                let kind = c.value(k)?;
                let v = num_u64(c.value(kind)?, "limit")?;
                let slot = match kind.text.as_str() {
                    "byte-soft" => &mut life.soft_bytes,
                    "byte-hard" => &mut life.hard_bytes,
                    "packet-soft" => &mut life.soft_packets,
                    "packet-hard" => &mut life.hard_packets,
                    "time-soft" => &mut life.soft_add_secs,
                    "time-hard" => &mut life.hard_add_secs,
                    "time-use-soft" => &mut life.soft_use_secs,
                    "time-use-hard" => &mut life.hard_use_secs,
                    _ => return err(kind, "bad limit: expected (byte|packet)-(soft|hard) or time-(soft|hard|use-soft|use-hard)"),
                };
                *slot = v;
            }
            "enc" | "auth" | "auth-trunc" | "comp" => {
                return err(
                    k,
                    format!(
                        "unsupported algorithm '{}': only aead 'rfc4106(gcm(aes))'",
                        k.text
                    ),
                )
            }
            _ => return Err(unsupported_xfrm(k).unwrap_or_else(|| mk(k, "unknown keyword"))),
        }
    }
    let Some((family, src)) = src else {
        return err(verb, "missing 'src'");
    };
    let Some(((fd, dst), dt)) = dst else {
        return err(verb, "missing 'dst'");
    };
    if fd != family {
        return err(dt, "src and dst are of different address families");
    }
    let Some(spi) = spi else {
        return err(verb, "missing 'spi'");
    };
    let Some((alg, ks)) = aead else {
        return err(verb, "missing 'aead'");
    };
    let (key, salt) = split_keysalt(ks, alg);
    Ok(SaSpec {
        spi,
        mode: md.unwrap_or(Mode::Transport),
        family,
        src,
        dst,
        reqid: reqid.unwrap_or(0),
        alg,
        key,
        salt,
        replay_window: win.unwrap_or(DEFAULT_REPLAY_WINDOW),
        esn,
        lifetime: life,
    })
}

// ---------------------------------------------------------------- routes, neighbors, ops

fn route(c: &mut Cur<'_>, kw: &Tok) -> R<Command> {
    let verb = c
        .next()
        .ok_or_else(|| mk(kw, "missing subcommand (add, del, list)"))?;
    Ok(match verb.text.as_str() {
        "add" => {
            let p = prefix(c.value(verb)?)?;
            let (mut via, mut port) = (None, None);
            while let Some(k) = c.next() {
                match k.text.as_str() {
                    "via" => once(&mut via, addr_of(c.value(k)?, p.family)?, k)?,
                    "port" | "dev" => once(&mut port, num_u16(c.value(k)?, "port")?, k)?,
                    _ => return err(k, "unknown keyword"),
                }
            }
            let Some(port) = port else {
                return err(verb, "missing 'port'");
            };
            Command::RouteAdd(RouteSpec {
                prefix: p,
                port,
                next_hop: via,
            })
        }
        "del" | "delete" => {
            let p = prefix(c.value(verb)?)?;
            c.end()?;
            Command::RouteDel(p)
        }
        "list" | "show" => {
            c.end()?;
            Command::RouteList
        }
        _ => return err(verb, "unknown route subcommand"),
    })
}

fn neigh(c: &mut Cur<'_>, kw: &Tok) -> R<Command> {
    let verb = c
        .next()
        .ok_or_else(|| mk(kw, "missing subcommand (add, del, or secgw's 'port N MAC')"))?;
    Ok(match verb.text.as_str() {
        // secgw: `neigh port N MAC`.
        "port" => {
            let port = num_u16(c.value(verb)?, "port")?;
            let m = mac(c.value(c.prev())?)?;
            c.end()?;
            Command::NeighAdd(NeighSpec {
                port,
                addr: None,
                mac: m,
            })
        }
        "add" | "del" | "delete" => {
            let add = verb.text == "add";
            let mut a = None;
            if let Some(t) = c.peek() {
                if !matches!(t.text.as_str(), "lladdr" | "port" | "dev") {
                    c.next();
                    a = Some(addr(t)?.1);
                }
            }
            let (mut port, mut m) = (None, None);
            while let Some(k) = c.next() {
                match k.text.as_str() {
                    "port" | "dev" => once(&mut port, num_u16(c.value(k)?, "port")?, k)?,
                    "lladdr" if add => once(&mut m, mac(c.value(k)?)?, k)?,
                    _ => return err(k, "unknown keyword"),
                }
            }
            let Some(port) = port else {
                return err(verb, "missing 'port'");
            };
            if add {
                let Some(m) = m else {
                    return err(verb, "missing 'lladdr'");
                };
                Command::NeighAdd(NeighSpec {
                    port,
                    addr: a,
                    mac: m,
                })
            } else {
                Command::NeighDel { port, addr: a }
            }
        }
        _ => return err(verb, "unknown neigh subcommand"),
    })
}

fn stats(c: &mut Cur<'_>) -> R<Command> {
    let mut json = false;
    while let Some(k) = c.next() {
        match k.text.as_str() {
            "--json" | "-j" | "json" => json = true,
            _ => return err(k, "unknown option"),
        }
    }
    Ok(Command::Stats { json })
}

fn flows(c: &mut Cur<'_>) -> R<Command> {
    let (mut lcore, mut limit) = (None, None);
    while let Some(k) = c.next() {
        match k.text.as_str() {
            "--lcore" | "lcore" => once(&mut lcore, num_u16(c.value(k)?, "lcore")?, k)?,
            "--limit" | "limit" => {
                let v = c.value(k)?;
                let n = num_u64(v, "limit")?;
                let n = usize::try_from(n).map_err(|_| mk(v, "bad limit: too large"))?;
                once(&mut limit, n, k)?
            }
            _ => return err(k, "unknown option"),
        }
    }
    Ok(Command::Flows { lcore, limit })
}

// ---------------------------------------------------------------- ipsec-secgw

fn secgw_family(c: &mut Cur<'_>, kw: &Tok) -> R<Family> {
    let v = c.value(kw)?;
    match v.text.as_str() {
        "ipv4" => Ok(Family::V4),
        "ipv6" => Ok(Family::V6),
        _ => err(v, "bad IP version: expected ipv4 or ipv6"),
    }
}

fn secgw_dir(c: &mut Cur<'_>, kw: &Tok) -> R<Dir> {
    let v = c.value(kw)?;
    match v.text.as_str() {
        "in" => Ok(Dir::In),
        "out" => Ok(Dir::Out),
        _ => err(v, "bad direction: expected in or out"),
    }
}

/// `sp ipv4|ipv6 in|out esp protect SPI|bypass|discard [pri N] [src P] [dst P]
/// [proto P[:P]] [sport A:B] [dport A:B]`
fn secgw_sp(c: &mut Cur<'_>, kw: &Tok) -> R<Parsed> {
    let family = secgw_family(c, kw)?;
    let d = secgw_dir(c, c.prev())?;
    let e = c.value(c.prev())?;
    if e.text != "esp" {
        return err(e, "expected 'esp'");
    }
    let at = c.value(e)?;
    let (action, spi) = match at.text.as_str() {
        "protect" => (Action::Allow, Some(num_u32(c.value(at)?, "spi")?)),
        "bypass" => (Action::Allow, None),
        "discard" => (Action::Block, None),
        _ => return err(at, "bad action: expected protect, bypass or discard"),
    };
    let (mut pri, mut src, mut dst, mut pr) = (None, None, None, None);
    let mut sport: Option<(PortRange, &Tok)> = None;
    let mut dport: Option<(PortRange, &Tok)> = None;
    while let Some(k) = c.next() {
        match k.text.as_str() {
            "pri" => {
                let v = c.value(k)?;
                let p = num_u32(v, "priority")?;
                if p > SECGW_PRI_MAX {
                    return err(v, format!("bad priority: at most {SECGW_PRI_MAX}"));
                }
                once(&mut pri, p, k)?
            }
            "src" => once(&mut src, prefix_of(c.value(k)?, family)?, k)?,
            "dst" => once(&mut dst, prefix_of(c.value(k)?, family)?, k)?,
            "proto" => {
                let v = c.value(k)?;
                let p = match v.text.split_once(':') {
                    None => proto(v)?,
                    Some((a, b)) => {
                        let n = |x: &str| x.parse::<u8>().map_err(|_| mk(v, "bad protocol"));
                        match (n(a)?, n(b)?) {
                            (0, 0) | (0, 255) => 0,
                            (a, b) if a == b || b == 255 => a,
                            _ => return err(v, "unsupported protocol range: give one protocol"),
                        }
                    }
                };
                once(&mut pr, p, k)?
            }
            "sport" => once(&mut sport, (port_range(c.value(k)?)?, k), k)?,
            "dport" => once(&mut dport, (port_range(c.value(k)?)?, k), k)?,
            _ => return err(k, "unknown keyword"),
        }
    }
    let proto = pr.unwrap_or(0);
    for (slot, name) in [(&sport, "sport"), (&dport, "dport")] {
        if let Some((r, t)) = slot {
            if proto == 0 && !r.is_any() {
                return err(
                    t,
                    format!("'{name}' needs a 'proto' (ports are matched within one protocol)"),
                );
            }
            // secgw's ACL reads ICMP type/code as a port field; xfgate keeps them apart.
            if is_icmp(proto) && !r.is_any() {
                return err(
                    t,
                    format!(
                        "'{name}' with ICMP is not supported here: use ip-xfrm 'type' and 'code'"
                    ),
                );
            }
        }
    }
    let selector = Selector {
        family,
        src: src.unwrap_or(Prefix::any(family)),
        dst: dst.unwrap_or(Prefix::any(family)),
        proto,
        sport: sport.map_or(PortRange::ANY, |x| x.0),
        dport: dport.map_or(PortRange::ANY, |x| x.0),
        ingress: None,
    };
    let templates = match spi {
        // Refined by `resolve_secgw` when the SA is in the same file.
        Some(spi) => vec![Template {
            proto: IPPROTO_ESP,
            mode: Mode::Tunnel,
            family,
            src: None,
            dst: None,
            reqid: 0,
            spi: Some(spi),
            level: Level::Required,
        }],
        None => Vec::new(),
    };
    Ok(Parsed {
        cmd: Command::PolicyAdd(PolicySpec {
            selector,
            dir: d,
            ptype: PolicyType::Main,
            priority: SECGW_PRI_MAX - pri.unwrap_or(0),
            action,
            templates,
            lifetime: PolicyLifetime::default(),
            index: None,
        }),
        secgw: Secgw::Sp { dir: d, spi },
    })
}

/// `sa in|out SPI aead_algo ALG aead_key KEY mode MODE [src A] [dst A]
/// [type no-offload] [port_id N]`
fn secgw_sa(c: &mut Cur<'_>, kw: &Tok) -> R<Parsed> {
    let d = secgw_dir(c, kw)?;
    let spi_t = c.value(c.prev())?;
    let spi = num_u32(spi_t, "spi")?;
    let mut alg: Option<(AeadAlg, &Tok)> = None;
    let mut key: Option<(Vec<u8>, &Tok)> = None;
    let mut md: Option<(Mode, Option<Family>)> = None;
    let mut src: Option<(Family, Addr, &Tok)> = None;
    let mut dst: Option<(Family, Addr, &Tok)> = None;
    let (mut ty, mut port_id) = (None, None);
    while let Some(k) = c.next() {
        match k.text.as_str() {
            "aead_algo" => {
                let v = c.value(k)?;
                let a = match v.text.as_str() {
                    "aes-128-gcm" => AeadAlg::Aes128Gcm,
                    "aes-256-gcm" => AeadAlg::Aes256Gcm,
                    _ => {
                        return err(
                            v,
                            "unsupported algorithm: only aead_algo aes-128-gcm or aes-256-gcm",
                        )
                    }
                };
                once(&mut alg, (a, k), k)?
            }
            "aead_key" => {
                let v = c.value(k)?;
                let mut bytes = Vec::new();
                for b in v.text.split(':') {
                    match u8::from_str_radix(b, 16) {
                        Ok(x) if !b.is_empty() && b.len() <= 2 => bytes.push(x),
                        _ => return err(v, "bad key: expected hex bytes separated by ':'"),
                    }
                }
                once(&mut key, (bytes, v), k)?
            }
            "cipher_algo" | "auth_algo" => {
                let v = c.value(k)?;
                return err(
                    v,
                    format!(
                        "unsupported algorithm: {} is not supported, only aead_algo aes-128-gcm or aes-256-gcm",
                        k.text
                    ),
                );
            }
            "cipher_key" | "auth_key" => {
                return err(
                    k,
                    "unsupported keyword: only aead_algo aes-128-gcm or aes-256-gcm",
                )
            }
            "mode" => {
                let v = c.value(k)?;
                let m = match v.text.as_str() {
                    "ipv4-tunnel" => (Mode::Tunnel, Some(Family::V4)),
                    "ipv6-tunnel" => (Mode::Tunnel, Some(Family::V6)),
                    "transport" => (Mode::Transport, None),
                    _ => {
                        return err(
                            v,
                            "bad mode: expected ipv4-tunnel, ipv6-tunnel or transport",
                        )
                    }
                };
                once(&mut md, m, k)?
            }
            "src" => {
                let v = c.value(k)?;
                let (f, a) = addr(v)?;
                once(&mut src, (f, a, v), k)?
            }
            "dst" => {
                let v = c.value(k)?;
                let (f, a) = addr(v)?;
                once(&mut dst, (f, a, v), k)?
            }
            "type" => {
                let v = c.value(k)?;
                if v.text != "no-offload" {
                    return err(
                        v,
                        "unsupported: hardware offload (xfgate does ESP in software; use no-offload)",
                    );
                }
                once(&mut ty, (), k)?
            }
            // Only meaningful with an offload type; secgw ignores it otherwise.
            "port_id" => once(&mut port_id, num_u16(c.value(k)?, "port")?, k)?,
            "fallback" | "flow-direction" => {
                return err(
                    k,
                    format!(
                        "unsupported keyword '{}': it configures hardware offload",
                        k.text
                    ),
                )
            }
            "udp-encap" => return err(k, "unsupported keyword: UDP encapsulation (NAT-T)"),
            "esn" | "mss" | "telemetry" | "reassembly_en" => {
                return err(k, format!("unsupported keyword '{}'", k.text))
            }
            _ => return err(k, "unknown keyword"),
        }
    }
    let Some((alg, _)) = alg else {
        return err(kw, "missing 'aead_algo'");
    };
    let Some((ks, kt)) = key else {
        return err(kw, "missing 'aead_key'");
    };
    if ks.len() != alg.key_len() + 4 {
        return err(
            kt,
            format!(
                "bad key length: {} bytes ({} takes {}: key and 4-byte salt)",
                ks.len(),
                match alg {
                    AeadAlg::Aes128Gcm => "aes-128-gcm",
                    AeadAlg::Aes256Gcm => "aes-256-gcm",
                },
                alg.key_len() + 4
            ),
        );
    }
    let Some((mode, fam)) = md else {
        return err(kw, "missing 'mode'");
    };
    let mut ends = [0u128; 2];
    for (i, slot) in [src, dst].iter().enumerate() {
        if let Some((f, a, t)) = slot {
            match fam {
                None => return err(t, "src and dst are not allowed in transport mode"),
                Some(m) if m != *f => return err(t, format!("address is not {}", fam_name(m))),
                Some(_) => ends[i] = *a,
            }
        }
    }
    let (key, salt) = split_keysalt(ks, alg);
    Ok(Parsed {
        cmd: Command::SaAdd(SaSpec {
            spi,
            mode,
            // Transport: set from the `sp` lines that use it, see resolve_secgw.
            family: fam.unwrap_or(Family::V4),
            src: ends[0],
            dst: ends[1],
            reqid: 0,
            alg,
            key,
            salt,
            replay_window: DEFAULT_REPLAY_WINDOW,
            esn: false,
            lifetime: SaLifetime::default(),
        }),
        secgw: Secgw::Sa {
            dir: d,
            transport: fam.is_none(),
        },
    })
}

/// `rt ipv4|ipv6 dst P [port N]` (port 0 and dst any when left out, as secgw).
fn secgw_rt(c: &mut Cur<'_>, kw: &Tok) -> R<Command> {
    let family = secgw_family(c, kw)?;
    let (mut dst, mut port) = (None, None);
    while let Some(k) = c.next() {
        match k.text.as_str() {
            "dst" => once(&mut dst, prefix_of(c.value(k)?, family)?, k)?,
            "port" => once(&mut port, num_u16(c.value(k)?, "port")?, k)?,
            "src" => return err(k, "unsupported keyword: routes match the destination only"),
            _ => return err(k, "unknown keyword"),
        }
    }
    Ok(Command::RouteAdd(RouteSpec {
        prefix: dst.unwrap_or(Prefix::any(family)),
        port: port.unwrap_or(0),
        next_hop: None,
    }))
}

// ---------------------------------------------------------------- entry points

/// What the file loader must remember about secgw lines.
enum Secgw {
    No,
    Sa { dir: Dir, transport: bool },
    Sp { dir: Dir, spi: Option<u32> },
}

struct Parsed {
    cmd: Command,
    secgw: Secgw,
}

fn parse_tokens(toks: &[Tok]) -> R<Parsed> {
    let mut c = Cur { t: toks, i: 0 };
    let Some(mut first) = c.next() else {
        // The line reader never yields empty lines.
        return Err(ParseError {
            line: 1,
            col: 1,
            msg: "empty command".into(),
            token: String::new(),
        });
    };
    if first.text == "ip" {
        let x = c.value(first)?;
        if x.text != "xfrm" {
            return err(x, "unknown command: only 'ip xfrm' is understood");
        }
        first = c.value(x)?;
    } else if first.text == "xfrm" {
        first = c.value(first)?;
    }
    let cmd = match first.text.as_str() {
        "policy" => policy(&mut c, first)?,
        "state" => state(&mut c, first)?,
        "route" => route(&mut c, first)?,
        "neigh" => neigh(&mut c, first)?,
        "stats" => stats(&mut c)?,
        "flows" => flows(&mut c)?,
        "monitor" => {
            c.end()?;
            Command::Monitor
        }
        "sp" => return secgw_sp(&mut c, first),
        "sa" => return secgw_sa(&mut c, first),
        "rt" => secgw_rt(&mut c, first)?,
        _ => return err(first, "unknown command"),
    };
    Ok(Parsed {
        cmd,
        secgw: Secgw::No,
    })
}

/// Parse one control line. `Ok(None)` for a blank or comment-only line.
///
/// A secgw `sp ... protect SPI` line on its own cannot see the SA, so its
/// template is tunnel mode with wildcard endpoints and the given spi.
pub fn parse_line(line: &str) -> Result<Option<Command>, ParseError> {
    let mut rd = LineReader::new(line);
    let Some(first) = rd.next() else {
        return Ok(None);
    };
    let toks = first?;
    if let Some(next) = rd.next() {
        let t = next?;
        return err(&t[0], "one command per line");
    }
    parse_tokens(&toks).map(|p| Some(p.cmd))
}

/// Parse a whole file (config file or `ctl -batch`). The first bad line aborts
/// the load: nothing is returned to apply.
///
/// After parsing, each secgw `sp ... protect SPI` policy gets its template from
/// the SA with that SPI in the same file (secgw `sa` of the same direction
/// first, then any `sa`/`state` with that spi): tunnel SAs give mode tunnel
/// and their endpoints, transport SAs mode transport and no endpoints. A
/// secgw transport SA takes its address family from the first `sp` line that
/// uses it. Without such an SA the template stays tunnel mode with wildcard
/// endpoints.
pub fn parse_file(text: &str, name: &str) -> Result<Vec<(Located, Command)>, ConfigError> {
    let mut out = Vec::new();
    let mut marks = Vec::new();
    for r in LineReader::new(text) {
        let wrap = |error| ConfigError {
            file: name.to_string(),
            error,
        };
        let toks = r.map_err(wrap)?;
        let p = parse_tokens(&toks).map_err(wrap)?;
        out.push((
            Located {
                line: toks[0].line,
                col: toks[0].col,
            },
            p.cmd,
        ));
        marks.push(p.secgw);
    }
    resolve_secgw(&mut out, &marks);
    Ok(out)
}

fn resolve_secgw(out: &mut [(Located, Command)], marks: &[Secgw]) {
    let mut by_dir: HashMap<(Dir, u32), usize> = HashMap::new();
    let mut by_spi: HashMap<u32, usize> = HashMap::new();
    for (i, (_, cmd)) in out.iter().enumerate() {
        if let Command::SaAdd(sa) = cmd {
            if let Secgw::Sa { dir, .. } = marks[i] {
                by_dir.entry((dir, sa.spi)).or_insert(i);
            }
            by_spi.entry(sa.spi).or_insert(i);
        }
    }
    let find = |dir: Dir, spi: u32| {
        by_dir
            .get(&(dir, spi))
            .or_else(|| by_spi.get(&spi))
            .copied()
    };
    // Transport SAs from secgw lines take the family of their first sp line.
    let mut fixed = vec![false; out.len()];
    for i in 0..out.len() {
        let Secgw::Sp {
            dir,
            spi: Some(spi),
        } = marks[i]
        else {
            continue;
        };
        let Some(j) = find(dir, spi) else { continue };
        let fam = match &out[i].1 {
            Command::PolicyAdd(p) => p.selector.family,
            _ => continue,
        };
        if let (
            Secgw::Sa {
                transport: true, ..
            },
            false,
        ) = (&marks[j], fixed[j])
        {
            if let Command::SaAdd(sa) = &mut out[j].1 {
                sa.family = fam;
                fixed[j] = true;
            }
        }
    }
    for i in 0..out.len() {
        let Secgw::Sp {
            dir,
            spi: Some(spi),
        } = marks[i]
        else {
            continue;
        };
        let Some(j) = find(dir, spi) else { continue };
        let Command::SaAdd(sa) = &out[j].1 else {
            continue;
        };
        let (mode, family, src, dst) = (sa.mode, sa.family, sa.src, sa.dst);
        if let Command::PolicyAdd(p) = &mut out[i].1 {
            let sel_family = p.selector.family;
            if let Some(t) = p.templates.first_mut() {
                t.mode = mode;
                match mode {
                    Mode::Tunnel => {
                        t.family = family;
                        t.src = (src != 0).then_some(src);
                        t.dst = (dst != 0).then_some(dst);
                    }
                    Mode::Transport => {
                        t.family = sel_family;
                        t.src = None;
                        t.dst = None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Addr {
        addr_from_ip(s.parse().unwrap()).1
    }
    fn v6(s: &str) -> Addr {
        addr_from_ip(s.parse().unwrap()).1
    }
    fn pfx(s: &str) -> Prefix {
        s.parse().unwrap()
    }
    fn policy_at(cmds: &[(Located, Command)], i: usize) -> &PolicySpec {
        match &cmds[i].1 {
            Command::PolicyAdd(p) => p,
            c => panic!("command {i} is not a policy add: {c:?}"),
        }
    }
    fn sa_at(cmds: &[(Located, Command)], i: usize) -> &SaSpec {
        match &cmds[i].1 {
            Command::SaAdd(s) => s,
            c => panic!("command {i} is not an SA add: {c:?}"),
        }
    }

    /// Modeled on DPDK's examples/ipsec-secgw/ep0.cfg.
    const SECGW_CFG: &str = "\
###########################################################################
#   IPSEC-SECGW Endpoint0 style configuration
###########################################################################

#SP IPv4 rules
sp ipv4 out esp protect 5 pri 1 dst 192.168.105.0/24 sport 0:65535 dport 0:65535
sp ipv4 out esp protect 6 pri 1 dst 192.168.106.0/24 sport 0:65535 dport 0:65535
sp ipv4 out esp protect 10 pri 1 dst 192.168.175.0/24 sport 0:65535 dport 0:65535
sp ipv4 out esp bypass pri 1 dst 192.168.240.0/24 sport 0:65535 dport 0:65535
sp ipv4 out esp discard pri 5 src 10.0.0.0/8 proto 17 sport 1:1023 dport 53:53
sp ipv4 in esp protect 105 pri 1 dst 192.168.115.0/24 sport 0:65535 dport 0:65535
sp ipv4 in esp protect 110 pri 1 dst 192.168.185.0/24 sport 0:65535 dport 0:65535
sp ipv4 in esp bypass pri 1 dst 192.168.245.0/24 sport 0:65535 dport 0:65535

#SP IPv6 rules
sp ipv6 out esp protect 25 pri 1 dst 0000:0000:0000:0000:5555:5555:\\
0000:0000/96 sport 0:65535 dport 0:65535
sp ipv6 in esp protect 125 pri 1 dst 0000:0000:0000:0000:aaaa:aaaa:\\
0000:0000/96 sport 0:65535 dport 0:65535
sp ipv6 out esp protect 99 pri 2 dst 2001:db8::/32 # its SA is configured later

#SA rules
sa out 5 aead_algo aes-128-gcm \\
aead_key de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef \\
mode ipv4-tunnel src 172.16.1.5 dst 172.16.2.5
sa out 6 aead_algo aes-256-gcm aead_key 00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:\\
10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f:a0:a1:a2:a3 \\
    mode ipv4-tunnel src 172.16.1.6 dst 172.16.2.6 type no-offload
sa out 10 aead_algo aes-128-gcm aead_key 1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:10:c0:c1:c2:c3 mode transport
sa out 25 aead_algo aes-128-gcm \\
aead_key de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef \\
mode ipv6-tunnel \\
src 1111:1111:1111:1111:1111:1111:1111:5555 \\
dst 2222:2222:2222:2222:2222:2222:2222:5555
sa in 105 aead_algo aes-128-gcm \\
aead_key de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef \\
mode ipv4-tunnel src 172.16.2.5 dst 172.16.1.5
sa in 110 aead_algo aes-256-gcm aead_key 00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:\\
10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f:a0:a1:a2:a3 mode transport
sa in 125 aead_algo aes-128-gcm \\
aead_key de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef \\
mode ipv6-tunnel \\
src 2222:2222:2222:2222:2222:2222:2222:5555 \\
dst 1111:1111:1111:1111:1111:1111:1111:5555

#Routing rules
rt ipv4 dst 172.16.2.5/32 port 0
rt ipv4 dst 192.168.105.0/24 port 2
rt ipv6 dst 2222:2222:2222:2222:2222:2222:2222:5555/116 port 0
rt ipv6 dst 0000:0000:0000:0000:aaaa:aaaa:0000:0000/116 port 2

#Neighbour rules
neigh port 0 DE:AD:BE:EF:01:02
neigh port 2 de:ad:be:ef:03:04
";

    #[test]
    fn secgw_config_loads_to_specs() {
        let cmds = parse_file(SECGW_CFG, "ep0.cfg").unwrap();
        assert_eq!(cmds.len(), 11 + 7 + 4 + 2);

        // Line 6: outbound protect 5 -> tunnel SA 5 of this file.
        assert_eq!(cmds[0].0, Located { line: 6, col: 1 });
        let p = policy_at(&cmds, 0);
        let mut sel = Selector::any(Family::V4);
        sel.dst = pfx("192.168.105.0/24");
        assert_eq!(
            *p,
            PolicySpec {
                selector: sel,
                dir: Dir::Out,
                ptype: PolicyType::Main,
                priority: SECGW_PRI_MAX - 1,
                action: Action::Allow,
                templates: vec![Template {
                    proto: IPPROTO_ESP,
                    mode: Mode::Tunnel,
                    family: Family::V4,
                    src: Some(v4("172.16.1.5")),
                    dst: Some(v4("172.16.2.5")),
                    reqid: 0,
                    spi: Some(5),
                    level: Level::Required,
                }],
                lifetime: PolicyLifetime::default(),
                index: None,
            }
        );

        // protect 10 -> transport SA: no endpoints; the SA gets IPv4.
        let t = policy_at(&cmds, 2).templates[0];
        assert_eq!(
            (t.mode, t.family, t.src, t.dst),
            (Mode::Transport, Family::V4, None, None)
        );
        assert_eq!(t.spi, Some(10));

        // bypass and discard.
        let p = policy_at(&cmds, 3);
        assert_eq!((p.action, p.templates.len()), (Action::Allow, 0));
        let p = policy_at(&cmds, 4);
        assert_eq!(p.action, Action::Block);
        assert_eq!(p.priority, SECGW_PRI_MAX - 5);
        assert!(
            p.priority < policy_at(&cmds, 3).priority,
            "secgw pri 5 beats pri 1"
        );
        assert_eq!(p.selector.src, pfx("10.0.0.0/8"));
        assert_eq!(p.selector.dst, Prefix::any(Family::V4));
        assert_eq!(p.selector.proto, 17);
        assert_eq!(p.selector.sport, PortRange { lo: 1, hi: 1023 });
        assert_eq!(p.selector.dport, PortRange::single(53));

        // Inbound protect 105 -> SA in 105, endpoints as the peer sends them.
        let p = policy_at(&cmds, 5);
        assert_eq!(p.dir, Dir::In);
        let t = p.templates[0];
        assert_eq!(
            (t.mode, t.src, t.dst, t.spi),
            (
                Mode::Tunnel,
                Some(v4("172.16.2.5")),
                Some(v4("172.16.1.5")),
                Some(105)
            )
        );
        // protect 110 in -> inbound transport SA 110.
        assert_eq!(policy_at(&cmds, 6).templates[0].mode, Mode::Transport);

        // IPv6 rule across a continuation that splits the address.
        assert_eq!(cmds[8].0, Located { line: 16, col: 1 });
        let p = policy_at(&cmds, 8);
        assert_eq!(p.selector.family, Family::V6);
        assert_eq!(p.selector.dst, pfx("::5555:5555:0:0/96"));
        let t = p.templates[0];
        assert_eq!(
            (t.family, t.src, t.dst),
            (
                Family::V6,
                Some(v6("1111:1111:1111:1111:1111:1111:1111:5555")),
                Some(v6("2222:2222:2222:2222:2222:2222:2222:5555"))
            )
        );
        let t = policy_at(&cmds, 9).templates[0];
        assert_eq!(t.dst, Some(v6("1111:1111:1111:1111:1111:1111:1111:5555")));
        // SPI 99 has no SA in the file: tunnel with wildcard endpoints.
        let t = policy_at(&cmds, 10).templates[0];
        assert_eq!(
            (t.mode, t.family, t.src, t.dst, t.spi),
            (Mode::Tunnel, Family::V6, None, None, Some(99))
        );

        // SAs.
        assert_eq!(cmds[11].0, Located { line: 23, col: 1 });
        assert_eq!(
            *sa_at(&cmds, 11),
            SaSpec {
                spi: 5,
                mode: Mode::Tunnel,
                family: Family::V4,
                src: v4("172.16.1.5"),
                dst: v4("172.16.2.5"),
                reqid: 0,
                alg: AeadAlg::Aes128Gcm,
                key: [0xde, 0xad, 0xbe, 0xef].repeat(4),
                salt: [0xde, 0xad, 0xbe, 0xef],
                replay_window: DEFAULT_REPLAY_WINDOW,
                esn: false,
                lifetime: SaLifetime::default(),
            }
        );
        let s = sa_at(&cmds, 12);
        assert_eq!(s.alg, AeadAlg::Aes256Gcm);
        assert_eq!(s.key, (0u8..32).collect::<Vec<_>>());
        assert_eq!(s.salt, [0xa0, 0xa1, 0xa2, 0xa3]);
        let s = sa_at(&cmds, 13);
        assert_eq!(
            (s.mode, s.family, s.src, s.dst),
            (Mode::Transport, Family::V4, 0, 0)
        );
        assert_eq!(s.key, (1u8..=16).collect::<Vec<_>>());
        assert_eq!(s.salt, [0xc0, 0xc1, 0xc2, 0xc3]);
        let s = sa_at(&cmds, 14);
        assert_eq!((s.spi, s.family), (25, Family::V6));
        assert_eq!(s.src, v6("1111:1111:1111:1111:1111:1111:1111:5555"));
        assert_eq!(
            (sa_at(&cmds, 16).spi, sa_at(&cmds, 16).mode),
            (110, Mode::Transport)
        );

        // Routes and neighbors.
        assert_eq!(
            cmds[18].1,
            Command::RouteAdd(RouteSpec {
                prefix: pfx("172.16.2.5/32"),
                port: 0,
                next_hop: None
            })
        );
        assert_eq!(
            cmds[20].1,
            Command::RouteAdd(RouteSpec {
                prefix: pfx("2222:2222:2222:2222:2222:2222:2222:5000/116"),
                port: 0,
                next_hop: None
            })
        );
        assert_eq!(
            cmds[23].1,
            Command::NeighAdd(NeighSpec {
                port: 2,
                addr: None,
                mac: [0xde, 0xad, 0xbe, 0xef, 0x03, 0x04]
            })
        );
        assert_eq!(cmds[23].0.line, 54);
    }

    const XFRM_SCRIPT: &str = "\
# ip xfrm style script
ip xfrm state add src 192.0.2.1 dst 198.51.100.1 proto esp spi 0x1000 reqid 7 mode tunnel \\
    replay-window 128 flag esn aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 128 \\
    limit byte-soft 1000000 limit time-hard 3600
state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 4097 mode transport aead \"rfc4106(gcm(aes))\" 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa0a1a2a3 128
ip xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 proto tcp sport 1024-65535 dport 443 dir out priority 100 \\
    tmpl src 192.0.2.1 dst 198.51.100.1 proto esp spi 0x1000 reqid 7 mode tunnel level required
policy add src 10.1.0.0/16 dst 10.2.0.0/16 dev 1 proto icmp type 8 code 0 dir fwd ptype sub action block priority 5 index 42 limit time-soft 60
xfrm policy update src 2001:db8::/64 dir in tmpl proto esp mode transport level use
policy setdefault out block
policy setdefault in allow
policy delete index 42 dir fwd
policy get src 10.1.0.0/16 dst 10.2.0.0/16 dir out
policy flush dir out
policy count
state delete src 192.0.2.1 dst 198.51.100.1 proto esp spi 0x1000
state get dst 2001:db8::2 proto esp spi 4097
state flush
route add 10.2.0.0/16 via 192.0.2.254 port 1
route del 10.2.0.0/16
route list
neigh add 192.0.2.254 lladdr 02:00:00:00:00:01 dev 1
neigh del 192.0.2.254 port 1
stats --json
stats
flows --lcore 2 --limit 10
monitor
";

    #[test]
    fn xfrm_script_loads() {
        let cmds = parse_file(XFRM_SCRIPT, "script").unwrap();
        let got: Vec<&Command> = cmds.iter().map(|(_, c)| c).collect();
        assert_eq!(got.len(), 23);
        assert_eq!(cmds[0].0, Located { line: 2, col: 1 });
        assert_eq!(
            *got[0],
            Command::SaAdd(SaSpec {
                spi: 0x1000,
                mode: Mode::Tunnel,
                family: Family::V4,
                src: v4("192.0.2.1"),
                dst: v4("198.51.100.1"),
                reqid: 7,
                alg: AeadAlg::Aes128Gcm,
                key: (0u8..16).collect(),
                salt: [0xa0, 0xa1, 0xa2, 0xa3],
                replay_window: 128,
                esn: true,
                lifetime: SaLifetime {
                    soft_bytes: 1_000_000,
                    hard_add_secs: 3600,
                    ..SaLifetime::default()
                },
            })
        );
        let Command::SaAdd(s) = got[1] else { panic!() };
        assert_eq!(
            (s.alg, s.mode, s.family),
            (AeadAlg::Aes256Gcm, Mode::Transport, Family::V6)
        );
        assert_eq!(
            (s.spi, s.replay_window, s.esn),
            (4097, DEFAULT_REPLAY_WINDOW, false)
        );
        assert_eq!(s.key, (0u8..32).collect::<Vec<_>>());

        let mut sel = Selector::any(Family::V4);
        sel.src = pfx("10.1.0.0/16");
        sel.dst = pfx("10.2.0.0/16");
        sel.proto = 6;
        sel.sport = PortRange {
            lo: 1024,
            hi: 65535,
        };
        sel.dport = PortRange::single(443);
        assert_eq!(
            *got[2],
            Command::PolicyAdd(PolicySpec {
                selector: sel,
                dir: Dir::Out,
                ptype: PolicyType::Main,
                priority: 100,
                action: Action::Allow,
                templates: vec![Template {
                    proto: IPPROTO_ESP,
                    mode: Mode::Tunnel,
                    family: Family::V4,
                    src: Some(v4("192.0.2.1")),
                    dst: Some(v4("198.51.100.1")),
                    reqid: 7,
                    spi: Some(0x1000),
                    level: Level::Required,
                }],
                lifetime: PolicyLifetime::default(),
                index: None,
            })
        );
        let Command::PolicyAdd(p) = got[3] else {
            panic!()
        };
        assert_eq!(p.selector.ingress, Some(1));
        assert_eq!(
            (p.selector.proto, p.selector.sport, p.selector.dport),
            (1, PortRange::single(8), PortRange::single(0))
        );
        assert_eq!(
            (p.dir, p.ptype, p.action, p.priority, p.index),
            (Dir::Fwd, PolicyType::Sub, Action::Block, 5, Some(42))
        );
        assert_eq!(p.lifetime.soft_add_secs, 60);
        let Command::PolicyUpdate(p) = got[4] else {
            panic!()
        };
        assert_eq!(p.selector.dst, Prefix::any(Family::V6));
        assert_eq!(
            p.templates,
            vec![Template {
                proto: IPPROTO_ESP,
                mode: Mode::Transport,
                family: Family::V6,
                src: None,
                dst: None,
                reqid: 0,
                spi: None,
                level: Level::Use,
            }]
        );
        assert_eq!(*got[5], Command::PolicySetDefault(Dir::Out, Action::Block));
        assert_eq!(*got[6], Command::PolicySetDefault(Dir::In, Action::Allow));
        assert_eq!(*got[7], Command::PolicyDelete(PolicyId::Index(42)));
        let mut sel = Selector::any(Family::V4);
        sel.src = pfx("10.1.0.0/16");
        sel.dst = pfx("10.2.0.0/16");
        assert_eq!(
            *got[8],
            Command::PolicyGet(PolicyId::Selector {
                selector: sel,
                dir: Dir::Out,
                ptype: PolicyType::Main
            })
        );
        assert_eq!(
            *got[9],
            Command::PolicyFlush {
                dir: Some(Dir::Out),
                ptype: None
            }
        );
        assert_eq!(*got[10], Command::PolicyCount);
        assert_eq!(
            *got[11],
            Command::SaDelete {
                spi: 0x1000,
                dst: v4("198.51.100.1"),
                family: Family::V4
            }
        );
        assert_eq!(
            *got[12],
            Command::SaGet {
                spi: 4097,
                dst: v6("2001:db8::2"),
                family: Family::V6
            }
        );
        assert_eq!(*got[13], Command::SaFlush);
        assert_eq!(
            *got[14],
            Command::RouteAdd(RouteSpec {
                prefix: pfx("10.2.0.0/16"),
                port: 1,
                next_hop: Some(v4("192.0.2.254"))
            })
        );
        assert_eq!(*got[15], Command::RouteDel(pfx("10.2.0.0/16")));
        assert_eq!(*got[16], Command::RouteList);
        assert_eq!(
            *got[17],
            Command::NeighAdd(NeighSpec {
                port: 1,
                addr: Some(v4("192.0.2.254")),
                mac: [2, 0, 0, 0, 0, 1]
            })
        );
        assert_eq!(
            *got[18],
            Command::NeighDel {
                port: 1,
                addr: Some(v4("192.0.2.254"))
            }
        );
        assert_eq!(*got[19], Command::Stats { json: true });
        assert_eq!(*got[20], Command::Stats { json: false });
        assert_eq!(
            *got[21],
            Command::Flows {
                lcore: Some(2),
                limit: Some(10)
            }
        );
        assert_eq!(*got[22], Command::Monitor);
        assert_eq!(cmds[22].0.line, 27);
    }

    #[test]
    fn parse_line_blank_comment_and_one_command() {
        assert_eq!(parse_line("   # nothing"), Ok(None));
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(parse_line("monitor # watch"), Ok(Some(Command::Monitor)));
        let e = parse_line("stats\nmonitor").unwrap_err();
        assert_eq!(e.to_string(), "2:1: one command per line (at 'monitor')");
        // A lone secgw sp line: the SA is unknown, the template is a tunnel wildcard.
        let Some(Command::PolicyAdd(p)) =
            parse_line("sp ipv4 out esp protect 7 dst 10.0.0.0/8").unwrap()
        else {
            panic!()
        };
        let t = p.templates[0];
        assert_eq!(
            (t.mode, t.src, t.dst, t.spi),
            (Mode::Tunnel, None, None, Some(7))
        );
        assert_eq!(p.priority, SECGW_PRI_MAX);
    }

    /// Load `text` as file `gw.cfg` and return the error message.
    fn file_err(text: &str) -> String {
        parse_file(text, "gw.cfg").unwrap_err().to_string()
    }

    /// Column (1-based) of `tok` in `line`.
    fn col(line: &str, tok: &str) -> usize {
        line.find(tok).unwrap() + 1
    }

    const KEY20: &str = "de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef:de:ad:be:ef";

    #[test]
    fn errors_name_file_line_column_and_token() {
        let l = "sp ipv4 out esp bypass pri 1 foo 3";
        assert_eq!(
            file_err(&format!("# comment\n{l}\n")),
            format!("gw.cfg:2:{}: unknown keyword (at 'foo')", col(l, "foo"))
        );
        assert_eq!(
            file_err("frobnicate all"),
            "gw.cfg:1:1: unknown command (at 'frobnicate')"
        );
        assert_eq!(
            file_err("rt ipv4 dst 10.0.0.300/8 port 0"),
            "gw.cfg:1:13: bad address (at '10.0.0.300/8')"
        );
        assert_eq!(
            file_err("route add 10.0.0.1 via 10.0.0.x port 1"),
            "gw.cfg:1:24: bad address (at '10.0.0.x')"
        );
        assert_eq!(
            file_err("monitor\nsp ipv4 in esp bypass dst 10.0.0.0/33"),
            "gw.cfg:2:27: bad prefix length '33' (0 to 32 for IPv4) (at '10.0.0.0/33')"
        );
        assert_eq!(
            file_err("policy add src ::/129 dir out"),
            "gw.cfg:1:16: bad prefix length '129' (0 to 128 for IPv6) (at '::/129')"
        );
        assert_eq!(
            file_err("state add src 192.0.2.1 dst 198.51.100.1 proto esp spi"),
            "gw.cfg:1:52: missing value after 'spi' (at 'spi')"
        );
        assert_eq!(
            file_err("policy add src 10.0.0.0/8 dir out priority"),
            "gw.cfg:1:35: missing value after 'priority' (at 'priority')"
        );
        assert_eq!(
            file_err("policy add src 10.0.0.0/8 action block"),
            "gw.cfg:1:8: missing 'dir' (at 'add')"
        );
    }

    #[test]
    fn key_and_algorithm_errors() {
        let l = "state add src 192.0.2.1 dst 198.51.100.1 proto esp spi 1 aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0f 128";
        assert_eq!(
            file_err(l),
            format!(
                "gw.cfg:1:{}: bad key length: 16 bytes (key and 4-byte salt: 20 for AES-128, 36 for AES-256) (at '0x000102030405060708090a0b0c0d0e0f')",
                col(l, "0x")
            )
        );
        let l = "state add src 192.0.2.1 dst 198.51.100.1 spi 1 aead 'rfc4309(ccm(aes))' 0x00 128";
        assert_eq!(
            file_err(l),
            format!(
                "gw.cfg:1:{}: unsupported algorithm: only aead 'rfc4106(gcm(aes))' (at 'rfc4309(ccm(aes))')",
                col(l, "'rfc4309")
            )
        );
        let l = "state add src 192.0.2.1 dst 198.51.100.1 spi 1 enc 'cbc(aes)' 0x00";
        assert_eq!(
            file_err(l),
            format!(
                "gw.cfg:1:{}: unsupported algorithm 'enc': only aead 'rfc4106(gcm(aes))' (at 'enc')",
                col(l, "enc")
            )
        );
        let l = "state add src 192.0.2.1 dst 198.51.100.1 spi 1 aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 64";
        assert_eq!(
            file_err(l),
            format!(
                "gw.cfg:1:{}: unsupported ICV length: only 128 bits (at '64')",
                col(l, " 64") + 1
            )
        );
        // secgw: key too short for aes-128-gcm, reported on the continued line.
        let text = "sa out 5 aead_algo aes-128-gcm \\\n  aead_key de:ad:be:ef mode transport";
        assert_eq!(
            file_err(text),
            "gw.cfg:2:12: bad key length: 4 bytes (aes-128-gcm takes 20: key and 4-byte salt) (at 'de:ad:be:ef')"
        );
        let l = "sa out 5 cipher_algo aes-128-cbc cipher_key 0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0 auth_algo sha1-hmac";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:22: unsupported algorithm: cipher_algo is not supported, only aead_algo aes-128-gcm or aes-256-gcm (at 'aes-128-cbc')"
        );
        let l = "sa out 5 aead_algo chacha20-poly1305 aead_key 0 mode transport";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:20: unsupported algorithm: only aead_algo aes-128-gcm or aes-256-gcm (at 'chacha20-poly1305')"
        );
    }

    #[test]
    fn offload_keywords_are_rejected() {
        let l = format!(
            "sa in 35 aead_algo aes-128-gcm aead_key {KEY20} mode ipv4-tunnel src 172.16.2.5 dst 172.16.1.5 type inline-crypto-offload port_id 0"
        );
        assert_eq!(
            file_err(&l),
            format!(
                "gw.cfg:1:{}: unsupported: hardware offload (xfgate does ESP in software; use no-offload) (at 'inline-crypto-offload')",
                col(&l, "inline-crypto")
            )
        );
        let l = format!(
            "sa in 35 aead_algo aes-128-gcm aead_key {KEY20} mode transport flow-direction 0 1"
        );
        assert_eq!(
            file_err(&l),
            format!(
                "gw.cfg:1:{}: unsupported keyword 'flow-direction': it configures hardware offload (at 'flow-direction')",
                col(&l, "flow-direction")
            )
        );
        let l = format!("sa in 35 aead_algo aes-128-gcm aead_key {KEY20} mode transport fallback lookaside-none");
        assert!(file_err(&l).ends_with(
            "unsupported keyword 'fallback': it configures hardware offload (at 'fallback')"
        ));
        // `type no-offload` and `port_id` are what secgw does by default: accepted.
        let l = format!("sa in 35 aead_algo aes-128-gcm aead_key {KEY20} mode transport type no-offload port_id 1");
        assert_eq!(parse_file(&l, "gw.cfg").unwrap().len(), 1);
    }

    #[test]
    fn port_range_errors() {
        let l = "sp ipv4 in esp bypass proto 6 sport 2000:1000";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:37: bad port range: start is above end (at '2000:1000')"
        );
        let l = "policy add src 10.0.0.0/8 proto udp dport 70000 dir in";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:43: bad port range: ports are 0 to 65535 (at '70000')"
        );
        let l = "sp ipv4 in esp bypass sport 1:1023";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:23: 'sport' needs a 'proto' (ports are matched within one protocol) (at 'sport')"
        );
        let l = "policy add src 10.0.0.0/8 proto icmp sport 3 dir in";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:38: 'sport' is not for ICMP: use 'type' and 'code' (at 'sport')"
        );
        let l = "sp ipv4 in esp bypass proto 1 sport 8:8";
        assert_eq!(
            file_err(l),
            "gw.cfg:1:31: 'sport' with ICMP is not supported here: use ip-xfrm 'type' and 'code' (at 'sport')"
        );
    }

    #[test]
    fn misc_errors() {
        assert_eq!(
            file_err("sp ipv4 out esp bypass dst 2001:db8::/32"),
            "gw.cfg:1:28: address is not IPv4 (at '2001:db8::/32')"
        );
        assert_eq!(
            file_err("sa out 5 aead_algo aes-128-gcm"),
            "gw.cfg:1:1: missing 'aead_key' (at 'sa')"
        );
        let l =
            format!("sa out 5 aead_algo aes-128-gcm aead_key {KEY20} mode transport src 10.0.0.1");
        assert!(
            file_err(&l).ends_with("src and dst are not allowed in transport mode (at '10.0.0.1')")
        );
        assert_eq!(
            file_err("policy add src 10.0.0.0/8 dst ::/0 dir out"),
            "gw.cfg:1:27: src and dst are of different address families (at 'dst')"
        );
        assert_eq!(
            file_err("policy add src 10.0.0.0/8 dir out mark 7"),
            "gw.cfg:1:35: unsupported keyword 'mark' (at 'mark')"
        );
        assert_eq!(
            file_err("policy add src 10.0.0.0/8 dir out dir in"),
            "gw.cfg:1:35: duplicate 'dir' (at 'dir')"
        );
        assert_eq!(
            file_err("state add src 10.0.0.1 dst 10.0.0.2 spi 1 flag noecn"),
            "gw.cfg:1:48: unsupported flag: only esn (at 'noecn')"
        );
        assert_eq!(
            file_err("neigh port 0 de:ad:be:ef:01"),
            "gw.cfg:1:14: bad MAC address (at 'de:ad:be:ef:01')"
        );
        assert_eq!(
            file_err("policy add src 10.0.0.0/8 dir out tmpl proto ah"),
            "gw.cfg:1:46: unsupported IPsec protocol: only esp (at 'ah')"
        );
        assert_eq!(
            file_err("monitor now"),
            "gw.cfg:1:9: unexpected token (at 'now')"
        );
        assert_eq!(
            file_err("ip route add"),
            "gw.cfg:1:4: unknown command: only 'ip xfrm' is understood (at 'route')"
        );
        assert_eq!(
            file_err("x 'unterminated"),
            "gw.cfg:1:3: unterminated quote (at ''unterminated')"
        );
    }

    proptest::proptest! {
        /// Garbage never panics: token soup from the grammar's own words and
        /// arbitrary text both end in a command or an error.
        #[test]
        fn garbage_never_panics(
            words in proptest::collection::vec(proptest::sample::select(vec![
                "ip", "xfrm", "policy", "state", "add", "delete", "get", "src", "dst", "dir",
                "in", "out", "tmpl", "proto", "esp", "spi", "mode", "tunnel", "aead",
                "'rfc4106(gcm(aes))'", "0x000102030405060708090a0b0c0d0e0fa0a1a2a3", "128",
                "sp", "sa", "rt", "neigh", "ipv4", "ipv6", "protect", "bypass", "pri", "5",
                "sport", "1:2", "10.0.0.0/8", "::/0", "2001:db8::1", "aead_algo", "aes-128-gcm",
                "aead_key", "de:ad", "port", "lladdr", "02:00:00:00:00:01", "limit", "time-soft",
                "\\\n", "#", "'", "\"", "é", "",
            ]), 0..24),
            text in ".{0,80}",
        ) {
            let line = words.join(" ");
            let _ = parse_line(&line);
            let _ = parse_file(&line, "f");
            let _ = parse_line(&text);
            let _ = parse_file(&text, "f");
        }
    }

    /// The examples in docs/config.md load, and equal configurations say the same.
    #[test]
    fn doc_examples_load() {
        let doc = include_str!("../../docs/config.md");
        let ex = &doc[doc.find("## Examples").unwrap()..];
        let blocks: Vec<&str> = ex.split("```").skip(1).step_by(2).collect();
        assert_eq!(blocks.len(), 3);
        let secgw = parse_file(blocks[0], "secgw").unwrap();
        let xfrm = parse_file(blocks[1], "xfrm").unwrap();
        assert_eq!((secgw.len(), xfrm.len()), (8, 8));
        // Same SAs, and same templates for the protect policies.
        for (i, j) in [(3, 0), (4, 1)] {
            assert_eq!(secgw[i].1, xfrm[j].1);
        }
        for (i, j) in [(0, 2), (2, 4)] {
            assert_eq!(
                policy_at(&secgw, i).templates,
                policy_at(&xfrm, j).templates
            );
        }
        for line in blocks[2].lines().filter(|l| !l.contains("-batch")) {
            if let Some(cmd) = line.strip_prefix("xfgate ctl ") {
                assert!(parse_line(cmd).unwrap().is_some(), "{line}");
            }
        }
    }

    #[test]
    fn a_bad_line_aborts_the_whole_load() {
        let text = format!("{SECGW_CFG}rt ipv4 dst 10.0.0.0/8 port 70000\nmonitor\n");
        let e = parse_file(&text, "ep0.cfg").unwrap_err();
        assert_eq!(e.file, "ep0.cfg");
        assert_eq!((e.error.line, e.error.col), (55, 29));
        assert_eq!(e.error.token, "70000");
        // The first error wins.
        let e = parse_file("monitor\nfoo\nbar\n", "x").unwrap_err();
        assert_eq!(e.to_string(), "x:2:1: unknown command (at 'foo')");
    }
}
