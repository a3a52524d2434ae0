//! CPU sets: parsing lists such as `0-3,6`, formatting them compactly, reading the CPUs
//! this process may run on, and choosing the worker and control CPUs from them.
//!
//! Owns: the grammar of a CPU list (comma-separated items, each a CPU number or an
//! inclusive range `a-b`, whitespace around items and numbers tolerated), the one call
//! to `sched_getaffinity`, and the CPU rules listed in `config`'s module docs.
//!
//! Must never: allocate without bound on hostile input, hand back a CPU twice, or accept
//! one outside the allowed set. CPU numbers above [`CPU_NUMBER_MAX`] are refused before
//! any range is expanded, so a list expands to at most 65 536 entries before its first
//! duplicate is caught.
//!
//! # Safety rules
//!
//! - R1: the buffer handed to `sched_getaffinity` is a live `Vec<c_ulong>` borrowed
//!   mutably for the whole call, at least `cpusetsize` bytes long and aligned for
//!   `c_ulong`, the kernel's cpumask word (and `cpu_set_t`'s element type).
//! - R2: the buffer is zero-initialised before the call, so every word read afterwards
//!   is initialised whatever the kernel wrote.

use std::collections::HashSet;
use std::io;
use std::mem::size_of;

use libc::c_ulong;

use super::{ConfigError, EnvSource, CONTROL_VAR, CORES_VAR, WORKER_CPUS_MAX};

/// The largest CPU number a list may name. Linux's own limit (`CONFIG_NR_CPUS`) is
/// 8192 on common distribution kernels; 65 535 leaves room and bounds range expansion.
pub(crate) const CPU_NUMBER_MAX: usize = 65_535;

/// Why a CPU list spec was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CpuListError {
    /// The spec is empty or only whitespace.
    Empty,
    /// The spec does not follow the grammar; the string says where and why.
    Malformed(String),
    /// The spec names this CPU more than once (directly or through overlapping ranges).
    Duplicate(usize),
}

/// Parses a CPU list such as `0-3,6` or `0, 2-3` into CPU numbers, in the order listed.
///
/// Ranges are inclusive. Empty items (`0,,1`, a trailing comma), reversed ranges
/// (`3-1`), numbers above [`CPU_NUMBER_MAX`] and repeated CPUs are errors.
pub(crate) fn parse_cpu_list(spec: &str) -> Result<Vec<usize>, CpuListError> {
    if spec.trim().is_empty() {
        return Err(CpuListError::Empty);
    }
    let mut seen = CpuBitmap::new();
    let mut cpus = Vec::new();
    for (index, item) in spec.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err(CpuListError::Malformed(format!("item {} is empty", index + 1)));
        }
        let (start, end) = match item.split_once('-') {
            Some((start, end)) => {
                let (start, end) = (start.trim(), end.trim());
                if start.is_empty() {
                    return Err(CpuListError::Malformed(format!("range {item:?} has no start")));
                }
                if end.is_empty() {
                    return Err(CpuListError::Malformed(format!("range {item:?} has no end")));
                }
                (
                    parse_cpu(start).map_err(CpuListError::Malformed)?,
                    parse_cpu(end).map_err(CpuListError::Malformed)?,
                )
            }
            None => {
                let cpu = parse_cpu(item).map_err(CpuListError::Malformed)?;
                (cpu, cpu)
            }
        };
        if end < start {
            return Err(CpuListError::Malformed(format!("range end {end} is below its start {start}")));
        }
        // Both ends are at most CPU_NUMBER_MAX, so this loop runs at most 65 536 times
        // over the whole list before `seen` reports a duplicate.
        for cpu in start..=end {
            if !seen.insert(cpu) {
                return Err(CpuListError::Duplicate(cpu));
            }
            cpus.push(cpu);
        }
    }
    Ok(cpus)
}

/// Parses one CPU number: ASCII digits only, at most [`CPU_NUMBER_MAX`]. The caller
/// trims whitespace. The error is a reason fit for `ConfigError::Malformed`.
pub(crate) fn parse_cpu(text: &str) -> Result<usize, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a CPU number"));
    }
    match text.parse::<usize>() {
        Ok(cpu) if cpu <= CPU_NUMBER_MAX => Ok(cpu),
        // All digits, so the only failure left is a number too large for usize.
        _ => Err(format!("CPU {text} is above the largest supported CPU number {CPU_NUMBER_MAX}")),
    }
}

