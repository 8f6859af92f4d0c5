//! Routes (longest-prefix match to egress port and next hop) and the static
//! neighbor table.

pub mod spec;
pub mod table;

pub use spec::*;
pub use table::{NeighTable, RouteTable};
