//! Policy specifications: what the configuration says a policy is.
//! These are plain data; `mgmt` turns them into live objects.

use crate::flow::FlowKey;
use crate::ip::{Addr, Dir, Family, Prefix};

/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;

/// An inclusive range of ports (or of ICMP type in `sport` / code in `dport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ANY: PortRange = PortRange {
        lo: 0,
        hi: u16::MAX,
    };

    pub const fn single(p: u16) -> PortRange {
        PortRange { lo: p, hi: p }
    }
    pub const fn is_any(&self) -> bool {
        self.lo == 0 && self.hi == u16::MAX
    }
    pub const fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
    pub const fn overlaps(&self, o: &PortRange) -> bool {
        self.lo <= o.hi && o.lo <= self.hi
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange::ANY
    }
}

/// What traffic a policy applies to.
///
/// For ICMP (1) and ICMPv6 (58), `sport` holds the type range and `dport` the
/// code range, as in Linux. `proto == 0` means any protocol; then the port
/// ranges must be `ANY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    pub family: Family,
    pub src: Prefix,
    pub dst: Prefix,
    pub proto: u8,
    pub sport: PortRange,
    pub dport: PortRange,
    /// Only packets that arrived on this port.
    pub ingress: Option<u16>,
}

impl Selector {
    /// Everything of one family.
    pub fn any(family: Family) -> Selector {
        Selector {
            family,
            src: Prefix::any(family),
            dst: Prefix::any(family),
            proto: 0,
            sport: PortRange::ANY,
            dport: PortRange::ANY,
            ingress: None,
        }
    }

    /// Does the selector match the key? (Direction is the policy's, not the selector's.)
    /// Fragments (ports unknown) match only selectors whose port ranges are `ANY`.
    pub fn matches(&self, k: &FlowKey) -> bool {
        if k.family != self.family
            || !self.src.contains(k.src)
            || !self.dst.contains(k.dst)
            || (self.proto != 0 && self.proto != k.proto)
            || self.ingress.is_some_and(|p| p != k.ingress)
        {
            return false;
        }
        if k.is_fragment() {
            return self.sport.is_any() && self.dport.is_any();
        }
        self.sport.contains(k.sport) && self.dport.contains(k.dport)
    }

    /// Could some flow match both selectors?
    pub fn overlaps(&self, o: &Selector) -> bool {
        self.family == o.family
            && self.src.overlaps(&o.src)
            && self.dst.overlaps(&o.dst)
            && (self.proto == 0 || o.proto == 0 || self.proto == o.proto)
            && self.sport.overlaps(&o.sport)
            && self.dport.overlaps(&o.dport)
            && match (self.ingress, o.ingress) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Linux's policy types: a `sub` policy is consulted before `main` ones, and a flow
/// matching both gets the templates of both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    Main,
    Sub,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Block,
}

/// ESP mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Transport,
    Tunnel,
}

/// Template level: `required` templates must be satisfied, `use` ones only if an SA exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Required,
    Use,
}

/// What an SA for a policy must look like (`ip xfrm policy ... tmpl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    /// Always `IPPROTO_ESP` here.
    pub proto: u8,
    pub mode: Mode,
    /// Family of the tunnel endpoints (for tunnel mode; transport uses the packet's).
    pub family: Family,
    /// Tunnel endpoints; `None` = wildcard (transport mode takes the packet's addresses).
    pub src: Option<Addr>,
    pub dst: Option<Addr>,
    /// 0 = any.
    pub reqid: u32,
    pub spi: Option<u32>,
    pub level: Level,
}

/// Policy lifetimes in seconds; 0 = none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PolicyLifetime {
    pub soft_add_secs: u64,
    pub hard_add_secs: u64,
    pub soft_use_secs: u64,
    pub hard_use_secs: u64,
}

/// A policy as configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicySpec {
    pub selector: Selector,
    pub dir: Dir,
    pub ptype: PolicyType,
    /// Lower wins; ties by insertion order.
    pub priority: u32,
    pub action: Action,
    /// Empty = bypass (allow without transform) when `action == Allow`.
    pub templates: Vec<Template>,
    pub lifetime: PolicyLifetime,
    /// Requested index; `None` = assigned by mgmt.
    pub index: Option<u32>,
}

impl PolicySpec {
    /// An allow policy without templates.
    pub fn bypass(selector: Selector, dir: Dir, priority: u32) -> PolicySpec {
        PolicySpec {
            selector,
            dir,
            ptype: PolicyType::Main,
            priority,
            action: Action::Allow,
            templates: Vec::new(),
            lifetime: PolicyLifetime::default(),
            index: None,
        }
    }
}

/// How a policy is named in delete/get/update: by index, or by selector + dir + type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PolicyId {
    Index(u32),
    Selector {
        selector: Selector,
        dir: Dir,
        ptype: PolicyType,
    },
}
