//! The per-lcore flow cache of bundles (see DESIGN.md "The flow cache").
//!
//! Owns: flow keys, the cache shard, entry ops (`get`/`delete`) and bundles.
//! May not touch: packet bytes (that is `wire`/`esp`), table mutation (that is `mgmt`).

pub mod key;

pub use key::FlowKey;
