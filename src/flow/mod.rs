//! The per-lcore flow cache of bundles (see DESIGN.md "The flow cache").
//!
//! Owns: flow keys, the keyed hash, the cache shard, bundles and their entry
//! ops (`get` = [`crate::mgmt::Engine::validate`], `delete` = forgetting a
//! generational handle). May not touch: packet bytes (that is `wire`/`esp`),
//! table mutation (that is `mgmt`).

pub mod bundle;
pub mod hash;
pub mod intern;
pub mod key;
pub mod mem;
pub mod shard;

pub use bundle::{Bundle, Verdict};
pub use hash::FlowHasher;
pub use key::FlowKey;
pub use shard::{BundleRef, Shard, ShardStats};
