//! A hostile peer that is slow on purpose: connections opened from a chosen
//! loopback address (127.0.0.0/8 all reaches this host on Linux) that send a
//! valid handshake message one byte at a time, and note when the node closed
//! them. Shared by `tests/handshake_limits.rs` and `tests/handshake_flood.rs`.
#![allow(dead_code)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Connects to `to` from `from` (any 127.x.y.z address: the node sees it as
/// the source), waiting at most `limit` for the connect.
pub fn connect_from(from: Ipv4Addr, to: SocketAddr, limit: Duration) -> io::Result<TcpStream> {
    let SocketAddr::V4(to) = to else { panic!("an IPv4 address to connect to, not {to}") };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket just opened here and owned by nobody else; the
    // OwnedFd closes it on every path from now on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // On Linux SO_SNDTIMEO bounds a blocking connect too.
    let timeout = libc::timeval { tv_sec: limit.as_secs() as libc::time_t, tv_usec: 0 };
    let local = sockaddr(from, 0);
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: the option value points to a live `timeval` of the size given.
    let set = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `local` is a live sockaddr_in and `len` is its size.
    if unsafe { libc::bind(fd, (&raw const local).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loop {
        // SAFETY: `remote` is a live sockaddr_in and `len` is its size.
        if unsafe { libc::connect(fd, (&raw const remote).cast(), len) } == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let stream = TcpStream::from(owned);
    debug_assert_eq!(stream.as_raw_fd(), fd);
    Ok(stream)
}

/// One connection that sends `bytes` one at a time.
pub struct Conn {
    pub stream: TcpStream,
    bytes: Vec<u8>,
    sent: usize,
    /// When the connect returned (the node accepts it at about that time).
    pub opened: Instant,
    /// When this side first saw the node's close (EOF or reset).
    pub closed: Option<Instant>,
    /// What the node sent meanwhile.
    pub got: Vec<u8>,
}

impl Conn {
    /// `stream` (just connected) will send `bytes`, one per step.
    pub fn new(stream: TcpStream, bytes: Vec<u8>) -> Conn {
        stream.set_nonblocking(true).expect("a non-blocking socket");
        Conn { stream, bytes, sent: 0, opened: Instant::now(), closed: None, got: Vec::new() }
    }

    /// The same, counting its life from `at` (the connect, when it was made
    /// earlier than the trickle starts).
    pub fn opened_at(mut self, at: Instant) -> Conn {
        self.opened = at;
        self
    }

    /// Whether every byte went out (the trickle finished before the node closed).
    pub fn all_sent(&self) -> bool {
        self.sent == self.bytes.len()
    }

    /// How long the node kept it open, if it closed it.
    pub fn lived(&self) -> Option<Duration> {
        self.closed.map(|c| c - self.opened)
    }

    /// Reads what the node sent and notes its close. Returns whether the
    /// connection is still open.
    pub fn read(&mut self) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return self.close(),
                Ok(n) => self.got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.close(),
            }
        }
    }

    /// Notes a close by the node, else sends the next byte. Returns whether
    /// the connection is still open.
    pub fn step(&mut self) -> bool {
        if !self.read() {
            return false;
        }
        if self.sent < self.bytes.len() {
            match self.stream.write(&self.bytes[self.sent..=self.sent]) {
                Ok(n) => self.sent += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => return self.close(),
            }
        }
        true
    }

    fn close(&mut self) -> bool {
        self.closed = Some(Instant::now());
        false
    }
}

/// Steps every open connection every `every` until all are closed or `until`
/// passes. Returns how many are still open.
pub fn trickle(conns: &mut [Conn], every: Duration, until: Instant) -> usize {
    loop {
        let open = conns.iter_mut().map(Conn::step).filter(|&open| open).count();
        if open == 0 || Instant::now() >= until {
            return open;
        }
        watch(conns, (Instant::now() + every).min(until));
    }
}

/// Waits until `until`, noting each close by the node as it comes (poll(2)
/// on every open connection), so that a close is timed to the moment it
/// arrives, not to the next step.
pub fn watch(conns: &mut [Conn], until: Instant) {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let open: Vec<usize> = (0..conns.len()).filter(|&i| conns[i].closed.is_none()).collect();
        if left.is_zero() || open.is_empty() {
            return;
        }
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|&i| libc::pollfd {
                fd: conns[i].stream.as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            })
            .collect();
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a live, initialised array of `fds.len()` pollfds,
        // each naming a socket `conns` keeps open for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if ready <= 0 {
            continue;
        }
        for (pfd, &i) in fds.iter().zip(&open) {
            if pfd.revents != 0 {
                conns[i].read();
            }
        }
    }
}

/// The smallest, middle and largest of `times`, for the notes.
pub fn spread(times: &[Duration]) -> (Duration, Duration, Duration) {
    let mut t = times.to_vec();
    t.sort();
    match (t.first(), t.get(t.len() / 2), t.last()) {
        (Some(&a), Some(&m), Some(&z)) => (a, m, z),
        _ => Default::default(),
    }
}
