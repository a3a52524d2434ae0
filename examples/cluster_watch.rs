//! Starts a node (or joins a cluster through seeds) and prints membership
//! events as they happen, plus, every 10 s, the view and how much CPU the
//! control thread (SWIM and heartbeat bookkeeping) used.
//!
//! ```sh
//! export COREMESH_COOKIE=$(head -c 24 /dev/urandom | base64)  # the same in every shell
//! cargo run --release --example cluster_watch -- 127.0.0.1:5401                 # first node
//! cargo run --release --example cluster_watch -- 127.0.0.1:5402 127.0.0.1:5401  # joins it
//! ```
//! Any `COREMESH_*` variable applies too (`COREMESH_HEARTBEAT_MS`, ...). Stop
//! with Ctrl-C: the node leaves the cluster, and the others print `left`.

use std::time::{Duration, Instant};

use coremesh::{Config, MemberEvent, Node};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    coremesh::logs::init_from_env()?;
    let mut args = std::env::args().skip(1);
    let mut builder = Config::builder();
    if let Some(listen) = args.next() {
        builder = builder.listen(listen.parse().map_err(|e| format!("listen address {listen:?}: {e}"))?);
    }
    let seeds = args
        .map(|s| s.parse().map_err(|e| format!("seed address {s:?}: {e}")))
        .collect::<Result<Vec<std::net::SocketAddr>, String>>()?;
    if !seeds.is_empty() {
        builder = builder.seeds(seeds);
    }
    let node = Node::start(builder.build()?)?;
    println!("node {} listening on {}", node.id(), node.listen_addr());
    let events = node.subscribe();
    let handle = node.handle();
    let start = Instant::now();
    std::thread::spawn(move || {
        let mut last_report = Instant::now();
        let mut last_cpu = control_cpu_ticks();
        loop {
            if let Some(e) = events.next_timeout(Duration::from_millis(200)) {
                let (what, m) = match e {
                    MemberEvent::MemberUp(m) => ("up  ", m),
                    MemberEvent::MemberLeft(m) => ("left", m),
                    MemberEvent::MemberDown(m) => ("down", m),
                    MemberEvent::Lagged { missed } => {
                        println!("fell behind: {missed} events missed; {:?}", handle.cluster_state());
                        continue;
                    }
                };
                println!(
                    "{:>8.3}s  {what} {} at {} ({} cores)",
                    start.elapsed().as_secs_f64(),
                    m.node,
                    m.addr,
                    m.cores
                );
            }
            if last_report.elapsed() >= Duration::from_secs(10) {
                let cpu = control_cpu_ticks();
                let share = match (last_cpu, cpu) {
                    (Some(a), Some(b)) => format!(
                        "{:.2}%",
                        (b - a) as f64 / ticks_per_sec() / last_report.elapsed().as_secs_f64() * 100.0
                    ),
                    _ => "unknown".into(),
                };
                let up = handle.cluster_state().up_nodes().len();
                println!(
                    "{:>8.3}s  {up} members up; control thread CPU over the last 10 s: {share}",
                    start.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
                last_cpu = cpu;
            }
        }
    });
    node.run_until_signal()?;
    Ok(())
}

/// User plus system CPU ticks of this process's control thread, from /proc.
fn control_cpu_ticks() -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "coremesh-contro" {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
            let rest: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            return Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?);
        }
    }
    None
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf(3) has no memory preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}
