//! What a core reports to the metrics endpoint: its gauges, read on the core.
//!
//! Owns: `CoreRt::sample`, run by the core's service task when a scrape sends
//! `Command::Sample`. Must never: run on a per-message path (it walks every
//! actor of the core), or change anything it reads.

use super::CoreRt;
use crate::metrics::CoreSample;

impl CoreRt {
    /// Live actors, mailbox occupancy, asks in flight and link occupancy now.
    pub(crate) fn sample(&self) -> CoreSample {
        let (mut mailbox_bytes, mut mailbox_bytes_max) = (0, 0);
        for slot in &self.actors.borrow().slots {
            if let Some(cell) = &slot.cell {
                if let Ok(mb) = cell.mailbox().try_borrow() {
                    mailbox_bytes += mb.queued_bytes();
                    mailbox_bytes_max = mailbox_bytes_max.max(mb.queued_bytes());
                }
            }
        }
        CoreSample {
            actors: self.live_actors(),
            mailbox_bytes,
            mailbox_bytes_max,
            asks_in_flight: self.pending.borrow().len(),
            links: self.transport.link_queues(),
        }
    }
}
