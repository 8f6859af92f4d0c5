//! The live policy object, owned by the management core and read by workers
//! through [`lcore::Slots`] handles.

use super::spec::{Action, PolicySpec, Template};
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
}

impl Policy {
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
