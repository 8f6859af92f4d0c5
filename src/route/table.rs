//! The route table (longest-prefix match to egress port and next hop) and the
//! static neighbor table, as DPDK ipsec-secgw's `rt` and `neigh` rules.
//!
//! Longest-prefix match: one hash map per prefix length, and the list of the
//! lengths present, longest first; a lookup probes each present length once
//! and stops at the first hit. A table with `L` distinct lengths costs at most
//! `L` probes (typical tables use a handful of lengths).
//!
//! Plain single-writer data: no interior mutability.

use hashbrown::HashMap;

use crate::ip::{Addr, Family, Prefix};
use crate::route::spec::{Mac, NeighSpec, RouteSpec};
use crate::spd::classifier::TableHasher;

#[derive(Clone, Debug)]
struct FamilyRoutes {
    /// Index = prefix length; key = prefix address (host bits clear).
    by_len: Vec<HashMap<Addr, RouteSpec, TableHasher>>,
    /// `(len, mask)` of the non-empty lengths, longest first.
    present: Vec<(u8, Addr)>,
    family: Family,
}

impl FamilyRoutes {
    fn new(family: Family) -> FamilyRoutes {
        FamilyRoutes {
            by_len: (0..=family.bits())
                .map(|_| HashMap::with_hasher(TableHasher::default()))
                .collect(),
            present: Vec::new(),
            family,
        }
    }

    fn refresh_present(&mut self) {
        let family = self.family;
        self.present = (0..=family.bits())
            .rev()
            .filter(|&l| !self.by_len[l as usize].is_empty())
            .map(|l| (l, Prefix::mask_of(family, l)))
            .collect();
    }

    #[inline]
    fn lookup(&self, addr: Addr) -> Option<&RouteSpec> {
        self.present
            .iter()
            .find_map(|&(len, mask)| self.by_len[len as usize].get(&(addr & mask)))
    }
}

