//! A double-buffered structure read without locks.
//!
//! STUB: signatures fixed; bodies to be implemented (issue 2).
#![allow(unused)]

use crate::qsbr::{Domain, Reader};
use std::sync::Arc;

/// Two copies of a `T`. Readers read the active copy (one Acquire load).
/// The writer applies a change to the standby copy, publishes it (Release
/// swap), waits for a grace period, then applies the same change to the other
/// copy. So changes must be deterministic: `f(a) == f(b)` when `a == b`.
pub struct LeftRight<T> {
    _t: std::marker::PhantomData<T>,
}

impl<T: Send + Sync> LeftRight<T> {
    /// Both copies start as clones of `init`.
    pub fn new(init: T, domain: Arc<Domain>) -> LeftRight<T>
    where
        T: Clone,
    {
        todo!()
    }
    /// Reader: the active copy, until the reader's next quiescent state.
    #[inline]
    pub fn read<'r>(&'r self, reader: &'r Reader) -> &'r T {
        todo!()
    }
    /// Writer: the active copy (writer-only; no reader needed).
    pub fn read_writer(&self) -> &T {
        todo!()
    }
    /// Writer: apply `f` to both copies as described above; returns what the
    /// first application returned. Serialized by an internal lock.
    pub fn write<R>(&self, f: impl FnMut(&mut T) -> R) -> R {
        todo!()
    }
    /// Number of publications so far (readers can use it as a version).
    pub fn version(&self) -> u64 {
        todo!()
    }
}
