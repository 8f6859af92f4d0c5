//! The engine: everything workers read (tables, policy and SA objects,
//! generation counters) and the cache-less resolution of a flow key into a
//! [`Bundle`] — the flow cache's miss path and the reference the coherence
//! tests compare against.
//!
//! Only the management core ([`super::Mgmt`]) changes anything here.

use super::tables::{dir_class, PolIdx, SaIdx, Tables};
use crate::flow::bundle::{Bundle, Stamps, Verdict, MAX_POLICIES, MAX_SA_CHAIN};
use crate::flow::FlowKey;
use crate::ip::{Addr, Dir, Family};
use crate::sad::Sa;
use crate::spd::{Action, Level, Mode, Policy, PolicyType, Template};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;
use lcore::{Domain, Handle, LeftRight, Reader, Slots};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How the flow cache is kept coherent with the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// Each change invalidates only the flows it can affect (default).
    #[default]
    Selective,
    /// Every policy or SA change invalidates every entry (Linux 2.6 genid, VPP epoch).
    FlushAll,
    /// No cache: every packet is resolved against the tables (Linux since 4.14).
    Off,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "selective" => Ok(Strategy::Selective),
            "flush-all" => Ok(Strategy::FlushAll),
            "off" => Ok(Strategy::Off),
            _ => Err(format!(
                "unknown cache strategy '{s}' (expected selective, flush-all or off)"
            )),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Selective => "selective",
            Strategy::FlushAll => "flush-all",
            Strategy::Off => "off",
        })
    }
}

/// Generation counters that make cached entries stale without touching them.
/// Written by mgmt (Release), read by workers on every hit (Acquire).
///
/// No-policy results are invalidated by region (rule 5 made finer): an added
/// policy bumps the counter of the top byte of its destination prefix if that
/// prefix is /8 or longer, else that of its source prefix if /8 or longer,
/// else the direction's `nopol`. A policy that matches a flow therefore bumps
/// one of the three counters [`Gens::nopol_stamp`] adds up for the flow, and
/// adds elsewhere leave the flow's no-policy entry valid. The counters only
/// grow, so the sum changes iff one of them did.
#[derive(Debug)]
pub struct Gens {
    pub global: AtomicU64,
    /// Per direction class (out, in/fwd): policies with both prefixes shorter than /8.
    pub nopol: [AtomicU64; 2],
    /// Per direction class and top byte of the destination address.
    pub nopol_dst: [[AtomicU64; 256]; 2],
    /// Per direction class and top byte of the source address.
    pub nopol_src: [[AtomicU64; 256]; 2],
    pub sad: AtomicU64,
}

impl Default for Gens {
    fn default() -> Self {
        let region = || std::array::from_fn(|_| AtomicU64::new(0));
        Gens {
            global: AtomicU64::new(0),
            nopol: Default::default(),
            nopol_dst: [region(), region()],
            nopol_src: [region(), region()],
            sad: AtomicU64::new(0),
        }
    }
}

/// The region (top byte) of an address in its family.
#[inline(always)]
pub fn region(family: Family, addr: Addr) -> usize {
    match family {
        Family::V4 => ((addr >> 24) & 0xff) as usize,
        Family::V6 => ((addr >> 120) & 0xff) as usize,
    }
}

/// Which no-policy counter an added policy with this selector bumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NopolRegion {
    Dst(usize, usize),
    Src(usize, usize),
    All(usize),
}

impl NopolRegion {
    /// The counter for a policy of direction class `class` and selector `sel`.
    pub fn of(class: usize, sel: &crate::spd::Selector) -> NopolRegion {
        if sel.dst.len >= 8 {
            NopolRegion::Dst(class, region(sel.family, sel.dst.addr))
        } else if sel.src.len >= 8 {
            NopolRegion::Src(class, region(sel.family, sel.src.addr))
        } else {
            NopolRegion::All(class)
        }
    }
}

impl Gens {
    /// The no-policy stamp of a flow: the sum of the three counters a policy
    /// matching it could bump.
    #[inline]
    pub fn nopol_stamp(&self, key: &FlowKey) -> u64 {
        let c = dir_class(key.dir);
        self.nopol[c]
            .load(Ordering::Acquire)
            .wrapping_add(self.nopol_dst[c][region(key.family, key.dst)].load(Ordering::Acquire))
            .wrapping_add(self.nopol_src[c][region(key.family, key.src)].load(Ordering::Acquire))
    }

