//! The management core: the single writer of policies, SAs, routes and
//! neighbors (DESIGN.md rules 1, 2, 5, 6).
//!
//! Every change goes through [`Mgmt::apply`] (directly, or from the
//! [`MgmtHandle`] channel when [`Mgmt::run`] owns a thread). A change is
//! applied in three steps: prepare (validate, create the new objects),
//! publish (one [`lcore::LeftRight::write`] for the whole batch: both table
//! copies, around a grace period), then settle (kill what was unlinked, bump
//! the generations of what the change can affect). The reply is sent after
//! settling, so a packet a worker starts afterwards sees the change.
//!
//! Owns: object bookkeeping (indexes, selectors, lifetimes), kill counting,
//! lifetime timers, worker events. May not touch: packet bytes, ports.

pub mod engine;
pub mod tables;

pub use engine::{Engine, EngineConfig, Strategy, WorkerEvent};
pub use tables::{TableOp, Tables};

use crate::flow::bundle::MAX_SA_CHAIN;
use crate::flow::FlowKey;
use crate::ip::{Addr, Dir, Family, Prefix};
use crate::route::{NeighSpec, RouteSpec};
use crate::sad::{Sa, SaSpec};
use crate::spd::{Action, Policy, PolicyId, PolicySpec, PolicyType, Selector, Template};
use crossbeam_channel::{Receiver, Sender};
use hashbrown::HashMap;
use lcore::Handle;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Above this many policy adds in one publication, invalidate globally.
const BULK_ADDS: usize = 4096;
/// From this many table ops in one publication (and at least a quarter of the
/// live objects), build one table copy and clone it instead of applying twice.
const CLONE_OPS: usize = 1024;

/// One change or query for the management core.
#[derive(Clone, Debug)]
pub enum Op {
    PolicyAdd(PolicySpec),
    /// Add or replace (matched by index if given, else by selector+dir+type).
    PolicyUpdate(PolicySpec),
    PolicyDelete(PolicyId),
    PolicyFlush {
        dir: Option<Dir>,
        ptype: Option<PolicyType>,
    },
    SetDefault(Dir, Action),
    SaAdd(SaSpec),
    /// Replace an SA's parameters, keeping its sequence counter.
    SaUpdate(SaSpec),
    SaDelete {
        spi: u32,
        dst: Addr,
        family: Family,
    },
    SaFlush,
    RouteAdd(RouteSpec),
    RouteDel(Prefix),
    NeighAdd(NeighSpec),
    NeighDel {
        port: u16,
        addr: Option<Addr>,
    },
    /// Several changes published at once (one grace period).
    Batch(Vec<Op>),
    /// Lifetime expiry, as a timer would raise it (also used by tests to race timers).
    ExpirePolicy {
        index: u32,
        hard: bool,
    },
    ExpireSa {
        spi: u32,
        dst: Addr,
        family: Family,
        hard: bool,
    },
    // Queries.
    PolicyGet(PolicyId),
    PolicyList,
    PolicyCount,
    SaGet {
        spi: u32,
        dst: Addr,
        family: Family,
    },
    SaList,
    SaCount,
    RouteList,
    NeighList,
    Counters,
}

/// What a policy looks like to a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    pub index: u32,
    pub spec: PolicySpec,
}

/// What an SA looks like to a query (no key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaInfo {
    pub spi: u32,
    pub family: Family,
    pub src: Addr,
    pub dst: Addr,
    pub mode: crate::spd::Mode,
    pub reqid: u32,
    pub packets: u64,
    pub bytes: u64,
    pub errors: u64,
    pub seq: u64,
}

/// The answer to an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Done,
    /// Objects affected (deleted by a flush, applied by a batch).
    Count(usize),
    Policies(Vec<PolicyInfo>),
    Sas(Vec<SaInfo>),
    Routes(Vec<RouteSpec>),
    Neighbors(Vec<NeighSpec>),
    Counters(MgmtCounters),
}