/// Routes of both families.
#[derive(Clone, Debug)]
pub struct RouteTable {
    v4: FamilyRoutes,
    v6: FamilyRoutes,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteTable {
    pub fn new() -> RouteTable {
        RouteTable {
            v4: FamilyRoutes::new(Family::V4),
            v6: FamilyRoutes::new(Family::V6),
        }
    }

    fn fam(&self, f: Family) -> &FamilyRoutes {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn fam_mut(&mut self, f: Family) -> &mut FamilyRoutes {
        match f {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.present.is_empty() && self.v6.present.is_empty()
    }

    pub fn clear(&mut self) {
        *self = RouteTable::new();
    }

    /// Add a route, replacing (and returning) the one for the same prefix.
    /// The prefix is stored with its host bits cleared.
    pub fn add(&mut self, mut r: RouteSpec) -> Option<RouteSpec> {
        r.prefix = Prefix::new(r.prefix.family, r.prefix.addr, r.prefix.len);
        let f = self.fam_mut(r.prefix.family);
        let map = &mut f.by_len[r.prefix.len as usize];
        let was_empty = map.is_empty();
        let old = map.insert(r.prefix.addr, r);
        if was_empty {
            f.refresh_present();
        }
        old
    }

    /// Remove the route for exactly this prefix.
    pub fn del(&mut self, p: &Prefix) -> Option<RouteSpec> {
        let p = Prefix::new(p.family, p.addr, p.len);
        let f = self.fam_mut(p.family);
        let map = &mut f.by_len[p.len as usize];
        let old = map.remove(&p.addr)?;
        if map.is_empty() {
            f.refresh_present();
        }
        Some(old)
    }

    /// The route for exactly this prefix.
    pub fn get(&self, p: &Prefix) -> Option<&RouteSpec> {
        let p = Prefix::new(p.family, p.addr, p.len);
        self.fam(p.family).by_len[p.len as usize].get(&p.addr)
    }

    /// Longest-prefix match. No allocation.
    #[inline]
    pub fn lookup(&self, family: Family, addr: Addr) -> Option<&RouteSpec> {
        self.fam(family).lookup(addr)
    }

    /// Every route: IPv4 then IPv6, longest prefixes first, otherwise unordered.
    pub fn iter(&self) -> impl Iterator<Item = &RouteSpec> + '_ {
        [&self.v4, &self.v6].into_iter().flat_map(|f| {
            f.present
                .iter()
                .flat_map(move |&(len, _)| f.by_len[len as usize].values())
        })
    }
}

/// Static neighbors: `(port, next hop)` to MAC, with a per-port default
/// (`addr = None`) used for next hops without an entry of their own.
///
/// Addresses carry no family (as in [`NeighSpec`]): an IPv4 next hop and the
/// IPv6 address `::a.b.c.d` share an entry.
#[derive(Clone, Debug)]
pub struct NeighTable {
    map: HashMap<(u16, Option<Addr>), Mac, TableHasher>,
}

impl Default for NeighTable {
    fn default() -> Self {
        Self::new()
    }
}

impl NeighTable {
    pub fn new() -> NeighTable {
        NeighTable {
            map: HashMap::with_hasher(TableHasher::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Add or replace; returns the MAC it replaced.
    pub fn add(&mut self, n: NeighSpec) -> Option<Mac> {
        self.map.insert((n.port, n.addr), n.mac)
    }

    /// Remove the entry for exactly `(port, addr)` (`None` = the port default).
    pub fn del(&mut self, port: u16, addr: Option<Addr>) -> Option<Mac> {
        self.map.remove(&(port, addr))
    }

    /// The MAC for next hop `addr` on `port`: its own entry, else the port's default.
    #[inline]
    pub fn lookup(&self, port: u16, addr: Addr) -> Option<Mac> {
        self.map
            .get(&(port, Some(addr)))
            .or_else(|| self.map.get(&(port, None)))
            .copied()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = NeighSpec> + '_ {
        self.map
            .iter()
            .map(|(&(port, addr), &mac)| NeighSpec { port, addr, mac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(p: &str, port: u16) -> RouteSpec {
        RouteSpec {
            prefix: p.parse().unwrap(),
            port,
            next_hop: None,
        }
    }

    fn a(s: &str) -> (Family, Addr) {
        crate::ip::addr_from_ip(s.parse().unwrap())
    }

    fn port_of(t: &RouteTable, s: &str) -> Option<u16> {
        let (f, x) = a(s);
        t.lookup(f, x).map(|r| r.port)
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = RouteTable::new();
        assert_eq!(t.add(route("0.0.0.0/0", 1)), None);
        t.add(route("10.0.0.0/8", 2));
        t.add(route("10.1.0.0/16", 3));
        t.add(route("10.1.2.3/32", 4));
        t.add(route("::/0", 5));
        t.add(route("2001:db8::/32", 6));
        assert_eq!(port_of(&t, "10.1.2.3"), Some(4));
        assert_eq!(port_of(&t, "10.1.2.4"), Some(3));
        assert_eq!(port_of(&t, "10.2.0.1"), Some(2));
        assert_eq!(port_of(&t, "11.0.0.1"), Some(1));
        assert_eq!(port_of(&t, "2001:db8::1"), Some(6));
        assert_eq!(port_of(&t, "2001:db9::1"), Some(5));
        // Replace and delete; host bits in the given prefix are ignored.
        let old = t.add(RouteSpec {
            next_hop: Some(9),
            ..route("10.1.0.0/16", 7)
        });
        assert_eq!(old, Some(route("10.1.0.0/16", 3)));
        assert_eq!(port_of(&t, "10.1.2.4"), Some(7));
        let messy = Prefix {
            family: Family::V4,
            addr: a("10.1.2.3").1,
            len: 16,
        };
        assert_eq!(t.del(&messy).map(|r| r.port), Some(7));
        assert_eq!(port_of(&t, "10.1.2.4"), Some(2));
        t.del(&"0.0.0.0/0".parse().unwrap());
        assert_eq!(port_of(&t, "11.0.0.1"), None);
        assert_eq!(t.len(), 4);
        assert_eq!(t.iter().count(), 4);
        // IPv4 first, longest first.
        assert_eq!(t.iter().next().unwrap().port, 4);
    }

    #[test]
    fn neighbors_fall_back_to_port_default() {
        let mut n = NeighTable::new();
        let mac1 = [2, 0, 0, 0, 0, 1];
        let mac2 = [2, 0, 0, 0, 0, 2];
        let hop = a("192.0.2.9").1;
        n.add(NeighSpec {
            port: 0,
            addr: None,
            mac: mac1,
        });
        n.add(NeighSpec {
            port: 0,
            addr: Some(hop),
            mac: mac2,
        });
        assert_eq!(n.lookup(0, hop), Some(mac2));
        assert_eq!(n.lookup(0, hop + 1), Some(mac1));
        assert_eq!(n.lookup(1, hop), None);
        assert_eq!(n.del(0, Some(hop)), Some(mac2));
        assert_eq!(n.lookup(0, hop), Some(mac1));
        assert_eq!(n.len(), 1);
    }

    fn linear_lookup(routes: &[RouteSpec], f: Family, x: Addr) -> Option<RouteSpec> {
        routes
            .iter()
            .filter(|r| r.prefix.family == f && r.prefix.contains(x))
            .max_by_key(|r| r.prefix.len)
            .copied()
    }

    fn prefix_strategy() -> impl Strategy<Value = Prefix> {
        (any::<bool>(), 0usize..3, any::<u16>(), 0u8..=128).prop_map(|(v6, b, noise, len)| {
            let bases: [Addr; 3] = if v6 {
                [0x2001_0db8 << 96, (0x2001_0db8 << 96) | (1 << 64), 1]
            } else {
                [0x0a00_0000, 0x0a01_0000, 0xc0a8_0100]
            };
            let f = if v6 { Family::V6 } else { Family::V4 };
            Prefix::new(f, bases[b] ^ noise as Addr, len % (f.bits() + 1))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn lpm_matches_linear(
            ops in prop::collection::vec((any::<bool>(), prefix_strategy(), 0u16..8), 1..100),
            probes in prop::collection::vec(prefix_strategy(), 100),
        ) {
            let mut t = RouteTable::new();
            let mut lin: Vec<RouteSpec> = Vec::new();
            for (add, p, port) in ops {
                if add {
                    let r = RouteSpec { prefix: p, port, next_hop: None };
                    let old = lin.iter().position(|x| x.prefix == p).map(|i| lin.remove(i));
                    lin.push(r);
                    prop_assert_eq!(t.add(r), old);
                } else {
                    let old = lin.iter().position(|x| x.prefix == p).map(|i| lin.remove(i));
                    prop_assert_eq!(t.del(&p), old);
                }
            }
            prop_assert_eq!(t.len(), lin.len());
            let copy = t.clone();
            for p in probes {
                // Probe addresses inside and just outside the generated prefixes.
                for x in [p.addr, p.addr | 1, p.addr.wrapping_sub(1)] {
                    let want = linear_lookup(&lin, p.family, x);
                    prop_assert_eq!(t.lookup(p.family, x).copied(), want);
                    prop_assert_eq!(copy.lookup(p.family, x).copied(), want);
                }
            }
        }
    }
}
