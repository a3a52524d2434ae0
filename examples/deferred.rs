//! Deferred replies, timers and `lookup_wait` on one node.
//!
//! ```text
//! cargo run --example deferred
//! ```
//!
//! A `Batcher` takes each `Get` ask's reply for later (`ctx.reply_later`) and
//! answers all the held asks together on its next `Flush` tick
//! (`ctx.interval`), while it goes on handling messages. The main thread finds
//! it by name with `lookup_wait`, started before the name is published.

use std::time::Duration;

use coremesh::{Actor, Config, CoreId, Ctx, Handler, Node, ReplyTo};

/// Asks for the batch number this ask is answered in.
#[coremesh::message_type("example.Get")]
struct Get;
/// The batcher's own tick.
#[coremesh::message_type("example.Flush")]
#[derive(Clone)]
struct Flush;

struct Batcher {
    batch: u64,
    held: Vec<ReplyTo<u64>>,
}
impl Actor for Batcher {
    async fn started(&mut self, ctx: &mut Ctx<Self>) -> Result<(), coremesh::InitError> {
        // Ends by itself when the actor stops.
        ctx.interval(Flush, Duration::from_millis(20));
        Ok(())
    }
}
impl Handler<Get> for Batcher {
    type Reply = u64;
    fn handle(&mut self, _msg: &ArchivedGet, ctx: &mut Ctx<Self>) -> u64 {
        match ctx.reply_later::<Get>() {
            Some(port) => {
                self.held.push(port);
                0 // not sent: the reply was taken for later
            }
            None => self.batch, // a tell: nobody waits
        }
    }
}
impl Handler<Flush> for Batcher {
    type Reply = ();
    fn handle(&mut self, _msg: &ArchivedFlush, _ctx: &mut Ctx<Self>) {
        self.batch += 1;
        for port in self.held.drain(..) {
            // An error only says that asker gave up (its deadline passed).
            let _ = port.reply(self.batch);
        }
    }
}
coremesh::handlers!(Batcher: Get, Flush);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    coremesh::logs::init_from_env()?;
    // One node that joins no cluster: development mode, so no cookie is
    // needed (a cluster's nodes share a cookie of 16 or more random bytes).
    let node = Node::start(Config::builder().dev_mode(true).build()?)?;
    let handle = node.handle();
    let me = node.id();
    // Started before the name exists: the node holds it until `publish`.
    let finding = std::thread::spawn(move || {
        handle.lookup_wait::<Batcher>(me, "batcher", Duration::from_secs(5)).wait()
    });
    let batcher = node.spawn_on(CoreId(0), || Batcher { batch: 0, held: Vec::new() }).wait()?;
    node.publish("batcher", &batcher);
    let found = finding.join().expect("the lookup thread")?;
    let asks: Vec<_> = (0..4).map(|_| node.ask(&found, Get).timeout(Duration::from_secs(5))).collect();
    for (i, ask) in asks.into_iter().enumerate() {
        println!("ask {i} answered in batch {}", ask.wait()?);
    }
    node.shutdown()?;
    Ok(())
}
