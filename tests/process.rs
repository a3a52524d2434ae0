//! A node as a real process: clean stop on SIGTERM and SIGINT, and clear errors
//! for bad `COREMESH_*` values.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NODE: &str = env!("CARGO_BIN_EXE_coremesh-node");

fn stop_with(signal: libc::c_int) {
    let mut child = Command::new(NODE)
        .arg("serve")
        .env("COREMESH_DEV", "1")
        .env_remove("COREMESH_CORES")
        .env_remove("COREMESH_CONTROL_CORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn coremesh-node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("a line").expect("utf-8");
    assert!(ready.starts_with("ready "), "{ready}");
    let cores: u64 = ready.split_whitespace().nth(2).unwrap().parse().unwrap();
    // SAFETY: kill(2) has no memory preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("node did not stop within 20 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    let stopped = lines.next().expect("a line").expect("utf-8");
    assert_eq!(stopped, format!("stopped {cores}"), "every actor's stop hook ran");
}

#[test]
fn sigterm_stops_every_core_cleanly() {
    stop_with(libc::SIGTERM);
}

#[test]
fn sigint_stops_every_core_cleanly() {
    stop_with(libc::SIGINT);
}

fn refused(var: &str, value: &str) -> String {
    let out = Command::new(NODE)
        .arg("serve")
        .env("COREMESH_DEV", "1")
        .env(var, value)
        .stdout(Stdio::null())
        .output()
        .expect("run coremesh-node");
    assert_eq!(out.status.code(), Some(2), "{var}={value} must be refused");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn bad_environment_values_are_refused_with_the_variable_and_value() {
    for (var, value, says) in [
        ("COREMESH_CORES", "9999", "not in this process's allowed set"),
        ("COREMESH_CORES", "0,0", "more than once"),
        ("COREMESH_CORES", "1-0", "below its start"),
        ("COREMESH_CORES", "zero", "zero"),
        ("COREMESH_CORES", "", "empty"),
        ("COREMESH_CONTROL_CORE", "4096", "4096"),
        ("COREMESH_RING_BYTES", "5000", "power of two"),
        ("COREMESH_MAILBOX_BYTES", "12", "between"),
        ("COREMESH_IDLE_SPIN_US", "-1", "-1"),
        ("COREMESH_ASK_TIMEOUT_MS", "0", "between"),
    ] {
        let err = refused(var, value);
        assert!(err.contains(&format!("{var}={value}")) || (value.is_empty() && err.contains(var)), "{err}");
        assert!(err.contains(says), "{var}={value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