    /// Make the no-policy results `r` covers stale.
    pub fn bump_nopol(&self, r: NopolRegion) {
        let g = match r {
            NopolRegion::Dst(c, i) => &self.nopol_dst[c][i],
            NopolRegion::Src(c, i) => &self.nopol_src[c][i],
            NopolRegion::All(c) => &self.nopol[c],
        };
        g.fetch_add(1, Ordering::AcqRel);
    }
}

/// Something a worker noticed and reports to mgmt (rule 1: workers never kill).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerEvent {
    /// A flow needs an SA that does not exist.
    Acquire { key: FlowKey, template: Template },
    /// An SA reached a soft or hard byte/packet limit (or its sequence space ended).
    SaExpire { sa: Handle, hard: bool },
}

/// Engine sizing.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub max_policies: usize,
    pub max_sas: usize,
    pub strategy: Strategy,
    /// Bound of the worker -> mgmt event queue.
    pub event_queue: usize,
    pub qsbr: lcore::QsbrConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_policies: 1 << 18,
            max_sas: 1 << 18,
            strategy: Strategy::Selective,
            event_queue: 4096,
            qsbr: lcore::QsbrConfig::default(),
        }
    }
}

/// Counters the engine keeps for workers' reports.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Worker events dropped because the queue was full.
    pub events_dropped: CachePadded<AtomicU64>,
}

/// Shared state of the gateway's policy engine.
pub struct Engine {
    pub domain: Arc<Domain>,
    pub tables: LeftRight<Tables>,
    pub policies: Slots<Policy>,
    pub sas: Slots<Sa>,
    pub gens: CachePadded<Gens>,
    pub strategy: Strategy,
    pub counters: EngineCounters,
    /// Coarse clock in seconds since start, advanced by mgmt: workers read it
    /// instead of asking the OS.
    pub clock_secs: AtomicU64,
    events: Sender<WorkerEvent>,
}

/// Resolution raced with a table change; the caller retries.
#[derive(Debug)]
pub(crate) struct Raced;

impl Engine {
    /// A new engine and the receiving end of its worker events (for mgmt).
    pub fn new(cfg: &EngineConfig) -> (Arc<Engine>, Receiver<WorkerEvent>) {
        let domain = Domain::new(cfg.qsbr.clone());
        let (tx, rx) = crossbeam_channel::bounded(cfg.event_queue.max(1));
        let e = Engine {
            tables: LeftRight::new(Tables::default(), domain.clone()),
            policies: Slots::new(cfg.max_policies, domain.clone()),
            sas: Slots::new(cfg.max_sas, domain.clone()),
            domain,
            gens: CachePadded::new(Gens::default()),
            strategy: cfg.strategy,
            counters: EngineCounters::default(),
            clock_secs: AtomicU64::new(0),
            events: tx,
        };
        (Arc::new(e), rx)
    }

