//! The single-producer single-consumer byte ring between two worker cores.
//!
//! Owns: [`ring`], [`RingTx`] and [`RingRx`]. The mesh is an N×N grid of these,
//! indexed `[target][source]`; each ring carries whole frames (coremesh-wire
//! format, lengths multiples of 16) from one source core to one target core.
//!
//! Must never: hand out a frame split across the end of the buffer (a frame that
//! does not fit before the end is preceded by a wrap marker and written at the
//! start), or let the producer overwrite bytes the consumer has not released.
//!
//! # Rules the `unsafe` blocks rely on
//! - R1: `buf` is an allocation of `cap` bytes, 64-aligned, `cap` a power of two
//!   and a multiple of 16, freed only when both ends are dropped (Arc).
//! - R2: the producer writes only bytes in `[tail, head + cap)` (positions taken
//!   modulo `cap`), where `head` is a value it loaded from the consumer; the
//!   consumer reads only bytes in `[head, tail)` where `tail` is a value it loaded
//!   from the producer. The two ranges never overlap.
//! - R3: `tail` is published with Release after the bytes are written and loaded
//!   with Acquire before they are read; `head` likewise in the other direction, so
//!   a released byte is never read again and a written byte is visible before use.
//! - R4: every position is a multiple of 16, so at least 16 bytes remain before the
//!   end of the buffer and a 4-byte wrap marker always fits.
//! - R5: each end is owned by exactly one thread at a time: `RingTx` and `RingRx`
//!   are `Send` but not `Sync` and not `Clone`.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

/// First four bytes of a record meaning "skip to the start of the buffer". A real
/// frame starts with its payload length, which is far below this value.
const WRAP_MARKER: u32 = u32::MAX;
const RING_ALIGN: usize = 64;

struct Shared {
    buf: NonNull<u8>,
    cap: usize,
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: the buffer is only accessed under the R2/R3 protocol: the producer and the
// consumer touch disjoint byte ranges, ordered by the Release/Acquire index pair.
unsafe impl Send for Shared {}
// SAFETY: as above; the indices are atomics and the bytes are partitioned by them.
unsafe impl Sync for Shared {}

impl Drop for Shared {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.cap, RING_ALIGN).expect("checked in ring()");
        // SAFETY: `buf` came from `alloc_zeroed` with this exact layout (R1) and this
        // is the last reference (Drop of the Arc's contents).
        unsafe { dealloc(self.buf.as_ptr(), layout) };
    }
}

/// Why a ring could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RingError {
    /// Capacity must be a power of two of at least 4096 bytes.
    #[error("ring capacity {0} bytes is not a power of two of at least 4096")]
    BadCapacity(usize),
    /// The allocator refused.
    #[error("could not allocate a {0}-byte ring")]
    OutOfMemory(usize),
}

