//! The packet buffer abstraction.
//!
//! One contiguous segment with headroom and tailroom, the operations named as
//! DPDK names them for `rte_mbuf` (`prepend`, `adj`, `append`, `trim`). The
//! DPDK mbuf wrapper and the software [`HeapBuf`] implement it, so the data
//! path is written once and monomorphized over both.

/// Headroom reserved in front of received packets (DPDK's `RTE_PKTMBUF_HEADROOM`).
pub const DEFAULT_HEADROOM: usize = 128;
/// Data room of a default buffer, headroom included (DPDK's `RTE_MBUF_DEFAULT_DATAROOM` + headroom).
pub const DEFAULT_BUF_SIZE: usize = 2048 + DEFAULT_HEADROOM;

/// A single-segment packet buffer.
pub trait PacketBuf {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Free bytes in front of the data.
    fn headroom(&self) -> usize;
    /// Free bytes behind the data.
    fn tailroom(&self) -> usize;
    /// Grow the packet at the front by `n` bytes and return the whole packet,
    /// or `None` (unchanged) if the headroom is too small.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Remove `n` bytes from the front; `false` (unchanged) if the packet is shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Grow the packet at the back by `n` bytes and return the whole packet,
    /// or `None` (unchanged) if the tailroom is too small.
    fn append(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Remove `n` bytes from the back; `false` (unchanged) if the packet is shorter.
    fn trim(&mut self, n: usize) -> bool;
    /// Packet length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// Is the packet empty?
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The port the packet arrived on.
    fn port(&self) -> u16;
    fn set_port(&mut self, port: u16);
    /// Free every buffer in `bufs`, leaving it empty. Backends with a bulk
    /// free (DPDK: one `rte_pktmbuf_free_bulk` per burst) override this; the
    /// default drops them one by one.
    fn free_bulk(bufs: &mut Vec<Self>)
    where
        Self: Sized,
    {
        bufs.clear();
    }
}

/// A heap-backed packet buffer for software ports, tests and benches.
#[derive(Clone, Debug)]
pub struct HeapBuf {
    mem: Box<[u8]>,
    off: usize,
    len: usize,
    port: u16,
}

impl HeapBuf {
    /// An empty buffer of `size` bytes with `headroom` bytes in front of the data.
    pub fn new(size: usize, headroom: usize) -> HeapBuf {
        let headroom = headroom.min(size);
        HeapBuf {
            mem: vec![0u8; size].into_boxed_slice(),
            off: headroom,
            len: 0,
            port: 0,
        }
    }

    /// A buffer holding `data` with the default headroom and at least the default size.
    pub fn from_slice(data: &[u8]) -> HeapBuf {
        let size = (DEFAULT_HEADROOM + data.len() + 128).max(DEFAULT_BUF_SIZE);
        let mut b = HeapBuf::new(size, DEFAULT_HEADROOM);
        b.len = data.len();
        b.mem[b.off..b.off + data.len()].copy_from_slice(data);
        b
    }

    /// Empty the buffer and restore the default headroom, keeping the memory.
    pub fn reset(&mut self, headroom: usize) {
        self.off = headroom.min(self.mem.len());
        self.len = 0;
    }

    /// Total capacity.
    pub fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl PacketBuf for HeapBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.mem[self.off..self.off + self.len]
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.off..self.off + self.len]
    }
    /// The length without building the slice (no bounds check): the data
    /// path asks for it several times a packet.
    #[inline]
    fn len(&self) -> usize {
        self.len
    }
    #[inline]
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    fn headroom(&self) -> usize {
        self.off
    }
    #[inline]
    fn tailroom(&self) -> usize {
        self.mem.len() - self.off - self.len
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.off {
            return None;
        }
        self.off -= n;
        self.len += n;
        Some(self.data_mut())
    }
    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.off += n;
        self.len -= n;
        true
    }
    #[inline]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        // One range check for the grown data (the generator appends every
        // frame it builds): `None` exactly when `n` exceeds the tailroom.
        let end = (self.off + self.len).checked_add(n)?;
        let d = self.mem.get_mut(self.off..end)?;
        self.len += n;
        Some(d)
    }
    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.len -= n;
        true
    }
    #[inline]
    fn port(&self) -> u16 {
        self.port
    }
    #[inline]
    fn set_port(&mut self, port: u16) {
        self.port = port;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heapbuf_ops() {
        let mut b = HeapBuf::from_slice(&[1, 2, 3]);
        assert_eq!(b.headroom(), DEFAULT_HEADROOM);
        let d = b.prepend(2).unwrap();
        d[0] = 9;
        d[1] = 8;
        assert_eq!(b.data(), &[9, 8, 1, 2, 3]);
        assert!(b.adj(2));
        assert_eq!(b.data(), &[1, 2, 3]);
        b.append(1).unwrap()[3] = 4;
        assert_eq!(b.data(), &[1, 2, 3, 4]);
        assert!(b.trim(3));
        assert_eq!(b.data(), &[1]);
        assert!(!b.trim(2));
        assert!(!b.adj(2));
        assert!(b.prepend(DEFAULT_HEADROOM + 1).is_none());
        let tail = b.tailroom();
        assert!(b.append(tail + 1).is_none());
        assert!(b.append(usize::MAX).is_none());
        assert_eq!(b.data(), &[1]);
        assert_eq!(b.append(tail).unwrap().len(), tail + 1);
        assert_eq!(b.tailroom(), 0);
    }
}
