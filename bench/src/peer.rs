//! Server side of the raw-TCP baselines, run by `coremesh-bench raw-peer`.
//!
//! It owns the listening socket and one connection at a time. The first byte
//! of each connection picks the mode (see [`crate::raw::Mode`]): blocking
//! echo, busy-poll echo, or a counting sink. It must never sleep on the
//! measured path, never block without a timeout, and never panic on bad
//! input: a broken connection is reported on stderr and the next one served.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use crate::raw::{context, Mode, IO_TIMEOUT, PING_BYTES};

/// Serves connections on `listener` one at a time, forever. Returns only if
/// `accept` itself fails.
pub fn serve(listener: &TcpListener) -> io::Result<()> {
    loop {
        let (stream, from) = listener.accept()?;
        if let Err(e) = serve_one(stream) {
            eprintln!("raw-peer: connection from {from}: {e}");
        }
    }
}

/// Reads the mode byte and runs that mode until the client closes.
fn serve_one(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut mode = [0u8; 1];
    stream.read_exact(&mut mode).map_err(|e| context(e, "reading the mode byte"))?;
    match Mode::from_byte(mode[0]) {
        Some(Mode::Blocking) => echo_blocking(stream),
        Some(Mode::Busy) => echo_busy(stream),
        Some(Mode::Stream) => sink(stream),
        None => {
            Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown mode byte {:#04x}", mode[0])))
        }
    }
}

/// Echoes 8-byte pings with blocking reads until EOF.
fn echo_blocking(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; PING_BYTES];
    loop {
        if !read_ping(&mut stream, &mut buf)? {
            return Ok(());
        }
        stream.write_all(&buf).map_err(|e| context(e, "echoing a ping"))?;
    }
}

/// Reads one ping; `Ok(false)` on a clean EOF before its first byte.
fn read_ping(stream: &mut TcpStream, buf: &mut [u8; PING_BYTES]) -> io::Result<bool> {
    let mut got = 0;
    while got < PING_BYTES {
        match stream.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof inside a ping")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(context(e, "reading a ping")),
        }
    }
    Ok(true)
}

/// Echoes 8-byte pings with a non-blocking socket, spinning on `recv` (no
/// sleeping, no poll) until EOF.
fn echo_busy(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let mut buf = [0u8; PING_BYTES];
    loop {
        let mut got = 0;
        let mut idle_since: Option<Instant> = None;
        while got < PING_BYTES {
            match stream.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(()),
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof inside a ping")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > IO_TIMEOUT {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "no ping within the io timeout"));
                    }
                    std::hint::spin_loop();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(context(e, "reading a ping")),
            }
        }
        crate::raw::spin_write_all(&mut stream, &buf).map_err(|e| context(e, "echoing a ping"))?;
    }
}

/// Reads and discards everything until EOF, then writes the byte count
/// (u64 little endian) so the client knows every byte arrived.
fn sink(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(context(e, "reading the stream")),
        }
    }
    stream.write_all(&total.to_le_bytes()).map_err(|e| context(e, "writing the byte count"))
}
