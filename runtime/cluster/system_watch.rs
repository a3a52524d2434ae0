//! The system actor's part in monitors and links: the requests that carry a
//! watch, its end, and a down report between cores and nodes.
//!
//! Owns: [`Watch`], [`Unwatch`] and [`Down`] (sent to the system actor of the
//! core the request is about: the watched actor's core for `Watch` and
//! `Unwatch`, the watcher's core for `Down`) and their handlers, which hand
//! them to the core's watch table (`crate::cluster::monitor`).
//!
//! Must never: act on a request that names an actor of another core or node
//! as the one this core should hold (a peer's bytes are validated by rkyv
//! before a handler sees them, but what they name is checked here), or block.

use rkyv::{Archive, Deserialize, Serialize};

use crate::actor::ctx::Ctx;
use crate::actor::down::{DownReason, Kind};
use crate::actor::Handler;
use crate::cluster::system::SystemActor;
use crate::ids::ActorId;

/// `watcher` monitors (or, `link`, is linked with) `target`, an actor of the
/// receiving core.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Watch {
    pub target: ActorId,
    pub watcher: ActorId,
    pub link: bool,
}

/// `watcher` no longer monitors (or is linked with) `target`, an actor of the
/// receiving core.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Unwatch {
    pub target: ActorId,
    pub watcher: ActorId,
    pub link: bool,
}

/// `target` is down; `watcher`, an actor of the receiving core, monitors it
/// (or, `link`, was linked with it).
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Down {
    pub target: ActorId,
    pub watcher: ActorId,
    pub link: bool,
    pub reason: DownReason,
}

crate::message!(Watch = "coremesh.sys.Watch", Unwatch = "coremesh.sys.Unwatch", Down = "coremesh.sys.Down");

fn kind(link: bool) -> Kind {
    if link {
        Kind::Link
    } else {
        Kind::Monitor
    }
}

/// Whether `actor`, named by a request as one of this core's, is; logs it if not.
fn names_this_core(ctx: &Ctx<SystemActor>, actor: ActorId, what: &str) -> bool {
    let here = ctx.core().is_here(actor);
    if !here {
        tracing::warn!(core = %ctx.core_id(), %actor, what, "watch request names an actor of another core; ignored");
    }
    here
}

impl Handler<Watch> for SystemActor {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedWatch, ctx: &mut Ctx<Self>) {
        let (target, watcher) = (msg.target.to_native(), msg.watcher.to_native());
        if names_this_core(ctx, target, "Watch") {
            ctx.core().watch_arrived(target, watcher, kind(msg.link));
        }
    }
}

impl Handler<Unwatch> for SystemActor {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedUnwatch, ctx: &mut Ctx<Self>) {
        let (target, watcher) = (msg.target.to_native(), msg.watcher.to_native());
        if names_this_core(ctx, target, "Unwatch") {
            ctx.core().unwatch_arrived(target, watcher, kind(msg.link));
        }
    }
}

impl Handler<Down> for SystemActor {
    type Reply = ();
    fn handle(&mut self, msg: &ArchivedDown, ctx: &mut Ctx<Self>) {
        let (target, watcher) = (msg.target.to_native(), msg.watcher.to_native());
        if names_this_core(ctx, watcher, "Down") {
            ctx.core().down_arrived(watcher, target, kind(msg.link), msg.reason.to_native());
        }
    }
}
