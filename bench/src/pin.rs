//! CPU pinning for the bench processes: which CPUs this process may use, and
//! pinning the calling thread to one of them (`sched_setaffinity`).
//!
//! It owns only the affinity mask of the calling thread. It must never change
//! another thread's or process's affinity, and never panics: failures come
//! back as `io::Error` naming the CPU.

use std::io;

/// CPUs one mask can name: 1024 bits, the same size as glibc's `cpu_set_t`.
const MASK_WORDS: usize = 1024 / 64;
const MAX_CPUS: usize = MASK_WORDS * 64;

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= MAX_CPUS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cpu {cpu} is out of range (at most {})", MAX_CPUS - 1),
        ));
    }
    let mut mask = [0u64; MASK_WORDS];
    mask[cpu / 64] |= 1 << (cpu % 64);
    // SAFETY: `mask` is a live, initialised buffer of exactly
    // `size_of_val(&mask)` bytes; the kernel only reads that many bytes from
    // it, and any bit pattern is a valid CPU mask. Pid 0 means the calling thread.
    let rc = unsafe {
        libc::sched_setaffinity(0, std::mem::size_of_val(&mask), mask.as_ptr().cast::<libc::cpu_set_t>())
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("pinning this thread to cpu {cpu}: {e}")));
    }
    Ok(())
}

/// The CPUs the calling thread may run on, ascending.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let mut mask = [0u64; MASK_WORDS];
    // SAFETY: `mask` is a live, writable buffer of exactly
    // `size_of_val(&mask)` bytes; the kernel writes at most that many bytes
    // into it, and every bit pattern is a valid `u64`.
    let rc = unsafe {
        libc::sched_getaffinity(0, std::mem::size_of_val(&mask), mask.as_mut_ptr().cast::<libc::cpu_set_t>())
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("reading this thread's cpu affinity: {e}")));
    }
    Ok((0..MAX_CPUS).filter(|&cpu| mask[cpu / 64] & (1 << (cpu % 64)) != 0).collect())
}
