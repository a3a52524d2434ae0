//! The watch table of one core: who watches each of its actors, what each of
//! them watches (actors anywhere, and nodes), and which of them trap link
//! failures. A state machine without I/O: every event comes in as a call, and
//! what must happen because of it comes out as [`Effect`]s for the caller
//! (`crate::cluster::monitor`) to carry out.
//!
//! Owns: [`WatchTable`], [`Kind`] and [`Effect`], and the link rule (a linked
//! peer's failure stops the actor unless it traps; a `Normal` stop does not).
//! Must never: send, spawn or touch an actor itself, keep an entry for an
//! actor that stopped, or report one watch twice (each report removes it).

use std::collections::{HashMap, HashSet};

use super::DownReason;
use crate::ids::{ActorId, CoreId, NodeId};

pub(crate) use crate::actor::down::Kind;

/// What the caller must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Deliver `ActorDown { actor, reason }` to `to`, an actor of this core.
    ActorDown { to: ActorId, actor: ActorId, reason: DownReason },
    /// Deliver `NodeDown { node }` to `to`, an actor of this core.
    NodeDown { to: ActorId, node: NodeId },
    /// Stop `actor` (of this core): its linked `peer` failed with `reason`.
    Kill { actor: ActorId, peer: ActorId, reason: DownReason },
    /// Tell `watcher`'s core (another core or node) that `target` is down.
    SendDown { watcher: ActorId, target: ActorId, kind: Kind, reason: DownReason },
    /// Tell `target`'s core (another core or node) that `watcher` dropped its watch.
    SendUnwatch { target: ActorId, watcher: ActorId, kind: Kind },
}

/// What the table holds for one actor of this core.
#[derive(Debug, Default)]
struct Entry {
    /// Actors (anywhere) that monitor this one.
    monitored_by: HashSet<ActorId>,
    /// Actors (anywhere) linked with this one; the peer holds the mirror entry.
    links: HashSet<ActorId>,
    /// Actors (anywhere) this one monitors.
    monitors: HashSet<ActorId>,
    /// Nodes this one monitors.
    nodes: HashSet<NodeId>,
    /// A linked peer's failure arrives as `ActorDown` instead of stopping it.
    trap: bool,
}

impl Entry {
    fn is_idle(&self) -> bool {
        !self.trap
            && self.monitored_by.is_empty()
            && self.links.is_empty()
            && self.monitors.is_empty()
            && self.nodes.is_empty()
    }
}

/// The watches of one core's actors.
#[derive(Debug)]
pub(crate) struct WatchTable {
    node: NodeId,
    core: CoreId,
    entries: HashMap<ActorId, Entry>,
    /// For each other node, the live entries of this core that name it (an
    /// actor there, or the node itself). May name more than that (a single
    /// watch that ends does not unindex its entry), never less; an entry that
    /// is forgotten leaves no line behind.
    by_node: HashMap<NodeId, HashSet<ActorId>>,
}

impl WatchTable {
    pub(crate) fn new(node: NodeId, core: CoreId) -> Self {
        WatchTable { node, core, entries: HashMap::new(), by_node: HashMap::new() }
    }

    /// Whether `actor` lives on this core.
    pub(crate) fn is_here(&self, actor: ActorId) -> bool {
        actor.node == self.node && actor.core == self.core
    }

    fn index(&mut self, node: NodeId, actor: ActorId) {
        if node != self.node {
            self.by_node.entry(node).or_default().insert(actor);
        }
    }

    /// Drops `actor`'s entry if nothing is left in it.
    fn tidy(&mut self, actor: ActorId) {
        if self.entries.get(&actor).is_some_and(Entry::is_idle) {
            self.forget(actor);
        }
    }

    /// Removes `actor`'s entry and every index line naming it (one set per
    /// node it watches or is watched from: a handful).
    fn forget(&mut self, actor: ActorId) -> Option<Entry> {
        let e = self.entries.remove(&actor)?;
        self.by_node.retain(|_, set| {
            set.remove(&actor);
            !set.is_empty()
        });
        Some(e)
    }

    /// `watcher` (of this core) starts watching `target` (anywhere). Returns
    /// false when it already did, so the request need not travel again.
    pub(crate) fn start_watching(&mut self, watcher: ActorId, target: ActorId, kind: Kind) -> bool {
        let e = self.entries.entry(watcher).or_default();
        let new = match kind {
            Kind::Monitor => e.monitors.insert(target),
            Kind::Link => e.links.insert(target),
        };
        if new {
            self.index(target.node, watcher);
        }
        new
    }

    /// `watcher` (of this core) stops watching `target`. Returns whether it did.
    pub(crate) fn stop_watching(&mut self, watcher: ActorId, target: ActorId, kind: Kind) -> bool {
        let Some(e) = self.entries.get_mut(&watcher) else { return false };
        let had = match kind {
            Kind::Monitor => e.monitors.remove(&target),
            Kind::Link => e.links.remove(&target),
        };
        self.tidy(watcher);
        had
    }

    /// A watch of `target`, a live actor of this core, by `watcher` (anywhere).
    pub(crate) fn watched(&mut self, target: ActorId, watcher: ActorId, kind: Kind) {
        let e = self.entries.entry(target).or_default();
        match kind {
            Kind::Monitor => e.monitored_by.insert(watcher),
            Kind::Link => e.links.insert(watcher),
        };
        self.index(watcher.node, target);
    }

    /// `watcher` no longer watches `target` (of this core).
    pub(crate) fn unwatched(&mut self, target: ActorId, watcher: ActorId, kind: Kind) {
        let Some(e) = self.entries.get_mut(&target) else { return };
        match kind {
            Kind::Monitor => e.monitored_by.remove(&watcher),
            Kind::Link => e.links.remove(&watcher),
        };
        self.tidy(target);
    }

