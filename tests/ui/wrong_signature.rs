// A handler that takes its message by value instead of reading it in place, and an
// async handler that borrows its message: each is an error naming what to write.
use coremesh::{Ctx, Owned};

#[coremesh::message_type("ui.Add")]
struct Add {
    n: u64,
}
#[coremesh::message_type("ui.Fetch")]
struct Fetch;

struct Counter {
    total: u64,
}

#[coremesh::actor]
impl Counter {
    #[handle]
    fn add(&mut self, msg: Add, _ctx: &mut Ctx<Self>) -> u64 {
        self.total += msg.n;
        self.total
    }

    #[handle]
    async fn fetch(&mut self, _msg: &ArchivedFetch) -> u64 {
        self.total
    }

    #[handle]
    fn get(&self, _msg: Owned<Add>) -> u64 {
        self.total
    }
}

fn main() {}