/// Formats CPUs in the given order, folding each ascending run of three or more
/// consecutive numbers into a range: `[0, 1, 2, 3, 6]` becomes `0-3,6`, `[0, 1]` stays
/// `0,1`.
pub(crate) fn format_cpu_list(cpus: &[usize]) -> String {
    let mut pieces = Vec::new();
    let mut rest = cpus;
    while let Some((&start, _)) = rest.split_first() {
        // `run` counts the CPUs in the ascending run that begins at `start`.
        let mut run = 1;
        while let (Some(&prev), Some(&next)) = (rest.get(run - 1), rest.get(run)) {
            if prev.checked_add(1) != Some(next) {
                break;
            }
            run += 1;
        }
        if run >= 3 {
            pieces.push(format!("{start}-{}", start + (run - 1)));
        } else {
            pieces.extend(rest[..run].iter().map(usize::to_string));
        }
        rest = &rest[run..];
    }
    pieces.join(",")
}

/// Reads the CPUs the calling thread may run on, ascending, via
/// `sched_getaffinity(0, …)`. Called from `ConfigBuilder::build` before any thread is
/// pinned, this is the process's allowed set (taskset, cgroup cpuset).
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    const WORD_BITS: usize = c_ulong::BITS as usize;
    // Start at glibc's `cpu_set_t` (1024 CPUs); the kernel answers EINVAL when the buffer
    // is smaller than its own CPU count, so grow until it fits or passes CPU_NUMBER_MAX.
    let mut words = size_of::<libc::cpu_set_t>() / size_of::<c_ulong>();
    loop {
        let mut mask: Vec<c_ulong> = vec![0; words];
        let bytes = words * size_of::<c_ulong>();
        // SAFETY:
        // - `mask` is a live, mutably borrowed allocation of exactly `bytes` bytes,
        //   aligned for `c_ulong`, the element type of `cpu_set_t` and of the kernel's
        //   cpumask (R1); the kernel and glibc write at most `bytes` bytes through it.
        // - `mask` was zero-initialised by `vec!`, so reading it afterwards reads
        //   initialised memory however much the kernel wrote (R2).
        // - pid 0 names the calling thread, which exists for the duration of the call.
        let rc = unsafe { libc::sched_getaffinity(0, bytes, mask.as_mut_ptr().cast()) };
        if rc == 0 {
            let cpus = mask
                .iter()
                .enumerate()
                .flat_map(|(index, &word)| {
                    (0..WORD_BITS)
                        .filter(move |bit| (word >> bit) & 1 == 1)
                        .map(move |bit| index * WORD_BITS + bit)
                })
                .collect();
            return Ok(cpus);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINVAL) && words * WORD_BITS <= CPU_NUMBER_MAX {
            words *= 2;
            continue;
        }
        return Err(err);
    }
}

/// Chooses and validates the worker and control CPUs: each from the builder if given,
/// else from its variable if set, else by the defaults in `config`'s module docs.
/// Returns `(workers, control)`.
pub(super) fn choose(
    cores: Option<Vec<usize>>,
    control_core: Option<usize>,
    allowed: Option<Vec<usize>>,
    env: &EnvSource,
) -> Result<(Vec<usize>, usize), ConfigError> {
    let allowed = resolve_allowed(allowed)?;
    let workers = match cores {
        Some(cpus) => Some(check_builder_cores(cpus, &allowed)?),
        None => match env.get(CORES_VAR)? {
            Some(text) => Some(parse_env_cores(&text, &allowed)?),
            None => None,
        },
    };
    let control = match control_core {
        Some(cpu) => Some(check_allowed("ConfigBuilder::control_core", cpu, &cpu.to_string(), &allowed)?),
        None => match env.get(CONTROL_VAR)? {
            Some(text) => Some(parse_env_control(&text, &allowed)?),
            None => None,
        },
    };
    Ok(layout(&allowed, workers, control))
}

/// The allowed CPUs (injected, else this process's), ascending, no repeats, never empty.
fn resolve_allowed(injected: Option<Vec<usize>>) -> Result<Vec<usize>, ConfigError> {
    let was_injected = injected.is_some();
    let mut allowed = match injected {
        Some(cpus) => cpus,
        None => allowed_cpus().map_err(|err| ConfigError::AffinityUnavailable { reason: err.to_string() })?,
    };
    allowed.sort_unstable();
    allowed.dedup();
    if allowed.is_empty() {
        return Err(if was_injected {
            ConfigError::Empty { var: "ConfigBuilder::allowed_cpus".to_owned() }
        } else {
            ConfigError::AffinityUnavailable { reason: "the kernel reported no CPUs".to_owned() }
        });
    }
    Ok(allowed)
}

