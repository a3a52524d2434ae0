//! A peer that sends asks and never reads the replies, for many seconds and
//! over and over (it reconnects each time the node cuts it off), against a
//! node in this process: the process's memory stays under a documented bound
//! (each connection's replies may take twice the link bound, then the
//! connection is closed as too slow) and another peer is served throughout.
//!
//! By default the attack runs until the node has cut the attacker off twice
//! (at most 120 s); `SLOW_READER_SECS` runs it for that long instead. The
//! test prints the resident set at each 10 s mark and at the end, which is
//! how the figures in the issue note were taken (`SLOW_READER_SECS=60 cargo
//! test --test slow_reader -- --nocapture`).

mod raw_peer;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raw_peer::*;

/// The bound the test holds the node to: growth of the resident set over the
/// whole attack. One attacking connection at a time may hold two link bounds
/// of replies (2 × 4 MiB) plus its receive buffer and the kernel's socket
/// buffers; 64 MiB leaves room for the allocator keeping freed pages.
const RSS_GROWTH_MAX_KB: u64 = 64 * 1024;

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB")
}

#[test]
fn a_peer_that_never_reads_costs_bounded_memory_and_others_are_served() {
    let secs: Option<u64> = std::env::var("SLOW_READER_SECS").ok().and_then(|s| s.parse().ok());
    let limit = Duration::from_secs(secs.unwrap_or(120));
    let fx = Arc::new(fixture(|b| b));
    // Warm up: the node's and this process's steady allocations.
    let mut good = fx.client();
    assert_eq!(good.ask_add(&fx, 1, 0), Answer::Reply(0));
    let before_kb = rss_kb();
    let start_closed = fx.stats().slow_links_closed;

    let stop = Arc::new(AtomicBool::new(false));
    let sent_mb = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (fx, stop, sent_mb) = (fx.clone(), stop.clone(), sent_mb.clone());
        std::thread::spawn(move || {
            let p = add_payload(0);
            let mut reconnects = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let c = fx.client();
                let batch: Vec<u8> =
                    (0..4096u64).flat_map(|i| c.ask(fx.ask_header(i + 1, p.len()), &p)).collect();
                let mut stream = c.stream;
                stream.set_write_timeout(Some(Duration::from_secs(2))).expect("write timeout");
                let mut bytes = 0u64;
                while !stop.load(Ordering::Relaxed) && stream.write_all(&batch).is_ok() {
                    bytes += batch.len() as u64;
                }
                sent_mb.fetch_add(bytes >> 20, Ordering::Relaxed);
                reconnects += 1;
            }
            reconnects
        })
    };

    let t0 = Instant::now();
    let mut corr = 2;
    let mut peak_kb = before_kb;
    let mut next_mark = 10;
    let closed_now = || fx.stats().slow_links_closed - start_closed;
    while t0.elapsed() < limit && (secs.is_some() || closed_now() < 2) {
        // Another peer is served throughout (`ask_add` fails the test after
        // its own 10 s bound).
        assert_eq!(good.ask_add(&fx, corr, 0), Answer::Reply(0), "the good peer was not served");
        corr += 1;
        let now_kb = rss_kb();
        peak_kb = peak_kb.max(now_kb);
        if t0.elapsed() >= Duration::from_secs(next_mark) {
            println!(
                "at {next_mark:>3} s: RSS {now_kb} kB (+{} kB), peak +{} kB",
                now_kb - before_kb.min(now_kb),
                peak_kb - before_kb
            );
            next_mark += 10;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let reconnects = attacker.join().expect("the attacker thread");
    let after_kb = rss_kb();
    peak_kb = peak_kb.max(after_kb);
    let closed = fx.stats().slow_links_closed - start_closed;
    println!(
        "after {:.0} s: RSS {after_kb} kB, growth {} kB, peak growth {} kB; the attacker sent {} MB over {reconnects} connections, {closed} closed as too slow",
        t0.elapsed().as_secs_f64(),
        after_kb.saturating_sub(before_kb),
        peak_kb - before_kb,
        sent_mb.load(Ordering::Relaxed)
    );
    assert!(closed > u64::from(secs.is_none()), "the node did not cut the slow reader off: {:?}", fx.stats());
    assert!(
        peak_kb - before_kb < RSS_GROWTH_MAX_KB,
        "the resident set grew by {} kB (bound {RSS_GROWTH_MAX_KB} kB)",
        peak_kb - before_kb
    );
    drop(good);
    let fx = Arc::into_inner(fx).expect("the attacker dropped its handle");
    fx.done(0);
}
