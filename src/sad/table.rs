//! TEMPORARY linear stand-in (the real SAD comes from the spd branch).
use crate::ip::{Addr, Family};
use crate::sad::SaSpec;
use crate::spd::{Mode, Template};
#[derive(Clone, Debug)]
pub struct SaTable<V> {
    v: Vec<(SaSpec, V)>,
}
impl<V> Default for SaTable<V> {
    fn default() -> Self {
        SaTable { v: Vec::new() }
    }
}
#[derive(Debug)]
pub struct Exists;
impl<V: Copy> SaTable<V> {
    pub fn insert(&mut self, spec: &SaSpec, value: V) -> Result<(), Exists> {
        if self.lookup_in(spec.spi, spec.dst, spec.family).is_some() {
            return Err(Exists);
        }
        self.v.push((spec.clone(), value));
        Ok(())
    }
    pub fn remove_by(&mut self, spi: u32, dst: Addr, family: Family) -> Option<V> {
        let i = self.v.iter().position(|(s, _)| s.spi == spi && s.dst == dst && s.family == family)?;
        Some(self.v.remove(i).1)
    }
    pub fn lookup_in(&self, spi: u32, dst: Addr, family: Family) -> Option<V> {
        self.v.iter().find(|(s, _)| s.spi == spi && s.dst == dst && s.family == family).map(|e| e.1)
    }
    pub fn lookup_out(&self, t: &Template, src: Addr, dst: Addr, family: Family) -> Option<V> {
        self.v
            .iter()
            .find(|(s, _)| {
                if t.mode != s.mode || (t.reqid != 0 && t.reqid != s.reqid) {
                    return false;
                }
                if let Some(spi) = t.spi {
                    return spi == s.spi && t.dst.is_none_or(|d| d == s.dst);
                }
                let (f, ts, td) = match t.mode {
                    Mode::Tunnel => (t.family, t.src, t.dst),
                    Mode::Transport => (family, Some(src), Some(dst)),
                };
                f == s.family && ts.is_none_or(|a| a == s.src) && td.is_none_or(|a| a == s.dst)
            })
            .map(|e| e.1)
    }
    pub fn len(&self) -> usize {
        self.v.len()
    }
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }
}
