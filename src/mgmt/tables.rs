//! The lookup tables workers read: SPD classifiers, SAD, routes, neighbors and
//! default actions. Held twice in an [`lcore::LeftRight`]; every change is a
//! deterministic [`TableOp`] applied to both copies.

use crate::flow::FlowKey;
use crate::ip::{Addr, Dir, Family, Prefix};
use crate::route::{Mac, NeighSpec, NeighTable, RouteSpec, RouteTable};
use crate::sad::table::SaFields;
use crate::sad::SaTable;
use crate::spd::{Action, Classifier, PolicyType, Selector, Template};

/// A policy's place in the classifiers: slot index in the policy `Slots`.
pub type PolIdx = u32;
/// An SA's slot index in the SA `Slots`.
pub type SaIdx = u32;

/// Above this many policy inserts in one publication, [`Tables::apply_all`]
/// loads the classifiers in bulk mode.
pub const BULK_INSERTS: usize = 1024;

/// Classifier class of a direction: `fwd` policies judge forwarded inbound
/// traffic, like `in` (the gateway forwards everything it decrypts).
pub const fn dir_class(dir: Dir) -> usize {
    match dir {
        Dir::Out => 0,
        Dir::In | Dir::Fwd => 1,
    }
}

const fn type_class(t: PolicyType) -> usize {
    match t {
        PolicyType::Main => 0,
        PolicyType::Sub => 1,
    }
}

/// What workers read.
#[derive(Clone)]
pub struct Tables {
    /// `[dir_class][type_class]`.
    spd: [[Classifier<PolIdx>; 2]; 2],
    pub sad: SaTable<SaIdx>,
    pub routes: RouteTable,
    pub neigh: NeighTable,
    /// Default action per direction when no policy matches (`setdefault`).
    pub default_action: [Action; 3],
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            spd: Default::default(),
            sad: SaTable::default(),
            routes: RouteTable::default(),
            neigh: NeighTable::default(),
            // A security gateway fails closed.
            default_action: [Action::Block; 3],
        }
    }
}

/// One deterministic change, applied to both copies.
#[derive(Clone, Debug)]
pub enum TableOp {
    PolicyInsert {
        seq: u64,
        selector: Selector,
        dir: Dir,
        ptype: PolicyType,
        priority: u32,
        idx: PolIdx,
    },
    PolicyRemove {
        seq: u64,
        dir: Dir,
        ptype: PolicyType,
    },
    SaInsert {
        fields: SaFields,
        idx: SaIdx,
    },
    SaRemove {
        spi: u32,
        dst: Addr,
        family: Family,
    },
    RouteAdd(RouteSpec),
    RouteDel(Prefix),
    NeighAdd(NeighSpec),
    NeighDel {
        port: u16,
        addr: Option<Addr>,
    },
    SetDefault(Dir, Action),
    /// Room for this many more SAs (a bulk load's first op; no semantic effect).
    ReserveSas(usize),
}

impl Tables {
    pub fn classifier(&self, dir: Dir, ptype: PolicyType) -> &Classifier<PolIdx> {
        &self.spd[dir_class(dir)][type_class(ptype)]
    }

    /// The best policy of one type for `key` (key.dir selects the direction).
    #[inline]
    pub fn lookup_policy(&self, key: &FlowKey, ptype: PolicyType) -> Option<PolIdx> {
        self.classifier(key.dir, ptype).lookup(key).map(|(_, v)| v)
    }

    pub fn lookup_sa_out(
        &self,
        t: &Template,
        family: Family,
        src: Addr,
        dst: Addr,
    ) -> Option<SaIdx> {
        self.sad.lookup_out(t, src, dst, family)
    }

    pub fn route(&self, family: Family, dst: Addr) -> Option<&RouteSpec> {
        self.routes.lookup(family, dst)
    }

    pub fn neighbor(&self, port: u16, next_hop: Addr) -> Option<Mac> {
        self.neigh.lookup(port, next_hop)
    }

    /// Apply a publication's ops in order. Many policy inserts load the
    /// classifiers in bulk mode (ordered key sets built once at the end); the
    /// result is the same as applying the ops one by one.
    pub fn apply_all(&mut self, ops: &[TableOp]) {
        let mut inserts = [[0usize; 2]; 2];
        for op in ops {
            if let TableOp::PolicyInsert { dir, ptype, .. } = op {
                inserts[dir_class(*dir)][type_class(*ptype)] += 1;
            }
        }
        let bulk = inserts.iter().flatten().sum::<usize>() > BULK_INSERTS;
        if bulk {
            for (row, n) in self.spd.iter_mut().zip(inserts) {
                for (c, n) in row.iter_mut().zip(n) {
                    c.begin_bulk(n);
                }
            }
        }
        for op in ops {
            self.apply(op);
        }
        if bulk {
            self.spd.iter_mut().flatten().for_each(Classifier::end_bulk);
        }
    }

    pub fn apply(&mut self, op: &TableOp) {
        match op {
            TableOp::PolicyInsert {
                seq,
                selector,
                dir,
                ptype,
                priority,
                idx,
            } => {
                self.spd[dir_class(*dir)][type_class(*ptype)]
                    .insert(*seq, selector, *priority, *idx);
            }
            TableOp::PolicyRemove { seq, dir, ptype } => {
                self.spd[dir_class(*dir)][type_class(*ptype)].remove(*seq);
            }
            TableOp::SaInsert { fields, idx } => {
                // mgmt checked uniqueness before; a duplicate here would be a bug.
                let r = self.sad.insert(fields, *idx);
                debug_assert!(r.is_ok(), "duplicate SA reached the tables");
            }
            TableOp::SaRemove { spi, dst, family } => {
                self.sad.remove_by(*spi, *dst, *family);
            }
            TableOp::RouteAdd(r) => {
                self.routes.add(*r);
            }
            TableOp::RouteDel(p) => {
                self.routes.del(p);
            }
            TableOp::NeighAdd(n) => {
                self.neigh.add(*n);
            }
            TableOp::NeighDel { port, addr } => {
                self.neigh.del(*port, *addr);
            }
            TableOp::SetDefault(dir, a) => self.default_action[dir.index()] = *a,
            TableOp::ReserveSas(n) => self.sad.reserve(*n),
        }
    }
}
