//! Route and neighbor specifications.

use crate::ip::{Addr, Prefix};

/// Ethernet address.
pub type Mac = [u8; 6];

/// `rt ipv4 dst A/P port N` / `route add A/P via NH port N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    pub prefix: Prefix,
    pub port: u16,
    /// `None` = directly connected: the packet's destination is the next hop.
    pub next_hop: Option<Addr>,
}

/// `neigh port N MAC` (addr = None: the default peer MAC of the port) or
/// `neigh add ADDR lladdr MAC dev N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NeighSpec {
    pub port: u16,
    pub addr: Option<Addr>,
    pub mac: Mac,
}
