//! Address families, directions and prefixes shared by every table.
//!
//! Addresses are held as `u128` in host order: an IPv6 address as is, an IPv4
//! address in the low 32 bits. The family travels beside the address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address in host order; IPv4 in the low 32 bits.
pub type Addr = u128;

/// Address family.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(u8)]
pub enum Family {
    V4 = 4,
    V6 = 6,
}

impl Family {
    /// Address width in bits.
    pub const fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// Policy direction, numbered as Linux's `XFRM_POLICY_IN/OUT/FWD`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(u8)]
pub enum Dir {
    In = 0,
    Out = 1,
    Fwd = 2,
}

impl Dir {
    pub const ALL: [Dir; 3] = [Dir::In, Dir::Out, Dir::Fwd];

    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::In => "in",
            Dir::Out => "out",
            Dir::Fwd => "fwd",
        })
    }
}

/// Split an address into family and `u128`.
pub fn addr_from_ip(ip: IpAddr) -> (Family, Addr) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u32::from(a) as u128),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

/// The inverse of [`addr_from_ip`].
pub fn addr_to_ip(family: Family, a: Addr) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(a as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(a)),
    }
}

/// An address prefix `addr/len`; host bits beyond `len` are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub family: Family,
    pub addr: Addr,
    pub len: u8,
}

impl Prefix {
    /// `0.0.0.0/0` or `::/0`.
    pub const fn any(family: Family) -> Prefix {
        Prefix {
            family,
            addr: 0,
            len: 0,
        }
    }

    /// A prefix with host bits cleared. `len` is clamped to the family width.
    pub fn new(family: Family, addr: Addr, len: u8) -> Prefix {
        let len = len.min(family.bits());
        Prefix {
            family,
            addr: addr & Self::mask_of(family, len),
            len,
        }
    }

    /// A host prefix (/32 or /128).
    pub fn host(family: Family, addr: Addr) -> Prefix {
        Prefix::new(family, addr, family.bits())
    }

    /// The network mask of `len` bits within the family's width, in host order.
    pub fn mask_of(family: Family, len: u8) -> Addr {
        let bits = family.bits() as u32;
        let len = (len as u32).min(bits);
        if len == 0 {
            return 0;
        }
        let full: u128 = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        // len >= 1 here, so the shift is at most 127.
        full & !((1u128 << (bits - len)) - 1)
    }

    pub fn mask(&self) -> Addr {
        Self::mask_of(self.family, self.len)
    }

    /// Does this prefix contain `a` (of the same family)?
    pub fn contains(&self, a: Addr) -> bool {
        a & self.mask() == self.addr
    }

    /// Do two prefixes of one family share any address?
    pub fn overlaps(&self, other: &Prefix) -> bool {
        if self.family != other.family {
            return false;
        }
        let len = self.len.min(other.len);
        let m = Self::mask_of(self.family, len);
        self.addr & m == other.addr & m
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", addr_to_ip(self.family, self.addr), self.len)
    }
}

/// Error from parsing a prefix or address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix '{0}'")]
pub struct PrefixParseError(pub String);

impl FromStr for Prefix {
    type Err = PrefixParseError;

    /// `A`, `A/LEN`; a bare address is a host prefix.
    fn from_str(s: &str) -> Result<Prefix, PrefixParseError> {
        let err = || PrefixParseError(s.to_string());
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = a.parse().map_err(|_| err())?;
        let (family, addr) = addr_from_ip(ip);
        let len = match l {
            Some(l) => {
                let v: u8 = l.parse().map_err(|_| err())?;
                if v > family.bits() {
                    return Err(err());
                }
                v
            }
            None => family.bits(),
        };
        Ok(Prefix::new(family, addr, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(Prefix::mask_of(Family::V4, 0), 0);
        assert_eq!(Prefix::mask_of(Family::V4, 8), 0xff00_0000);
        assert_eq!(Prefix::mask_of(Family::V4, 32), 0xffff_ffff);
        assert_eq!(Prefix::mask_of(Family::V6, 128), u128::MAX);
        assert_eq!(Prefix::mask_of(Family::V6, 1), 1u128 << 127);
        assert_eq!(Prefix::mask_of(Family::V6, 64), !0u128 << 64);
    }

    #[test]
    fn parse_contains_overlap() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap();
        let (_, a) = addr_from_ip("10.1.2.3".parse().unwrap());
        assert!(p.contains(a));
        let q: Prefix = "10.0.0.0/8".parse().unwrap();
        assert!(p.overlaps(&q) && q.overlaps(&p));
        let r: Prefix = "10.2.0.0/16".parse().unwrap();
        assert!(!p.overlaps(&r));
        assert_eq!(
            "10.1.2.3/16".parse::<Prefix>().unwrap().to_string(),
            "10.1.0.0/16"
        );
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert_eq!("2001:db8::/32".parse::<Prefix>().unwrap().len, 32);
        assert_eq!("::1".parse::<Prefix>().unwrap().len, 128);
    }
}
