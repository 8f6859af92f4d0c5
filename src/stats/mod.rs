//! stats: packet accounting and its presentation.
//!
//! Owns the counter types that workers write ([`LcoreCounters`], one per
//! lcore, plain `u64`s), their publication to the management core
//! ([`LcoreStatsSlot`]: `try_lock` copy every [`PUBLISH_EVERY_LOOPS`] loops,
//! never blocking a worker), the aggregated [`StatsReport`] with its stable
//! JSON schema (docs/stats.md), and the live line and summary formatters.
//! It does not read ports, SAs or the engine itself: the management core
//! passes their counters in ([`ReportInputs`]).

mod clock;
mod counters;
mod format;
mod hist;
mod report;

pub use clock::{ticks, CycleClock};
pub use counters::{
    new_latency_histogram, CacheCounters, DropReason, LcoreCounters, LcoreStatsSlot,
    PUBLISH_EVERY_LOOPS,
};
pub use format::{fmt_ns, live_line, summary};
pub use hist::LatencyHist;
pub use report::{
    Latency, LcoreReport, Percentiles, PortCounters, ReclaimCounters, ReportInputs, SaCounters,
    StatsHub, StatsReport, Totals, STATS_SCHEMA,
};