    /// `target` (anywhere) went down; `watcher` (of this core) learns it. A
    /// report for a watch that no longer exists (dropped, or already reported)
    /// does nothing.
    pub(crate) fn down(
        &mut self,
        watcher: ActorId,
        target: ActorId,
        kind: Kind,
        reason: DownReason,
        fx: &mut Vec<Effect>,
    ) {
        let Some(e) = self.entries.get_mut(&watcher) else { return };
        match kind {
            Kind::Monitor => {
                if e.monitors.remove(&target) {
                    fx.push(Effect::ActorDown { to: watcher, actor: target, reason });
                }
            }
            Kind::Link => {
                if e.links.remove(&target) {
                    let trap = e.trap;
                    link_failed(watcher, target, reason, trap, fx);
                }
            }
        }
        self.tidy(watcher);
    }

    /// Reports `target` down to `watcher`: here at once, or through its core.
    fn notify(
        &mut self,
        watcher: ActorId,
        target: ActorId,
        kind: Kind,
        reason: DownReason,
        fx: &mut Vec<Effect>,
    ) {
        if self.is_here(watcher) {
            self.down(watcher, target, kind, reason, fx);
        } else {
            fx.push(Effect::SendDown { watcher, target, kind, reason });
        }
    }

    /// `actor` (of this core) stopped: report it to its monitors and linked
    /// peers, drop its own watches, forget it.
    pub(crate) fn stopped(&mut self, actor: ActorId, reason: &DownReason, fx: &mut Vec<Effect>) {
        let Some(e) = self.forget(actor) else { return };
        for w in sorted(e.monitored_by) {
            self.notify(w, actor, Kind::Monitor, reason.clone(), fx);
        }
        for p in sorted(e.links) {
            self.notify(p, actor, Kind::Link, reason.clone(), fx);
        }
        for t in sorted(e.monitors) {
            if self.is_here(t) {
                self.unwatched(t, actor, Kind::Monitor);
            } else {
                fx.push(Effect::SendUnwatch { target: t, watcher: actor, kind: Kind::Monitor });
            }
        }
    }

    /// `node` is down or left: every actor of this core that watches something
    /// there learns it (`ActorDown { reason: NodeDown }`, `NodeDown`, or the
    /// link rule), and every watch that names the node is forgotten. A second
    /// call for the same node finds nothing and does nothing.
    pub(crate) fn node_down(&mut self, node: NodeId, fx: &mut Vec<Effect>) {
        if node == self.node {
            return;
        }
        let Some(actors) = self.by_node.remove(&node) else { return };
        for a in sorted(actors) {
            let Some(e) = self.entries.get_mut(&a) else { continue };
            let monitors = take_where(&mut e.monitors, |t| t.node == node);
            let links = take_where(&mut e.links, |p| p.node == node);
            e.monitored_by.retain(|w| w.node != node);
            let watched_node = e.nodes.remove(&node);
            let trap = e.trap;
            for t in monitors {
                fx.push(Effect::ActorDown { to: a, actor: t, reason: DownReason::NodeDown });
            }
            for p in links {
                link_failed(a, p, DownReason::NodeDown, trap, fx);
            }
            if watched_node {
                fx.push(Effect::NodeDown { to: a, node });
            }
            self.tidy(a);
        }
    }

    /// `watcher` (of this core) monitors `node`. Returns false if it already did.
    pub(crate) fn monitor_node(&mut self, watcher: ActorId, node: NodeId) -> bool {
        let new = self.entries.entry(watcher).or_default().nodes.insert(node);
        if new {
            self.index(node, watcher);
        }
        new
    }

    /// `watcher` no longer monitors `node`.
    pub(crate) fn demonitor_node(&mut self, watcher: ActorId, node: NodeId) {
        if let Some(e) = self.entries.get_mut(&watcher) {
            e.nodes.remove(&node);
            self.tidy(watcher);
        }
    }

    /// Whether a linked peer's failure reaches `actor` as a message.
    pub(crate) fn set_trap(&mut self, actor: ActorId, trap: bool) {
        self.entries.entry(actor).or_default().trap = trap;
        self.tidy(actor);
    }

    /// How many actors monitor or are linked with `actor` (of this core).
    pub(crate) fn watchers_of(&self, actor: ActorId) -> usize {
        self.entries.get(&actor).map_or(0, |e| e.monitored_by.len() + e.links.len())
    }

    /// Whether the table holds nothing (the common case: checked first when
    /// an actor stops).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The link rule, for `actor` whose linked `peer` went down with `reason`.
fn link_failed(actor: ActorId, peer: ActorId, reason: DownReason, trap: bool, fx: &mut Vec<Effect>) {
    if trap {
        fx.push(Effect::ActorDown { to: actor, actor: peer, reason });
    } else if reason != DownReason::Normal {
        fx.push(Effect::Kill { actor, peer, reason });
    }
}

/// The set's items in order, so that effects come out the same way every run.
fn sorted<T: Ord>(set: HashSet<T>) -> Vec<T> {
    let mut v: Vec<T> = set.into_iter().collect();
    v.sort_unstable();
    v
}

fn take_where(set: &mut HashSet<ActorId>, pick: impl Fn(&ActorId) -> bool) -> Vec<ActorId> {
    let mut taken: Vec<ActorId> = set.iter().filter(|a| pick(a)).copied().collect();
    set.retain(|a| !pick(a));
    taken.sort_unstable();
    taken
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
