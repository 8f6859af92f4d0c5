//! The security association database: SA objects, inbound lookup by
//! (spi, dst) and outbound resolution by template match.
//!
//! Owns: SA specs and the SAD tables. May not touch: ESP bytes (that is `esp`).

pub mod sa;
pub mod spec;
pub mod table;

pub use sa::Sa;
pub use spec::*;
pub use table::SaTable;
