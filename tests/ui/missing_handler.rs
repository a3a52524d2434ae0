// Asking an actor for a message it has no handler for names the actor and the message.
use coremesh::{ActorRef, Ctx, NodeHandle};

#[coremesh::message_type("ui.Add")]
struct Add {
    n: u64,
}
#[coremesh::message_type("ui.Get")]
struct Get;

struct Counter {
    total: u64,
}

#[coremesh::actor]
impl Counter {
    #[handle]
    fn add(&mut self, msg: &ArchivedAdd, _ctx: &mut Ctx<Self>) -> u64 {
        self.total += msg.n.to_native();
        self.total
    }
}

fn ask_get(node: &NodeHandle, counter: &ActorRef<Counter>) {
    let _ = node.ask(counter, Get).wait();
}

fn main() {}
