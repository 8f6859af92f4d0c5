//! The flow key: Linux's `struct flowi` for one packet.

use crate::ip::{Addr, Dir, Family};

/// Flag bit in [`FlowKey::flags`]: the packet is a fragment; ports are zero (as Linux does).
pub const FLOW_FRAGMENT: u8 = 0x01;

/// What identifies a flow for policy purposes.
///
/// Ports carry ICMP type (in `sport`) and code (in `dport`) for ICMP and ICMPv6,
/// as Linux's `fl4_icmp_type`/`fl4_icmp_code` share storage with the ports.
/// All padding is explicit and zero, so two equal flows are equal field by field
/// and hash alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowKey {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    /// Ingress port id.
    pub ingress: u16,
    pub proto: u8,
    pub family: Family,
    pub dir: Dir,
    /// `FLOW_*` bits.
    pub flags: u8,
    pub _pad: [u8; 6],
}

impl FlowKey {
    /// A key with the given 5-tuple, no flags.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        family: Family,
        dir: Dir,
        src: Addr,
        dst: Addr,
        proto: u8,
        sport: u16,
        dport: u16,
        ingress: u16,
    ) -> FlowKey {
        FlowKey {
            src,
            dst,
            sport,
            dport,
            ingress,
            proto,
            family,
            dir,
            flags: 0,
            _pad: [0; 6],
        }
    }

    /// The key as five 64-bit words, for hashing.
    #[inline(always)]
    pub fn words(&self) -> [u64; 5] {
        let tail = (self.sport as u64)
            | (self.dport as u64) << 16
            | (self.ingress as u64) << 32
            | (self.proto as u64) << 48
            | ((self.family as u64) & 0x0f) << 56
            | ((self.dir as u64) & 0x03) << 60
            | ((self.flags as u64) & 0x03) << 62;
        [
            self.src as u64,
            (self.src >> 64) as u64,
            self.dst as u64,
            (self.dst >> 64) as u64,
            tail,
        ]
    }

    pub fn is_fragment(&self) -> bool {
        self.flags & FLOW_FRAGMENT != 0
    }
}

impl Default for FlowKey {
    fn default() -> Self {
        FlowKey::new(Family::V4, Dir::Out, 0, 0, 0, 0, 0, 0)
    }
}
