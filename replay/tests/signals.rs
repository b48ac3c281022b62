//! SIGTERM and SIGINT on a running `fdc-replay oracle` / `conformance`: QEMU (which runs
//! in its own process group, out of reach of a terminal's Ctrl-C) is killed, the
//! temporary directories are removed, and the exit code is 128 + the signal.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn skip() -> bool {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("note: FDC_SKIP_QEMU=1, skipping a real-QEMU signal test");
        return true;
    }
    false
}

/// Processes whose parent is `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let rest = stat.rsplit_once(')').map_or("", |r| r.1);
        let ppid = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// Whether `pid` is gone (or a zombie waiting for its new parent).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|r| r.1.trim_start().starts_with('Z')),
    }
}

/// Starts `args` with TMPDIR = `tmp`, waits for its QEMU, sends `sig`, and checks the
/// cleanup.
fn interrupt(args: &[&str], tmp: &Path, sig: i32) {
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let qemus = loop {
        let c = children(child.id());
        if !c.is_empty() {
            break c;
        }
        assert!(Instant::now() < deadline, "{args:?}: no QEMU started");
        assert!(child.try_wait().unwrap().is_none(), "{args:?}: ended early");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        std::fs::read_dir(tmp).unwrap().next().is_some(),
        "{args:?}: no temporary directory to clean up"
    );
    // SAFETY: sends a signal to the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + sig), "{args:?}: {err}");
    assert!(err.contains("stopped"), "{args:?}: {err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    for q in qemus {
        while !gone(q) {
            assert!(
                Instant::now() < deadline,
                "{args:?}: QEMU {q} still running"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{args:?}: left behind {left:?}");
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn sigterm_on_oracle_and_sigint_on_conformance_clean_up() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A script that keeps QEMU busy for minutes.
    let script = dir.path().join("long.script");
    std::fs::write(&script, "advance 1000000\ninb 0x3f4\n".repeat(200_000)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    interrupt(&["oracle", script.to_str().unwrap()], &tmp, libc::SIGTERM);
    interrupt(
        &["conformance", "--instances", "2", "--sequences", "100000"],
        &tmp,
        libc::SIGINT,
    );
}