/// Why a change was refused. Nothing of a refused batch is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MgmtError {
    #[error("policy already exists (index {0})")]
    PolicyExists(u32),
    #[error("no such policy")]
    NoSuchPolicy,
    #[error("policy index {0} is in use")]
    IndexInUse(u32),
    #[error("policy has {0} templates; at most {MAX_SA_CHAIN} are supported")]
    TooManyTemplates(usize),
    #[error("selector mixes address families")]
    FamilyMismatch,
    #[error("SA spi 0x{spi:x} dst {dst} already exists")]
    SaExists { spi: u32, dst: String },
    #[error("no such SA")]
    NoSuchSa,
    #[error("invalid SA: {0}")]
    BadSa(&'static str),
    #[error("invalid SA: {0}")]
    BadSaSpec(String),
    #[error("table full: {0}")]
    Full(&'static str),
    #[error("no such route")]
    NoSuchRoute,
    #[error("no such neighbor")]
    NoSuchNeighbor,
    #[error("the management core has stopped")]
    Stopped,
}

/// Event stream for `monitor`, and what workers reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Acquire {
        key: FlowKey,
        template: Template,
    },
    PolicyExpired {
        index: u32,
        hard: bool,
    },
    SaExpired {
        spi: u32,
        dst: Addr,
        family: Family,
        hard: bool,
    },
    PolicyKilled {
        index: u32,
    },
    SaKilled {
        spi: u32,
        dst: Addr,
        family: Family,
    },
}

/// Management counters (cumulative unless said otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MgmtCounters {
    pub policies_added: u64,
    pub policies_killed: u64,
    pub sas_added: u64,
    pub sas_killed: u64,
    pub acquires: u64,
    pub soft_expires: u64,
    pub hard_expires: u64,
    /// Generation bumps of individual policies by selective invalidation.
    pub policy_bumps: u64,
    /// Whole-cache invalidations (global generation bumps).
    pub global_bumps: u64,
    /// No-policy region counter bumps (one per region an add concerned).
    pub nopol_bumps: u64,
    pub batches: u64,
    /// Live now.
    pub policies_live: u64,
    pub sas_live: u64,
    /// From the QSBR domain.
    pub retired: u64,
    pub freed: u64,
    pub pending: u64,
    /// Worker events dropped because the queue was full.
    pub events_dropped: u64,
    /// Passes of the lifetime timers over every policy and SA.
    pub lifetime_passes: u64,
}

struct PolRec {
    handle: Handle,
    spec: PolicySpec,
    seq: u64,
    added: Instant,
    soft_fired: bool,
}

struct SaRec {
    handle: Handle,
    spec: SaSpec,
    added: Instant,
    soft_fired: bool,
    serial: u64,
}

type SaKey = (u32, Addr, Family);
type SelKey = (Selector, Dir, PolicyType);

/// What one object was killed for, for the kill-once accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KillKey {
    Policy(u64),
    Sa(u64),
}

/// The management core's state.
pub struct Mgmt {
    engine: Arc<Engine>,
    events: Receiver<WorkerEvent>,
    policies: HashMap<u32, PolRec>,
    by_sel: HashMap<SelKey, u32>,
    sas: HashMap<SaKey, SaRec>,
    sa_by_slot: HashMap<u32, SaKey>,
    next_index: u32,
    next_seq: u64,
    next_sa_serial: u64,
    counters: MgmtCounters,
    kills: Option<HashMap<KillKey, u32>>,
    monitors: Vec<Sender<Event>>,
    started: Instant,
}

/// Work prepared for one publication.
#[derive(Default)]
struct Plan {
    table: Vec<TableOp>,
    kill_policies: Vec<(u32, Handle, u64)>,
    kill_sas: Vec<(SaKey, Handle, u64)>,
    /// Added policies: (selector, dir, ptype, priority, seq).
    added: Vec<(Selector, Dir, PolicyType, u32, u64)>,
    sad_changed: bool,
    global: bool,
    spd_changed: bool,
    applied: usize,
}

