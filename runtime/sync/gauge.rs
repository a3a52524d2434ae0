//! Bounded gauges shared by a node's threads: how many of something are held
//! right now, never more than a bound.
//!
//! Owns: [`Gauge`] (one count, lock-free) and [`KeyedGauge`] (one count per key,
//! behind a mutex), and their permits, which give back what they hold when
//! dropped. The node's bounds on connections in the handshake are made of them
//! (`core/shared.rs`).
//!
//! Must never: be touched on a per-message path (a keyed gauge takes a lock),
//! let a count pass its bound, or keep a key whose count is zero (the map holds
//! only keys with something held, so its size is bounded by what is held).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How many are held, at most `max`; any thread may acquire and release.
#[derive(Debug)]
pub struct Gauge {
    held: AtomicUsize,
    max: usize,
}

impl Gauge {
    /// A gauge that holds at most `max`.
    pub fn new(max: usize) -> Gauge {
        Gauge { held: AtomicUsize::new(0), max }
    }

    /// Takes one if fewer than the bound are held.
    pub fn try_acquire(self: &Arc<Self>) -> Option<GaugePermit> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .ok()
            .map(|_| GaugePermit(self.clone()))
    }

    /// How many are held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// One unit of a [`Gauge`], given back on drop.
#[derive(Debug)]
pub struct GaugePermit(Arc<Gauge>);

impl Drop for GaugePermit {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many are held per key, at most `max_per_key` each.
#[derive(Debug)]
pub struct KeyedGauge<K> {
    held: Mutex<HashMap<K, usize>>,
    max_per_key: usize,
}

impl<K: Hash + Eq + Clone> KeyedGauge<K> {
    /// A gauge that holds at most `max_per_key` for each key.
    pub fn new(max_per_key: usize) -> KeyedGauge<K> {
        KeyedGauge { held: Mutex::new(HashMap::new()), max_per_key }
    }

    /// Takes one for `key` if fewer than the bound are held for it.
    pub fn try_acquire(self: &Arc<Self>, key: K) -> Option<KeyedPermit<K>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.get(&key).copied().unwrap_or(0);
        if n >= self.max_per_key {
            return None;
        }
        held.insert(key.clone(), n + 1);
        Some(KeyedPermit { gauge: self.clone(), key })
    }

    /// How many are held for `key` now.
    #[cfg(test)]
    pub fn held(&self, key: &K) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).get(key).copied().unwrap_or(0)
    }

    /// How many keys hold something now.
    #[cfg(test)]
    pub fn keys(&self) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One unit of a [`KeyedGauge`] for one key, given back on drop.
#[derive(Debug)]
pub struct KeyedPermit<K: Hash + Eq> {
    gauge: Arc<KeyedGauge<K>>,
    key: K,
}

impl<K: Hash + Eq> Drop for KeyedPermit<K> {
    fn drop(&mut self) {
        let mut held = self.gauge.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_stops_at_its_bound_and_frees_on_drop() {
        let g = Arc::new(Gauge::new(2));
        let a = g.try_acquire().expect("first");
        let b = g.try_acquire().expect("second");
        assert!(g.try_acquire().is_none(), "a third passes the bound of 2");
        assert_eq!(g.held(), 2);
        drop(a);
        let c = g.try_acquire().expect("room again after a drop");
        drop((b, c));
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn a_keyed_gauge_bounds_each_key_and_forgets_empty_keys() {
        let g = Arc::new(KeyedGauge::new(1));
        let a = g.try_acquire("a").expect("a");
        assert!(g.try_acquire("a").is_none(), "a second for `a` passes its bound of 1");
        let b = g.try_acquire("b").expect("another key has its own bound");
        // A refused acquire leaves no count behind.
        assert_eq!((g.held(&"a"), g.held(&"b"), g.keys()), (1, 1, 2));
        drop(a);
        assert_eq!((g.held(&"a"), g.keys()), (0, 1));
        drop(b);
        assert_eq!(g.keys(), 0);
    }

    #[test]
    fn a_gauge_never_passes_its_bound_across_threads() {
        let g = Arc::new(Gauge::new(3));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (g, most) = (g.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Some(p) = g.try_acquire() {
                            most.fetch_max(g.held(), Ordering::Relaxed);
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::Relaxed) <= 3);
        assert_eq!(g.held(), 0);
    }
}