/// Makes a ring of `cap` bytes and returns its two ends.
pub fn ring(cap: usize) -> Result<(RingTx, RingRx), RingError> {
    if !cap.is_power_of_two() || cap < 4096 {
        return Err(RingError::BadCapacity(cap));
    }
    let layout = Layout::from_size_align(cap, RING_ALIGN).map_err(|_| RingError::BadCapacity(cap))?;
    // SAFETY: the layout has a non-zero size (cap >= 4096).
    let ptr = unsafe { alloc_zeroed(layout) };
    let buf = NonNull::new(ptr).ok_or(RingError::OutOfMemory(cap))?;
    let shared = Arc::new(Shared {
        buf,
        cap,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    let tx = RingTx { shared: shared.clone(), tail: 0, published: 0, head_cache: 0 };
    let rx = RingRx { shared, head: 0, released: 0, tail_cache: 0 };
    Ok((tx, rx))
}

/// The producing end, owned by the source core.
pub struct RingTx {
    shared: Arc<Shared>,
    tail: usize,
    published: usize,
    head_cache: usize,
}

impl RingTx {
    /// The largest frame this ring accepts (half its capacity, so a frame always
    /// fits once the consumer has caught up, even after a wrap).
    pub fn max_frame_bytes(&self) -> usize {
        self.shared.cap / 2
    }

    /// Bytes written but not yet published to the consumer.
    #[inline]
    pub fn unpublished(&self) -> usize {
        self.tail - self.published
    }

    /// Copies one frame into the ring (not yet visible to the consumer: call
    /// [`RingTx::publish`]). Returns `false`, writing nothing, when there is no room.
    ///
    /// `frame.len()` must be a non-zero multiple of 16 and at most
    /// [`RingTx::max_frame_bytes`]; a caller bug otherwise (asserted).
    #[inline]
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn try_push(&mut self, frame: &[u8]) -> bool {
        self.try_push_with(frame.len(), |dst| dst.copy_from_slice(frame))
    }

    /// Like [`RingTx::try_push`], but lets `fill` write the `len` bytes in place.
    /// `fill` must initialise every byte of the slice it is given.
    #[inline]
    pub fn try_push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        let cap = self.shared.cap;
        assert!(len > 0 && len % 16 == 0 && len <= cap / 2, "ring frame length {len}");
        let pos = self.tail & (cap - 1);
        let room_to_end = cap - pos;
        let need = if len <= room_to_end { len } else { room_to_end + len };
        if self.tail + need - self.head_cache > cap {
            self.head_cache = self.shared.head.load(Ordering::Acquire);
            if self.tail + need - self.head_cache > cap {
                return false;
            }
        }
        let base = self.shared.buf.as_ptr();
        let mut at = pos;
        if len > room_to_end {
            // SAFETY: `pos` is in bounds and 16 bytes remain before the end (R1, R4);
            // the bytes belong to the producer (R2: the free space check above).
            unsafe { base.add(pos).cast::<u32>().write(WRAP_MARKER) };
            self.tail += room_to_end;
            at = 0;
        }
        // SAFETY: `[at, at + len)` is in bounds (len <= room_to_end or at == 0 and
        // len <= cap / 2) and free for the producer (R2), and nothing else holds a
        // reference into it (R5).
        let dst = unsafe { std::slice::from_raw_parts_mut(base.add(at), len) };
        fill(dst);
        self.tail += len;
        true
    }

    /// Makes every pushed frame visible to the consumer. Returns whether there
    /// was anything new.
    #[inline]
    pub fn publish(&mut self) -> bool {
        if self.published == self.tail {
            return false;
        }
        self.shared.tail.store(self.tail, Ordering::Release);
        self.published = self.tail;
        true
    }
}

/// The consuming end, owned by the target core.
pub struct RingRx {
    shared: Arc<Shared>,
    head: usize,
    released: usize,
    tail_cache: usize,
}

impl RingRx {
    /// The next published frame's bytes, from its header to the end of what is
    /// published in one contiguous run (the caller decodes one frame and calls
    /// [`RingRx::consume`] with its length). `None` when nothing is published.
    #[inline]
    pub fn peek(&mut self) -> Option<&[u8]> {
        let cap = self.shared.cap;
        loop {
            if self.head == self.tail_cache {
                self.tail_cache = self.shared.tail.load(Ordering::Acquire);
                if self.head == self.tail_cache {
                    return None;
                }
            }
            let pos = self.head & (cap - 1);
            let base = self.shared.buf.as_ptr();
            // SAFETY: `pos` is in bounds, 16-aligned with 16 bytes left (R4), and
            // published (head < tail_cache) so the producer wrote it before the
            // Release store we loaded with Acquire (R3).
            let first = unsafe { base.add(pos).cast::<u32>().read() };
            if first == WRAP_MARKER {
                self.head += cap - pos;
                continue;
            }
            let run = (self.tail_cache - self.head).min(cap - pos);
            // SAFETY: `[pos, pos + run)` is in bounds and published (R2, R3); the
            // producer will not write it until we release it (R2).
            return Some(unsafe { std::slice::from_raw_parts(base.add(pos), run) });
        }
    }

    /// Marks `n` bytes at the head as read (not yet released to the producer).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        debug_assert!(self.head + n <= self.tail_cache);
        self.head += n;
    }

    /// Gives consumed bytes back to the producer. Returns whether any were.
    #[inline]
    pub fn release(&mut self) -> bool {
        if self.released == self.head {
            return false;
        }
        self.shared.head.store(self.head, Ordering::Release);
        self.released = self.head;
        true
    }

    /// Whether a published frame is waiting (re-reads the producer's index).
    pub fn has_published(&mut self) -> bool {
        self.tail_cache = self.shared.tail.load(Ordering::Acquire);
        self.head != self.tail_cache
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
