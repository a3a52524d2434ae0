//! TLS between nodes, over real sockets on loopback: two nodes whose certificates
//! one CA signed exchange asks and tells, and a recording proxy between them sees
//! neither the cluster's name nor a payload (it sees both without TLS); a node
//! whose certificate another CA signed is refused, naming TLS and the certificate;
//! a plaintext node and a TLS node refuse each other, naming TLS. Certificates are
//! made here with rcgen; nodes have one core each, so every byte between them
//! passes the proxy. The real-process fixture (`coremesh-node`) reads TLS from
//! its environment, and refuses to start without a strong cookie unless it is a
//! development node.

mod common;
#[path = "fixture/procs.rs"]
mod procs;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use coremesh::{Actor, Config, ConnectError, CoreId, Ctx, Handler, Node};
use rkyv::{Archive, Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);
const CLUSTER: &str = "tls-test-cluster";
const COOKIE: &str = "a cookie of more than sixteen bytes";
const SECRET: &str = "PAYLOAD-THAT-MUST-NOT-BE-SEEN";

#[derive(Archive, Serialize, Deserialize)]
struct Note {
    text: String,
}
coremesh::message!(Note = "tls.Note");

/// Keeps the length of every note it gets.
#[derive(Default)]
struct Notes {
    bytes: u64,
}
impl Actor for Notes {}
impl Handler<Note> for Notes {
    type Reply = u64;
    fn handle(&mut self, msg: &ArchivedNote, _ctx: &mut Ctx<Self>) -> u64 {
        self.bytes += msg.text.len() as u64;
        self.bytes
    }
}
coremesh::handlers!(Notes: Note);

/// A CA (its certificate and key) for one test cluster.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pem: PathBuf,
}

fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coremesh-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ca(name: &str) -> Ca {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    let pem = dir().join(format!("{name}-ca.pem"));
    std::fs::write(&pem, cert.pem()).unwrap();
    Ca { cert, key, pem }
}

/// A node certificate carrying the cluster's name, signed by `ca`: (cert, key) files.
fn node_cert(ca: &Ca, name: &str) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![CLUSTER.to_owned()])
        .unwrap()
        .signed_by(&key, &ca.cert, &ca.key)
        .unwrap();
    let paths = (dir().join(format!("{name}.pem")), dir().join(format!("{name}.key")));
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    paths
}

/// A one-core node of the test cluster; with TLS when `tls` gives its CA (trusted)
/// and the CA that signs its own certificate.
fn node(tls: Option<(&Ca, &Ca)>, name: &str) -> Node {
    let config = Config::builder()
        .env_source(|_| None)
        .cores([0])
        .listen("127.0.0.1:0".parse().unwrap())
        .cluster(CLUSTER)
        .cookie(COOKIE);
    let config = match tls {
        None => config,
        Some((trusted, signer)) => {
            let (cert, key) = node_cert(signer, name);
            config.tls_cert_file(cert).tls_key_file(key).tls_ca_file(&trusted.pem)
        }
    };
    let config = config.build().expect("config");
    assert_eq!(config.tls_enabled(), tls.is_some());
    Node::start(config).expect("node starts")
}

