//! stats: packet accounting and its presentation.
//!
//! Owns the counter types that workers write ([`LcoreCounters`], one per
//! lcore, plain `u64`s), their publication to the management core
//! ([`LcoreStatsSlot`]: `try_lock` copy every [`PUBLISH_EVERY_LOOPS`] loops,
//! never blocking a worker), the aggregated [`StatsReport`] with its stable
//! JSON schema (docs/stats.md), and the live line and summary formatters.
//! It does not read ports, SAs or the engine itself: the management core
//! passes their counters in ([`ReportInputs`]).

mod counters;
mod format;
mod report;

pub use counters::{
    new_latency_histogram, CacheCounters, DropReason, LcoreCounters, LcoreStatsSlot,
    LATENCY_HIGH_NS, LATENCY_LOW_NS, LATENCY_SIGFIG, PUBLISH_EVERY_LOOPS,
};
pub use format::{fmt_ns, live_line, summary};
pub use report::{
    Latency, LcoreReport, Percentiles, PortCounters, ReclaimCounters, ReportInputs, SaCounters,
    StatsHub, StatsReport, Totals, STATS_SCHEMA,
};