    /// Report an event to mgmt without blocking; a full queue drops it (counted).
    #[inline]
    pub fn report(&self, ev: WorkerEvent) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.events.try_send(ev)
        {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The generation counters now (before a lookup: see [`Engine::resolve_for_cache`]).
    #[inline]
    pub fn stamps(&self, key: &FlowKey) -> Stamps {
        Stamps {
            global: self.gens.global.load(Ordering::Acquire),
            nopol: self.gens.nopol_stamp(key),
            sad: self.gens.sad.load(Ordering::Acquire),
        }
    }

    /// Entry op `get`: is a cached bundle still what a fresh lookup would give?
    #[inline]
    pub fn validate(&self, b: &Bundle, key: &FlowKey) -> bool {
        let g = &self.gens;
        if b.stamps.global != g.global.load(Ordering::Acquire) {
            return false;
        }
        if b.uses_nopol && b.stamps.nopol != g.nopol_stamp(key) {
            return false;
        }
        if b.uses_sad && b.stamps.sad != g.sad.load(Ordering::Acquire) {
            return false;
        }
        for h in b.policies() {
            if !self.policies.is_current(*h) {
                return false;
            }
        }
        for h in b.sas() {
            if !self.sas.is_current(*h) {
                return false;
            }
        }
        true
    }

    /// Resolve `key` against the current tables, without any cache (the
    /// reference decision). May report an acquire for a larval result when
    /// `report_acquire` is set.
    pub fn resolve(&self, key: &FlowKey, reader: &Reader, report_acquire: bool) -> Bundle {
        self.resolve_for_cache(key, reader, report_acquire).0
    }

    /// Resolve `key` and say whether the result may be cached: it may not if a
    /// table change was published while resolving (seqlock-style version check),
    /// because the generation stamps read before the lookup may then be newer than
    /// the tables the lookup saw.
    ///
    /// Order matters (DESIGN rule 6): mgmt publishes a table change and only then
    /// bumps generations; here the stamps are read before the tables, and handles'
    /// stamps during the lookup, bracketed by two reads of the table version.
    pub fn resolve_for_cache(
        &self,
        key: &FlowKey,
        reader: &Reader,
        report_acquire: bool,
    ) -> (Bundle, bool) {
        loop {
            let v1 = self.tables.version();
            let stamps = self.stamps(key);
            let t = self.tables.read(reader);
            let r = match key.dir {
                Dir::Out => self.resolve_out(t, key, reader, stamps),
                Dir::In | Dir::Fwd => self.resolve_in(t, key, reader, stamps),
            };
            let v2 = self.tables.version();
            match r {
                Ok((b, acquire)) => {
                    if let (true, Some(template)) = (report_acquire, acquire) {
                        self.report(WorkerEvent::Acquire {
                            key: *key,
                            template,
                        });
                    }
                    return (b.canonical(), v1 == v2);
                }
                // An object vanished under us: a newer table copy has been published.
                Err(Raced) => continue,
            }
        }
    }

    fn policy<'r>(
        &'r self,
        idx: PolIdx,
        reader: &'r Reader,
    ) -> Result<(Handle, &'r Policy), Raced> {
        let h = self.policies.current(idx).ok_or(Raced)?;
        let p = self.policies.get(h, reader).ok_or(Raced)?;
        p.touch(self.clock_secs.load(Ordering::Relaxed));
        Ok((h, p))
    }

    fn sa_handle(&self, idx: SaIdx) -> Result<Handle, Raced> {
        self.sas.current(idx).ok_or(Raced)
    }

