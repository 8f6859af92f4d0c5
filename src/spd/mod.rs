//! The security policy database: policy objects and the classifier that finds
//! the policy for a flow key (the flow cache's miss path).
//!
//! Owns: policy specs, the classifier. May not touch: SAs, routes, the cache.

pub mod classifier;
pub mod policy;
pub mod spec;

pub use classifier::Classifier;
pub use policy::Policy;
pub use spec::*;
