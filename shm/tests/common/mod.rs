//! Multi-process test support: a test re-executes its own binary (`current_exe`) running only
//! itself (`--exact NAME`), with `CIRCUIT_SHM_ROLE` telling the child what to do.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ROLE: &str = "CIRCUIT_SHM_ROLE";
pub const PATH: &str = "CIRCUIT_SHM_PATH";
/// A hang guard only: every wait in these tests normally takes milliseconds.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The role this process plays, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// The region path a child was given.
pub fn child_path() -> PathBuf {
    PathBuf::from(std::env::var(PATH).expect("child without a path"))
}

/// Starts this test binary running only `test`, as `role`, on `path`, with its stdout piped.
pub fn spawn(test: &str, role: &str, path: &Path, extra: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PATH, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// Lines from a child's stdout, read on a thread so waits have a hang guard.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    pub fn new(out: ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    /// Waits for a line containing `marker` (upper case, never in a test name) and returns the rest; panics if the child's
    /// stdout ends first or the hang guard expires.
    pub fn expect(&self, marker: &str) -> String {
        loop {
            match self.0.recv_timeout(HANG_GUARD) {
                Ok(line) => {
                    // libtest may print "test NAME ... " before the child's first line.
                    if let Some(at) = line.find(marker) {
                        return line[at + marker.len()..].trim().to_string();
                    }
                }
                Err(e) => panic!("child never printed {marker:?}: {e}"),
            }
        }
    }
}

/// Waits for a child to exit successfully (hang guard: kills it and panics).
pub fn wait_ok(mut child: Child) {
    let deadline = std::time::Instant::now() + HANG_GUARD;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills a child with SIGKILL and reaps it.
pub fn kill(mut child: Child) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
}

/// Sleeps forever (a child waiting to be killed); the hang guard bounds it.
pub fn park() -> ! {
    std::thread::sleep(HANG_GUARD);
    std::process::exit(3)
}
