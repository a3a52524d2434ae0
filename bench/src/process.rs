//! The peer child processes of the benches: starting `coremesh-bench
//! raw-peer`, `peer` or `ractor-peer`, reading the address each prints in its
//! `listening <addr> ...` line, and stopping it.
//!
//! It owns the [`Child`] of each peer (killed and reaped on drop, so no
//! error path leaves one behind). It must never wait without a bound: the
//! listening line has [`PEER_START_TIMEOUT`], an exit has the caller's timeout.

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::raw::context;

/// How long a spawn waits for the peer's `listening` line.
pub const PEER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which peer a child process serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// `raw-peer`: the raw-TCP baselines; runs until killed.
    Raw,
    /// `peer`: a coremesh node; runs until its stdin closes.
    Coremesh,
    /// `ractor-peer`: a ractor_cluster node; runs until its stdin closes.
    Ractor,
}

impl PeerKind {
    /// The `coremesh-bench` subcommand that serves this kind.
    pub fn subcommand(self) -> &'static str {
        match self {
            PeerKind::Raw => "raw-peer",
            PeerKind::Coremesh => "peer",
            PeerKind::Ractor => "ractor-peer",
        }
    }
}

/// A peer child process; killed and reaped on drop.
pub struct PeerProcess {
    child: Child,
    addr: SocketAddr,
    /// Kept open so the peer never writes into a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
    /// A coremesh or ractor peer runs until this closes.
    stdin: Option<ChildStdin>,
}

impl PeerProcess {
    /// The address the peer printed in its `listening` line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the peer's stdin (a coremesh or ractor peer then shuts down
    /// cleanly and prints what it has to say at exit) and waits up to
    /// `timeout` for it to exit; kills it after that.
    pub fn finish(mut self, timeout: Duration) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                self.child.kill()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("peer did not exit within {timeout:?} of its stdin closing; killed"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds the `coremesh-bench` binary: the current executable itself, or a
/// file of that name in one of its three nearest parent directories (a bench
/// runs from `target/release/deps/`, the binary is in `target/release/`).
/// Benches and integration tests should prefer `env!("CARGO_BIN_EXE_coremesh-bench")`.
pub fn find_peer_exe() -> io::Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| context(e, "locating the current executable"))?;
    let name = format!("coremesh-bench{}", std::env::consts::EXE_SUFFIX);
    if exe.file_name().is_some_and(|f| f == name.as_str()) {
        return Ok(exe);
    }
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join(&name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no {name} next to {} (build it: cargo build -p coremesh-bench --release)", exe.display()),
    ))
}

/// Starts `exe <kind's subcommand> --listen <listen> [--cpu N] [extra...]`
/// and waits up to [`PEER_START_TIMEOUT`] for its `listening <addr> ...`
/// line. A coremesh or ractor peer gets a stdin pipe and runs until
/// [`PeerProcess::finish`] closes it (or is killed on drop).
pub fn spawn(
    exe: &Path,
    kind: PeerKind,
    listen: SocketAddr,
    cpu: Option<usize>,
    extra: &[&str],
) -> io::Result<PeerProcess> {
    let mut cmd = Command::new(exe);
    cmd.args([kind.subcommand(), "--listen", &listen.to_string()]);
    if let Some(cpu) = cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    cmd.args(extra);
    let stdin = if kind == PeerKind::Raw { Stdio::null() } else { Stdio::piped() };
    cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| context(e, &format!("starting {}", exe.display())))?;
    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    // From here on, dropping `peer` kills the child on every error path.
    let mut peer = PeerProcess { child, addr: listen, _stdout: None, stdin };
    let stdout = stdout.ok_or_else(|| io::Error::other("peer stdout was not captured"))?;

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let got = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send((got, reader));
    });
    let (line, reader) = match rx.recv_timeout(PEER_START_TIMEOUT) {
        Ok((got, reader)) => (got.map_err(|e| context(e, "reading the peer's listening line"))?, reader),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} printed no listening line within {PEER_START_TIMEOUT:?}", kind.subcommand()),
            ))
        }
    };
    peer._stdout = Some(reader);
    peer.addr = parse_listening(&line)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("peer said {line:?}")))?;
    Ok(peer)
}

/// Blocks until this process's stdin reaches its end (or fails): how every
/// peer learns that whoever started it is gone.
pub fn wait_for_stdin_eof() {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 512];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Runs `then` on a thread of its own once stdin reaches its end.
pub fn on_stdin_eof(then: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new().name("stdin-watch".into()).spawn(move || {
        wait_for_stdin_eof();
        then();
    })?;
    Ok(())
}

/// The address in a `listening <addr> [...]` line.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix("listening ")?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_of_every_peer_parse() {
        let a: SocketAddr = "127.0.0.1:7700".parse().expect("addr");
        assert_eq!(parse_listening("listening 127.0.0.1:7700\n"), Some(a));
        assert_eq!(parse_listening("listening 127.0.0.1:7700 00ff00ff00ff00ff\n"), Some(a));
        assert_eq!(parse_listening("listening nowhere"), None);
        assert_eq!(parse_listening("ready"), None);
    }
}
