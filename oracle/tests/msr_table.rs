//! The MSR of each controller state, on real QEMU 7.2 and on the model under every
//! implementation profile, reached by the same port I/O: QEMU 7.2 and the `qemu-7.2`
//! profile agree on every row, and the other two profiles differ from them exactly in the
//! rows the 2015 "Fix MSR.RQM flag" change moved (READ ID wait and an unterminated DRIVE
//! SPECIFICATION: 0x90 instead of 0x10; a stuck PIO write: 0xB0 instead of 0x30).
//!
//! Set FDC_SKIP_QEMU=1 to skip; without QEMU (and without that variable) these fail.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod common;
use common::*;

use fdc::{DriveConfig, Fdc, Machine, Medium, PcFloppy, Profile};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};

const SPECIFY_PIO: [u8; 3] = [0x03, 0xdf, 0x03];

/// (state, bytes written to the FIFO after a reset, MSR of QEMU 7.2, MSR of QEMU 2.3).
fn rows() -> Vec<(&'static str, Vec<u8>, u8, u8)> {
    let pio = |cmd: &[u8]| [&SPECIFY_PIO[..], cmd].concat();
    let mut stuck = pio(&[0x45, 0, 0, 0, 18, 2, 18, 0x1b, 0xff]);
    stuck.extend([0xa5; 512]);
    vec![
        ("idle", vec![], 0x80, 0x80),
        ("receiving parameters", vec![0x03], 0x90, 0x90),
        ("READ ID wait", vec![0x4a, 0x00], 0x10, 0x90),
        (
            "DRIVE SPECIFICATION without terminator",
            vec![0x8e, 0, 0, 0, 0, 0],
            0x10,
            0x90,
        ),
        (
            "DMA execution",
            vec![0xe6, 0, 0, 0, 1, 2, 18, 0x1b, 0xff],
            0x10,
            0x10,
        ),
        (
            "PIO read",
            pio(&[0xe6, 0, 0, 0, 1, 2, 18, 0x1b, 0xff]),
            0xf0,
            0xf0,
        ),
        (
            "PIO write",
            pio(&[0xc5, 0, 0, 0, 1, 2, 18, 0x1b, 0xff]),
            0xb0,
            0xb0,
        ),
        (
            "PIO write stuck after the last byte (end of track)",
            stuck,
            0x30,
            0xb0,
        ),
        ("result phase (VERSION)", vec![0x10], 0xd0, 0xd0),
    ]
}

/// Controller reset (DOR), the four reset SENSE INTERRUPTs, motor on; then `bytes`; MSR.
fn msr_after<M: Machine>(m: &mut M, bytes: &[u8]) -> Result<u8, M::Error> {
    reset_and_sense(m)?;
    m.outb(DOR, 0x1c)?;
    for &b in bytes {
        m.outb(FIFO, b)?;
    }
    m.inb(MSR)
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn msr_table_on_real_qemu_7_2_and_per_profile() {
    if skip("a real-QEMU test") {
        return;
    }
    for (name, bytes, msr72, msr23) in rows() {
        // A fresh QEMU per row: a DMA or a stuck execution phase would leave channel 2 or
        // the drive in another state for the next row.
        let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
        let mut q = Oracle::start(cfg).unwrap();
        assert_eq!(
            msr_after(&mut q, &bytes).unwrap(),
            msr72,
            "QEMU 7.2: {name}"
        );
        for p in Profile::ALL {
            let mut m = PcFloppy::new(Fdc::with_profile(
                DriveConfig::Medium(Medium::blank(1_474_560, false)),
                DriveConfig::Absent,
                p,
            ));
            let want = if p == Profile::Qemu72 { msr72 } else { msr23 };
            assert_eq!(msr_after(&mut m, &bytes).unwrap(), want, "{p}: {name}");
        }
    }
}
