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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, zerocopy::IntoBytes, zerocopy::Immutable)]
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
    /// The key's 48 bytes as six words (`src` and `dst` halves, then ports,
    /// ingress, protocol and family, then dir, flags and padding): six plain
    /// loads. Two keys are equal iff their words are.
    #[inline(always)]
    pub fn words(&self) -> [u64; 6] {
        use zerocopy::IntoBytes;
        let b = self.as_bytes();
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[8 * i..8 * i + 8]);
            u64::from_ne_bytes(x)
        };
        [w(0), w(1), w(2), w(3), w(4), w(5)]
    }

    /// `self == o`, as a few word compares (the flow cache's probe).
    #[inline(always)]
    pub fn same(&self, o: &FlowKey) -> bool {
        let (a, b) = (self.words(), o.words());
        ((a[0] ^ b[0])
            | (a[1] ^ b[1])
            | (a[2] ^ b[2])
            | (a[3] ^ b[3])
            | (a[4] ^ b[4])
            | (a[5] ^ b[5]))
            == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_agrees_with_eq_field_by_field() {
        let k = FlowKey::new(
            Family::V6,
            Dir::Fwd,
            0x2001_0db8_0000_0000_0000_0000_0000_0001,
            0x2001_0db8_0000_0000_0000_0000_0000_0002,
            17,
            4500,
            53,
            3,
        );
        assert!(k.same(&k));
        let variants: [fn(&mut FlowKey); 11] = [
            |k| k.src ^= 1 << 100,
            |k| k.dst ^= 1,
            |k| k.sport ^= 0x100,
            |k| k.dport ^= 1,
            |k| k.ingress ^= 1,
            |k| k.proto = 6,
            |k| k.family = Family::V4,
            |k| k.dir = Dir::In,
            |k| k.flags = FLOW_FRAGMENT,
            |k| k._pad[5] = 1,
            |k| k.src ^= 1,
        ];
        for f in variants {
            let mut o = k;
            f(&mut o);
            assert_ne!(k, o);
            assert!(!k.same(&o) && !o.same(&k), "{o:?}");
            assert_ne!(k.words(), o.words());
        }
    }
}
