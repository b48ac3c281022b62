//! `fdc-replay oracle` end to end against real QEMU (FDC_SKIP_QEMU=1 skips; a missing QEMU
//! fails with the install hint).
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn script_on_stdin_gives_json_lines() {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("note: FDC_SKIP_QEMU=1, skipping a real-QEMU oracle test");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .args(["oracle", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"# reset\noutb 0x3f2 0x08\noutb 0x3f2 0x0c\ninb 0x3f4\nadvance 1000\nmigrate\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "apt-get install qemu-system-x86 if QEMU is missing: {stderr}"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[1]["irq"], true);
    assert_eq!(lines[2]["value"], 0x80);
    assert_eq!(lines[3]["clock"], 1960);
    let subs: Vec<&str> = lines[4]["subsections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(subs.contains(&"fdc/reset_sensei"), "{subs:?}");
}

#[test]
fn missing_qemu_exits_2_with_hint() {
    let out = Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .args(["oracle", "--qemu", "/nonexistent/qemu-system-x86_64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install qemu-system-x86"));
}
