//! A network partition, made for real: two network namespaces joined by a veth
//! pair, one `coremesh-node` in each, then iptables DROP between them. Each
//! side must declare the other down; once the rules are removed the two must
//! find each other again (foca re-announces to members it declared down).
//!
//! The test makes and removes everything it uses (namespaces named after its
//! pid, so parallel runs do not collide) and is skipped, with the reason
//! printed, where it cannot: not root, or `ip` / `iptables` missing (`.ci/run`
//! installs them). Every wait has a deadline.

#[path = "fixture/procs.rs"]
mod procs;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");
const T: Duration = Duration::from_secs(30);

/// Runs a command, returning its error output on failure.
fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Two namespaces joined by veth, removed on drop.
struct Net {
    ns: [String; 2],
    ips: [&'static str; 2],
}

impl Net {
    fn make() -> Result<Net, String> {
        let pid = std::process::id();
        let net = Net { ns: [format!("cmpa{pid}"), format!("cmpb{pid}")], ips: ["10.213.0.1", "10.213.0.2"] };
        let veth = [format!("cva{}", pid % 1_000_000), format!("cvb{}", pid % 1_000_000)];
        for ns in &net.ns {
            run(&["ip", "netns", "add", ns])?;
        }
        run(&["ip", "link", "add", &veth[0], "type", "veth", "peer", "name", &veth[1]])?;
        for ((dev, ns), ip) in veth.iter().zip(&net.ns).zip(net.ips) {
            run(&["ip", "link", "set", dev, "netns", ns])?;
            run(&["ip", "-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Drops (or, with `heal`, stops dropping) everything between the two.
    fn partition(&self, heal: bool) -> Result<(), String> {
        let op = if heal { "-D" } else { "-A" };
        run(&["ip", "netns", "exec", &self.ns[0], "iptables", op, "INPUT", "-s", self.ips[1], "-j", "DROP"])?;
        run(&["ip", "netns", "exec", &self.ns[0], "iptables", op, "OUTPUT", "-d", self.ips[1], "-j", "DROP"])
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.ns {
            // Removing a namespace removes its end of the veth pair, and so both.
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// A node in a namespace and the lines it prints.
struct Proc {
    child: Child,
    id: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn start(ns: &str, listen: &str, seed: Option<&str>) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, NODE, "serve"]).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for var in [
            "COREMESH_CORES",
            "COREMESH_CONTROL_CORE",
            "COREMESH_COOKIE",
            "COREMESH_CLUSTER",
            "COREMESH_SEEDS",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("COREMESH_DEV", "1")
            .env("COREMESH_LISTEN", listen)
            .env("COREMESH_HEARTBEAT_MS", "300")
            .env("COREMESH_CONNECTION_TIMEOUT_MS", "1500");
        if let Some(s) = seed {
            cmd.env("COREMESH_SEEDS", s);
        }
        let mut child = cmd.spawn().expect("spawn coremesh-node in a namespace");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = procs::lines_of(stdout);
        let ready = lines.recv_timeout(T).expect("a ready line");
        let id = ready.split_whitespace().nth(1).expect("ready <id>").to_string();
        Proc { child, id, lines, seen: Vec::new() }
    }

    /// Waits until `member <what> <id>` has been printed `times` times in all.
    fn saw_n(&mut self, what: &str, id: &str, times: usize) -> bool {
        let want = format!("member {what} {id}");
        let deadline = Instant::now() + T;
        loop {
            if self.seen.iter().filter(|l| **l == want).count() >= times {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return false,
            }
        }
    }
}

#[test]
fn each_side_of_a_partition_sees_the_other_down_and_they_converge_after_it_heals() {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: making network namespaces needs root");
        return;
    }
    if let Err(e) = run(&["iptables", "--version"]) {
        println!("skipped: iptables is not available ({e})");
        return;
    }
    let net = match Net::make() {
        Ok(n) => n,
        Err(e) => {
            println!("skipped: could not make network namespaces ({e})");
            return;
        }
    };
    let seed = format!("{}:7611", net.ips[0]);
    let mut a = Proc::start(&net.ns[0], &seed, None);
    let mut b = Proc::start(&net.ns[1], &format!("{}:7611", net.ips[1]), Some(&seed));
    let (ida, idb) = (a.id.clone(), b.id.clone());
    assert!(a.saw_n("up", &idb, 1) && b.saw_n("up", &ida, 1), "the two nodes never met");

    net.partition(false).expect("iptables DROP");
    let cut = Instant::now();
    assert!(a.saw_n("down", &idb, 1), "a never saw b down");
    assert!(b.saw_n("down", &ida, 1), "b never saw a down");
    println!("both sides saw the other down {:?} after the partition", cut.elapsed());

    net.partition(true).expect("iptables -D");
    let healed = Instant::now();
    assert!(a.saw_n("up", &idb, 2), "a never saw b again");
    assert!(b.saw_n("up", &ida, 2), "b never saw a again");
    println!("converged again {:?} after the partition healed", healed.elapsed());
    drop((a, b));
    drop(net);
}
