//! The live policy object, owned by the management core and read by workers
//! through [`lcore::Slots`] handles.

use super::spec::{Action, PolicySpec, Template};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A policy in the SPD. Immutable once published: an update replaces the object.
#[derive(Debug)]
pub struct Policy {
    pub spec: PolicySpec,
    /// The policy's index (user-visible, unique).
    pub index: u32,
    /// Insertion order; ties in priority go to the lower `seq`.
    pub seq: u64,
    pub added: Instant,
    /// Engine clock (seconds) + 1 of the first use, 0 = never used: set on the
    /// miss path, for `use` lifetimes.
    pub first_use: AtomicU64,
}

impl Policy {
    pub fn new(spec: PolicySpec, index: u32, seq: u64) -> Policy {
        Policy {
            spec,
            index,
            seq,
            added: Instant::now(),
            first_use: AtomicU64::new(0),
        }
    }

    /// Record the first use (a plain load and, once, a store; never per packet).
    #[inline]
    pub fn touch(&self, now_secs: u64) {
        if self.first_use.load(Ordering::Relaxed) == 0 {
            self.first_use.store(now_secs + 1, Ordering::Relaxed);
        }
    }

    /// Does the policy require IPsec (has a `required` template)?
    pub fn requires_esp(&self) -> bool {
        self.spec.action == Action::Allow
            && self
                .spec
                .templates
                .iter()
                .any(|t| t.level == super::spec::Level::Required)
    }

    pub fn templates(&self) -> &[Template] {
        &self.spec.templates
    }
}
