//! The replay guard of the gossip: [`ReplayGuard`].
//!
//! Owns: per sender, the highest packet number seen and which of the 64 before
//! it were seen, so a gossip packet is acted on at most once. Every packet a
//! node seals carries its node id and a number that grows by one per packet
//! (under the HMAC tag, `envelope.rs`); a node id is drawn anew at every
//! process start, so (node id, number) never repeats, and a captured packet
//! replayed later is dropped: it was seen, or it is older than the window.
//! Packets may arrive out of order within the window (UDP).
//!
//! Must never: accept one (sender, number) twice, or grow past
//! [`SENDERS_MAX`] senders (only cookie holders can make a packet whose tag
//! verifies, so the senders are the cluster's members).

use std::collections::HashMap;

use super::envelope::Stamp;

/// How many packet numbers before the highest one a sender's window keeps.
pub(crate) const WINDOW: u64 = 64;
/// How many senders the guard remembers; past it, the one heard from least
/// recently (by its own numbering) is forgotten.
pub(crate) const SENDERS_MAX: usize = 4096;

/// The packets seen from one sender.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The highest number seen.
    top: u64,
    /// Bit i: number `top - i` was seen.
    bits: u64,
}

/// Which gossip packets this node has acted on.
#[derive(Debug, Default)]
pub(crate) struct ReplayGuard {
    senders: HashMap<u64, Seen>,
}

impl ReplayGuard {
    /// Whether the packet `stamp` names is new: if so it is recorded.
    pub(crate) fn accept(&mut self, stamp: Stamp) -> bool {
        if !self.senders.contains_key(&stamp.sender) && self.senders.len() >= SENDERS_MAX {
            let oldest = self.senders.iter().min_by_key(|(_, s)| s.top).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.senders.remove(&k);
            }
        }
        let seen = self.senders.entry(stamp.sender).or_insert(Seen { top: stamp.seq, bits: 0 });
        if stamp.seq > seen.top {
            let shift = stamp.seq - seen.top;
            seen.bits = if shift >= WINDOW { 0 } else { seen.bits << shift };
            seen.top = stamp.seq;
        }
        let behind = seen.top - stamp.seq;
        if behind >= WINDOW || seen.bits & (1 << behind) != 0 {
            return false;
        }
        seen.bits |= 1 << behind;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(sender: u64, seq: u64) -> Stamp {
        Stamp { sender, seq }
    }

    #[test]
    fn each_packet_is_accepted_once_in_any_order_within_the_window() {
        let mut g = ReplayGuard::default();
        assert!(g.accept(s(1, 10)));
        assert!(!g.accept(s(1, 10)), "a replay");
        assert!(g.accept(s(1, 8)), "late but unseen");
        assert!(!g.accept(s(1, 8)));
        assert!(g.accept(s(1, 11)));
        assert!(g.accept(s(2, 10)), "another sender has its own numbers");
        assert!(g.accept(s(1, 11 + WINDOW - 1)));
        assert!(!g.accept(s(1, 11)), "seen, still inside the window");
        assert!(!g.accept(s(1, 9)), "older than the window: dropped even if unseen");
        assert!(g.accept(s(1, 1_000_000)), "a jump forward");
        assert!(!g.accept(s(1, 11 + WINDOW)), "far behind now");
    }

    #[test]
    fn the_guard_forgets_the_stalest_sender_past_its_bound() {
        let mut g = ReplayGuard::default();
        for sender in 0..SENDERS_MAX as u64 {
            assert!(g.accept(s(sender, sender + 1_000)));
        }
        assert!(g.accept(s(u64::MAX, 5)), "a new sender pushes out the stalest");
        assert_eq!(g.senders.len(), SENDERS_MAX);
        assert!(!g.senders.contains_key(&0));
        assert!(!g.accept(s(SENDERS_MAX as u64 - 1, SENDERS_MAX as u64 - 1 + 1_000)), "others are kept");
    }
}