/// A TCP proxy to `to` that records every byte it forwards, both ways.
fn recording_proxy(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(to) else { return };
            for (mut from, mut into) in
                [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
            {
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || into.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = into.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (addr, seen)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Two nodes (TLS on both when `tls`) joined through a recording proxy exchange
/// asks and tells; returns what the proxy saw.
fn exchange_through_proxy(tls: Option<&Ca>) -> Vec<u8> {
    let a = node(tls.map(|ca| (ca, ca)), "a");
    let b = node(tls.map(|ca| (ca, ca)), "b");
    let (proxy, seen) = recording_proxy(b.listen_addr());
    assert_eq!(a.connect(proxy).wait(), Ok(b.id()));
    let notes = b.spawn_on(CoreId(0), Notes::default).wait().unwrap();
    let counter = b.spawn_on(CoreId(0), || Counter::new(hooks())).wait().unwrap();
    let text = SECRET.repeat(40);
    for i in 1..=50u64 {
        a.tell(&counter, Add { n: 1 }).expect("tell");
        let got = a.ask(&notes, Note { text: text.clone() }).timeout(T).wait();
        assert_eq!(got, Ok(i * text.len() as u64));
    }
    assert_eq!(a.ask(&counter, Get).timeout(T).wait(), Ok((50, 0)));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 50 * text.len(), "the traffic went through the proxy: {} bytes", seen.len());
    seen
}

#[test]
fn nodes_with_certificates_from_one_ca_talk_and_the_wire_shows_nothing() {
    let seen = exchange_through_proxy(Some(&ca("one")));
    assert!(!contains(&seen, CLUSTER), "the cluster's name is not on the wire");
    assert!(!contains(&seen, SECRET), "no payload is on the wire");
}

#[test]
fn without_tls_the_recorder_sees_the_cluster_name_and_the_payload() {
    // The control of the test above: the proxy would see them.
    let seen = exchange_through_proxy(None);
    assert!(contains(&seen, CLUSTER) && contains(&seen, SECRET));
}

#[test]
fn a_node_whose_certificate_another_ca_signed_is_refused() {
    let (ours, theirs) = (ca("ours"), ca("theirs"));
    let a = node(Some((&ours, &ours)), "ours-a");
    // Trusts our CA, but its own certificate is signed by another.
    let b = node(Some((&ours, &theirs)), "theirs-b");
    let got = a.connect(b.listen_addr()).wait();
    let Err(ConnectError::Tls(text)) = &got else { panic!("expected a TLS error, got {got:?}") };
    assert!(text.contains("TLS") && text.contains("certificate"), "{text}");
    // And the other way: b's certificate is refused by a, as a server this time.
    let got = b.connect(a.listen_addr()).wait();
    let Err(ConnectError::Tls(text)) = &got else { panic!("expected a TLS error, got {got:?}") };
    assert!(text.contains("TLS"), "{text}");
    // Both keep serving a peer with a good certificate.
    let c = node(Some((&ours, &ours)), "ours-c");
    assert_eq!(c.connect(a.listen_addr()).wait(), Ok(a.id()));
    for n in [a, b, c] {
        n.shutdown().unwrap();
    }
}

#[test]
fn a_plaintext_node_and_a_tls_node_refuse_each_other_naming_tls() {
    let ca = ca("mixed");
    let secure = node(Some((&ca, &ca)), "secure");
    let plain = node(None, "plain");
    let got = plain.connect(secure.listen_addr()).wait();
    let Err(ConnectError::Tls(text)) = &got else { panic!("expected a TLS error, got {got:?}") };
    assert!(text.contains("TLS is off on this node"), "{text}");
    let got = secure.connect(plain.listen_addr()).wait();
    let Err(ConnectError::Tls(text)) = &got else { panic!("expected a TLS error, got {got:?}") };
    assert!(text.contains("is TLS off on it?"), "{text}");
    secure.shutdown().unwrap();
    plain.shutdown().unwrap();
}

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");

/// The fixture with no `COREMESH_*` variable but `vars`.
fn fixture(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(NODE);
    cmd.arg("serve");
    for (var, _) in std::env::vars().filter(|(v, _)| v.starts_with("COREMESH_")) {
        cmd.env_remove(var);
    }
    cmd.env("COREMESH_LISTEN", "127.0.0.1:0").envs(vars.iter().copied());
    cmd
}

/// Runs `cmd` until it exits, at most `limit` (a node that started serves until
/// killed: it is killed then, and the test fails).
fn refused_within(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("run coremesh-node");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("child status").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("the node started: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_process_refuses_to_start_with_a_weak_cookie_unless_it_is_a_development_node() {
    for (vars, says) in [
        (
            &[][..],
            "COREMESH_COOKIE is not set (the built-in default cookie is public); set it to at least 16",
        ),
        (
            &[("COREMESH_COOKIE", "hello")][..],
            "COREMESH_COOKIE is 5 bytes; set it to at least 16 random bytes",
        ),
    ] {
        let out = refused_within(fixture(vars), T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{vars:?} must be refused: {err}");
        assert!(err.contains(says) && err.contains("COREMESH_DEV=1"), "{err}");
        assert!(!err.contains("hello"), "the cookie never shows: {err}");
    }
    let mut dev = fixture(&[("COREMESH_DEV", "1")]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = procs::lines_of(dev.stdout.take().unwrap());
    let ready = lines.recv_timeout(T).expect("a development node starts");
    assert!(ready.starts_with("ready "), "{ready}");
    let _ = dev.kill();
    let _ = dev.wait();
}

#[test]
fn a_process_with_tls_in_its_environment_takes_only_tls_peers() {
    let ca = ca("process");
    let (cert, key) = node_cert(&ca, "process");
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let (cert, key, ca_pem) = (path(&cert), path(&key), path(&ca.pem));
    let vars = [
        ("COREMESH_COOKIE", COOKIE),
        ("COREMESH_CLUSTER", CLUSTER),
        ("COREMESH_CORES", "0"),
        ("COREMESH_TLS_CERT", &cert),
        ("COREMESH_TLS_KEY", &key),
        ("COREMESH_TLS_CA", &ca_pem),
    ];
    let mut child = fixture(&vars).stdout(Stdio::piped()).spawn().unwrap();
    let lines = procs::lines_of(child.stdout.take().unwrap());
    let ready = lines.recv_timeout(T).expect("the TLS node starts");
    let addr: SocketAddr = ready.split_whitespace().nth(3).expect("an address").parse().unwrap();
    let secure = node(Some((&ca, &ca)), "process-client");
    let got = secure.connect(addr).wait();
    assert!(got.is_ok(), "{got:?}");
    let plain = node(None, "process-plain");
    let got = plain.connect(addr).wait();
    assert!(matches!(got, Err(ConnectError::Tls(_))), "{got:?}");
    secure.shutdown().unwrap();
    plain.shutdown().unwrap();
    let _ = child.kill();
    let _ = child.wait();
}
