//! A QEMU 2.3 state arriving at QEMU 7.2 (hazard H6), on real QEMU 7.2: a source QEMU 7.2
//! in a READ ID wait is migrated, its fdc section is edited into the state the `qemu-2.3`
//! model profile is in after the same port I/O (MSR 0x90: QEMU 2.3 never cleared RQM
//! there; no `fdc/result_timer`: 2.3 has none), and a destination QEMU 7.2 loads it. It
//! reconstructs the command phase from MSR 0x90 with `data_pos` = `data_len`: the READ ID
//! never completes, and FIFO writes run `data_pos` up to 512, where QEMU 7.2 aborts
//! (`assert(fdctrl->data_pos < FD_SECTOR_LEN)`) exactly where the forward migration's
//! model destination faults.
//!
//! Set FDC_SKIP_QEMU=1 to skip; without QEMU (and without that variable) these fail.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod common;
use common::*;

use fdc::ops::{Answer, Op};
use fdc::{wire, DriveConfig, Fault, Fdc, FdcState, Machine, Medium, PcFloppy, Profile};
use fdc_oracle::destination::{run_model, run_qemu, transcript, Step};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};

const FLOPPY_144: u64 = 1_474_560;

fn blank() -> DriveConfig {
    DriveConfig::Medium(Medium::blank(FLOPPY_144, false))
}

/// DOR reset, the four SENSE INTERRUPTs, 1 ms, then READ ID on drive 0, head 0.
fn read_id<M: Machine>(m: &mut M) -> Result<(), M::Error> {
    reset_and_sense(m)?;
    m.advance_ns(1_000_000)?;
    m.outb(FIFO, 0x4a)?;
    m.outb(FIFO, 0x00)
}

/// The 2.3 state as a QEMU 7.2 stream, a destination QEMU 7.2 loaded from it and the model
/// of that destination (QEMU 7.2's load rules).
fn destination(cfg: &OracleConfig) -> (FdcState, Oracle, PcFloppy) {
    let mut src = Oracle::start(cfg.clone()).unwrap();
    read_id(&mut src).unwrap();
    assert_eq!(src.inb(MSR).unwrap(), 0x10, "QEMU 7.2 clears RQM");
    let mut m23 = PcFloppy::new(Fdc::with_profile(
        blank(),
        DriveConfig::Absent,
        Profile::Qemu23,
    ));
    read_id(&mut m23).unwrap();
    let mig = src.migrate().unwrap();
    let (q72, _) = wire::decode(&mig.fdc_section).unwrap();
    let s23 = m23.fdc.state();
    assert_eq!((q72.msr, s23.msr), (0x10, 0x90));
    assert!(q72.result_timer.is_some() && s23.result_timer.is_none());
    // Everything else of the 2.3 model's state is what QEMU 7.2 holds.
    let mut edited = q72.clone();
    edited.msr = s23.msr;
    edited.result_timer = s23.result_timer;
    assert_eq!(
        edited, s23,
        "the 2.3 model and QEMU 7.2 differ elsewhere too"
    );
    assert_eq!(
        (edited.data_pos, edited.data_len, edited.phase),
        (2, 2, None)
    );
    let bytes = fdc_oracle::stream::set_fdc_state(&mig.stream, &edited).unwrap();
    let file = src.workdir().join("as-2.3.bin");
    std::fs::write(&file, &bytes).unwrap();
    let mut dst = Oracle::start_incoming(cfg.clone(), &file).unwrap();
    let now = dst.now_ns().unwrap();
    let model = Fdc::from_state_unchecked(&edited, blank(), DriveConfig::Absent, now).unwrap();
    assert_eq!(
        model.phase(),
        Some(fdc::Phase::Command),
        "reconstructed from 0x90"
    );
    (edited, dst, PcFloppy::new(model))
}

fn log(name: &str, q: &[Step], m: &[Step]) {
    eprintln!("[{name}] QEMU : {}", transcript(q));
    eprintln!("[{name}] model: {}", transcript(m));
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn qemu_7_2_loading_a_2_3_read_id_wait_never_completes_and_aborts_on_fifo_writes() {
    if skip("a real-QEMU test") {
        return;
    }
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    // A guest that waits for the interrupt: none comes, MSR stays 0x90.
    let (_, mut dst, mut model) = destination(&cfg);
    let wait = [
        Op::In { port: MSR },
        Op::Advance { ns: 25_000_000 },
        Op::In { port: MSR },
    ];
    let (q, lost) = run_qemu(&mut dst, &wait);
    let (m, fault) = run_model(&mut model, &wait, &lost);
    log("wait", &q, &m);
    assert_eq!(q, m);
    assert_eq!(fault, None);
    assert_eq!(q[2].answer, Ok(Answer::Byte(0x90)));
    assert!(q.iter().all(|s| !s.irq), "no interrupt");
    drop(dst);
    // A guest that keeps writing the FIFO: 509 bytes are stored, the 510th aborts QEMU.
    let (_, mut dst, mut model) = destination(&cfg);
    let mut ops = vec![Op::In { port: MSR }];
    ops.extend((0..510).map(|_| Op::Out {
        port: FIFO,
        value: 0x55,
    }));
    let (q, lost) = run_qemu(&mut dst, &ops);
    let (m, fault) = run_model(&mut model, &ops, &lost);
    log(
        "writes",
        &q[q.len().saturating_sub(3)..],
        &m[m.len().saturating_sub(3)..],
    );
    assert_eq!(
        q[..510],
        m[..510],
        "the first 509 writes are accepted by both"
    );
    let aborted = q.iter().position(|s| {
        s.answer
            .as_ref()
            .err()
            .is_some_and(|e| e.contains("SIGABRT"))
    });
    assert_eq!(aborted, Some(510), "{:?}", q.last());
    assert_eq!(fault, Some((510, Fault::CommandOverrun)));
}
