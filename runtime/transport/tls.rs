//! TLS 1.3 between nodes, in userspace (rustls with ring): the rustls
//! configurations a core makes from the node's certificates, the TLS handshake
//! of a dialed or accepted socket, and the encryption of what a connection
//! reads and writes afterwards.
//!
//! Owns: [`Tls`] (one core's client and server configurations: TLS 1.3 only,
//! both sides present a certificate and check the peer's against the cluster
//! CA; the dialled node's must also name the cluster, which is not sent in the
//! clear (no SNI); no session resumption),
//! [`Session`] (one connection's rustls state, shared through `Rc<RefCell<..>>`
//! by the reader and the writer, which run on the same core, with the reader's
//! buffer of ciphertext not yet decrypted), [`failure`] (whether an I/O error is
//! TLS's, and what to say about it).
//!
//! The Hello/HMAC handshake runs inside TLS unchanged, and the TLS handshake runs
//! under the same deadline and handshake bounds (the callers in `mod.rs` start it
//! inside them). A plaintext peer against a TLS node fails the TLS handshake
//! ("the peer did not speak TLS").
//!
//! Must never: hold the `RefCell` borrow across an `.await`, feed rustls an empty
//! read (that would tell it the peer closed), let a peer's bytes past rustls before
//! it decrypted and authenticated them, or fall back to plaintext.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

use crate::config::TlsFiles;

/// How many bytes of ciphertext the reader takes from the socket at once.
const CIPHER_BYTES: usize = 64 << 10;

/// One core's TLS configurations, made from the node's certificates.
pub(crate) struct Tls {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    /// The name a dialled node's certificate must carry: the cluster's.
    name: ServerName<'static>,
}

impl Tls {
    /// The configurations for `files`; `cluster` is the name a dialled node's
    /// certificate must carry. Fails only on what `Config::build` checked already.
    pub(crate) fn new(files: &TlsFiles, cluster: &str) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for root in &files.roots {
            roots.add(root.clone()).map_err(|e| format!("the cluster CA: {e}"))?;
        }
        let roots = Arc::new(roots);
        let key = || files.private_key().ok_or_else(|| "the private key does not parse".to_owned());
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("the client verifier: {e}"))?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(files.chain.clone(), key()?)
            .map_err(|e| format!("the certificate and key: {e}"))?;
        server.send_tls13_tickets = 0;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(files.chain.clone(), key()?)
            .map_err(|e| format!("the certificate and key: {e}"))?;
        client.resumption = rustls::client::Resumption::disabled();
        // The name is checked in the certificate, never sent: SNI would put the
        // cluster's name on the wire in the clear.
        client.enable_sni = false;
        let name = ServerName::try_from(cluster.to_owned()).map_err(|e| format!("the cluster name: {e}"))?;
        Ok(Tls { client: Arc::new(client), server: Arc::new(server), name })
    }

    /// Runs the client side of the TLS handshake on `stream`.
    pub(crate) async fn connect(&self, stream: &mut TcpStream) -> io::Result<Session> {
        let conn = ClientConnection::new(self.client.clone(), self.name.clone()).map_err(fail)?;
        Session::handshake(stream, conn.into()).await
    }

    /// Runs the server side of the TLS handshake on `stream`.
    pub(crate) async fn accept(&self, stream: &mut TcpStream) -> io::Result<Session> {
        let conn = ServerConnection::new(self.server.clone()).map_err(fail)?;
        Session::handshake(stream, conn.into()).await
    }
}

/// A TLS failure carried in an `io::Error` (so the handshake's and reader's
/// plain I/O paths need no second error type).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(String);

fn fail(e: rustls::Error) -> io::Error {
    let text = match &e {
        rustls::Error::InvalidMessage(_) => {
            format!("the peer did not speak TLS (is TLS off on it? COREMESH_TLS_*): {e}")
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            format!("the peer's certificate was refused: {e}")
        }
        rustls::Error::AlertReceived(_) => format!("the peer refused the TLS handshake: {e}"),
        _ => e.to_string(),
    };
    io::Error::new(io::ErrorKind::InvalidData, Failure(text))
}

/// What went wrong with TLS, when `e` is a TLS failure.
pub(crate) fn failure(e: &io::Error) -> Option<String> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Failure>()).map(|f| f.0.clone())
}

/// One connection's TLS state: rustls's, shared by its reader and writer, and
/// the reader's ciphertext not yet fed to rustls (`cipher[at..end]`).
pub(crate) struct Session {
    conn: Rc<RefCell<Connection>>,
    cipher: Vec<u8>,
    at: usize,
    end: usize,
}

