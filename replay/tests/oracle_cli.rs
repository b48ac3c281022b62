//! `fdc-replay oracle` end to end against real QEMU (FDC_SKIP_QEMU=1 skips; a missing QEMU
//! fails with the install hint).
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
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

/// A script that writes sector 1 of drive 0 with 0x5a bytes by DMA (WRITE DATA), then
/// reads the 7 result bytes.
fn write_sector_script(prefix: &str) -> String {
    let mut s = String::from(prefix);
    s.push_str("outb 0x3f2 0x08\noutb 0x3f2 0x1c\n");
    for _ in 0..4 {
        s.push_str("outb 0x3f5 0x08\ninb 0x3f5\ninb 0x3f5\n");
    }
    s.push_str("outb 0x3f5 0x03\noutb 0x3f5 0xaf\noutb 0x3f5 0x02\n");
    s.push_str(&format!("writemem 0x10000 {}\n", "5a".repeat(512)));
    s.push_str("dma 0x10000 511 0x4a\ndmamask 0\n");
    for b in [
        "0x45", "0x00", "0x00", "0x00", "0x01", "0x02", "0x01", "0x1b", "0xff",
    ] {
        s.push_str(&format!("outb 0x3f5 {b}\n"));
    }
    s.push_str(&"inb 0x3f5\n".repeat(7));
    s
}

/// Runs `oracle` with `args` and `script`; returns the interrupt code (ST0 bits 6-7) of the
/// WRITE DATA result.
fn run_oracle(args: &[String], script: &str) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
        .arg("oracle")
        .arg("-")
        .args(["--format", "json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // ST0 without its SEEK END bit (set when the transfer reached EOT): 0 = normal end.
    lines[lines.len() - 7]["value"].as_u64().unwrap() & 0xc0
}

/// `--drive N=IMAGE` and `change N IMAGE` give QEMU a copy: the host file is unchanged
/// by the guest's writes; with `,in-place` QEMU writes the file itself.
#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn images_are_copied_unless_in_place() {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("note: FDC_SKIP_QEMU=1, skipping a real-QEMU oracle test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    let original = vec![0x11u8; 1_474_560];
    std::fs::write(&img, &original).unwrap();
    let drive = |opts: &str| vec!["--drive".to_string(), format!("0={}{opts}", img.display())];
    // A copy (the default), on QEMU and on the model.
    assert_eq!(run_oracle(&drive(""), &write_sector_script("")), 0);
    assert_eq!(std::fs::read(&img).unwrap(), original);
    let mut model = drive("");
    model.push("--machine".into());
    model.push("model".into());
    assert_eq!(run_oracle(&model, &write_sector_script("")), 0);
    assert_eq!(std::fs::read(&img).unwrap(), original);
    // `change` inserts a copy too.
    let change = format!("change 0 {}\n", img.display());
    assert_eq!(run_oracle(&[], &write_sector_script(&change)), 0);
    assert_eq!(std::fs::read(&img).unwrap(), original);
    // In place: the sector is written to the file.
    assert_eq!(run_oracle(&drive(",in-place"), &write_sector_script("")), 0);
    let now = std::fs::read(&img).unwrap();
    assert_eq!(&now[..512], &[0x5a; 512][..]);
    assert_eq!(&now[512..], &original[512..]);
}

/// Unbounded inputs are refused: an image that never ends, a guest-memory read beyond
/// the cap (on the model: no QEMU needed).
#[test]
fn endless_image_and_huge_readmem_are_refused() {
    let run = |args: &[&str], script: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fdc-replay"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    for args in [
        &[
            "oracle",
            "-",
            "--machine",
            "model",
            "--drive",
            "0=/dev/zero",
        ][..],
        &[
            "oracle",
            "-",
            "--machine",
            "model",
            "--drive",
            "1=/dev/zero,ro",
        ][..],
    ] {
        let out = run(args, "inb 0x3f4\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("/dev/zero") && err.contains("too large"),
            "{err}"
        );
    }
    let out = run(
        &["oracle", "-", "--machine", "model"],
        "change 0 /dev/zero\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("too large"), "{err}");
    let out = run(
        &["oracle", "-", "--machine", "model"],
        "readmem 0 999999999999\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("longer than"), "{err}");
}
