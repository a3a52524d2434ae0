//! The OS-facing edge of a connection: splitting one TCP socket into a read
//! half and a write half that two glommio tasks own, and the entropy for
//! handshake nonces.
//!
//! Owns: [`split`] and [`random_bytes`]. Must never: close a descriptor twice
//! or hand one to two owners.
//!
//! # Rules the `unsafe` blocks rely on
//! - R5: `dup(2)` returns a new descriptor for the same socket that nobody else
//!   owns; wrapping it in a glommio `TcpStream` makes that stream its only owner
//!   (closed once, on drop).
//! - R6: `getrandom(2)` writes at most `len` bytes into the buffer it is given.
//! - R7: `recv(2)` with `MSG_DONTWAIT` writes at most `len` bytes into the buffer
//!   it is given and never blocks.

use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd};

use glommio::net::TcpStream;

/// Splits `stream` into (read half, write half): two glommio streams over the
/// same socket, so a reader task and a writer task can each own one.
pub(crate) fn split(stream: TcpStream) -> io::Result<(TcpStream, TcpStream)> {
    stream.set_nodelay(true)?;
    // SAFETY: `dup` only reads the descriptor number, which `stream` keeps open.
    let fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else (R5).
    let writer = unsafe { TcpStream::from_raw_fd(fd) };
    Ok((stream, writer))
}

/// Fills `buf` from the kernel's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid writable buffer of the length passed (R6).
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

/// One non-blocking `recv` on `fd` into `buf`: `Ok(Some(n))` bytes read (0 at
/// the end of the stream), `Ok(None)` when nothing is there yet.
pub(crate) fn try_recv(fd: std::os::unix::io::RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: `buf` is a valid writable buffer of the length passed (R7).
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => return Ok(None),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(e),
        }
    }
}