impl Session {
    async fn handshake(stream: &mut TcpStream, mut conn: Connection) -> io::Result<Session> {
        // The link bounds what a writer queues (4 MiB): no second bound here.
        conn.set_buffer_limit(None);
        let mut session =
            Session { conn: Rc::new(RefCell::new(conn)), cipher: vec![0; CIPHER_BYTES], at: 0, end: 0 };
        loop {
            session.flush(stream).await?;
            if !session.conn.borrow().is_handshaking() {
                return Ok(session);
            }
            if session.at == session.end {
                session.fill(stream).await?;
            }
            if let Err(e) = session.feed() {
                // Send the alert that says why, so the peer can log it.
                let _ = session.flush(stream).await;
                return Err(e);
            }
        }
    }

    /// Writes what rustls has to send (handshake messages, alerts).
    async fn flush(&self, stream: &mut TcpStream) -> io::Result<()> {
        let mut out = Vec::new();
        drain(&mut self.conn.borrow_mut(), &mut out)?;
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        Ok(())
    }

    /// Reads ciphertext from `stream` (the buffer is empty); the end of the
    /// stream is an error.
    async fn fill(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let n = stream.read(&mut self.cipher).await?;
        if n == 0 {
            let text =
                "the peer closed the connection in the TLS handshake (is TLS off on it? COREMESH_TLS_*)";
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, Failure(text.to_owned())));
        }
        (self.at, self.end) = (0, n);
        Ok(())
    }

    /// Feeds buffered ciphertext to rustls (never an empty slice) while the
    /// handshake lasts; what follows it is left for [`pump`](Self::pump).
    fn feed(&mut self) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        while self.at < self.end && conn.is_handshaking() {
            let mut rest = &self.cipher[self.at..self.end];
            let n = conn.read_tls(&mut rest)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the TLS handshake"));
            }
            self.at += n;
            conn.process_new_packets().map_err(fail)?;
        }
        Ok(())
    }

    /// Decrypted bytes into `dst` (not empty) from what was read already:
    /// `Some(n)` (0: the peer closed TLS), or `None` when more ciphertext is needed.
    pub(crate) fn pump(&mut self, dst: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            let read = self.conn.borrow_mut().reader().read(dst);
            match read {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.at == self.end {
                return Ok(None);
            }
            let mut conn = self.conn.borrow_mut();
            let mut rest = &self.cipher[self.at..self.end];
            self.at += conn.read_tls(&mut rest)?;
            conn.process_new_packets().map_err(fail)?;
        }
    }

    /// The buffer to read ciphertext into, once [`pump`](Self::pump) said it needs
    /// more (everything read before was fed to rustls).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        (self.at, self.end) = (0, 0);
        &mut self.cipher
    }

    /// `n` bytes were read into [`spare`](Self::spare).
    pub(crate) fn filled(&mut self, n: usize) {
        self.end = n.min(self.cipher.len());
    }

    /// Awaits plaintext into `dst` (the Hello/HMAC handshake's reads): `Ok(0)` at
    /// the end of the stream.
    pub(crate) async fn read(&mut self, stream: &mut TcpStream, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(n) = self.pump(dst)? {
                return Ok(n);
            }
            let n = stream.read(self.spare()).await?;
            if n == 0 {
                return Ok(0);
            }
            self.filled(n);
            // rustls may have something to say back (an alert, a key update).
            self.flush(stream).await?;
        }
    }

    /// Encrypts `data` and writes it to `stream`.
    pub(crate) async fn write_all(&self, stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        self.seal(data, &mut out)?;
        stream.write_all(&out).await
    }

    /// The writer's half: the same rustls state.
    pub(crate) fn writer(&self) -> Writer {
        Writer { conn: self.conn.clone(), out: Vec::new() }
    }
}

/// Encrypts `data` into `out` (after anything rustls still had to send).
fn seal_into(conn: &mut Connection, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    conn.writer().write_all(data)?;
    drain(conn, out)
}

fn drain(conn: &mut Connection, out: &mut Vec<u8>) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(out)?;
    }
    Ok(())
}

impl Session {
    fn seal(&self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        seal_into(&mut self.conn.borrow_mut(), data, out)
    }
}

/// The writer task's view of a [`Session`]: encrypts what the link queued.
pub(crate) struct Writer {
    conn: Rc<RefCell<Connection>>,
    out: Vec<u8>,
}

impl Writer {
    /// The ciphertext of `data`, to write to the socket as is.
    pub(crate) fn seal(&mut self, data: &[u8]) -> io::Result<&[u8]> {
        self.out.clear();
        seal_into(&mut self.conn.borrow_mut(), data, &mut self.out)?;
        Ok(&self.out)
    }
}
