//! Bundles: the cached result for one flow, and the entry ops `get` (validate)
//! and `delete` (release).
//!
//! An outbound bundle holds the policy (or sub + main policies), the SA chain
//! and the route; an inbound one holds the policy-check result. Dummy bundles
//! cache negative or trivial results (bypass, block, no policy, larval, no
//! route). References are generational [`Handle`]s, never pointers: a handle
//! whose object was killed or whose generation was bumped simply stops
//! validating, so a stale entry can never reach freed memory and never pins it.

use crate::route::Mac;
use lcore::Handle;

/// Maximum transforms applied to one flow (Linux's `XFRM_MAX_DEPTH` is 6; ESP-only
/// gateways use 1, nested tunnel-in-transport 2).
pub const MAX_SA_CHAIN: usize = 2;
/// Sub + main.
pub const MAX_POLICIES: usize = 2;

/// What to do with the packets of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Verdict {
    /// Outbound: encapsulate with the SA chain, then route.
    Protect,
    /// Allowed without transform (bypass policy, allowed inbound, or default allow); route.
    Bypass,
    /// A matching policy says block.
    PolicyBlock,
    /// No policy matched and the direction's default is block.
    #[default]
    DefaultBlock,
    /// A required template has no SA yet (an acquire was reported).
    Larval,
    /// Inbound plain packet matched a policy that requires ESP.
    NeedEsp,
    /// Allowed but no route to the destination.
    NoRoute,
}

impl Verdict {
    pub fn is_drop(self) -> bool {
        !matches!(self, Verdict::Protect | Verdict::Bypass)
    }
}

/// Which of the engine's generation counters a (dummy) result depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Stamps {
    /// Global generation (route/neighbor change, flush, default action, or any
    /// change under the flush-all strategy).
    pub global: u64,
    /// No-policy generation of the direction (bumped by every policy add in it).
    pub nopol: u64,
    /// SAD generation (bumped by every SA add), for larval results.
    pub sad: u64,
}

/// The cached result for one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Bundle {
    pub verdict: Verdict,
    /// Number of valid entries in `policies`.
    pub npol: u8,
    /// Number of valid entries in `sas` (outbound: applied in order; inbound: the
    /// SA that last satisfied the templates).
    pub nsa: u8,
    /// Depends on the no-policy generation (no policy matched).
    pub uses_nopol: bool,
    /// Depends on the SAD generation (larval).
    pub uses_sad: bool,
    /// A route was found: `port` and `dst_mac` are meaningful.
    pub routed: bool,
    /// Egress port for Protect/Bypass.
    pub port: u16,
    /// Next-hop MAC, if the neighbor table has one (else the port's default peer).
    pub dst_mac: Option<Mac>,
    pub policies: [Handle; MAX_POLICIES],
    pub sas: [Handle; MAX_SA_CHAIN],
    pub stamps: Stamps,
}

impl Bundle {
    /// The bundle with the generation stamps it does not depend on zeroed:
    /// `validate` never reads them, and flows under the same decision must
    /// intern as one bundle whenever they were resolved (a no-policy region
    /// counter moves with every policy add in the region; with it in the
    /// identity, a shard resolving under policy churn filled its bundle table
    /// with copies of one decision and then cached nothing).
    #[inline]
    pub fn canonical(mut self) -> Bundle {
        if !self.uses_nopol {
            self.stamps.nopol = 0;
        }
        if !self.uses_sad {
            self.stamps.sad = 0;
        }
        self
    }

    pub fn policies(&self) -> &[Handle] {
        &self.policies[..self.npol as usize]
    }
    pub fn sas(&self) -> &[Handle] {
        &self.sas[..self.nsa as usize]
    }
}

impl Bundle {
    /// Do two bundles make the same decision? (Stamps may differ: a cached
    /// bundle keeps the stamps it was made under.)
    pub fn same_decision(&self, o: &Bundle) -> bool {
        self.verdict == o.verdict
            && self.policies() == o.policies()
            && self.sas() == o.sas()
            && self.routed == o.routed
            && (!self.routed || (self.port == o.port && self.dst_mac == o.dst_mac))
    }
}
