//! A table of QSBR-protected objects addressed by generational handles.
//!
//! STUB: signatures fixed; bodies to be implemented (issue 2).
#![allow(unused)]

use crate::qsbr::{Domain, Reader};
use std::sync::Arc;

/// A reference to an object in [`Slots`]: slot index + the slot's stamp when the
/// handle was made. A handle goes stale (never dangling) when the object is
/// removed or its stamp is bumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Handle {
    pub index: u32,
    /// `generation << 32 | version`: generation changes on remove, version on `bump`.
    pub stamp: u64,
}

/// Fixed-capacity table of objects. Slots never move (readers index them without
/// locks); a removed slot's index is reused only after a grace period.
///
/// Writer operations (`insert`, `remove`, `bump`) are for the single writer
/// (management core) and take an internal lock; reader operations are lock-free:
/// `is_current` is one Acquire load; `get` is two.
pub struct Slots<T> {
    _t: std::marker::PhantomData<T>,
}

impl<T: Send + Sync + 'static> Slots<T> {
    /// A table of `capacity` slots (allocated up front) whose removed objects are
    /// retired to `domain`.
    pub fn new(capacity: usize, domain: Arc<Domain>) -> Slots<T> {
        todo!()
    }
    pub fn capacity(&self) -> usize {
        todo!()
    }
    /// Live objects.
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writer: store `obj`; `Err(obj)` if the table is full.
    pub fn insert(&self, obj: T) -> Result<Handle, T> {
        todo!()
    }
    /// Writer: unlink the object `h` names (any version of its generation) and
    /// retire it. Returns `true` only for the call that removed it.
    pub fn remove(&self, h: Handle) -> bool {
        todo!()
    }
    /// Writer: bump the version of a live object, so handles made before go stale.
    /// Returns the new handle, or `None` if `h`'s object is gone.
    pub fn bump(&self, h: Handle) -> Option<Handle> {
        todo!()
    }
    /// The current handle of the object in `index`, if live.
    pub fn current(&self, index: u32) -> Option<Handle> {
        todo!()
    }
    /// Writer: the object, without a reader (the writer is never racing a free).
    pub fn get_writer(&self, h: Handle) -> Option<&T> {
        todo!()
    }
    /// Reader: is `h` still the current handle of its slot? One Acquire load.
    #[inline]
    pub fn is_current(&self, h: Handle) -> bool {
        todo!()
    }
    /// Reader: the object `h` names if `h` is current. The reference lives until
    /// the reader's next quiescent state. The reader must be online.
    #[inline]
    pub fn get<'r>(&'r self, h: Handle, reader: &'r Reader) -> Option<&'r T> {
        todo!()
    }
}
