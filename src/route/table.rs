//! TEMPORARY linear stand-in (the real tables come from the spd branch).
use crate::ip::{Addr, Family, Prefix};
use crate::route::{Mac, NeighSpec, RouteSpec};
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    v: Vec<RouteSpec>,
}
impl RouteTable {
    pub fn add(&mut self, r: RouteSpec) -> Option<RouteSpec> {
        let old = self.del(&r.prefix);
        self.v.push(r);
        old
    }
    pub fn del(&mut self, p: &Prefix) -> Option<RouteSpec> {
        let i = self.v.iter().position(|r| r.prefix == *p)?;
        Some(self.v.remove(i))
    }
    pub fn lookup(&self, family: Family, a: Addr) -> Option<&RouteSpec> {
        self.v
            .iter()
            .filter(|r| r.prefix.family == family && r.prefix.contains(a))
            .max_by_key(|r| r.prefix.len)
    }
    pub fn iter(&self) -> impl Iterator<Item = &RouteSpec> {
        self.v.iter()
    }
}
#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    v: Vec<NeighSpec>,
}
impl NeighTable {
    pub fn add(&mut self, n: NeighSpec) {
        self.del(n.port, n.addr);
        self.v.push(n);
    }
    pub fn del(&mut self, port: u16, addr: Option<Addr>) -> Option<NeighSpec> {
        let i = self.v.iter().position(|n| n.port == port && n.addr == addr)?;
        Some(self.v.remove(i))
    }
    pub fn lookup(&self, port: u16, nh: Addr) -> Option<Mac> {
        self.v
            .iter()
            .find(|n| n.port == port && n.addr == Some(nh))
            .or_else(|| self.v.iter().find(|n| n.port == port && n.addr.is_none()))
            .map(|n| n.mac)
    }
    pub fn iter(&self) -> impl Iterator<Item = NeighSpec> + '_ {
        self.v.iter().copied()
    }
}