/// Picks the worker and control CPUs from what was given (already validated) and the
/// allowed set (ascending, non-empty); see the module docs for the rules.
fn layout(allowed: &[usize], workers: Option<Vec<usize>>, control: Option<usize>) -> (Vec<usize>, usize) {
    // `allowed` is never empty (resolve_allowed refuses that), so the default is unused.
    let last_allowed = allowed.last().copied().unwrap_or_default();
    match (workers, control) {
        (Some(workers), Some(control)) => (workers, control),
        (Some(workers), None) => {
            let taken: HashSet<usize> = workers.iter().copied().collect();
            let control = match allowed.iter().find(|cpu| !taken.contains(cpu)) {
                Some(&free) => free,
                // Every allowed CPU is a worker: share the last worker's.
                None => workers.last().copied().unwrap_or(last_allowed),
            };
            (workers, control)
        }
        (None, Some(control)) => {
            let others: Vec<usize> = allowed.iter().copied().filter(|&cpu| cpu != control).collect();
            let workers = if others.len() >= 2 { others } else { allowed.to_vec() };
            (cap_workers(workers), control)
        }
        (None, None) => {
            let workers =
                if allowed.len() >= 3 { allowed[..allowed.len() - 1].to_vec() } else { allowed.to_vec() };
            (cap_workers(workers), last_allowed)
        }
    }
}

/// Default worker lists keep the first [`WORKER_CPUS_MAX`] CPUs on larger machines.
fn cap_workers(mut workers: Vec<usize>) -> Vec<usize> {
    workers.truncate(WORKER_CPUS_MAX);
    workers
}

fn check_builder_cores(cpus: Vec<usize>, allowed: &[usize]) -> Result<Vec<usize>, ConfigError> {
    const METHOD: &str = "ConfigBuilder::cores";
    if cpus.is_empty() {
        return Err(ConfigError::Empty { var: METHOD.to_owned() });
    }
    let value = format_cpu_list(&cpus);
    check_count(METHOD, &value, cpus.len())?;
    let mut seen = HashSet::with_capacity(cpus.len());
    if let Some(&cpu) = cpus.iter().find(|&&cpu| !seen.insert(cpu)) {
        return Err(ConfigError::DuplicateCpu { var: METHOD.to_owned(), value, cpu });
    }
    check_all_allowed(METHOD, &value, &cpus, allowed)?;
    Ok(cpus)
}

fn parse_env_cores(text: &str, allowed: &[usize]) -> Result<Vec<usize>, ConfigError> {
    let cpus = parse_cpu_list(text).map_err(|err| match err {
        CpuListError::Empty => ConfigError::Empty { var: CORES_VAR.to_owned() },
        CpuListError::Malformed(reason) => {
            ConfigError::Malformed { var: CORES_VAR.to_owned(), value: text.to_owned(), reason }
        }
        CpuListError::Duplicate(cpu) => {
            ConfigError::DuplicateCpu { var: CORES_VAR.to_owned(), value: text.to_owned(), cpu }
        }
    })?;
    check_count(CORES_VAR, text, cpus.len())?;
    check_all_allowed(CORES_VAR, text, &cpus, allowed)?;
    Ok(cpus)
}

fn parse_env_control(text: &str, allowed: &[usize]) -> Result<usize, ConfigError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Empty { var: CONTROL_VAR.to_owned() });
    }
    let cpu = parse_cpu(trimmed).map_err(|reason| ConfigError::Malformed {
        var: CONTROL_VAR.to_owned(),
        value: text.to_owned(),
        reason,
    })?;
    check_allowed(CONTROL_VAR, cpu, text, allowed)
}

fn check_count(var: &str, value: &str, count: usize) -> Result<(), ConfigError> {
    if count > WORKER_CPUS_MAX {
        return Err(ConfigError::TooManyCpus {
            var: var.to_owned(),
            value: value.to_owned(),
            count,
            max: WORKER_CPUS_MAX,
        });
    }
    Ok(())
}

fn check_all_allowed(var: &str, value: &str, cpus: &[usize], allowed: &[usize]) -> Result<(), ConfigError> {
    for &cpu in cpus {
        check_allowed(var, cpu, value, allowed)?;
    }
    Ok(())
}

/// `allowed` is ascending.
fn check_allowed(var: &str, cpu: usize, value: &str, allowed: &[usize]) -> Result<usize, ConfigError> {
    if allowed.binary_search(&cpu).is_err() {
        return Err(ConfigError::CpuNotAllowed {
            var: var.to_owned(),
            value: value.to_owned(),
            cpu,
            allowed: allowed.to_vec(),
        });
    }
    Ok(cpu)
}

/// A fixed bitmap over CPU numbers `0..=CPU_NUMBER_MAX` (8 KiB).
struct CpuBitmap {
    words: Vec<u64>,
}

impl CpuBitmap {
    fn new() -> Self {
        Self { words: vec![0; (CPU_NUMBER_MAX + 1) / 64] }
    }

    /// Marks `cpu` (at most CPU_NUMBER_MAX); returns false when it was already marked.
    fn insert(&mut self, cpu: usize) -> bool {
        let bit = 1u64 << (cpu % 64);
        match self.words.get_mut(cpu / 64) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                true
            }
            Some(_) => false,
            // Out of the bitmap's range: parse_cpu refuses such numbers first.
            None => false,
        }
    }
}
