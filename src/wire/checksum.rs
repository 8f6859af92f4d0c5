//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

use crate::ip::Addr;

/// One's-complement sum of `data` as big-endian 16-bit words, folded to 16
/// bits (not complemented). An odd trailing byte is padded with zero
/// (RFC 1071 section 4.1).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Adding 32-bit halves is fine: the one's-complement sum is independent
        // of word order and width once folded (RFC 1071 section 2 (B), (C)).
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = rest.remainder() {
        acc += (*b as u64) << 8;
    }
    fold(acc)
}

/// Fold a wide one's-complement accumulator to 16 bits.
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement sum of several partial sums.
#[inline]
pub fn combine(parts: &[u16]) -> u16 {
    fold(parts.iter().map(|&p| p as u64).sum())
}

/// The checksum field value for `data`: the complement of its sum.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sum of the IPv4 pseudo-header (RFC 768, RFC 793 section 3.1).
pub fn pseudo_header_v4(src: u32, dst: u32, proto: u8, len: u32) -> u16 {
    fold(
        (src >> 16) as u64
            + (src & 0xffff) as u64
            + (dst >> 16) as u64
            + (dst & 0xffff) as u64
            + proto as u64
            + (len >> 16) as u64
            + (len & 0xffff) as u64,
    )
}

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
pub fn pseudo_header_v6(src: Addr, dst: Addr, next_header: u8, len: u32) -> u16 {
    let mut acc: u64 = 0;
    for a in [src, dst] {
        for i in 0..8 {
            acc += ((a >> (16 * i)) & 0xffff) as u64;
        }
    }
    acc += (len >> 16) as u64 + (len & 0xffff) as u64 + next_header as u64;
    fold(acc)
}

/// RFC 1624 section 3, eqn. 3: `HC' = ~(~HC + ~m + m')`, the new checksum
/// field after one 16-bit word of the covered data changes from `old` to `new`.
#[inline(always)]
pub fn update(hc: u16, old: u16, new: u16) -> u16 {
    !fold(!hc as u64 + !old as u64 + new as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to 2ddf0,
    /// folded ddf2; the checksum is its complement 220d.
    #[test]
    fn rfc1071_example() {
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&d), 0xddf2);
        assert_eq!(checksum(&d), 0x220d);
        assert_eq!(sum(&d[..6]), fold(0x0001 + 0xf203 + 0xf4f5));
    }

    /// The 8-byte fast path agrees with a plain word-by-word sum, odd lengths too.
    #[test]
    fn sum_matches_reference() {
        let data: Vec<u8> = (0..301u32).map(|i| (i * 7 + 13) as u8).collect();
        for n in 0..data.len() {
            let mut acc: u64 = 0;
            for (i, b) in data[..n].iter().enumerate() {
                acc += if i % 2 == 0 {
                    (*b as u64) << 8
                } else {
                    *b as u64
                };
            }
            assert_eq!(sum(&data[..n]), fold(acc), "len {n}");
        }
    }

    #[test]
    fn update_matches_recompute() {
        let mut d = [0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 0x11, 0, 0];
        let hc = checksum(&d);
        let old = u16::from_be_bytes([d[8], d[9]]);
        d[8] -= 1;
        let new = u16::from_be_bytes([d[8], d[9]]);
        assert_eq!(update(hc, old, new), checksum(&d));
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4(0xc0a8_0001, 0xc0a8_00c7, 17, 0x1234);
        let mut b = Vec::new();
        b.extend_from_slice(&0xc0a8_0001u32.to_be_bytes());
        b.extend_from_slice(&0xc0a8_00c7u32.to_be_bytes());
        b.extend_from_slice(&[0, 17, 0x12, 0x34]);
        assert_eq!(v4, sum(&b));
        let (s, d) = (0x2001_0db8u128 << 96 | 1, 0x2001_0db8u128 << 96 | 2);
        let mut b = Vec::new();
        b.extend_from_slice(&s.to_be_bytes());
        b.extend_from_slice(&d.to_be_bytes());
        b.extend_from_slice(&70000u32.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(s, d, 58, 70000), sum(&b));
    }
}
