#[path = "../tests/common/mod.rs"]
mod common;
use common::*;
use coremesh::CoreId;
use std::sync::Arc;
use std::time::Duration;
fn main() {
    let node = node();
    println!("cores {}", node.cores());
    let hooks = Arc::new(Hooks::default());
    let h = hooks.clone();
    let r = node.spawn_on(CoreId(0), move || Counter::new(h)).wait().unwrap();
    r.tell(Add { n: 1 }).unwrap();
    let t = node.ask(&r, Add { n: 2 }).timeout(Duration::from_secs(1)).wait();
    println!("total {t:?}");
    let h = hooks.clone();
    let r1 = node.spawn_on(CoreId(1), move || Counter::new(h)).wait().unwrap();
    let got = node
        .run_on(CoreId(0), move || {
            let core_res = glommio::spawn_local(async move {
                for i in 0..10u64 {
                    r1.tell(Add { n: i }).unwrap();
                }
                r1.ask(Add { n: 0 }).timeout(Duration::from_secs(1)).await
            });
            core_res.detach();
        })
        .wait();
    println!("{got:?}");
    std::thread::sleep(Duration::from_millis(100));
    println!("r1 total {:?}", node.ask(&r1, Get).wait());
    node.shutdown().unwrap();
    println!(
        "hooks {} {} {}",
        hooks.started.load(std::sync::atomic::Ordering::SeqCst),
        hooks.stopping.load(std::sync::atomic::Ordering::SeqCst),
        hooks.stopped.load(std::sync::atomic::Ordering::SeqCst)
    );
}
