//! TEMPORARY linear stand-in (the real classifier comes from the spd branch).
use crate::flow::FlowKey;
use crate::spd::Selector;
#[derive(Clone, Debug)]
pub struct Classifier<V> {
    v: Vec<(u64, Selector, u32, V)>,
}
impl<V> Default for Classifier<V> {
    fn default() -> Self {
        Classifier { v: Vec::new() }
    }
}
impl<V: Copy> Classifier<V> {
    pub fn insert(&mut self, id: u64, sel: &Selector, priority: u32, value: V) {
        self.v.push((id, *sel, priority, value));
    }
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let i = self.v.iter().position(|e| e.0 == id)?;
        Some(self.v.remove(i).3)
    }
    pub fn len(&self) -> usize {
        self.v.len()
    }
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }
    pub fn lookup(&self, key: &FlowKey) -> Option<(u64, V)> {
        self.v
            .iter()
            .filter(|e| e.1.matches(key))
            .min_by_key(|e| (e.2, e.0))
            .map(|e| (e.0, e.3))
    }
    pub fn overlapping(&self, sel: &Selector, out: &mut Vec<(u64, V, u32)>) {
        out.extend(self.v.iter().filter(|e| e.1.overlaps(sel)).map(|e| (e.0, e.3, e.2)));
    }
}
