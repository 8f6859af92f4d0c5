//! TEMPORARY (replaced by the shell branch): drop reasons and lcore counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum DropReason {
    Malformed,
    Unsupported,
    NoRoute,
    PolicyBlock,
    DefaultBlock,
    NoSa,
    Larval,
    NeedEsp,
    SecpathMismatch,
    IcvFail,
    Replay,
    EspMalformed,
    SeqExhausted,
    NoHeadroom,
    TtlExpired,
    TxFull,
    Other,
}
impl DropReason {
    pub const COUNT: usize = 17;
}
#[derive(Clone, Debug, Default)]
pub struct LcoreCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub forwarded: u64,
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub fragments: u64,
    pub drops: [u64; DropReason::COUNT],
    pub loops: u64,
    pub busy_loops: u64,
}
