//! Heap allocations per received message in `coremesh-bench peer --count-allocs`:
//! a counting global allocator (installed by the binary, never by the benches)
//! and the bookkeeping the bench [`Sink`](crate::actors::Sink) does per message.
//!
//! It owns one process-wide allocation counter and the per-kind totals. While
//! counting is off (the default) [`note`] is one relaxed load and the
//! allocator one relaxed load per call. It must never allocate inside the
//! allocator or inside [`note`], and never report figures from a process in
//! which the counting allocator is not installed ([`start`] checks).
//!
//! Attribution: messages of one [`Kind`] that arrive back to back form a run;
//! when a message of another kind arrives, every allocation since the run's
//! first message (all threads of the process) is charged to the run. The last
//! run, still open at exit, is left out. So a figure is allocations per
//! message on the whole receive path (socket read, decode, validation,
//! dispatch, handler, and for asks the reply), an upper bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The system allocator, counting every allocation while counting is on.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees (valid, aligned, unaliased blocks) are
// passed through; the counting touches only two atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from
        // `System`) with `layout`, and that `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from
        // `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// What a received message was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Add { n: 0 }`, sent as an ask: receive, handle and reply.
    Ask = 0,
    /// `Add { n > 0 }`, sent as a tell.
    TellU64 = 1,
    /// `Kilo`, sent as a tell.
    Tell1k = 2,
}

const KINDS: [(Kind, &str); 3] =
    [(Kind::TellU64, "tell u64"), (Kind::Tell1k, "tell 1 KiB"), (Kind::Ask, "ask (receive + reply)")];

struct Runs {
    /// The open run: its kind, messages so far, the counter at its first message.
    open: Option<(Kind, u64, u64)>,
    /// Per kind (indexed by `Kind as usize`): messages and allocations of closed runs.
    closed: [(u64, u64); 3],
}

static RUNS: Mutex<Runs> = Mutex::new(Runs { open: None, closed: [(0, 0); 3] });

/// Turns counting on. Fails (and leaves it off) if the counting allocator is
/// not this process's global allocator.
pub fn start() -> Result<(), String> {
    COUNTING.store(true, Ordering::SeqCst);
    let before = ALLOCS.load(Ordering::SeqCst);
    drop(std::hint::black_box(Box::new(0u64)));
    if ALLOCS.load(Ordering::SeqCst) == before {
        COUNTING.store(false, Ordering::SeqCst);
        return Err("the counting allocator is not installed in this process".into());
    }
    Ok(())
}

/// Records one received message of `kind` (a no-op while counting is off).
pub fn note(kind: Kind) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    let now = ALLOCS.load(Ordering::Relaxed);
    let mut guard = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let runs = &mut *guard;
    match runs.open {
        Some((k, ref mut n, _)) if k == kind => *n += 1,
        Some((k, n, first)) => {
            let c = &mut runs.closed[k as usize];
            c.0 += n;
            c.1 += now - first;
            runs.open = Some((kind, 1, now));
        }
        None => runs.open = Some((kind, 1, now)),
    }
}

/// One line per kind that had a closed run: allocations per message.
pub fn report() -> String {
    let runs = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = String::new();
    for (kind, name) in KINDS {
        let (msgs, allocs) = runs.closed[kind as usize];
        if msgs > 0 {
            out.push_str(&format!(
                "allocs: {name}: {:.4} per received message ({allocs} allocations over {msgs} messages)\n",
                allocs as f64 / msgs as f64
            ));
        }
    }
    if out.is_empty() {
        out.push_str("allocs: no completed run of messages to report\n");
    }
    out
}