    /// The matching policies, sub before main (Linux `XFRM_POLICY_TYPE_SUB`).
    #[allow(clippy::type_complexity)]
    fn match_policies<'r>(
        &'r self,
        t: &Tables,
        key: &FlowKey,
        reader: &'r Reader,
    ) -> Result<([Option<(Handle, &'r Policy)>; MAX_POLICIES], usize), Raced> {
        let mut out = [None, None];
        let mut n = 0;
        if let Some(i) = t.lookup_policy(key, PolicyType::Sub) {
            let (h, p) = self.policy(i, reader)?;
            out[n] = Some((h, p));
            n += 1;
            if p.spec.action == Action::Block {
                return Ok((out, n));
            }
        }
        if let Some(i) = t.lookup_policy(key, PolicyType::Main) {
            out[n] = Some(self.policy(i, reader)?);
            n += 1;
        }
        Ok((out, n))
    }

    fn route_into(t: &Tables, b: &mut Bundle, family: Family, dst: Addr) {
        match t.route(family, dst) {
            Some(r) => {
                b.routed = true;
                b.port = r.port;
                b.dst_mac = t.neighbor(r.port, r.next_hop.unwrap_or(dst));
            }
            // Inbound NeedEsp keeps its verdict: the secpath check comes first.
            None if b.verdict == Verdict::NeedEsp => {}
            None => b.verdict = Verdict::NoRoute,
        }
    }

    fn default_action(t: &Tables, dir: Dir) -> Action {
        match dir {
            Dir::Out => t.default_action[Dir::Out.index()],
            // Inbound traffic is forwarded: it must pass both the in and fwd defaults.
            Dir::In | Dir::Fwd => {
                if t.default_action[Dir::In.index()] == Action::Allow
                    && t.default_action[Dir::Fwd.index()] == Action::Allow
                {
                    Action::Allow
                } else {
                    Action::Block
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn resolve_out(
        &self,
        t: &Tables,
        key: &FlowKey,
        reader: &Reader,
        stamps: Stamps,
    ) -> Result<(Bundle, Option<Template>), Raced> {
        let mut b = Bundle {
            stamps,
            ..Bundle::default()
        };
        let (pols, n) = self.match_policies(t, key, reader)?;
        if n == 0 {
            b.uses_nopol = true;
            if Self::default_action(t, Dir::Out) == Action::Block {
                b.verdict = Verdict::DefaultBlock;
            } else {
                b.verdict = Verdict::Bypass;
                Self::route_into(t, &mut b, key.family, key.dst);
            }
            return Ok((b, None));
        }
        for (h, _) in pols.iter().flatten() {
            b.policies[b.npol as usize] = *h;
            b.npol += 1;
        }
        if pols
            .iter()
            .flatten()
            .any(|(_, p)| p.spec.action == Action::Block)
        {
            b.verdict = Verdict::PolicyBlock;
            return Ok((b, None));
        }
        // Resolve templates in order (sub first) into the SA chain.
        let (mut rfam, mut rdst) = (key.family, key.dst);
        for (_, p) in pols.iter().flatten() {
            for tmpl in &p.spec.templates {
                match t.lookup_sa_out(tmpl, key.family, key.src, key.dst) {
                    Some(i) => {
                        if b.nsa as usize == MAX_SA_CHAIN {
                            // mgmt refuses longer chains; a sub+main pair can still exceed it.
                            b.verdict = Verdict::PolicyBlock;
                            return Ok((b, None));
                        }
                        let h = self.sa_handle(i)?;
                        let sa = self.sas.get(h, reader).ok_or(Raced)?;
                        if sa.spec.mode == Mode::Tunnel {
                            rfam = sa.spec.family;
                            rdst = sa.spec.dst;
                        }
                        b.sas[b.nsa as usize] = h;
                        b.nsa += 1;
                    }
                    // An optional template without an SA: the result changes when one is added.
                    None if tmpl.level == Level::Use => b.uses_sad = true,
                    None => {
                        b.verdict = Verdict::Larval;
                        b.uses_sad = true;
                        b.nsa = 0;
                        return Ok((b, Some(*tmpl)));
                    }
                }
            }
        }
        b.verdict = if b.nsa > 0 {
            Verdict::Protect
        } else {
            Verdict::Bypass
        };
        Self::route_into(t, &mut b, rfam, rdst);
        Ok((b, None))
    }

    #[allow(clippy::type_complexity)]
    fn resolve_in(
        &self,
        t: &Tables,
        key: &FlowKey,
        reader: &Reader,
        stamps: Stamps,
    ) -> Result<(Bundle, Option<Template>), Raced> {
        let mut b = Bundle {
            stamps,
            ..Bundle::default()
        };
        let (pols, n) = self.match_policies(t, key, reader)?;
        if n == 0 {
            b.uses_nopol = true;
            if Self::default_action(t, key.dir) == Action::Block {
                b.verdict = Verdict::DefaultBlock;
                return Ok((b, None));
            }
            b.verdict = Verdict::Bypass;
        } else {
            for (h, _) in pols.iter().flatten() {
                b.policies[b.npol as usize] = *h;
                b.npol += 1;
            }
            let pols = pols.iter().flatten();
            b.verdict = if pols.clone().any(|(_, p)| p.spec.action == Action::Block) {
                Verdict::PolicyBlock
            } else if pols.clone().any(|(_, p)| p.requires_esp()) {
                // Plain packets are dropped; decapsulated ones pass the secpath check.
                Verdict::NeedEsp
            } else {
                Verdict::Bypass
            };
            if b.verdict == Verdict::PolicyBlock {
                return Ok((b, None));
            }
        }
        Self::route_into(t, &mut b, key.family, key.dst);
        Ok((b, None))
    }

    /// Linux's secpath check for a decapsulated packet: every `required` template of
    /// the inbound bundle's policies must be satisfied by one of the SAs that
    /// decapsulated it. `key` is the inner packet's key.
    pub fn secpath_ok(
        &self,
        b: &Bundle,
        key: &FlowKey,
        secpath: &[Handle],
        reader: &Reader,
    ) -> bool {
        for h in b.policies() {
            let Some(p) = self.policies.get(*h, reader) else {
                return false;
            };
            for tmpl in p.templates().iter().filter(|t| t.level == Level::Required) {
                let ok = secpath.iter().any(|sh| {
                    self.sas
                        .get(*sh, reader)
                        .is_some_and(|sa| sa.matches_template(tmpl, key.family, key.src, key.dst))
                });
                if !ok {
                    return false;
                }
            }
        }
        true
    }

    /// Inbound SA lookup by (spi, dst).
    #[inline]
    pub fn sa_in<'r>(
        &'r self,
        spi: u32,
        dst: Addr,
        family: Family,
        reader: &'r Reader,
    ) -> Option<(Handle, &'r Sa)> {
        let idx = self.tables.read(reader).sad.lookup_in(spi, dst, family)?;
        let h = self.sas.current(idx)?;
        Some((h, self.sas.get(h, reader)?))
    }
}
