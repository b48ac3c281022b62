//! The canary features re-introduce the historical QEMU floppy flaws (CVE-2015-3456
//! "VENOM", CVE-2021-20196, CVE-2021-3507); each test
//! drives the port sequence that triggers one and expects its detecting panic. Run with
//! `cargo test -p fdc --features bug-venom` (etc.); without a feature this file is empty.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

#[allow(unused_imports)]
use fdc::{DriveConfig, Fdc, Medium, PcFloppy};

#[allow(dead_code)]
fn pc() -> PcFloppy {
    PcFloppy::new(Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
    ))
}

#[cfg(feature = "bug-venom")]
#[test]
#[should_panic(expected = "VENOM")]
fn venom_drive_specification_overrun() {
    let mut pc = pc();
    for b in [0x8E, 0, 0, 0, 0, 0x00] {
        pc.port_out(0x3F5, b);
    }
    for _ in 0..600 {
        pc.port_out(0x3F5, 0x41);
    }
}

#[cfg(feature = "bug-venom")]
#[test]
#[should_panic(expected = "VENOM")]
fn venom_read_id_overrun_before_the_timer() {
    let mut pc = pc();
    for b in [0x4A, 0x00] {
        pc.port_out(0x3F5, b);
    }
    for _ in 0..600 {
        pc.port_out(0x3F5, 0x41);
    }
}

#[cfg(feature = "bug-cve-2021-20196")]
#[test]
#[should_panic(expected = "CVE-2021-20196")]
fn null_backend_write() {
    let mut pc = pc();
    pc.port_out(0x3F2, 0x04); // PIO
    for b in [0x05, 0x00, 0, 0, 1, 0, 1, 0x1B, 1] {
        pc.port_out(0x3F5, b);
    }
    pc.port_out(0x3F2, 0x05); // select drive 1: no drive
    pc.port_out(0x3F5, 0x00);
}

#[cfg(feature = "bug-cve-2021-3507")]
#[test]
#[should_panic(expected = "CVE-2021-3507")]
fn negative_sector_count_overread() {
    let mut pc = pc();
    for (port, v) in [
        (0x0A, 0x06),
        (0x0B, 0x46),
        (0x05, 0xFF),
        (0x05, 0x01),
        (0x0A, 0x02),
    ] {
        pc.port_out(port, v);
    }
    for b in [0x06, 0x00, 0, 0, 2, 2, 0, 0x1B, 0xFF] {
        pc.port_out(0x3F5, b);
    }
}