impl Mgmt {
    /// A management core over a new engine.
    pub fn new(cfg: &EngineConfig) -> Mgmt {
        let (engine, events) = Engine::new(cfg);
        Mgmt {
            engine,
            events,
            policies: HashMap::new(),
            by_sel: HashMap::new(),
            sas: HashMap::new(),
            sa_by_slot: HashMap::new(),
            next_index: 1,
            next_seq: 1,
            next_sa_serial: 1,
            counters: MgmtCounters::default(),
            kills: None,
            monitors: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Record kills per object (tests prove each is killed exactly once).
    pub fn track_kills(&mut self) {
        self.kills = Some(HashMap::new());
    }

    /// Kill counts per object, if tracking.
    pub fn kill_counts(&self) -> Option<&HashMap<KillKey, u32>> {
        self.kills.as_ref()
    }

    /// Subscribe to the event stream.
    pub fn monitor(&mut self) -> Receiver<Event> {
        let (tx, rx) = crossbeam_channel::bounded(1024);
        self.monitors.push(tx);
        rx
    }

    fn emit(&mut self, ev: Event) {
        // A slow monitor loses events rather than stalling the management core.
        self.monitors.retain(|m| {
            !matches!(
                m.try_send(ev.clone()),
                Err(crossbeam_channel::TrySendError::Disconnected(_))
            )
        });
    }

    pub fn counters(&self) -> MgmtCounters {
        let q = self.engine.domain.stats();
        MgmtCounters {
            policies_live: self.engine.policies.len() as u64,
            sas_live: self.engine.sas.len() as u64,
            retired: q.retired,
            freed: q.freed,
            pending: q.pending as u64,
            events_dropped: self.engine.counters.events_dropped.load(Ordering::Relaxed),
            ..self.counters
        }
    }

    /// Apply one operation (a change is visible to workers when this returns).
    pub fn apply(&mut self, op: Op) -> Result<Reply, MgmtError> {
        match op {
            Op::PolicyGet(id) => {
                let idx = self.find_policy(&id).ok_or(MgmtError::NoSuchPolicy)?;
                let r = &self.policies[&idx];
                Ok(Reply::Policies(vec![PolicyInfo {
                    index: idx,
                    spec: r.spec.clone(),
                }]))
            }
            Op::PolicyList => {
                let mut v: Vec<_> = self
                    .policies
                    .iter()
                    .map(|(i, r)| {
                        (
                            r.seq,
                            PolicyInfo {
                                index: *i,
                                spec: r.spec.clone(),
                            },
                        )
                    })
                    .collect();
                v.sort_by_key(|(s, _)| *s);
                Ok(Reply::Policies(v.into_iter().map(|(_, p)| p).collect()))
            }
            Op::PolicyCount => Ok(Reply::Count(self.policies.len())),
            Op::SaGet { spi, dst, family } => {
                let r = self
                    .sas
                    .get(&(spi, dst, family))
                    .ok_or(MgmtError::NoSuchSa)?;
                Ok(Reply::Sas(vec![self.sa_info(r)]))
            }
            Op::SaList => {
                let mut v: Vec<_> = self
                    .sas
                    .values()
                    .map(|r| (r.serial, self.sa_info(r)))
                    .collect();
                v.sort_by_key(|(s, _)| *s);
                Ok(Reply::Sas(v.into_iter().map(|(_, s)| s).collect()))
            }
            Op::SaCount => Ok(Reply::Count(self.sas.len())),
            Op::RouteList => Ok(Reply::Routes(
                self.engine
                    .tables
                    .read_writer()
                    .routes
                    .iter()
                    .copied()
                    .collect(),
            )),
            Op::NeighList => Ok(Reply::Neighbors(
                self.engine.tables.read_writer().neigh.iter().collect(),
            )),
            Op::Counters => Ok(Reply::Counters(self.counters())),
            change => {
                let mut plan = Plan::default();
                let undo = self.snapshot_ids();
                let counters = self.counters;
                if let Err(e) = self.prepare(change, &mut plan) {
                    self.rollback(plan, undo);
                    self.counters = counters;
                    return Err(e);
                }
                let n = plan.applied;
                self.publish(plan);
                Ok(Reply::Count(n))
            }
        }
    }

    fn sa_info(&self, r: &SaRec) -> SaInfo {
        let (packets, bytes, errors, seq) = match live(&self.engine.sas, r.handle) {
            Some(sa) => (
                sa.counters.packets.load(Ordering::Relaxed),
                sa.counters.bytes.load(Ordering::Relaxed),
                sa.counters.errors.load(Ordering::Relaxed),
                sa.seq.peek().saturating_sub(1),
            ),
            None => (0, 0, 0, 0),
        };
        SaInfo {
            spi: r.spec.spi,
            family: r.spec.family,
            src: r.spec.src,
            dst: r.spec.dst,
            mode: r.spec.mode,
            reqid: r.spec.reqid,
            packets,
            bytes,
            errors,
            seq,
        }
    }

    fn find_policy(&self, id: &PolicyId) -> Option<u32> {
        match id {
            PolicyId::Index(i) => self.policies.contains_key(i).then_some(*i),
            PolicyId::Selector {
                selector,
                dir,
                ptype,
            } => self.by_sel.get(&(*selector, *dir, *ptype)).copied(),
        }
    }

    fn snapshot_ids(&self) -> (u32, u64, u64) {
        (self.next_index, self.next_seq, self.next_sa_serial)
    }

    /// Undo a failed prepare: nothing was published yet, so objects created for
    /// the plan are removed from the slots and bookkeeping restored.
    fn rollback(&mut self, plan: Plan, ids: (u32, u64, u64)) {
        // Rebuild bookkeeping from the tables as published: simplest correct undo
        // is to reverse each prepared op.
        for op in plan.table.iter().rev() {
            match op {
                TableOp::PolicyInsert { seq, .. } => {
                    if let Some(idx) = self
                        .policies
                        .iter()
                        .find(|(_, r)| r.seq == *seq)
                        .map(|(i, _)| *i)
                    {
                        let r = self.policies.remove(&idx).expect("present");
                        self.by_sel
                            .remove(&(r.spec.selector, r.spec.dir, r.spec.ptype));
                        self.engine.policies.remove(r.handle);
                    }
                }
                TableOp::SaInsert { fields, .. } => {
                    if let Some(r) = self.sas.remove(&(fields.spi, fields.dst, fields.family)) {
                        self.sa_by_slot.remove(&r.handle.index);
                        self.engine.sas.remove(r.handle);
                    }
                }
                _ => {}
            }
        }
        // Objects the plan meant to kill stay alive: put their records back.
        for (idx, h, seq) in plan.kill_policies {
            if let Some(p) = live(&self.engine.policies, h) {
                let spec = p.spec.clone();
                self.by_sel
                    .insert((spec.selector, spec.dir, spec.ptype), idx);
                self.policies.insert(
                    idx,
                    PolRec {
                        handle: h,
                        spec,
                        seq,
                        added: p.added,
                        soft_fired: false,
                    },
                );
            }
        }
        for (key, h, serial) in plan.kill_sas {
            if let Some(sa) = live(&self.engine.sas, h) {
                self.sa_by_slot.insert(h.index, key);
                self.sas.insert(
                    key,
                    SaRec {
                        handle: h,
                        spec: sa.spec.clone(),
                        added: sa.added,
                        soft_fired: false,
                        serial,
                    },
                );
            }
        }
        (self.next_index, self.next_seq, self.next_sa_serial) = ids;
    }

    fn prepare(&mut self, op: Op, plan: &mut Plan) -> Result<(), MgmtError> {
        match op {
            Op::Batch(ops) => {
                // Bulk loads: size the bookkeeping and the SAD once, not by doubling.
                let pols = ops.iter().filter(|o| matches!(o, Op::PolicyAdd(_))).count();
                let sas = ops.iter().filter(|o| matches!(o, Op::SaAdd(_))).count();
                if pols + sas > 1024 {
                    self.policies.reserve(pols);
                    self.by_sel.reserve(pols);
                    self.sas.reserve(sas);
                    self.sa_by_slot.reserve(sas);
                    plan.table.reserve(pols + sas + 1);
                    plan.added.reserve(pols);
                    plan.table.push(TableOp::ReserveSas(sas));
                }
                for o in ops {
                    self.prepare(o, plan)?;
                }
                self.counters.batches += 1;
                return Ok(());
            }
            Op::PolicyAdd(spec) => self.prep_policy_add(spec, plan, false)?,
            Op::PolicyUpdate(spec) => self.prep_policy_add(spec, plan, true)?,
            Op::PolicyDelete(id) => {
                let idx = self.find_policy(&id).ok_or(MgmtError::NoSuchPolicy)?;
                self.prep_policy_unlink(idx, plan);
            }
            Op::PolicyFlush { dir, ptype } => {
                let mut v: Vec<u32> = self
                    .policies
                    .iter()
                    .filter(|(_, r)| {
                        dir.is_none_or(|d| d == r.spec.dir)
                            && ptype.is_none_or(|t| t == r.spec.ptype)
                    })
                    .map(|(i, _)| *i)
                    .collect();
                v.sort_unstable();
                for idx in v {
                    self.prep_policy_unlink(idx, plan);
                }
                plan.global = true;
                return Ok(());
            }
            Op::ExpirePolicy { index, hard } => {
                if !self.policies.contains_key(&index) {
                    // Already gone (a delete or flush won the race): nothing to kill.
                    return Ok(());
                }
                if hard {
                    self.counters.hard_expires += 1;
                    self.prep_policy_unlink(index, plan);
                } else {
                    self.counters.soft_expires += 1;
                }
                self.emit(Event::PolicyExpired { index, hard });
            }
            Op::SetDefault(dir, a) => {
                plan.table.push(TableOp::SetDefault(dir, a));
                plan.global = true;
            }
            Op::SaAdd(spec) => self.prep_sa_add(spec, plan, false)?,
            Op::SaUpdate(spec) => self.prep_sa_add(spec, plan, true)?,
            Op::SaDelete { spi, dst, family } => {
                if !self.sas.contains_key(&(spi, dst, family)) {
                    return Err(MgmtError::NoSuchSa);
                }
                self.prep_sa_unlink((spi, dst, family), plan);
            }
            Op::SaFlush => {
                let mut v: Vec<(u64, SaKey)> =
                    self.sas.iter().map(|(k, r)| (r.serial, *k)).collect();
                v.sort_unstable();
                for (_, k) in v {
                    self.prep_sa_unlink(k, plan);
                }
                plan.global = true;
                return Ok(());
            }
            Op::ExpireSa {
                spi,
                dst,
                family,
                hard,
            } => {
                if !self.sas.contains_key(&(spi, dst, family)) {
                    return Ok(());
                }
                if hard {
                    self.counters.hard_expires += 1;
                    self.prep_sa_unlink((spi, dst, family), plan);
                } else {
                    self.counters.soft_expires += 1;
                }
                self.emit(Event::SaExpired {
                    spi,
                    dst,
                    family,
                    hard,
                });
            }
            Op::RouteAdd(r) => {
                plan.table.push(TableOp::RouteAdd(r));
                plan.global = true;
            }
            Op::RouteDel(p) => {
                let t = self.engine.tables.read_writer();
                let pending_add = plan
                    .table
                    .iter()
                    .any(|o| matches!(o, TableOp::RouteAdd(r) if r.prefix == p));
                if !pending_add && !t.routes.iter().any(|r| r.prefix == p) {
                    return Err(MgmtError::NoSuchRoute);
                }
                plan.table.push(TableOp::RouteDel(p));
                plan.global = true;
            }
            Op::NeighAdd(n) => {
                plan.table.push(TableOp::NeighAdd(n));
                plan.global = true;
            }
            Op::NeighDel { port, addr } => {
                plan.table.push(TableOp::NeighDel { port, addr });
                plan.global = true;
            }
            q => unreachable!("query {q:?} reached prepare"),
        }
        plan.applied += 1;
        Ok(())
    }

    fn prep_policy_add(
        &mut self,
        mut spec: PolicySpec,
        plan: &mut Plan,
        update: bool,
    ) -> Result<(), MgmtError> {
        if spec.templates.len() > MAX_SA_CHAIN {
            return Err(MgmtError::TooManyTemplates(spec.templates.len()));
        }
        let sel = &spec.selector;
        if sel.src.family != sel.family || sel.dst.family != sel.family {
            return Err(MgmtError::FamilyMismatch);
        }
        let skey = (spec.selector, spec.dir, spec.ptype);
        let existing = match spec.index {
            Some(i) if self.policies.contains_key(&i) => Some(i),
            _ => self.by_sel.get(&skey).copied(),
        };
        if let Some(old) = existing {
            if !update {
                return Err(MgmtError::PolicyExists(old));
            }
            // An update under a different selector that collides with a third policy.
            if let Some(&other) = self.by_sel.get(&skey) {
                if other != old {
                    return Err(MgmtError::PolicyExists(other));
                }
            }
            spec.index = Some(old);
            self.prep_policy_unlink(old, plan);
        } else if let Some(i) = spec.index {
            if self.policies.contains_key(&i) {
                return Err(MgmtError::IndexInUse(i));
            }
        }
        let index = match spec.index {
            Some(i) => i,
            None => loop {
                // Linux-style: the low 3 bits carry the direction.
                let i = (self.next_index << 3) | spec.dir as u32;
                self.next_index = self.next_index.wrapping_add(1).max(1);
                if !self.policies.contains_key(&i) {
                    break i;
                }
            },
        };
        spec.index = Some(index);
        let seq = self.next_seq;
        self.next_seq += 1;
        let pol = Policy::new(spec.clone(), index, seq);
        let handle = self
            .engine
            .policies
            .insert(pol)
            .map_err(|_| MgmtError::Full("policies"))?;
        plan.table.push(TableOp::PolicyInsert {
            seq,
            selector: spec.selector,
            dir: spec.dir,
            ptype: spec.ptype,
            priority: spec.priority,
            idx: handle.index,
        });
        plan.added
            .push((spec.selector, spec.dir, spec.ptype, spec.priority, seq));
        plan.spd_changed = true;
        self.by_sel.insert(skey, index);
        self.policies.insert(
            index,
            PolRec {
                handle,
                spec,
                seq,
                added: Instant::now(),
                soft_fired: false,
            },
        );
        self.counters.policies_added += 1;
        Ok(())
    }

    /// Unlink decides kill: only a policy still in the bookkeeping is unlinked,
    /// and only the unlink that removed it schedules its kill.
    fn prep_policy_unlink(&mut self, idx: u32, plan: &mut Plan) -> bool {
        let Some(r) = self.policies.remove(&idx) else {
            return false;
        };
        self.by_sel
            .remove(&(r.spec.selector, r.spec.dir, r.spec.ptype));
        plan.table.push(TableOp::PolicyRemove {
            seq: r.seq,
            dir: r.spec.dir,
            ptype: r.spec.ptype,
        });
        plan.kill_policies.push((idx, r.handle, r.seq));
        plan.spd_changed = true;
        true
    }

    fn prep_sa_add(
        &mut self,
        spec: SaSpec,
        plan: &mut Plan,
        update: bool,
    ) -> Result<(), MgmtError> {
        if spec.key.len() != spec.alg.key_len() {
            return Err(MgmtError::BadSa("key length does not match the algorithm"));
        }
        if spec.replay_window > 4096 {
            return Err(MgmtError::BadSa("replay window larger than 4096"));
        }
        if spec.family == Family::V4 && (spec.src > u32::MAX as u128 || spec.dst > u32::MAX as u128)
        {
            return Err(MgmtError::BadSa("IPv4 SA with an IPv6 address"));
        }
        let key = (spec.spi, spec.dst, spec.family);
        let mut seq = None;
        if self.sas.contains_key(&key) {
            if !update {
                return Err(MgmtError::SaExists {
                    spi: spec.spi,
                    dst: crate::ip::addr_to_ip(spec.family, spec.dst).to_string(),
                });
            }
            // Keep the sequence counter itself: workers may still reserve from the
            // old object until it is killed, and an IV must never repeat.
            let old = &self.sas[&key];
            if let Some(o) = live(&self.engine.sas, old.handle) {
                seq = Some(if o.spec.esn == spec.esn {
                    o.seq.clone()
                } else {
                    // Same key, new counter width: continue past every number used.
                    Arc::new(crate::esp::SeqCounter::starting_at(
                        spec.esn,
                        o.seq.peek().max(1),
                    ))
                });
            }
        }
        let sa = match seq {
            Some(seq) => Sa::with_seq(spec.clone(), seq),
            None => Sa::new(spec.clone()),
        }
        .map_err(|e| MgmtError::BadSaSpec(e.to_string()))?;
        if self.sas.contains_key(&key) {
            self.prep_sa_unlink(key, plan);
        }
        let handle = self
            .engine
            .sas
            .insert(sa)
            .map_err(|_| MgmtError::Full("SAs"))?;
        plan.table.push(TableOp::SaInsert {
            fields: (&spec).into(),
            idx: handle.index,
        });
        plan.sad_changed = true;
        let serial = self.next_sa_serial;
        self.next_sa_serial += 1;
        self.sa_by_slot.insert(handle.index, key);
        self.sas.insert(
            key,
            SaRec {
                handle,
                spec,
                added: Instant::now(),
                soft_fired: false,
                serial,
            },
        );
        self.counters.sas_added += 1;
        Ok(())
    }

    fn prep_sa_unlink(&mut self, key: SaKey, plan: &mut Plan) -> bool {
        let Some(r) = self.sas.remove(&key) else {
            return false;
        };
        self.sa_by_slot.remove(&r.handle.index);
        plan.table.push(TableOp::SaRemove {
            spi: key.0,
            dst: key.1,
            family: key.2,
        });
        plan.kill_sas.push((key, r.handle, r.serial));
        plan.sad_changed = true;
        true
    }

    /// Publish a prepared plan, then settle: kill the unlinked, bump what the
    /// change can affect.
    fn publish(&mut self, mut plan: Plan) {
        let e = self.engine.clone();
        if !plan.table.is_empty() {
            // A large change (a bulk load) is applied once and the other copy
            // cloned from it; a small one is applied to both copies (cloning
            // large tables would cost more).
            // A small one is published after one application, without waiting
            // for a grace period: the other copy catches up at the next change
            // (or the next tick), by when workers have long moved on.
            let live = self.policies.len() + self.sas.len();
            if plan.table.len() >= CLONE_OPS && plan.table.len() * 4 >= live {
                e.tables.write_cloned(|t| t.apply_all(&plan.table));
            } else {
                let ops = std::mem::take(&mut plan.table);
                e.tables.write_deferred(move |t| t.apply_all(&ops));
            }
        }
        // Kill: the slot removal makes every cached handle stale and retires the object.
        for (index, h, seq) in plan.kill_policies {
            if e.policies.remove(h) {
                self.counters.policies_killed += 1;
                if let Some(k) = &mut self.kills {
                    *k.entry(KillKey::Policy(seq)).or_insert(0) += 1;
                }
                self.emit(Event::PolicyKilled { index });
            }
        }
        for (key, h, serial) in plan.kill_sas {
            if e.sas.remove(h) {
                self.counters.sas_killed += 1;
                if let Some(k) = &mut self.kills {
                    *k.entry(KillKey::Sa(serial)).or_insert(0) += 1;
                }
                self.emit(Event::SaKilled {
                    spi: key.0,
                    dst: key.1,
                    family: key.2,
                });
            }
        }
        let flush_all = e.strategy != Strategy::Selective && (plan.spd_changed || plan.sad_changed);
        // A bulk load (thousands of adds at once) invalidates everything once:
        // cheaper than thousands of overlap queries, and nearly every cached
        // flow is affected anyway.
        let bulk = plan.added.len() > BULK_ADDS;
        if plan.global || flush_all || bulk {
            e.gens.global.fetch_add(1, Ordering::AcqRel);
            self.counters.global_bumps += 1;
        } else {
            if plan.sad_changed {
                e.gens.sad.fetch_add(1, Ordering::AcqRel);
            }
            self.bump_beaten(&plan.added);
        }
    }

    /// Rule 5: a new policy can only change the decision of flows its selector
    /// matches. Bump the policies it overlaps and can beat (and, across types,
    /// those whose bundles it joins), plus the no-policy counter of its
    /// direction and region ([`engine::Gens`]).
    fn bump_beaten(&mut self, added: &[(Selector, Dir, PolicyType, u32, u64)]) {
        let e = self.engine.clone();
        let t = e.tables.read_writer();
        let mut hits = Vec::new();
        let mut regions = Vec::with_capacity(added.len());
        for (sel, dir, ptype, prio, seq) in added {
            regions.push(engine::NopolRegion::of(tables::dir_class(*dir), sel));
            for ty in [PolicyType::Main, PolicyType::Sub] {
                hits.clear();
                t.classifier(*dir, ty).overlapping(sel, &mut hits);
                for (oseq, idx, oprio) in hits.iter().copied() {
                    if oseq == *seq {
                        continue;
                    }
                    // Same type: only a policy we beat changes its flows' decision.
                    // Other type: sub and main combine in one bundle, so any overlap counts.
                    let beaten = ty != *ptype || (*prio, *seq) < (oprio, oseq);
                    if beaten {
                        if let Some(h) = e.policies.current(idx) {
                            e.policies.bump(h);
                            self.counters.policy_bumps += 1;
                        }
                    }
                }
            }
        }
        regions.sort_unstable();
        regions.dedup();
        for r in regions {
            e.gens.bump_nopol(r);
            self.counters.nopol_bumps += 1;
        }
    }

    /// Timers and worker events; call often (the run loop does, every tick).
    pub fn tick(&mut self, now: Instant) {
        self.drain_worker_events();
        self.expire_lifetimes(now);
        self.settle();
    }

    /// What a request leaves to do soon: the deferred copy of the tables,
    /// and reclamation. Costs nothing when nothing waits.
    fn settle(&mut self) {
        self.engine.tables.try_catch_up();
        self.engine.domain.reclaim();
    }

    /// Acquires and SA expiries the workers reported (the latter may kill).
    fn drain_worker_events(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                WorkerEvent::Acquire { key, template } => {
                    self.counters.acquires += 1;
                    self.emit(Event::Acquire { key, template });
                }
                WorkerEvent::SaExpire { sa, hard } => {
                    if let Some(&(spi, dst, family)) = self.sa_by_slot.get(&sa.index) {
                        if self
                            .sas
                            .get(&(spi, dst, family))
                            .is_some_and(|r| r.handle == sa)
                        {
                            let _ = self.apply(Op::ExpireSa {
                                spi,
                                dst,
                                family,
                                hard,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Lifetimes (seconds since add or first use) of every policy and SA: a
    /// pass over all of them, so it runs once a tick, not once a request.
    fn expire_lifetimes(&mut self, now: Instant) {
        self.counters.lifetime_passes += 1;
        let clock = now.saturating_duration_since(self.started).as_secs();
        self.engine.clock_secs.store(clock, Ordering::Relaxed);
        // Seconds since first use, if used (`use` lifetimes count from it, as Linux's do).
        let used = |first: u64| (first != 0).then(|| clock.saturating_sub(first - 1));
        let over = |limit: u64, v: Option<u64>| limit > 0 && v.is_some_and(|v| v >= limit);
        let mut ops = Vec::new();
        for (idx, r) in self.policies.iter_mut() {
            let lt = r.spec.lifetime;
            let age = Some(now.saturating_duration_since(r.added).as_secs());
            let first = live(&self.engine.policies, r.handle)
                .map_or(0, |p| p.first_use.load(Ordering::Relaxed));
            let use_age = used(first);
            if over(lt.hard_add_secs, age) || over(lt.hard_use_secs, use_age) {
                ops.push(Op::ExpirePolicy {
                    index: *idx,
                    hard: true,
                });
            } else if (over(lt.soft_add_secs, age) || over(lt.soft_use_secs, use_age))
                && !r.soft_fired
            {
                r.soft_fired = true;
                ops.push(Op::ExpirePolicy {
                    index: *idx,
                    hard: false,
                });
            }
        }
        for (k, r) in self.sas.iter_mut() {
            let lt = r.spec.lifetime;
            let age = Some(now.saturating_duration_since(r.added).as_secs());
            let first =
                live(&self.engine.sas, r.handle).map_or(0, |s| s.first_use.load(Ordering::Relaxed));
            let use_age = used(first);
            let (spi, dst, family) = *k;
            if over(lt.hard_add_secs, age) || over(lt.hard_use_secs, use_age) {
                ops.push(Op::ExpireSa {
                    spi,
                    dst,
                    family,
                    hard: true,
                });
            } else if (over(lt.soft_add_secs, age) || over(lt.soft_use_secs, use_age))
                && !r.soft_fired
            {
                r.soft_fired = true;
                ops.push(Op::ExpireSa {
                    spi,
                    dst,
                    family,
                    hard: false,
                });
            }
        }
        for op in ops {
            let _ = self.apply(op);
        }
    }

    /// Serve requests until the channel closes: the management core's thread.
    ///
    /// After each request the worker events are read and the tables settle;
    /// the lifetime pass (over every policy and SA) runs once per `tick`,
    /// however many requests come: at 10,000 changes a second over 100,000
    /// policies it would otherwise be a billion checks a second.
    pub fn run(mut self, requests: Receiver<Request>, tick: Duration) -> Mgmt {
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match requests.recv_timeout(wait) {
                Ok(Request::Op(op, reply)) => {
                    let r = self.apply(op);
                    let _ = reply.send(r);
                }
                Ok(Request::Monitor(reply)) => {
                    let _ = reply.send(self.monitor());
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_tick {
                self.tick(now);
                next_tick = now + tick;
            } else {
                self.drain_worker_events();
                self.settle();
            }
        }
        self
    }

    /// Remove everything and wait until it is freed (shutdown; tests' leak check).
    pub fn shutdown(&mut self) {
        let _ = self.apply(Op::Batch(vec![
            Op::PolicyFlush {
                dir: None,
                ptype: None,
            },
            Op::SaFlush,
        ]));
        self.engine.domain.synchronize();
        self.engine.domain.reclaim();
    }
}

/// The live object of a record's handle, whatever version bumps happened since
/// the record was made (selective invalidation bumps versions, not generations).
fn live<T: Send + Sync + 'static>(slots: &lcore::Slots<T>, h: Handle) -> Option<&T> {
    let cur = slots.current(h.index)?;
    (cur.generation() == h.generation()).then_some(())?;
    slots.get_writer(cur)
}

/// A request to the management core's thread.
pub enum Request {
    Op(Op, Sender<Result<Reply, MgmtError>>),
    Monitor(Sender<Receiver<Event>>),
}

/// The client side of a management core running in its own thread.
#[derive(Clone)]
pub struct MgmtHandle {
    tx: Sender<Request>,
}

impl MgmtHandle {
    /// Start `mgmt` on a thread; returns the handle and the join handle (which
    /// gives the `Mgmt` back when every handle is dropped).
    pub fn spawn(mgmt: Mgmt, queue: usize) -> (MgmtHandle, std::thread::JoinHandle<Mgmt>) {
        Self::spawn_on(mgmt, queue, None)
    }

    /// [`spawn`](Self::spawn), the thread pinned to CPU `cpu` (the
    /// management core's) when one is given and exists.
    pub fn spawn_on(
        mgmt: Mgmt,
        queue: usize,
        cpu: Option<usize>,
    ) -> (MgmtHandle, std::thread::JoinHandle<Mgmt>) {
        let (tx, rx) = crossbeam_channel::bounded(queue.max(1));
        let j = std::thread::Builder::new()
            .name("mgmt".into())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    lcore::pin_current(cpu);
                }
                mgmt.run(rx, Duration::from_millis(50))
            })
            .expect("spawn the management thread");
        (MgmtHandle { tx }, j)
    }

    /// Apply `op` and wait until it is visible to workers.
    pub fn call(&self, op: Op) -> Result<Reply, MgmtError> {
        let (rtx, rrx) = crossbeam_channel::bounded(1);
        self.tx
            .send(Request::Op(op, rtx))
            .map_err(|_| MgmtError::Stopped)?;
        rrx.recv().map_err(|_| MgmtError::Stopped)?
    }

    pub fn monitor(&self) -> Result<Receiver<Event>, MgmtError> {
        let (rtx, rrx) = crossbeam_channel::bounded(1);
        self.tx
            .send(Request::Monitor(rtx))
            .map_err(|_| MgmtError::Stopped)?;
        rrx.recv().map_err(|_| MgmtError::Stopped)
    }
}
